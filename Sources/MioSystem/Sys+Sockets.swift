#if canImport(Glibc)
import Glibc
#endif
import CMioLinux

extension Sys {
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
    @inlinable
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
    @inlinable
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

    /// `setsockopt(SO_OOBINLINE)`: a byte sent with `MSG_OOB` stays in the
    /// stream, in order, with any fds on it. Without it the kernel takes it
    /// out (and closes its fds): a request's newline or a digit could vanish.
    package static func keepOutOfBandInline(_ fd: Int32) throws(MioError) {
        var on: Int32 = 1
        _ = try retrying("setsockopt(SO_OOBINLINE)") {
            setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &on, socklen_t(MemoryLayout<Int32>.size))
        }
    }
}
