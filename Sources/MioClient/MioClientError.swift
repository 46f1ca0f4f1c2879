import MioCore
import MioProtocol

/// What can go wrong talking to the daemon.
public enum MioClientError: Error, Equatable, CustomStringConvertible, Sendable {
    /// No daemon answers at the path.
    case notRunning(path: String, reason: String)
    /// The socket exists but this user may not connect to it (`EACCES`).
    case permissionDenied(path: String, reason: String)
    /// The daemon refused the request: its protocol error code and message.
    case daemon(code: String, message: String)
    /// The daemon closed the connection.
    case connectionClosed
    /// A line from the daemon that does not follow the protocol.
    case protocolViolation(String)
    /// A system call failed.
    case system(MioError)
    /// Nothing came within the time given.
    case timedOut

    public var description: String {
        switch self {
        case .notRunning(let path, let reason):
            return "no mio-daemon at \(path) (\(reason)); start one with `mio-daemon` or `make run`, or set MIO_SOCKET"
        case .permissionDenied(let path, let reason):
            return "permission denied: \(path) (\(reason)); the socket's mode or its directory keeps this user out"
        case .daemon(let code, let message): return "\(code): \(message)"
        case .connectionClosed: return "the daemon closed the connection"
        case .protocolViolation(let what): return "unexpected line from the daemon: \(what)"
        case .system(let error): return "\(error)"
        case .timedOut: return "timed out"
        }
    }

    /// The protocol error code, when the daemon refused the request.
    public var code: ErrorCode? {
        if case .daemon(let code, _) = self { return ErrorCode(rawValue: code) }
        return nil
    }
}
