import ArgumentParser
import MioClient

/// What `wait` and `watch` share: several --fd, the default interest.
struct FdOptions: ParsableArguments {
    @Option(name: .customLong("fd"), help: ArgumentHelp("N[:TOKEN][:INTEREST] (repeatable); TOKEN defaults to N, INTEREST (r, w, p, rw, readable,writable…) to the flags below.",
                                                        valueName: "spec"))
    var fds: [FdSpec] = []
    @Flag(help: "Wait for readable (the default).")
    var readable = false
    @Flag(help: "Wait for writable.")
    var writable = false
    @Flag(help: "Wait for priority (out-of-band) data.")
    var priority = false

    func validate() throws {
        try FdSpec.validate(fds)
    }

    var defaultInterest: Interest { FdSpec.interest(readable: readable, writable: writable, priority: priority) }
    var fdOfToken: [UInt64: Int32] { Dictionary(uniqueKeysWithValues: fds.map { ($0.token, $0.fd) }) }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hand fds to the daemon and print their events until interrupted.",
        discussion: """
            Example: mioctl watch --fd 3 3<>my.fifo
                     mioctl watch --fd 3:7:rw --session web --persist 3<>my.fifo
            (3<>my.fifo, not 3<my.fifo: a FIFO opened only for reading blocks the shell until a writer comes.)
            """)
    @OptionGroup var options: CommonOptions
    @OptionGroup var fdOptions: FdOptions
    @Option(help: "Attach to this named session.")
    var session: String?
    @Flag(help: "Keep the session and its fds after mioctl exits.")
    var persist = false

    func validate() throws {
        if persist && session == nil { throw ValidationError("--persist needs --session") }
    }

    func run() throws {
        for spec in fdOptions.fds { try spec.check() }
        let daemon = try options.connect()
        try Failure.guarded(options) {
            if session != nil || persist { try daemon.hello(session: session, persist: persist, client: "mioctl watch") }
            for spec in fdOptions.fds {
                try daemon.register(fd: spec.fd, token: Token(spec.token), interest: spec.interest ?? fdOptions.defaultInterest)
            }
            while let event = try daemon.next(timeout: nil) {
                Output.event(event, json: options.json, fds: fdOptions.fdOfToken)
                if event == .shutdown || event == .sessionTaken { return }
            }
        }
    }
}

struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait until one of the fds is ready: poll(1) for shell scripts.",
        discussion: """
            With several --fd, the ready one is printed ("fd 4 (token 4): readable"; --json: its event line).
            --timeout here is the whole wait (default: for ever); the daemon must also answer within it.
            Exit status: 0 ready, 1 timeout, 2 the daemon could not be reached or did not answer.
            Example: { mioctl wait --fd 3 --timeout 5s && read line <&3; } 3<>my.fifo
            (3<>my.fifo, not 3<my.fifo: a FIFO opened only for reading blocks the shell until a writer comes.)
            """)
    @OptionGroup var options: CommonOptions
    @OptionGroup var fdOptions: FdOptions

    func validate() throws {
        if fdOptions.fds.isEmpty { throw ValidationError("give at least one --fd") }
    }

    func run() throws {
        for spec in fdOptions.fds { try spec.check() }
        let budget = options.timeout ?? .infinity
        let deadline = budget.duration.map { ContinuousClock.now + $0 }
        let daemon = try Failure.guarded(options) {
            try MioConnection(path: options.socket, timeout: budget.duration ?? TimeSpan.seconds(10).duration)
        }
        let ready = try Failure.guarded(options) { () throws -> Bool in
            for spec in fdOptions.fds {
                try daemon.register(fd: spec.fd, token: Token(spec.token), interest: spec.interest ?? fdOptions.defaultInterest,
                                    mode: .oneshot)
            }
            while true {
                let left = deadline.map { max(.zero, $0 - .now) }
                guard let event = try daemon.next(timeout: left) else { return false }
                if event == .shutdown { Failure.fail("the daemon is shutting down", .unreachable) }
                if case .ready(let r) = event, fdOptions.fdOfToken[r.token.rawValue] != nil {
                    // Which one, when there is a choice (one fd: stdout stays the script's).
                    if options.json || fdOptions.fds.count > 1 { Output.event(event, json: options.json, fds: fdOptions.fdOfToken) }
                    return true
                }
            }
        }
        throw ExitCode(ready ? ExitStatus.success.rawValue : ExitStatus.refused.rawValue)
    }
}
