import MioCore
import Protocol

/// One client fd (or one waker) held for a session, under the client's token.
final class Registration {
    /// The daemon's epoll token for it (slot and generation), set once watched.
    var internalToken = Token(0)
    /// The client's token.
    let token: Token
    unowned let session: Session
    let kind: ClientFdKind
    /// The client's fd, owned here; for a waker, the waker's eventfd.
    let fd: Int32
    /// Set for a waker: the daemon's own eventfd, closed when it goes.
    let waker: Waker?
    var interest: Interest
    var mode: Mode

    /// Readiness not yet sent, OR-ed since the last send.
    var pending: Readiness = []
    /// False once removed: a pending-queue entry for it is skipped.
    var isActive = true

    init(token: Token, session: Session, kind: ClientFdKind, fd: Int32,
         waker: Waker?, interest: Interest, mode: Mode) {
        self.token = token
        self.session = session
        self.kind = kind
        self.fd = fd
        self.waker = waker
        self.interest = interest
        self.mode = mode
    }

    var isWaker: Bool { waker != nil }

    var info: RegistrationInfo {
        RegistrationInfo(token: token, interest: interest, mode: mode, kind: kind.rawValue)
    }
}
