#if canImport(Glibc)
import Glibc
#endif
import MioCore
import Protocol

extension Server {
    /// Runs one decoded request. `fd` (only ever given to `register`) is
    /// owned by this call: registered or closed. Returns the reply, or nil
    /// when the reply is written later (`poll`) or already was (`fetch`).
    func handle(_ request: Request, fd: Int32?, on connection: Connection) -> Result<ReplyBody, ProtocolError>? {
        switch request.operation {
        case .hello(let hello):
            return self.hello(hello, on: connection)
        case .register(let token, let interest, let mode):
            guard let fd else { return .failure(ProtocolError(.noFd, "register needs one file descriptor")) }
            return register(fd, token: token, interest: interest, mode: mode, on: connection)
        case .reregister(let token, let interest, let mode):
            return reregister(token, interest: interest, mode: mode, on: connection)
        case .deregister(let token):
            guard let registration = connection.session.remove(token) else { return .failure(unknownToken(token)) }
            release(registration)
            return .success(.token(token))
        case .waker(let token):
            return makeWaker(token, on: connection)
        case .wake(let token, let sessionName):
            return wake(token, sessionName: sessionName, on: connection)
        case .poll(let timeout, let maxEvents):
            return pollRequest(request.id, timeoutMilliseconds: timeout, maxEvents: maxEvents, on: connection)
        case .fetch(let token, let deregister):
            return fetch(request.id, token: token, deregister: deregister, on: connection)
        case .list:
            let infos = connection.session.registrations.values.map(\.info).sorted { $0.token < $1.token }
            return .success(.registrations(infos))
        case .stats:
            return .success(.stats(stats))
        case .end:
            let session = connection.session
            session.persistent = false
            destroy(session)
            giveAnonymousSession(to: connection)
            return .success(.empty)
        case .ping:
            return .success(.empty)
        }
    }

    var stats: StatsReply {
        let uptime = ContinuousClock.now - startedAt
        return StatsReply(
            uptimeSeconds: Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18,
            connections: connectionCount, sessions: sessionCount, registrations: registrationCount,
            fdsHeld: registrationCount - wakerCount, eventsDelivered: eventsDelivered, eventsCoalesced: eventsCoalesced)
    }

    private func unknownToken(_ token: Token) -> ProtocolError {
        ProtocolError(.unknownToken, "token \(token.rawValue) is not registered")
    }

    // MARK: - hello

    private func hello(_ hello: HelloRequest, on connection: Connection) -> Result<ReplyBody, ProtocolError> {
        if connection.hasRegistered {
            return .failure(ProtocolError(.wrongState, "hello must come before any register or waker on this connection"))
        }
        if let version = hello.protocolVersion, version != protocolVersion {
            return .failure(ProtocolError(.unsupportedProtocol, "protocol \(version) is not supported; this daemon speaks protocol \(protocolVersion)"))
        }
        let uid = connection.peer.uid
        let current = connection.session
        var session: Session
        if let name = hello.session {
            let key = Session.Key(uid: uid, name: name)
            if let existing = sessionsByName[key] {
                if let holder = existing.connection, holder !== connection {
                    guard hello.takeover else {
                        return .failure(ProtocolError(.sessionBusy, "session \"\(name)\" is in use by another connection (use takeover)"))
                    }
                    takeOver(existing, from: holder)
                }
                session = existing
            } else {
                guard namedSessionsByUID[uid, default: 0] < configuration.maxSessionsPerUID else {
                    return .failure(ProtocolError(.limitExceeded, "uid \(uid) has \(configuration.maxSessionsPerUID) named sessions already (--max-sessions-per-uid)"))
                }
                session = Session(uid: uid, name: name)
                sessionsByName[key] = session
                namedSessionsByUID[uid, default: 0] += 1
                statusDirty = true
            }
        } else {
            if hello.persist {
                return .failure(ProtocolError(.badRequest, "persist needs a session name: an anonymous session cannot be found again"))
            }
            session = current.name == nil ? current : makeAnonymousSession(uid: uid)
        }
        if session !== current {
            detach(current, from: connection)
            session.connection = connection
            connection.session = session
        }
        if hello.persist { session.persistent = true }  // once persistent, until `end`
        session.delivery = hello.delivery ?? .stream
        // Readiness that waited for this session goes out right after the reply.
        if session.hasPending { markDirty(session) }
        if let client = hello.client {
            logger.debug("connection \(connection.number): hello from \"\(client)\", session \(session.name ?? "(anonymous)")")
        }
        return .success(.hello(HelloReply(server: configuration.serverName, version: configuration.version,
                                          session: session.name, limits: limits)))
    }

    var limits: Limits {
        Limits(maxLine: configuration.maxLine, maxRegistrationsPerUID: configuration.effectiveRegistrationsPerUID,
               maxConnectionsPerUID: configuration.maxConnectionsPerUID, maxSessionsPerUID: configuration.maxSessionsPerUID)
    }

