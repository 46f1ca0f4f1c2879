import ArgumentParser
import MioClient

/// A systemd time span (systemd.time(7)): `500ms`, `5s`, `1min`, `1h`,
/// `1min 30s`, `1.5s`, `infinity`; a plain number is seconds. No sign, no
/// exponent, no `inf`/`nan`: anything else is a usage error, and a span
/// past a century is refused rather than overflowing.
struct TimeSpan: ExpressibleByArgument, CustomStringConvertible, Equatable {
    /// nil: infinity.
    let duration: Duration?
    private let text: String

    static let infinity = TimeSpan(duration: nil, text: "infinity")
    static func seconds(_ n: Int64) -> TimeSpan { TimeSpan(duration: .seconds(n), text: "\(n)s") }

    private init(duration: Duration?, text: String) {
        self.duration = duration
        self.text = text
    }

    var description: String { text }
    var defaultValueDescription: String { text }

    private static let nanosecondsPerUnit: [(String, Int64)] = [
        ("usec", 1_000), ("us", 1_000), ("µs", 1_000), ("msec", 1_000_000), ("ms", 1_000_000),
        ("seconds", 1_000_000_000), ("second", 1_000_000_000), ("sec", 1_000_000_000), ("s", 1_000_000_000),
        ("minutes", 60_000_000_000), ("minute", 60_000_000_000), ("min", 60_000_000_000), ("m", 60_000_000_000),
        ("hours", 3_600_000_000_000), ("hour", 3_600_000_000_000), ("hr", 3_600_000_000_000), ("h", 3_600_000_000_000),
        ("days", 86_400_000_000_000), ("day", 86_400_000_000_000), ("d", 86_400_000_000_000),
        ("weeks", 604_800_000_000_000), ("week", 604_800_000_000_000), ("w", 604_800_000_000_000),
    ]
    /// A century, in nanoseconds: far below Int64's 292 years.
    private static let longest: Int64 = 100 * 365 * 86_400_000_000_000

    init?(argument: String) {
        let text = argument.trimmingSpaces
        if text == "infinity" {
            self = .infinity
            return
        }
        var rest = Substring(text)
        var total: Int64 = 0
        var parts = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, number != "." else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unitText.count).drop { $0 == " " }
            let scale: Int64
            if unitText.isEmpty {
                scale = 1_000_000_000
            } else {
                guard let unit = TimeSpan.nanosecondsPerUnit.first(where: { $0.0 == unitText }) else { return nil }
                scale = unit.1
            }
            guard let nanoseconds = TimeSpan.nanoseconds(number, scale: scale) else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(nanoseconds)
            guard !overflow, sum <= TimeSpan.longest else { return nil }
            total = sum
            parts += 1
        }
        guard parts > 0 else { return nil }
        self.init(duration: .nanoseconds(total), text: text)
    }

    /// "12.5" times `scale` nanoseconds, exactly (9 fraction digits at most count), nil past `longest`.
    private static func nanoseconds(_ number: Substring, scale: Int64) -> Int64? {
        let pieces = number.split(separator: ".", omittingEmptySubsequences: false)
        let whole = pieces[0].isEmpty ? 0 : Int64(pieces[0])
        guard let whole, whole <= longest / scale else { return nil }
        var result = whole * scale
        if pieces.count == 2 {
            var fraction = scale
            for digit in pieces[1].prefix(18) {
                fraction /= 10
                result += Int64(digit.wholeNumberValue!) * fraction
            }
        }
        return result
    }

    static var allValueStrings: [String] { [] }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

extension TimeSpan {
    /// As a lease: whole seconds, rounded up, 1 … 2^31−1; nil for
    /// infinity, zero or longer.
    var leaseSeconds: UInt32? {
        guard let duration else { return nil }
        let (seconds, attoseconds) = duration.components
        let whole = seconds + (attoseconds > 0 ? 1 : 0)
        guard whole >= 1, whole <= Int64(LeaseChange.maxSeconds) else { return nil }
        return UInt32(whole)
    }
}
