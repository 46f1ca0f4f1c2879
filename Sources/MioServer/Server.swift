#if canImport(Glibc)
import Glibc
#endif
import Logging
import MioCore
import Protocol

/// The daemon's one event loop: a `MioCore.Poll` that watches the listening
/// socket, every connection, a signalfd and every registered client fd.
///
/// The path of one event: client fd ready → `epoll_wait` → internal token →
/// registration → its session's pending set (coalesced per token) → the
/// connection's outbound buffer → one send per loop turn for many events.
public final class Server {
    /// What an internal token stands for.
    enum Watched {
        case listener
        case signals
        case connection(Connection)
        case registration(Registration)
        /// A slot taken before its owner exists (a waker registers itself
        /// with its token as it is made); replaced once it does.
        case reserved
    }

    let configuration: ServerConfiguration
    let logger: Logger
    /// systemd, when the daemon runs under it: notify lines and the fd store.
    let serviceManager: ServiceManager?
    /// Names of stored fds taken back at start: removed from the store when
    /// the current set is stored at stop.
    var restoredNames: Set<String> = []

    let poll: Poll
    private var events: Events
    var watched = SlotTable<Watched>()
    let listener: Int32
    /// The listening socket's address: a client fd that is this socket, or is
    /// connected to it, is refused (protocol §2).
    let listenerAddress: [UInt8]?
    private let signalFd: Int32
    let closer = ClientFdCloser()

    var sessionsByName: [Session.Key: Session] = [:]
    var anonymousSessionCount = 0
    var connectionsByUID: [UInt32: Int] = [:]
    var namedSessionsByUID: [UInt32: Int] = [:]
    var registrationsByUID: [UInt32: Int] = [:]
    var registrationCount = 0
    var wakerCount = 0
    var connectionCount: Int { connections.count }
    var connections: [UInt64: Connection] = [:]
    private var nextConnectionNumber: UInt64 = 1

    var eventsDelivered: UInt64 = 0
    var eventsCoalesced: UInt64 = 0
    let startedAt = ContinuousClock.now

