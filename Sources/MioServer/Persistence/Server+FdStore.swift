import MioCore
import MioSystem
import MioProtocol

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
        var kept: [String: Registration] = [:]
        var copies: [String: Int] = [:]
        for item in inherited {
            copies[item.name, default: 0] += 1
            guard let stored = StoredRegistration(name: item.name) else {
                logger.warning("fd store: \"\(item.name)\" is not a name of ours; closing fd \(item.fd)")
                ClientFdCloser.shared.close(item.fd)
                continue
            }
            if kept[item.name] != nil {
                logger.warning("fd store: \(item.name) came twice; keeping the first")
                ClientFdCloser.shared.close(item.fd)
                continue
            }
            switch restore(stored, fd: ClientFd(adopting: item.fd)) {
            case .failure(let problem):
                logger.warning("fd store: cannot restore \(item.name): \(problem); closing it")
            case .success(let registration):
                kept[item.name] = registration
            }
        }
        // The store must end up with exactly one copy of each name kept, and
        // none of the others: FDSTOREREMOVE removes every copy of a name.
        for (name, count) in copies.sorted(by: { $0.key < $1.key }) {
            let registration = kept[name]
            if registration == nil || count > 1 { fdStore.forget(name: name) }
            guard let registration else { continue }
            if count > 1 {
                fdStore.store(registration)
            } else {
                fdStore.stored(registration, as: name)
            }
        }
        if !inherited.isEmpty {
            logger.info("fd store: \(kept.count) of \(inherited.count) registrations restored")
        }
    }

    /// Registers one stored fd again, in its session (made persistent);
    /// on failure the fd is closed and the reason returned.
    private func restore(_ stored: StoredRegistration, fd: consuming ClientFd) -> Result<Registration, RestoreFailure> {
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
        // Already in the store: `restore(_:)` records it under its name.
        add(registration, to: session, storing: false)
        return .success(registration)
    }
}

/// Why a stored fd could not be registered again.
struct RestoreFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
