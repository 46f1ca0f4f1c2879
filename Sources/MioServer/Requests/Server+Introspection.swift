import MioCore
import Protocol

extension Server {
    /// `list`: the session's registrations, by token.
    func list(on connection: Connection) -> RequestOutcome {
        let infos = connection.session.registrations.values.map(\.info).sorted { $0.token < $1.token }
        return .reply(.registrations(infos))
    }

    /// `end`: every registration removed, every fd closed; the connection
    /// goes on in a new anonymous session.
    func end(on connection: Connection) -> RequestOutcome {
        let session = connection.session
        session.persistent = false
        destroy(session)
        giveAnonymousSession(to: connection)
        return .reply(.empty)
    }

    var stats: StatsReply {
        let uptime = ContinuousClock.now - startedAt
        return StatsReply(
            uptimeSeconds: Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18,
            connections: ledger.connectionCount, sessions: ledger.sessionCount, registrations: ledger.registrationCount,
            fdsHeld: ledger.clientFdCount, eventsDelivered: counters.delivered, eventsCoalesced: counters.coalesced)
    }
}
