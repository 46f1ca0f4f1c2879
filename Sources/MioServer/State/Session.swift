import MioCore
import MioProtocol

/// A set of registrations and their pending readiness, owned by one uid.
/// Anonymous sessions die with their connection; named ones can be
/// re-attached, and persistent ones outlive their connection (docs/protocol.md, "Sessions and persistence").
final class Session {
    struct Key: Hashable {
        let uid: UInt32
        let name: String
    }

    let uid: UInt32
    /// nil for an anonymous session.
    let name: String?
    var persistent = false
    var deliveryMode: Delivery = .stream
    /// The attached connection, if any. Strong, not weak (a weak reference
    /// puts every retain of the connection on the runtime's slow path):
    /// closing, detaching and taking over always set it back to nil.
    var connection: Connection? {
        didSet {
            if (oldValue == nil) != (connection == nil) { lease?.attachmentChanged(attached: connection != nil) }
        }
    }
    /// Ends the session after a time with no connection (docs/protocol.md, "Leases").
    var lease: SessionLease?

    /// Its place in the delivery queue's list of sessions with readiness
    /// to send (read and written by `DeliveryQueue` only).
    var deliveryMark = DeliveryQueue.SessionMark()

    private var registrations = TokenTable()
    /// Registrations with pending readiness, in the order it arrived; each
    /// appears once while its `pending` is non-empty (coalescing), plus
    /// stale entries of removed ones, skipped when read.
    private var pendingQueue: [Registration] = []
    private var pendingStart = 0

    init(uid: UInt32, name: String?) {
        self.uid = uid
        self.name = name
    }

    var key: Key? { name.map { Key(uid: uid, name: $0) } }
    var hasPending: Bool { pendingStart < pendingQueue.count }

    /// Tokens with readiness waiting for delivery.
    var pendingTokenCount: Int { registrations.all.reduce(0) { $0 + ($1.pending.isEmpty ? 0 : 1) } }

    var registrationCount: Int { registrations.count }

    /// Every registration, in no particular order.
    var allRegistrations: [Registration] { registrations.all }

    func add(_ registration: Registration) {
        registrations.insert(registration)
    }

    func registration(_ token: Token) -> Registration? { registrations[token] }

    /// Removes the registration; its pending readiness is dropped with it.
    func remove(_ token: Token) -> Registration? {
        guard let registration = registrations.remove(token) else { return nil }
        registration.isActive = false
        registration.pending = []
        return registration
    }

    func removeAll() -> [Registration] {
        let all = registrations.all
        for registration in all {
            registration.isActive = false
            registration.pending = []
        }
        registrations = TokenTable()
        pendingQueue = []
        pendingStart = 0
        return all
    }

    /// Records readiness; returns true when it was coalesced into an entry
    /// already pending.
    @inline(__always)
    func enqueue(_ registration: Registration, _ readiness: Readiness) -> Bool {
        if registration.pending.isEmpty {
            registration.pending = readiness
            pendingQueue.append(registration)
            return false
        }
        registration.pending.formUnion(readiness)
        return true
    }

    /// Takes up to `limit` pending events, oldest first.
    func takePending(limit: Int = Int.max, _ body: (ReadinessEvent) -> Void) -> Int {
        var taken = 0
        while pendingStart < pendingQueue.count, taken < limit {
            let registration = pendingQueue[pendingStart]
            pendingStart += 1
            guard registration.isActive, !registration.pending.isEmpty else { continue }
            body(ReadinessEvent(token: registration.token, readiness: registration.pending))
            registration.pending = []
            taken += 1
        }
        if pendingStart == pendingQueue.count {
            if pendingQueue.capacity <= 4096 { pendingQueue.emptyFromEnd() } else { pendingQueue = [] }
            pendingStart = 0
        }
        return taken
    }
}
