#if canImport(Glibc)
import Glibc
#endif
import MioCore
import MioSystem
import MioProtocol

/// A connection to mio-daemon: requests with their replies matched in
/// order, and the events that arrive in between kept for ``next(timeout:)``.
/// With `hello(delivery: .ring)` events come through a shared-memory ring
/// instead of event lines (docs/protocol.md, "Ring delivery"), read by the
/// same ``next(timeout:)`` and ``eventStream``.
///
/// ```swift
/// let daemon = try MioConnection(timeout: .seconds(10))  // the socket path of docs/protocol.md, "Socket path"
/// try daemon.register(fd: pipeReadEnd, token: 7, interest: .readable)
/// while let event = try daemon.next(timeout: .seconds(5)) {
///     print(event)                                 // token 7: readable
/// }
/// ```
///
/// `Sendable`: every call takes the connection's lock for its whole
/// exchange, so requests from several tasks go out and come back one at a
/// time, in order. A lock rather than an actor keeps the calls synchronous
/// (mioctl, scripts, C-style loops) and lets ``eventStream``'s reader wait
/// in poll(2) without holding anything.
public final class MioConnection: @unchecked Sendable {
    public let path: String
    /// How long each request waits for its reply (nil: for ever); then
    /// ``MioClientError/timedOut``.
    public let requestTimeout: Duration?
    let lock = ConnectionLock()
    /// The socket. Closed by ``close()`` (or, while an event stream's
    /// reader still polls it, by the last reader), else by deinit.
    let fd: Int32
    // Guarded by `lock`:
    var framer: LineFramer
    var lines: [FramedLine] = []
    var events = EventQueue()
    /// The ring of ring delivery, mapped; nil in stream and poll delivery.
    var ring: RingReader?
    /// The delivery the daemon uses for this connection now.
    var deliveryInForce: Delivery = .stream
    var nextID: UInt64 = 1
    /// The daemon's end of the connection was seen.
    var closed = false
    /// ``close()`` was called: no more requests.
    var closedByUser = false
    /// Event stream reader threads polling `fd`.
    var readers = 0
    /// One per reader: raised when a request kept events, or lines, the
    /// reader's poll on the socket can no longer see.
    var readerNudges: [ObjectIdentifier: StopSignal] = [:]
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    var received = [Int32](repeating: -1, count: 253)
    /// Guards `fdReleased` alone, so that ``close()`` can shut the socket
    /// down while another thread holds `lock` in a blocking read.
    let releaseLock = ConnectionLock()
    var fdReleased = false

