#if canImport(Glibc)
import Glibc
#endif
import MioCore
import MioSystem
import MioProtocol

/// Where ``MioConnection/next(timeout:)`` finds events: those kept by
/// requests first, then, in ring delivery, the ring (docs/protocol.md,
/// "Ring delivery"), then lines off the socket (event lines in stream
/// delivery; replies, notices and errors in both).
extension MioConnection {
    /// The next event, waiting up to `timeout` (nil: for ever); nil on timeout.
    public func next(timeout: Duration?) throws(MioClientError) -> ClientEvent? {
        try exchange { () throws(MioClientError) in try nextEvent(timeout: timeout) }
    }

    func nextEvent(timeout: Duration?) throws(MioClientError) -> ClientEvent? {
        if let event = events.popFirst() { return event }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        if ring != nil { return try nextFromRing(deadline: deadline) }
        return try nextFromSocket(deadline: deadline)
    }

    private func nextFromSocket(deadline: ContinuousClock.Instant?) throws(MioClientError) -> ClientEvent? {
        while true {
            let remaining = deadline.map { max(.zero, $0 - .now) }
            let received: ReceivedLine
            do {
                received = try readLine(timeout: remaining)
            } catch {
                if error == .timedOut { return nil }
                throw error
            }
            if let event = try event(of: received) { return event }
        }
    }

    /// The event a line brings, if any (a newer daemon's event: none).
    private func event(of received: ReceivedLine) throws(MioClientError) -> ClientEvent? {
        received.closeFds()
        switch received.line {
        case .event(let event): return .ready(event)
        case .notice(let notice):
            queueNotice(notice)
            return events.popFirst()
        case .unknown: return nil
        case .reply, nil: throw .protocolViolation("a reply with no request waiting for it")
        }
    }

    /// Ring delivery: the ring first, then what the socket brought. Sleeps
    /// only with the sleeping flag raised (and its second look), on the
    /// doorbell and the socket together.
    private func nextFromRing(deadline: ContinuousClock.Instant?) throws(MioClientError) -> ClientEvent? {
        var looked = false
        var timedOut = false
        while true {
            guard let ring else {  // a session_taken on the socket let it go: stream delivery
                if let event = events.popFirst() { return event }
                return try nextFromSocket(deadline: deadline)
            }
            try takeFromRing(ring)
            if let event = events.popFirst() { return event }
            while !lines.isEmpty {
                if let event = try event(of: try readLine(timeout: .zero)) { return event }
            }
            if closed { throw .connectionClosed }  // what the ring held came first
            if timedOut { return nil }
            let remaining = deadline.map { max(.zero, $0 - .now) }
            if remaining == .zero {
                if looked { return nil }
                looked = true
                try service(ring, timeout: .zero, armed: false)
            } else if ring.arm() {
                // Nothing came in time: one last look at the ring, then nil.
                if try !service(ring, timeout: remaining, armed: true) { timedOut = true }
            }
        }
    }

    /// Waits up to `timeout` for the doorbell or the socket; then lowers
    /// the flag (`armed`), clears the doorbell, and reads the socket once.
    /// False when neither came in time.
    @discardableResult
    func service(_ ring: RingReader, timeout: Duration?, armed: Bool) throws(MioClientError) -> Bool {
        let ready: [Bool]
        do {
            ready = try Sys.waitReadable(anyOf: [fd, ring.doorbell], timeout: timeout)
        } catch {
            if armed { ring.disarm() }
            throw .system(error)
        }
        if armed { ring.disarm() }
        if ready[1] { ring.clearDoorbell() }
        if ready[0] { try receiveOnce() }
        return ready[0] || ready[1]
    }

    /// One read of the socket that was found readable. Its end is kept as
    /// `closed` for the caller to report once the ring is read.
    func receiveOnce() throws(MioClientError) {
        do {
            try receive(wait: false)
        } catch {
            guard error == .connectionClosed else { throw error }
            closed = true
        }
    }
}
