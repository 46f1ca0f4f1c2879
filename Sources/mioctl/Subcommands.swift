import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MioClient
import MioCore
import MioSystem
import Protocol

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that the daemon answers.", discussion: "Example: mioctl ping")
    @OptionGroup var options: CommonOptions

    func run() throws {
        let daemon = try options.connect()
        if options.json {
            Output.line(try Failure.guarded { try daemon.raw(#"{"op":"ping"}"#) })
        } else {
            let clock = ContinuousClock()
            let elapsed = try clock.measure { try Failure.guarded { try daemon.ping() } }
            Output.line("mio-daemon at \(daemon.path) answered in \(elapsed)")
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the daemon's counters.", discussion: "Example: mioctl stats --json | jq .stats")
    @OptionGroup var options: CommonOptions

    func run() throws {
        let daemon = try options.connect()
        if options.json {
            Output.line(try Failure.guarded { try daemon.raw(#"{"op":"stats"}"#) })
            return
        }
        let s = try Failure.guarded { try daemon.stats() }
        Output.line("""
            uptime            \(s.uptimeSeconds) s
            connections       \(s.connections)
            sessions          \(s.sessions)
            registrations     \(s.registrations)
            fds held          \(s.fdsHeld)
            events delivered  \(s.eventsDelivered)
            events coalesced  \(s.eventsCoalesced)
            """)
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the registrations of a session.",
        discussion: "Example: mioctl list --session build   (a session in use by another connection cannot be listed)")
    @OptionGroup var options: CommonOptions
    @Option(help: "The named session to list (default: this connection's own, which is empty).")
    var session: String?

    func run() throws {
        let daemon = try options.connect()
        try Failure.guarded {
            if let session { try daemon.hello(session: session, client: "mioctl list") }
            if options.json {
                Output.line(try daemon.raw(#"{"op":"list"}"#))
                return
            }
            let registrations = try daemon.list()
            if registrations.isEmpty { Output.line("no registrations") }
            for r in registrations {
                Output.line("token \(r.token.rawValue)  \(r.kind)  \(r.interest.names.joined(separator: ","))  \(r.mode)")
            }
        }
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hand fds to the daemon and print their events until interrupted.",
        discussion: """
            Example: mioctl watch --fd 3 3<my.fifo
                     mioctl watch --fd 3:7:readable,writable --session web --persist 3<>my.fifo
            FD spec: N[:TOKEN[:INTEREST]]; TOKEN defaults to N, INTEREST to readable.
            """)
    @OptionGroup var options: CommonOptions
    @Option(name: .customLong("fd"), help: "N[:TOKEN[:INTEREST]] (repeatable).")
    var fds: [FdSpec] = []
    @Option(help: "Attach to this named session.")
    var session: String?
    @Flag(help: "Keep the session and its fds after mioctl exits.")
    var persist = false

    func validate() throws {
        if persist && session == nil { throw ValidationError("--persist needs --session") }
    }

    func run() throws {
        for spec in fds { try spec.check() }
        let daemon = try options.connect()
        try Failure.guarded {
            if session != nil || persist { try daemon.hello(session: session, persist: persist, client: "mioctl watch") }
            for spec in fds { try daemon.register(fd: spec.fd, token: Token(spec.token), interest: spec.interest) }
            while let event = try daemon.next(timeout: nil) {
                Output.event(event, json: options.json)
                if event == .shutdown || event == .sessionTaken { return }
            }
        }
    }
}

struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait until an fd is ready: poll(1) for shell scripts.",
        discussion: """
            Exit status: 0 ready, 1 timeout, 2 error.
            Example: mioctl wait --fd 3 --timeout 5 3<my.fifo && read line <&3
            """)
    @OptionGroup var options: CommonOptions
    @Option(name: .customLong("fd"), help: "The fd to wait on.")
    var fd: Int32
    @Flag(help: "Wait for readable (the default).")
    var readable = false
    @Flag(help: "Wait for writable.")
    var writable = false
    @Option(help: "Give up after this many seconds (exit 1).")
    var timeout: Double?

    func run() throws {
        var interest: Interest = readable || !writable ? .readable : .writable
        if readable && writable { interest = .readable | .writable }
        let spec = FdSpec(argument: "\(fd):1")!
        try spec.check()
        let daemon = try options.connect()
        let ready = try Failure.guarded { () throws -> Bool in
            try daemon.register(fd: fd, token: Token(1), interest: interest, mode: .oneshot)
            let deadline = timeout.map { ContinuousClock.now + .milliseconds(Int64($0 * 1000)) }
            while true {
                let left = deadline.map { max(.zero, $0 - .now) }
                guard let event = try daemon.next(timeout: left) else { return false }
                if options.json { Output.event(event, json: true) }
                if case .ready(let r) = event, r.token == Token(1) { return true }
                if event == .shutdown { Failure.fail("the daemon is shutting down") }
            }
        }
        throw ExitCode(ready ? 0 : 1)
    }
}

struct Hold: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store an fd in a persistent session: it outlives mioctl, and comes back with fetch.",
        discussion: "Example: mioctl hold --session web --fd 3 --token 1 3<>/run/web.sock   (compare s6-fdholder-store)")
    @OptionGroup var options: CommonOptions
    @Option(help: "The persistent session to store it in.")
    var session: String
    @Option(name: .customLong("fd"), help: "The fd to store.")
    var fd: Int32
    @Option(help: "The token to store it under.")
    var token: UInt64
    @Option(help: "What to watch it for meanwhile: readable, writable, priority (comma-separated).")
    var interest: String = "readable"

    func run() throws {
        guard let interest = FdSpec.interest(interest) else { Failure.fail("--interest: readable, writable or priority") }
        try FdSpec(argument: "\(fd)")!.check()
        let daemon = try options.connect()
        try Failure.guarded {
            try daemon.hello(session: session, persist: true, client: "mioctl hold")
            try daemon.register(fd: fd, token: Token(token), interest: interest)
        }
        if !options.json { Output.line("held fd \(fd) as token \(token) in session \(session)") }
    }
}

struct Fetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Get a held fd back and run a command with it as fd 3, as socket activation does.",
        discussion: """
            The command runs in mioctl's place with LISTEN_FDS=1 and LISTEN_PID set (compare s6-fdholder-retrieve).
            Example: mioctl fetch --session web --token 1 -- ./server --listen-fd 3
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
        let fd = try Failure.guarded { () throws -> Int32 in
            try daemon.hello(session: session, client: "mioctl fetch")
            return try daemon.fetch(token: Token(token), deregister: deregister)
        }
        do {
            try Sys.duplicate(fd, to: 3)
        } catch {
            Failure.fail("cannot place the fd at 3: \(error)")
        }
        setenv("LISTEN_FDS", "1", 1)
        setenv("LISTEN_PID", "\(getpid())", 1)
        setenv("LISTEN_FDNAMES", "\(session).\(token)", 1)
        let error = Sys.execute(command)
        Failure.fail("cannot run \(command[0]): \(error)")
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
        try Failure.guarded { try daemon.wake(token: Token(token), session: session) }
        if !options.json { Output.line("woke token \(token) of session \(session)") }
    }
}