    /// Another connection takes `session`: the holder is told, and goes on
    /// in a new anonymous session. Lines already queued for it stay queued.
    private func takeOver(_ session: Session, from holder: Connection) {
        session.connection = nil
        giveAnonymousSession(to: holder)
        holder.outbound.writer.notice("session_taken")
        if holder.parkedPoll != nil {
            // Its poll was for the session it lost: answer it empty.
            let parked = holder.parkedPoll!
            holder.parkedPoll = nil
            parkedPolls.removeAll { $0 === holder }
            holder.outbound.writer.reply(id: parked.id, .events([]))
            schedule(holder)
        }
        flush(holder)
        logger.info("connection \(holder.number): session \"\(session.name ?? "")\" taken over")
    }

    // MARK: - register, reregister, waker, wake

    func checkRegistrationLimits(_ session: Session, _ token: Token) -> ProtocolError? {
        if session.registration(token) != nil {
            return ProtocolError(.tokenInUse, "token \(token.rawValue) is already registered in this session")
        }
        let cap = configuration.effectiveRegistrationsPerUID
        if registrationsByUID[session.uid, default: 0] >= cap {
            return ProtocolError(.limitExceeded, "uid \(session.uid) has \(cap) registrations already")
        }
        if registrationCount >= configuration.maxRegistrationsTotal {
            return ProtocolError(.limitExceeded, "the daemon holds \(configuration.maxRegistrationsTotal) registrations, its most")
        }
        return nil
    }

    private func register(_ fd: Int32, token: Token, interest: Interest, mode: Mode, on connection: Connection) -> Result<ReplyBody, ProtocolError> {
        let session = connection.session
        if let error = checkRegistrationLimits(session, token) {
            closer.close(fd)
            return .failure(error)
        }
        let kind: ClientFdKind
        switch ClientFdKind.classify(fd) {
        case .failure(let error):
            closer.close(fd)
            return .failure(error)
        case .success(let k):
            kind = k
        }
        if kind == .socket, isConnectedToListener(fd) {
            Sys.close(fd)
            return .failure(ProtocolError(.badFd, "this socket is the daemon's own listening socket or connected to it; holding it would keep a connection from ever closing"))
        }
        let registration = Registration(token: token, session: session, kind: kind, fd: fd, waker: nil,
                                        interest: interest, mode: mode)
        registration.internalToken = watched.insert(.registration(registration))
        do {
            try poll.registry.register(SourceFd(fd), token: registration.internalToken, interest: interest, mode: mode)
        } catch {
            watched.remove(registration.internalToken)
            Sys.close(fd)
            return .failure(Self.registrationError(error))
        }
        add(registration, to: session, on: connection)
        return .success(.token(token))
    }

    /// What an `epoll_ctl` failure means to the client.
    private static func registrationError(_ error: MioError) -> ProtocolError {
        switch error.kind {
        case .notPollable: return ProtocolError(.notPollable, "epoll refuses this file descriptor (EPERM)")
        case .loop: return ProtocolError(.badFd, "registering it would make a loop of epoll instances, or nest them too deep (ELOOP)")
        case .invalidArgument: return ProtocolError(.badFd, "epoll refuses this file descriptor (EINVAL)")
        case .badDescriptor: return ProtocolError(.badFd, "not an open file descriptor (EBADF)")
        case .watchLimitReached, .outOfMemory: return ProtocolError(.limitExceeded, "the kernel's epoll limits are reached: \(error)")
        default: return ProtocolError(.internal, "\(error)")
        }
    }

    private func add(_ registration: Registration, to session: Session, on connection: Connection) {
        count(registration, into: session)
        connection.hasRegistered = true
    }

    /// Adds the registration to its session and to the counts the limits read.
    func count(_ registration: Registration, into session: Session) {
        session.add(registration)
        registrationCount += 1
        registrationsByUID[session.uid, default: 0] += 1
        statusDirty = true
    }

    /// Whether `fd` is an `AF_UNIX` socket whose own or peer address is the
    /// listening socket's: decided by address, never by pid (protocol §2).
    func isConnectedToListener(_ fd: Int32) -> Bool {
        guard let listenerAddress, let path = UnixAddress(listenerAddress) else { return false }
        for peer in [false, true] {
            if let bytes = try? Sys.unixAddress(fd, peer: peer), let address = UnixAddress(bytes), address == path {
                return true
            }
        }
        return false
    }

    private func reregister(_ token: Token, interest: Interest, mode: Mode, on connection: Connection) -> Result<ReplyBody, ProtocolError> {
        guard let registration = connection.session.registration(token) else { return .failure(unknownToken(token)) }
        do {
            try poll.registry.reregister(SourceFd(registration.fd), token: registration.internalToken, interest: interest, mode: mode)
        } catch {
            return .failure(Self.registrationError(error))
        }
        registration.interest = interest
        registration.mode = mode
        return .success(.token(token))
    }

