import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import MioCore
import MioSystem
import MioProtocol
import MioServer

@main
struct MioDaemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mio-daemon",
        abstract: "Holds file descriptors for its clients and tells them, as JSON lines, when they are ready.",
        discussion: """
            Try it: socat - UNIX-CONNECT:$SOCKET, then type {"op":"ping"}.
            Persistent sessions survive a restart or crash of the daemon only under a service manager \
            with an fd store (systemd: mio-daemon.service); run by hand, they live as long as this process.
            Socket path, in order: --socket, $MIO_SOCKET, /run/mio-daemon/mio.sock (root or socket \
            activation), $XDG_RUNTIME_DIR/mio-daemon/mio.sock, /tmp/mio-daemon-$UID/mio.sock.
            """,
        version: "mio-daemon \(packageVersion) (protocol \(protocolVersion))")

    @Option(help: "The Unix socket to serve.")
    var socket: String?

    @Option(help: "Octal mode of the socket file (default 0600, or 0666 with --allow-uid/--allow-gid).")
    var socketMode: String?

    @Option(help: "Also allow this uid (repeatable). Root and the daemon's own uid are always allowed.")
    var allowUid: [UInt32] = []

    @Option(help: "Also allow peers whose primary or supplementary group is this gid (repeatable).")
    var allowGid: [UInt32] = []

    @Option(help: "Also allow members of this group, by name (repeatable; resolved at start).")
    var allowGroup: [String] = []

    @Option(help: "Longest request line, in bytes.")
    var maxLine: Int = 65536

    @Option(help: "Connections one uid may hold at once.")
    var maxConnectionsPerUid: Int = 256

    @Option(help: "Registrations one uid may hold (also capped below the open-file limit).")
    var maxRegistrationsPerUid: Int = 16384

    @Option(help: "Named sessions one uid may hold.")
    var maxSessionsPerUid: Int = 64

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(help: ArgumentHelp(
        "inherit (keep the policy it was started with) or batch (SCHED_BATCH when started under the default policy).",
        discussion: "Under SCHED_BATCH a client making thousands of fds ready on the daemon's CPU is not preempted by its wake-ups (more throughput); a client waiting for one event waits a little longer."))
    var scheduling: Scheduling = .inherit

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        if let socketMode, mode_t(socketMode, radix: 8) == nil {
            throw ValidationError("--socket-mode must be an octal mode such as 0660")
        }
        for (name, value) in [("--max-line", maxLine), ("--max-connections-per-uid", maxConnectionsPerUid),
                              ("--max-registrations-per-uid", maxRegistrationsPerUid), ("--max-sessions-per-uid", maxSessionsPerUid)]
        where value < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
    }

    func run() throws {
        // A watchdog ends a hung daemon with SIGABRT and expects it to die,
        // with a core; the Swift runtime's crash handler would catch it.
        Sys.restoreDefaultAction(SIGABRT)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, level: level) }
        let logger = Logger(label: "mio-daemon")
        let notifier = SystemdNotifier.fromEnvironment(logger: logger)
        applyScheduling(logger)

        var configuration = ServerConfiguration()
        configuration.maxLine = maxLine
        configuration.maxConnectionsPerUID = maxConnectionsPerUid
        configuration.maxRegistrationsPerUID = maxRegistrationsPerUid
        configuration.maxSessionsPerUID = maxSessionsPerUid
        configuration.allowedUIDs = Set(allowUid)
        configuration.allowedGIDs = Set(allowGid)
        for name in allowGroup {
            guard let gid = Sys.groupID(named: name) else {
                logger.critical("--allow-group \(name): no such group")
                throw ExitCode(1)
            }
            configuration.allowedGIDs.insert(gid)
        }
        configuration.openFiles = OpenFileBudget(openFileLimit: raiseOpenFileLimit(logger))
        logger.info("\(configuration.openFiles.summary)")
        configuration.watchdogInterval = notifier?.watchdogInterval
        logPersistence(notifier: notifier, configuration: configuration, logger: logger)

        let inherited = SocketActivation.take(logger: logger)
        let listener: ListeningSocket
        do {
            listener = try ListeningSocket.open(
                inherited: inherited?.listener, explicitPath: socket, socketMode: socketMode.flatMap { mode_t($0, radix: 8) },
                openToOthers: !allowUid.isEmpty || !allowGid.isEmpty || !allowGroup.isEmpty, logger: logger)
        } catch let error as StartupError {
            logger.critical("\(error.message)")
            throw ExitCode(1)
        }
        logger.info("serving \(listener.path)\(listener.activated ? " (socket activation)" : "")")

        do {
            let server = try Server(configuration: configuration, listener: listener.fd, logger: logger,
                                    serviceManager: notifier, inherited: inherited?.stored ?? [])
            try server.run()
        } catch {
            logger.critical("event loop failed: \(error)")
            listener.removeSocketFile()
            throw ExitCode(1)
        }
        listener.removeSocketFile()
    }

    /// `--scheduling batch`: on a CPU it shares with a client writing to
    /// thousands of fds, the daemon's wake-ups no longer preempt that client
    /// after every few writes; the price is latency for a client waiting for
    /// one event, which a preempting wake-up serves sooner (docs/protocol.md,
    /// "Running the daemon"). A policy the daemon was started with on
    /// purpose (batch, idle, real time: a unit's `CPUSchedulingPolicy=`) is kept.
    private func applyScheduling(_ logger: Logger) {
        guard scheduling == .batch, Sys.hasDefaultScheduling() else { return }
        do throws(MioError) {
            try Sys.useBatchScheduling()
            logger.info("scheduling: SCHED_BATCH (--scheduling batch)")
        } catch {
            logger.warning("scheduling: SCHED_BATCH refused (\(error)); running under the default policy")
        }
    }

    /// Says where persistent sessions live: in the service manager's fd
    /// store (they survive any end of the daemon), or only in this process.
    private func logPersistence(notifier: SystemdNotifier?, configuration: ServerConfiguration, logger: Logger) {
        guard notifier != nil else {
            logger.notice("no service manager ($NOTIFY_SOCKET is unset): persistent sessions outlive their clients, not this process; run under systemd (mio-daemon.service) to keep them across a restart or crash")
            return
        }
        // systemd 254 and later say how many fds the store holds.
        if let capacity = Environment.get("FDSTORE").flatMap(Int.init), capacity < configuration.maxRegistrationsTotal {
            logger.warning("the fd store holds \(capacity) fds (FileDescriptorStoreMax=), fewer than the \(configuration.maxRegistrationsTotal) registrations the limits allow: persistent registrations past it would not survive a restart")
        }
    }

    /// Raises the soft open-file limit to the hard one (docs/protocol.md, "Peers, permissions and limits") and
    /// returns the limit in force.
    private func raiseOpenFileLimit(_ logger: Logger) -> Int {
        guard var limit = try? Sys.openFileLimit() else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            do {
                try Sys.setOpenFileLimit(limit)
            } catch {
                logger.warning("cannot raise the open-file limit: \(error)")
                limit = (try? Sys.openFileLimit()) ?? limit
            }
        }
        return Int(clamping: limit.rlim_cur)
    }
}

/// `--scheduling`.
enum Scheduling: String, ExpressibleByArgument, CaseIterable {
    case batch, inherit
}
