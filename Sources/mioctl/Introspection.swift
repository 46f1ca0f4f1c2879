import ArgumentParser
import MioClient

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that the daemon answers.", discussion: "Example: mioctl ping")
    @OptionGroup var options: CommonOptions

    func run() throws {
        let daemon = try options.connect()
        if options.json { return try options.printRaw(daemon, #"{"op":"ping"}"#) }
        let clock = ContinuousClock()
        let elapsed = try clock.measure { try Failure.guarded(options) { try daemon.ping() } }
        Output.line("mio-daemon at \(daemon.path) answered in \(elapsed)")
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the daemon's version, protocol, limits and uptime.", discussion: "Example: mioctl info")
    @OptionGroup var options: CommonOptions

    func run() throws {
        let daemon = try options.connect()
        let (hello, stats) = try Failure.guarded(options) { (try daemon.hello(client: "mioctl info"), try daemon.stats()) }
        if options.json {
            Output.line("""
                {"server":\(jsonString(hello.server)),"version":\(jsonString(hello.version)),"protocol":\(protocolVersion),\
                "limits":{"max_line":\(hello.limits.maxLine),"max_registrations_per_uid":\(hello.limits.maxRegistrationsPerUID),\
                "max_connections_per_uid":\(hello.limits.maxConnectionsPerUID),"max_sessions_per_uid":\(hello.limits.maxSessionsPerUID)},\
                "uptime_s":\(stats.uptimeSeconds),"socket":\(jsonString(daemon.path)),"mioctl":"\(packageVersion)"}
                """)
            return
        }
        Output.line("""
            server                   \(hello.server) \(hello.version)
            protocol                 \(protocolVersion)
            socket                   \(daemon.path)
            uptime                   \(stats.uptimeSeconds) s
            max line                 \(hello.limits.maxLine) bytes
            max registrations / uid  \(hello.limits.maxRegistrationsPerUID)
            max connections / uid    \(hello.limits.maxConnectionsPerUID)
            max sessions / uid       \(hello.limits.maxSessionsPerUID)
            mioctl                   \(packageVersion)
            """)
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the daemon's counters.", discussion: "Example: mioctl stats --json")
    @OptionGroup var options: CommonOptions

    func run() throws {
        let daemon = try options.connect()
        if options.json { return try options.printRaw(daemon, #"{"op":"stats"}"#) }
        let s = try Failure.guarded(options) { try daemon.stats() }
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

struct Sessions: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the named sessions of this uid (root: of every uid), without attaching to any.",
        discussion: "Example: mioctl sessions")
    @OptionGroup var options: CommonOptions

    func run() throws {
        let daemon = try options.connect()
        if options.json { return try options.printRaw(daemon, #"{"op":"sessions"}"#) }
        let sessions = try Failure.guarded(options) { try daemon.sessions() }
        if sessions.isEmpty { Output.line("no named sessions") }
        for s in sessions {
            let state = [s.persistent ? "persistent" : nil, s.attached ? "attached" : "detached"].compactMap { $0 }
            var lease = ""
            if let seconds = s.leaseSeconds {
                lease = "  lease \(seconds) s" + (s.expiresInSeconds.map { ", ends in \(($0 * 10).rounded() / 10) s" } ?? "")
            }
            Output.line("\(s.name)  uid \(s.uid)  \(state.joined(separator: " "))  \(s.registrations) registrations  \(s.pending) pending" + lease)
        }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the registrations of a session, read-only: it stays as it is, pending events too.",
        discussion: """
            Without SESSION: every named session of this uid, each with its registrations.
            A session that does not exist is an error (exit 1).
            Example: mioctl list web
            """)
    @OptionGroup var options: CommonOptions
    @Argument(help: "The named session to list.")
    var session: String?
    @Option(name: .customLong("session"), help: ArgumentHelp("The same as SESSION.", visibility: .hidden))
    var sessionOption: String?
    @Option(help: "The uid the session belongs to (root only; default: your own).")
    var uid: UInt32?

    func validate() throws {
        if session != nil && sessionOption != nil { throw ValidationError("give the session once") }
        if uid != nil && (session ?? sessionOption) == nil { throw ValidationError("--uid needs a SESSION") }
    }

    func run() throws {
        let daemon = try options.connect()
        guard let name = session ?? sessionOption else { return try overview(daemon) }
        if options.json {
            return try options.printRaw(daemon, #"{"op":"list","session":\#(jsonString(name))\#(uid.map { #","uid":\#($0)"# } ?? "")}"#)
        }
        let registrations = try Failure.guarded(options) { try daemon.list(session: name, uid: uid) }
        print(registrations, indent: "")
    }

    private func overview(_ daemon: MioConnection) throws {
        let sessions = try Failure.guarded(options) { try daemon.sessions() }
        if options.json {
            var parts: [String] = []
            for s in sessions {
                let reply = try Failure.guarded(options) {
                    try daemon.raw(#"{"op":"list","session":\#(jsonString(s.name)),"uid":\#(s.uid)}"#)
                }
                parts.append(#"{"session":\#(jsonString(s.name)),"uid":\#(s.uid),"reply":\#(reply)}"#)
            }
            return Output.line("[" + parts.joined(separator: ",") + "]")
        }
        if sessions.isEmpty { Output.line("no named sessions") }
        for s in sessions {
            Output.line("session \(s.name) (uid \(s.uid)):")
            print(try Failure.guarded(options) { try daemon.list(session: s.name, uid: s.uid) }, indent: "  ")
        }
    }

    private func print(_ registrations: [RegistrationInfo], indent: String) {
        if registrations.isEmpty { Output.line("\(indent)no registrations") }
        for r in registrations {
            Output.line("\(indent)token \(r.token.rawValue)  \(r.kind)  " + Self.describe(r))
        }
    }

    /// What it is watched for: interest and mode, "held" (never polled), or a timer's schedule.
    private static func describe(_ r: RegistrationInfo) -> String {
        if let timer = r.timer {
            let every = timer.intervalMilliseconds.map { "every \($0) ms" } ?? "once"
            let next = timer.expiresInMilliseconds.map { ", next in \($0) ms" } ?? ", expired"
            return every + next
        }
        guard let interest = r.interest, let mode = r.mode else { return "held (not polled)" }
        return "\(interest.names.joined(separator: ","))  \(mode)"
    }
}

struct Call: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one raw request and print its reply, as varlinkctl call does.",
        discussion: """
            Exit status 1 when the reply is ok:false. Each call is a connection of its own: \
            a hello here attaches only for this one request.
            Example: mioctl call '{"op":"sessions"}'
            """)
    @OptionGroup var options: CommonOptions
    @Argument(help: "The request: one JSON object on one line.")
    var request: String

    func validate() throws {
        let trimmed = request.trimmingSpaces
        guard trimmed.hasPrefix("{"), trimmed.hasSuffix("}"), !request.contains("\n") else {
            throw ValidationError("the request is one JSON object on one line, as {\"op\":\"ping\"}")
        }
    }

    func run() throws {
        let daemon = try options.connect()
        try options.printRaw(daemon, request)
    }
}

/// A JSON string literal.
func jsonString(_ text: String) -> String {
    var writer = JSONWriter(capacity: text.utf8.count + 2)
    writer.string(text)
    return String(decoding: writer.bytes, as: UTF8.self)
}
