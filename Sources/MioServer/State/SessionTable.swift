import MioProtocol

/// Every session: named ones by (uid, name), anonymous ones counted. Makes
/// them under the limits and forgets them, keeping the ledger in step.
struct SessionTable {
    private(set) var named: [Session.Key: Session] = [:]
    let ledger: QuotaLedger

    init(ledger: QuotaLedger) {
        self.ledger = ledger
    }

    func named(_ key: Session.Key) -> Session? { named[key] }

    mutating func makeAnonymous(uid: UInt32) -> Session {
        ledger.add(.anonymousSession, uid: uid)
        return Session(uid: uid, name: nil)
    }

    /// The named session `key`, made (not yet persistent) if there is none;
    /// a failure when the uid is at its session limit.
    mutating func findOrMakeNamed(_ key: Session.Key) -> Result<Session, ProtocolError> {
        if let existing = named[key] { return .success(existing) }
        if let refusal = ledger.refusalOfNamedSession(uid: key.uid) { return .failure(refusal) }
        let session = Session(uid: key.uid, name: key.name)
        named[key] = session
        ledger.add(.namedSession, uid: key.uid)
        return .success(session)
    }

    /// Forgets the session after `release` has let go of each of its
    /// registrations; it no longer counts against any limit.
    mutating func destroy(_ session: Session, releasing release: (Registration) -> Void) {
        for registration in session.removeAll() { release(registration) }
        if let key = session.key {
            if named.removeValue(forKey: key) != nil { ledger.remove(.namedSession, uid: session.uid) }
        } else {
            ledger.remove(.anonymousSession, uid: session.uid)
        }
        session.connection = nil
    }

    var persistentSessions: [Session] { named.values.filter(\.persistent) }
}
