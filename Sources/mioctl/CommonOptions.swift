import ArgumentParser
import MioClient

/// Options every subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "The daemon's socket.")
    var socket: String?

    @Flag(help: "Print the daemon's raw JSON lines instead of text for people.")
    var json = false

    @Option(help: ArgumentHelp("How long each request waits for the daemon's answer (wait: also how long to wait for readiness).",
                               valueName: "span"))
    var timeout: TimeSpan?

    /// --timeout, else 10 s.
    var requestTimeout: TimeSpan { timeout ?? .seconds(10) }

    var socketPath: String { SocketPath.resolve(explicit: socket) }

    func connect() throws -> MioConnection {
        try Failure.guarded(self) { try MioConnection(path: socket, timeout: requestTimeout.duration) }
    }

    /// Sends one raw request line, prints the reply; an error reply ends
    /// mioctl with status 1 (after printing it), never 0.
    func printRaw(_ daemon: MioConnection, _ line: String) throws {
        let reply = try Failure.guarded(self) { try daemon.raw(line) }
        Output.line(reply)
        if reply.contains(#""ok":false"#) { throw ExitCode(ExitStatus.refused.rawValue) }
    }
}
