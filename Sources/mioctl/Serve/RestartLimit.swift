import ArgumentParser

/// `--restart-limit N/SPAN`: at most N failed children within SPAN (as
/// systemd's StartLimitBurst=/StartLimitIntervalSec=). Past it serve does
/// not give up: the next start waits until the oldest of those N is SPAN
/// old, and connections wait in the listener's queue meanwhile.
struct RestartLimit: ExpressibleByArgument, CustomStringConvertible {
    let burst: Int
    let interval: Duration
    /// SPAN as given.
    let span: String
    private let text: String

    static let standard = RestartLimit(argument: "10/10s")!

    init?(argument: String) {
        let parts = argument.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let burst = Int(parts[0]), burst >= 1,
              let span = TimeSpan(argument: parts[1]), let interval = span.duration, interval > .zero else { return nil }
        self.burst = burst
        self.interval = interval
        self.span = span.description
        text = "\(burst)/\(span)"
    }

    var description: String { text }
    var defaultValueDescription: String { text }
}

/// The failures that count against a ``RestartLimit``: those within its
/// interval, oldest first.
struct RestartWindow {
    let limit: RestartLimit
    private var failures: [ContinuousClock.Instant] = []

    init(_ limit: RestartLimit) {
        self.limit = limit
    }

    mutating func recordFailure(at now: ContinuousClock.Instant = .now) {
        failures.append(now)
    }

    /// When the next child may start; nil: now.
    mutating func pausedUntil(_ now: ContinuousClock.Instant = .now) -> ContinuousClock.Instant? {
        failures.removeAll { now - $0 >= limit.interval }
        guard failures.count >= limit.burst else { return nil }
        return failures[failures.count - limit.burst] + limit.interval
    }
}
