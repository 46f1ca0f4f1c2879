#if canImport(Glibc)
import Glibc
#endif
import MioCore
import MioSystem
import MioProtocol

/// Ring delivery on the connection (docs/protocol.md, "Ring delivery"): the
/// ring a `hello` reply brought attached and let go of again, what replies
/// and notices do to it, and the newline that asks the daemon to refill it.
/// All under the connection's lock.
extension MioConnection {
    /// The delivery the daemon uses for this connection now: what the last
    /// successful `hello` chose, `.stream` again after `end` or a takeover.
    public var delivery: Delivery { lock.withLock { deliveryInForce } }

    /// A `hello` succeeded: the daemon has let go of any earlier ring, whose
    /// unread records are events all the same (kept for ``next(timeout:)``);
    /// with ring delivery, its new ring is mapped.
    func helloSucceeded(_ reply: HelloReply, delivery: Delivery, ringEntries: Int?, fds: [Int32]) throws(MioClientError) {
        detachRing(keepingRecords: true)
        deliveryInForce = delivery
        guard delivery == .ring else {
            for fd in fds { Sys.close(fd) }
            return
        }
        // From here the daemon writes our events into that ring: one we
        // cannot read leaves the connection useless.
        guard fds.count == 2, ringEntries == nil || reply.ringEntries == nil || ringEntries == reply.ringEntries else {
            for fd in fds { Sys.close(fd) }
            abandon()
            throw .protocolViolation("the ring hello reply came with \(fds.count) fds, not 2, or another ring size")
        }
        do {
            ring = try RingReader(memfd: fds[0], doorbell: fds[1], entries: reply.ringEntries ?? ringEntries)
        } catch {
            abandon()
            throw error
        }
        nudgeReaders()  // a stream's reader sleeping on the socket alone must now watch the doorbell
    }

    /// Lets go of the ring. `keepingRecords`: its unread records go to the
    /// queue first (a later `hello`); else they are dropped with it (`end`,
    /// `session_taken`: they are the old session's).
    func detachRing(keepingRecords: Bool) {
        guard let ring else { return }
        if keepingRecords { drainRing(ring) }
        ring.close()
        self.ring = nil
        nudgeReaders()
    }

    /// Every unread record into the queue (stopping at a broken ring).
    private func drainRing(_ ring: RingReader) {
        while ring.hasUnread, ring.take({ events.append(.ready($0)) }) {}
    }

    /// One batch of records from the ring into the queue, and the refill
    /// asked for if the ring overflowed.
    func takeFromRing(_ ring: RingReader) throws(MioClientError) {
        guard ring.take({ events.append(.ready($0)) }) else {
            abandon()
            throw .protocolViolation("the ring's head is more than a ring ahead of its tail")
        }
        if ring.refillOwed { sendRefill(ring) }
    }

    /// The blank line that makes the daemon refill the ring from what it
    /// holds coalesced. Still owed if the send timed out (SO_SNDTIMEO).
    private func sendRefill(_ ring: RingReader) {
        var newline: UInt8 = 0x0A
        switch try? Sys.send(fd, from: &newline, count: 1) {
        case .wouldBlock?: return
        default: ring.refillOwed = false  // sent, or the connection is gone: reading it tells why
        }
    }

    /// A notice read off the socket, queued after what it means for the
    /// ring: after `session_taken` nothing of the lost session's ring is
    /// read (docs/protocol.md, "Ring delivery"); before `shutdown`, what the
    /// ring holds comes first.
    func queueNotice(_ notice: Notice) {
        switch notice {
        case .sessionTaken:
            detachRing(keepingRecords: false)
            deliveryInForce = .stream
        case .shutdown:
            if let ring { drainRing(ring) }
        }
        events.append(ClientEvent(notice))
    }

    /// After the reply that removed `token`: its kept events are dropped,
    /// and so are its records in the ring below the reply's `ring_head`.
    func tokenRemoved(_ token: Token, by reply: ReplyBody) {
        events.dropEvents(of: token)
        guard let ring else { return }
        var ringHead = UInt64.max  // no ring_head: the producer's position now bounds them
        if case .removal(_, let head) = reply { ringHead = head }
        ring.tokenRemoved(token, ringHead: ringHead)
    }

    /// `end` of this connection's session: after its reply nothing more is
    /// written to the ring, so all it holds is the ended session's.
    func ownSessionEnded() {
        events.dropEvents(of: nil)
        detachRing(keepingRecords: false)
        deliveryInForce = .stream
    }

    /// The ring cannot be read: the connection is closed for the daemon
    /// (its events would go nowhere), and every later call says so.
    private func abandon() {
        detachRing(keepingRecords: false)
        closed = true
        releaseLock.withLock { if !fdReleased { Sys.shutdownBoth(fd) } }
    }

    func nudgeReaders() {
        for nudge in readerNudges.values { nudge.raise() }
    }
}
