import MioCore
import Testing
@testable import MioProtocol

private func decode(_ text: String, fds: Int = 0) -> Result<Request, DecodeFailure> {
    Array(text.utf8).withUnsafeBytes { RequestDecoder().decode($0, fdCount: fds) }
}

private func code(_ text: String, fds: Int = 0) -> ErrorCode? {
    if case .failure(let failure) = decode(text, fds: fds) { return failure.error.code }
    return nil
}

private func operation(_ text: String, fds: Int = 0) -> Request.Operation? {
    try? decode(text, fds: fds).get().operation
}

@Suite("Strict request decoding (docs/protocol.md, \"Strict parsing\" and \"Operations\")")
struct RequestDecoderTests {
    @Test("each op decodes into its typed request")
    func ops() {
        #expect(operation(#"{"op":"ping"}"#) == .ping)
        #expect(operation(#"{"op":"register","token":7,"interest":["readable","writable"],"mode":"oneshot"}"#, fds: 1)
            == .register(token: Token(7), interest: .readable | .writable, mode: .oneshot))
        #expect(operation(#"{"op":"register","token":7,"interest":"priority"}"#, fds: 1)
            == .register(token: Token(7), interest: .priority, mode: .edge))
        #expect(operation(#"{"op":"poll","timeout_ms":null}"#) == .poll(timeoutMilliseconds: nil, maxEvents: 1024))
        #expect(operation(#"{"op":"poll","timeout_ms":0,"max_events":3}"#) == .poll(timeoutMilliseconds: 0, maxEvents: 3))
        #expect(operation(#"{"op":"fetch","token":1,"deregister":true}"#) == .fetch(token: Token(1), deregister: true))
        #expect(operation(#"{"op":"wake","token":1,"session":"s"}"#) == .wake(token: Token(1), session: "s"))
    }

    @Test("tokens: full u64 range exactly; strings, floats, exponents, negatives and overflow refused")
    func tokens() {
        #expect(operation(#"{"op":"deregister","token":18446744073709551615}"#) == .deregister(token: Token(UInt64.max)))
        #expect(operation(#"{"op":"deregister","token":0}"#) == .deregister(token: Token(0)))
        for bad in [#""42""#, "4.0", "1e2", "-1", "18446744073709551616", "99999999999999999999999", "true", "null"] {
            #expect(code(#"{"op":"deregister","token":"# + bad + "}") == .badRequest, "token \(bad)")
        }
    }

    @Test("JSON errors: garbage, trailing text, NaN, single quotes, invalid UTF-8, depth over 8")
    func badJSON() {
        #expect(code("garbage") == .badJSON)
        #expect(code(#"{"op":"ping"} x"#) == .badJSON)
        #expect(code(#"{"op":"ping"}{}"#) == .badJSON)
        #expect(code(#"{"op":"ping","x":NaN}"#) == .badJSON)
        #expect(code(#"{'op':'ping'}"#) == .badJSON)
        #expect(code(#"{"op":"ping""#) == .badJSON)
        let invalidUTF8: [UInt8] = Array(#"{"op":"ping","x":""#.utf8) + [0xFF] + Array(#""}"#.utf8)
        let result = invalidUTF8.withUnsafeBytes { RequestDecoder().decode($0, fdCount: 0) }
        if case .failure(let f) = result { #expect(f.error.code == .badJSON) } else { Issue.record("accepted invalid UTF-8") }
        let depth8 = #"{"op":"ping","x":"# + String(repeating: "[", count: 7) + String(repeating: "]", count: 7) + "}"
        let depth9 = #"{"op":"ping","x":"# + String(repeating: "[", count: 8) + String(repeating: "]", count: 8) + "}"
        #expect(operation(depth8) == .ping)
        #expect(code(depth9) == .badJSON)
        #expect(code(#"{"op":"ping","x":"[[[[[[[[[[\"{{{{{{{{{"}"#) == nil, "brackets inside strings do not count")
    }

    @Test("error order: bad_json, unknown_op, bad_request (fields, then fd count)")
    func errorOrder() {
        #expect(code("nope", fds: 2) == .badJSON)
        #expect(code(#"{"op":"nope","token":"x"}"#, fds: 2) == .unknownOp)
        #expect(code(#"{"op":""}"#) == .unknownOp)
        #expect(code(#"{"token":1}"#) == .badRequest)
        #expect(code(#"{"op":5}"#) == .badRequest)
        #expect(code(#"{"op":"register","token":"x"}"#, fds: 0) == .badRequest)
        #expect(code(#"{"op":"register","token":1,"interest":"readable"}"#, fds: 0) == .noFd)
        #expect(code(#"{"op":"register","token":1,"interest":"readable"}"#, fds: 2) == .badRequest)
        #expect(code(#"{"op":"ping"}"#, fds: 1) == .badRequest)
        #expect(code("[1]") == .badRequest)
        #expect(code(#"{"op":"nosuch","id":1.5}"#) == .unknownOp, "unknown_op comes before a bad id")
        #expect(code(#"{"op":"ping","id":1.5}"#) == .badRequest)
    }

    @Test("raw control characters inside strings, and a null id, are refused")
    func strictStrings() {
        #expect(code("{\"op\":\"ping\",\"x\":\"a\tb\"}") == .badJSON)
        #expect(code(#"{"op":"ping","x":"a\tb"}"#) == nil, "an escaped tab is fine")
        #expect(code(#"{"op":"ping","id":null}"#) == .badRequest)
    }

    @Test("ids: strings and integers echoed as decoded; absent stays absent; a float is refused")
    func ids() throws {
        #expect(try decode(#"{"op":"ping","id":"a\"b"}"#).get().id == .string("a\"b"))
        #expect(try decode(#"{"op":"ping","id":-5}"#).get().id == .signed(-5))
        #expect(try decode(#"{"op":"ping","id":18446744073709551615}"#).get().id == .unsigned(UInt64.max))
        #expect(try decode(#"{"op":"ping"}"#).get().id == nil)
        #expect(code(#"{"op":"ping","id":1.5}"#) == .badRequest)
        // The id is read first, so a later error still echoes it.
        if case .failure(let f) = decode(#"{"op":"deregister","id":9,"token":-1}"#) { #expect(f.id == .unsigned(9)) }
    }

    @Test("duplicate keys: the last one wins; unknown fields are ignored")
    func duplicates() {
        #expect(operation(#"{"op":"deregister","token":1,"token":2,"extra":{"a":[1]}}"#) == .deregister(token: Token(2)))
    }

    @Test("interest and mode are checked")
    func interestAndMode() {
        #expect(code(#"{"op":"register","token":1,"interest":[]}"#, fds: 1) == .badRequest)
        #expect(code(#"{"op":"register","token":1,"interest":["readable","loud"]}"#, fds: 1) == .badRequest)
        #expect(code(#"{"op":"register","token":1,"interest":7}"#, fds: 1) == .badRequest)
        #expect(code(#"{"op":"register","token":1,"interest":"readable","mode":"level"}"#, fds: 1) == .badRequest)
        #expect(code(#"{"op":"reregister","token":1}"#) == .badRequest)
    }

    @Test("hello: session names, delivery, booleans")
    func hello() {
        #expect(code(#"{"op":"hello","session":""}"#) == .badRequest)
        #expect(code(#"{"op":"hello","session":"a/b"}"#) == .badRequest)
        #expect(code(#"{"op":"hello","session":""# + String(repeating: "x", count: 65) + #""}"#) == .badRequest)
        #expect(code(#"{"op":"hello","delivery":"push"}"#) == .badRequest)
        #expect(code(#"{"op":"hello","persist":1}"#) == .badRequest)
        if case .hello(let h)? = operation(#"{"op":"hello","session":"a.B_c-9","persist":true,"delivery":"poll","protocol":1}"#) {
            #expect(h.session == "a.B_c-9" && h.persist && h.delivery == .poll && h.protocolVersion == 1)
        } else {
            Issue.record("hello did not decode")
        }
    }
}

@Suite("The compact path: the plain hot requests without json-c, the same result as the strict path")
struct CompactRequestTests {
    private func compact(_ text: String, fds: Int) -> Request? {
        Array(text.utf8).withUnsafeBytes { CompactRequest.decode($0, fdCount: fds) }
    }

    private func strict(_ text: String, fds: Int) -> Result<Request, DecodeFailure> {
        Array(text.utf8).withUnsafeBytes { RequestDecoder().decodeStrictly($0, fdCount: fds) }
    }

    @Test("the lines clients send take the compact path, and decode as the strict path decodes them")
    func plainLines() {
        let lines: [(String, Int)] = [
            (#"{"op":"register","token":1,"interest":["readable"],"id":1}"#, 1),
            (#"{"op":"register","token":123456789012345678,"interest":"writable","mode":"oneshot"}"#, 1),
            (#" { "id" : "r-1" , "op" : "register" , "interest" : [ "readable" , "priority" ] , "token" : 0 , "mode" : "edge" } "#, 1),
            (#"{"op":"reregister","token":5,"interest":["readable","writable"],"id":7}"#, 0),
            (#"{"op":"deregister","token":9,"id":9}"#, 0),
            ("{\"op\":\"deregister\",\t\"token\":9}\r", 0),
            (#"{"op":"ping"}"#, 0),
            (#"{"id":0,"op":"ping"}"#, 0),
        ]
        for (line, fds) in lines {
            let fast = compact(line, fds: fds)
            #expect(fast != nil, "not compact: \(line)")
            #expect(fast.map { .success($0) } == strict(line, fds: fds), "differs: \(line)")
        }
    }

    @Test("anything else goes to the strict path: refusals, other ops, escapes, signs, big or odd numbers, duplicates, extra keys")
    func otherLines() {
        let lines: [(String, Int)] = [
            (#"{"op":"register","token":1,"interest":["readable"]}"#, 0),  // no fd
            (#"{"op":"register","token":1,"interest":["readable"]}"#, 2),
            (#"{"op":"deregister","token":1}"#, 1),
            (#"{"op":"register","token":1,"interest":[]}"#, 1),
            (#"{"op":"register","token":1,"interest":["loud"]}"#, 1),
            (#"{"op":"register","token":1,"interest":"readable","mode":"level"}"#, 1),
            (#"{"op":"register","token":1}"#, 1),
            (#"{"op":"register","interest":"readable"}"#, 1),
            (#"{"op":"deregister","token":1,"token":2}"#, 0),
            (#"{"op":"deregister","token":1,"mode":"edge"}"#, 0),
            (#"{"op":"deregister","token":1,"extra":1}"#, 0),
            (#"{"op":"deregister","token":18446744073709551615}"#, 0),
            (#"{"op":"deregister","token":1234567890123456789}"#, 0),
            (#"{"op":"deregister","token":01}"#, 0),
            (#"{"op":"deregister","token":-1}"#, 0),
            (#"{"op":"deregister","token":1.0}"#, 0),
            (#"{"op":"deregister","token":1e2}"#, 0),
            (#"{"op":"deregister","token":"1"}"#, 0),
            (#"{"op":"deregister","token":null}"#, 0),
            (#"{"op":"ping","id":-5}"#, 0),
            (#"{"op":"ping","id":"a\"b"}"#, 0),
            (#"{"op":"ping","id":"\u00e9"}"#, 0),
            ("{\"op\":\"ping\",\"id\":\"\u{e9}\"}", 0),
            (#"{"op":"ping","id":null}"#, 0),
            // An unclosed string id: no integer is read from inside it (found by the fuzzer).
            (#"{"op":"ping","id":"1}"#, 0),
            (#"{"op":"ping","id":"7"#, 0),
            (#"{"op":"deregister","token":1,"id":"12}"#, 0),
            (#"{"op":"p\u0069ng"}"#, 0),
            (#"{"op":"ping"} x"#, 0),
            (#"{"op":"ping"}{}"#, 0),
            (#"{"op":"ping""#, 0),
            (#"{"op":"ping",}"#, 0),
            (#"{"op":"stats"}"#, 0),
            (#"{"op":"hello"}"#, 0),
            (#"{}"#, 0),
            (#"[]"#, 0),
        ]
        for (line, fds) in lines {
            #expect(compact(line, fds: fds) == nil, "compact took: \(line)")
            // And the full decoder still answers as the strict path does.
            let full = Array(line.utf8).withUnsafeBytes { RequestDecoder().decode($0, fdCount: fds) }
            #expect(full == strict(line, fds: fds), "differs: \(line)")
        }
    }
}
