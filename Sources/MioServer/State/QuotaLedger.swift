import MioProtocol

/// The counts the limits read (docs/protocol.md, "Peers,
/// permissions and limits"): connections, named sessions and registrations per uid, and in
/// total. Every change marks the daemon's status as changed, for the next
/// `STATUS=` line. Shared by the session table and the server.
final class QuotaLedger {
    /// What is counted.
    enum Item {
        case connection
        case namedSession
        case anonymousSession
        /// A registration; `ownFd`: it holds an fd of the daemon's (a waker, a timer), not a client's.
        case registration(ownFd: Bool)
    }

    let limits: ServerConfiguration
    private var connections = PerUIDCount()
    private var namedSessions = PerUIDCount()
    private var registrations = PerUIDCount()
    private(set) var anonymousSessions = 0
    private(set) var wakers = 0
    /// Set by every change; cleared when the status line goes out.
    var statusChanged = true

    init(limits: ServerConfiguration) {
        self.limits = limits
    }

    var connectionCount: Int { connections.total }
    var sessionCount: Int { namedSessions.total + anonymousSessions }
    var registrationCount: Int { registrations.total }
    /// Registrations that hold a client's fd.
    var clientFdCount: Int { registrations.total - wakers }

    func add(_ item: Item, uid: UInt32) {
        switch item {
        case .connection: connections.increment(uid)
        case .namedSession: namedSessions.increment(uid)
        case .anonymousSession: anonymousSessions += 1
        case .registration(let ownFd):
            registrations.increment(uid)
            if ownFd { wakers += 1 }
        }
        statusChanged = true
    }

    func remove(_ item: Item, uid: UInt32) {
        switch item {
        case .connection: connections.decrement(uid)
        case .namedSession: namedSessions.decrement(uid)
        case .anonymousSession: anonymousSessions -= 1
        case .registration(let ownFd):
            registrations.decrement(uid)
            if ownFd { wakers -= 1 }
        }
        statusChanged = true
    }

    // MARK: - Limits

    /// Why `uid` may not open another connection, or nil.
    func refusalOfConnection(uid: UInt32) -> ProtocolError? {
        guard connections[uid] >= limits.maxConnectionsPerUID else { return nil }
        return ProtocolError(.limitExceeded, "uid \(uid) has \(limits.maxConnectionsPerUID) connections already (--max-connections-per-uid)")
    }

    /// Why `uid` may not make another named session, or nil.
    func refusalOfNamedSession(uid: UInt32) -> ProtocolError? {
        guard namedSessions[uid] >= limits.maxSessionsPerUID else { return nil }
        return ProtocolError(.limitExceeded, "uid \(uid) has \(limits.maxSessionsPerUID) named sessions already (--max-sessions-per-uid)")
    }

    /// Why `uid` may not hold another registration, or nil: the daemon's
    /// fd budget first, then the uid's own cap.
    func refusalOfRegistration(uid: UInt32) -> ProtocolError? {
        let files = limits.openFiles
        if registrations.total >= files.registrations {
            return ProtocolError(.limitExceeded, "the daemon holds \(files.registrations) registrations, the most its open-file limit of \(files.limit) leaves room for (the rest is kept for connections and fds in flight)")
        }
        if registrations[uid] >= limits.maxRegistrationsPerUID {
            return ProtocolError(.limitExceeded, "uid \(uid) has \(limits.maxRegistrationsPerUID) registrations already (--max-registrations-per-uid)")
        }
        return nil
    }

    /// Why the daemon may not accept another connection now, or nil.
    var refusalOfAnyConnection: String? {
        connections.total >= limits.openFiles.connections
            ? "the daemon holds \(limits.openFiles.connections) connections, the most its open-file limit of \(limits.openFiles.limit) leaves room for"
            : nil
    }
}
