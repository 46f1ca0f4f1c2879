import Glibc
import MioClient
import Testing

// This file imports MioClient alone: HelloReply, Token, Interest,
// ReadinessEvent, SessionInfo below come with it (re-exported).

@Suite("The Swift client: Sendable, eventStream, close, timeouts", .serialized)
struct ClientConcurrencyTests {
    @Test("one connection shared by many tasks: every request gets its own reply")
    func sharedBetweenTasks() async throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let connection = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
        let hello: HelloReply = try connection.hello(session: "shared")
        #expect(hello.session == "shared")
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { try (0..<50).reduce(0) { n, _ in try connection.ping(); return n + 1 } }
            }
            var total = 0
            for try await n in group { total += n }
            #expect(total == 400)
        }
        let sessions: [SessionInfo] = try connection.sessions()
        #expect(sessions.map(\.name) == ["shared"])
    }

    @Test("eventStream delivers events, requests go on beside it, and it ends at once when its task is cancelled")
    func streamAndCancellation() async throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let connection = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
        let pipe = TestPipe()
        try connection.register(fd: pipe.readEnd, token: Token(7), interest: .readable)
        let consumer = Task { () throws -> [ClientEvent] in
            var seen: [ClientEvent] = []
            for try await event in connection.eventStream { seen.append(event) }
            return seen
        }
        try await Task.sleep(for: .milliseconds(100))
        pipe.write()
        try connection.ping()  // a request while the stream's reader waits
        try await Task.sleep(for: .milliseconds(300))
        let started = ContinuousClock.now
        consumer.cancel()
        let seen = try await consumer.value
        #expect(ContinuousClock.now - started < .seconds(1), "cancellation ends the stream promptly")
        #expect(seen == [.ready(ReadinessEvent(token: Token(7), readiness: .readable))])
        try connection.ping()  // the connection outlives its stream
    }

    @Test("close() ends the connection for the daemon, for a stream, and for later calls")
    func closeEndsEverything() async throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let baseline = try daemon.idleFdCount()
        let connection = try MioConnection(path: daemon.socketPath)
        let consumer = Task { () throws -> Int in
            var count = 0
            for try await _ in connection.eventStream { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(100))
        connection.close()
        #expect(try await consumer.value == 0)
        #expect(throws: MioClientError.connectionClosed) { try connection.ping() }
        connection.close()  // idempotent
        let deadline = ContinuousClock.now + .seconds(5)
        while daemon.fdCount != baseline, ContinuousClock.now < deadline { usleep(10_000) }
        #expect(daemon.fdCount == baseline)
    }

    @Test("a request to a stopped daemon gives up after the connection's timeout")
    func requestTimeout() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let connection = try MioConnection(path: daemon.socketPath, timeout: .milliseconds(300))
        kill(daemon.process.processIdentifier, SIGSTOP)
        defer { kill(daemon.process.processIdentifier, SIGCONT) }
        let started = ContinuousClock.now
        #expect(throws: MioClientError.timedOut) { try connection.ping() }
        #expect(ContinuousClock.now - started < .seconds(2))
    }
}
