/// The work the end of a loop turn goes through: connections with requests
/// to run or bytes to read, sessions with readiness to send, and `poll`
/// requests waiting for events or their deadline. Each list keeps its
/// members' marks, so membership is checked without a lookup.
///
/// A class: the loop's work on one member may queue others (or the same
/// one again) while the queue walks its list.
final class DeliveryQueue {
    /// A session's place in the list of sessions with readiness to send:
    /// an intrusive list, so marking costs no array work per event.
    struct SessionMark {
        fileprivate var isQueued = false
        fileprivate var next: Session?
    }

    /// A connection's place in the list of connections to service.
    struct ConnectionMark {
        fileprivate var isScheduled = false
        fileprivate var isParked = false
        fileprivate var isWaitingForFdBudget = false
    }

    private var scheduled: [Connection] = []
    /// Connections that waited this turn: serviced first next turn, the
    /// last to wait first.
    private var scheduledFirst: [Connection] = []
    /// Spare storage: `serviceScheduled` works through `scheduled`'s list
    /// and leaves its emptied buffer here, so the two trade buffers each
    /// turn and neither is allocated per turn.
    private var batch: [Connection] = []
    private var dirtyHead: Session?
    private(set) var parkedPolls: [Connection] = []
    /// Connections not read while the daemon's budget of fds in flight is spent.
    private var fdBudgetWaiters: [Connection] = []

    var hasScheduled: Bool { !scheduled.isEmpty || !scheduledFirst.isEmpty }

    // MARK: - Connections

    func schedule(_ connection: Connection) {
        guard !connection.queueMark.isScheduled, !connection.isClosed else { return }
        connection.queueMark.isScheduled = true
        scheduled.append(connection)
    }

    /// Schedules `connection` ahead of the others for the next turn (it
    /// waited this turn for something another used up).
    func scheduleFirst(_ connection: Connection) {
        guard !connection.queueMark.isScheduled, !connection.isClosed else { return }
        connection.queueMark.isScheduled = true
        scheduledFirst.insert(connection, at: 0)
    }

    /// Runs `body` for each connection scheduled before this call; those it
    /// schedules again wait for the next call.
    func serviceScheduled(_ body: (Connection) -> Void) {
        // Worked through as a local, moved out and back: a loop over a
        // stored array retains it (`body` might change it).
        var running: [Connection] = []
        swap(&running, &batch)
        swap(&scheduled, &running)
        if !scheduledFirst.isEmpty {
            running.insert(contentsOf: scheduledFirst, at: 0)
            scheduledFirst.removeAll(keepingCapacity: true)
        }
        for connection in running {
            connection.queueMark.isScheduled = false
            body(connection)
        }
        running.emptyFromEnd()
        swap(&running, &batch)
    }

    // MARK: - Sessions with readiness to send

    func markDirty(_ session: Session) {
        guard !session.deliveryMark.isQueued else { return }
        session.deliveryMark.isQueued = true
        session.deliveryMark.next = dirtyHead
        dirtyHead = session
    }

    /// Takes every marked session, in turn; `body` may mark them again.
    func takeDirty(_ body: (Session) -> Void) {
        var next = dirtyHead
        dirtyHead = nil
        while let session = next {
            next = session.deliveryMark.next
            session.deliveryMark = SessionMark()
            body(session)
        }
    }

    // MARK: - Parked polls

    func park(_ connection: Connection) {
        guard !connection.queueMark.isParked else { return }
        connection.queueMark.isParked = true
        parkedPolls.append(connection)
    }

    func unpark(_ connection: Connection) {
        guard connection.queueMark.isParked else { return }
        connection.queueMark.isParked = false
        parkedPolls.removeAll { $0 === connection }
    }

    // MARK: - Waiting for the fd budget

    func waitForFdBudget(_ connection: Connection) {
        guard !connection.queueMark.isWaitingForFdBudget else { return }
        connection.queueMark.isWaitingForFdBudget = true
        fdBudgetWaiters.append(connection)
    }

    func isWaitingForFdBudget(_ connection: Connection) -> Bool {
        connection.queueMark.isWaitingForFdBudget
    }

    /// Hands every waiting connection to `body` (to be scheduled again).
    func releaseFdBudgetWaiters(_ body: (Connection) -> Void) {
        guard !fdBudgetWaiters.isEmpty else { return }
        let waiting = fdBudgetWaiters
        fdBudgetWaiters = []
        for connection in waiting {
            connection.queueMark.isWaitingForFdBudget = false
            body(connection)
        }
    }
}
