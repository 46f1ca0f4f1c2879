#if canImport(Glibc)
import Glibc
#endif
import MioSystem

/// serve's loop, on one thread: starts children when the held fd is
/// readable (with --accept: accepts and starts one per connection), reaps
/// them, limits restarts, and stops on SIGTERM/SIGINT/SIGHUP. It sleeps in
/// poll(2) on a signalfd and the ``DaemonWatcher``'s pipe; readiness is
/// confirmed on its own copy of the fd with a zero-timeout poll, because an
/// edge-triggered event does not come again for connections that were
/// already queued when a child ended.
final class Supervisor {
    struct Configuration {
        let listener: Int32
        /// nil: one child at a time serves the listener (systemd's Accept=no).
        let maxChildren: Int?
        let program: Program
        let environment: [String]
        let fdName: String
        let restartLimit: RestartLimit
        let stopTimeout: Duration?
    }

    private struct Stop {
        let status: ExitStatus
        let deadline: ContinuousClock.Instant?
        var killed = false
    }

    private let configuration: Configuration
    private let signals: Int32
    private let watcher: DaemonWatcher
    /// pid → whether serve itself has signalled it (then its end is no failure).
    private var children: [pid_t: Bool] = [:]
    private var window: RestartWindow
    private var pauseReported = false
    private var acceptPausedUntil: ContinuousClock.Instant?
    /// The daemon is gone: wait on the listener itself.
    private var daemonGone = false
    private var stop: Stop?

    init(_ configuration: Configuration, signals: Int32, watcher: DaemonWatcher) {
        self.configuration = configuration
        self.signals = signals
        self.watcher = watcher
        window = RestartWindow(configuration.restartLimit)
    }

    func run() -> Never {
        while true {
            if let stop, children.isEmpty { exit(stop.status.rawValue) }
            if stop == nil { startWhatMay() }
            var fds = [signals, watcher.pollable]
            if daemonGone && mayStartNow { fds.append(configuration.listener) }
            _ = try? Sys.waitReadable(anyOf: fds, timeout: nextDeadline().map { max(.zero, $0 - .now) })
            handleSignals()
            for news in watcher.drain() { handle(news) }
            if let deadline = stop?.deadline, !stop!.killed, ContinuousClock.now >= deadline {
                ServeLog.line("\(children.count) children still running after --stop-timeout: sending SIGKILL")
                killAll(SIGKILL)
            }
        }
    }

    // MARK: - Starting children

    private var hasRoom: Bool { children.count < (configuration.maxChildren ?? 1) }

    /// Nothing but the fd's readiness stands in the way of a start.
    private var mayStartNow: Bool {
        stop == nil && hasRoom && window.pausedUntil() == nil && acceptPausedUntil.map { ContinuousClock.now >= $0 } ?? true
    }

    private var listenerReadable: Bool {
        (try? Sys.waitReadable(anyOf: [configuration.listener], timeout: .zero))?.first == true
    }

    private func startWhatMay() {
        while hasRoom, acceptPausedUntil.map({ ContinuousClock.now >= $0 }) ?? true, listenerReadable {
            if let until = window.pausedUntil() {
                if !pauseReported {
                    let limit = configuration.restartLimit
                    ServeLog.line("\(limit.burst) children failed within \(limit.span) (--restart-limit \(limit)): " +
                                  "the next starts in \(ServeLog.seconds(until - .now))")
                    pauseReported = true
                }
                return
            }
            pauseReported = false
            acceptPausedUntil = nil
            guard configuration.maxChildren != nil else { return start(fd3: configuration.listener, remote: nil) }
            let connection: (fd: Int32, address: String?, port: Int32)
            do {
                connection = try Sys.acceptWithPeer(configuration.listener)
            } catch {
                if error.errno == ECONNABORTED || error.errno == EAGAIN { continue }
                // Out of fds or memory: the connection waits in the queue meanwhile.
                ServeLog.line("\(error): accepting again in 1 s")
                acceptPausedUntil = .now + .seconds(1)
                return
            }
            start(fd3: connection.fd, remote: connection.address.map { ($0, connection.port) })
            Sys.close(connection.fd)
        }
    }

