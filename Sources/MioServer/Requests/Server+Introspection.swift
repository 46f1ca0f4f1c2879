import MioCore
import MioSystem
import MioProtocol

/// Looking at sessions: `list`, `sessions`, `stats`, and `end` (docs/protocol.md,
/// "Operations"). Looking never attaches and never consumes pending readiness.
extension Server {
    /// `list`: the registrations of the caller's session, or of a named one
    /// of its uid (root: of any uid), by token.
    func list(session name: String?, uid: UInt32?, on connection: Connection) -> RequestOutcome {
        let session: Session
        if let name {
            switch namedSession(name, uid: uid, for: connection) {
            case .failure(let error): return .failure(error)
            case .success(let found): session = found
            }
        } else {
            session = connection.session
        }
        let infos = session.allRegistrations.map(\.info).sorted { $0.token < $1.token }
        return .reply(.registrations(infos))
    }

    /// `sessions`: the named sessions of the caller's uid; root sees every uid's.
    func sessionsReply(for connection: Connection) -> RequestOutcome {
        let uid = connection.peer.uid
        let visible = sessions.named.values.filter { uid == 0 || $0.uid == uid }
        let infos = visible.map { session in
            SessionInfo(name: session.name ?? "", uid: session.uid, persistent: session.persistent,
                        attached: session.connection != nil, registrations: session.registrationCount,
                        pending: session.pendingTokenCount, leaseSeconds: session.lease.map { Int($0.seconds) },
                        expiresInSeconds: session.connection == nil ? session.lease?.expiresIn?.secondsWithFraction : nil)
        }
        return .reply(.sessions(infos.sorted { ($0.uid, $0.name) < ($1.uid, $1.name) }))
    }

    /// `end`: every registration removed, every fd closed. Without
    /// `session`, the caller's own, and the connection goes on in a new
    /// anonymous session; with one, that named session, which no
    /// connection may be attached to.
    func end(session name: String?, uid: UInt32?, on connection: Connection) -> RequestOutcome {
        guard let name else {
            let session = connection.session
            session.persistent = false
            destroy(session)
            let reply = removalReply(nil, on: connection)
            giveAnonymousSession(to: connection)
            return .reply(reply)
        }
        let session: Session
        switch namedSession(name, uid: uid, for: connection) {
        case .failure(let error): return .failure(error)
        case .success(let found): session = found
        }
        if session === connection.session { return end(session: nil, uid: nil, on: connection) }
        if session.connection != nil {
            return .failure(ProtocolError(.sessionBusy, "session \"\(name)\" is in use by a connection; end it there, or take it over first"))
        }
        session.persistent = false
        destroy(session)
        return .reply(.empty)
    }

    /// The named session `name` of the caller's uid, or of `uid` for root.
    private func namedSession(_ name: String, uid: UInt32?, for connection: Connection) -> Result<Session, ProtocolError> {
        let caller = connection.peer.uid
        if let uid, uid != caller, caller != 0 {
            return .failure(ProtocolError(.permissionDenied, "only root may look at the sessions of another uid"))
        }
        let owner = uid ?? caller
        guard let session = sessions.named(Session.Key(uid: owner, name: name)) else {
            return .failure(ProtocolError(.unknownSession, "uid \(owner) has no session named \"\(name)\""))
        }
        return .success(session)
    }

    var stats: StatsReply {
        let uptime = ContinuousClock.now - startedAt
        return StatsReply(
            uptimeSeconds: uptime.secondsWithFraction,
            connections: ledger.connectionCount, sessions: ledger.sessionCount, registrations: ledger.registrationCount,
            fdsHeld: ledger.clientFdCount, eventsDelivered: counters.delivered, eventsCoalesced: counters.coalesced)
    }
}
