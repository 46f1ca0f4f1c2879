/// The protocol's stable error codes (docs/protocol.md, "Error codes").
public enum ErrorCode: String, Sendable, CaseIterable {
    case badJSON = "bad_json"
    case badRequest = "bad_request"
    case unknownOp = "unknown_op"
    case noFd = "no_fd"
    case tokenInUse = "token_in_use"
    case unknownToken = "unknown_token"
    case notPollable = "not_pollable"
    case badFd = "bad_fd"
    case limitExceeded = "limit_exceeded"
    case permissionDenied = "permission_denied"
    case sessionBusy = "session_busy"
    case wrongState = "wrong_state"
    case lineTooLong = "line_too_long"
    case fdOverflow = "fd_overflow"
    case unsupportedProtocol = "unsupported_protocol"
    /// No named session of that name (and uid): `list`, `end` with `session`.
    case unknownSession = "unknown_session"
    case `internal` = "internal"
}

/// A request that fails: its code and a message a person understands.
public struct ProtocolError: Error, Equatable, Sendable {
    public let code: ErrorCode
    public let message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}
