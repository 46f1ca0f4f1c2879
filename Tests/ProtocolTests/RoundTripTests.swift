import Testing
import MioCore
@testable import MioProtocol

@Suite("Decode of encode gives the value back: requests, replies, events")
struct RoundTripTests {
    static let requests: [Request] = [
        Request(id: .unsigned(1), .hello(HelloRequest(protocolVersion: 1, session: "s.1", persist: true, takeover: true,
                                                      delivery: .poll, client: "tests \"quoted\""))),
        Request(id: nil, .hello(HelloRequest())),
        Request(id: .unsigned(17), .hello(HelloRequest(session: "leased", persist: true, lease: .set(seconds: LeaseChange.maxSeconds)))),
        Request(id: .unsigned(18), .hello(HelloRequest(session: "leased", lease: .remove))),
        Request(id: .unsigned(19), .store(token: 4)),
        Request(id: .unsigned(20), .timer(token: 5, TimerSettings(afterMilliseconds: 0))),
        Request(id: .unsigned(21), .timer(token: 5, TimerSettings(afterMilliseconds: TimerSettings.maxMilliseconds,
                                                                  intervalMilliseconds: 1))),
        Request(id: .string("x"), .register(token: Token(UInt64.max), interest: .readable | .priority, mode: .oneshot)),
        Request(id: .signed(-5), .reregister(token: 0, interest: .writable, mode: .edge)),
        Request(id: .unsigned(2), .deregister(token: 7)),
        Request(id: .unsigned(3), .waker(token: 9)),
        Request(id: .unsigned(4), .wake(token: 9, session: "other")),
        Request(id: .unsigned(5), .wake(token: 9, session: nil)),
        Request(id: .unsigned(6), .poll(timeoutMilliseconds: nil, maxEvents: 1)),
        Request(id: .unsigned(7), .poll(timeoutMilliseconds: 0, maxEvents: 65536)),
        Request(id: .unsigned(8), .fetch(token: 1, deregister: true)),
        Request(id: .unsigned(9), .fetch(token: 1, deregister: false)),
        Request(id: .unsigned(10), .list(session: nil, uid: nil)),
        Request(id: .unsigned(14), .list(session: "other", uid: 1000)),
        Request(id: .unsigned(15), .sessions),
        Request(id: .unsigned(11), .stats),
        Request(id: .unsigned(12), .end(session: nil, uid: nil)),
        Request(id: .unsigned(16), .end(session: "s", uid: nil)),
        Request(id: .unsigned(13), .ping),
    ]

    @Test("every request", arguments: requests)
    func request(_ request: Request) {
        var writer = JSONWriter()
        writer.request(request)
        #expect(writer.bytes.last == 0x0A)
        let line = writer.bytes.dropLast()
        let decoded = Array(line).withUnsafeBytes { RequestDecoder().decode($0, fdCount: request.operation.takesFd ? 1 : 0) }
        #expect(decoded == .success(request), "\(String(decoding: line, as: UTF8.self))")
    }

    @Test("every op is encoded under its own name")
    func opNames() {
        #expect(Set(Self.requests.map(\.operation.op)) == Set(Op.allCases))
    }

    static let replies: [(Op, ReplyBody)] = [
        (.ping, .empty),
        (.register, .token(Token(UInt64.max))),
        (.hello, .hello(HelloReply(server: "mio-daemon", version: "0.1.0", session: "s",
                                   limits: Limits(maxLine: 1, maxRegistrationsPerUID: 2, maxConnectionsPerUID: 3, maxSessionsPerUID: 4)))),
        (.hello, .hello(HelloReply(server: "mio-daemon", version: "0.1.0", session: nil,
                                   limits: Limits(maxLine: 1, maxRegistrationsPerUID: 2, maxConnectionsPerUID: 3, maxSessionsPerUID: 4)))),
        (.poll, .events([ReadinessEvent(token: 1, readiness: [.readable, .writeClosed]), ReadinessEvent(token: 2, readiness: [])])),
        (.list, .registrations([RegistrationInfo(token: 3, interest: .readable | .writable, mode: .oneshot, kind: "pipe")])),
        (.list, .registrations([RegistrationInfo(heldToken: 1, kind: "memfd"),
                                RegistrationInfo(token: 2, interest: .readable, mode: .edge, kind: "timer",
                                                 timer: TimerInfo(intervalMilliseconds: 10, expiresInMilliseconds: 3)),
                                RegistrationInfo(token: 3, interest: .readable, mode: .edge, kind: "timer",
                                                 timer: TimerInfo(intervalMilliseconds: nil, expiresInMilliseconds: nil))])),
        (.store, .token(4)),
        (.timer, .token(5)),
        (.sessions, .sessions([SessionInfo(name: "a", uid: 0, persistent: true, attached: false, registrations: 3, pending: 1),
                               SessionInfo(name: "b", uid: 7, persistent: false, attached: true, registrations: 0, pending: 0,
                                           leaseSeconds: 30, expiresInSeconds: 1.5)])),
        (.stats, .stats(StatsReply(uptimeSeconds: 1.5, connections: 1, sessions: 2, registrations: 3, fdsHeld: 4,
                                   eventsDelivered: 5, eventsCoalesced: 6))),
    ]

