#if canImport(Glibc)
import Glibc
#endif
import Logging
import MioCore
import MioSystem
import MioProtocol

/// The daemon's one event loop: a `MioCore.Poll` that watches the listening
/// socket, every connection, a signalfd and every registered client fd.
///
/// The path of one event: client fd ready → `epoll_wait` → ``WatchTable``
/// (internal token) → ``Registration`` → its ``Session``'s pending set
/// (coalesced per token) → ``DeliveryQueue`` (dirty sessions) → the
/// ``Connection``'s outbound buffer → one send per loop turn for many events.
public final class Server {
    let configuration: ServerConfiguration
    let logger: Logger
    /// systemd, when the daemon runs under it: notify lines and the fd store.
    let serviceManager: ServiceManager?

    let poll: Poll
    private var events: Events
    /// Looks again without sleeping while producers are at it.
    private var burst = Burst()
    var watches: WatchTable
    let ledger: QuotaLedger
    var sessions: SessionTable
    let queue = DeliveryQueue()
    var connections: [UInt64: Connection] = [:]
    private var nextConnectionNumber: UInt64 = 1
    let listener: Listener
    private let signalFd: Int32
    /// Fds received but not yet claimed by a request, and fds waiting to go
    /// out with `fetch` replies, across all connections (``account(_:)``).
    var fdsInFlight = 0
    let decoder = RequestDecoder()
    let receiveBuffer = ReceiveBuffer()
    var counters = EventCounters()
    let startedAt = ContinuousClock.now
    var timers = LoopTimers()
    var stopping = false
    /// The service manager's fd store, kept equal to the persistent sessions' fds.
    let fdStore: FdStoreMirror

    /// - Parameters:
    ///   - listener: a listening `AF_UNIX` stream socket.
    ///   - inherited: fds the service manager's fd store handed back; each
    ///     becomes a registration of a persistent session again, or is closed.
    public init(configuration: ServerConfiguration, listener listenerFd: Int32, logger: Logger,
                serviceManager: ServiceManager? = nil, inherited: [InheritedFd] = []) throws(MioError) {
        self.configuration = configuration
        self.logger = logger
        self.serviceManager = serviceManager
        poll = try Poll()
        events = try Events(capacity: 1024)
        watches = WatchTable(registry: poll.registry)
        ledger = QuotaLedger(limits: configuration)
        fdStore = FdStoreMirror(manager: serviceManager)
        sessions = SessionTable(ledger: ledger)
        listener = Listener(fd: listenerFd)
        Sys.ignoreSignal(SIGPIPE)
        signalFd = try Sys.signalDescriptor(for: [SIGTERM, SIGINT])
        try Sys.setNonBlocking(listenerFd)
        _ = try watches.watch(listenerFd, interest: .readable, as: .listener)
        _ = try watches.watch(signalFd, interest: .readable, as: .signals)
        restore(inherited)
    }

    deinit {
        Sys.close(signalFd)
    }

    func notify(_ state: String) {
        serviceManager?.notify(state)
    }

    /// Serves until SIGTERM or SIGINT, then shuts down as docs/protocol.md,
    /// "Running the daemon", says.
    public func run() throws(MioError) {
        notify("READY=1")
        if let interval = configuration.watchdogInterval {
            notify("WATCHDOG=1")
            timers.nextWatchdog = .now + interval
        }
        while !stopping {
            try turn()
        }
        shutDown()
    }

    /// One turn of the loop: wait, dispatch every event, then service
    /// connections and send what became pending.
    private func turn() throws(MioError) {
        let inBurst = burst.isOn
        if inBurst { Sys.yieldProcessor() }  // the producers first, often on this CPU
        do {
            try poll.poll(&events, timeout: inBurst ? .zero : nextTimeout())
        } catch {
            if error.kind == .interrupted { return }
            throw error
        }
        var readiness = 0
        // The daemon's own sockets first: a hang-up in this batch is known
        // before readiness would be written straight to that connection
        // (readinessEvent), so it stays pending for the session's next one.
        for event in events {
            if WatchTable.isRegistration(event.token) {
                readiness += 1
                continue
            }
            // Switched on as it comes back, not bound first: a bound copy of
            // the entry costs an outlined copy and destroy per event.
            switch watches.lookup(event.token) {
            case nil: continue  // stale: its owner has gone
            case .listener?: acceptConnections()
            case .signals?: readSignals()
            case .connection(let connection)?: connectionEvent(connection, event)
            case .lease(let session)?: leaseExpired(session)
            }
        }
        // Then the clients' fds: a registration is looked up alone, a plain
        // reference (see WatchTable).
        if readiness > 0 {
            for event in events {
                guard let registration = watches.registration(event.token) else { continue }
                readinessEvent(registration, event)
            }
        }
        burst.looked(finding: readiness)
        serviceScheduled()
        expireParkedPolls()
        deliverPending()
        housekeeping()
    }

