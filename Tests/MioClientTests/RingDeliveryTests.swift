import Foundation
import Glibc
import MioClient
import Testing

/// The Swift client in ring delivery (docs/protocol.md, "Ring delivery")
/// against the real daemon: the same `next` and `eventStream`, events from
/// the shared-memory ring.
@Suite("The Swift client reads the ring", .serialized)
struct RingDeliveryTests {
    /// A ring hello, and the inodes of its doorbell pipe and memfd as the
    /// daemon holds them (what it gained by the hello).
    private func ringHello(_ connection: MioConnection, _ daemon: DaemonProcess, session: String? = nil,
                           entries: Int? = nil) throws -> (reply: HelloReply, doorbell: String, mapping: String) {
        let pid = daemon.process.processIdentifier
        let pipesBefore = ProcessInspection.pipeInodes(pid), ringsBefore = ProcessInspection.ringMappings(pid)
        let reply = try connection.hello(session: session, delivery: .ring, ringEntries: entries)
        let doorbell = try #require(ProcessInspection.pipeInodes(pid).subtracting(pipesBefore).first)
        let mapping = try #require(ProcessInspection.ringMappings(pid).subtracting(ringsBefore).first)
        return (reply, doorbell, mapping)
    }

    /// Waits until the daemon has delivered `count` events in all (into
    /// the ring, unread: the client has not asked for them).
    private func delivered(_ count: UInt64, _ daemon: DaemonProcess) throws -> Bool {
        let probe = try MioConnection(path: daemon.socketPath, timeout: .seconds(5))
        return try eventually { try probe.stats().eventsDelivered >= count }
    }

