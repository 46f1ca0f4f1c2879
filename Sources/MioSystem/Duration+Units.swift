/// A `Duration` in the units the kernel and the wire use. Negative
/// durations count as zero; too long ones saturate.
extension Duration {
    /// Whole nanoseconds (timerfd settings, monotonic deadlines).
    package var wholeNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (scaled, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (sum, carry) = scaled.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return carry ? .max : sum
    }

    /// Whole milliseconds, rounded up: a timer set from it never fires
    /// early, and 0.2 ms left is not shown as 0.
    package var millisecondsRoundedUp: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (scaled, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        if overflow { return .max }
        let part = UInt64((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        let (sum, carry) = scaled.addingReportingOverflow(part)
        return carry ? .max : sum
    }

    /// Seconds, with their fraction (for `uptime_s`, `expires_in_s`).
    package var secondsWithFraction: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
