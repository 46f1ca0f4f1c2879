/// What the daemon's flags decide (docs/protocol.md, "Peers, permissions and limits").
public struct ServerConfiguration: Sendable {
    public var maxLine = 65536
    public var maxConnectionsPerUID = 256
    public var maxRegistrationsPerUID = 16384
    public var maxSessionsPerUID = 64
    public var allowedUIDs: Set<UInt32> = []
    public var allowedGIDs: Set<UInt32> = []
    /// Registrations across all clients: kept below the open-file limit.
    public var maxRegistrationsTotal = 16384
    /// How long shutdown waits for clients to take their last lines.
    public var shutdownFlushTimeout: Duration = .seconds(1)
    /// `WATCHDOG=1` this often (half of `WATCHDOG_USEC`), or never.
    public var watchdogInterval: Duration?
    public var serverName = "mio-daemon"
    public var version = "0.1.0"

    public init() {}

    /// The registration cap a uid has in force: the flag, or what the
    /// open-file limit allows, whichever is smaller.
    public var effectiveRegistrationsPerUID: Int { min(maxRegistrationsPerUID, maxRegistrationsTotal) }

    /// The total registrations an open-file limit allows: what is left after
    /// a reserve for connections, the daemon's own fds and fds in flight.
    public static func registrationsAllowed(byOpenFileLimit limit: Int) -> Int {
        let reserve = max(64, limit / 8)
        return max(0, limit - reserve)
    }
}
