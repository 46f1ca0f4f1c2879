#if canImport(Glibc)
import Glibc
#endif
import MioCore

/// `,"readable":` … `,"priority":`, in event-line order.
private let eventLineKeys: [(Readiness, [UInt8])] = Readiness.wireNames.map { ($0.flag, Array(",\"\($0.name)\":".utf8)) }

extension ReadinessEvent {
    /// Reads an event line exactly as `JSONWriter.eventLine` writes it (a
    /// client's fast path); nil for anything else, which then goes through
    /// the JSON parser.
    public init?(eventLine line: UnsafeRawBufferPointer) {
        var index = 0
        func take(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard index + count <= line.count,
                  memcmp(line.baseAddress! + index, text.utf8Start, count) == 0 else { return false }
            index += count
            return true
        }
        func takeBytes(_ text: [UInt8]) -> Bool {
            guard index + text.count <= line.count,
                  text.withUnsafeBytes({ memcmp(line.baseAddress! + index, $0.baseAddress!, text.count) }) == 0 else { return false }
            index += text.count
            return true
        }
        guard take("{\"event\":\"ready\",\"token\":") else { return nil }
        var token: UInt64 = 0
        let digitsStart = index
        while index < line.count, line[index] >= 0x30, line[index] <= 0x39 {
            let (times10, o1) = token.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(line[index] - 0x30))
            guard !o1, !o2 else { return nil }
            token = sum
            index += 1
        }
        guard index > digitsStart else { return nil }
        var readiness: Readiness = []
        for (flag, key) in eventLineKeys {
            guard takeBytes(key) else { return nil }
            if take("true") { readiness.insert(flag) } else if !take("false") { return nil }
        }
        guard take("}"), index == line.count else { return nil }
        self.init(token: Token(token), readiness: readiness)
    }
}
