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
}
