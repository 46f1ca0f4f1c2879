import Testing
#if canImport(Glibc)
import Glibc
#endif
import MioCore
import MioSystem
import MioProtocol
@testable import MioServer

@Suite("Outbound: what a connection has yet to send")
struct OutboundTests {
    /// Reads what the peer end has, without waiting.
    func drain(_ fd: Int32) -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while case .done(let n)? = try? Sys.read(fd, into: &buffer, count: buffer.count), n > 0 {
            all += buffer.prefix(n)
        }
        return all
    }

    @Test("lines queued while the socket is full all arrive, in order, after compaction")
    func compactionKeepsOrder() throws {
        let (mine, peer) = try Sys.socketPair(flags: O_NONBLOCK)
        defer { Sys.close(mine); Sys.close(peer) }
        var outbound = Outbound()
        var expected: [UInt8] = []
        var received: [UInt8] = []
        for token in 0..<20_000 {
            let event = ReadinessEvent(token: Token(UInt64(token)), readiness: .readable)
            let before = outbound.writer.buffer.count
            outbound.writer.eventLine(event)
            outbound.writer.buffer.withUnsafeBytes { expected += $0[before...] }
            if token % 1000 == 999 {
                _ = outbound.flush(to: mine)
                received += drain(peer)
            }
        }
        while !outbound.isEmpty {
            _ = outbound.flush(to: mine)
            received += drain(peer)
        }
        #expect(received == expected)
    }

    @Test("past the byte cap it reports full; drained, not")
    func cap() throws {
        let (mine, peer) = try Sys.socketPair(flags: O_NONBLOCK)
        defer { Sys.close(mine); Sys.close(peer) }
        var outbound = Outbound()
        while !outbound.isFull { outbound.writer.reply(id: nil, .token(7)) }
        let pending = outbound.pendingByteCount  // Outbound is not copyable: #expect takes values
        #expect(pending >= Outbound.byteCap)
        while !outbound.isEmpty {
            _ = outbound.flush(to: mine)
            _ = drain(peer)
        }
        let full = outbound.isFull
        #expect(!full)
    }

    /// Writes `lines` event lines and sends them all; returns the buffer's capacity after.
    func burst(_ outbound: inout Outbound, lines: Int, _ mine: Int32, _ peer: Int32) -> Int {
        for token in 0..<lines {
            outbound.writer.eventLine(ReadinessEvent(token: Token(UInt64(token)), readiness: .readable))
        }
        while !outbound.isEmpty {
            _ = outbound.flush(to: mine)
            _ = drain(peer)
        }
        return outbound.writer.buffer.capacity
    }

    @Test("a burst's room is kept while bursts recur, given back once traffic is small")
    func roomAfterBursts() throws {
        let (mine, peer) = try Sys.socketPair(flags: O_NONBLOCK)
        defer { Sys.close(mine); Sys.close(peer) }
        var outbound = Outbound()
        let initial = outbound.writer.buffer.capacity
        let afterBurst = burst(&outbound, lines: 8000, mine, peer)
        #expect(afterBurst > 256 * 1024, "8000 lines need more than 256 KiB")
        for _ in 0..<10 {
            let small = burst(&outbound, lines: 1, mine, peer)
            #expect(small == afterBurst, "a few small sends keep the room")
        }
        #expect(burst(&outbound, lines: 8000, mine, peer) == afterBurst, "the next burst finds its room")
        var capacities: [Int] = []
        for _ in 0..<64 { capacities.append(burst(&outbound, lines: 1, mine, peer)) }
        #expect(capacities.dropLast().allSatisfy { $0 == afterBurst })
        #expect(capacities.last == initial, "the 64th small send in a row gives the room back")
    }
}
