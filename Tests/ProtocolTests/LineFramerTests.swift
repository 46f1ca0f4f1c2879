import Testing
@testable import MioProtocol

/// Feeds chunks to a framer with pretend fds, as one recvmsg each.
private final class Harness {
    var closed: [Int32] = []
    var framer: LineFramer!
    var lines: [FramedLine] = []

    init(maxLine: Int = 16) {
        framer = LineFramer(maxLine: maxLine, dispose: { [unowned self] in self.closed.append($0) })
    }

    func push(_ text: String, fds: [Int32] = []) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { framer.push($0, fds: LineFds(fds), into: &lines) }
    }

    var texts: [String] {
        lines.map {
            switch $0.content {
            case .request(let range): return String(decoding: framer.bytes(of: range), as: UTF8.self)
            case .blank: return "<blank>"
            case .tooLong: return "<too long>"
            }
        }
    }
}

@Suite("Line framing and fd attachment (docs/protocol.md, \"Connecting and framing\" and \"Passing file descriptors\")")
struct LineFramerTests {
    @Test("lines split on \\n, \\r\\n accepted, blank lines reported as blank")
    func splitting() {
        let h = Harness()
        h.push("{\"a\":1}\n\r\n{\"b\":2}\r\n\n \t \r\n")
        #expect(h.texts == ["{\"a\":1}", "<blank>", "{\"b\":2}", "<blank>", "<blank>"])
    }

    @Test("a line split over chunks is joined")
    func joined() {
        let h = Harness()
        h.push("{\"op\":")
        h.push("\"ping\"}")
        #expect(h.lines.isEmpty)
        h.push("\n")
        #expect(h.texts == ["{\"op\":\"ping\"}"])
    }

    @Test("fds go to the last line that begins in their recvmsg")
    func lastLineBeginning() {
        let h = Harness()
        h.push("{\"a\":1}\n{\"b\":2}\n", fds: [10])
        #expect(h.lines.map(\.fds) == [[], [10]])
    }

    @Test("with no line beginning in the chunk, fds go to the line running through it")
    func lineRunningThrough() {
        let h = Harness()
        h.push("{\"a\":")
        h.push("1}\n", fds: [11])
        #expect(h.lines.map(\.fds) == [[11]])
    }

    @Test("a chunk ending right after \\n: the next line does not begin in it")
    func endsWithNewline() {
        let h = Harness()
        h.push("{\"a\":1}\n", fds: [12])
        h.push("{\"b\":2}\n")
        #expect(h.lines.map(\.fds) == [[12], []])
    }

    @Test("fds sent with an unterminated line stay with it until its \\n")
    func fdsWaitForTheLine() {
        let h = Harness()
        h.push("{\"op\":\"register\"", fds: [13])
        #expect(h.lines.isEmpty)
        h.push("}\n")
        #expect(h.lines.map(\.fds) == [[13]])
    }

    @Test("a second recvmsg's fds for the same line are closed at once and counted")
    func secondBatchClosed() {
        let h = Harness()
        h.push("{\"a\"", fds: [20])
        h.push(":1", fds: [21, 22])
        h.push("}\n")
        #expect(h.lines.first?.fds == [20])
        #expect(h.lines.first?.fdCount == 3)
        #expect(h.closed == [21, 22])
    }

    @Test("an over-long line is discarded to the next \\n and keeps its fds for the error")
    func tooLong() {
        let h = Harness(maxLine: 8)
        h.push("0123456789abcdef", fds: [30])
        h.push("more\n{\"ok\":1}\n")
        #expect(h.texts == ["<too long>", "{\"ok\":1}"])
        #expect(h.lines.first?.fds == [30])
    }

    @Test("max_line counts the bytes without the \\r\\n that ends them")
    func exactMaxLine() {
        let h = Harness(maxLine: 8)
        h.push("12345678\r\n123456789\r\n12345678\n")
        #expect(h.texts == ["12345678", "<too long>", "12345678"])
    }

    @Test("end of input discards the unterminated line and closes its fds")
    func finish() {
        let h = Harness()
        h.push("{\"op\":", fds: [40])
        #expect(h.framer.hasPartialLine)
        #expect(h.framer.finish() == 1)
        #expect(h.closed == [40])
        #expect(!h.framer.hasPartialLine)
    }
}
