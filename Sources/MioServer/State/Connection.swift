import MioCore
import MioProtocol

/// The peer of a connection, read with `SO_PEERCRED` at accept.
struct PeerCredentials {
    let pid: Int32
    let uid: UInt32
    let gid: UInt32
}

/// One client connection: its input (lines not yet processed, with their
/// fds), its output, and the session it speaks for.
final class Connection {
    /// How far its input has come. The socket is watched level-triggered:
    /// a read that comes back short may end a turn's reading, and epoll
    /// reports what is left at the next look.
    enum Input: Equatable {
        /// The socket may have more to read.
        case readable
        /// Read until a read came back short (or `EAGAIN`): epoll says when
        /// there is more.
        case drained
        /// The peer closed both directions: read what is left, answer it, close.
        case peerClosed
        /// The client shut down its sending side: no more requests; events
        /// still go out (docs/protocol.md, "Connecting and framing").
        case ended
    }

    /// A `poll` waiting for events or its deadline.
    struct ParkedPoll {
        let id: RequestID?
        let deadline: MonotonicInstant?
        let maxEvents: Int
    }

    enum State {
        /// Requests are read and answered.
        case open(Input)
        /// A `poll` waits; requests after it wait behind it.
        case parked(ParkedPoll, Input)
        case closed
    }

    let fd: Int32
    /// The daemon's epoll token for the socket (set once watched).
    var internalToken = Token(0)
    /// What epoll watches on the socket, level-triggered (``Server/updateWatch(_:)``):
    /// input from the start.
    var watchedInterest: Interest? = .readable
    /// The last send left output waiting for room in the socket.
    var outputWaitsForRoom = false
    let peer: PeerCredentials
    let number: UInt64
    var session: Session
    private(set) var state: State = .open(.readable)
    /// A `register` or `waker` ran on this connection: `hello` may no longer
    /// change its session.
    var hasRegistered = false
    /// The event ring, with ring delivery (made by `hello`, gone with the connection).
    var ring: EventRing?
    /// Its place in the delivery queue's lists (read by `DeliveryQueue` only).
    var queueMark = DeliveryQueue.ConnectionMark()

    private(set) var framer: LineFramer
    /// Complete lines not yet processed; their fds are owned here.
    private var lines: [FramedLine] = []
    private var lineIndex = 0
    /// The fds of `lines[lineIndex...]`.
    private var queuedLineFds = 0
    private var outbound = Outbound()
    /// Its unclaimed fds as the daemon-wide count has them (``Server/account(_:)``).
    var countedInFlight = 0
    /// Fds came in or were queued out since the count was last taken: most
    /// connections never carry one, and their accounting costs nothing.
    var mayHoldFds = false

    init(fd: Int32, peer: PeerCredentials, number: UInt64, session: Session, maxLine: Int) {
        self.fd = fd
        self.peer = peer
        self.number = number
        self.session = session
        self.framer = LineFramer(maxLine: maxLine, dispose: { ClientFdCloser.shared.close($0) })
    }

    // MARK: - State

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    var input: Input? {
        switch state {
        case .open(let input), .parked(_, let input): return input
        case .closed: return nil
        }
    }

    var parkedPoll: ParkedPoll? {
        if case .parked(let poll, _) = state { return poll }
        return nil
    }

    /// Whether the next request may run now: open, no `poll` waiting, and
    /// replies under the cap (docs/protocol.md, "Delivery, backpressure and coalescing").
    var canProcess: Bool {
        if case .open = state { return !outbound.isFull }
        return false
    }

    /// Whether a `recvmsg` may find more input.
    var mayRead: Bool { input == .readable || input == .peerClosed }

    /// Whether its input should be watched: requests may be read and run
    /// now. Otherwise unread input would be reported at every look.
    var wantsInput: Bool {
        canProcess && input != .ended
    }

    func setInput(_ input: Input) {
        switch state {
        case .open: state = .open(input)
        case .parked(let poll, _): state = .parked(poll, input)
        case .closed: break
        }
    }

    func park(_ poll: ParkedPoll) {
        guard case .open(let input) = state else { return }
        state = .parked(poll, input)
    }

