import CMioLinux
import Glibc
import Testing
@testable import MioCore

@Suite("Event flags, mapped as mio maps epoll")
struct EventMappingTests {
    @Test("the mapping of docs/protocol.md, \"From epoll bits to flags\", bit by bit")
    func mapping() {
        func event(_ bits: UInt32) -> Event { Event(token: Token(0), epollEvents: bits) }
        #expect(event(CMIO_EPOLLIN).isReadable)
        #expect(event(CMIO_EPOLLPRI).isReadable)
        #expect(event(CMIO_EPOLLPRI).isPriority)
        #expect(!event(CMIO_EPOLLIN).isPriority)
        #expect(event(CMIO_EPOLLOUT).isWritable)
        #expect(!event(CMIO_EPOLLIN).isWritable)
        #expect(event(CMIO_EPOLLERR).isError)
        #expect(event(CMIO_EPOLLHUP).isReadClosed)
        #expect(event(CMIO_EPOLLIN | CMIO_EPOLLRDHUP).isReadClosed)
        #expect(!event(CMIO_EPOLLRDHUP).isReadClosed, "RDHUP without IN is not read-closed")
        #expect(event(CMIO_EPOLLHUP).isWriteClosed)
        #expect(event(CMIO_EPOLLOUT | CMIO_EPOLLERR).isWriteClosed)
        #expect(event(CMIO_EPOLLERR).isWriteClosed, "ERR alone")
        #expect(!event(CMIO_EPOLLERR | CMIO_EPOLLIN).isWriteClosed, "ERR with IN is not alone")
        #expect(!event(CMIO_EPOLLOUT).isWriteClosed)
        #expect(!event(CMIO_EPOLLIN).isAIO && !event(CMIO_EPOLLIN).isLIO)
        #expect(event(CMIO_EPOLLIN).description
            == "Event { token: Token(0), readable: true, writable: false, error: false, read_closed: false, write_closed: false, priority: false, aio: false, lio: false }")
    }

    @Test("pipe writer closed: read-closed, exactly once")
    func pipeWriterClosed() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.readEnd), token: Token(1), interest: .readable)
        pipe.closeWriteEnd()
        let events = try pollOnce(poll)
        #expect(events.count == 1)
        #expect(events.first?.isReadClosed == true)
        #expect(events.first?.isError == false)
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty, "exactly once")
    }

    @Test("pipe reader closed on a writable registration: write-closed and error")
    func pipeReaderClosed() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.writeEnd), token: Token(1), interest: .writable)
        #expect(try pollOnce(poll).first?.isWritable == true)
        pipe.closeReadEnd()
        let events = try pollOnce(poll)
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.isWriteClosed)
        #expect(event.isError)
        #expect(!event.isReadClosed)
    }

    @Test("socketpair shutdown(SHUT_WR) at the peer: read-closed")
    func socketShutdown() throws {
        let poll = try Poll()
        let (a, b) = try Sys.socketPair(flags: O_NONBLOCK)
        defer { close(a); close(b) }
        try poll.registry.register(SourceFd(a), token: Token(1), interest: .readable)
        shutdown(b, Int32(SHUT_WR))
        let event = try #require(try pollOnce(poll).first)
        #expect(event.isReadable)
        #expect(event.isReadClosed)
        #expect(!event.isWriteClosed)
    }

    @Test("a TCP out-of-band byte: priority (and readable, as in mio)")
    func tcpOutOfBand() throws {
        let poll = try Poll()
        let (client, server) = try tcpPair()
        defer { close(client); close(server) }
        try poll.registry.register(SourceFd(server), token: Token(1), interest: .readable | .priority)
        var byte: UInt8 = 0x21
        #expect(send(client, &byte, 1, Int32(MSG_OOB)) == 1)
        var priority = false
        for _ in 0..<20 where !priority {
            priority = try pollOnce(poll).contains { $0.token == Token(1) && $0.isPriority && $0.isReadable }
        }
        #expect(priority)
    }
}
