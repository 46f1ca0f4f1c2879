import MioCore
import MioProtocol

extension Server {
    /// `store`: holds the fd under `token`, never polled (docs/protocol.md,
    /// "Holding without polling"). The fd ends up held, or closed with the failure.
    func store(_ fd: consuming ClientFd, token: Token, on connection: Connection) -> RequestOutcome {
        let session = connection.session
        if let refusal = refusalOfRegistration(token, in: session) { return .failure(refusal) }
        let kind: ClientFdKind
        switch ClientFdKind.classifyHeld(fd.raw) {
        case .failure(let error): return .failure(error)
        case .success(let found): kind = found
        }
        if let refusal = refusalOfHolding(fd.raw, kind: kind, in: session) { return .failure(refusal) }
        add(Registration(token: token, session: session, kind: kind, storing: fd), to: session)
        connection.hasRegistered = true
        return .reply(.token(token))
    }
}
