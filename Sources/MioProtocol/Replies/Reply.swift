import MioCore

/// The op-specific part of a successful reply.
public enum ReplyBody: Equatable, Sendable {
    case empty
    case token(Token)
    // Boxed, as `stats`: their fields would make every reply as large as
    // theirs, copied through outlined witnesses on the hot path.
    indirect case hello(HelloReply)
    case events([ReadinessEvent])
    case registrations([RegistrationInfo])
    case sessions([SessionInfo])
    /// In ring delivery, the reply to a removal (`deregister`, `fetch` with
    /// `deregister`: with the token; `end`: without), with the producer's
    /// position when it happened: older records of those tokens are stale.
    case removal(token: Token?, ringHead: UInt64)
    indirect case stats(StatsReply)
}

/// The protocol version this code speaks.
public let protocolVersion: UInt64 = 1

extension JSONWriter {
    /// `{"id":ID,"ok":true,...}\n`
    public mutating func reply(id: RequestID?, _ body: ReplyBody) {
        if compactReply(id: id, body) { return }
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
            if let entries = hello.ringEntries {
                comma(); key("delivery"); string(Delivery.ring.rawValue)
                comma(); key("ring_entries"); unsigned(UInt64(entries))
            }
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
                if let interest = registration.interest, let mode = registration.mode {
                    comma(); key("interest"); stringArray(interest.names)
                    comma(); key("mode"); string(mode.description)
                } else {
                    comma(); key("held"); bool(true)
                }
                comma(); key("kind"); string(registration.kind)
                if let timer = registration.timer {
                    comma(); key("interval_ms"); optionalUnsigned(timer.intervalMilliseconds)
                    comma(); key("expires_in_ms"); optionalUnsigned(timer.expiresInMilliseconds)
                }
                raw("}")
            }
            raw("]")
        case .removal(let token, let ringHead):
            if let token { comma(); key("token"); unsigned(token.rawValue) }
            comma(); key("ring_head"); unsigned(ringHead)
        case .sessions(let sessions):
            comma(); key("sessions"); raw("[")
            for (index, session) in sessions.enumerated() {
                if index > 0 { comma() }
                raw("{"); key("name"); string(session.name)
                comma(); key("uid"); unsigned(UInt64(session.uid))
                comma(); key("persistent"); bool(session.persistent)
                comma(); key("attached"); bool(session.attached)
                comma(); key("registrations"); unsigned(UInt64(session.registrations))
                comma(); key("pending"); unsigned(UInt64(session.pending))
                comma(); key("lease_s"); optionalUnsigned(session.leaseSeconds.map { UInt64($0) })
                comma(); key("expires_in_s")
                if let left = session.expiresInSeconds { double((left * 1000).rounded() / 1000) } else { raw("null") }
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
        let flags = readinessTexts.text(event.readiness)
        appendBounded { line in
            line.put("{\"event\":\"ready\",\"token\":")
            line.put(unsigned: event.token.rawValue)
            line.put(flags)
            line.put(byte: UInt8(ascii: "\n"))
        }
    }

    /// The replies of the hot path (an empty, token or removal reply, with
    /// an integer id or none) in one bounded write; false for the others.
    private mutating func compactReply(id: RequestID?, _ body: ReplyBody) -> Bool {
        switch id {
        case .string?: return false
        default: break
        }
        let token: Token?
        var ringHead: UInt64?
        switch body {
        case .empty: token = nil
        case .token(let t): token = t
        case .removal(let t, let head): (token, ringHead) = (t, head)
        default: return false
        }
        appendBounded { line in
            line.put("{")
            switch id {
            case .unsigned(let value)?: line.put("\"id\":"); line.put(unsigned: value); line.put(",")
            case .signed(let value)?: line.put("\"id\":"); line.put(signed: value); line.put(",")
            default: break
            }
            line.put("\"ok\":true")
            if let token { line.put(",\"token\":"); line.put(unsigned: token.rawValue) }
            if let ringHead { line.put(",\"ring_head\":"); line.put(unsigned: ringHead) }
            line.put("}\n")
        }
        return true
    }

    /// A notice: `{"event":"shutdown"}\n`, `{"event":"session_taken"}\n`.
    public mutating func notice(_ notice: Notice) {
        raw("{\"event\":")
        string(notice.rawValue)
        raw("}\n")
    }

    mutating func readinessObject(_ event: ReadinessEvent, withEventKey: Bool) {
        raw(withEventKey ? "{\"event\":\"ready\",\"token\":" : "{\"token\":")
        unsigned(event.token.rawValue)
        // The six flags: one of 64 texts made once, one append per event.
        buffer.append(contentsOf: readinessTexts.text(event.readiness))
    }

    /// A number, or `null`.
    private mutating func optionalUnsigned(_ value: UInt64?) {
        if let value { unsigned(value) } else { raw("null") }
    }

    private mutating func idField(_ id: RequestID?) {
        guard let id else { return }
        key("id")
        requestID(id)
        comma()
    }
}

/// `,"readable":true,…,"priority":false}` for each of the 64 flag sets,
/// made once, in memory that is never freed (read without retains);
/// written before the first read and never again. Two pointers, so a
/// writer keeps a copy (``JSONWriter/readinessTexts``) and an event line
/// does not pay for the shared one's once-only check.
struct ReadinessTexts: @unchecked Sendable {
    static let shared = ReadinessTexts()

    private let storage: UnsafeMutablePointer<UInt8>
    /// Text `k` is `storage[offsets[k]..<offsets[k + 1]]`.
    private let offsets: UnsafeMutablePointer<Int>

    private init() {
        let texts = (0..<64).map { (bits: Int) -> [UInt8] in
            let r = Readiness(rawValue: UInt8(bits))
            return Array((Readiness.wireNames.map { ",\"\($0.name)\":\(r.contains($0.flag))" }.joined() + "}").utf8)
        }
        storage = .allocate(capacity: texts.reduce(0) { $0 + $1.count })
        offsets = .allocate(capacity: texts.count + 1)
        var at = 0
        for (k, text) in texts.enumerated() {
            offsets[k] = at
            (storage + at).initialize(from: text, count: text.count)
            at += text.count
        }
        offsets[texts.count] = at
    }

    func text(_ readiness: Readiness) -> UnsafeBufferPointer<UInt8> {
        let k = Int(readiness.rawValue & 0x3F)
        return UnsafeBufferPointer(start: storage + offsets[k], count: offsets[k + 1] - offsets[k])
    }
}

