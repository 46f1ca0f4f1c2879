import MioCore

/// Interest and mode by their wire names (docs/protocol.md, "Tokens,
/// interest, mode"): the one table, for decoding, encoding, `list`, the fd store's
/// names and the command line.
extension Interest {
    /// Each single interest and its name, in protocol order.
    public static let wireNames: [(interest: Interest, name: String)] = [
        (.readable, "readable"), (.writable, "writable"), (.priority, "priority"),
    ]

    /// One interest by its name.
    public init?(wireName: some StringProtocol) {
        guard let entry = Interest.wireNames.first(where: { $0.name == wireName }) else { return nil }
        self = entry.interest
    }

    /// The union of the named interests; nil when a name is unknown or
    /// there is none (an empty interest cannot exist).
    public init?(wireNames names: some Sequence<some StringProtocol>) {
        var result: Interest?
        for name in names {
            guard let one = Interest(wireName: name) else { return nil }
            result = result.map { $0 | one } ?? one
        }
        guard let result else { return nil }
        self = result
    }

    /// The names, in protocol order: `["readable", "writable", "priority"]`.
    public var names: [String] {
        Interest.wireNames.filter { contains($0.interest) }.map(\.name)
    }

    /// Whether every interest of `other` is in this one.
    public func contains(_ other: Interest) -> Bool {
        (other.isReadable ? isReadable : true) && (other.isWritable ? isWritable : true)
            && (other.isPriority ? isPriority : true)
    }
}

extension Mode {
    /// By its wire name: `"edge"` or `"oneshot"`.
    public init?(wireName: some StringProtocol) {
        switch wireName {
        case "edge": self = .edge
        case "oneshot": self = .oneshot
        default: return nil
        }
    }

    /// `"edge"` or `"oneshot"`.
    public var wireName: String { description }
}
