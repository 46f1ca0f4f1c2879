import MioCore
import MioProtocol

/// A line the daemon sends on its own: readiness of a token, or a notice.
public enum ClientEvent: Equatable, Sendable, CustomStringConvertible {
    case ready(ReadinessEvent)
    /// `{"event":"shutdown"}`: the daemon is stopping.
    case shutdown
    /// `{"event":"session_taken"}`: another connection took this session over.
    case sessionTaken

    init(_ notice: Notice) {
        switch notice {
        case .shutdown: self = .shutdown
        case .sessionTaken: self = .sessionTaken
        }
    }

    public var description: String {
        switch self {
        case .ready(let event):
            let flags = event.readiness.names
            return "token \(event.token.rawValue): \(flags.isEmpty ? "(no flags)" : flags.joined(separator: " "))"
        case .shutdown: return "the daemon is shutting down"
        case .sessionTaken: return "the session was taken over by another connection"
        }
    }
}
