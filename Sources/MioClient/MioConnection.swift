#if canImport(Glibc)
import Glibc
#endif
import MioCore
import MioSystem
import Protocol

/// A connection to mio-daemon: requests with their replies matched in
/// order, and the events that arrive in between kept for ``next(timeout:)``.
///
/// ```swift
/// let daemon = try MioConnection()                 // the socket path of docs/protocol.md, "Socket path"
/// try daemon.register(fd: pipeReadEnd, token: 7, interest: .readable)
/// while let event = try daemon.next(timeout: .seconds(5)) {
///     print(event)                                 // token 7: readable
/// }
/// ```
///
/// Not thread-safe: use one connection from one task at a time.
public final class MioConnection {
    public let path: String
    let fd: Int32
    var framer: LineFramer
    var lines: [FramedLine] = []
    var events: [ClientEvent] = []
    var nextID: UInt64 = 1
    var closed = false
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    var received = [Int32](repeating: -1, count: 253)

    /// Connects to the daemon at `path` (default: the order of docs/protocol.md, "Socket path").
    public init(path: String? = nil) throws(MioClientError) {
        let path = SocketPath.resolve(explicit: path)
        self.path = path
        do {
            fd = try Sys.socket(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue))
        } catch {
            throw .system(error)
        }
        do {
            // A blocking socket: one recvmsg per wait without a timeout, and
            // poll(2) first only when there is one.
            _ = try Sys.connect(fd, unixPath: path)
        } catch {
            Sys.close(fd)
            throw .notRunning(path: path, reason: error.description)
        }
        framer = LineFramer(maxLine: 64 << 20, dispose: { Sys.close($0) })
    }

    deinit {
        for line in lines { for fd in line.fds { Sys.close(fd) } }
        framer.finish()
        Sys.close(fd)
    }

    // MARK: - Requests

    /// `hello`: attach to a named session (nil: stay anonymous).
    @discardableResult
    public func hello(session: String? = nil, persist: Bool = false, takeover: Bool = false,
                      delivery: Delivery = .stream, client: String = "MioClient") throws(MioClientError) -> HelloReply {
        let hello = HelloRequest(protocolVersion: protocolVersion, session: session, persist: persist, takeover: takeover,
                                 delivery: delivery, client: client)
        guard case .hello(let reply) = try request(.hello(hello)) else { throw .protocolViolation("hello reply without its fields") }
        return reply
    }

    /// Hands `fd` to the daemon under `token` (the daemon keeps its own copy:
    /// close yours when you no longer need it).
    public func register(fd clientFd: Int32, token: Token, interest: Interest, mode: Mode = .edge) throws(MioClientError) {
        _ = try request(.register(token: token, interest: interest, mode: mode), fd: clientFd)
    }

    public func reregister(token: Token, interest: Interest, mode: Mode = .edge) throws(MioClientError) {
        _ = try request(.reregister(token: token, interest: interest, mode: mode))
    }

    public func deregister(token: Token) throws(MioClientError) {
        _ = try request(.deregister(token: token))
    }

    /// Makes a waker under `token`, as `mio::Waker`.
    public func waker(token: Token) throws(MioClientError) {
        _ = try request(.waker(token: token))
    }

    /// Wakes the waker `token` of this session, or of `session` (same uid).
    public func wake(token: Token, session: String? = nil) throws(MioClientError) {
        _ = try request(.wake(token: token, session: session))
    }

    /// `poll` (sessions with `delivery: .poll`): nil timeout waits until an event comes.
    public func poll(timeout: Duration?, maxEvents: Int = 1024) throws(MioClientError) -> [ReadinessEvent] {
        let milliseconds = timeout.map { UInt64(max(0, $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000)) }
        guard case .events(let events) = try request(.poll(timeoutMilliseconds: milliseconds, maxEvents: maxEvents)) else {
            throw .protocolViolation("poll reply without events")
        }
        return events
    }

    /// Gets the held fd back: a new fd the caller owns.
    public func fetch(token: Token, deregister: Bool = false) throws(MioClientError) -> Int32 {
        var fds: [Int32] = []
        _ = try request(.fetch(token: token, deregister: deregister), receivedFds: &fds)
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
        guard case .registrations(let registrations) = try request(.list(session: session, uid: uid)) else {
            throw .protocolViolation("list reply without registrations")
        }
        return registrations
    }

    /// The named sessions of this uid (root: of every uid).
    public func sessions() throws(MioClientError) -> [SessionInfo] {
        guard case .sessions(let sessions) = try request(.sessions) else { throw .protocolViolation("sessions reply without sessions") }
        return sessions
    }

    public func stats() throws(MioClientError) -> StatsReply {
        guard case .stats(let stats) = try request(.stats) else { throw .protocolViolation("stats reply without stats") }
        return stats
    }

    /// Ends this connection's session, or the named session `session` (not
    /// attached to any connection): every registration removed, every fd closed.
    public func end(session: String? = nil, uid: UInt32? = nil) throws(MioClientError) {
        _ = try request(.end(session: session, uid: uid))
    }

    public func ping() throws(MioClientError) {
        _ = try request(.ping)
    }

    // MARK: - Events

    /// The next event, waiting up to `timeout` (nil: for ever); nil on timeout.
    public func next(timeout: Duration?) throws(MioClientError) -> ClientEvent? {
        if !events.isEmpty { return events.removeFirst() }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            let remaining = deadline.map { max(.zero, $0 - .now) }
            let received: ReceivedLine
            do {
                received = try readLine(timeout: remaining)
            } catch {
                if error == .timedOut { return nil }
                throw error
            }
            received.closeFds()
            switch received.line {
            case .event(let event): return .ready(event)
            case .notice(let notice): return ClientEvent(notice)
            case .unknown: continue  // a newer daemon's event: skipped
            case .reply, nil: throw .protocolViolation("a reply with no request waiting for it")
            }
        }
    }

    /// Events as an `AsyncSequence`; it ends when the daemon closes the
    /// connection. Each step waits on a thread of its own, so other tasks run.
    public var eventStream: AsyncThrowingStream<ClientEvent, Error> {
        let box = UnsafeSendableBox(self)
        return AsyncThrowingStream {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ClientEvent?, Error>) in
                BlockingStep.run {
                    do {
                        continuation.resume(returning: try box.value.next(timeout: nil))
                    } catch {
                        if (error as? MioClientError) == .connectionClosed {
                            continuation.resume(returning: nil)
                        } else {
                            continuation.resume(throwing: error)
                        }
                    }
                }
            }
        }
    }
}
