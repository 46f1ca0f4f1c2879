import MioCore
import MioSystem

/// The daemon's epoll tokens and what each stands for, kept in step with
/// the `Poll`: a token is in the table exactly while its fd is registered.
/// Watching reserves the slot, registers, and rolls back on failure in one
/// call; so does its counterpart for removal.
///
/// Registrations, where nearly every event goes, have a table of their own
/// and tokens marked as theirs: looking one up copies a plain reference
/// (one retain), where an entry of the enum costs an outlined copy that
/// switches on its case, and a second as a `switch` binds its payload.
struct WatchTable {
    /// What an internal token stands for.
    enum Watched {
        case listener
        case signals
        case connection(Connection)
        /// A session's lease timer.
        case lease(Session)
    }

    /// The bit that marks a registration's token (in the slot index, whose
    /// upper half no table reaches).
    private static let registrationMark: UInt64 = 1 << 31
    private var daemonSlots = SlotTable<Watched>()
    private var registrationSlots = SlotTable<Registration>()
    let registry: Registry

    init(registry: Registry) {
        self.registry = registry
    }

    /// Whether the token is a registration's (live or not).
    @inline(__always)
    static func isRegistration(_ token: Token) -> Bool { token.rawValue & registrationMark != 0 }

    /// The registration a token stands for; nil for any other token, and
    /// for a stale or reserved one.
    @inline(__always)
    func registration(_ token: Token) -> Registration? {
        guard Self.isRegistration(token) else { return nil }
        return registrationSlots.lookup(Self.slot(of: token))
    }

    /// What one of the daemon's own tokens stands for; nil for a stale one
    /// (its owner has gone) and for a registration's (``registration(_:)``).
    @inline(__always)
    func lookup(_ token: Token) -> Watched? {
        guard !Self.isRegistration(token) else { return nil }
        return daemonSlots.lookup(token)
    }

    /// Registers `fd` under a new token for `target`; nothing is left
    /// behind if epoll refuses it.
    mutating func watch(_ fd: Int32, interest: Interest, mode: Mode = .edge, as target: Watched) throws(MioError) -> Token {
        try watch(fd, interest: interest, mode: mode, under: daemonSlots.insert(target))
    }

    /// Registers a client's (or the daemon's own timer) `fd` under a new
    /// registration token; nothing is left behind if epoll refuses it.
    mutating func watch(_ fd: Int32, interest: Interest, mode: Mode = .edge, for registration: Registration) throws(MioError) -> Token {
        try watch(fd, interest: interest, mode: mode, under: Self.marked(registrationSlots.insert(registration)))
    }

    private mutating func watch(_ fd: Int32, interest: Interest, mode: Mode, under token: Token) throws(MioError) -> Token {
        let registry = registry
        return try kept(token) { (token) throws(MioError) in
            try registry.register(SourceFd(fd), token: token, interest: interest, mode: mode)
        }
    }

    /// Registers a connection's socket level-triggered for `interest` (see
    /// ``rewatchConnection(_:token:interest:)``); nothing is left behind if
    /// epoll refuses it.
    mutating func watchConnection(_ fd: Int32, interest: Interest?, as target: Watched) throws(MioError) -> Token {
        let registry = registry
        return try kept(daemonSlots.insert(target)) { (token) throws(MioError) in
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
    /// `Waker`): `register` makes it, `target` makes the registration the
    /// token stands for once it exists (a reserved token finds nothing
    /// until then). Nothing is left behind if `register` throws.
    mutating func watch<Source>(registering register: (Token) throws(MioError) -> Source,
                                as target: (Token, Source) -> Registration) throws(MioError) -> Token {
        var source: Source?
        let token = try kept(Self.marked(registrationSlots.reserve())) { (token) throws(MioError) in source = try register(token) }
        registrationSlots.replace(Self.slot(of: token), with: target(token, source!))
        return token
    }

    /// `token`, kept only if `register` (epoll) takes it.
    private mutating func kept(_ token: Token, _ register: (Token) throws(MioError) -> Void) throws(MioError) -> Token {
        do {
            try register(token)
        } catch {
            remove(token)
            throw error
        }
        return token
    }

    private mutating func remove(_ token: Token) {
        if Self.isRegistration(token) {
            registrationSlots.remove(Self.slot(of: token))
        } else {
            daemonSlots.remove(token)
        }
    }

    private static func marked(_ slot: Token) -> Token { Token(slot.rawValue | registrationMark) }
    private static func slot(of token: Token) -> Token { Token(token.rawValue & ~registrationMark) }

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
        remove(token)
        if let fd { try? registry.deregister(SourceFd(fd)) }
    }
}