    private func makeWaker(_ token: Token, on connection: Connection) -> Result<ReplyBody, ProtocolError> {
        let session = connection.session
        if let error = checkRegistrationLimits(session, token) { return .failure(error) }
        let slot = watched.insert(.reserved)
        let waker: Waker
        do {
            waker = try Waker(registry: poll.registry, token: slot)
        } catch {
            watched.remove(slot)
            return .failure(ProtocolError(error.kind == .tooManyOpenFiles ? .limitExceeded : .internal, "cannot make a waker: \(error)"))
        }
        let registration = Registration(token: token, session: session, kind: .waker, fd: waker.rawDescriptor,
                                        waker: waker, interest: .readable, mode: .edge)
        registration.internalToken = slot
        watched.replace(slot, with: .registration(registration))
        add(registration, to: session, on: connection)
        wakerCount += 1
        return .success(.token(token))
    }

    private func wake(_ token: Token, sessionName: String?, on connection: Connection) -> Result<ReplyBody, ProtocolError> {
        let session: Session
        if let sessionName {
            guard let named = sessionsByName[Session.Key(uid: connection.peer.uid, name: sessionName)] else {
                return .failure(ProtocolError(.unknownToken, "uid \(connection.peer.uid) has no session named \"\(sessionName)\""))
            }
            session = named
        } else {
            session = connection.session
        }
        guard let registration = session.registration(token), let waker = registration.waker else {
            return .failure(ProtocolError(.unknownToken, "token \(token.rawValue) is not a waker in this session"))
        }
        do {
            try waker.wake()
        } catch {
            return .failure(ProtocolError(.internal, "wake failed: \(error)"))
        }
        return .success(.empty)
    }

    // MARK: - poll

    private func pollRequest(_ id: RequestID?, timeoutMilliseconds: UInt64?, maxEvents: Int, on connection: Connection) -> Result<ReplyBody, ProtocolError>? {
        guard connection.session.delivery == .poll else {
            return .failure(ProtocolError(.wrongState, "poll needs hello with \"delivery\":\"poll\"; events of this session are streamed"))
        }
        var events: [ReadinessEvent] = []
        let taken = connection.session.takePending(limit: maxEvents) { events.append($0) }
        if taken > 0 || timeoutMilliseconds == 0 {
            eventsDelivered += UInt64(taken)
            return .success(.events(events))
        }
        var deadline: MonotonicInstant?
        if let timeoutMilliseconds, timeoutMilliseconds < UInt64(Int64.max / 1_000_000) {
            deadline = .now + .milliseconds(Int64(timeoutMilliseconds))
        }
        connection.parkedPoll = Connection.ParkedPoll(id: id, deadline: deadline, maxEvents: maxEvents)
        parkedPolls.append(connection)
        return nil
    }

    /// Answers a parked `poll` with what is pending (if anything), and lets
    /// the connection's later requests run.
    func answerParkedPoll(_ connection: Connection, timedOut: Bool = false) {
        guard let parked = connection.parkedPoll else { return }
        var events: [ReadinessEvent] = []
        let taken = connection.session.takePending(limit: parked.maxEvents) { events.append($0) }
        guard taken > 0 || timedOut else { return }
        eventsDelivered += UInt64(taken)
        connection.parkedPoll = nil
        parkedPolls.removeAll { $0 === connection }
        connection.outbound.writer.reply(id: parked.id, .events(events))
        flush(connection)
        schedule(connection)
    }

    func expireParkedPolls() {
        guard !parkedPolls.isEmpty else { return }
        let now = MonotonicInstant.now
        for connection in parkedPolls {
            if let deadline = connection.parkedPoll?.deadline, deadline <= now {
                answerParkedPoll(connection, timedOut: true)
            }
        }
    }

    // MARK: - fetch

    private func fetch(_ id: RequestID?, token: Token, deregister: Bool, on connection: Connection) -> Result<ReplyBody, ProtocolError>? {
        guard let registration = connection.session.registration(token) else { return .failure(unknownToken(token)) }
        guard !registration.isWaker else {
            return .failure(ProtocolError(.badRequest, "token \(token.rawValue) is a waker: it holds no fd of yours to fetch"))
        }
        let handed: Int32
        if deregister {
            _ = connection.session.remove(token)
            release(registration, closeFd: false)
            handed = registration.fd
        } else {
            do {
                handed = try Sys.duplicate(registration.fd)
            } catch {
                return .failure(ProtocolError(error.kind == .tooManyOpenFiles ? .limitExceeded : .internal, "cannot duplicate the fd: \(error)"))
            }
        }
        connection.outbound.appendReply(withFd: handed) { $0.reply(id: id, .token(token)) }
        return nil
    }
}

/// An `AF_UNIX` address, compared by family and path (trailing NULs
/// ignored); unnamed sockets have none and never compare equal.
struct UnixAddress: Equatable {
    let bytes: ArraySlice<UInt8>

    init?(_ raw: [UInt8]) {
        let pathStart = 2  // sa_family_t
        guard raw.count > pathStart else { return nil }
        var end = raw.count
        if raw[pathStart] != 0 {  // a path, not an abstract name: stop at its NUL
            end = raw[pathStart...].firstIndex(of: 0) ?? raw.count
        }
        guard end > pathStart else { return nil }
        bytes = raw[pathStart..<end]
    }
}