    @Test("events of many tokens, a waker's and a hang-up's flags come from the ring through next()")
    func manyTokens() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let connection = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
        let (reply, _, mapping) = try ringHello(connection, daemon)
        #expect(reply.ringEntries == 4096)
        #expect(connection.delivery == .ring)
        #expect(ProcessInspection.ringMappings().contains(mapping), "the client maps the daemon's ring")
        #expect(ProcessInspection.memfdsHeld == 0, "the memfd is closed once mapped")
        let pipes = (0..<200).map { _ in TestPipe() }
        for (index, pipe) in pipes.enumerated() { try connection.register(fd: pipe.readEnd, token: Token(UInt64(index)), interest: .readable) }
        try connection.waker(token: 1000)
        #expect(try connection.next(timeout: .milliseconds(100)) == nil, "idle: no event")
        for pipe in pipes { pipe.write() }
        try connection.wake(token: 1000)
        var seen: [Token: Readiness] = [:]
        while seen.count < 201, let event = try connection.next(timeout: .seconds(5)) {
            guard case .ready(let ready) = event else { Issue.record("unexpected \(event)"); break }
            seen[ready.token, default: []].formUnion(ready.readiness)
        }
        #expect(seen.count == 201)
        #expect(seen.values.allSatisfy { $0.contains(.readable) })
        let hangUp = TestPipe()
        try connection.register(fd: hangUp.readEnd, token: 2000, interest: .readable)
        hangUp.closeWriteEnd()
        let closedEvent = try #require(try connection.next(timeout: .seconds(5)))
        #expect(closedEvent == .ready(ReadinessEvent(token: 2000, readiness: [.readClosed, .writeClosed])))
    }

    @Test("a ring of 64 records and a burst of 300 tokens: every token arrives (refill after overflow), twice")
    func smallRingLosesNothing() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let connection = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
        #expect(try ringHello(connection, daemon, entries: 64).reply.ringEntries == 64)
        let pipes = (0..<300).map { _ in TestPipe() }
        for (index, pipe) in pipes.enumerated() { try connection.register(fd: pipe.readEnd, token: Token(UInt64(index)), interest: .readable) }
        for round in 1...2 {
            for pipe in pipes { pipe.write() }
            // The daemon fills the ring and holds the rest coalesced until the client asks for a refill.
            #expect(try delivered(UInt64(300 * (round - 1) + 64), daemon))
            usleep(50_000)
            #expect(try connection.stats().eventsDelivered == UInt64(300 * (round - 1) + 64), "no more than a ring's worth before a refill")
            var seen = Set<Token>()
            while seen.count < 300, let event = try connection.next(timeout: .seconds(5)) {
                guard case .ready(let ready) = event else { Issue.record("unexpected \(event)"); break }
                seen.insert(ready.token)
                pipes[Int(ready.token.rawValue)].drain()
            }
            #expect(seen.count == 300, "round \(round)")
        }
    }

    @Test("deregister and fetch(deregister:) drop the token's records still in the ring (ring_head); others stay")
    func removalDropsStaleRecords() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let connection = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
        _ = try ringHello(connection, daemon)
        let pipes = (0..<3).map { _ in TestPipe() }
        for (index, pipe) in pipes.enumerated() { try connection.register(fd: pipe.readEnd, token: Token(UInt64(index + 1)), interest: .readable) }
        for pipe in pipes { pipe.write() }
        #expect(try delivered(3, daemon), "three records wait in the ring")
        try connection.deregister(token: 1)
        let copy = try connection.fetch(token: 3, deregister: true)
        close(copy)
        #expect(try connection.next(timeout: .seconds(5)) == .ready(ReadinessEvent(token: 2, readiness: .readable)))
        #expect(try connection.next(timeout: .milliseconds(200)) == nil, "nothing of tokens 1 and 3 after their removal")
        // The token can come back: its new records are not stale.
        try connection.register(fd: pipes[0].readEnd, token: 1, interest: .readable)
        #expect(try connection.next(timeout: .seconds(5)) == .ready(ReadinessEvent(token: 1, readiness: .readable)))
    }

    @Test("next() times out in ring delivery: nil after the timeout, at once with .zero")
    func timeouts() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let connection = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
        _ = try ringHello(connection, daemon)
        var started = ContinuousClock.now
        #expect(try connection.next(timeout: .milliseconds(300)) == nil)
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(290) && waited < .seconds(2), "waited \(waited)")
        started = ContinuousClock.now
        #expect(try connection.next(timeout: .zero) == nil)
        #expect(ContinuousClock.now - started < .milliseconds(100))
        let pipe = TestPipe()
        try connection.register(fd: pipe.readEnd, token: 9, interest: .readable)
        pipe.write()
        #expect(try delivered(1, daemon))
        #expect(try connection.next(timeout: .zero) == .ready(ReadinessEvent(token: 9, readiness: .readable)), ".zero takes what the ring holds")
        // Asleep on the doorbell: a record wakes next() long before its timeout.
        pipe.drain()
        let writeEnd = pipe.writeEnd
        let writer = Thread { usleep(100_000); _ = Glibc.write(writeEnd, "y", 1) }
        writer.start()
        started = ContinuousClock.now
        #expect(try connection.next(timeout: .seconds(5)) == .ready(ReadinessEvent(token: 9, readiness: .readable)))
        #expect(ContinuousClock.now - started < .seconds(2), "the doorbell woke next()")
    }

    @Test("eventStream over the ring wakes on the doorbell, requests go on beside it, shutdown comes last")
    func eventStreamOverRing() async throws {
        let daemon = try DaemonProcess()
        let connection = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
        _ = try ringHello(connection, daemon)
        let pipes = [TestPipe(), TestPipe()]
        for (index, pipe) in pipes.enumerated() { try connection.register(fd: pipe.readEnd, token: Token(UInt64(index + 1)), interest: .readable) }
        let seen = Collected()
        let consumer = Task {
            for try await event in connection.eventStream { seen.append(event) }
        }
        try await Task.sleep(for: .milliseconds(100))  // the reader is asleep on the doorbell
        pipes[0].write()
        #expect(eventually { seen.count == 1 }, "the doorbell woke the reader")
        try connection.ping()
        try await Task.sleep(for: .milliseconds(100))
        pipes[1].write()
        #expect(eventually { seen.count == 2 })
        #expect(daemon.stop() == 0)
        try await consumer.value
        #expect(seen.events == [.ready(ReadinessEvent(token: 1, readiness: .readable)),
                                .ready(ReadinessEvent(token: 2, readiness: .readable)), .shutdown])
    }

    @Test("close() unmaps the ring and closes the doorbell, with a stream reading; the daemon's fds return to baseline")
    func closeReleasesTheRing() async throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let baseline = try daemon.idleFdCount()
        let connection = try MioConnection(path: daemon.socketPath)
        let (_, doorbell, mapping) = try ringHello(connection, daemon)
        #expect(ProcessInspection.pipeInodes().contains(doorbell), "the client holds the doorbell")
        #expect(ProcessInspection.ringMappings().contains(mapping))
        let consumer = Task { () throws -> Int in
            var count = 0
            for try await _ in connection.eventStream { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(100))
        connection.close()
        #expect(try await consumer.value == 0)
        #expect(!ProcessInspection.pipeInodes().contains(doorbell), "the doorbell is closed")
        #expect(!ProcessInspection.ringMappings().contains(mapping), "the ring is unmapped")
        #expect(eventually { daemon.fdCount == baseline }, "daemon fds \(daemon.fdCount), baseline \(baseline)")
        #expect(ProcessInspection.ringMappings(daemon.process.processIdentifier).isEmpty, "the daemon let go of it too")
    }

    @Test("session_taken: the lost session's unread records are dropped, the ring let go of, stream delivery goes on")
    func sessionTaken() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let first = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
        let (_, doorbell, mapping) = try ringHello(first, daemon, session: "s")
        let pipe = TestPipe()
        try first.register(fd: pipe.readEnd, token: 1, interest: .readable)
        pipe.write()
        #expect(try delivered(1, daemon))
        let second = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
        try second.hello(session: "s", takeover: true)
        // A request reads the notice (it comes before the reply) without
        // taking from the ring: what the ring holds now is the lost session's.
        try first.ping()
        #expect(try first.next(timeout: .seconds(5)) == .sessionTaken)
        #expect(try first.next(timeout: .milliseconds(200)) == nil, "the old session's record is dropped")
        #expect(first.delivery == .stream)
        #expect(!ProcessInspection.pipeInodes().contains(doorbell) && !ProcessInspection.ringMappings().contains(mapping))
        let other = TestPipe()
        try first.register(fd: other.readEnd, token: 2, interest: .readable)
        other.write()
        #expect(try first.next(timeout: .seconds(5)) == .ready(ReadinessEvent(token: 2, readiness: .readable)))
    }

    @Test("a persistent session's readiness reaches the ring of the connection that attaches; a new hello keeps unread records; end lets go")
    func persistentSessionHelloAgainAndEnd() throws {
        let daemon = try DaemonProcess()
        defer { #expect(daemon.stop() == 0) }
        let pipe = TestPipe()
        do {
            let holder = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
            try holder.hello(session: "p", persist: true)
            try holder.register(fd: pipe.readEnd, token: 5, interest: .readable)
            holder.close()
        }
        #expect(try eventually { try MioConnection(path: daemon.socketPath).stats().connections == 1 })
        pipe.write()
        let connection = try MioConnection(path: daemon.socketPath, timeout: .seconds(10))
        let first = try ringHello(connection, daemon, session: "p")
        #expect(try delivered(1, daemon), "the waiting readiness went into the ring")
        let second = try ringHello(connection, daemon, session: "p", entries: 64)
        #expect(second.reply.ringEntries == 64)
        #expect(!ProcessInspection.ringMappings().contains(first.mapping) && ProcessInspection.ringMappings().contains(second.mapping))
        #expect(try connection.next(timeout: .seconds(5)) == .ready(ReadinessEvent(token: 5, readiness: .readable)),
                "the first ring's unread record is kept")
        pipe.drain()
        pipe.write()
        #expect(try connection.next(timeout: .seconds(5)) == .ready(ReadinessEvent(token: 5, readiness: .readable)), "through the new ring")
        try connection.end()
        #expect(connection.delivery == .stream)
        #expect(!ProcessInspection.pipeInodes().contains(second.doorbell) && ProcessInspection.ringMappings().isEmpty)
        let after = TestPipe()
        try connection.register(fd: after.readEnd, token: 6, interest: .readable)
        after.write()
        #expect(try connection.next(timeout: .seconds(5)) == .ready(ReadinessEvent(token: 6, readiness: .readable)), "stream delivery")
    }
}

/// Events a stream's task collected, read by the test meanwhile.
final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [ClientEvent] = []

    func append(_ event: ClientEvent) { lock.withLock { items.append(event) } }
    var events: [ClientEvent] { lock.withLock { items } }
    var count: Int { events.count }
}
