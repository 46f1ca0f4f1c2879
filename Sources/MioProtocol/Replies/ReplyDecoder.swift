import MioCore

/// One line from the daemon, as a client reads it: the counterpart of the
/// reply and event writers, so that a decode of an encode gives the value back.
public enum DaemonLine: Equatable, Sendable {
    case event(ReadinessEvent)
    case notice(Notice)
    /// A reply: its id (as the request had it) and what it says.
    case reply(id: RequestID?, ReplyOutcome)
    /// A JSON object of a kind this code does not know (a newer daemon's event).
    case unknown(JSONValue)

    /// Reads one line (without its newline); nil when it is not JSON. The
    /// daemon's usual event line takes a fast path without the JSON parser.
    public init?(_ line: UnsafeRawBufferPointer) {
        if let event = ReadinessEvent(eventLine: line) {
            self = .event(event)
            return
        }
        guard let value = JSONValue.parse(line) else { return nil }
        self.init(value)
    }

    public init(_ value: JSONValue) {
        if let ok = value["ok"]?.bool {
            let id = value["id"].flatMap(RequestID.init(decoding:))
            if ok {
                self = .reply(id: id, .ok(value))
            } else {
                let error = value["error"] ?? .null
                self = .reply(id: id, .failed(code: error["code"]?.string ?? "internal", message: error["message"]?.string ?? ""))
            }
            return
        }
        switch value["event"]?.string {
        case "ready":
            if let event = ReadinessEvent(decoding: value) {
                self = .event(event)
                return
            }
        case let name?:
            if let notice = Notice(rawValue: name) {
                self = .notice(notice)
                return
            }
        case nil:
            break
        }
        self = .unknown(value)
    }
}

/// What a reply says: its fields, or the daemon's error.
public enum ReplyOutcome: Equatable, Sendable {
    /// `"ok":true`, with the whole reply object (read it with ``ReplyBody/init(decoding:for:)``).
    case ok(JSONValue)
    /// `"ok":false`: the protocol's code (a string: a newer daemon may have
    /// codes this code does not know) and the message.
    case failed(code: String, message: String)
}

extension RequestID {
    init?(decoding value: JSONValue) {
        switch value {
        case .string(let text): self = .string(text)
        case .uint(let number): self = .unsigned(number)
        case .int(let number): self = .signed(number)
        default: return nil
        }
    }
}

extension ReadinessEvent {
    /// From an event object (with or without its `"event"` key).
    public init?(decoding object: JSONValue) {
        guard let token = object["token"]?.uint64 else { return nil }
        var readiness: Readiness = []
        for (flag, name) in Readiness.wireNames where object[name]?.bool == true { readiness.insert(flag) }
        self.init(token: Token(token), readiness: readiness)
    }
}

extension ReplyBody {
    /// The typed fields of a successful reply to `op`; nil when a field the
    /// op's reply must have is missing or of the wrong type.
    public init?(decoding reply: JSONValue, for op: Op) {
        if let ringHead = reply["ring_head"]?.uint64 {
            self = .removal(token: reply["token"]?.uint64.map { Token($0) }, ringHead: ringHead)
            return
        }
        switch op {
        case .register, .reregister, .deregister, .waker, .fetch, .store, .timer:
            guard let token = reply["token"]?.uint64 else { return nil }
            self = .token(Token(token))
        case .hello:
            guard let hello = HelloReply(decoding: reply) else { return nil }
            self = .hello(hello)
        case .poll:
            guard let events = reply["events"]?.array else { return nil }
            self = .events(events.compactMap(ReadinessEvent.init(decoding:)))
        case .list:
            guard let items = reply["registrations"]?.array else { return nil }
            self = .registrations(items.compactMap(RegistrationInfo.init(decoding:)))
        case .sessions:
            guard let items = reply["sessions"]?.array else { return nil }
            self = .sessions(items.compactMap(SessionInfo.init(decoding:)))
        case .stats:
            guard let stats = reply["stats"].flatMap(StatsReply.init(decoding:)) else { return nil }
            self = .stats(stats)
        case .wake, .end, .ping:
            self = .empty
        }
    }
}

extension HelloReply {
    init?(decoding reply: JSONValue) {
        guard let server = reply["server"]?.string, let version = reply["version"]?.string,
              let limits = reply["limits"] else { return nil }
        func int(_ key: String) -> Int? { limits[key]?.uint64.map { Int(clamping: $0) } }
        guard let maxLine = int("max_line"), let registrations = int("max_registrations_per_uid"),
              let connections = int("max_connections_per_uid"), let sessions = int("max_sessions_per_uid") else { return nil }
        self.init(server: server, version: version, session: reply["session"]?.string,
                  limits: Limits(maxLine: maxLine, maxRegistrationsPerUID: registrations,
                                 maxConnectionsPerUID: connections, maxSessionsPerUID: sessions),
                  ringEntries: reply["ring_entries"]?.uint64.map { Int(clamping: $0) })
    }
}

extension RegistrationInfo {
    init?(decoding item: JSONValue) {
        guard let token = item["token"]?.uint64, let kind = item["kind"]?.string else { return nil }
        if item["held"]?.bool == true {
            self.init(heldToken: Token(token), kind: kind)
            return
        }
        guard let names = item["interest"]?.array?.compactMap(\.string),
              let interest = Interest(wireNames: names),
              let mode = item["mode"]?.string.flatMap({ Mode(wireName: $0) }) else { return nil }
        var timer: TimerInfo?
        if kind == "timer" {
            timer = TimerInfo(intervalMilliseconds: item["interval_ms"]?.uint64, expiresInMilliseconds: item["expires_in_ms"]?.uint64)
        }
        self.init(token: Token(token), interest: interest, mode: mode, kind: kind, timer: timer)
    }
}

extension SessionInfo {
    init?(decoding item: JSONValue) {
        guard let name = item["name"]?.string, let uid = item["uid"]?.uint64, uid <= UInt64(UInt32.max),
              let persistent = item["persistent"]?.bool, let attached = item["attached"]?.bool,
              let registrations = item["registrations"]?.uint64, let pending = item["pending"]?.uint64 else { return nil }
        self.init(name: name, uid: UInt32(uid), persistent: persistent, attached: attached,
                  registrations: Int(clamping: registrations), pending: Int(clamping: pending),
                  leaseSeconds: item["lease_s"]?.uint64.map { Int(clamping: $0) }, expiresInSeconds: item["expires_in_s"]?.double)
    }
}

extension StatsReply {
    init?(decoding stats: JSONValue) {
        func count(_ key: String) -> Int? { stats[key]?.uint64.map { Int(clamping: $0) } }
        guard let uptime = stats["uptime_s"]?.double, let connections = count("connections"),
              let sessions = count("sessions"), let registrations = count("registrations"),
              let fdsHeld = count("fds_held"), let delivered = stats["events_delivered"]?.uint64,
              let coalesced = stats["events_coalesced"]?.uint64 else { return nil }
        self.init(uptimeSeconds: uptime, connections: connections, sessions: sessions, registrations: registrations,
                  fdsHeld: fdsHeld, eventsDelivered: delivered, eventsCoalesced: coalesced)
    }
}
