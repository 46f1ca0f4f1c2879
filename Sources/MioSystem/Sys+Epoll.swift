#if canImport(Glibc)
import Glibc
#endif
import CMioLinux

extension Sys {
    package static func epollCreate() throws(MioError) -> Int32 {
        try retrying("epoll_create1") { cmio_epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    /// `epoll_ctl`. Its errnos keep their general meaning here; `Selector`
    /// gives them epoll's (`EEXIST`: already registered, …).
    package static func epollControl(_ epfd: Int32, _ op: Int32, _ fd: Int32, events: UInt32, data: UInt64) throws(MioError) {
        _ = try retrying("epoll_ctl") { cmio_epoll_ctl(epfd, op, fd, events, data) }
    }

    /// `epoll_wait`. `EINTR` is thrown (kind `.interrupted`), never retried:
    /// the caller decides, as with mio.
    @inlinable
    package static func epollWait(_ epfd: Int32, _ buffer: UnsafeMutablePointer<epoll_event>, capacity: Int32, timeoutMilliseconds: Int32) throws(MioError) -> Int {
        let n = epoll_wait(epfd, buffer, capacity, timeoutMilliseconds)
        if n < 0 { throw MioError(errno: errno, operation: "epoll_wait") }
        return Int(n)
    }

    /// `poll(2)` on one fd for input: whether it became readable (or hung
    /// up) within `timeout` (nil: wait for ever).
    package static func waitReadable(_ fd: Int32, timeout: Duration?) throws(MioError) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Sys.milliseconds(rounding: timeout)
        let n = try retrying("poll") { Glibc.poll(&entry, 1, milliseconds) }
        return n > 0
    }

    /// epoll and poll count in whole milliseconds: round up, never down, so
    /// that a 100 µs timeout still waits (mio does the same). nil is -1,
    /// for ever; anything past `Int32.max` ms is clamped to it.
    package static func milliseconds(rounding timeout: Duration?) -> Int32 {
        guard let timeout else { return -1 }
        let (seconds, attoseconds) = timeout.components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let attosecondsPerMillisecond: Int64 = 1_000_000_000_000_000
        let (wholeMs, rest) = attoseconds.quotientAndRemainder(dividingBy: attosecondsPerMillisecond)
        let total = seconds.multipliedReportingOverflow(by: 1000)
        if total.overflow { return Int32.max }
        let ms = total.partialValue + wholeMs + (rest > 0 ? 1 : 0)
        return ms > Int64(Int32.max) ? Int32.max : Int32(ms)
    }
}
