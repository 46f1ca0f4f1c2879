import MioProtocol
/// What the daemon's flags decide (docs/protocol.md, "Peers, permissions and limits").
public struct ServerConfiguration: Sendable {
    public var maxLine = 65536
    public var maxConnectionsPerUID = 256
    public var maxRegistrationsPerUID = 16384
    public var maxSessionsPerUID = 64
    public var allowedUIDs: Set<UInt32> = []
    public var allowedGIDs: Set<UInt32> = []
    /// How the open-file limit is shared out: registrations, connections
    /// and fds in flight across all clients.
    public var openFiles = OpenFileBudget(openFileLimit: 65536)
    /// How long shutdown waits for clients to take their last lines.
    public var shutdownFlushTimeout: Duration = .seconds(1)
    /// `WATCHDOG=1` this often (half of `WATCHDOG_USEC`), or never.
    public var watchdogInterval: Duration?
    public var serverName = "mio-daemon"
    public var version = packageVersion

    public init() {}

    /// The registration cap a uid has in force: the flag, or what the
    /// open-file limit allows, whichever is smaller.
    public var effectiveRegistrationsPerUID: Int { min(maxRegistrationsPerUID, maxRegistrationsTotal) }

    /// Registrations across all clients: what the open-file limit leaves.
    public var maxRegistrationsTotal: Int { openFiles.registrations }
}
