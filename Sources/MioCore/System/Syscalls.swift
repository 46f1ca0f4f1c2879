#if canImport(Glibc)
import Glibc
#endif
import CMioLinux

/// The result of a non-blocking call: done, or it would have blocked.
///
/// Would-block is not an error on a non-blocking fd, so it is kept out of
/// `throws` (as SwiftNIO's `IOResult`).
package enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

/// Every system call of the project, wrapped once, here.
///
/// Each wrapper retries `EINTR` (except ``epollWait``, which surfaces it as
/// mio does), returns would-block as ``IOResult/wouldBlock``, and throws
/// every other failure as a ``MioError`` that names the call.
package enum Sys {
    // MARK: - The one retry loop

    @inline(__always)
    static func retrying<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(MioError) -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw MioError(errno: code, operation: operation())
        }
    }

    @inline(__always)
    static func nonBlocking<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(MioError) -> IOResult<T> {
        while true {
            let result = body()
            if result >= 0 { return .done(result) }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw MioError(errno: code, operation: operation())
        }
    }

    // MARK: - File descriptors

    /// Closes `fd`. On Linux the fd is released even when `close` reports
    /// `EINTR` or `EIO`, so there is nothing to retry and nothing to report.
    package static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// `pipe2(O_CLOEXEC | flags)`: (read end, write end).
    package static func pipe(flags: Int32 = 0) throws(MioError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        _ = try retrying("pipe2") { cmio_pipe2(&fds, O_CLOEXEC | flags) }
        return (fds[0], fds[1])
    }

    /// `eventfd(initial, EFD_CLOEXEC | EFD_NONBLOCK)`.
    package static func eventfd(initial: UInt32 = 0) throws(MioError) -> Int32 {
        try retrying("eventfd") { cmio_eventfd(initial, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK)) }
    }

    package static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) throws(MioError) -> IOResult<Int> {
        try nonBlocking("read") { Glibc.read(fd, buffer, count) }
    }

    package static func write(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int) throws(MioError) -> IOResult<Int> {
        try nonBlocking("write") { Glibc.write(fd, buffer, count) }
    }

    package static func fstat(_ fd: Int32) throws(MioError) -> stat {
        var info = stat()
        _ = try retrying("fstat") { Glibc.fstat(fd, &info) }
        return info
    }

    /// `fcntl(F_GETFL)`: the file status flags (`O_PATH`, `O_NONBLOCK`, …).
    package static func statusFlags(_ fd: Int32) throws(MioError) -> Int32 {
        try retrying("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
    }

    package static func setNonBlocking(_ fd: Int32) throws(MioError) {
        let flags = try statusFlags(fd)
        _ = try retrying("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    /// `fcntl(F_DUPFD_CLOEXEC)`.
    package static func duplicate(_ fd: Int32) throws(MioError) -> Int32 {
        try retrying("fcntl(F_DUPFD_CLOEXEC)") { fcntl(fd, F_DUPFD_CLOEXEC, 0) }
    }

    /// `dup2(fd, target)`: `target` becomes a copy of `fd` without
    /// close-on-exec (or, when they are the same, loses close-on-exec).
    package static func duplicate(_ fd: Int32, to target: Int32) throws(MioError) {
        if fd == target {
            _ = try retrying("fcntl(F_SETFD)") { fcntl(fd, F_SETFD, 0) }
        } else {
            _ = try retrying("dup2") { dup2(fd, target) }
        }
    }

    /// `execvp`: replaces this process with `arguments[0]`, found on `PATH`.
    /// Returns only on failure.
    package static func execute(_ arguments: [String]) -> MioError {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execvp(arguments[0], &argv)
        let error = MioError(errno: errno, operation: "execvp(\(arguments[0]))")
        for pointer in argv { free(pointer) }
        return error
    }

    /// `fcntl(F_GETFD)`, only to ask whether `fd` is open.
    package static func isOpen(_ fd: Int32) -> Bool {
        fcntl(fd, F_GETFD) >= 0
    }

    // MARK: - epoll

    package static func epollCreate() throws(MioError) -> Int32 {
        try retrying("epoll_create1") { cmio_epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    package static func epollControl(_ epfd: Int32, _ op: Int32, _ fd: Int32, events: UInt32, data: UInt64) throws(MioError) {
        _ = try retrying(epollOperationName(op)) { cmio_epoll_ctl(epfd, op, fd, events, data) }
    }

    private static func epollOperationName(_ op: Int32) -> String {
        switch op {
        case EPOLL_CTL_ADD: return "epoll_ctl(ADD)"
        case EPOLL_CTL_MOD: return "epoll_ctl(MOD)"
        default: return "epoll_ctl(DEL)"
        }
    }

    /// `epoll_wait`. `EINTR` is thrown (kind `.interrupted`), never retried:
    /// the caller decides, as with mio.
    package static func epollWait(_ epfd: Int32, _ buffer: UnsafeMutablePointer<epoll_event>, capacity: Int32, timeoutMilliseconds: Int32) throws(MioError) -> Int {
        let n = epoll_wait(epfd, buffer, capacity, timeoutMilliseconds)
        if n < 0 { throw MioError(errno: errno, operation: "epoll_wait") }
        return Int(n)
    }

    // MARK: - Sockets

    /// `socket(domain, type | SOCK_CLOEXEC | extraFlags, 0)`.
    package static func socket(domain: Int32, type: Int32, flags: Int32 = 0) throws(MioError) -> Int32 {
        try retrying("socket") { Glibc.socket(domain, type | Int32(SOCK_CLOEXEC.rawValue) | flags, 0) }
    }

    package static func socketPair(type: Int32 = Int32(SOCK_STREAM.rawValue), flags: Int32 = 0) throws(MioError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        _ = try retrying("socketpair") { socketpair(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue) | flags, 0, &fds) }
        return (fds[0], fds[1])
    }

    package static func bind(_ fd: Int32, unixPath path: String) throws(MioError) {
        _ = try retrying("bind(\(path))") { cmio_bind_unix(fd, path) }
    }

    /// `connect` to a Unix socket path. A non-blocking socket may answer
    /// would-block (the listener's backlog is full).
    package static func connect(_ fd: Int32, unixPath path: String) throws(MioError) -> IOResult<Int32> {
        try nonBlocking("connect(\(path))") { cmio_connect_unix(fd, path) }
    }

    package static func listen(_ fd: Int32, backlog: Int32) throws(MioError) {
        _ = try retrying("listen") { Glibc.listen(fd, backlog) }
    }

    /// `accept4(SOCK_CLOEXEC | SOCK_NONBLOCK)`.
    package static func accept(_ fd: Int32) throws(MioError) -> IOResult<Int32> {
        try nonBlocking("accept4") { cmio_accept4(fd, Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)) }
    }

    /// `recvmsg` with `MSG_CMSG_CLOEXEC`; received fds land in `fds` (room
    /// for 253). See `cmio_recv_with_fds`.
    package static func receive(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int,
                                fds: UnsafeMutablePointer<Int32>, flags: Int32 = 0) throws(MioError)
        -> IOResult<(bytes: Int, fdCount: Int, truncated: Bool)>
    {
        var fdCount: Int32 = 0
        var truncated: Int32 = 0
        switch try nonBlocking("recvmsg", { cmio_recv_with_fds(fd, buffer, count, flags, fds, &fdCount, &truncated) }) {
        case .wouldBlock: return .wouldBlock
        case .done(let n): return .done((Int(n), Int(fdCount), truncated != 0))
        }
    }

    /// `sendmsg` of `count` bytes with `fds` in one SCM_RIGHTS header
    /// (`MSG_NOSIGNAL`: a closed peer is an error, never a SIGPIPE).
    package static func send(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int, fds: [Int32] = []) throws(MioError) -> IOResult<Int> {
        if fds.isEmpty {
            // Plain send() costs less than sendmsg() on the event path.
            return try nonBlocking("send") { Glibc.send(fd, buffer, count, Int32(MSG_NOSIGNAL)) }
        }
        return try nonBlocking("sendmsg") { cmio_send_with_fds(fd, buffer, count, fds, Int32(fds.count), 0) }
    }

    /// One datagram to a Unix socket path (`@name`: abstract), with fds:
    /// how sd_notify speaks to the service manager.
    package static func sendDatagram(toUnixPath path: String, _ message: String, fds: [Int32] = []) throws(MioError) {
        let bytes = Array(message.utf8)
        _ = try retrying("sendmsg(\(path))") { cmio_send_datagram(path, bytes, bytes.count, fds, Int32(fds.count)) }
    }

    /// `getsockopt(SO_ACCEPTCONN)`: whether `fd` is a listening socket.
    package static func isListeningSocket(_ fd: Int32) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value != 0
    }

    /// `poll(2)` on one fd for input: whether it became readable (or hung
    /// up) within `timeout` (nil: wait for ever).
    package static func waitReadable(_ fd: Int32, timeout: Duration?) throws(MioError) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Selector.milliseconds(rounding: timeout)
        let n = try retrying("poll") { Glibc.poll(&entry, 1, milliseconds) }
        return n > 0
    }

    /// The peer's pid, uid and gid (`SO_PEERCRED`).
    package static func peerCredentials(_ fd: Int32) throws(MioError) -> (pid: pid_t, uid: uid_t, gid: gid_t) {
        var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
        _ = try retrying("getsockopt(SO_PEERCRED)") { cmio_peer_credentials(fd, &pid, &uid, &gid) }
        return (pid, uid, gid)
    }

    /// The peer's supplementary groups (`SO_PEERGROUPS`): room for
    /// NGROUPS_MAX (65536), so a peer with many groups is never refused.
    package static func peerGroups(_ fd: Int32) throws(MioError) -> [gid_t] {
        var groups = [gid_t](repeating: 0, count: 65536)
        let count = try retrying("getsockopt(SO_PEERGROUPS)") { cmio_peer_groups(fd, &groups, Int32(groups.count)) }
        return Array(groups.prefix(Int(count)))
    }

    /// The address of an `AF_UNIX` socket (`peer`: of its peer) as raw bytes,
    /// or nil when `fd` is a socket of another family.
    package static func unixAddress(_ fd: Int32, peer: Bool) throws(MioError) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: MemoryLayout<sockaddr_storage>.size)
        var family: Int32 = 0
        let length = try retrying(peer ? "getpeername" : "getsockname") {
            bytes.withUnsafeMutableBytes { cmio_unix_sockname(fd, peer ? 1 : 0, $0.baseAddress, $0.count, &family) }
        }
        guard family == AF_UNIX else { return nil }
        return Array(bytes.prefix(Int(length)))
    }

    // MARK: - Signals and limits

    /// Blocks `signals` in the calling thread and returns a non-blocking
    /// signalfd that reads them.
    package static func signalDescriptor(for signals: [Int32]) throws(MioError) -> Int32 {
        try retrying("signalfd") { cmio_signalfd_for(signals, Int32(signals.count)) }
    }

    package static func ignoreSignal(_ signal: Int32) {
        _ = Glibc.signal(signal, SIG_IGN)
    }

    package static func openFileLimit() throws(MioError) -> rlimit {
        var limit = rlimit()
        _ = try retrying("getrlimit(RLIMIT_NOFILE)") { getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        return limit
    }

    package static func setOpenFileLimit(_ limit: rlimit) throws(MioError) {
        var limit = limit
        _ = try retrying("setrlimit(RLIMIT_NOFILE)") { setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
    }

    /// The gid of a group name (`getgrnam_r`), or nil if there is none.
    package static func groupID(named name: String) -> UInt32? {
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return group.gr_gid
    }

    /// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds (the vDSO: no kernel entry).
    package static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    // MARK: - Files

    package static func unlink(_ path: String) throws(MioError) {
        _ = try retrying("unlink(\(path))") { Glibc.unlink(path) }
    }

    package static func makeDirectory(_ path: String, mode: mode_t) throws(MioError) {
        _ = try retrying("mkdir(\(path))") { Glibc.mkdir(path, mode) }
    }

    package static func changeMode(_ path: String, mode: mode_t) throws(MioError) {
        _ = try retrying("chmod(\(path))") { Glibc.chmod(path, mode) }
    }

    /// `readlink`: what a symbolic link (such as `/proc/self/fd/N`) points at.
    package static func readLink(_ path: String) throws(MioError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = try retrying("readlink(\(path))") { Glibc.readlink(path, &buffer, buffer.count - 1) }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    package static func lstat(_ path: String) throws(MioError) -> stat {
        var info = stat()
        _ = try retrying("lstat(\(path))") { Glibc.lstat(path, &info) }
        return info
    }
}
