#if canImport(Glibc)
import Glibc
#endif
import CMioLinux
import MioCore
import Protocol

/// Replies past this many unsent bytes stop the reading of a connection's
/// requests until it drains (protocol §5).
let outboundCap = 1 << 20
/// Likewise for fds waiting to go out with `fetch` replies: each is an fd of
/// the daemon's, so a client that asks and never reads must not pile them up.
let outboundFdCap = 64
/// Reads per connection per turn, so one busy client cannot starve the rest.
private let readsPerTurn = 16

extension Server {
    // MARK: - Readiness of connections

    func connectionEvent(_ connection: Connection, _ event: Event) {
        if event.isWritable || event.isError {
            flush(connection)
            if connection.isClosed { return }
        }
        if event.isReadable || event.isReadClosed || event.isError {
            connection.readReady = true
            if event.isError || event.epollEvents & CMIO_EPOLLHUP != 0 {
                // Both directions are closed: run what it sent, then close.
                connection.peerGone = true
                // Nothing more can be read past a parked poll, and no one is
                // left to answer: close now rather than wait on the poll.
                if connection.inputEnded || connection.parkedPoll != nil {
                    close(connection, reason: "closed by peer")
                    return
                }
            }
            schedule(connection)
        }
    }

    func schedule(_ connection: Connection) {
        guard !connection.isScheduled, !connection.isClosed else { return }
        connection.isScheduled = true
        scheduled.append(connection)
    }

    /// Runs each scheduled connection's queued requests and reads more,
    /// within a budget; those with work left stay scheduled for next turn.
    func serviceScheduled() {
        // Two buffers swapped each turn: no allocation per turn.
        swap(&scheduled, &scheduledBatch)
        for connection in scheduledBatch {
            connection.isScheduled = false
            guard !connection.isClosed else { continue }
            if service(connection) { schedule(connection) }
            if !connection.isClosed { flush(connection) }
        }
        if !scheduledBatch.isEmpty { scheduledBatch.removeAll(keepingCapacity: true) }
    }

    /// Whether the connection may run its next request now.
    private func canProcess(_ connection: Connection) -> Bool {
        !connection.isClosed && connection.parkedPoll == nil && !connection.outbound.isFull
    }

    /// Processes what was read before reading more (at most one `recvmsg`'s
    /// fds wait per connection). Returns true when more work is left.
    private func service(_ connection: Connection) -> Bool {
        var reads = 0
        while true {
            while connection.hasQueuedLines {
                guard canProcess(connection) else { return false }
                process(connection.nextLine(), on: connection)
            }
            guard canProcess(connection) else { return false }
            if connection.inputEnded || !connection.readReady { return false }
            if reads == readsPerTurn { return true }
            reads += 1
            receive(connection)
        }
    }

    /// One `recvmsg()`: its bytes to the framer, its fds to the line the
    /// attachment rule names.
    private func receive(_ connection: Connection) {
        let result: IOResult<(bytes: Int, fdCount: Int, truncated: Bool)>
        do throws(MioError) {
            result = try Sys.receive(connection.fd, into: readBuffer.baseAddress!, count: readBuffer.count, fds: receivedFds.baseAddress!)
        } catch {
            logger.debug("connection \(connection.number): recvmsg failed: \(error)")
            close(connection, reason: "receive failed")
            return
        }
        guard case .done(let received) = result else {
            connection.readReady = false
            return
        }
        let fds = Array(receivedFds.prefix(received.fdCount))
        if received.truncated {
            // The kernel dropped fds (control buffer or fd limit): the line
            // they belonged to cannot be told, so the connection ends.
            closer.close(fds)
            logger.warning("connection \(connection.number): fds truncated (MSG_CTRUNC)")
            connection.outbound.writer.failure(id: nil, ProtocolError(.fdOverflow, "file descriptors were lost in transit (MSG_CTRUNC); closing the connection"))
            flush(connection)
            close(connection, reason: "fd_overflow")
            return
        }
        if received.bytes == 0 {
            closer.close(fds)
            connection.framer.finish()
            connection.inputEnded = true
            if connection.peerGone {
                close(connection, reason: "closed by peer")
            } else {
                logger.debug("connection \(connection.number): end of input; events continue")
            }
            return
        }
        connection.framer.push(UnsafeRawBufferPointer(rebasing: readBuffer[0..<received.bytes]), fds: fds, into: &connection.lines)
    }

    /// Answers one line; every fd that came with it ends up registered or closed.
    private func process(_ line: FramedLine, on connection: Connection) {
        switch line.content {
        case .tooLong:
            closer.close(line.fds)
            reply(connection, nil, .failure(ProtocolError(.lineTooLong, "line longer than \(configuration.maxLine) bytes; discarded")))
        case .blank:
            if line.fdCount > 0 {
                closer.close(line.fds)
                reply(connection, nil, .failure(ProtocolError(.badRequest, "a blank line carried \(line.fdCount) file descriptor(s); they were closed")))
            }
        case .request(let bytes):
            let decoded = bytes.withUnsafeBytes { decoder.decode($0, fdCount: line.fdCount) }
            switch decoded {
            case .failure(let failure):
                closer.close(line.fds)
                reply(connection, failure.id, .failure(failure.error))
            case .success(let request):
                let fd = line.fds.first
                let outcome = handle(request, fd: fd, on: connection)
                if let outcome { reply(connection, request.id, outcome) }
            }
        }
    }

