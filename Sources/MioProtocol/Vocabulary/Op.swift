/// The protocol's operations, by their wire names (docs/protocol.md,
/// "Operations"): the one list, read by the decoder and written by
/// the encoder.
public enum Op: String, CaseIterable, Sendable {
    case hello, register, reregister, deregister, waker, wake, poll, fetch, list, sessions, stats, end, ping
    /// docs/protocol.md, "Holding without polling" and "Timers".
    case store, timer

    /// The operations that take an fd: exactly one.
    public var takesFd: Bool { self == .register || self == .store }

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
