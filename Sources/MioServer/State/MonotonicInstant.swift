import MioSystem

/// A point on the monotonic clock, in nanoseconds. A plain integer, so the
/// loop's deadline checks cost nothing: `ContinuousClock.Instant` is
/// resilient, and every check of an optional one calls value witnesses.
struct MonotonicInstant: Comparable {
    var nanoseconds: UInt64

    static var now: MonotonicInstant { MonotonicInstant(nanoseconds: Sys.monotonicNanoseconds()) }

    static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    static func + (lhs: MonotonicInstant, rhs: Duration) -> MonotonicInstant {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.wholeNanoseconds)
        return MonotonicInstant(nanoseconds: overflow ? UInt64.max : sum)
    }

    /// The time left until `self`, zero if it has passed.
    var remaining: Duration {
        let now = Sys.monotonicNanoseconds()
        return nanoseconds > now ? .nanoseconds(Int64(clamping: nanoseconds - now)) : .zero
    }
}

extension MonotonicInstant {
    /// Later than any deadline.
    static let distantFuture = MonotonicInstant(nanoseconds: .max)
}