    /// Connects to the daemon at `path` (default: the order of docs/protocol.md,
    /// "Socket path"); `timeout` bounds the connect and each request's reply.
    public init(path: String? = nil, timeout: Duration? = nil) throws(MioClientError) {
        let path = SocketPath.resolve(explicit: path)
        self.path = path
        self.requestTimeout = timeout
        do {
            fd = try Sys.socket(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue))
        } catch {
            throw .system(error)
        }
        do {
            // A blocking socket: one recvmsg per wait without a timeout, and
            // poll(2) first only when there is one. SO_SNDTIMEO bounds a
            // connect to a full backlog and a send to a daemon that stopped reading.
            try Sys.setSendTimeout(fd, timeout)
            if case .wouldBlock = try Sys.connect(fd, unixPath: path) {
                Sys.close(fd)
                throw MioClientError.timedOut
            }
        } catch let error as MioClientError {
            throw error
        } catch let error as MioError {
            Sys.close(fd)
            if error.kind == .accessDenied { throw .permissionDenied(path: path, reason: error.description) }
            throw .notRunning(path: path, reason: error.description)
        } catch {
            Sys.close(fd)
            throw .notRunning(path: path, reason: "\(error)")
        }
        framer = LineFramer(maxLine: 64 << 20, dispose: { Sys.close($0) })
    }

    deinit {
        for line in lines { for fd in line.fds { Sys.close(fd) } }
        framer.finish()
        releaseFd()
    }

    /// Ends the connection now: the daemon sees it closed (a non-persistent
    /// session ends with it), a call blocked in another thread returns
    /// ``MioClientError/connectionClosed``, an event stream ends, and every
    /// later call throws ``MioClientError/connectionClosed``. Idempotent.
    public func close() {
        releaseLock.withLock { if !fdReleased { Sys.shutdownBoth(fd) } }
        lock.withLock {
            closedByUser = true
            for line in lines { for fd in line.fds { Sys.close(fd) } }
            lines.removeAll()
            ring?.close()  // a reader polls only its doorbell's number, and the shut socket wakes it
            ring = nil
            if readers == 0 { releaseFd() }
        }
    }

    func releaseFd() {
        releaseLock.withLock {
            if !fdReleased { Sys.close(fd) }
            fdReleased = true
        }
    }

    /// One public call: under the lock, refused once closed.
    func exchange<T>(_ body: () throws(MioClientError) -> T) throws(MioClientError) -> T {
        try lock.withLock { () throws(MioClientError) -> T in
            if closedByUser { throw .connectionClosed }
            // A call that leaves events behind, kept or read from the socket
            // but not yet taken apart (lines after its reply, in the same
            // read), wakes each stream reader: its poll on the socket can no
            // longer see them.
            defer { if !events.isEmpty || !lines.isEmpty { for nudge in readerNudges.values { nudge.raise() } } }
            return try body()
        }
    }

    // MARK: - Requests

    /// `hello`: attach to a named session (nil: stay anonymous) and choose
    /// the delivery. `.ring`: events come through a shared-memory ring of
    /// `ringEntries` records (nil: the daemon's 4096; a power of two,
    /// 64…65536), read by ``next(timeout:)`` and ``eventStream`` as before;
    /// a ring smaller than a burst loses no readiness, it is refilled. The
    /// ring holds one fd (its doorbell) and a mapping until another `hello`,
    /// `end`, a takeover or ``close()``.
    @discardableResult
    public func hello(session: String? = nil, persist: Bool = false, takeover: Bool = false,
                      delivery: Delivery = .stream, ringEntries: Int? = nil,
                      client: String = "MioClient", lease: LeaseChange? = nil) throws(MioClientError) -> HelloReply {
        let hello = HelloRequest(protocolVersion: protocolVersion, session: session, persist: persist, takeover: takeover,
                                 delivery: delivery, ringEntries: ringEntries, client: client, lease: lease)
        return try exchange { () throws(MioClientError) -> HelloReply in
            var fds: [Int32] = []
            guard case .hello(let reply) = try request(.hello(hello), receivedFds: &fds) else {
                for fd in fds { Sys.close(fd) }
                throw .protocolViolation("hello reply without its fields")
            }
            try helloSucceeded(reply, delivery: delivery, ringEntries: ringEntries, fds: fds)
            return reply
        }
    }

    /// Hands `fd` to the daemon under `token` (the daemon keeps its own copy:
    /// close yours when you no longer need it).
    public func register(fd clientFd: Int32, token: Token, interest: Interest, mode: Mode = .edge) throws(MioClientError) {
        _ = try exchange { () throws(MioClientError) in try request(.register(token: token, interest: interest, mode: mode), fd: clientFd) }
    }

    /// Hands `fd` to the daemon to hold under `token`, never polled: any
    /// kind of fd (a memfd, a regular file, a directory, …).
    public func store(fd clientFd: Int32, token: Token) throws(MioClientError) {
        _ = try exchange { () throws(MioClientError) in try request(.store(token: token), fd: clientFd) }
    }

    /// A timer of the daemon's under `token`: a readable event for it
    /// after `after`, then every `interval`. On a timer's token, sets it anew.
    public func timer(token: Token, after: Duration, every interval: Duration? = nil) throws(MioClientError) {
        let settings = TimerSettings(afterMilliseconds: after.millisecondsRoundedUp, intervalMilliseconds: interval?.millisecondsRoundedUp)
        _ = try exchange { () throws(MioClientError) in try request(.timer(token: token, settings)) }
    }

    public func reregister(token: Token, interest: Interest, mode: Mode = .edge) throws(MioClientError) {
        _ = try exchange { () throws(MioClientError) in try request(.reregister(token: token, interest: interest, mode: mode)) }
    }

    /// No event of `token` reaches the caller after this returns, kept or
    /// still in the ring (docs/protocol.md, "Ordering").
    public func deregister(token: Token) throws(MioClientError) {
        try exchange { () throws(MioClientError) in tokenRemoved(token, by: try request(.deregister(token: token))) }
    }

    /// Makes a waker under `token`, as `mio::Waker`.
    public func waker(token: Token) throws(MioClientError) {
        _ = try exchange { () throws(MioClientError) in try request(.waker(token: token)) }
    }

    /// Wakes the waker `token` of this session, or of `session` (same uid).
    public func wake(token: Token, session: String? = nil) throws(MioClientError) {
        _ = try exchange { () throws(MioClientError) in try request(.wake(token: token, session: session)) }
    }

    /// `poll` (sessions with `delivery: .poll`): nil timeout waits until an event comes.
    public func poll(timeout: Duration?, maxEvents: Int = 1024) throws(MioClientError) -> [ReadinessEvent] {
        let milliseconds = timeout.map { UInt64(max(0, $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000)) }
        guard case .events(let events) = try exchange({ () throws(MioClientError) in try request(.poll(timeoutMilliseconds: milliseconds, maxEvents: maxEvents), waitAlso: timeout ?? .seconds(Int64.max / 4)) }) else {
            throw .protocolViolation("poll reply without events")
        }
        return events
    }

    /// Gets the held fd back: a new fd the caller owns.
    public func fetch(token: Token, deregister: Bool = false) throws(MioClientError) -> Int32 {
        var fds: [Int32] = []
        fds = try exchange { () throws(MioClientError) in
            var fds: [Int32] = []
            let body = try request(.fetch(token: token, deregister: deregister), receivedFds: &fds)
            if deregister { tokenRemoved(token, by: body) }
            return fds
        }
        guard fds.count == 1 else {
            for fd in fds { Sys.close(fd) }
            throw .protocolViolation("fetch reply came with \(fds.count) fds, not 1")
        }
        return fds[0]
    }

    /// The registrations of this connection's session, or of the named
    /// session `session` of this uid (root: of `uid`), read without
    /// attaching to it or taking its pending events.
    public func list(session: String? = nil, uid: UInt32? = nil) throws(MioClientError) -> [RegistrationInfo] {
        guard case .registrations(let registrations) = try exchange({ () throws(MioClientError) in try request(.list(session: session, uid: uid)) }) else {
            throw .protocolViolation("list reply without registrations")
        }
        return registrations
    }

    /// The named sessions of this uid (root: of every uid).
    public func sessions() throws(MioClientError) -> [SessionInfo] {
        guard case .sessions(let sessions) = try exchange({ () throws(MioClientError) in try request(.sessions) }) else { throw .protocolViolation("sessions reply without sessions") }
        return sessions
    }

    public func stats() throws(MioClientError) -> StatsReply {
        guard case .stats(let stats) = try exchange({ () throws(MioClientError) in try request(.stats) }) else { throw .protocolViolation("stats reply without stats") }
        return stats
    }

    /// Ends this connection's session, or the named session `session` (not
    /// attached to any connection): every registration removed, every fd closed.
    /// Ending this connection's own session drops its events not yet
    /// taken, and ring delivery with it: the next session has stream delivery.
    public func end(session: String? = nil, uid: UInt32? = nil) throws(MioClientError) {
        try exchange { () throws(MioClientError) in
            let body = try request(.end(session: session, uid: uid))
            if case .removal = body { ownSessionEnded() } else if session == nil { ownSessionEnded() }
        }
    }

    public func ping() throws(MioClientError) {
        _ = try exchange { () throws(MioClientError) in try request(.ping) }
    }
}
