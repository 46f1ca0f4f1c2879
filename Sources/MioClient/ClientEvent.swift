import MioCore
import Protocol

/// A line the daemon sends on its own: readiness of a token, or a notice.
public enum ClientEvent: Equatable, Sendable, CustomStringConvertible {
    case ready(ReadinessEvent)
    /// `{"event":"shutdown"}`: the daemon is stopping.
    case shutdown
    /// `{"event":"session_taken"}`: another connection took this session over.
    case sessionTaken

    init?(_ line: JSONValue) {
        switch line["event"]?.string {
        case "ready":
            guard let event = ReadinessEvent(line) else { return nil }
            self = .ready(event)
        case "shutdown": self = .shutdown
        case "session_taken": self = .sessionTaken
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .ready(let event):
            let r = event.readiness
            let flags = [(Readiness.readable, "readable"), (.writable, "writable"), (.error, "error"),
                         (.readClosed, "read_closed"), (.writeClosed, "write_closed"), (.priority, "priority")]
                .filter { r.contains($0.0) }.map(\.1)
            return "token \(event.token.rawValue): \(flags.isEmpty ? "(no flags)" : flags.joined(separator: " "))"
        case .shutdown: return "the daemon is shutting down"
        case .sessionTaken: return "the session was taken over by another connection"
        }
    }
}

extension ReadinessEvent {
    /// From an event object (with or without its `"event"` key).
    init?(_ object: JSONValue) {
        guard let token = object["token"]?.uint64 else { return nil }
        var readiness: Readiness = []
        for (flag, key) in [(Readiness.readable, "readable"), (.writable, "writable"), (.error, "error"),
                            (.readClosed, "read_closed"), (.writeClosed, "write_closed"), (.priority, "priority")]
        where object[key]?.bool == true {
            readiness.insert(flag)
        }
        self.init(token: Token(token), readiness: readiness)
    }
}
