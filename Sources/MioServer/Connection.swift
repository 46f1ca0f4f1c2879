#if canImport(Glibc)
import Glibc
#endif
import MioCore
import Protocol

/// The peer of a connection, read with `SO_PEERCRED` at accept.
struct PeerCredentials {
    let pid: Int32
    let uid: UInt32
    let gid: UInt32
}

/// One client connection: its input (lines not yet processed, with their
/// fds), its output, and the session it speaks for.
final class Connection {
    let fd: Int32
    /// The daemon's epoll token for the socket (set once watched).
    var internalToken = Token(0)
    let peer: PeerCredentials
    let number: UInt64
    var session: Session

    var framer: LineFramer
    /// Complete lines not yet processed; their fds are owned here.
    var lines: [FramedLine] = []
    var lineIndex = 0
    var outbound = Outbound()

    /// The socket may have more to read (edge-triggered: read until EAGAIN).
    var readReady = true
    /// The client shut down its sending side: no more requests.
    var inputEnded = false
    /// The peer closed both directions: close once its last requests ran.
    var peerGone = false
    /// A `register` or `waker` happened on this connection (`hello` is then refused).
    var hasRegistered = false
    /// A `poll` waiting for events or its deadline; requests after it wait.
    var parkedPoll: ParkedPoll?
    var isClosed = false
    /// Already in the server's list of connections to service this turn.
    var isScheduled = false

    struct ParkedPoll {
        let id: RequestID?
        let deadline: MonotonicInstant?
        let maxEvents: Int
    }

    init(fd: Int32, peer: PeerCredentials, number: UInt64, session: Session,
         maxLine: Int, dispose: @escaping (Int32) -> Void) {
        self.fd = fd
        self.peer = peer
        self.number = number
        self.session = session
        self.framer = LineFramer(maxLine: maxLine, dispose: dispose)
    }

    var hasQueuedLines: Bool { lineIndex < lines.count }

    /// Takes the next queued line; its fds pass to the caller.
    func nextLine() -> FramedLine {
        let line = lines[lineIndex]
        lineIndex += 1
        if lineIndex == lines.count {
            lines.removeAll(keepingCapacity: true)
            lineIndex = 0
        }
        return line
    }

    /// The fds of every queued line not yet processed (taken away).
    func takeQueuedFds() -> [Int32] {
        var fds: [Int32] = []
        while hasQueuedLines { fds += nextLine().fds }
        return fds
    }
}
