#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MioClient
import MioSystem

struct End: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "End a named session that no connection uses: its registrations go, its fds are closed.",
        discussion: "Example: mioctl end web")
    @OptionGroup var options: CommonOptions
    @Argument(help: "The session to end.")
    var session: String
    @Option(help: "The uid the session belongs to (root only; default: your own).")
    var uid: UInt32?

    func run() throws {
        let daemon = try options.connect()
        if options.json {
            return try options.printRaw(daemon, #"{"op":"end","session":\#(jsonString(session))\#(uid.map { #","uid":\#($0)"# } ?? "")}"#)
        }
        try Failure.guarded(options) { try daemon.end(session: session, uid: uid) }
        Output.line("ended session \(session)")
    }
}

struct Hold: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store an fd in a persistent session: it outlives mioctl, and comes back with fetch.",
        discussion: """
            A listening socket is handed over the same way by the program that made it (compare s6-fdholder-store).
            Example: mioctl hold --session web --fd 3 --token 1 3<>my.fifo
            """)
    @OptionGroup var options: CommonOptions
    @Option(help: "The persistent session to store it in.")
    var session: String
    @Option(name: .customLong("fd"), help: "The fd to store.")
    var fd: Int32
    @Option(help: "The token to store it under.")
    var token: UInt64
    @Option(help: "What to watch it for meanwhile: readable, writable, priority (comma-separated).")
    var interest: String = "readable"
    @Flag(help: "Hold it without polling: any kind of fd (a memfd, a regular file, a directory, O_PATH).")
    var noPoll = false
    @Option(help: "End the session once no connection has used it for this long (e.g. 1h; rounded up to seconds).")
    var lease: TimeSpan?

    func validate() throws {
        if FdSpec.interest(interest) == nil { throw ValidationError("--interest: readable, writable or priority (comma-separated)") }
        if fd < 0 { throw ValidationError("--fd: a file descriptor number, 0 or more") }
        if let lease, lease.leaseSeconds == nil { throw ValidationError("--lease: from 1s to \(LeaseChange.maxSeconds)s") }
    }

    func run() throws {
        try FdSpec(argument: "\(fd)")!.check(polled: !noPoll, holdHint: "--no-poll holds it without polling")
        let daemon = try options.connect()
        try Failure.guarded(options) {
            try daemon.hello(session: session, persist: true, client: "mioctl hold",
                             lease: lease?.leaseSeconds.map { .set(seconds: $0) })
            if noPoll {
                try daemon.store(fd: fd, token: Token(token))
            } else {
                try daemon.register(fd: fd, token: Token(token), interest: FdSpec.interest(interest)!)
            }
        }
        if !options.json { Output.line("held fd \(fd) as token \(token) in session \(session)") }
    }
}

struct Fetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Get a held fd back and run a command with it as fd 3, as socket activation does.",
        discussion: """
            The command runs in mioctl's place with LISTEN_FDS=1 and LISTEN_PID set (compare s6-fdholder-retrieve). \
            Exit status 127 when the command is not found, 126 when it cannot be run.
            Example: mioctl fetch --session web --token 1 -- sh -c 'ls -l /proc/self/fd/3'
            """)
    @OptionGroup var options: CommonOptions
    @Option(help: "The session that holds it.")
    var session: String
    @Option(help: "Its token.")
    var token: UInt64
    @Flag(help: "Also remove it from the session.")
    var deregister = false
    @Argument(parsing: .postTerminator, help: "The command to run with the fd as fd 3.")
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("give the command to run after --") }
    }

    func run() throws {
        let daemon = try options.connect()
        let fd = try Failure.guarded(options) { () throws -> Int32 in
            try daemon.hello(session: session, client: "mioctl fetch")
            return try daemon.fetch(token: Token(token), deregister: deregister)
        }
        do {
            try Sys.duplicate(fd, to: 3)
        } catch {
            Failure.fail("cannot place the fd at 3: \(error)", .unreachable)
        }
        setenv("LISTEN_FDS", "1", 1)
        setenv("LISTEN_PID", "\(getpid())", 1)
        setenv("LISTEN_FDNAMES", "\(session).\(token)", 1)
        let error = Sys.execute(command)
        Failure.fail("cannot run \(command[0]): \(error)", error.kind == .noSuchFile ? .commandNotFound : .cannotExecute)
    }
}

struct Deregister: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a registration from a named session (which no connection may be using): its fd is closed.",
        discussion: "Example: mioctl deregister --session web --token 1")
    @OptionGroup var options: CommonOptions
    @Option(help: "The session it is in.")
    var session: String
    @Option(help: "Its token.")
    var token: UInt64

    func run() throws {
        let daemon = try options.connect()
        try Failure.guarded(options) {
            try daemon.hello(session: session, client: "mioctl deregister")
            try daemon.deregister(token: Token(token))
        }
        if !options.json { Output.line("deregistered token \(token) of session \(session)") }
    }
}

struct Waker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a waker in a persistent session, for `mioctl wake` or any client to wake.",
        discussion: "Example: mioctl waker --session worker --token 9")
    @OptionGroup var options: CommonOptions
    @Option(help: "The persistent session to make it in.")
    var session: String
    @Option(help: "The waker's token.")
    var token: UInt64

    func run() throws {
        let daemon = try options.connect()
        try Failure.guarded(options) {
            try daemon.hello(session: session, persist: true, client: "mioctl waker")
            try daemon.waker(token: Token(token))
        }
        if !options.json { Output.line("made waker token \(token) in session \(session)") }
    }
}

struct Wake: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wake a waker of a session.", discussion: "Example: mioctl wake --session worker --token 9")
    @OptionGroup var options: CommonOptions
    @Option(help: "The session the waker is in.")
    var session: String
    @Option(help: "The waker's token.")
    var token: UInt64

    func run() throws {
        let daemon = try options.connect()
        try Failure.guarded(options) { try daemon.wake(token: Token(token), session: session) }
        if !options.json { Output.line("woke token \(token) of session \(session)") }
    }
}
