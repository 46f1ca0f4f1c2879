#if canImport(Glibc)
import Glibc
#endif
import MioCore
import MioSystem
import MioProtocol

extension Server {
    /// Accepts what is waiting, at most 256 a turn.
    func acceptConnections() {
        timers.acceptBlocked = false
        for _ in 0..<256 {
            if let full = ledger.refusalOfAnyConnection {
                // New connections wait in the listener's queue until one closes.
                if !timers.acceptFull { logger.warning("accept: \(full); new connections wait") }
                timers.acceptFull = true
                timers.acceptBlocked = true
                return
            }
            timers.acceptFull = false
            let fd: Int32
            do throws(MioError) {
                guard case .done(let accepted) = try Sys.accept(listener.fd) else { return }
                fd = accepted
            } catch {
                if error.kind == .tooManyOpenFiles {
                    logger.warning("accept: out of file descriptors; new connections wait")
                    timers.acceptBlocked = true
                } else {
                    logger.error("accept failed: \(error)")
                }
                return
            }
            admit(fd)
        }
        // More may be waiting: come back next turn without a new edge.
        timers.acceptBlocked = true
    }

    /// Checks the peer, then watches its socket in an anonymous session of its own.
    private func admit(_ fd: Int32) {
        guard let credentials = try? Sys.peerCredentials(fd), (try? Sys.keepOutOfBandInline(fd)) != nil else {
            Sys.close(fd)
            return
        }
        let peer = PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
        guard isAllowed(peer, fd: fd) else {
            logger.warning("refused pid \(peer.pid) uid \(peer.uid): not allowed")
            refuse(fd, ProtocolError(.permissionDenied, "uid \(peer.uid) may not use this daemon"))
            return
        }
        if let refusal = ledger.refusalOfConnection(uid: peer.uid) {
            logger.warning("refused pid \(peer.pid) uid \(peer.uid): \(refusal.message)")
            refuse(fd, refusal)
            return
        }
        let session = sessions.makeAnonymous(uid: peer.uid)
        let connection = Connection(fd: fd, peer: peer, number: nextConnectionNumberTaken(), session: session,
                                    maxLine: configuration.maxLine)
        session.connection = connection
        do {
            // Level-triggered, for what it wants now: input; room only once
            // output waits (``Server/updateWatch(_:)``).
            connection.internalToken = try watches.watchConnection(fd, interest: connection.watchedInterest,
                                                                   as: .connection(connection))
        } catch {
            logger.error("cannot watch a new connection: \(error)")
            destroy(session)
            Sys.close(fd)
            return
        }
        add(connection)
        logger.info("connection \(connection.number) opened: pid \(peer.pid) uid \(peer.uid) gid \(peer.gid)")
        queue.schedule(connection)
    }

    private func isAllowed(_ peer: PeerCredentials, fd: Int32) -> Bool {
        if peer.uid == 0 || peer.uid == getuid() || configuration.allowedUIDs.contains(peer.uid) { return true }
        if configuration.allowedGIDs.isEmpty { return false }
        if configuration.allowedGIDs.contains(peer.gid) { return true }
        let groups = (try? Sys.peerGroups(fd)) ?? []
        return groups.contains { configuration.allowedGIDs.contains($0) }
    }

    /// One error line, best effort, then close: for peers never admitted.
    private func refuse(_ fd: Int32, _ error: ProtocolError) {
        var writer = JSONWriter(capacity: 256)
        writer.failure(id: nil, error)
        _ = writer.buffer.withUnsafeBytes { try? Sys.send(fd, from: $0.baseAddress!, count: $0.count) }
        Sys.close(fd)
    }
}
