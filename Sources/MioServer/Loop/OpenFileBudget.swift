/// How the open-file limit is shared out (docs/protocol.md, "Limits"):
/// the daemon's own fds, a reserve so that one full `recvmsg` (253 fds) and
/// an `accept` always fit, fds in flight (received, not yet claimed by a
/// request; or waiting to go out with a `fetch` reply), connections, and
/// what is left for registrations. So a daemon with a hard limit of 64
/// still serves a few registrations, and no client's hoarding can make an
/// honest `register` fail with `EMFILE` or `MSG_CTRUNC`.
public struct OpenFileBudget: Sendable, Equatable {
    /// The open-file limit (`RLIMIT_NOFILE`) shared out.
    public let limit: Int
    public let ownFds: Int
    public let reserve: Int
    public let fdsInFlight: Int
    public let connections: Int
    public let registrations: Int

    public init(openFileLimit limit: Int) {
        self.limit = limit
        ownFds = 16
        reserve = min(254, limit / 4)
        fdsInFlight = min(4096, max(8, limit / 16))
        connections = max(8, limit / 8)
        registrations = max(0, limit - ownFds - reserve - fdsInFlight - connections)
    }

    /// One line for the start log.
    public var summary: String {
        "open-file limit \(limit): room for \(registrations) registrations, \(connections) connections and \(fdsInFlight) fds in flight"
    }
}
