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

    /// The flags of a MioCore event, with mio's meaning (docs/protocol.md, "Events").
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

extension Readiness {
    /// Each flag and its name in event lines, in their order there
    /// (docs/protocol.md, "Events"): the one table, for writing event lines,
    /// reading them, and printing them.
    public static let wireNames: [(flag: Readiness, name: String)] = [
        (.readable, "readable"), (.writable, "writable"), (.error, "error"),
        (.readClosed, "read_closed"), (.writeClosed, "write_closed"), (.priority, "priority"),
    ]

    /// The names of the flags that are set, in event-line order.
    public var names: [String] {
        Readiness.wireNames.filter { contains($0.flag) }.map(\.name)
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
