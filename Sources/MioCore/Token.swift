/// Associates readiness events with the source that produced them.
///
/// A `Token` is the caller's own number: `Poll` hands it back in every
/// ``Event`` of the registration made with it, and never looks inside.
public struct Token: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    public var rawValue: UInt64

    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    @inlinable
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// `token: 7` reads as `Token(7)`.
    @inlinable
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    @inlinable
    public static func < (lhs: Token, rhs: Token) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "Token(\(rawValue))" }

    // Tokens key the daemon's tables, and the synthesized hashing builds a
    // whole Hasher per lookup. UInt64's one-shot hash is the same keyed
    // SipHash (client-chosen tokens cannot be made to collide) at about a
    // third of the instructions.
    @inlinable
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    @inlinable
    public func _rawHashValue(seed: Int) -> Int { rawValue._rawHashValue(seed: seed) }
}
