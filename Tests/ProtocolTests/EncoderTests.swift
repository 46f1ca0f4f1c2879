import MioCore
import Testing
@testable import Protocol

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
        #expect(text { $0.notice("shutdown") } == #"{"event":"shutdown"}"# + "\n")
    }

    @Test("control characters are escaped")
    func escaping() {
        #expect(text { $0.string("\u{01}\t\\") } == #""\u0001\t\\""#)
    }

    @Test("integers print exactly", arguments: [UInt64(0), 9, 10, 12345, UInt64.max])
    func integers(value: UInt64) {
        #expect(text { $0.unsigned(value) } == String(value))
    }
}
