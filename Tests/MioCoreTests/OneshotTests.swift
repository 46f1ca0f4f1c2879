import Glibc
import Testing
@testable import MioCore

@Suite("Oneshot mode")
struct OneshotTests {
    @Test("a oneshot registration fires once, then only after reregister")
    func firesOnceUntilRearmed() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.readEnd), token: Token(1), interest: .readable, mode: .oneshot)
        pipe.write()
        #expect(try pollOnce(poll).map(\.token) == [Token(1)])
        pipe.write()
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty, "disarmed")
        try poll.registry.reregister(SourceFd(pipe.readEnd), token: Token(2), interest: .readable, mode: .oneshot)
        #expect(try pollOnce(poll).map(\.token) == [Token(2)], "re-armed, and still readable")
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty)
    }
}
