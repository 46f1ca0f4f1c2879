#if canImport(Glibc)
import Glibc
#endif
import MioCore

/// The limits a `hello` reply reports.
public struct Limits: Equatable, Sendable {
    public var maxLine: Int
    public var maxRegistrationsPerUID: Int
    public var maxConnectionsPerUID: Int
    public var maxSessionsPerUID: Int

    public init(maxLine: Int, maxRegistrationsPerUID: Int, maxConnectionsPerUID: Int, maxSessionsPerUID: Int) {
        self.maxLine = maxLine
        self.maxRegistrationsPerUID = maxRegistrationsPerUID
        self.maxConnectionsPerUID = maxConnectionsPerUID
        self.maxSessionsPerUID = maxSessionsPerUID
    }
}

public struct HelloReply: Equatable, Sendable {
    public var server: String
    public var version: String
    public var session: String?
    public var limits: Limits

    public init(server: String, version: String, session: String?, limits: Limits) {
        self.server = server
        self.version = version
        self.session = session
        self.limits = limits
    }
}

/// One line of a `list` reply.
public struct RegistrationInfo: Equatable, Sendable {
    public var token: Token
    public var interest: Interest
    public var mode: Mode
    public var kind: String

    public init(token: Token, interest: Interest, mode: Mode, kind: String) {
        self.token = token
        self.interest = interest
        self.mode = mode
        self.kind = kind
    }
}

public struct StatsReply: Equatable, Sendable {
    public var uptimeSeconds: Double
    public var connections: Int
    public var sessions: Int
    public var registrations: Int
    public var fdsHeld: Int
    public var eventsDelivered: UInt64
    public var eventsCoalesced: UInt64

    public init(uptimeSeconds: Double, connections: Int, sessions: Int, registrations: Int, fdsHeld: Int,
                eventsDelivered: UInt64, eventsCoalesced: UInt64) {
        self.uptimeSeconds = uptimeSeconds
        self.connections = connections
        self.sessions = sessions
        self.registrations = registrations
        self.fdsHeld = fdsHeld
        self.eventsDelivered = eventsDelivered
        self.eventsCoalesced = eventsCoalesced
    }
}

/// The op-specific part of a successful reply.
public enum ReplyBody: Equatable, Sendable {
    case empty
    case token(Token)
    case hello(HelloReply)
    case events([ReadinessEvent])
    case registrations([RegistrationInfo])
    case stats(StatsReply)
}

/// The protocol version this code speaks.
public let protocolVersion: UInt64 = 1

extension JSONWriter {
    /// `{"id":ID,"ok":true,...}\n`
    public mutating func reply(id: RequestID?, _ body: ReplyBody) {
        raw("{")
        idField(id)
        key("ok")
        raw("true")
        switch body {
        case .empty: break
        case .token(let token):
            comma(); key("token"); unsigned(token.rawValue)
        case .hello(let hello):
            comma(); key("server"); string(hello.server)
            comma(); key("version"); string(hello.version)
            comma(); key("protocol"); unsigned(protocolVersion)
            comma(); key("session")
            if let session = hello.session { string(session) } else { raw("null") }
            comma(); key("limits"); raw("{")
            key("max_line"); unsigned(UInt64(hello.limits.maxLine)); comma()
            key("max_registrations_per_uid"); unsigned(UInt64(hello.limits.maxRegistrationsPerUID)); comma()
            key("max_connections_per_uid"); unsigned(UInt64(hello.limits.maxConnectionsPerUID)); comma()
            key("max_sessions_per_uid"); unsigned(UInt64(hello.limits.maxSessionsPerUID))
            raw("}")
        case .events(let events):
            comma(); key("events"); raw("[")
            for (index, event) in events.enumerated() {
                if index > 0 { comma() }
                readinessObject(event, withEventKey: false)
            }
            raw("]")
        case .registrations(let registrations):
            comma(); key("registrations"); raw("[")
            for (index, registration) in registrations.enumerated() {
                if index > 0 { comma() }
                raw("{"); key("token"); unsigned(registration.token.rawValue)
                comma(); key("interest"); stringArray(registration.interest.names)
                comma(); key("mode"); string(registration.mode.description)
                comma(); key("kind"); string(registration.kind)
                raw("}")
            }
            raw("]")
        case .stats(let stats):
            comma(); key("stats"); raw("{")
            key("uptime_s"); double((stats.uptimeSeconds * 1000).rounded() / 1000); comma()
            key("connections"); unsigned(UInt64(stats.connections)); comma()
            key("sessions"); unsigned(UInt64(stats.sessions)); comma()
            key("registrations"); unsigned(UInt64(stats.registrations)); comma()
            key("fds_held"); unsigned(UInt64(stats.fdsHeld)); comma()
            key("events_delivered"); unsigned(stats.eventsDelivered); comma()
            key("events_coalesced"); unsigned(stats.eventsCoalesced)
            raw("}")
        }
        raw("}\n")
    }

