import Glibc
import Testing
@testable import MioCore

@Suite("Events buffer")
struct EventsTests {
    @Test("capacity 0 is refused at creation with a clear error")
    func zeroCapacityRefused() {
        expectError(.invalidArgument) { _ = try Events(capacity: 0) }
        do {
            _ = try Events(capacity: 0)
        } catch {
            #expect("\(error)".contains("capacity must be at least 1"))
        }
    }

    @Test("capacity 1 rotates through three ready sources, one per poll")
    func capacityOneRotates() throws {
        let poll = try Poll()
        let pipes = try (0..<3).map { _ in try Pipe() }
        for (i, pipe) in pipes.enumerated() {
            try poll.registry.register(SourceFd(pipe.readEnd), token: Token(UInt64(i)), interest: .readable)
            pipe.write()
        }
        var seen: [UInt64] = []
        var events = try Events(capacity: 1)
        for _ in 0..<3 {
            try poll.poll(&events, timeout: .milliseconds(100))
            #expect(events.count == 1)
            seen += events.map(\.token.rawValue)
        }
        #expect(Set(seen) == [0, 1, 2])
        try poll.poll(&events, timeout: .zero)
        #expect(events.isEmpty, "edge-triggered: every edge was already reported")
    }

    @Test("clear empties the buffer and keeps its capacity")
    func clear() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.readEnd), token: Token(9), interest: .readable)
        pipe.write()
        var events = try Events(capacity: 4)
        try poll.poll(&events, timeout: .milliseconds(100))
        #expect(events.count == 1)
        #expect(events.first?.token == Token(9))
        events.clear()
        #expect(events.isEmpty)
        #expect(events.capacity == 4)
    }
}
