import MioCore
import MioSystem
import MioProtocol

extension Server {
    /// `fetch`: a copy of the held fd goes back beside the reply; with
    /// `deregister`, the held fd itself, and the registration goes.
    func fetch(_ token: Token, deregister: Bool, on connection: Connection) -> RequestOutcome {
        guard let registration = connection.session.registration(token) else { return .failure(unknownToken(token)) }
        guard !registration.role.holdsDaemonFd else {
            let what = registration.role == .timer ? "a timer" : "a waker"
            return .failure(ProtocolError(.badRequest, "token \(token.rawValue) is \(what): it holds no fd of yours to fetch"))
        }
        if deregister {
            _ = connection.session.remove(token)
            let handed = registration.takeClientFd()
            release(registration)
            guard let handed else { return .failure(ProtocolError(.internal, "token \(token.rawValue) held no fd")) }
            return .replyWithFds(removalReply(token, on: connection), OutgoingFds(handed))
        }
        // A copy is a new fd of the daemon's until the client reads its reply.
        account(connection)
        if fdsInFlight >= configuration.openFiles.fdsInFlight {
            let budget = configuration.openFiles
            return .failure(ProtocolError(.limitExceeded, "the daemon has \(fdsInFlight) fds in flight, the most its open-file limit of \(budget.limit) allows; read the replies to your fetches first"))
        }
        do {
            let copy = ClientFd(adopting: try Sys.duplicate(registration.fd), closesAtOnce: registration.kind.closesAtOnce)
            return .replyWithFds(.token(token), OutgoingFds(copy))
        } catch {
            return .failure(ProtocolError(error.kind == .tooManyOpenFiles ? .limitExceeded : .internal, "cannot duplicate the fd: \(error)"))
        }
    }
}
