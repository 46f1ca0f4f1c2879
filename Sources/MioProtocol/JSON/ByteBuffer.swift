#if canImport(Glibc)
import Glibc
#endif

/// The bytes a ``JSONWriter`` appends to: one owner, its memory freed with
/// it. Not an `[UInt8]`: a connection's output empties after every send,
/// and emptying an array keeping its capacity goes through its generic
/// range replacement (about 115 instructions a reply, callgrind); here it
/// sets a count.
public struct ByteBuffer: ~Copyable {
    @usableFromInline var base: UnsafeMutablePointer<UInt8>
    @usableFromInline var storedCount = 0
    @usableFromInline var storedCapacity: Int

    public init(capacity: Int) {
        storedCapacity = max(capacity, 16)
        base = .allocate(capacity: storedCapacity)
    }

    public var count: Int { storedCount }
    public var capacity: Int { storedCapacity }

    deinit { base.deallocate() }

    public var isEmpty: Bool { count == 0 }

    /// A copy of the bytes, for callers that want an array.
    public var array: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    @inlinable
    public mutating func append(_ byte: UInt8) {
        if count == capacity { grow(toHold: 1) }
        base[count] = byte
        storedCount += 1
    }

    @inlinable
    public mutating func append(contentsOf bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        if capacity - count < bytes.count { grow(toHold: bytes.count) }
        memcpy(base + count, source, bytes.count)
        storedCount += bytes.count
    }

    public mutating func append(contentsOf bytes: some Sequence<UInt8>) {
        for byte in bytes { append(byte) }
    }

    /// Room for `room` more bytes at the end: `body` writes into it and
    /// returns how many it wrote (at most `room`), which become part of the
    /// buffer.
    @inlinable
    public mutating func append(reserving room: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        if capacity - count < room { grow(toHold: room) }
        let written = body(base + count)
        precondition(written >= 0 && written <= room, "wrote past the room it asked for")
        storedCount += written
    }

    /// Empties the buffer. Memory past `limit` bytes is given back, down to
    /// `size`, so that one burst does not stay resident.
    public mutating func removeAll(keepingCapacityUpTo limit: Int, elseShrinkingTo size: Int) {
        storedCount = 0
        if capacity > limit {
            base.deallocate()
            storedCapacity = max(size, 16)
            base = .allocate(capacity: storedCapacity)
        }
    }

    /// Drops the first `n` bytes, moving the rest to the front.
    public mutating func removeFirst(_ n: Int) {
        precondition(n >= 0 && n <= count, "removing more bytes than there are")
        memmove(base, base + n, count - n)
        storedCount -= n
    }

    @usableFromInline
    mutating func grow(toHold extra: Int) {
        var newCapacity = capacity
        while newCapacity - count < extra { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.initialize(from: base, count: count)
        base.deallocate()
        base = newBase
        storedCapacity = newCapacity
    }
}
