import MioCore
import MioProtocol

extension Server {
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
        dropLease(of: session)
        sessions.destroy(session) { release($0) }
    }

    /// Stops watching a registration that its session already dropped, and
    /// lets go of its fd (closed, or kept by the caller who took it first).
    func release(_ registration: Registration) {
        fdStore.remove(registration)
        if registration.role.isWatched { watches.unwatch(registration.internalToken, fd: registration.fd) }
        registration.close()
        ledger.remove(.registration(ownFd: registration.role.holdsDaemonFd), uid: registration.session.uid)
    }

    /// Adds a registration, already watched, to its session and the counts
    /// (and, for a persistent session, to the fd store, unless `storing`
    /// is false: an fd the store handed back is there already).
    func add(_ registration: Registration, to session: Session, storing: Bool = true) {
        session.add(registration)
        ledger.add(.registration(ownFd: registration.role.holdsDaemonFd), uid: session.uid)
        if session.persistent, storing { fdStore.store(registration) }
    }

    /// The session outlives its connections from now on, and under a
    /// service manager its fds go to the fd store.
    func makePersistent(_ session: Session) {
        session.persistent = true
        for registration in session.allRegistrations {
            fdStore.store(registration)
            if registration.storedName == nil, fdStore.manager != nil {
                logger.warning("session \"\(session.name ?? "")\": token \(registration.token.rawValue) holds an open file another stored registration holds; the fd store keeps one copy, so it will not survive a restart")
            }
        }
    }

    /// Moves `connection` into a fresh anonymous session, after it lost
    /// (or ended) the one it had.
    func giveAnonymousSession(to connection: Connection) {
        let session = sessions.makeAnonymous(uid: connection.peer.uid)
        session.connection = connection
        connection.session = session
        connection.hasRegistered = false
        connection.ring = nil  // a fresh session starts with stream delivery
    }

    /// Another connection takes `session`: the holder is told, and goes on
    /// in a new anonymous session. Lines already queued for it stay queued.
    func takeOver(_ session: Session, from holder: Connection) {
        session.connection = nil
        giveAnonymousSession(to: holder)
        holder.queueNotice(.sessionTaken)
        if let parked = holder.unpark() {
            // Its poll was for the session it lost: answer it empty.
            queue.unpark(holder)
            holder.queueReply(parked.id, .events([]))
            queue.schedule(holder)
        }
        flush(holder)
        logger.info("connection \(holder.number): session \"\(session.name ?? "")\" taken over")
    }
}
