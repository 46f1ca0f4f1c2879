import MioCore
import Protocol

extension Server {
    func makeAnonymousSession(uid: UInt32) -> Session {
        anonymousSessionCount += 1
        statusDirty = true
        return Session(uid: uid, name: nil)
    }

    /// The connection lets go of its session: a persistent one stays (its
    /// readiness keeps coalescing), any other is destroyed.
    func detach(_ session: Session, from connection: Connection) {
        guard session.connection === connection || session.connection == nil else { return }
        session.connection = nil
        if !session.persistent { destroy(session) }
    }

    /// Removes every registration of the session, closes every fd, and
    /// forgets the session.
    func destroy(_ session: Session) {
        for registration in session.removeAll() { release(registration) }
        if let key = session.key {
            if sessionsByName.removeValue(forKey: key) != nil {
                namedSessionsByUID[session.uid, default: 1] -= 1
                if namedSessionsByUID[session.uid] == 0 { namedSessionsByUID[session.uid] = nil }
            }
        } else {
            anonymousSessionCount -= 1
        }
        session.connection = nil
        statusDirty = true
    }

    /// Stops watching a registration that its session already dropped, and
    /// closes its fd (a waker's eventfd closes with the waker).
    func release(_ registration: Registration, closeFd: Bool = true) {
        watched.remove(registration.internalToken)
        // Closing our copy does not take the file out of epoll while the
        // client holds another copy of it: remove it first.
        try? poll.registry.deregister(SourceFd(registration.fd))
        if registration.isWaker {
            wakerCount -= 1  // its eventfd closes with the Waker
        } else if closeFd {
            Sys.close(registration.fd)
        }
        registrationCount -= 1
        registrationsByUID[registration.session.uid, default: 1] -= 1
        if registrationsByUID[registration.session.uid] == 0 { registrationsByUID[registration.session.uid] = nil }
        statusDirty = true
    }

    /// Moves `connection` into a fresh anonymous session, after it lost
    /// (or ended) the one it had.
    func giveAnonymousSession(to connection: Connection) {
        let session = makeAnonymousSession(uid: connection.peer.uid)
        session.connection = connection
        connection.session = session
        connection.hasRegistered = false
    }
}
