/// A line the daemon sends on its own that is not readiness
/// (docs/protocol.md, "Events").
public enum Notice: String, Equatable, Sendable {
    /// `{"event":"shutdown"}`: the daemon is stopping.
    case shutdown
    /// `{"event":"session_taken"}`: another connection took this session over.
    case sessionTaken = "session_taken"
}
