#if canImport(Glibc)
import Glibc
#endif

/// The socket path of docs/protocol.md, "Socket path", the same for the daemon and its clients:
/// an explicit path, `$MIO_SOCKET`, `/run/mio-daemon/mio.sock` for root,
/// `$XDG_RUNTIME_DIR/mio-daemon/mio.sock`, `/tmp/mio-daemon-$UID/mio.sock`.
/// (Under socket activation the daemon serves the socket it was given.)
public enum SocketPath {
    public static func resolve(explicit: String? = nil) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = environment("MIO_SOCKET"), !env.isEmpty { return env }
        if getuid() == 0 { return "/run/mio-daemon/mio.sock" }
        if let runtime = environment("XDG_RUNTIME_DIR"), !runtime.isEmpty { return "\(runtime)/mio-daemon/mio.sock" }
        return "/tmp/mio-daemon-\(getuid())/mio.sock"
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
