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
        var kept: [String: Restored] = [:]
        var copies: [String: Int] = [:]
        for item in inherited {
            copies[item.name, default: 0] += 1
            if kept[item.name] != nil {
                logger.warning("fd store: \(item.name) came twice; keeping the first")
                ClientFdCloser.shared.close(item.fd)
                continue
            }
            let restored: Result<Restored, RestoreFailure>
            if let stored = StoredRegistration(name: item.name) {
                restored = restore(stored, fd: ClientFd(adopting: item.fd)).map { .registration($0) }
            } else if let lease = StoredLease(name: item.name) {
                restored = restoreLease(lease, fd: ClientFd(adopting: item.fd)).map { .lease($0) }
            } else {
                logger.warning("fd store: \"\(item.name)\" is not a name of ours; closing fd \(item.fd)")
                ClientFdCloser.shared.close(item.fd)
                continue
            }
            switch restored {
            case .failure(let problem):
                logger.warning("fd store: cannot restore \(item.name): \(problem); closing it")
            case .success(let what):
                kept[item.name] = what
            }
        }
        // The store must end up with exactly one copy of each name kept, and
        // none of the others: FDSTOREREMOVE removes every copy of a name.
        for (name, count) in copies.sorted(by: { $0.key < $1.key }) {
            let restored = kept[name]
            if restored == nil || count > 1 { fdStore.forget(name: name) }
            switch restored {
            case nil: continue
            case .registration(let registration)?:
                if count > 1 { fdStore.store(registration) } else { fdStore.stored(registration, as: name) }
            case .lease(let session)?:
                guard let lease = session.lease else { continue }
                if count > 1 { fdStore.storeLease(of: session) } else { fdStore.stored(lease, as: name) }
            }
        }
        if !inherited.isEmpty {
            logger.info("fd store: \(kept.count) of \(inherited.count) stored fds restored")
        }
    }

    /// What one stored fd became again.
    private enum Restored {
        case registration(Registration)
        case lease(Session)
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
        let made: Result<Registration, RestoreFailure>
        switch stored.role {
        case .polled: made = restorePolled(stored, fd: fd, in: session)
        case .held: made = restoreHeld(stored, fd: fd, in: session)
        case .waker: made = restoreWaker(stored, fd: fd, in: session)
        case .timer: made = restoreTimer(stored, fd: fd, in: session)
        }
        // Already in the store: `restore(_:)` records it under its name.
        if case .success(let registration) = made { add(registration, to: session, storing: false) }
        return made
    }

    private func restorePolled(_ stored: StoredRegistration, fd: consuming ClientFd, in session: Session) -> Result<Registration, RestoreFailure> {
        let kind: ClientFdKind
        switch ClientFdKind.classify(fd.raw) {
        case .failure(let error): return .failure(RestoreFailure(error.message))
        case .success(let found): kind = found
        }
        if let refusal = refusalOfHolding(fd.raw, kind: kind, in: session) { return .failure(RestoreFailure(refusal.message)) }
        let registration = Registration(token: stored.token, session: session, kind: kind, holding: fd,
                                        interest: stored.interest, mode: stored.mode)
        do {
            registration.internalToken = try watches.watch(registration.fd, interest: stored.interest,
                                                           mode: stored.mode, for: registration)
        } catch {
            return .failure(RestoreFailure("\(error)"))
        }
        return .success(registration)
    }

    private func restoreHeld(_ stored: StoredRegistration, fd: consuming ClientFd, in session: Session) -> Result<Registration, RestoreFailure> {
        let kind: ClientFdKind
        switch ClientFdKind.classifyHeld(fd.raw) {
        case .failure(let error): return .failure(RestoreFailure(error.message))
        case .success(let found): kind = found
        }
        if let refusal = refusalOfHolding(fd.raw, kind: kind, in: session) { return .failure(RestoreFailure(refusal.message)) }
        return .success(Registration(token: stored.token, session: session, kind: kind, storing: fd))
    }

    /// A waker is the daemon's eventfd (a client's fd may be an eventfd too).
    private func restoreWaker(_ stored: StoredRegistration, fd: consuming ClientFd, in session: Session) -> Result<Registration, RestoreFailure> {
        guard case .success(.eventfd) = ClientFdKind.classify(fd.raw) else {
            return .failure(RestoreFailure("a waker must be an eventfd"))
        }
        let eventFd = fd.release()
        var made: Registration?
        do {
            _ = try watches.watch(registering: { (slot) throws(MioError) in
                try Waker(registry: poll.registry, token: slot, adopting: eventFd)
            }, as: { slot, waker in
                let registration = Registration(token: stored.token, session: session, waker: waker)
                registration.internalToken = slot
                made = registration
                return registration
            })
        } catch {
            Sys.close(eventFd)  // the Waker was never made, so nothing else owns it
            return .failure(RestoreFailure("\(error)"))
        }
        return .success(made!)
    }

    /// A timer is the daemon's timerfd: it kept running in the store, so
    /// it goes on where it was; an expiry while no daemon ran is readable
    /// at once, and delivered.
    private func restoreTimer(_ stored: StoredRegistration, fd: consuming ClientFd, in session: Session) -> Result<Registration, RestoreFailure> {
        guard case .success(.timerfd) = ClientFdKind.classify(fd.raw) else {
            return .failure(RestoreFailure("a timer must be a timerfd"))
        }
        let registration = Registration(token: stored.token, session: session, timer: TimerFd(adopting: fd.release()))
        do {
            registration.internalToken = try watches.watch(registration.fd, interest: .readable, for: registration)
        } catch {
            return .failure(RestoreFailure("\(error)"))
        }
        return .success(registration)
    }

    /// A lease timer the fd store kept: the countdown goes on where it
    /// was. One that was stopped (a connection was attached when the
    /// daemon ended) starts again from the whole lease; one that expired
    /// meanwhile ends the session in the first loop turn.
    private func restoreLease(_ stored: StoredLease, fd: consuming ClientFd) -> Result<Session, RestoreFailure> {
        guard case .success(.timerfd) = ClientFdKind.classify(fd.raw) else {
            return .failure(RestoreFailure("a lease must be a timerfd"))
        }
        let timer = TimerFd(adopting: fd.release())
        let session: Session
        switch sessions.findOrMakeNamed(Session.Key(uid: stored.uid, name: stored.session)) {
        case .failure(let refusal): return .failure(RestoreFailure(refusal.message))
        case .success(let found): session = found
        }
        guard session.lease == nil else { return .failure(RestoreFailure("the session has a lease already")) }
        session.persistent = true
        let lease = SessionLease(seconds: stored.seconds, timer: timer)
        do {
            lease.internalToken = try watches.watch(timer.fd, interest: .readable, as: .lease(session))
        } catch {
            return .failure(RestoreFailure("\(error)"))
        }
        session.lease = lease
        if timer.takeExpirations() > 0 {
            try? timer.arm(after: .zero)  // expired while no daemon ran: ends at the first turn
        } else if lease.expiresIn == nil {
            lease.startCountdown()
        }
        return .success(session)
    }
}

/// Why a stored fd could not be registered again.
struct RestoreFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