    private func start(fd3: Int32, remote: (address: String, port: Int32)?) {
        var environment = configuration.environment + ["LISTEN_FDS=1", "LISTEN_FDNAMES=\(configuration.fdName)"]
        if let remote { environment += ["REMOTE_ADDR=\(remote.address)", "REMOTE_PORT=\(remote.port)"] }
        let program = configuration.program
        do {
            switch try Sys.spawn(program.path, arguments: program.arguments, environment: environment, fd3: fd3) {
            case .started(let pid):
                children[pid] = false
            case .execFailed(let error):
                ServeLog.line("cannot run \(program.path): \(error)")
                window.recordFailure()
            }
        } catch {
            ServeLog.line("cannot start a child: \(error)")
            window.recordFailure()
        }
    }

    // MARK: - Ends, signals, the daemon

    private func ended(_ pid: pid_t, _ end: ChildEnd) {
        guard let signalled = children.removeValue(forKey: pid) else { return }
        var failed = !end.succeeded && !signalled
        var note = ""
        if configuration.maxChildren == nil && end.succeeded && stop == nil && listenerReadable {
            failed = true  // it did not take what woke it: starting it again at once would spin
            note = ", leaving the fd readable"
        }
        switch end {
        case .exited(let status): ServeLog.line("child \(pid) exited with status \(status)\(note)")
        case .killed(let signal): ServeLog.line("child \(pid) was killed by \(Sys.signalName(signal))")
        }
        if failed { window.recordFailure() }
    }

    private func handleSignals() {
        var info = [UInt32](repeating: 0, count: 32)  // one signalfd_siginfo: 128 bytes, ssi_signo first
        while case .done(let count)? = try? Sys.read(signals, into: &info, count: 128), count == 128 {
            let signal = Int32(info[0])
            if signal == SIGCHLD {
                while let (pid, end) = Sys.reapChild() { ended(pid, end) }
            } else if stop == nil {
                beginStop(.success, forwarding: signal)
            } else if !stop!.killed {
                killAll(SIGKILL)  // a second signal: no more waiting
            }
        }
    }

    private func beginStop(_ status: ExitStatus, forwarding signal: Int32) {
        stop = Stop(status: status, deadline: configuration.stopTimeout.map { .now + $0 })
        for pid in children.keys {
            children[pid] = true
            Sys.send(signal, to: pid)
        }
    }

    private func killAll(_ signal: Int32) {
        stop?.killed = true
        for pid in children.keys {
            children[pid] = true
            Sys.send(signal, to: pid)
        }
    }

    private func handle(_ news: DaemonNews) {
        switch news {
        case .ready:
            break  // startWhatMay looks at the fd itself
        case .shutdown, .lost:
            if !daemonGone {
                ServeLog.line(news == .shutdown ? "the daemon is shutting down: waiting on the fd itself from now on"
                                                : "lost the connection to the daemon: waiting on the fd itself from now on")
            }
            daemonGone = true
        case .taken:
            ServeLog.line("another connection took the session over: stopping")
            if stop == nil { beginStop(.refused, forwarding: SIGTERM) }
        }
    }

    private func nextDeadline() -> ContinuousClock.Instant? {
        var deadlines: [ContinuousClock.Instant] = []
        if let stop, !stop.killed, let deadline = stop.deadline { deadlines.append(deadline) }
        if stop == nil && hasRoom {
            if let until = window.pausedUntil() { deadlines.append(until) }
            if let until = acceptPausedUntil { deadlines.append(until) }
        }
        return deadlines.min()
    }
}

/// serve's own lines on stderr, one each.
enum ServeLog {
    static func line(_ text: String) {
        let bytes = Array("mioctl serve: \(text)\n".utf8)
        _ = bytes.withUnsafeBytes { try? Sys.write(2, from: $0.baseAddress!, count: $0.count) }
    }

    /// `1.9 s`: a tenth is enough for a person.
    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = max(0, seconds * 10 + (attoseconds + 50_000_000_000_000_000) / 100_000_000_000_000_000)
        return "\(tenths / 10).\(tenths % 10) s"
    }
}
