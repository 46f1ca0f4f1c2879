#if canImport(Glibc)
import Glibc
#endif
import MioCore
import MioSystem
import MioProtocol

/// What a connection has yet to send: reply and event lines, and the fds of
/// `fetch` replies, each of which goes out alone in its own `sendmsg()`
/// together with its reply line (docs/protocol.md, "Operations", `fetch`).
struct Outbound: ~Copyable {
    /// Replies past this many unsent bytes stop the reading of a
    /// connection's requests until it drains (docs/protocol.md, "Delivery,
    /// backpressure and coalescing").
    static let byteCap = 1 << 20
    /// Likewise for fds waiting to go out with `fetch` replies: each is an
    /// fd of the daemon's, so a client that asks and never reads must not
    /// pile them up.
    static let fdCap = 64

    /// Lines are appended here by the JSON writer.
    var writer = JSONWriter(capacity: Self.initialCapacity)
    private static let initialCapacity = 16 * 1024
    /// Bytes of `writer.buffer` already sent.
    private var sent = 0
    /// Times in a row the buffer emptied having held under an eighth of its
    /// capacity; at ``shrinkAfterSmallSends`` a burst's room is given back.
    private var smallSends = 0
    /// The most the buffer held since it was last empty.
    private var peakCount = 0
    /// A connection whose bursts come each round (a fanout writes a line
    /// per token) keeps its room: giving it back and growing it again cost
    /// a tenth of a 4096-pipe fanout's time, in page faults and copies.
    /// One whose traffic has fallen to single lines gives it back soon.
    private static let shrinkAfterSmallSends = 64
    /// Room past this is given back whenever the buffer empties.
    private static let roomKeptAtMost = 4 * byteCap
    /// Fetch replies: the byte range of the line and the fd to pass with it
    /// (owned here until sent, closed after).
    private var fdLines: [(start: Int, end: Int, fds: [Int32], closeAtOnce: Bool)] = []

    var pendingByteCount: Int { writer.buffer.count - sent }
    /// Fds waiting to go out with their replies.
    private(set) var fdCount = 0
    var isEmpty: Bool { pendingByteCount == 0 }
    /// Past a cap of bytes or of fds: the connection's requests wait.
    var isFull: Bool { pendingByteCount >= Self.byteCap || fdLines.count >= Self.fdCap }

    /// Appends a reply line that carries `fds`; they are owned here until
    /// sent (then closed: the client has its own copies) or discarded.
    mutating func appendReply(passing fds: consuming OutgoingFds, _ write: (inout JSONWriter) -> Void) {
        let start = writer.buffer.count
        write(&writer)
        let closeAtOnce = fds.closeAtOnce
        let owned = fds.release()
        fdCount += owned.count
        fdLines.append((start, writer.buffer.count, owned, closeAtOnce))
    }

    enum FlushResult { case drained, wouldBlock, failed(MioError) }

    /// Sends as much as the socket takes.
    mutating func flush(to socket: Int32) -> FlushResult {
        defer { compact() }
        while sent < writer.buffer.count {
            let result: IOResult<Int>
            do throws(MioError) {
                result = try sendNext(socket)
            } catch {
                return .failed(error)
            }
            switch result {
            case .wouldBlock: return .wouldBlock
            case .done(let n): sent += n
            }
        }
        return .drained
    }

    private mutating func sendNext(_ socket: Int32) throws(MioError) -> IOResult<Int> {
        if let first = fdLines.first, first.start == sent {
            // The fetch line, alone, with its fd. The fd travels with the
            // first byte; if the send is short, the rest goes out plainly.
            let result = try send(socket, upTo: first.end, fds: first.fds)
            if case .done = result {
                OutgoingFds.close(first.fds, atOnce: first.closeAtOnce)
                fdCount -= first.fds.count
                fdLines.removeFirst()
            }
            return result
        }
        return try send(socket, upTo: fdLines.first?.start ?? writer.buffer.count, fds: [])
    }

    private func send(_ socket: Int32, upTo end: Int, fds: [Int32]) throws(MioError) -> IOResult<Int> {
        try writer.buffer.withUnsafeBytes { (bytes) throws(MioError) -> IOResult<Int> in
            try Sys.send(socket, from: bytes.baseAddress! + sent, count: end - sent, fds: fds)
        }
    }

    /// Drops sent bytes once they are the larger part of the buffer.
    private mutating func compact() {
        if sent == writer.buffer.count {
            if sent == 0 { return }
            let capacity = writer.buffer.capacity
            let held = max(peakCount, sent)
            peakCount = 0
            smallSends = capacity > Self.initialCapacity && held < capacity / 8 ? smallSends + 1 : 0
            let givesRoomBack = smallSends >= Self.shrinkAfterSmallSends || capacity > Self.roomKeptAtMost
            if givesRoomBack { smallSends = 0 }
            writer.buffer.removeAll(keepingCapacityUpTo: givesRoomBack ? Self.initialCapacity : capacity,
                                    elseShrinkingTo: Self.initialCapacity)
            sent = 0
        } else if sent > 64 * 1024 && sent * 2 > writer.buffer.count {
            peakCount = max(peakCount, writer.buffer.count)
            writer.buffer.removeFirst(sent)
            for index in fdLines.indices {
                fdLines[index].start -= sent
                fdLines[index].end -= sent
            }
            sent = 0
        }
    }

    /// The connection is gone: close the fds that were never sent.
    mutating func discard() {
        for line in fdLines { OutgoingFds.close(line.fds, atOnce: line.closeAtOnce) }
        fdLines = []
        fdCount = 0
        writer.buffer.removeAll(keepingCapacityUpTo: 0, elseShrinkingTo: 0)
        sent = 0
    }
}
