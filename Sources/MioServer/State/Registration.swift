import MioCore
import MioProtocol

/// One client fd (or one waker) held for a session, under the client's token.
final class Registration {
    /// What the registration holds: the client's fd, or a waker of the
    /// daemon's (its eventfd closes with it).
    enum Held: ~Copyable {
        case clientFd(ClientFd)
        case waker(Waker)
    }

    /// The daemon's epoll token for it (slot and generation), set once watched.
    var internalToken = Token(0)
    /// The client's token.
    let token: Token
    unowned let session: Session
    let kind: ClientFdKind
    /// The fd epoll watches: the client's, or the waker's eventfd. Only
    /// looked at; `held` owns it.
    let fd: Int32
    /// nil once let go (``close()``, ``takeClientFd()``).
    private var held: Held?
    /// The waker, while held (nil once let go: its eventfd closes with it).
    private(set) var waker: Waker?
    var interest: Interest
    var mode: Mode

    /// The name its fd is kept under in the service manager's fd store, while
    /// it is there (a registration of a persistent session under a manager).
    var storedName: String?
    /// Its file, while stored (the store keeps one copy of an open file).
    var storedFile: FileIdentity?

    /// Readiness not yet sent, OR-ed since the last send.
    var pending: Readiness = []
    /// False once removed from its session: a pending-queue entry for it is skipped.
    var isActive = true

    init(token: Token, session: Session, kind: ClientFdKind, holding fd: consuming ClientFd,
         interest: Interest, mode: Mode) {
        self.token = token
        self.session = session
        self.kind = kind
        self.fd = fd.raw
        self.held = .clientFd(fd.knownPollable())
        self.waker = nil
        self.isWaker = false
        self.interest = interest
        self.mode = mode
    }

    init(token: Token, session: Session, waker: Waker) {
        self.token = token
        self.session = session
        self.kind = .waker
        self.fd = waker.rawDescriptor
        self.held = .waker(waker)
        self.waker = waker
        self.isWaker = true
        self.interest = .readable
        self.mode = .edge
    }

    let isWaker: Bool

    /// Lets go of what it holds: the client's fd is closed, a waker's
    /// eventfd with the waker.
    func close() {
        held = nil
        waker = nil
    }

    /// Hands the client's fd out (`fetch` with `deregister`); nil for a waker.
    func takeClientFd() -> ClientFd? {
        switch held.take() {
        case .clientFd(let fd)?: return fd
        case .waker(let waker)?:
            held = .waker(waker)
            return nil
        case nil: return nil
        }
    }

    var info: RegistrationInfo {
        RegistrationInfo(token: token, interest: interest, mode: mode, kind: kind.rawValue)
    }
}
