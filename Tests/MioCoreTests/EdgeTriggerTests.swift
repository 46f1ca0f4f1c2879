import Glibc
import Testing
@testable import MioCore

@Suite("Edge-triggered readiness")
struct EdgeTriggerTests {
    @Test("one event per edge, not one per poll")
    func oneEventPerEdge() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.readEnd), token: Token(3), interest: .readable)
        pipe.write()
        let first = try pollOnce(poll)
        #expect(first.count == 1)
        #expect(first.first?.token == Token(3))
        #expect(first.first?.isReadable == true)
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty, "no second event without a new edge")
    }

    @Test("new data while undrained fires again")
    func newDataWhileUndrained() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.readEnd), token: Token(3), interest: .readable)
        pipe.write()
        #expect(try pollOnce(poll).count == 1)
        pipe.write()
        let again = try pollOnce(poll)
        #expect(again.count == 1)
        #expect(again.first?.isReadable == true)
    }

    @Test("drain, then write: fires again")
    func drainThenWrite() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.readEnd), token: Token(3), interest: .readable)
        pipe.write(5)
        #expect(try pollOnce(poll).count == 1)
        #expect(pipe.drain() == 5)
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty)
        pipe.write()
        #expect(try pollOnce(poll).map(\.token) == [Token(3)])
    }

    @Test("registering an fd that is already readable reports it")
    func alreadyReadable() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        pipe.write()
        try poll.registry.register(SourceFd(pipe.readEnd), token: Token(4), interest: .readable)
        let events = try pollOnce(poll)
        #expect(events.map(\.token) == [Token(4)])
        #expect(events.first?.isReadable == true)
    }

    @Test("a writable pipe reports writable once")
    func writableOnce() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.writeEnd), token: Token(5), interest: .writable)
        let events = try pollOnce(poll)
        #expect(events.count == 1)
        #expect(events.first?.isWritable == true)
        #expect(events.first?.isReadable == false)
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty)
    }
}
