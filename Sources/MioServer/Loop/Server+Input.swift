import MioCore
import MioSystem
import MioProtocol

/// Reads per connection per turn, so one busy client cannot starve the rest.
private let readsPerTurn = 16

extension Server {
    /// Readiness of a connection's socket.
    func connectionEvent(_ connection: Connection, _ event: Event) {
        if event.isWritable || event.isError {
            flush(connection)
            if connection.isClosed { return }
        }
        guard event.isReadable || event.isReadClosed || event.isError else { return }
        if event.isError || event.isHangUp {
            // Both directions are closed. Nothing more can be read past the
            // end of input or a parked poll, and no one is left to answer:
            // close now; otherwise run what it sent first.
            if connection.input == .ended || connection.parkedPoll != nil {
                close(connection, reason: "closed by peer")
                return
            }
            connection.setInput(.peerClosed)
        } else if connection.input == .drained {
            connection.setInput(.readable)
        }
        queue.schedule(connection)
    }

    /// Runs each scheduled connection's queued requests and reads more,
    /// within a budget; those with work left stay scheduled for next turn.
    func serviceScheduled() {
        fdStore.newTurn()
        queue.serviceScheduled { connection in
            guard !connection.isClosed else { return }
            if service(connection) { queue.schedule(connection) }
            if !connection.isClosed { flush(connection) }
            account(connection)
        }
    }

    /// Processes what was read before reading more (at most one `recvmsg`'s
    /// fds wait per connection). Returns true when more work is left.
    private func service(_ connection: Connection) -> Bool {
        var reads = 0
        while true {
            while connection.hasQueuedLines {
                guard connection.canProcess else { return false }
                // PID 1 takes at most so many fd store operations a turn:
                // past them, requests of persistent sessions wait, and go
                // first next turn.
                guard fdStore.hasBudget || !connection.session.persistent else {
                    queue.scheduleFirst(connection)
                    return false
                }
                process(connection.nextLine(), on: connection)
            }
            guard connection.canProcess, connection.mayRead else { return false }
            if reads == readsPerTurn { return true }
            account(connection)
            if fdsInFlight >= configuration.openFiles.fdsInFlight && connection.unclaimedFdCount > 0 {
                // The daemon-wide budget of unclaimed fds is spent, partly by
                // this connection: it is read again once others claim theirs.
                queue.waitForFdBudget(connection)
                return false
            }
            reads += 1
            receive(connection)
        }
    }

    /// One `recvmsg()`: its bytes to the framer, its fds to the line the
    /// attachment rule names (docs/protocol.md, "Passing file descriptors").
    private func receive(_ connection: Connection) {
        let result: IOResult<(bytes: Int, fdCount: Int, truncated: Bool)>
        do throws(MioError) {
            result = try Sys.receive(connection.fd, into: receiveBuffer.bytes.baseAddress!, count: receiveBuffer.bytes.count,
                                     fds: receiveBuffer.fds.baseAddress!)
        } catch {
            logger.debug("connection \(connection.number): recvmsg failed: \(error)")
            close(connection, reason: "receive failed")
            return
        }
        guard case .done(let received) = result else {
            if connection.input == .peerClosed {
                close(connection, reason: "closed by peer")
            } else {
                connection.setInput(.drained)
            }
            return
        }
        let fds = LineFds(receiveBuffer.fds.prefix(received.fdCount))
        if received.truncated {
            // The kernel dropped fds (control buffer or fd limit): the line
            // they belonged to cannot be told, so the connection ends.
            ClientFdCloser.shared.close(fds)
            logger.warning("connection \(connection.number): fds truncated (MSG_CTRUNC)")
            connection.queueFailure(nil, ProtocolError(.fdOverflow, "file descriptors were lost in transit (MSG_CTRUNC); closing the connection"))
            flush(connection)
            close(connection, reason: "fd_overflow")
            return
        }
        if received.bytes == 0 {
            ClientFdCloser.shared.close(fds)
            connection.endInput()
            let peerClosed = connection.input == .peerClosed
            connection.setInput(.ended)
            if peerClosed {
                close(connection, reason: "closed by peer")
            } else {
                logger.debug("connection \(connection.number): end of input; events continue")
            }
            return
        }
        connection.receive(UnsafeRawBufferPointer(rebasing: receiveBuffer.bytes[0..<received.bytes]), fds: fds)
        // Level-triggered: a read that came back short ends this turn's
        // reading, and epoll reports anything left at the next look (a
        // request costs one read, not a second to hear EAGAIN). A peer that
        // closed is read to the end, to close there.
        if connection.input == .readable, received.bytes < receiveBuffer.bytes.count { connection.setInput(.drained) }
        // A ring's consumer writes to the socket (a newline will do) once it
        // has made room: readiness that did not fit goes in now.
        if connection.ring != nil, connection.session.hasPending { queue.markDirty(connection.session) }
        account(connection)
        if fdsInFlight > configuration.openFiles.fdsInFlight, connection.framer.heldFdCount > 0 {
            // Over the budget, fds may not wait on a line that has not ended
            // (a client sends a request and its fd in one sendmsg, so an
            // honest one never loses any): they are closed, the line refused.
            logger.warning("connection \(connection.number): \(connection.framer.heldFdCount) fds on an unfinished line refused: \(fdsInFlight) fds in flight")
            connection.refuseUnfinishedLineFds()
            account(connection)
        }
    }

