import MioCore
import MioSystem

/// The daemon's epoll tokens and what each stands for, kept in step with
/// the `Poll`: a token is in the table exactly while its fd is registered.
/// Watching reserves the slot, registers, and rolls back on failure in one
/// call; so does its counterpart for removal.
struct WatchTable {
    /// What an internal token stands for.
    enum Watched {
        case listener
        case signals
        case connection(Connection)
        case registration(Registration)
        /// A session's lease timer.
        case lease(Session)
        /// A token handed out before its owner exists (a waker registers
        /// itself under its token as it is made); no event is acted on.
        case reserved
    }

    private var slots = SlotTable<Watched>()
    let registry: Registry

    init(registry: Registry) {
        self.registry = registry
    }

    /// What a token from `epoll_wait` stands for; nil for a stale one (its
    /// owner has gone).
    @inline(__always)
    func lookup(_ token: Token) -> Watched? {
        slots.lookup(token)
    }

    /// Registers `fd` under a new token for `target`; nothing is left
    /// behind if epoll refuses it.
    mutating func watch(_ fd: Int32, interest: Interest, mode: Mode = .edge, as target: Watched) throws(MioError) -> Token {
        let registry = registry
        return try reserve(for: target) { (token) throws(MioError) in
            try registry.register(SourceFd(fd), token: token, interest: interest, mode: mode)
        }
    }

    /// Registers a connection's socket level-triggered for `interest` (see
    /// ``rewatchConnection(_:token:interest:)``); nothing is left behind if
    /// epoll refuses it.
    mutating func watchConnection(_ fd: Int32, interest: Interest?, as target: Watched) throws(MioError) -> Token {
        let registry = registry
        return try reserve(for: target) { (token) throws(MioError) in
            try registry.watchLevelTriggered(fd, token: token, interest: interest, adding: true)
        }
    }

    /// What a connection's socket is watched for: input while its requests
    /// may be read and run, room while output waits, nil for neither (a
    /// hang-up is reported all the same).
    func rewatchConnection(_ fd: Int32, token: Token, interest: Interest?) throws(MioError) {
        try registry.watchLevelTriggered(fd, token: token, interest: interest, adding: false)
    }

    /// For a source that registers itself under the token it is given (a
    /// `Waker`): `register` makes it, `target` says what the token stands
    /// for once it exists. Nothing is left behind if `register` throws.
    mutating func watch<Source>(registering register: (Token) throws(MioError) -> Source,
                                as target: (Token, Source) -> Watched) throws(MioError) -> Token {
        var source: Source?
        let token = try reserve(for: .reserved) { (token) throws(MioError) in source = try register(token) }
        slots.replace(token, with: target(token, source!))
        return token
    }

    /// A new token for `target`, kept only if `register` (epoll) takes it.
    private mutating func reserve(for target: Watched, _ register: (Token) throws(MioError) -> Void) throws(MioError) -> Token {
        let token = slots.insert(target)
        do {
            try register(token)
        } catch {
            slots.remove(token)
            throw error
        }
        return token
    }

    /// Changes what `fd` (watched under `token`) asks for.
    func rewatch(_ fd: Int32, token: Token, interest: Interest, mode: Mode) throws(MioError) {
        try registry.reregister(SourceFd(fd), token: token, interest: interest, mode: mode)
    }

    /// Stops watching: the token goes stale at once, and `fd` leaves epoll.
    /// Closing the daemon's copy of an fd does not take the file out of
    /// epoll while the client holds another copy, so it is removed first.
    /// A socket only the daemon holds (a connection) passes nil: its close
    /// removes it.
    mutating func unwatch(_ token: Token, fd: Int32?) {
        slots.remove(token)
        if let fd { try? registry.deregister(SourceFd(fd)) }
    }
}
