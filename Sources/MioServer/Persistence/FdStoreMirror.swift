/// Keeps the service manager's fd store equal, at every moment, to the fds
/// of persistent sessions (docs/protocol.md, "Persistent sessions across a
/// restart or crash"): an fd goes in when it is added, before the reply that added
/// it goes out, and leaves with the reply that removes it. So a crash, a
/// SIGKILL or a watchdog kill loses nothing, and brings nothing stale back.
///
/// Store operations are datagrams to PID 1; a budget per loop turn keeps a
/// flood of registrations from flooding it: past the budget, connections
/// wait for the next turn before their next request runs.
final class FdStoreMirror {
    /// Store operations one loop turn may send.
    static let operationsPerTurn = 256

    private(set) var manager: ServiceManager?
    private var operationsThisTurn = 0

    init(manager: ServiceManager?) {
        self.manager = manager
    }

    /// Whether requests that may store or remove fds can run this turn.
    var hasBudget: Bool { manager == nil || operationsThisTurn < Self.operationsPerTurn }

    func newTurn() { operationsThisTurn = 0 }

    /// The daemon is stopping: what the store holds stays there for the
    /// next start, whatever is closed from now on.
    func freeze() { manager = nil }

    /// A registration joined a persistent session (or its session became
    /// persistent): its fd goes to the store under its name.
    func store(_ registration: Registration) {
        guard let manager, registration.storedName == nil, let session = registration.session.name else { return }
        let name = StoredRegistration(uid: registration.session.uid, session: session, token: registration.token,
                                      interest: registration.interest, mode: registration.mode,
                                      isWaker: registration.isWaker).name
        manager.store(registration.fd, name: name)
        registration.storedName = name
        operationsThisTurn += 1
    }

    /// The registration is going: its stored copy goes first.
    func remove(_ registration: Registration) {
        guard let manager, let name = registration.storedName else { return }
        manager.removeStored(name: name)
        registration.storedName = nil
        operationsThisTurn += 1
    }

    /// Its interest or mode changed, and with them its stored name: the
    /// old entry goes, the new one comes.
    func rename(_ registration: Registration) {
        guard registration.storedName != nil else { return }
        remove(registration)
        store(registration)
    }

    /// A name the store handed back that the daemon does not hold (bad,
    /// refused, or a duplicate): it leaves the store.
    func forget(name: String) {
        manager?.removeStored(name: name)
        operationsThisTurn += 1
    }
}
