import MioCore
import MioProtocol

/// `poll` delivery (docs/protocol.md, "Operations"): events wait
/// in the session until a `poll` takes them; a `poll` that finds none waits
/// (parked) for the first, or for its deadline.
extension Server {
    func pollRequest(_ id: RequestID?, timeoutMilliseconds: UInt64?, maxEvents: Int, on connection: Connection) -> RequestOutcome {
        guard connection.session.deliveryMode == .poll else {
            let how = connection.session.deliveryMode == .ring ? "go into the ring" : "are streamed"
            return .failure(ProtocolError(.wrongState, "poll needs hello with \"delivery\":\"poll\"; events of this session \(how)"))
        }
        var events: [ReadinessEvent] = []
        let taken = connection.session.takePending(limit: maxEvents) { events.append($0) }
        if taken > 0 || timeoutMilliseconds == 0 {
            counters.delivered += UInt64(taken)
            return .reply(.events(events))
        }
        var deadline: MonotonicInstant?
        if let timeoutMilliseconds, timeoutMilliseconds < UInt64(Int64.max / 1_000_000) {
            deadline = .now + .milliseconds(Int64(timeoutMilliseconds))
        }
        connection.park(Connection.ParkedPoll(id: id, deadline: deadline, maxEvents: maxEvents))
        queue.park(connection)
        return .deferred
    }

    /// Answers a parked `poll` with what is pending (if anything; at its
    /// deadline, also with nothing), and lets the connection's later requests run.
    func answerParkedPoll(_ connection: Connection, timedOut: Bool = false) {
        guard let parked = connection.parkedPoll else { return }
        var events: [ReadinessEvent] = []
        let taken = connection.session.takePending(limit: parked.maxEvents) { events.append($0) }
        guard taken > 0 || timedOut else { return }
        counters.delivered += UInt64(taken)
        _ = connection.unpark()
        queue.unpark(connection)
        connection.queueReply(parked.id, .events(events))
        flush(connection)
        queue.schedule(connection)
    }

    func expireParkedPolls() {
        guard !queue.parkedPolls.isEmpty else { return }
        let now = MonotonicInstant.now
        for connection in queue.parkedPolls {
            if let deadline = connection.parkedPoll?.deadline, deadline <= now {
                answerParkedPoll(connection, timedOut: true)
            }
        }
    }
}
