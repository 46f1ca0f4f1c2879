import Glibc
import Testing
@testable import MioCore
import MioSystem

@Suite("Poll timeouts")
struct PollTimeoutTests {
    @Test("an empty poll with a zero timeout returns at once, with no events")
    func zeroTimeoutReturnsAtOnce() throws {
        let poll = try Poll()
        var events = try Events(capacity: 8)
        let clock = ContinuousClock()
        let elapsed = try clock.measure { try poll.poll(&events, timeout: .zero) }
        #expect(events.isEmpty)
        // Generous: "at once" means not waiting on a timer, on a noisy machine.
        #expect(elapsed < .milliseconds(200))
    }

    @Test("a sub-millisecond timeout waits rather than rounding down to zero")
    func subMillisecondTimeoutWaits() throws {
        let poll = try Poll()
        var events = try Events(capacity: 8)
        let clock = ContinuousClock()
        let elapsed = try clock.measure { try poll.poll(&events, timeout: .microseconds(100)) }
        #expect(events.isEmpty)
        #expect(elapsed >= .microseconds(900), "waited only \(elapsed)")
    }

    @Test("timeouts round up to whole milliseconds; nil is forever")
    func rounding() {
        #expect(Sys.milliseconds(rounding: nil) == -1)
        #expect(Sys.milliseconds(rounding: .zero) == 0)
        #expect(Sys.milliseconds(rounding: .nanoseconds(1)) == 1)
        #expect(Sys.milliseconds(rounding: .microseconds(100)) == 1)
        #expect(Sys.milliseconds(rounding: .milliseconds(1)) == 1)
        #expect(Sys.milliseconds(rounding: .microseconds(1001)) == 2)
        #expect(Sys.milliseconds(rounding: .seconds(3)) == 3000)
        #expect(Sys.milliseconds(rounding: .seconds(-1)) == 0)
        #expect(Sys.milliseconds(rounding: .seconds(Int64.max / 2)) == Int32.max)
    }

    @Test("nothing is reported while idle")
    func noEventWhileIdle() throws {
        let poll = try Poll()
        let pipe = try Pipe()
        try poll.registry.register(SourceFd(pipe.readEnd), token: Token(1), interest: .readable)
        #expect(try pollOnce(poll, timeout: .milliseconds(20)).isEmpty)
    }
}
