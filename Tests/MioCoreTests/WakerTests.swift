import Glibc
import Testing
@testable import MioCore

@Suite("Waker")
struct WakerTests {
    @Test("a wake from another thread ends a poll blocked forever")
    func wakesBlockedPoll() async throws {
        let poll = try Poll()
        let waker = try Waker(registry: poll.registry, token: Token(99))
        let wakerThread = Thread {
            usleep(50_000)
            try? waker.wake()
        }
        wakerThread.start()
        var events = try Events(capacity: 4)
        try poll.poll(&events, timeout: nil)
        #expect(events.map(\.token) == [Token(99)])
        #expect(events.first?.isReadable == true)
    }

    @Test("many wakes before a poll coalesce into one event")
    func wakesCoalesce() throws {
        let poll = try Poll()
        let waker = try Waker(registry: poll.registry, token: Token(7))
        for _ in 0..<1000 { try waker.wake() }
        #expect(try pollOnce(poll).map(\.token) == [Token(7)])
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty)
        try waker.wake()
        #expect(try pollOnce(poll).map(\.token) == [Token(7)], "a later wake is a new event")
    }

    @Test("a wake at the counter's maximum resets it and still wakes")
    func counterOverflow() throws {
        let poll = try Poll()
        let waker = try Waker(registry: poll.registry, token: Token(7))
        var nearMax: UInt64 = 0xFFFF_FFFF_FFFF_FFFE
        #expect(write(waker.rawDescriptor, &nearMax, 8) == 8)
        _ = try pollOnce(poll)
        try waker.wake()  // would overflow: EAGAIN, reset, write again
        #expect(try pollOnce(poll).map(\.token) == [Token(7)])
    }
}

/// A bare pthread, so the test does not need Foundation.
final class Thread: @unchecked Sendable {
    private let body: @Sendable () -> Void
    private var handle = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func start() {
        let box = Unmanaged.passRetained(self)
        pthread_create(&handle, nil, { raw in
            let thread = Unmanaged<Thread>.fromOpaque(raw!).takeRetainedValue()
            thread.body()
            return nil
        }, box.toOpaque())
        pthread_detach(handle)
    }
}