    func reply(_ connection: Connection, _ id: RequestID?, _ outcome: Result<ReplyBody, ProtocolError>) {
        switch outcome {
        case .success(let body):
            connection.outbound.writer.reply(id: id, body)
        case .failure(let error):
            // One log line per error (protocol §8), here where every one passes.
            logger.info("connection \(connection.number): \(error.code.rawValue): \(error.message)")
            connection.outbound.writer.failure(id: id, error)
        }
    }

    // MARK: - Output

    /// Sends what the connection has queued; a failed write ends it.
    func flush(_ connection: Connection) {
        guard !connection.isClosed else { return }
        let wasOverCap = connection.outbound.isFull
        switch connection.outbound.flush(to: connection.fd) {
        case .drained:
            // Events held back while the socket was full can go now.
            if connection.session.hasPending { markDirty(connection.session) }
            if wasOverCap { schedule(connection) }
        case .wouldBlock:
            if wasOverCap && !connection.outbound.isFull { schedule(connection) }
        case .failed(let error):
            logger.debug("connection \(connection.number): send failed: \(error)")
            close(connection, reason: "send failed")
        }
    }

    // MARK: - Readiness of client fds

    @inline(__always)
    func readinessEvent(_ registration: Registration, _ event: Event) {
        guard registration.isActive else { return }
        let session = registration.session
        if session.enqueue(registration, Readiness(event)) {
            eventsCoalesced += 1
        } else {
            markDirty(session)
        }
    }

    func markDirty(_ session: Session) {
        guard !session.isDirty else { return }
        session.isDirty = true
        session.nextDirty = dirtySessions
        dirtySessions = session
    }

    /// The end of a turn: pending readiness goes to each attached
    /// connection whose previous output has all gone out (otherwise it keeps
    /// coalescing), or answers a parked `poll`.
    func deliverPending() {
        var next = dirtySessions
        dirtySessions = nil
        while let session = next {
            next = session.nextDirty
            session.nextDirty = nil
            session.isDirty = false
            guard session.hasPending, let connection = session.connection, !connection.isClosed else { continue }
            switch session.delivery {
            case .stream:
                guard connection.outbound.isEmpty else { continue }
                let count = session.takePending { connection.outbound.writer.eventLine($0) }
                eventsDelivered += UInt64(count)
                flush(connection)
            case .poll:
                if connection.parkedPoll != nil { answerParkedPoll(connection) }
            }
        }
    }

    // MARK: - Closing

    /// Ends a connection: its queued fds closed, its session destroyed
    /// unless persistent (then only detached).
    func close(_ connection: Connection, reason: String) {
        guard !connection.isClosed else { return }
        connection.isClosed = true
        closer.close(connection.takeQueuedFds())
        connection.framer.finish()
        connection.outbound.discard()
        connection.parkedPoll = nil
        parkedPolls.removeAll { $0 === connection }
        watched.remove(connection.internalToken)
        connections[connection.number] = nil
        Sys.close(connection.fd)
        detach(connection.session, from: connection)
        connectionsByUID[connection.peer.uid, default: 1] -= 1
        if connectionsByUID[connection.peer.uid] == 0 { connectionsByUID[connection.peer.uid] = nil }
        statusDirty = true
        logger.info("connection \(connection.number) closed: \(reason)")
    }

    // MARK: - Shutdown

    /// `{"event":"shutdown"}` to every connection, at most the configured
    /// time to flush, then everything closed (protocol §8).
    func shutDown() {
        notify("STOPPING=1")
        let connections = allConnections()
        for connection in connections {
            connection.outbound.writer.notice("shutdown")
            flush(connection)
        }
        let deadline = ContinuousClock.now + configuration.shutdownFlushTimeout
        var waiting = connections.filter { !$0.isClosed && !$0.outbound.isEmpty }
        var shutdownEvents = try? Events(capacity: 256)
        while !waiting.isEmpty, ContinuousClock.now < deadline, shutdownEvents != nil {
            try? poll.poll(&shutdownEvents!, timeout: min(deadline - .now, .milliseconds(50)))
            for connection in waiting { flush(connection) }
            waiting = waiting.filter { !$0.isClosed && !$0.outbound.isEmpty }
        }
        for connection in allConnections() { close(connection, reason: "daemon stopping") }
        storePersistentSessions()
        for session in Array(sessionsByName.values) { destroy(session) }
        closer.drain()
        logger.info("stopped")
    }

    func allConnections() -> [Connection] {
        Array(connections.values)
    }
}
