import MioCore
import MioProtocol

extension Server {
    /// `hello`: attach to a named session (made if new), or stay anonymous;
    /// choose the delivery (docs/protocol.md, "Sessions and persistence").
    func hello(_ hello: HelloRequest, on connection: Connection) -> RequestOutcome {
        if connection.hasRegistered {
            return .failure(ProtocolError(.wrongState, "hello must come before any register, store, waker or timer on this connection"))
        }
        if let version = hello.protocolVersion, version != protocolVersion {
            return .failure(ProtocolError(.unsupportedProtocol, "protocol \(version) is not supported; this daemon speaks protocol \(protocolVersion)"))
        }
        let uid = connection.peer.uid
        let current = connection.session
        let leaseTimer: TimerFd?
        switch timerForLease(hello.lease, of: hello.session.flatMap { sessions.named(Session.Key(uid: uid, name: $0)) }) {
        case .failure(let error): return .failure(error)
        case .success(let made): leaseTimer = made
        }
        let session: Session
        if let name = hello.session {
            switch sessions.findOrMakeNamed(Session.Key(uid: uid, name: name)) {
            case .failure(let refusal): return .failure(refusal)
            case .success(let found): session = found
            }
            if let holder = session.connection, holder !== connection {
                guard hello.takeover else {
                    return .failure(ProtocolError(.sessionBusy, "session \"\(name)\" is in use by another connection (use takeover)"))
                }
                takeOver(session, from: holder)
            }
        } else {
            if hello.persist {
                return .failure(ProtocolError(.badRequest, "persist needs a session name: an anonymous session cannot be found again"))
            }
            session = current.name == nil ? current : sessions.makeAnonymous(uid: uid)
        }
        if session !== current {
            detach(current, from: connection)
            session.connection = connection
            connection.session = session
        }
        if hello.persist { makePersistent(session) }  // once persistent, until `end`
        applyLease(hello.lease, to: session, timer: leaseTimer)
        session.deliveryMode = hello.delivery ?? .stream
        connection.ring = nil
        // Readiness that waited for this session goes out right after the reply.
        if session.hasPending { queue.markDirty(session) }
        if let client = hello.client {
            logger.debug("connection \(connection.number): hello from \"\(client)\", session \(session.name ?? "(anonymous)")")
        }
        let reply = HelloReply(server: configuration.serverName, version: configuration.version, session: session.name,
                               limits: limits)
        guard session.deliveryMode == .ring else { return .reply(.hello(reply)) }
        return helloWithRing(reply, entries: hello.ringEntries ?? EventRing.defaultEntries, on: connection)
    }

    /// Ring delivery: a new ring for the connection; its memfd and doorbell
    /// go beside the reply (docs/protocol.md, "Ring delivery").
    private func helloWithRing(_ reply: HelloReply, entries: Int, on connection: Connection) -> RequestOutcome {
        let made: (ring: EventRing, memfd: Int32, doorbell: Int32)
        do {
            made = try EventRing.make(entries: entries)
        } catch {
            connection.session.deliveryMode = .stream
            return .failure(ProtocolError(error.kind == .tooManyOpenFiles || error.kind == .outOfMemory ? .limitExceeded : .internal,
                                          "cannot make the event ring: \(error); the session stays on stream delivery"))
        }
        connection.ring = made.ring
        var withRing = reply
        withRing.ringEntries = entries
        return .replyWithFds(.hello(withRing), OutgoingFds(adopting: [made.memfd, made.doorbell]))
    }

    var limits: Limits {
        Limits(maxLine: configuration.maxLine, maxRegistrationsPerUID: configuration.effectiveRegistrationsPerUID,
               maxConnectionsPerUID: configuration.maxConnectionsPerUID, maxSessionsPerUID: configuration.maxSessionsPerUID)
    }
}
