import Glibc
import Testing
@testable import MioCore
import MioSystem

@Suite("Registry")
struct RegistryTests {
    @Test("reregister replaces interest and token, and re-arms")
    func reregisterReplaces() throws {
        let poll = try Poll()
        let (a, b) = try Sys.socketPair(flags: O_NONBLOCK)
        defer { close(a); close(b) }
        try poll.registry.register(SourceFd(a), token: Token(1), interest: .readable)
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty, "idle socket is not readable")
        try poll.registry.reregister(SourceFd(a), token: Token(2), interest: .writable)
        let events = try pollOnce(poll)
        #expect(events.map(\.token) == [Token(2)], "the new token, for the new interest")
        #expect(events.first?.isWritable == true)
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty)
        // Re-arming: reregister again reports the current readiness once more.
        try poll.registry.reregister(SourceFd(a), token: Token(3), interest: .writable)
        #expect(try pollOnce(poll).map(\.token) == [Token(3)])
    }

    @Test("deregister drops events already queued in the kernel")
    func deregisterDropsQueued() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.readEnd), token: Token(1), interest: .readable)
        pipe.write()
        try poll.registry.deregister(SourceFd(pipe.readEnd))
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty)
    }

    @Test("registering twice is alreadyRegistered")
    func doubleRegister() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.readEnd), token: Token(1), interest: .readable)
        expectError(.alreadyRegistered) {
            try poll.registry.register(SourceFd(pipe.readEnd), token: Token(2), interest: .readable)
        }
    }

    @Test("reregister or deregister of an unregistered fd is notRegistered")
    func unregistered() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        expectError(.notRegistered) {
            try poll.registry.reregister(SourceFd(pipe.readEnd), token: Token(1), interest: .readable)
        }
        expectError(.notRegistered) { try poll.registry.deregister(SourceFd(pipe.readEnd)) }
    }

    @Test("a regular file, a directory and /dev/null are notPollable")
    func notPollable() throws {
        let poll = try Poll()
        for path in ["/proc/self/status", "/tmp", "/dev/null"] {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            #expect(fd >= 0)
            defer { close(fd) }
            expectError(.notPollable) { try poll.registry.register(SourceFd(fd), token: Token(1), interest: .readable) }
        }
    }

    @Test("a closed fd is badDescriptor, the epoll fd itself is invalidArgument")
    func badAndSelf() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        let fd = pipe.readEnd
        pipe.closeReadEnd()
        expectError(.badDescriptor) { try poll.registry.register(SourceFd(fd), token: Token(1), interest: .readable) }
        expectError(.invalidArgument) {
            try poll.registry.register(SourceFd(poll.rawDescriptor), token: Token(1), interest: .readable)
        }
    }

    @Test("errors keep the errno and read like a sentence")
    func errorText() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        do {
            try poll.registry.deregister(SourceFd(pipe.readEnd))
            Issue.record("deregister of an unregistered fd succeeded")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.description == "epoll_ctl(DEL): the file descriptor is not registered (errno \(ENOENT))")
        }
    }

    @Test("tryClone registers into the same epoll instance, and outlives the Poll's use")
    func tryClone() throws {
        let poll = try Poll()
        let clone = try poll.registry.tryClone()
        let pipe = try Pipe()
        try clone.register(SourceFd(pipe.readEnd), token: Token(8), interest: .readable)
        pipe.write()
        #expect(try pollOnce(poll).map(\.token) == [Token(8)])
        expectError(.alreadyRegistered) { try poll.registry.register(SourceFd(pipe.readEnd), token: Token(8), interest: .readable) }
    }

    @Test("a Poll inside another Poll: the outer reports the inner as readable")
    func nestedPoll() throws {
        let outer = try Poll()
        let inner = try Poll()
        let pipe = try Pipe()
        try inner.registry.register(SourceFd(pipe.readEnd), token: Token(1), interest: .readable)
        try outer.registry.register(SourceFd(inner.rawDescriptor), token: Token(2), interest: .readable)
        pipe.write()
        #expect(try pollOnce(outer).map(\.token) == [Token(2)])
        // And the loop the other way round is refused.
        expectError(.loop) { try inner.registry.register(SourceFd(outer.rawDescriptor), token: Token(3), interest: .readable) }
    }
}
