import MioCore
import MioSystem
import MioProtocol

/// One thing a session holds under the client's token: a client fd that
/// epoll watches, a client fd held without polling (`store`), a waker of
/// the daemon's, or a timer of the daemon's.
final class Registration {
    /// What the registration is.
    enum Role: Equatable {
        /// A client's fd, watched (`register`).
        case polled
        /// A client's fd, never polled (`store`): no internal token.
        case held
        /// An eventfd of the daemon's (`waker`).
        case waker
        /// A timerfd of the daemon's (`timer`).
        case timer

        /// Whether epoll watches it (it has an internal token).
        var isWatched: Bool { self != .held }
        /// Whether its fd is the daemon's (not counted in `fds_held`).
        var holdsDaemonFd: Bool { self == .waker || self == .timer }
    }

    /// What it owns; its fd closes with it.
    enum Held: ~Copyable {
        case clientFd(ClientFd)
        case waker(Waker)
        case timer(TimerFd)
    }

    /// The daemon's epoll token for it (slot and generation), set once
    /// watched; never set for a held fd.
    var internalToken = Token(0)
    /// The client's token.
    let token: Token
    /// Strong, though the session holds it too: the cycle ends when the
    /// session lets go of it (deregistered, or all at once when the session
    /// is destroyed), and an `unowned` reference cost a checked retain at
    /// every readiness event.
    let session: Session
    let role: Role
    let kind: ClientFdKind
    /// Its fd (the client's, the waker's eventfd, the timerfd). Only looked
    /// at; `held` owns it.
    let fd: Int32
    /// nil once let go (``close()``, ``takeClientFd()``).
    private var held: Held?
    /// The waker, while held (nil once let go: its eventfd closes with it).
    private(set) var waker: Waker?
    /// The timer, while held.
    private(set) var timer: TimerFd?
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

    /// A client's fd, watched for `interest` (`register`).
    init(token: Token, session: Session, kind: ClientFdKind, holding fd: consuming ClientFd,
         interest: Interest, mode: Mode) {
        self.token = token
        self.session = session
        self.role = .polled
        self.kind = kind
        self.fd = fd.raw
        self.held = .clientFd(fd.knownPollable())
        self.interest = interest
        self.mode = mode
    }

    /// A client's fd held without polling (`store`).
    init(token: Token, session: Session, kind: ClientFdKind, storing fd: consuming ClientFd) {
        self.token = token
        self.session = session
        self.role = .held
        self.kind = kind
        self.fd = fd.raw
        self.held = .clientFd(kind.closesAtOnce ? fd.knownPollable() : fd)
        self.interest = .readable  // never used: nothing watches it
        self.mode = .edge
    }

    init(token: Token, session: Session, waker: Waker) {
        self.token = token
        self.session = session
        self.role = .waker
        self.kind = .waker
        self.fd = waker.rawDescriptor
        self.held = .waker(waker)
        self.waker = waker
        self.interest = .readable
        self.mode = .edge
    }

    init(token: Token, session: Session, timer: TimerFd) {
        self.token = token
        self.session = session
        self.role = .timer
        self.kind = .timer
        self.fd = timer.fd
        self.held = .timer(timer)
        self.timer = timer
        self.interest = .readable
        self.mode = .edge
    }

    /// Lets go of what it holds: the client's fd is closed, a waker's
    /// eventfd with the waker, a timer's timerfd with the timer.
    func close() {
        held = nil
        waker = nil
        timer = nil
    }

    /// Hands the client's fd out (`fetch` with `deregister`); nil for a
    /// waker or a timer.
    func takeClientFd() -> ClientFd? {
        switch held.take() {
        case .clientFd(let fd)?: return fd
        case .waker(let waker)?:
            held = .waker(waker)
            return nil
        case .timer(let timer)?:
            held = .timer(timer)
            return nil
        case nil: return nil
        }
    }

    var info: RegistrationInfo {
        switch role {
        case .held:
            return RegistrationInfo(heldToken: token, kind: kind.rawValue)
        case .timer:
            let setting = timer?.setting
            return RegistrationInfo(token: token, interest: interest, mode: mode, kind: kind.rawValue,
                                    timer: TimerInfo(intervalMilliseconds: setting?.interval?.millisecondsRoundedUp,
                                                     expiresInMilliseconds: setting?.next?.millisecondsRoundedUp))
        case .polled, .waker:
            return RegistrationInfo(token: token, interest: interest, mode: mode, kind: kind.rawValue)
        }
    }
}
