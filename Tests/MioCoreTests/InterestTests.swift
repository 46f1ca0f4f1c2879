import CMioLinux
import Glibc
import Testing
@testable import MioCore
import MioSystem

@Suite("Interest and mode")
struct InterestTests {
    @Test("interests combine, and removing the last one gives nil, never an empty interest")
    func noEmptyInterest() {
        let both = Interest.readable | .writable
        #expect(both.isReadable && both.isWritable && !both.isPriority)
        #expect(both.removing(.writable) == .readable)
        #expect(Interest.readable.removing(.readable) == nil)
        #expect(Interest.readable.removing(.writable) == .readable)
        #expect("\(Interest.readable.adding(.priority))" == "READABLE | PRIORITY")
        #expect("\(both)" == "READABLE | WRITABLE")
    }

    @Test("the kernel holds exactly the mask of each interest and mode", arguments: [
        (Interest.readable, Mode.edge, CMIO_EPOLLIN | CMIO_EPOLLRDHUP | CMIO_EPOLLET),
        (Interest.writable, Mode.edge, CMIO_EPOLLOUT | CMIO_EPOLLET),
        (Interest.priority, Mode.edge, CMIO_EPOLLPRI | CMIO_EPOLLET),
        (Interest.readable | .writable | .priority, Mode.edge,
         CMIO_EPOLLIN | CMIO_EPOLLRDHUP | CMIO_EPOLLOUT | CMIO_EPOLLPRI | CMIO_EPOLLET),
        (Interest.readable, Mode.oneshot, CMIO_EPOLLIN | CMIO_EPOLLRDHUP | CMIO_EPOLLET | CMIO_EPOLLONESHOT),
    ])
    func maskInFdinfo(interest: Interest, mode: Mode, expected: UInt32) throws {
        let poll = try Poll()
        let (a, b) = try Sys.socketPair(flags: O_NONBLOCK)
        defer { close(a); close(b) }
        try poll.registry.register(SourceFd(a), token: Token(1), interest: interest, mode: mode)
        // The kernel always adds EPOLLERR | EPOLLHUP to what it was given.
        let always = CMIO_EPOLLERR | CMIO_EPOLLHUP
        #expect(try epollMask(epfd: poll.rawDescriptor, fd: a) == expected | always)
        try poll.registry.reregister(SourceFd(a), token: Token(1), interest: .writable)
        #expect(try epollMask(epfd: poll.rawDescriptor, fd: a) == CMIO_EPOLLOUT | CMIO_EPOLLET | always)
    }
}
