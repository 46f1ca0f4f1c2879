#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MioClient
import MioSystem

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command each time a held fd becomes readable, with the fd as fd 3: socket activation from userland.",
        discussion: """
            serve attaches to the session (busy while serve runs), gets its own copy of
            the fd (the daemon keeps holding it) and waits for its readiness events.
            When the fd is readable it runs the command with the fd as fd 3,
            LISTEN_FDS=1, LISTEN_PID (the child's pid) and LISTEN_FDNAMES (--name,
            default SESSION.TOKEN), waits for the child to exit, and waits again: one
            child at a time, as systemd's Accept=no. With --accept, serve accepts each
            connection and runs a child for it with the connection as fd 3
            (LISTEN_FDNAMES=connection; REMOTE_ADDR, REMOTE_PORT for TCP), at most
            --max-children at once, as Accept=yes. Connections that come while no
            child can take them wait in the listener's queue: a crash loses none.

            A child fails when it exits non-zero or is killed by a signal serve did not
            send (without --accept, also when it exits 0 leaving the fd readable).
            After N failures within SPAN (--restart-limit N/SPAN) serve pauses, never
            gives up: the next child starts once the oldest of those N is SPAN old.
            Each child's end is one line on stderr.

            SIGTERM, SIGINT, SIGHUP go on to the children; serve waits for them (SIGKILL
            after --stop-timeout, or at a second signal) and exits 0. If the daemon
            stops, serve goes on waiting on its own copy of the fd. Exit status 1: the
            session has no such fd watched for readable (with --accept: no listening
            socket), or another connection took it over; 127 (126): the command is not
            found (cannot be run).
            Example: mioctl serve --session web --token 1 -- sh -c 'head -n1 <&3'
            """)
    @OptionGroup var options: CommonOptions
    @Option(help: "The session that holds the fd.")
    var session: String
    @Option(help: "Its token.")
    var token: UInt64
    @Flag(help: "Accept each connection and run a child for it (the fd must be a listening socket).")
    var accept = false
    @Option(help: ArgumentHelp("With --accept: the most children at once; more connections wait in the queue (default 64).",
                               valueName: "n"))
    var maxChildren: Int?
    @Option(help: ArgumentHelp("At most N failed children within SPAN, then a pause (see above).", valueName: "N/SPAN"))
    var restartLimit: RestartLimit = .standard
    @Option(help: ArgumentHelp("LISTEN_FDNAMES for the children (default: SESSION.TOKEN; with --accept: connection).",
                               valueName: "name"))
    var name: String?
    @Option(help: ArgumentHelp("How long children may take to exit once told to stop, then SIGKILL.", valueName: "span"))
    var stopTimeout: TimeSpan = .seconds(10)
    @Argument(parsing: .postTerminator, help: "The command to run, after --.")
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("give the command to run after --") }
        if options.json { throw ValidationError("serve prints no replies: --json does not apply") }
        if let maxChildren {
            if !accept { throw ValidationError("--max-children needs --accept (without it one child at a time serves the fd)") }
            if maxChildren < 1 { throw ValidationError("--max-children: 1 or more") }
        }
        if let name, name.isEmpty || name.count > 255 || name.contains(":") || name.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } == true }) {
            throw ValidationError("--name: 1 to 255 printable characters, no ':' (as a systemd FileDescriptorName=)")
        }
    }

    func run() throws {
        let program = Program.resolve(command)
        // Before any thread starts, so that every thread has them blocked.
        let signals: Int32
        do {
            signals = try Sys.signalDescriptor(for: [SIGCHLD, SIGTERM, SIGINT, SIGHUP])
        } catch {
            Failure.fail("\(error)", .unreachable)
        }
        let daemon = try options.connect()
        let registration = try Failure.guarded(options) { try daemon.list(session: session) }.first { $0.token.rawValue == token }
        guard let registration else {
            Failure.fail("session \(session) has no token \(token) (mioctl list \(session) shows what it holds)", .refused)
        }
        if registration.kind == "waker" || registration.kind == "timer" {
            Failure.fail("token \(token) of session \(session) is a \(registration.kind): it holds no fd to serve", .refused)
        }
        guard let interest = registration.interest else {
            Failure.fail("token \(token) of session \(session) is held without polling (store): serve waits for its readiness, " +
                         "so hold it polled (mioctl hold without --no-poll)", .refused)
        }
        if !interest.isReadable {
            Failure.fail("token \(token) of session \(session) is watched for \(interest.names.joined(separator: ",")), " +
                         "not readable: serve waits for readable", .refused)
        }
        let fd = try Failure.guarded(options) { () throws -> Int32 in
            try daemon.hello(session: session, client: "mioctl serve")
            // A oneshot registration may have fired before: armed again, it tells of the next readiness.
            if registration.mode == .oneshot { try daemon.reregister(token: Token(token), interest: interest, mode: .oneshot) }
            return try daemon.fetch(token: Token(token))
        }
        if accept && !Sys.isListeningSocket(fd) {
            Failure.fail("--accept needs a listening socket; token \(token) of session \(session) is a \(registration.kind) that is not one", .refused)
        }
        let watcher: DaemonWatcher
        do {
            watcher = try DaemonWatcher.start(daemon: daemon, token: Token(token),
                                              rearm: registration.mode == .oneshot ? registration.interest : nil)
        } catch {
            Failure.fail("\(error)", .unreachable)
        }
        let configuration = Supervisor.Configuration(
            listener: fd, maxChildren: accept ? (maxChildren ?? 64) : nil, program: program,
            environment: Program.inheritedEnvironment(), fdName: name ?? (accept ? "connection" : "\(session).\(token)"),
            restartLimit: restartLimit, stopTimeout: stopTimeout.duration)
        Supervisor(configuration, signals: signals, watcher: watcher).run()
    }
}
