import ArgumentParser
import MioClient

@main
struct Mioctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mioctl",
        abstract: "Talk to mio-daemon from a shell: hand it fds, wait on them, keep them across restarts.",
        discussion: """
            The socket is found as the daemon finds it: --socket, $MIO_SOCKET, /run/mio-daemon/mio.sock \
            for root, $XDG_RUNTIME_DIR/mio-daemon/mio.sock, /tmp/mio-daemon-$UID/mio.sock.

            Every request waits at most --timeout for its reply (default 10s; systemd time spans: \
            500ms, 5s, 1min, 1h, infinity; a plain number is seconds).

            \(ExitStatus.summary)
            """,
        version: "mioctl \(packageVersion) (protocol \(protocolVersion))",
        subcommands: [Ping.self, Info.self, Stats.self, Sessions.self, List.self, End.self,
                      Watch.self, Wait.self, Hold.self, Fetch.self, Serve.self, Deregister.self, Waker.self, Wake.self, Call.self])
}
