import MioCore
import MioSystem
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
            let fd = ClientFd(adopting: item.fd)
            guard let stored = StoredRegistration(name: item.name) else {
                logger.warning("fd store: \"\(item.name)\" is not a name of ours; closing fd \(item.fd)")
                continue
            }
            restoredNames.insert(item.name)
            if let problem = restore(stored, fd: fd) {
                logger.warning("fd store: cannot restore \(item.name): \(problem); closing it")
            } else {
                restored += 1
            }
        }
        if !inherited.isEmpty {
            logger.info("fd store: \(restored) of \(inherited.count) registrations restored")
        }
    }

    /// Registers one stored fd again; returns why not, if it cannot be (the
    /// fd is then closed).
    private func restore(_ stored: StoredRegistration, fd: consuming ClientFd) -> String? {
        let session: Session
        switch sessions.findOrMakeNamed(Session.Key(uid: stored.uid, name: stored.session)) {
        case .failure(let refusal): return refusal.message
        case .success(let found): session = found
        }
        session.persistent = true
        if let refusal = refusalOfRegistration(stored.token, in: session) { return refusal.message }
        let kind: ClientFdKind
        switch ClientFdKind.classify(fd.raw) {
        case .failure(let error): return error.message
        case .success(let found): kind = found
        }
        // A waker is the daemon's eventfd; a client's fd may be of any allowed kind (an eventfd too).
        if stored.isWaker && kind != .eventfd { return "a waker must be an eventfd, this is a \(kind.rawValue)" }
        if kind == .socket, isConnectedToListener(fd.raw) { return "a socket connected to the daemon itself" }
        let registration: Registration
        do {
            if stored.isWaker {
                let eventFd = fd.release()
                var made: Registration?
                do {
                    _ = try watches.watch(registering: { (slot) throws(MioError) in
                        try Waker(registry: poll.registry, token: slot, adopting: eventFd)
                    }, as: { slot, waker in
                        let registration = Registration(token: stored.token, session: session, waker: waker)
                        registration.internalToken = slot
                        made = registration
                        return .registration(registration)
                    })
                } catch {
                    Sys.close(eventFd)  // the Waker was never made, so nothing else owns it
                    throw error
                }
                registration = made!
            } else {
                registration = Registration(token: stored.token, session: session, kind: kind, holding: fd,
                                            interest: stored.interest, mode: stored.mode)
                registration.internalToken = try watches.watch(registration.fd, interest: stored.interest,
                                                               mode: stored.mode, as: .registration(registration))
            }
        } catch {
            return "\(error)"
        }
        add(registration, to: session)
        return nil
    }

    /// At stop: every registration of a persistent session goes to the fd
    /// store under its name (the store keeps its own copy of the fd); names
    /// taken back at start and no longer held are removed from it.
    func storePersistentSessions() {
        guard let serviceManager else { return }
        var current: [(fd: Int32, name: String)] = []
        for session in sessions.persistentSessions {
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
