#if canImport(Glibc)
import Glibc
#endif
import MioClient

/// Prints a reply's fields or an event, as text or as JSON.
enum Output {
    static func line(_ text: String) {
        print(text)
        fflush(nil)
    }

    /// An event; `fds` maps tokens back to the fds given with --fd.
    static func event(_ event: ClientEvent, json: Bool, fds: [UInt64: Int32] = [:]) {
        if json {
            var writer = JSONWriter(capacity: 256)
            switch event {
            case .ready(let ready): writer.eventLine(ready)
            case .shutdown: writer.notice(.shutdown)
            case .sessionTaken: writer.notice(.sessionTaken)
            }
            line(String(decoding: writer.bytes.dropLast(), as: UTF8.self))
        } else if case .ready(let ready) = event, let fd = fds[ready.token.rawValue] {
            let flags = ready.readiness.names
            line("fd \(fd) (token \(ready.token.rawValue)): \(flags.isEmpty ? "(no flags)" : flags.joined(separator: " "))")
        } else {
            line(event.description)
        }
    }
}
