import CMioLinux
import MioSystem

/// A reusable buffer of events, filled by ``Poll/poll(_:timeout:)``.
///
/// Its capacity is fixed at creation: more ready sources than that are
/// reported by the next poll, in turn.
public struct Events: RandomAccessCollection, Sendable {
    @usableFromInline var storage: [epoll_event]
    /// How many events the last poll stored.
    public private(set) var count: Int = 0

    /// A buffer for at most `capacity` events per poll.
    ///
    /// - Throws: ``MioError`` of kind `.invalidArgument` when `capacity` is 0
    ///   (epoll would refuse it at the first poll) or does not fit an `Int32`.
    public init(capacity: Int) throws(MioError) {
        guard capacity > 0, capacity <= Int(Int32.max) / MemoryLayout<epoll_event>.stride else {
            throw MioError(kind: .invalidArgument, operation: "Events(capacity: \(capacity)): capacity must be at least 1")
        }
        storage = [epoll_event](repeating: epoll_event(), count: capacity)
    }

    public var capacity: Int { storage.count }
    public var isEmpty: Bool { count == 0 }
    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    @inlinable
    public subscript(position: Int) -> Event {
        let raw = storage[position]
        return Event(token: Token(raw.data.u64), epollEvents: raw.events)
    }

    /// Forgets the events of the last poll.
    public mutating func clear() { count = 0 }

    /// Lets `Poll` fill the buffer.
    mutating func fill(_ body: (UnsafeMutablePointer<epoll_event>, Int32) throws(MioError) -> Int) throws(MioError) {
        count = 0
        let capacity = Int32(storage.count)
        count = try storage.withUnsafeMutableBufferPointerTyped { (buffer) throws(MioError) -> Int in
            try body(buffer.baseAddress!, capacity)
        }
    }
}
