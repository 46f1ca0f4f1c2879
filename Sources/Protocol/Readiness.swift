import MioCore

/// The six booleans of an event line, as bits, so that pending readiness
/// of a token can be OR-ed (coalesced) without losing a `write_closed`.
public struct Readiness: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    // Computed, not stored: no lazy-global check on the event path.
    @inlinable public static var readable: Readiness { Readiness(rawValue: 1 << 0) }
    @inlinable public static var writable: Readiness { Readiness(rawValue: 1 << 1) }
    @inlinable public static var error: Readiness { Readiness(rawValue: 1 << 2) }
    @inlinable public static var readClosed: Readiness { Readiness(rawValue: 1 << 3) }
    @inlinable public static var writeClosed: Readiness { Readiness(rawValue: 1 << 4) }
    @inlinable public static var priority: Readiness { Readiness(rawValue: 1 << 5) }

    /// The flags of a MioCore event, with mio's meaning (protocol §4).
    @inlinable
    public init(_ event: Event) {
        var bits: UInt8 = 0
        if event.isReadable { bits |= Readiness.readable.rawValue }
        if event.isWritable { bits |= Readiness.writable.rawValue }
        if event.isError { bits |= Readiness.error.rawValue }
        if event.isReadClosed { bits |= Readiness.readClosed.rawValue }
        if event.isWriteClosed { bits |= Readiness.writeClosed.rawValue }
        if event.isPriority { bits |= Readiness.priority.rawValue }
        self.init(rawValue: bits)
    }
}

/// One token's readiness, as sent in an event line or a `poll` reply.
public struct ReadinessEvent: Equatable, Sendable {
    public var token: Token
    public var readiness: Readiness

    public init(token: Token, readiness: Readiness) {
        self.token = token
        self.readiness = readiness
    }
}
