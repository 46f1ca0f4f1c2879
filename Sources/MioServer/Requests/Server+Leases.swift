import MioCore
import MioSystem
import MioProtocol

/// Leases (docs/protocol.md, "Leases"): a persistent session with no
/// connection attached for `lease_s` seconds is ended as by `end`.
extension Server {
    /// A `hello`'s `lease_s` on the session it attached to; `timer` is a
    /// timerfd made before the hello changed anything (needed only for a
    /// new lease).
    func applyLease(_ change: LeaseChange?, to session: Session, timer: TimerFd?) {
        switch change {
        case nil:
            return
        case .remove?:
            dropLease(of: session)
        case .set(let seconds)?:
            if let lease = session.lease {
                lease.change(seconds: seconds, attached: session.connection != nil)
            } else if let timer {
                let lease = SessionLease(seconds: seconds, timer: timer)
                guard let token = try? watches.watch(timer.fd, interest: .readable, as: .lease(session)) else {
                    logger.error("session \"\(session.name ?? "")\": cannot watch its lease timer; it has no lease")
                    return
                }
                lease.internalToken = token
                session.lease = lease
                if session.connection == nil { lease.startCountdown() }
            }
            fdStore.storeLease(of: session)
        }
    }

    /// A timerfd for a new lease, when the hello asks for one: made before
    /// anything changes, so that a failure leaves everything as it was.
    func timerForLease(_ change: LeaseChange?, of session: Session?) -> Result<TimerFd?, ProtocolError> {
        guard case .set? = change, session?.lease == nil else { return .success(nil) }
        do {
            return .success(try TimerFd())
        } catch {
            return .failure(ProtocolError(error.kind == .tooManyOpenFiles ? .limitExceeded : .internal, "cannot make the lease's timer: \(error)"))
        }
    }

    /// The session no longer has a lease: its timer stops and leaves the store.
    func dropLease(of session: Session) {
        guard let lease = session.lease else { return }
        fdStore.removeLease(lease)
        watches.unwatch(lease.internalToken, fd: lease.timer.fd)
        session.lease = nil
    }

    /// The lease timer expired: the session ends, unless a connection
    /// attached (or detached again, restarting the countdown) meanwhile.
    func leaseExpired(_ session: Session) {
        guard let lease = session.lease else { return }
        _ = lease.timer.takeExpirations()
        guard session.connection == nil, lease.expiresIn == nil else { return }
        logger.info("session \"\(session.name ?? "")\" of uid \(session.uid): no connection for its lease of \(lease.seconds) s; ending it")
        session.persistent = false
        destroy(session)
    }
}
