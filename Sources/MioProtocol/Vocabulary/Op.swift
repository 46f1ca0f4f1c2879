/// The protocol's operations, by their wire names (docs/protocol.md,
/// "Operations"): the one list, read by the decoder and written by
/// the encoder.
public enum Op: String, CaseIterable, Sendable {
    case hello, register, reregister, deregister, waker, wake, poll, fetch, list, sessions, stats, end, ping

    /// The only operation that takes an fd.
    public var takesFd: Bool { self == .register }

    /// The reply to an op that is not one of these.
    static func unknown(_ name: String) -> ProtocolError {
        ProtocolError(.unknownOp, name.isEmpty ? "\"op\" is empty" : "unknown op \"\(ProtocolText.printable(name))\"")
    }
}

/// A client's text, cut short for an error message.
enum ProtocolText {
    static func printable(_ s: String) -> String {
        s.utf8.count <= 64 ? s : String(s.prefix(64)) + "…"
    }
}