    private func nextTimeout() -> Duration? {
        if queue.hasScheduled { return .zero }
        let statusDue = ledger.statusChanged && serviceManager != nil
        // The common case, checked first: nothing has a deadline.
        if queue.parkedPolls.isEmpty, timers.nextWatchdog == nil, !timers.acceptBlocked, !statusDue { return nil }
        var deadline = timers.nextWatchdog
        for connection in queue.parkedPolls {
            if let due = connection.parkedPoll?.deadline { deadline = min(deadline ?? due, due) }
        }
        if timers.acceptBlocked { deadline = min(deadline ?? .distantFuture, .now + .milliseconds(100)) }
        if statusDue { deadline = min(deadline ?? timers.nextStatus, timers.nextStatus) }
        return deadline?.remaining
    }

    private func housekeeping() {
        if let due = timers.nextWatchdog, let interval = configuration.watchdogInterval, MonotonicInstant.now >= due {
            notify("WATCHDOG=1")
            timers.nextWatchdog = .now + interval
        }
        if timers.acceptBlocked { acceptConnections() }
        // STATUS= at most once a second, and only for a service manager.
        if ledger.statusChanged, serviceManager != nil, MonotonicInstant.now >= timers.nextStatus {
            ledger.statusChanged = false
            timers.nextStatus = .now + .seconds(1)
            notify("STATUS=\(ledger.connectionCount) connections, \(ledger.sessionCount) sessions, \(ledger.registrationCount) registrations")
        }
    }

    // MARK: - Signals

    private func readSignals() {
        var info = [UInt8](repeating: 0, count: 128)  // sizeof(struct signalfd_siginfo)
        while case .done(let n)? = try? Sys.read(signalFd, into: &info, count: info.count), n > 0 {
            let signal = info.withUnsafeBytes { $0.load(as: UInt32.self) }
            logger.info("received signal \(signal), shutting down")
            stopping = true
        }
    }

    // MARK: - Connections

    /// Numbers and holds a new connection (its socket already watched).
    func add(_ connection: Connection) {
        connections[connection.number] = connection
        ledger.add(.connection, uid: connection.peer.uid)
    }

    /// Brings the daemon-wide count of fds in flight up to date with what
    /// `connection` holds; once the count is low again, connections that
    /// waited for the budget are read again.
    @inline(__always)
    func account(_ connection: Connection) {
        guard connection.mayHoldFds || connection.countedInFlight != 0 else { return }
        recount(connection)
    }

    private func recount(_ connection: Connection) {
        let now = connection.isClosed ? 0 : connection.unclaimedFdCount
        if now == 0 { connection.mayHoldFds = false }
        guard now != connection.countedInFlight else { return }
        fdsInFlight += now - connection.countedInFlight
        connection.countedInFlight = now
        if fdsInFlight <= configuration.openFiles.fdsInFlight / 2 {
            queue.releaseFdBudgetWaiters { queue.schedule($0) }
        }
    }

    func nextConnectionNumberTaken() -> UInt64 {
        defer { nextConnectionNumber += 1 }
        return nextConnectionNumber
    }
}

/// The listening socket, and its address: a client fd that is this socket,
/// or is connected to it, is refused (docs/protocol.md, "Passing file descriptors").
struct Listener {
    let fd: Int32
    let address: UnixAddress?

    init(fd: Int32) {
        self.fd = fd
        address = (try? Sys.unixAddress(fd, peer: false)).flatMap { $0 }.flatMap(UnixAddress.init)
    }
}

/// Deadlines the loop keeps besides parked polls.
struct LoopTimers {
    var nextStatus = MonotonicInstant.now
    var nextWatchdog: MonotonicInstant?
    /// accept() ran out of fds: retry when some may have been freed.
    var acceptBlocked = false
    /// Accepting waits: the daemon holds all the connections its fd budget allows.
    var acceptFull = false
}

/// The daemon-wide event counts `stats` reports.
struct EventCounters {
    var delivered: UInt64 = 0
    var coalesced: UInt64 = 0
}

/// One `recvmsg`'s bytes and fds; allocated once, reused for every read.
final class ReceiveBuffer {
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
    let fds = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 253)

    deinit {
        bytes.deallocate()
        fds.deallocate()
    }
}
