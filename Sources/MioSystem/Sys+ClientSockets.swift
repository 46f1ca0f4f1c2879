#if canImport(Glibc)
import Glibc
#endif

/// What a client needs beyond the daemon's calls: bounded blocking sends
/// and connects, waking a blocked reader, waiting on two fds.
extension Sys {
    /// `SO_SNDTIMEO`: a blocking `connect` (a full backlog) or `send` on a
    /// Unix socket gives up after `timeout` with `EAGAIN` (nil: never).
    package static func setSendTimeout(_ fd: Int32, _ timeout: Duration?) throws(MioError) {
        var value = timeval(tv_sec: 0, tv_usec: 0)
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            value.tv_sec = Int(max(0, seconds))
            value.tv_usec = Int(max(0, attoseconds / 1_000_000_000_000))
            if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }  // 0 would mean for ever
        }
        _ = try retrying("setsockopt(SO_SNDTIMEO)") {
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    /// `shutdown(SHUT_RDWR)`: a thread blocked reading the socket sees its end.
    package static func shutdownBoth(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// `poll(2)` for input on several fds: for each, whether it is readable
    /// (or hung up); all false when `timeout` passed (nil: wait for ever).
    package static func waitReadable(anyOf fds: [Int32], timeout: Duration?) throws(MioError) -> [Bool] {
        var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let milliseconds = Sys.milliseconds(rounding: timeout)
        _ = try retrying("poll") { Glibc.poll(&entries, nfds_t(entries.count), milliseconds) }
        return entries.map { $0.revents != 0 }
    }
}
