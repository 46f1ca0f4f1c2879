import MioCore

/// The daemon's own epoll tokens: a slot index and a generation packed in
/// one `UInt64`, so an event still queued for something that has gone (and
/// whose slot was reused) is recognised and dropped.
struct SlotTable<Value> {
    private struct Slot {
        var generation: UInt32
        /// Handed out (live or reserved), not in `free`.
        var isTaken: Bool
        var value: Value?
    }

    private var slots: [Slot] = []
    private var free: [UInt32] = []
    private(set) var count = 0

    /// Stores `value` and returns its token.
    mutating func insert(_ value: Value) -> Token {
        let token = reserve()
        slots[Self.index(token)].value = value
        return token
    }

    /// A token whose value comes later (``replace(_:with:)``); until then
    /// it finds nothing, and it is freed by ``remove(_:)`` as any other.
    mutating func reserve() -> Token {
        count += 1
        if let index = free.popLast() {
            slots[Int(index)].isTaken = true
            return Self.token(index: index, generation: slots[Int(index)].generation)
        }
        slots.append(Slot(generation: 1, isTaken: true, value: nil))
        return Self.token(index: UInt32(slots.count - 1), generation: 1)
    }

    /// The value of a live token, nil for a stale or reserved one.
    @inline(__always)
    func lookup(_ token: Token) -> Value? {
        guard isIssued(token) else { return nil }
        return slots[Self.index(token)].value
    }

    /// Puts a new value in a live or reserved slot, keeping its token.
    mutating func replace(_ token: Token, with value: Value) {
        guard isIssued(token) else { return }
        slots[Self.index(token)].value = value
    }

    /// Frees the slot; its token goes stale at once.
    @discardableResult
    mutating func remove(_ token: Token) -> Value? {
        guard isIssued(token) else { return nil }
        let index = Self.index(token)
        // Moved out (`take`), not copied and then cleared: no retain and release.
        let value = slots[index].value.take()
        slots[index].isTaken = false
        slots[index].generation &+= 1
        if slots[index].generation == 0 { slots[index].generation = 1 }
        free.append(UInt32(index))
        count -= 1
        return value
    }

    /// Whether the token's slot is taken (live or reserved) in its
    /// generation: a made-up token for a free slot frees nothing twice.
    @inline(__always)
    private func isIssued(_ token: Token) -> Bool {
        let index = Self.index(token)
        return index < slots.count && slots[index].isTaken
            && slots[index].generation == UInt32(truncatingIfNeeded: token.rawValue >> 32)
    }

    @inline(__always)
    private static func index(_ token: Token) -> Int {
        Int(truncatingIfNeeded: token.rawValue & 0xFFFF_FFFF)
    }

    private static func token(index: UInt32, generation: UInt32) -> Token {
        Token(UInt64(generation) << 32 | UInt64(index))
    }
}
