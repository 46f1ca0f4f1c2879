#if canImport(Glibc)
import Glibc
#endif
import MioCore
import Protocol

/// A connection to mio-daemon: requests with their replies matched in
/// order, and the events that arrive in between kept for ``next(timeout:)``.
///
/// ```swift
/// let daemon = try MioConnection()                 // the socket path of protocol §1
/// try daemon.register(fd: pipeReadEnd, token: 7, interest: .readable)
/// while let event = try daemon.next(timeout: .seconds(5)) {
///     print(event)                                 // token 7: readable
/// }
/// ```
///
/// Not thread-safe: use one connection from one task at a time.
public final class MioConnection {
    public let path: String
    private let fd: Int32
    private var framer: LineFramer
    private var lines: [FramedLine] = []
    private var events: [ClientEvent] = []
    private var nextID: UInt64 = 1
    private var closed = false
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var received = [Int32](repeating: -1, count: 253)

    /// Connects to the daemon at `path` (default: protocol §1's order).
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
                      delivery: Delivery = .stream, client: String = "MioClient") throws(MioClientError) -> JSONValue {
        try request("hello") { w in
            w.comma(); w.key("protocol"); w.unsigned(protocolVersion)
            if let session { w.comma(); w.key("session"); w.string(session) }
            if persist { w.comma(); w.key("persist"); w.bool(true) }
            if takeover { w.comma(); w.key("takeover"); w.bool(true) }
            w.comma(); w.key("delivery"); w.string(delivery.rawValue)
            w.comma(); w.key("client"); w.string(client)
        }
    }

    /// Hands `fd` to the daemon under `token` (the daemon keeps its own copy:
    /// close yours when you no longer need it).
    public func register(fd clientFd: Int32, token: UInt64, interest: Interest, mode: Mode = .edge) throws(MioClientError) {
        _ = try request("register", fd: clientFd) { w in
            w.comma(); w.key("token"); w.unsigned(token)
            w.comma(); w.key("interest"); w.stringArray(interest.names)
            w.comma(); w.key("mode"); w.string(mode.description)
        }
    }

    public func reregister(token: UInt64, interest: Interest, mode: Mode = .edge) throws(MioClientError) {
        _ = try request("reregister") { w in
            w.comma(); w.key("token"); w.unsigned(token)
            w.comma(); w.key("interest"); w.stringArray(interest.names)
            w.comma(); w.key("mode"); w.string(mode.description)
        }
    }

    public func deregister(token: UInt64) throws(MioClientError) {
        _ = try request("deregister") { w in w.comma(); w.key("token"); w.unsigned(token) }
    }

    /// Makes a waker under `token`, as `mio::Waker`.
    public func waker(token: UInt64) throws(MioClientError) {
        _ = try request("waker") { w in w.comma(); w.key("token"); w.unsigned(token) }
    }

    /// Wakes the waker `token` of this session, or of `session` (same uid).
    public func wake(token: UInt64, session: String? = nil) throws(MioClientError) {
        _ = try request("wake") { w in
            w.comma(); w.key("token"); w.unsigned(token)
            if let session { w.comma(); w.key("session"); w.string(session) }
        }
    }

    /// `poll` (sessions with `delivery: .poll`): nil timeout waits until an event comes.
    public func poll(timeout: Duration?, maxEvents: Int = 1024) throws(MioClientError) -> [ReadinessEvent] {
        let reply = try request("poll") { w in
            w.comma(); w.key("timeout_ms")
            if let timeout { w.unsigned(UInt64(max(0, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))) } else { w.raw("null") }
            w.comma(); w.key("max_events"); w.unsigned(UInt64(maxEvents))
        }
        return (reply["events"]?.array ?? []).compactMap { ReadinessEvent($0) }
    }

    /// Gets the held fd back: a new fd the caller owns.
    public func fetch(token: UInt64, deregister: Bool = false) throws(MioClientError) -> Int32 {
        var fds: [Int32] = []
        _ = try request("fetch", receivedFds: &fds) { w in
            w.comma(); w.key("token"); w.unsigned(token)
            if deregister { w.comma(); w.key("deregister"); w.bool(true) }
        }
        guard fds.count == 1 else {
            for fd in fds { Sys.close(fd) }
            throw .protocolViolation("fetch reply came with \(fds.count) fds, not 1")
        }
        return fds[0]
    }

    public func list() throws(MioClientError) -> [RegistrationInfo] {
        let reply = try request("list") { _ in }
        return (reply["registrations"]?.array ?? []).compactMap { item in
            guard let token = item["token"]?.uint64, let kind = item["kind"]?.string else { return nil }
            var interest: Interest?
            for name in item["interest"]?.array ?? [] {
                let one: Interest? = name.string == "readable" ? .readable : name.string == "writable" ? .writable : name.string == "priority" ? .priority : nil
                if let one { interest = interest.map { $0 | one } ?? one }
            }
            guard let interest else { return nil }
            return RegistrationInfo(token: Token(token), interest: interest, mode: item["mode"]?.string == "oneshot" ? .oneshot : .edge, kind: kind)
        }
    }

    public func stats() throws(MioClientError) -> StatsReply {
        let stats = try request("stats") { _ in }["stats"] ?? .null
        func int(_ key: String) -> Int { Int(stats[key]?.uint64 ?? 0) }
        return StatsReply(uptimeSeconds: stats["uptime_s"]?.double ?? 0, connections: int("connections"),
                          sessions: int("sessions"), registrations: int("registrations"), fdsHeld: int("fds_held"),
                          eventsDelivered: stats["events_delivered"]?.uint64 ?? 0,
                          eventsCoalesced: stats["events_coalesced"]?.uint64 ?? 0)
    }

    /// Ends the session: every registration removed, every fd closed.
    public func end() throws(MioClientError) {
        _ = try request("end") { _ in }
    }

    public func ping() throws(MioClientError) {
        _ = try request("ping") { _ in }
    }

    /// Sends a raw request line (a JSON object, without its newline) and
    /// returns the raw reply line: what `mioctl --json` prints.
    public func raw(_ line: String) throws(MioClientError) -> String {
        var writer = JSONWriter()
        writer.bytes.append(contentsOf: line.utf8)
        writer.bytes.append(0x0A)
        try send(writer.bytes, fd: nil)
        while true {
            let (bytes, fds, message) = try readLine(timeout: nil)
            for fd in fds { Sys.close(fd) }
            switch message {
            case .event(let event): events.append(event)
            case .other(let value?) where value["ok"] != nil: return String(decoding: bytes, as: UTF8.self)
            case .other: continue
            }
        }
    }

    // MARK: - Events

    /// The next event, waiting up to `timeout` (nil: for ever); nil on timeout.
    public func next(timeout: Duration?) throws(MioClientError) -> ClientEvent? {
        if !events.isEmpty { return events.removeFirst() }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            let remaining = deadline.map { max(.zero, $0 - .now) }
            let (fds, message): ([Int32], Message)
            do {
                (_, fds, message) = try readLine(timeout: remaining)
            } catch {
                if error == .timedOut { return nil }
                throw error
            }
            for fd in fds { Sys.close(fd) }
            guard case .event(let event) = message else {
                throw .protocolViolation("a reply with no request waiting for it")
            }
            return event
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

    // MARK: - Wire

    private func request(_ op: StaticString, fd clientFd: Int32? = nil, _ fields: (inout JSONWriter) -> Void) throws(MioClientError) -> JSONValue {
        var ignored: [Int32] = []
        return try request(op, fd: clientFd, receivedFds: &ignored, fields)
    }

    private func request(_ op: StaticString, fd clientFd: Int32? = nil, receivedFds: inout [Int32],
                         _ fields: (inout JSONWriter) -> Void) throws(MioClientError) -> JSONValue {
        let id = nextID
        nextID += 1
        var writer = JSONWriter(capacity: 256)
        writer.raw("{\"op\":\""); writer.raw(op); writer.raw("\",\"id\":"); writer.unsigned(id)
        fields(&writer)
        writer.raw("}\n")
        try send(writer.bytes, fd: clientFd)
        while true {
            let (_, fds, message) = try readLine(timeout: nil)
            let value: JSONValue
            switch message {
            case .event(let event):
                events.append(event)
                for fd in fds { Sys.close(fd) }
                continue
            case .other(nil):
                for fd in fds { Sys.close(fd) }
                throw .protocolViolation("not JSON")
            case .other(let parsed?):
                value = parsed
            }
            guard value["id"]?.uint64 == id else {
                for fd in fds { Sys.close(fd) }
                if value["ok"]?.bool == false, value["id"] == nil, let error = value["error"] {
                    // An error about the connection itself (line_too_long, fd_overflow).
                    throw .daemon(code: error["code"]?.string ?? "internal", message: error["message"]?.string ?? "")
                }
                throw .protocolViolation("reply for another request")
            }
            receivedFds = fds
            if value["ok"]?.bool == true { return value }
            for fd in fds { Sys.close(fd) }
            let error = value["error"] ?? .null
            throw .daemon(code: error["code"]?.string ?? "internal", message: error["message"]?.string ?? "")
        }
    }

    /// One line and its fds: a request with an fd goes alone in its sendmsg.
    private func send(_ bytes: [UInt8], fd clientFd: Int32?) throws(MioClientError) {
        var offset = 0
        while offset < bytes.count {
            let fds = offset == 0 ? (clientFd.map { [$0] } ?? []) : []
            let attempt = bytes.withUnsafeBytes { raw in
                Result { () throws(MioError) -> IOResult<Int> in
                    try Sys.send(fd, from: raw.baseAddress! + offset, count: raw.count - offset, fds: fds)
                }
            }
            let result: IOResult<Int>
            switch attempt {
            case .success(let value): result = value
            case .failure(let error): throw error.kind == .connectionClosed ? .connectionClosed : .system(error)
            }
            if case .done(let n) = result { offset += n }  // blocking: never would-block
        }
    }

    /// The next line and its fds, with what it says: an event (read on the
    /// fast path when it is the daemon's usual event line) or parsed JSON.
    private func readLine(timeout: Duration?) throws(MioClientError) -> ([UInt8], [Int32], Message) {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while lines.isEmpty {
            if closed { throw .connectionClosed }
            if let deadline {
                let ready: Bool
                do {
                    ready = try Sys.waitReadable(fd, timeout: max(.zero, deadline - .now))
                } catch {
                    throw .system(error)
                }
                if !ready { throw .timedOut }
            }
            let flags = deadline == nil ? 0 : Int32(MSG_DONTWAIT)
            let attempt = buffer.withUnsafeMutableBytes { raw in
                received.withUnsafeMutableBufferPointer { fds in
                    Result { () throws(MioError) -> IOResult<(bytes: Int, fdCount: Int, truncated: Bool)> in
                        try Sys.receive(fd, into: raw.baseAddress!, count: raw.count, fds: fds.baseAddress!, flags: flags)
                    }
                }
            }
            let result: IOResult<(bytes: Int, fdCount: Int, truncated: Bool)>
            switch attempt {
            case .success(let value): result = value
            case .failure(let error): throw error.kind == .connectionClosed ? .connectionClosed : .system(error)
            }
            guard case .done(let got) = result else { continue }
            let fds = Array(received.prefix(got.fdCount))
            if got.bytes == 0 {
                for fd in fds { Sys.close(fd) }
                closed = true
                throw .connectionClosed
            }
            buffer.withUnsafeBytes { raw in
                framer.push(UnsafeRawBufferPointer(rebasing: raw[0..<got.bytes]), fds: fds, into: &lines)
            }
        }
        let line = lines.removeFirst()
        guard case .request(let bytes) = line.content else { return ([], line.fds, .other(nil)) }
        let message: Message = bytes.withUnsafeBytes { raw in
            if let event = ReadinessEvent(eventLine: raw) { return .event(.ready(event)) }
            let value = JSONValue.parse(raw)
            if let value, let event = ClientEvent(value) { return .event(event) }
            return .other(value)
        }
        return (bytes, line.fds, message)
    }

    /// What one line from the daemon says.
    private enum Message {
        case event(ClientEvent)
        /// A reply (or a line that is not JSON: nil).
        case other(JSONValue?)
    }
}

/// Hands a non-Sendable value to another thread the caller keeps it off.
struct UnsafeSendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A detached pthread for one blocking step.
enum BlockingStep {
    static func run(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        var handle = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&handle, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        pthread_detach(handle)
    }
}
