import MioCore
import MioSystem
import Protocol

/// Persistent sessions across any end of the daemon: their fds are kept in
/// the service manager's fd store all along (``FdStoreMirror``); at start
/// they come back (`LISTEN_FDS`/`LISTEN_FDNAMES`) and are registered again,
/// so a client re-attaching finds every registration and the readiness of
/// meanwhile.
extension Server {
    /// Takes back what the fd store kept. Each fd stays in the store under
    /// its name while it is held; a bad entry, a refused one and a second
    /// copy of a name are closed and leave the store. The daemon starts all
    /// the same.
    func restore(_ inherited: [InheritedFd]) {
        var restored = 0
        var kept: [String: Registration] = [:]
        var duplicated: Set<String> = []
        for item in inherited {
            let fd = ClientFd(adopting: item.fd)
            guard let stored = StoredRegistration(name: item.name) else {
                logger.warning("fd store: \"\(item.name)\" is not a name of ours; closing fd \(item.fd)")
                fdStore.forget(name: item.name)
                continue
            }
            if kept[item.name] != nil {
                logger.warning("fd store: \(item.name) came twice; keeping the first")
                duplicated.insert(item.name)
                continue
            }
            switch restore(stored, named: item.name, fd: fd) {
            case .failure(let problem):
                logger.warning("fd store: cannot restore \(item.name): \(problem); closing it")
                fdStore.forget(name: item.name)
            case .success(let registration):
                kept[item.name] = registration
                restored += 1
            }
        }
        // The store holds every copy under a duplicated name: remove them
        // all, then store the one kept.
        for name in duplicated.sorted() {
            guard let registration = kept[name] else { continue }
            fdStore.remove(registration)
            fdStore.store(registration)
        }
        if !inherited.isEmpty {
            logger.info("fd store: \(restored) of \(inherited.count) registrations restored")
        }
    }

    /// Registers one stored fd again, in its session (made persistent);
    /// on failure the fd is closed and the reason returned.
    private func restore(_ stored: StoredRegistration, named name: String, fd: consuming ClientFd) -> Result<Registration, RestoreFailure> {
        let session: Session
        switch sessions.findOrMakeNamed(Session.Key(uid: stored.uid, name: stored.session)) {
        case .failure(let refusal): return .failure(RestoreFailure(refusal.message))
        case .success(let found): session = found
        }
        session.persistent = true
        if let refusal = refusalOfRegistration(stored.token, in: session) { return .failure(RestoreFailure(refusal.message)) }
        let kind: ClientFdKind
        switch ClientFdKind.classify(fd.raw) {
        case .failure(let error): return .failure(RestoreFailure(error.message))
        case .success(let found): kind = found
        }
        // A waker is the daemon's eventfd; a client's fd may be of any allowed kind (an eventfd too).
        if stored.isWaker && kind != .eventfd { return .failure(RestoreFailure("a waker must be an eventfd, this is a \(kind.rawValue)")) }
        if kind == .socket, isConnectedToListener(fd.raw) { return .failure(RestoreFailure("a socket connected to the daemon itself")) }
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
            return .failure(RestoreFailure("\(error)"))
        }
        // Already in the store under its name: counted, not stored again.
        registration.storedName = name
        add(registration, to: session)
        return .success(registration)
    }
}

/// Why a stored fd could not be registered again.
struct RestoreFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
