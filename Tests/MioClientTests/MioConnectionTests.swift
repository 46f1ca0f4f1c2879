import Glibc
import MioClient
import MioCore
import MioProtocol
import Testing

@Suite("The Swift client against the real daemon", .serialized)
struct MioConnectionTests {
    @Test("register, events with their flags, list, stats, deregister; the daemon's fd count returns to baseline")
    func registerAndEvents() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let baseline = try daemon.idleFdCount()
        do {
            let connection = try MioConnection(path: daemon.socketPath)
            let pipe = TestPipe()
            try connection.register(fd: pipe.readEnd, token: 7, interest: .readable)
            #expect(try connection.next(timeout: .milliseconds(200)) == nil, "idle: no event")
            pipe.write()
            let event = try #require(try connection.next(timeout: .seconds(5)))
            #expect(event == .ready(ReadinessEvent(token: Token(7), readiness: .readable)))
            let listed = try connection.list()
            #expect(listed == [RegistrationInfo(token: Token(7), interest: .readable, mode: .edge, kind: "pipe")])
            let stats = try connection.stats()
            #expect(stats.registrations == 1 && stats.fdsHeld == 1 && stats.eventsDelivered >= 1)
            try connection.deregister(token: 7)
            pipe.write()
            #expect(try connection.next(timeout: .milliseconds(200)) == nil, "no event after deregister")
        }
        // The connection is gone: the daemon holds nothing of ours.
        let deadline = ContinuousClock.now + .seconds(3)
        while daemon.fdCount != baseline, ContinuousClock.now < deadline { usleep(10_000) }
        #expect(daemon.fdCount == baseline)
    }

    @Test("daemon errors arrive as typed errors with the protocol's code")
    func typedErrors() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let connection = try MioConnection(path: daemon.socketPath)
        #expect(throws: MioClientError.daemon(code: "unknown_token", message: "token 3 is not registered")) {
            try connection.deregister(token: 3)
        }
        let file = open("/etc/hostname", O_RDONLY | O_CLOEXEC)
        defer { close(file) }
        do {
            try connection.register(fd: file, token: 1, interest: .readable)
            Issue.record("a regular file was accepted")
        } catch {
            #expect(error.code == .notPollable)
        }
        try connection.ping()  // the connection goes on
    }

    @Test("fetch returns a working copy of the held fd")
    func fetch() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let connection = try MioConnection(path: daemon.socketPath)
        let pipe = TestPipe()
        try connection.register(fd: pipe.writeEnd, token: 2, interest: .writable)
        let copy = try connection.fetch(token: 2, deregister: true)
        defer { close(copy) }
        #expect(Glibc.write(copy, "hi", 2) == 2)
        var buffer = [UInt8](repeating: 0, count: 8)
        #expect(read(pipe.readEnd, &buffer, 8) == 2)
        #expect(try connection.list().isEmpty)
    }

    @Test("wakers, poll delivery, sessions, end")
    func wakerPollAndSessions() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let worker = try MioConnection(path: daemon.socketPath)
        try worker.hello(session: "worker", delivery: .poll)
        try worker.waker(token: 9)
        #expect(try worker.poll(timeout: .zero).isEmpty)
        let other = try MioConnection(path: daemon.socketPath)
        try other.wake(token: 9, session: "worker")
        let events = try worker.poll(timeout: .seconds(5))
        #expect(events.map(\.token) == [Token(9)])
        #expect(events.first?.readiness.contains(.readable) == true)
        #expect(throws: MioClientError.self) { try other.hello(session: "worker") }  // session_busy
        try worker.end()
        #expect(try worker.list().isEmpty)
    }

    @Test("the async event stream delivers events and ends when the daemon stops")
    func asyncStream() async throws {
        let daemon = try DaemonProcess()
        let connection = try MioConnection(path: daemon.socketPath)
        let pipe = TestPipe()
        try connection.register(fd: pipe.readEnd, token: 4, interest: .readable)
        pipe.write()
        var seen: [ClientEvent] = []
        var stopped = false
        for try await event in connection.eventStream {
            seen.append(event)
            if !stopped {
                stopped = true
                #expect(daemon.stop() == 0)
            }
        }
        #expect(seen.first == .ready(ReadinessEvent(token: Token(4), readiness: .readable)))
        #expect(seen.last == .shutdown)
    }

    @Test("no daemon: a clear error naming the path")
    func notRunning() {
        do {
            _ = try MioConnection(path: "/tmp/no-such-mio-daemon.sock")
            Issue.record("connected to nothing")
        } catch {
            #expect("\(error)".contains("/tmp/no-such-mio-daemon.sock"))
            #expect("\(error)".contains("start one"))
        }
    }
}
