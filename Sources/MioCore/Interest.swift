import CMioLinux

/// The readiness a registration asks for: readable, writable, priority,
/// or a combination. An empty interest cannot be made.
///
/// Combine with `|` or ``adding(_:)``; ``removing(_:)`` returns nil rather
/// than an empty interest, as mio's `Interest::remove`.
public struct Interest: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline let bits: UInt8

    @inlinable init(bits: UInt8) { self.bits = bits }

    /// Read readiness: `EPOLLIN | EPOLLRDHUP`.
    public static let readable = Interest(bits: 0b001)
    /// Write readiness: `EPOLLOUT`.
    public static let writable = Interest(bits: 0b010)
    /// Priority (out-of-band) readiness: `EPOLLPRI`.
    public static let priority = Interest(bits: 0b100)

    /// Both interests together.
    @inlinable
    public func adding(_ other: Interest) -> Interest { Interest(bits: bits | other.bits) }

    /// This interest without `other`, or nil when nothing would be left.
    @inlinable
    public func removing(_ other: Interest) -> Interest? {
        let left = bits & ~other.bits
        return left == 0 ? nil : Interest(bits: left)
    }

    @inlinable
    public static func | (lhs: Interest, rhs: Interest) -> Interest { lhs.adding(rhs) }

    @inlinable public var isReadable: Bool { bits & Interest.readable.bits != 0 }
    @inlinable public var isWritable: Bool { bits & Interest.writable.bits != 0 }
    @inlinable public var isPriority: Bool { bits & Interest.priority.bits != 0 }

    /// The epoll bits of this interest, without the mode's.
    @inlinable
    package var epollEvents: UInt32 {
        var events: UInt32 = 0
        if isReadable { events |= CMIO_EPOLLIN | CMIO_EPOLLRDHUP }
        if isWritable { events |= CMIO_EPOLLOUT }
        if isPriority { events |= CMIO_EPOLLPRI }
        return events
    }

    /// `READABLE | WRITABLE`, as mio's `Debug` prints it.
    public var description: String {
        [(isReadable, "READABLE"), (isWritable, "WRITABLE"), (isPriority, "PRIORITY")]
            .filter(\.0).map(\.1).joined(separator: " | ")
    }
}
