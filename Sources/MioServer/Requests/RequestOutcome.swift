import MioProtocol

/// What a request handler decided. Noncopyable, because it may carry an fd
/// to hand back: the reply that carries it then owns it.
enum RequestOutcome: ~Copyable {
    /// Reply now.
    case reply(ReplyBody)
    /// Reply with an error.
    case failure(ProtocolError)
    /// Reply now, with fds alone beside the reply line (`fetch`; `hello`
    /// with ring delivery).
    case replyWithFds(ReplyBody, OutgoingFds)
    /// The handler answers later itself (a `poll` waiting for events).
    case deferred
}
