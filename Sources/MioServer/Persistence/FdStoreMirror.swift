import MioSystem

/// Keeps the service manager's fd store equal, at every moment, to the fds
/// of persistent sessions (docs/protocol.md, "Persistent sessions across a
/// restart or crash"): an fd goes in when it is added, before the reply
/// that added it goes out, and leaves with the reply that removes it. So a
/// crash, a SIGKILL or a watchdog kill loses nothing, and brings nothing
/// stale back.
///
/// Store operations are datagrams to PID 1; a budget per loop turn keeps a
/// flood of registrations from flooding it: past the budget, requests of
/// persistent sessions wait for the next turn. An operation PID 1 did not
/// take is tried again each turn.
final class FdStoreMirror {
    /// Store operations one loop turn may send.
    static let operationsPerTurn = 256

    private(set) var manager: ServiceManager?
    private var operationsThisTurn = 0
    /// Registrations whose fd PID 1 did not take: tried again each turn.
    private var retries: [Registration] = []
    /// Leases whose timerfd PID 1 did not take: tried again each turn.
    private var leaseRetries: [Session] = []
    /// Stored client fds by file (device, inode): systemd keeps one copy of
    /// an open file, so a second registration of it could not be stored.
    private var storedFiles: [FileIdentity: [Registration]] = [:]

    init(manager: ServiceManager?) {
        self.manager = manager
    }

    /// Whether requests that may store or remove fds can run this turn.
    var hasBudget: Bool { manager == nil || operationsThisTurn < Self.operationsPerTurn }

    @inline(__always)
    func newTurn() {
        if operationsThisTurn != 0 { operationsThisTurn = 0 }
        if !leaseRetries.isEmpty {
            let again = leaseRetries
            leaseRetries = []
            for session in again { storeLease(of: session) }
        }
        guard !retries.isEmpty else { return }
        let again = retries
        retries = []
        for registration in again where registration.isActive { store(registration) }
    }

    /// The daemon is stopping: what the store holds stays there for the
    /// next start, whatever is closed from now on.
    func freeze() { manager = nil }

    /// A stored registration that holds the same open file as `fd`, if any:
    /// the store would drop a second copy of it.
    func storedCopy(of fd: Int32) -> Registration? {
        guard manager != nil, let file = FileIdentity(fd) else { return nil }
        return storedFiles[file]?.first { Sys.isSameOpenFile($0.fd, fd) != false }
    }

    /// A registration joined a persistent session (or its session became
    /// persistent): its fd goes to the store under its name.
    func store(_ registration: Registration) {
        guard let manager, registration.storedName == nil, let session = registration.session.name else { return }
        // systemd keeps one copy of an open file: a second is never sent.
        if !registration.role.holdsDaemonFd, storedCopy(of: registration.fd) != nil { return }
        let name = Self.name(of: registration, session: session)
        operationsThisTurn += 1
        guard manager.store(registration.fd, name: name) else {
            retries.append(registration)
            return
        }
        stored(registration, as: name)
    }

    /// Records that `registration`'s fd is in the store under `name` (also
    /// for fds the store handed back at start).
    func stored(_ registration: Registration, as name: String) {
        registration.storedName = name
        if !registration.role.holdsDaemonFd, let file = FileIdentity(registration.fd) {
            registration.storedFile = file
            storedFiles[file, default: []].append(registration)
        }
    }

    /// The registration is going: its stored copy goes first.
    func remove(_ registration: Registration) {
        if !retries.isEmpty { retries.removeAll { $0 === registration } }
        guard let manager, let name = registration.storedName else { return }
        operationsThisTurn += 1
        _ = manager.removeStored(name: name)  // a failure leaves a stale copy, taken back and dropped at the next start
        registration.storedName = nil
        if let file = registration.storedFile {
            storedFiles[file]?.removeAll { $0 === registration }
            if storedFiles[file]?.isEmpty == true { storedFiles[file] = nil }
            registration.storedFile = nil
        }
    }

    /// Its interest or mode changed, and with them its stored name: the
    /// old entry goes, the new one comes (removed first: systemd would
    /// drop a second copy of the same file).
    func rename(_ registration: Registration) {
        guard let old = registration.storedName, let session = registration.session.name,
              Self.name(of: registration, session: session) != old else { return }
        remove(registration)
        store(registration)
    }

    /// A persistent session's lease timer goes to the store (again, under
    /// a new name, when its length changed).
    func storeLease(of session: Session) {
        guard let manager, let lease = session.lease, let name = session.name else { return }
        let wanted = StoredLease(uid: session.uid, session: name, seconds: lease.seconds).name
        if lease.storedName == wanted { return }
        removeLease(lease)
        operationsThisTurn += 1
        guard manager.store(lease.timer.fd, name: wanted) else {
            leaseRetries.append(session)
            return
        }
        lease.storedName = wanted
    }

    /// Records that the lease's timerfd is in the store under `name` (handed back at start).
    func stored(_ lease: SessionLease, as name: String) {
        lease.storedName = name
    }

    /// The lease is going: its stored copy goes first.
    func removeLease(_ lease: SessionLease) {
        if !leaseRetries.isEmpty { leaseRetries.removeAll { $0.lease === lease } }
        guard let manager, let name = lease.storedName else { return }
        operationsThisTurn += 1
        _ = manager.removeStored(name: name)
        lease.storedName = nil
    }

    /// A name the store handed back that the daemon does not hold: it
    /// leaves the store.
    func forget(name: String) {
        guard let manager else { return }
        operationsThisTurn += 1
        _ = manager.removeStored(name: name)
    }

    private static func name(of registration: Registration, session: String) -> String {
        StoredRegistration(uid: registration.session.uid, session: session, token: registration.token,
                           role: registration.role, interest: registration.interest, mode: registration.mode).name
    }
}

/// A file by device and inode: the candidates for "the same open file".
struct FileIdentity: Hashable {
    let device: UInt64
    let inode: UInt64

    init?(_ fd: Int32) {
        guard let info = try? Sys.fstat(fd) else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}