    /// Connections with lines to process or bytes to read, this turn.
    var scheduled: [Connection] = []
    /// Sessions whose pending readiness should go out at the end of the
    /// turn, linked through `Session.nextDirty`.
    var dirtySessions: Session?
    var scheduledBatch: [Connection] = []
    let decoder = RequestDecoder()
    private var nextStatus = MonotonicInstant.now
    var parkedPolls: [Connection] = []
    /// accept() ran out of fds: retry when some are freed.
    private var acceptBlocked = false
    var stopping = false
    private var nextWatchdog: MonotonicInstant?
    var statusDirty = true
    /// One recvmsg's bytes and fds; reused, allocated once.
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
    let receivedFds = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 253)

    /// - Parameters:
    ///   - listener: a listening `AF_UNIX` stream socket.
    ///   - inherited: fds the service manager's fd store handed back; each
    ///     becomes a registration of a persistent session again, or is closed.
    public init(configuration: ServerConfiguration, listener: Int32, logger: Logger,
                serviceManager: ServiceManager? = nil, inherited: [InheritedFd] = []) throws(MioError) {
        self.configuration = configuration
        self.logger = logger
        self.serviceManager = serviceManager
        self.listener = listener
        poll = try Poll()
        events = try Events(capacity: 1024)
        listenerAddress = try? Sys.unixAddress(listener, peer: false)
        Sys.ignoreSignal(SIGPIPE)
        signalFd = try Sys.signalDescriptor(for: [SIGTERM, SIGINT])
        try Sys.setNonBlocking(listener)
        try poll.registry.register(SourceFd(listener), token: watched.insert(.listener), interest: .readable)
        try poll.registry.register(SourceFd(signalFd), token: watched.insert(.signals), interest: .readable)
        restore(inherited)
    }

    func notify(_ state: String) {
        serviceManager?.notify(state)
    }

    deinit {
        readBuffer.deallocate()
        receivedFds.deallocate()
        Sys.close(signalFd)
    }

    /// Serves until SIGTERM or SIGINT, then shuts down as protocol §8 says.
    public func run() throws(MioError) {
        notify("READY=1")
        if let interval = configuration.watchdogInterval {
            notify("WATCHDOG=1")
            nextWatchdog = .now + interval
        }
        while !stopping {
            try turn()
        }
        shutDown()
    }

    /// One turn of the loop: wait, dispatch every event, then service
    /// connections and send what became pending.
    private func turn() throws(MioError) {
        do {
            try poll.poll(&events, timeout: nextTimeout())
        } catch {
            if error.kind == .interrupted { return }
            throw error
        }
        for event in events {
            guard let target = watched.lookup(event.token) else { continue }  // stale: its owner has gone
            switch target {
            case .listener: acceptConnections()
            case .signals: readSignals()
            case .connection(let connection): connectionEvent(connection, event)
            case .registration(let registration): readinessEvent(registration, event)
            case .reserved: break
            }
        }
        serviceScheduled()
        expireParkedPolls()
        deliverPending()
        housekeeping()
    }

    private func nextTimeout() -> Duration? {
        if !scheduled.isEmpty { return .zero }
        // The common case, checked first: nothing has a deadline.
        if parkedPolls.isEmpty, nextWatchdog == nil, !acceptBlocked, !statusDirty || serviceManager == nil { return nil }
        var deadline = nextWatchdog
        for connection in parkedPolls {
            if let d = connection.parkedPoll?.deadline, deadline == nil || d < deadline! { deadline = d }
        }
        if acceptBlocked || (statusDirty && serviceManager != nil) {
            let retry = acceptBlocked ? MonotonicInstant.now + .milliseconds(100) : nextStatus
            if deadline == nil || retry < deadline! { deadline = retry }
        }
        guard let deadline else { return nil }
        return deadline.remaining
    }

    private func housekeeping() {
        if let due = nextWatchdog, let interval = configuration.watchdogInterval, MonotonicInstant.now >= due {
            notify("WATCHDOG=1")
            nextWatchdog = .now + interval
        }
        if acceptBlocked { acceptConnections() }
        // STATUS= at most once a second, and only for a service manager.
        if statusDirty, serviceManager != nil, MonotonicInstant.now >= nextStatus {
            statusDirty = false
            nextStatus = .now + .seconds(1)
            notify("STATUS=\(connectionCount) connections, \(sessionCount) sessions, \(registrationCount) registrations")
        }
    }

    var sessionCount: Int { sessionsByName.count + anonymousSessionCount }

    // MARK: - Signals

    private func readSignals() {
        var info = [UInt8](repeating: 0, count: 128)  // sizeof(struct signalfd_siginfo)
        while case .done(let n)? = try? Sys.read(signalFd, into: &info, count: info.count), n > 0 {
            let signal = info.withUnsafeBytes { $0.load(as: UInt32.self) }
            logger.info("received signal \(signal), shutting down")
            stopping = true
        }
    }

    // MARK: - Accepting

    private func acceptConnections() {
        acceptBlocked = false
        for _ in 0..<256 {
            let fd: Int32
            do throws(MioError) {
                guard case .done(let accepted) = try Sys.accept(listener) else { return }
                fd = accepted
            } catch {
                if error.kind == .tooManyOpenFiles {
                    logger.warning("accept: out of file descriptors; new connections wait")
                    acceptBlocked = true
                } else {
                    logger.error("accept failed: \(error)")
                }
                return
            }
            admit(fd)
        }
        // More may be waiting: come back next turn without a new edge.
        acceptBlocked = true
    }

    private func admit(_ fd: Int32) {
        guard let credentials = try? Sys.peerCredentials(fd) else {
            Sys.close(fd)
            return
        }
        let peer = PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
        guard isAllowed(peer, fd: fd) else {
            logger.warning("refused pid \(peer.pid) uid \(peer.uid): not allowed")
            refuse(fd, ProtocolError(.permissionDenied, "uid \(peer.uid) may not use this daemon"))
            return
        }
        if connectionsByUID[peer.uid, default: 0] >= configuration.maxConnectionsPerUID {
            logger.warning("refused pid \(peer.pid) uid \(peer.uid): \(configuration.maxConnectionsPerUID) connections already")
            refuse(fd, ProtocolError(.limitExceeded, "uid \(peer.uid) has \(configuration.maxConnectionsPerUID) connections already (--max-connections-per-uid)"))
            return
        }
        let session = makeAnonymousSession(uid: peer.uid)
        let connection = Connection(fd: fd, peer: peer, number: nextConnectionNumber, session: session,
                                    maxLine: configuration.maxLine, dispose: { [closer] in closer.close($0) })
        nextConnectionNumber += 1
        session.connection = connection
        connection.internalToken = watched.insert(.connection(connection))
        do {
            try poll.registry.register(SourceFd(fd), token: connection.internalToken, interest: .readable | .writable)
        } catch {
            logger.error("cannot watch a new connection: \(error)")
            watched.remove(connection.internalToken)
            destroy(session)
            Sys.close(fd)
            return
        }
        connectionsByUID[peer.uid, default: 0] += 1
        connections[connection.number] = connection
        statusDirty = true
        logger.info("connection \(connection.number) opened: pid \(peer.pid) uid \(peer.uid) gid \(peer.gid)")
        schedule(connection)
    }

    private func isAllowed(_ peer: PeerCredentials, fd: Int32) -> Bool {
        if peer.uid == 0 || peer.uid == getuid() || configuration.allowedUIDs.contains(peer.uid) { return true }
        if configuration.allowedGIDs.isEmpty { return false }
        if configuration.allowedGIDs.contains(peer.gid) { return true }
        let groups = (try? Sys.peerGroups(fd)) ?? []
        return groups.contains { configuration.allowedGIDs.contains($0) }
    }

    /// One error line, best effort, then close: for peers never admitted.
    private func refuse(_ fd: Int32, _ error: ProtocolError) {
        var writer = JSONWriter(capacity: 256)
        writer.failure(id: nil, error)
        _ = writer.bytes.withUnsafeBytes { try? Sys.send(fd, from: $0.baseAddress!, count: $0.count) }
        Sys.close(fd)
    }
}
