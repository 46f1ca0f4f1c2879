import MioSystem
import MioProtocol

/// A client's fd that the daemon holds. Noncopyable: it has one owner at a
/// time (a request being handled, a registration, a queued `fetch` reply),
/// moves between them, and is closed exactly once, when the last owner lets
/// go of it, unless it was handed on to the kernel (``release()``).
struct ClientFd: ~Copyable {
    /// The fd, for system calls that only look at it (epoll, fstat).
    let raw: Int32
    /// Its kind is one that closes without waiting (a pollable fd, not a
    /// regular file on a network filesystem): closed here, not by the helper thread.
    let closesAtOnce: Bool

    init(adopting raw: Int32, closesAtOnce: Bool = false) {
        self.raw = raw
        self.closesAtOnce = closesAtOnce
    }

    /// The same fd, known to close without waiting (its kind was checked).
    consuming func knownPollable() -> ClientFd {
        ClientFd(adopting: release(), closesAtOnce: true)
    }

    /// Gives up ownership: the caller passes the fd on (SCM_RIGHTS, the fd
    /// store) or closes it.
    consuming func release() -> Int32 {
        let fd = raw
        discard self
        return fd
    }

    deinit {
        if closesAtOnce {
            Sys.close(raw)
        } else {
            ClientFdCloser.shared.close(raw)
        }
    }
}

/// The fds that came with one request line. A handler takes the one it
/// uses (``take()``); whatever no handler took is closed when this goes, as
/// sd-varlink closes the fds no method took.
struct AttachedFds: ~Copyable {
    /// As the line has them: read, never changed.
    private let fds: LineFds
    /// `fds[next...]` are still held here.
    private var next = 0

    init(_ fds: LineFds) { self.fds = fds }

    var count: Int { fds.count - next }

    /// The first fd still held, now the caller's; nil when none is left.
    mutating func take() -> ClientFd? {
        guard next < fds.count else { return nil }
        next += 1
        return ClientFd(adopting: fds[next - 1])
    }

    deinit {
        // Most often every fd was taken: then not even the closer is looked up.
        if next < fds.count { ClientFdCloser.shared.close(fds[next...]) }
    }
}

/// Fds of the daemon's that go to a client beside one reply line, alone in
/// its `sendmsg()`: a fetched fd, or a ring and its doorbell. Closed if
/// they never go.
struct OutgoingFds: ~Copyable {
    private var fds: [Int32]
    /// Whether closing them never waits; else (a regular file: every close
    /// of one flushes, on NFS too) the closer thread closes them.
    let closeAtOnce: Bool

    init(_ fd: consuming ClientFd) {
        closeAtOnce = fd.closesAtOnce
        fds = [fd.release()]
    }

    /// Fds the daemon made for the client (closed at once when let go).
    init(adopting fds: [Int32]) {
        self.fds = fds
        closeAtOnce = true
    }

    /// Gives them up: the caller sends them, then closes them with ``close(_:atOnce:)``.
    consuming func release() -> [Int32] {
        let all = fds
        fds = []
        return all
    }

    /// Closes the daemon's copies once sent (or never sent): here, or on
    /// the closer thread when a close may wait.
    static func close(_ fds: [Int32], atOnce: Bool) {
        if atOnce {
            for fd in fds { Sys.close(fd) }
        } else {
            ClientFdCloser.shared.close(fds)
        }
    }

    deinit {
        Self.close(fds, atOnce: closeAtOnce)
    }
}
