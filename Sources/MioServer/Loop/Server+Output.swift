import MioCore
import MioSystem
import MioProtocol

extension Server {
    /// Queues the reply a handler decided on; a deferred one is the
    /// handler's to write later.
    func answer(_ connection: Connection, _ id: RequestID?, _ outcome: consuming RequestOutcome) {
        switch consume outcome {
        case .reply(let body):
            connection.queueReply(id, body)
        case .replyWithFds(let body, let fds):
            connection.queueReply(id, body, passing: fds)
        case .failure(let error):
            // One log line per error (docs/protocol.md, "Running the daemon"),
            // here where every one passes.
            logger.info("connection \(connection.number): \(error.code.rawValue): \(error.message)")
            connection.queueFailure(id, error)
        case .deferred:
            break
        }
    }

    /// Sends what the connection has queued; a failed write ends it.
    func flush(_ connection: Connection) {
        guard !connection.isClosed else { return }
        let wasFull = connection.isOutputFull
        defer { account(connection) }
        switch connection.sendQueued() {
        case .drained:
            connection.outputWaitsForRoom = false
            // Events held back while the socket was full can go now.
            if connection.session.hasPending { queue.markDirty(connection.session) }
            if wasFull { queue.schedule(connection) }
        case .wouldBlock:
            connection.outputWaitsForRoom = true
            if wasFull && !connection.isOutputFull { queue.schedule(connection) }
        case .failed(let error):
            logger.debug("connection \(connection.number): send failed: \(error)")
            close(connection, reason: "send failed")
            return
        }
        updateWatch(connection)
    }

    /// Level-triggered, the socket is watched for input only while the
    /// connection may read and run requests (else unread input would be
    /// reported at every look), and for room only while output waits.
    /// Every service of a connection ends in a flush, and so here.
    func updateWatch(_ connection: Connection) {
        let input = connection.wantsInput && !queue.isWaitingForFdBudget(connection)
        let wanted: Interest?
        switch (input, connection.outputWaitsForRoom) {
        case (true, true): wanted = .readable | .writable
        case (true, false): wanted = .readable
        case (false, true): wanted = .writable
        case (false, false): wanted = nil
        }
        guard wanted != connection.watchedInterest else { return }
        do throws(MioError) {
            try watches.rewatchConnection(connection.fd, token: connection.internalToken, interest: wanted)
            connection.watchedInterest = wanted
        } catch {
            logger.warning("connection \(connection.number): epoll_ctl failed: \(error)")
            close(connection, reason: "cannot watch the socket")
        }
    }

    // MARK: - Readiness of client fds

    @inline(__always)
    func readinessEvent(_ registration: Registration, _ event: Event) {
        guard registration.isActive else { return }
        // A timerfd stays readable until read: read, it is ready at the next expiry only.
        if registration.role == .timer { _ = registration.timer?.takeExpirations() }
        let session = registration.session
        let readiness = Readiness(event)
        // Written at once when nothing waits before it: the line goes out
        // where deliverPending would put it, without a trip through the
        // pending queue.
        if session.deliveryMode == .stream, !session.hasPending, let connection = session.connection,
           connection.takesEventLinesAtOnce {
            connection.queueEvent(ReadinessEvent(token: registration.token, readiness: readiness))
            counters.delivered += 1
            queue.markDirty(session)  // to be flushed at the end of the turn
        } else if session.enqueue(registration, readiness) {
            counters.coalesced += 1
        } else {
            queue.markDirty(session)
        }
    }

    /// The end of a turn: pending readiness goes to each attached
    /// connection whose previous output has all gone out (otherwise it keeps
    /// coalescing), or answers a parked `poll`; event lines written during
    /// the turn are sent.
    func deliverPending() {
        queue.takeDirty { session in
            guard let connection = session.connection, !connection.isClosed else { return }
            switch session.deliveryMode {
            case .stream:
                // Output left from an earlier turn waits for room (its
                // writable event sends it, then marks the session again).
                guard !connection.outputWaitsForRoom else { return }
                if session.hasPending, !connection.hasUnsentOutput {
                    let count = session.takePending { connection.queueEvent($0) }
                    counters.delivered += UInt64(count)
                }
                if connection.hasUnsentOutput { flush(connection) }
            case .poll:
                guard session.hasPending else { return }
                if connection.parkedPoll != nil { answerParkedPoll(connection) }
            case .ring:
                // After the replies before it, as a stream's event lines.
                guard session.hasPending, !connection.hasUnsentOutput, let ring = connection.ring else { return }
                counters.delivered += UInt64(ring.deliver(from: session))
            }
        }
    }

    // MARK: - Closing

    /// Ends a connection: its queued fds closed, its session destroyed
    /// unless persistent (then only detached).
    func close(_ connection: Connection, reason: String) {
        guard !connection.isClosed else { return }
        connection.markClosed()
        account(connection)
        queue.unpark(connection)
        watches.unwatch(connection.internalToken, fd: nil)
        connections[connection.number] = nil
        Sys.close(connection.fd)
        detach(connection.session, from: connection)
        ledger.remove(.connection, uid: connection.peer.uid)
        logger.info("connection \(connection.number) closed: \(reason)")
    }

    // MARK: - Shutdown

    /// `{"event":"shutdown"}` to every connection, at most the configured
    /// time to flush, then everything closed (docs/protocol.md, "Running the daemon").
    func shutDown() {
        notify("STOPPING=1")
        let all = Array(connections.values)
        for connection in all {
            connection.queueNotice(.shutdown)
            flush(connection)
        }
        let deadline = ContinuousClock.now + configuration.shutdownFlushTimeout
        var waiting = all.filter { !$0.isClosed && $0.hasUnsentOutput }
        var shutdownEvents = try? Events(capacity: 256)
        while !waiting.isEmpty, ContinuousClock.now < deadline, shutdownEvents != nil {
            try? poll.poll(&shutdownEvents!, timeout: min(deadline - .now, .milliseconds(50)))
            for connection in waiting { flush(connection) }
            waiting = waiting.filter { !$0.isClosed && $0.hasUnsentOutput }
        }
        for connection in Array(connections.values) { close(connection, reason: "daemon stopping") }
        // The fd store keeps the persistent sessions' fds for the next start.
        fdStore.freeze()
        for session in Array(sessions.named.values) { destroy(session) }
        ClientFdCloser.shared.drain()
        logger.info("stopped")
    }
}
