import MioCore
import MioSystem
import MioProtocol

extension Server {
    /// `register`: the fd is the handler's; it ends up held by the new
    /// registration, or closed with the failure.
    func register(_ fd: consuming ClientFd, token: Token, interest: Interest, mode: Mode,
                  on connection: Connection) -> RequestOutcome {
        let session = connection.session
        if let refusal = refusalOfRegistration(token, in: session) { return .failure(refusal) }
        let kind: ClientFdKind
        switch ClientFdKind.classify(fd.raw) {
        case .failure(let error): return .failure(error)
        case .success(let found): kind = found
        }
        if let refusal = refusalOfHolding(fd.raw, kind: kind, in: session) { return .failure(refusal) }
        let registration = Registration(token: token, session: session, kind: kind, holding: fd,
                                        interest: interest, mode: mode)
        do {
            registration.internalToken = try watches.watch(registration.fd, interest: interest, mode: mode,
                                                           for: registration)
        } catch {
            // EBADF for an fd we hold: an O_PATH one (classify lets those through).
            if error.kind == .badDescriptor, let refusal = ClientFdKind.pathOnlyRefusal(registration.fd) {
                return .failure(refusal)
            }
            return .failure(Self.registrationError(error))  // the registration goes, and closes the fd
        }
        add(registration, to: session)
        connection.hasRegistered = true
        return .reply(.token(token))
    }

    func reregister(_ token: Token, interest: Interest, mode: Mode, on connection: Connection) -> RequestOutcome {
        guard let registration = connection.session.registration(token) else { return .failure(unknownToken(token)) }
        switch registration.role {
        case .held:
            return .failure(ProtocolError(.wrongState, "token \(token.rawValue) is a held fd (store): it is never polled, so it has no interest to change"))
        case .timer:
            return .failure(ProtocolError(.wrongState, "token \(token.rawValue) is a timer: set it anew with timer"))
        case .polled, .waker:
            break
        }
        do {
            try watches.rewatch(registration.fd, token: registration.internalToken, interest: interest, mode: mode)
        } catch {
            return .failure(Self.registrationError(error))
        }
        registration.interest = interest
        registration.mode = mode
        fdStore.rename(registration)
        return .reply(.token(token))
    }

    func deregister(_ token: Token, on connection: Connection) -> RequestOutcome {
        guard let registration = connection.session.remove(token) else { return .failure(unknownToken(token)) }
        release(registration)
        return .reply(removalReply(token, on: connection))
    }

    /// `waker`: an eventfd of the daemon's under `token`, as `mio::Waker`.
    func makeWaker(_ token: Token, on connection: Connection) -> RequestOutcome {
        let session = connection.session
        if let refusal = refusalOfRegistration(token, in: session) { return .failure(refusal) }
        var made: Registration?
        do {
            _ = try watches.watch(registering: { (slot) throws(MioError) in try Waker(registry: poll.registry, token: slot) },
                                  as: { slot, waker in
                                      let registration = Registration(token: token, session: session, waker: waker)
                                      registration.internalToken = slot
                                      made = registration
                                      return registration
                                  })
        } catch {
            return .failure(ProtocolError(error.kind == .tooManyOpenFiles ? .limitExceeded : .internal, "cannot make a waker: \(error)"))
        }
        add(made!, to: session)
        connection.hasRegistered = true
        return .reply(.token(token))
    }

    func wake(_ token: Token, sessionName: String?, on connection: Connection) -> RequestOutcome {
        var session = connection.session
        if let sessionName {
            guard let named = sessions.named(Session.Key(uid: connection.peer.uid, name: sessionName)) else {
                return .failure(ProtocolError(.unknownToken, "uid \(connection.peer.uid) has no session named \"\(sessionName)\""))
            }
            session = named
        }
        guard let registration = session.registration(token), let waker = registration.waker else {
            return .failure(ProtocolError(.unknownToken, "token \(token.rawValue) is not a waker in this session"))
        }
        do {
            try waker.wake()
        } catch {
            return .failure(ProtocolError(.internal, "wake failed: \(error)"))
        }
        return .reply(.empty)
    }

    /// The reply to a removal of `token` (nil: the whole session): in ring
    /// delivery it says from where on the ring no longer names it.
    func removalReply(_ token: Token?, on connection: Connection) -> ReplyBody {
        if let ring = connection.ring { return .removal(token: token, ringHead: ring.head) }
        return token.map { .token($0) } ?? .empty
    }

    // MARK: - Checks

    /// Why `token` cannot be added to `session`, or nil.
    func refusalOfRegistration(_ token: Token, in session: Session) -> ProtocolError? {
        if session.registration(token) != nil {
            return ProtocolError(.tokenInUse, "token \(token.rawValue) is already registered in this session")
        }
        return ledger.refusalOfRegistration(uid: session.uid)
    }

    /// Why the session may not hold `fd` (of `kind`), registered or
    /// stored, or nil.
    func refusalOfHolding(_ fd: Int32, kind: ClientFdKind, in session: Session) -> ProtocolError? {
        if kind == .socket, isConnectedToListener(fd) {
            return ProtocolError(.badFd, "this socket is the daemon's own listening socket or connected to it; holding it would keep a connection from ever closing")
        }
        if session.persistent, let copy = fdStore.storedCopy(of: fd) {
            return ProtocolError(.badFd, "this open file is already held as token \(copy.token.rawValue) of session \"\(copy.session.name ?? "")\"; the fd store keeps one copy of an open file, so a second could not survive a restart")
        }
        return nil
    }

    func unknownToken(_ token: Token) -> ProtocolError {
        ProtocolError(.unknownToken, "token \(token.rawValue) is not registered")
    }

    /// What an `epoll_ctl` failure means to the client.
    static func registrationError(_ error: MioError) -> ProtocolError {
        switch error.kind {
        case .notPollable: return ProtocolError(.notPollable, "epoll refuses this file descriptor (EPERM)")
        case .loop: return ProtocolError(.badFd, "registering it would make a loop of epoll instances, or nest them too deep (ELOOP)")
        case .invalidArgument: return ProtocolError(.badFd, "epoll refuses this file descriptor (EINVAL)")
        case .badDescriptor: return ProtocolError(.badFd, "not an open file descriptor (EBADF)")
        case .watchLimitReached, .outOfMemory: return ProtocolError(.limitExceeded, "the kernel's epoll limits are reached: \(error)")
        default: return ProtocolError(.internal, "\(error)")
        }
    }

    /// Whether `fd` is an `AF_UNIX` socket whose own or peer address is the
    /// listening socket's: decided by address, never by pid (docs/protocol.md,
    /// "Passing file descriptors").
    func isConnectedToListener(_ fd: Int32) -> Bool {
        guard let path = listener.address else { return false }
        for peer in [false, true] {
            if let bytes = try? Sys.unixAddress(fd, peer: peer), let address = UnixAddress(bytes), address == path {
                return true
            }
        }
        return false
    }
}