    /// `{"id":ID,"ok":false,"error":{"code":…,"message":…}}\n`
    public mutating func failure(id: RequestID?, _ error: ProtocolError) {
        raw("{")
        idField(id)
        key("ok"); raw("false"); comma()
        key("error"); raw("{"); key("code"); string(error.code.rawValue); comma()
        key("message"); string(error.message); raw("}}\n")
    }

    /// An event line: `{"event":"ready","token":7,"readable":true,…}\n`
    public mutating func eventLine(_ event: ReadinessEvent) {
        readinessObject(event, withEventKey: true)
        bytes.append(UInt8(ascii: "\n"))
    }

    /// A notice: `{"event":"shutdown"}\n`, `{"event":"session_taken"}\n`.
    public mutating func notice(_ name: StaticString) {
        raw("{\"event\":\"")
        raw(name)
        raw("\"}\n")
    }

    mutating func readinessObject(_ event: ReadinessEvent, withEventKey: Bool) {
        raw(withEventKey ? "{\"event\":\"ready\",\"token\":" : "{\"token\":")
        unsigned(event.token.rawValue)
        // The six flags: one of 64 texts made once, one append per event.
        bytes.append(contentsOf: readinessTexts[Int(event.readiness.rawValue & 0x3F)])
    }

    private mutating func idField(_ id: RequestID?) {
        guard let id else { return }
        key("id")
        switch id {
        case .signed(let value): signed(value)
        case .unsigned(let value): unsigned(value)
        case .string(let value): string(value)
        }
        comma()
    }
}

/// `,"readable":true,…,"priority":false}` for each of the 64 flag sets.
private let readinessTexts: [[UInt8]] = (0..<64).map { (bits: Int) -> [UInt8] in
    let r = Readiness(rawValue: UInt8(bits))
    func flag(_ name: String, _ flag: Readiness) -> String { ",\"\(name)\":\(r.contains(flag))" }
    let text = flag("readable", .readable) + flag("writable", .writable) + flag("error", .error)
        + flag("read_closed", .readClosed) + flag("write_closed", .writeClosed) + flag("priority", .priority) + "}"
    return Array(text.utf8)
}

extension ReadinessEvent {
    /// Reads an event line exactly as `JSONWriter.eventLine` writes it (a
    /// client's fast path); nil for anything else, which then goes through
    /// the JSON parser.
    public init?(eventLine line: UnsafeRawBufferPointer) {
        var index = 0
        func take(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard index + count <= line.count,
                  memcmp(line.baseAddress! + index, text.utf8Start, count) == 0 else { return false }
            index += count
            return true
        }
        guard take("{\"event\":\"ready\",\"token\":") else { return nil }
        var token: UInt64 = 0
        let digitsStart = index
        while index < line.count, line[index] >= 0x30, line[index] <= 0x39 {
            let (times10, o1) = token.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(line[index] - 0x30))
            guard !o1, !o2 else { return nil }
            token = sum
            index += 1
        }
        guard index > digitsStart else { return nil }
        var readiness: Readiness = []
        for (flag, key) in [(Readiness.readable, ",\"readable\":" as StaticString), (.writable, ",\"writable\":"),
                            (.error, ",\"error\":"), (.readClosed, ",\"read_closed\":"),
                            (.writeClosed, ",\"write_closed\":"), (.priority, ",\"priority\":")] {
            guard take(key) else { return nil }
            if take("true") { readiness.insert(flag) } else if !take("false") { return nil }
        }
        guard take("}"), index == line.count else { return nil }
        self.init(token: Token(token), readiness: readiness)
    }
}