    @Test("every reply body", arguments: 0..<replies.count)
    func reply(_ index: Int) {
        let (op, body) = Self.replies[index]
        var writer = JSONWriter()
        writer.reply(id: .string("r"), body)
        let line = Array(writer.bytes.dropLast())
        guard case .reply(let id, .ok(let value))? = line.withUnsafeBytes({ DaemonLine($0) }) else {
            Issue.record("not a reply: \(String(decoding: line, as: UTF8.self))")
            return
        }
        #expect(id == .string("r"))
        #expect(ReplyBody(decoding: value, for: op) == body)
    }

    @Test("a failure keeps its code and message")
    func failure() {
        var writer = JSONWriter()
        writer.failure(id: .unsigned(3), ProtocolError(.unknownToken, "token 7 is not registered"))
        let line = Array(writer.bytes.dropLast())
        #expect(line.withUnsafeBytes { DaemonLine($0) } == .reply(id: .unsigned(3), .failed(code: "unknown_token", message: "token 7 is not registered")))
    }

    @Test("event lines of all 64 flag sets, and the notices")
    func events() {
        for bits in 0..<64 {
            let event = ReadinessEvent(token: Token(UInt64(bits) * 1_000_003), readiness: Readiness(rawValue: UInt8(bits)))
            var writer = JSONWriter()
            writer.eventLine(event)
            let line = Array(writer.bytes.dropLast())
            #expect(line.withUnsafeBytes { DaemonLine($0) } == .event(event))
            // The JSON path (the fast path declines a reordered line).
            let value = JSONValue.parse(String(decoding: line, as: UTF8.self))!
            #expect(DaemonLine(value) == .event(event))
        }
        for notice in [Notice.shutdown, .sessionTaken] {
            var writer = JSONWriter()
            writer.notice(notice)
            #expect(Array(writer.bytes.dropLast()).withUnsafeBytes { DaemonLine($0) } == .notice(notice))
        }
    }
}

@Suite("Strict strings: a NUL is refused, never truncated")
struct StrictStringTests {
    func decode(_ text: String) -> Result<Request, DecodeFailure> {
        Array(text.utf8).withUnsafeBytes { RequestDecoder().decode($0, fdCount: 0) }
    }

    @Test("a key with a NUL is bad_request, and no id is echoed", arguments: [
        #"{"op":"ping","id\u0000":5}"#, #"{"op\u0000":"ping"}"#, #"{"op":"deregister","token\u0000":1,"token":2}"#,
    ])
    func key(_ line: String) {
        guard case .failure(let failure) = decode(line) else { Issue.record("accepted: \(line)"); return }
        #expect(failure.error.code == .badRequest)
        #expect(failure.id == nil)
    }

    @Test("a string value with a NUL is bad_request", arguments: [
        #"{"op":"ping","id":"a\u0000b"}"#, #"{"op":"hello","session":"s\u0000"}"#, #"{"op":"hello","client":"x\u0000"}"#,
        #"{"op":"wake","token":1,"session":"a\u0000"}"#, #"{"op":"ping","ignored":["x\u0000"]}"#,
    ])
    func value(_ line: String) {
        guard case .failure(let failure) = decode(line) else { Issue.record("accepted: \(line)"); return }
        #expect(failure.error.code == .badRequest)
    }

    @Test("an op with a NUL is bad_request, with its id; an escaped backslash before u0000 is no NUL")
    func others() {
        guard case .failure(let failure) = decode(#"{"op":"ping\u0000","id":3}"#) else { Issue.record("accepted"); return }
        #expect(failure.error.code == .badRequest)
        #expect(failure.id == .unsigned(3))
        #expect(decode(#"{"op":"ping","id":"\\u0000"}"#) == .success(Request(id: .string(#"\u0000"#), .ping)))
    }
}
