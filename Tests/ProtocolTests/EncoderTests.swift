import MioCore
import Testing
@testable import MioProtocol

private func text(_ write: (inout JSONWriter) -> Void) -> String {
    var writer = JSONWriter()
    write(&writer)
    return String(decoding: writer.bytes, as: UTF8.self)
}

@Suite("Encoding of replies and events")
struct EncoderTests {
    @Test("an event line, byte for byte")
    func eventLine() {
        let line = text { $0.eventLine(ReadinessEvent(token: Token(7), readiness: [.readable, .readClosed])) }
        #expect(line == #"{"event":"ready","token":7,"readable":true,"writable":false,"error":false,"read_closed":true,"write_closed":false,"priority":false}"# + "\n")
    }

    @Test("replies echo the id as decoded, and errors carry code and message")
    func replies() {
        #expect(text { $0.reply(id: .string("a\"\n"), .empty) } == #"{"id":"a\"\n","ok":true}"# + "\n")
        #expect(text { $0.reply(id: .signed(-3), .token(Token(UInt64.max))) } == #"{"id":-3,"ok":true,"token":18446744073709551615}"# + "\n")
        #expect(text { $0.failure(id: nil, ProtocolError(.unknownToken, "token 7 is not registered")) }
            == #"{"ok":false,"error":{"code":"unknown_token","message":"token 7 is not registered"}}"# + "\n")
        #expect(text { $0.notice(.shutdown) } == #"{"event":"shutdown"}"# + "\n")
    }

    @Test("the short replies of the hot path, byte for byte, with every kind of id")
    func compactReplies() {
        #expect(text { $0.reply(id: nil, .empty) } == #"{"ok":true}"# + "\n")
        #expect(text { $0.reply(id: .unsigned(0), .empty) } == #"{"id":0,"ok":true}"# + "\n")
        #expect(text { $0.reply(id: .unsigned(UInt64.max), .token(Token(0))) } == #"{"id":18446744073709551615,"ok":true,"token":0}"# + "\n")
        #expect(text { $0.reply(id: .signed(Int64.min), .token(Token(12))) } == #"{"id":-9223372036854775808,"ok":true,"token":12}"# + "\n")
        #expect(text { $0.reply(id: nil, .token(Token(10))) } == #"{"ok":true,"token":10}"# + "\n")
        #expect(text { $0.reply(id: .unsigned(5), .removal(token: Token(UInt64.max), ringHead: UInt64.max) ) }
            == #"{"id":5,"ok":true,"token":18446744073709551615,"ring_head":18446744073709551615}"# + "\n")
        #expect(text { $0.reply(id: .string("x"), .removal(token: nil, ringHead: 3)) } == #"{"id":"x","ok":true,"ring_head":3}"# + "\n")
        // Appended after what the buffer holds, many times over (no scratch left behind).
        let many = text { w in for i in 0..<1000 { w.reply(id: .unsigned(UInt64(i)), .token(Token(UInt64(i)))) } }
        #expect(many == (0..<1000).map { #"{"id":\#($0),"ok":true,"token":\#($0)}"# + "\n" }.joined())
    }

    @Test("control characters are escaped")
    func escaping() {
        #expect(text { $0.string("\u{01}\t\\") } == #""\u0001\t\\""#)
    }

    @Test("the hot path's integers print exactly at every digit count (two digits at a time)")
    func boundedIntegers() {
        var values: [UInt64] = [0, 1, 42, UInt64.max, UInt64.max - 1]
        var power: UInt64 = 1
        for _ in 0..<20 {
            values += [power - 1, power, power + 1, power &* 7 &+ 3]
            power = power &* 10
        }
        for value in values {
            #expect(text { $0.reply(id: .unsigned(value), .token(Token(value))) }
                        == #"{"id":\#(value),"ok":true,"token":\#(value)}"# + "\n")
            #expect(text { $0.eventLine(ReadinessEvent(token: Token(value), readiness: [.readable])) }.hasPrefix(#"{"event":"ready","token":\#(value),"#))
        }
    }

    @Test("integers print exactly", arguments: [UInt64(0), 9, 10, 12345, UInt64.max])
    func integers(value: UInt64) {
        #expect(text { $0.unsigned(value) } == String(value))
    }
}

@Suite("The clients' fast path for event lines")
struct EventLineDecodingTests {
    @Test("every flag set and token round-trips through eventLine", arguments: [UInt64(0), 7, UInt64.max])
    func roundTrip(token: UInt64) {
        for bits in 0..<64 {
            let event = ReadinessEvent(token: Token(token), readiness: Readiness(rawValue: UInt8(bits)))
            var writer = JSONWriter()
            writer.eventLine(event)
            let line = Array(writer.bytes.dropLast())  // without its newline, as the framer gives it
            #expect(line.withUnsafeBytes { ReadinessEvent(eventLine: $0) } == event)
        }
    }

    @Test("anything else is left to the JSON parser")
    func refusals() {
        for text in [#"{"event":"shutdown"}"#, #"{"ok":true}"#,
                     #"{"event":"ready","token":18446744073709551616,"readable":true,"writable":false,"error":false,"read_closed":false,"write_closed":false,"priority":false}"#,
                     #"{"event":"ready","token":1,"writable":false,"readable":true,"error":false,"read_closed":false,"write_closed":false,"priority":false}"#,
                     #"{"event":"ready","token":1,"readable":true,"writable":false,"error":false,"read_closed":false,"write_closed":false,"priority":false} "#,
                     #"{"event":"ready","token":,"readable":true}"#] {
            #expect(Array(text.utf8).withUnsafeBytes { ReadinessEvent(eventLine: $0) } == nil, "\(text)")
        }
    }
}