    /// Answers one line. Its fds are the handler's to take; whatever it did
    /// not take is closed when the line is done.
    private func process(_ line: FramedLine, on connection: Connection) {
        var fds = AttachedFds(line.fds)
        if line.fdsRefused {
            let budget = configuration.openFiles
            answer(connection, nil, .failure(ProtocolError(.limitExceeded, "this line's \(line.fdCount) fds were closed as they came: the daemon had \(budget.fdsInFlight) fds in flight, the most its open-file limit of \(budget.limit) allows (send each request with its fd in one sendmsg)")))
            return
        }
        switch line.content {
        case .tooLong:
            answer(connection, nil, .failure(ProtocolError(.lineTooLong, "line longer than \(configuration.maxLine) bytes; discarded")))
        case .blank:
            if line.fdCount > 0 {
                answer(connection, nil, .failure(ProtocolError(.badRequest, "a blank line carried \(line.fdCount) file descriptor(s); they were closed")))
            }
        case .request(let range):
            switch decoder.decode(connection.bytes(of: range), fdCount: line.fdCount) {
            case .failure(let failure):
                answer(connection, failure.id, .failure(failure.error))
            case .success(let request):
                answer(connection, request.id, handle(request, fds: &fds, on: connection))
            }
        }
    }

    /// Runs one decoded request. The decoder has checked the fd count: a
    /// request that takes an fd has exactly one in `fds`, any other none.
    private func handle(_ request: Request, fds: inout AttachedFds, on connection: Connection) -> RequestOutcome {
        switch request.operation {
        case .hello(let hello): return self.hello(hello, on: connection)
        case .register(let token, let interest, let mode):
            guard let fd = fds.take() else { return .failure(ProtocolError(.noFd, "register needs one file descriptor")) }
            return register(fd, token: token, interest: interest, mode: mode, on: connection)
        case .reregister(let token, let interest, let mode):
            return reregister(token, interest: interest, mode: mode, on: connection)
        case .deregister(let token): return deregister(token, on: connection)
        case .waker(let token): return makeWaker(token, on: connection)
        case .wake(let token, let sessionName): return wake(token, sessionName: sessionName, on: connection)
        case .poll(let timeout, let maxEvents):
            return pollRequest(request.id, timeoutMilliseconds: timeout, maxEvents: maxEvents, on: connection)
        case .fetch(let token, let deregister): return fetch(token, deregister: deregister, on: connection)
        case .list(let name, let uid): return list(session: name, uid: uid, on: connection)
        case .sessions: return sessionsReply(for: connection)
        case .stats: return .reply(.stats(stats))
        case .end(let name, let uid): return end(session: name, uid: uid, on: connection)
        case .ping: return .reply(.empty)
        case .store(let token):
            guard let fd = fds.take() else { return .failure(ProtocolError(.noFd, "store needs one file descriptor")) }
            return store(fd, token: token, on: connection)
        case .timer(let token, let settings): return setTimer(token, settings, on: connection)
        }
    }
}
