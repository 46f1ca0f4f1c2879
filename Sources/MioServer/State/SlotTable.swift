import MioCore

/// The daemon's own epoll tokens: a slot index and a generation packed in
/// one `UInt64`, so an event still queued for something that has gone (and
/// whose slot was reused) is recognised and dropped.
struct SlotTable<Value> {
    private struct Slot {
        var generation: UInt32
        var value: Value?
    }

    private var slots: [Slot] = []
    private var free: [UInt32] = []
    private(set) var count = 0

    /// Stores `value` and returns its token.
    mutating func insert(_ value: Value) -> Token {
        count += 1
        if let index = free.popLast() {
            slots[Int(index)].value = value
            return Self.token(index: index, generation: slots[Int(index)].generation)
        }
        slots.append(Slot(generation: 1, value: value))
        return Self.token(index: UInt32(slots.count - 1), generation: 1)
    }

    /// The value of a live token, nil for a stale one.
    @inline(__always)
    func lookup(_ token: Token) -> Value? {
        let index = Int(truncatingIfNeeded: token.rawValue & 0xFFFF_FFFF)
        guard index < slots.count, slots[index].generation == UInt32(truncatingIfNeeded: token.rawValue >> 32) else { return nil }
        return slots[index].value
    }

    /// Puts a new value in a live slot, keeping its token.
    mutating func replace(_ token: Token, with value: Value) {
        guard lookup(token) != nil else { return }
        slots[Int(truncatingIfNeeded: token.rawValue & 0xFFFF_FFFF)].value = value
    }

    /// Frees the slot; its token goes stale at once.
    @discardableResult
    mutating func remove(_ token: Token) -> Value? {
        let index = Int(truncatingIfNeeded: token.rawValue & 0xFFFF_FFFF)
        // Moved out (`take`), not copied and then cleared: no retain and release.
        guard index < slots.count, slots[index].generation == UInt32(truncatingIfNeeded: token.rawValue >> 32),
              let value = slots[index].value.take() else { return nil }
        slots[index].generation &+= 1
        if slots[index].generation == 0 { slots[index].generation = 1 }
        free.append(UInt32(index))
        count -= 1
        return value
    }

    private static func token(index: UInt32, generation: UInt32) -> Token {
        Token(UInt64(generation) << 32 | UInt64(index))
    }
}
