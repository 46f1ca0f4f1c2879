#if canImport(Glibc)
import Glibc
#endif
import CMioLinux

/// A timerfd's setting: the next expiry and the period, in nanoseconds
/// (0: disarmed / once).
package struct TimerSetting: Equatable {
    package var nextNanoseconds: UInt64
    package var intervalNanoseconds: UInt64

    package init(nextNanoseconds: UInt64, intervalNanoseconds: UInt64) {
        self.nextNanoseconds = nextNanoseconds
        self.intervalNanoseconds = intervalNanoseconds
    }
}

extension Sys {
    /// `timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)`.
    package static func timerfd() throws(MioError) -> Int32 {
        try retrying("timerfd_create") { timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC)) }
    }

    /// `timerfd_settime`, relative: first expiry `next` from now (0
    /// disarms), then every `interval` (0: once).
    package static func setTimer(_ fd: Int32, _ setting: TimerSetting) throws(MioError) {
        var value = itimerspec(it_interval: timespec(nanoseconds: setting.intervalNanoseconds),
                               it_value: timespec(nanoseconds: setting.nextNanoseconds))
        _ = try retrying("timerfd_settime") { timerfd_settime(fd, 0, &value, nil) }
    }

    /// `timerfd_gettime`: time to the next expiry (0: disarmed) and the period.
    package static func timer(_ fd: Int32) throws(MioError) -> TimerSetting {
        var value = itimerspec()
        _ = try retrying("timerfd_gettime") { timerfd_gettime(fd, &value) }
        return TimerSetting(nextNanoseconds: value.it_value.nanoseconds, intervalNanoseconds: value.it_interval.nanoseconds)
    }

    /// Reads a timerfd's expirations since the last read (0 when none).
    package static func takeExpirations(_ fd: Int32) throws(MioError) -> UInt64 {
        var count: UInt64 = 0
        switch try read(fd, into: &count, count: 8) {
        case .done: return count
        case .wouldBlock: return 0
        }
    }
}

extension timespec {
    init(nanoseconds: UInt64) {
        self.init(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }

    var nanoseconds: UInt64 { UInt64(tv_sec) * 1_000_000_000 + UInt64(tv_nsec) }
}
