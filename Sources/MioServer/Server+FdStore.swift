import MioCore
import Protocol

/// Persistent sessions across a restart of the daemon: at stop their fds go
/// to the service manager's fd store (`FDSTORE=1`), at start they come back
/// (`LISTEN_FDS`/`LISTEN_FDNAMES`) and are registered again, so a client
/// re-attaching finds every registration and the readiness of meanwhile.
extension Server {
    /// Takes back what the fd store kept. A bad entry is logged and closed;
    /// the daemon starts all the same.
    func restore(_ inherited: [InheritedFd]) {
        var restored = 0
        for item in inherited {
            guard let stored = StoredRegistration(name: item.name) else {
                logger.warning("fd store: \"\(item.name)\" is not a name of ours; closing fd \(item.fd)")
                closer.close(item.fd)
                continue
            }
            restoredNames.insert(item.name)
            if let problem = restore(stored, fd: item.fd) {
                logger.warning("fd store: cannot restore \(item.name): \(problem); closing it")
                closer.close(item.fd)
            } else {
                restored += 1
            }
        }
        if !inherited.isEmpty {
            logger.info("fd store: \(restored) of \(inherited.count) registrations restored")
        }
    }

    /// Registers one stored fd again; returns why not, if it cannot be.
    private func restore(_ stored: StoredRegistration, fd: Int32) -> String? {
        let key = Session.Key(uid: stored.uid, name: stored.session)
        let session: Session
        if let existing = sessionsByName[key] {
            session = existing
        } else {
            guard namedSessionsByUID[stored.uid, default: 0] < configuration.maxSessionsPerUID else {
                return "uid \(stored.uid) is at its session limit"
            }
            session = Session(uid: stored.uid, name: stored.session)
            session.persistent = true
            sessionsByName[key] = session
            namedSessionsByUID[stored.uid, default: 0] += 1
        }
        if let error = checkRegistrationLimits(session, stored.token) { return error.message }
        let kind: ClientFdKind
        switch ClientFdKind.classify(fd) {
        case .failure(let error): return error.message
        case .success(let found): kind = found
        }
        // A waker is the daemon's eventfd; a client's fd may be of any allowed kind (an eventfd too).
        if stored.isWaker && kind != .eventfd { return "a waker must be an eventfd, this is a \(kind.rawValue)" }
        if kind == .socket, isConnectedToListener(fd) { return "a socket connected to the daemon itself" }
        let registration: Registration
        let slot = watched.insert(.reserved)
        do {
            if stored.isWaker {
                let waker = try Waker(registry: poll.registry, token: slot, adopting: fd)
                registration = Registration(token: stored.token, session: session, kind: .waker, fd: fd, waker: waker,
                                            interest: .readable, mode: .edge)
                wakerCount += 1
            } else {
                try poll.registry.register(SourceFd(fd), token: slot, interest: stored.interest, mode: stored.mode)
                registration = Registration(token: stored.token, session: session, kind: kind, fd: fd, waker: nil,
                                            interest: stored.interest, mode: stored.mode)
            }
        } catch {
            watched.remove(slot)
            return "\(error)"
        }
        registration.internalToken = slot
        watched.replace(slot, with: .registration(registration))
        count(registration, into: session)
        return nil
    }

    /// At stop: every registration of a persistent session goes to the fd
    /// store under its name (the store keeps its own copy of the fd); names
    /// taken back at start and no longer held are removed from it.
    func storePersistentSessions() {
        guard let serviceManager else { return }
        var current: [(fd: Int32, name: String)] = []
        for session in sessionsByName.values where session.persistent {
            for registration in session.registrations.values {
                let stored = StoredRegistration(uid: session.uid, session: session.name ?? "", token: registration.token,
                                                interest: registration.interest, mode: registration.mode,
                                                isWaker: registration.isWaker)
                current.append((registration.fd, stored.name))
            }
        }
        // Remove first, so that a name stored again is not kept twice.
        for name in restoredNames.union(current.map(\.name)).sorted() { serviceManager.removeStored(name: name) }
        for entry in current { serviceManager.store(entry.fd, name: entry.name) }
        if !current.isEmpty { logger.info("fd store: \(current.count) registrations of persistent sessions stored") }
    }
}
