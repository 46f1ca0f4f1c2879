import MioCore

/// The six booleans of an event line, as bits, so that pending readiness
/// of a token can be OR-ed (coalesced) without losing a `write_closed`.
public struct Readiness: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let readable = Readiness(rawValue: 1 << 0)
    public static let writable = Readiness(rawValue: 1 << 1)
    public static let error = Readiness(rawValue: 1 << 2)
    public static let readClosed = Readiness(rawValue: 1 << 3)
    public static let writeClosed = Readiness(rawValue: 1 << 4)
    public static let priority = Readiness(rawValue: 1 << 5)

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