    /// Ends a parked poll: requests run again. Returns the poll that waited.
    func unpark() -> ParkedPoll? {
        guard case .parked(let poll, let input) = state else { return nil }
        state = .open(input)
        return poll
    }

    /// Marks the connection closed and gives back what it still owned: the
    /// fds of lines never processed (closed), and unsent output (dropped).
    func markClosed() {
        state = .closed
        var fds: [Int32] = []
        while hasQueuedLines { fds.append(contentsOf: nextLine().fds) }
        ClientFdCloser.shared.close(fds)
        framer.finish()
        outbound.discard()
        ring = nil
    }

    /// Fds it holds that no request has claimed yet: on lines not yet ended
    /// or not yet processed, and waiting to go out with `fetch` replies.
    var unclaimedFdCount: Int { framer.heldFdCount + queuedLineFds + outbound.fdCount }

    // MARK: - Input

    var hasQueuedLines: Bool { lineIndex < lines.count }

    /// One `recvmsg`'s bytes and fds, cut into lines (the fds go to the
    /// line the attachment rule names).
    func receive(_ bytes: UnsafeRawBufferPointer, fds: LineFds) {
        if !fds.isEmpty { mayHoldFds = true }
        // Every line taken was processed before this read: their bytes go.
        if lines.isEmpty { framer.forgetLines() }
        let before = lines.count
        framer.push(bytes, fds: fds, into: &lines)
        for index in before..<lines.count { queuedLineFds += lines[index].fds.count }
    }

    /// The end of input: an unfinished line is dropped, its fds closed.
    func endInput() {
        framer.finish()
    }

    /// Closes the fds held for the unfinished line (the daemon's fd budget
    /// is spent); the line is refused when it ends.
    func refuseUnfinishedLineFds() {
        framer.refuseHeldFds()
    }

    /// The bytes of a request line taken with ``nextLine()``, valid until
    /// the next ``receive(_:fds:)``.
    func bytes(of range: Range<Int>) -> UnsafeRawBufferPointer { framer.bytes(of: range) }

    /// Takes the next queued line; its fds pass to the caller.
    func nextLine() -> FramedLine {
        let line: FramedLine
        if lineIndex == lines.count - 1 {
            // The last one (mostly the only one) is moved out, not copied:
            // a copy costs a retain now and a release when emptied.
            line = lines.removeLast()
            lines.emptyFromEnd()
            lineIndex = 0
        } else {
            line = lines[lineIndex]
            lineIndex += 1
        }
        queuedLineFds -= line.fds.count
        return line
    }

    // MARK: - Output

    func queueReply(_ id: RequestID?, _ body: ReplyBody) {
        outbound.writer.reply(id: id, body)
    }

    /// A reply line that goes out alone with `fds`, in one `sendmsg()`.
    func queueReply(_ id: RequestID?, _ body: ReplyBody, passing fds: consuming OutgoingFds) {
        mayHoldFds = true
        outbound.appendReply(passing: fds) { $0.reply(id: id, body) }
    }

    func queueFailure(_ id: RequestID?, _ error: ProtocolError) {
        outbound.writer.failure(id: id, error)
    }

    @inline(__always)
    func queueEvent(_ event: ReadinessEvent) {
        outbound.writer.eventLine(event)
    }

    func queueNotice(_ notice: Notice) {
        outbound.writer.notice(notice)
    }

    var hasUnsentOutput: Bool { !outbound.isEmpty }

    /// Whether an event line may be written now, in the middle of a turn:
    /// the socket took all it was given, the output is under its cap, and
    /// the peer is still there to read it (a hang-up leaves readiness
    /// pending for the session's next connection).
    var takesEventLinesAtOnce: Bool {
        guard !outputWaitsForRoom, !isOutputFull else { return false }
        switch input {
        case .readable?, .drained?, .ended?: return true
        case .peerClosed?, nil: return false
        }
    }
    var isOutputFull: Bool { outbound.isFull }

    /// Sends what it can of the queued output.
    func sendQueued() -> Outbound.FlushResult {
        outbound.flush(to: fd)
    }
}
