import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MioClient
import MioCore
import MioSystem
import Protocol

@main
struct Mioctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mioctl",
        abstract: "Talk to mio-daemon from a shell: hand it fds, wait on them, keep them across restarts.",
        discussion: """
            The socket is found as the daemon finds it: --socket, $MIO_SOCKET, /run/mio-daemon/mio.sock \
            for root, $XDG_RUNTIME_DIR/mio-daemon/mio.sock, /tmp/mio-daemon-$UID/mio.sock.
            Exit status: 0 success, 1 timeout (wait), 2 error.
            """,
        subcommands: [Ping.self, Stats.self, List.self, Watch.self, Wait.self, Hold.self, Fetch.self, Wake.self])
}

/// Options every subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "The daemon's socket.")
    var socket: String?

    @Flag(help: "Print the daemon's raw JSON lines instead of text for people.")
    var json = false

    func connect() throws -> MioConnection {
        try Failure.guarded { try MioConnection(path: socket) }
    }
}

/// Ends mioctl with one line on stderr and exit status 2, never a trace.
enum Failure {
    static func guarded<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as MioClientError {
            fail("\(error)")
        } catch let error as MioError {
            fail("\(error)")
        }
    }

    static func fail(_ message: String) -> Never {
        let line = Array("mioctl: \(message)\n".utf8)
        _ = line.withUnsafeBytes { try? Sys.write(2, from: $0.baseAddress!, count: $0.count) }
        exit(2)
    }
}

/// `--fd N[:TOKEN[:INTEREST]]`, checked before anything is sent.
struct FdSpec: ExpressibleByArgument {
    let fd: Int32
    let token: UInt64
    let interest: Interest

    init?(argument: String) {
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), let fd = Int32(parts[0]), fd >= 0 else { return nil }
        self.fd = fd
        if parts.count >= 2 {
            guard let token = UInt64(parts[1]) else { return nil }
            self.token = token
        } else {
            self.token = UInt64(fd)
        }
        if parts.count == 3 {
            guard let interest = FdSpec.interest(String(parts[2])) else { return nil }
            self.interest = interest
        } else {
            self.interest = .readable
        }
    }

    /// `readable,writable` or the first letters, `r,w` (also `rw`).
    static func interest(_ text: String) -> Interest? {
        let names = text.split(separator: ",").flatMap { part -> [String] in
            if Interest(wireName: part) != nil { return [String(part)] }
            // Letters: each the first letter of a wire name.
            return part.map { letter in Interest.wireNames.first { $0.name.first == letter }?.name ?? "?" }
        }
        return Interest(wireNames: names)
    }

    /// A clear message for an fd that cannot be handed over.
    func check() throws {
        guard Sys.isOpen(fd) else { Failure.fail("--fd \(fd): not an open file descriptor (did the shell open it, as in 3<file?)") }
        if let info = try? Sys.fstat(fd) {
            let kind = info.st_mode & S_IFMT
            if kind == S_IFREG { Failure.fail("--fd \(fd): a regular file cannot be polled; use a pipe, FIFO, socket or similar") }
            if kind == S_IFDIR { Failure.fail("--fd \(fd): a directory cannot be polled") }
        }
    }
}

/// Prints a reply's fields or an event, as text or as JSON.
enum Output {
    static func line(_ text: String) {
        print(text)
        fflush(nil)
    }

    static func event(_ event: ClientEvent, json: Bool) {
        if json {
            var writer = JSONWriter(capacity: 256)
            switch event {
            case .ready(let ready): writer.eventLine(ready)
            case .shutdown: writer.notice(.shutdown)
            case .sessionTaken: writer.notice(.sessionTaken)
            }
            line(String(decoding: writer.bytes.dropLast(), as: UTF8.self))
        } else {
            line(event.description)
        }
    }
}
