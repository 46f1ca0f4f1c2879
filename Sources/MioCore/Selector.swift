import CMioLinux

/// The epoll instance behind a `Poll`: the only place MioCore speaks epoll.
/// `Poll` and `Registry` forward to it, as mio's `poll.rs` forwards to
/// `sys/unix/selector/epoll.rs`.
struct Selector: Sendable {
    let epfd: Int32

    static func make() throws(MioError) -> Selector {
        Selector(epfd: try Sys.epollCreate())
    }

    func tryClone() throws(MioError) -> Selector {
        Selector(epfd: try Sys.duplicate(epfd))
    }

    func close() { Sys.close(epfd) }

    func register(_ fd: Int32, token: Token, interest: Interest, mode: Mode) throws(MioError) {
        try Sys.epollControl(epfd, EPOLL_CTL_ADD, fd, events: interest.epollEvents | mode.epollEvents, data: token.rawValue)
    }

    func reregister(_ fd: Int32, token: Token, interest: Interest, mode: Mode) throws(MioError) {
        try Sys.epollControl(epfd, EPOLL_CTL_MOD, fd, events: interest.epollEvents | mode.epollEvents, data: token.rawValue)
    }

    func deregister(_ fd: Int32) throws(MioError) {
        try Sys.epollControl(epfd, EPOLL_CTL_DEL, fd, events: 0, data: 0)
    }

    func select(_ events: inout Events, timeout: Duration?) throws(MioError) {
        let milliseconds = Selector.milliseconds(rounding: timeout)
        try events.fill { (buffer, capacity) throws(MioError) -> Int in
            try Sys.epollWait(epfd, buffer, capacity: capacity, timeoutMilliseconds: milliseconds)
        }
    }

    /// epoll counts in whole milliseconds: round up, never down, so that a
    /// 100 µs timeout still waits (mio does the same). nil waits forever.
    static func milliseconds(rounding timeout: Duration?) -> Int32 {
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
