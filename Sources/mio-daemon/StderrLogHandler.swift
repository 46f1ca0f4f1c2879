#if canImport(Glibc)
import Glibc
#endif
import Logging
import MioCore
import MioSystem

/// One line per message to stderr (journald picks it up), with a syslog
/// priority prefix journald understands (`<3>` for errors, …).
struct StderrLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let text = "\(Self.priority(event.level))\(event.level): \(event.message)\n"
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { try? Sys.write(2, from: $0.baseAddress! + offset, count: $0.count - offset) }
            guard case .done(let n)? = result, n > 0 else { return }
            offset += n
        }
    }

    private static func priority(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: return "<7>"
        case .info: return "<6>"
        case .notice: return "<5>"
        case .warning: return "<4>"
        case .error: return "<3>"
        case .critical: return "<2>"
        }
    }
}
