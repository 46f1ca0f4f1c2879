#if canImport(Glibc)
import Glibc
#endif
import Logging
import MioCore
import MioSystem
import MioServer

/// sd_notify without libsystemd: datagrams to `$NOTIFY_SOCKET`.
final class SystemdNotifier: ServiceManager {
    let socketPath: String
    /// Half of `$WATCHDOG_USEC`, when the watchdog is on for this process.
    let watchdogInterval: Duration?
    private let logger: Logger
    private var lastStatus = ""

    private init(socketPath: String, watchdogInterval: Duration?, logger: Logger) {
        self.socketPath = socketPath
        self.watchdogInterval = watchdogInterval
        self.logger = logger
    }

    /// nil when not started by a service manager that listens.
    static func fromEnvironment(logger: Logger) -> SystemdNotifier? {
        guard let path = Environment.get("NOTIFY_SOCKET"), !path.isEmpty else { return nil }
        var interval: Duration?
        if let usec = Environment.get("WATCHDOG_USEC").flatMap(UInt64.init), usec > 0 {
            let pid = Environment.get("WATCHDOG_PID").flatMap(Int32.init)
            if pid == nil || pid == getpid() {
                interval = .microseconds(Int64(usec / 2))
            }
        }
        return SystemdNotifier(socketPath: path, watchdogInterval: interval, logger: logger)
    }

    func notify(_ state: String) { send(state) }

    func store(_ fd: Int32, name: String) -> Bool {
        send("FDSTORE=1\nFDNAME=\(name)\nFDPOLL=0", fds: [fd])
    }

    func removeStored(name: String) -> Bool {
        send("FDSTOREREMOVE=1\nFDNAME=\(name)")
    }

    /// Sends one state line; repeated identical `STATUS=` lines are
    /// skipped. Returns whether it was sent.
    @discardableResult
    func send(_ state: String, fds: [Int32] = []) -> Bool {
        if state.hasPrefix("STATUS=") {
            if state == lastStatus { return true }
            lastStatus = state
        }
        do {
            try Sys.sendDatagram(toUnixPath: socketPath, state, fds: fds)
            return true
        } catch {
            logger.warning("sd_notify \(state.prefix(80)): \(error)")
            return false
        }
    }
}

enum Environment {
    static func get(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    static func unset(_ name: String) {
        unsetenv(name)
    }
}
