import MioSystem

/// A timerfd of the daemon's (CLOCK_MONOTONIC): a `timer` registration's
/// clock, or a session's lease. Closed with it.
final class TimerFd {
    let fd: Int32

    /// A new, disarmed timer.
    init() throws(MioError) {
        fd = try Sys.timerfd()
    }

    /// Adopts a timerfd the fd store kept; it goes on as it was set.
    init(adopting fd: Int32) {
        self.fd = fd
    }

    deinit { Sys.close(fd) }

    /// Expires `after` from now (zero: at once), then every `interval`.
    func arm(after: Duration, every interval: Duration? = nil) throws(MioError) {
        // A zero first expiry disarms a timerfd: "at once" is one nanosecond.
        let next = max(after.wholeNanoseconds, 1)
        try Sys.setTimer(fd, TimerSetting(nextNanoseconds: next, intervalNanoseconds: interval?.wholeNanoseconds ?? 0))
    }

    func disarm() throws(MioError) {
        try Sys.setTimer(fd, TimerSetting(nextNanoseconds: 0, intervalNanoseconds: 0))
    }

    /// The time to the next expiry (nil: disarmed, or a one-shot that
    /// expired) and the period (nil: once).
    var setting: (next: Duration?, interval: Duration?) {
        guard let now = try? Sys.timer(fd) else { return (nil, nil) }
        return (now.nextNanoseconds == 0 ? nil : .nanoseconds(Int64(now.nextNanoseconds)),
                now.intervalNanoseconds == 0 ? nil : .nanoseconds(Int64(now.intervalNanoseconds)))
    }

    /// Expirations since the last call: reading them is what makes the
    /// timerfd unreadable again.
    func takeExpirations() -> UInt64 {
        (try? Sys.takeExpirations(fd)) ?? 0
    }
}
