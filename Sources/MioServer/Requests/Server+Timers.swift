import MioCore
import MioSystem
import MioProtocol

extension Server {
    /// `timer`: a timerfd of the daemon's under `token`, watched like a
    /// waker; each expiry is a readable event (docs/protocol.md, "Timers").
    /// On a timer's token it sets that timer anew.
    func setTimer(_ token: Token, _ settings: TimerSettings, on connection: Connection) -> RequestOutcome {
        let session = connection.session
        if let existing = session.registration(token) {
            guard existing.role == .timer, let timer = existing.timer else {
                return .failure(ProtocolError(.tokenInUse, "token \(token.rawValue) is already registered in this session, and is not a timer"))
            }
            return arm(timer, settings, token: token)
        }
        if let refusal = ledger.refusalOfRegistration(uid: session.uid) { return .failure(refusal) }
        let timer: TimerFd
        do {
            timer = try TimerFd()
        } catch {
            return .failure(ProtocolError(error.kind == .tooManyOpenFiles ? .limitExceeded : .internal, "cannot make a timer: \(error)"))
        }
        let registration = Registration(token: token, session: session, timer: timer)
        do {
            registration.internalToken = try watches.watch(timer.fd, interest: .readable, for: registration)
        } catch {
            return .failure(ProtocolError(.internal, "cannot watch the timer: \(error)"))
        }
        if case .failure(let error) = arm(timer, settings, token: token) {
            watches.unwatch(registration.internalToken, fd: timer.fd)
            return .failure(error)
        }
        add(registration, to: session)
        connection.hasRegistered = true
        return .reply(.token(token))
    }

    private func arm(_ timer: TimerFd, _ settings: TimerSettings, token: Token) -> RequestOutcome {
        do {
            try timer.arm(after: .milliseconds(Int64(settings.afterMilliseconds)),
                          every: settings.intervalMilliseconds.map { .milliseconds(Int64($0)) })
        } catch {
            return .failure(ProtocolError(.internal, "cannot set the timer: \(error)"))
        }
        return .reply(.token(token))
    }
}
