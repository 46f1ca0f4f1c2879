import MioCore

/// Events (and notices) that came while the connection did something else,
/// in arrival order, for ``MioConnection/next(timeout:)``: what a request
/// read off the socket before its reply, and what was taken from a ring in
/// one batch. Taking the first is O(1); the storage is reused once empty.
struct EventQueue {
    private var items: [ClientEvent] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func append(_ event: ClientEvent) {
        items.append(event)
    }

    mutating func popFirst() -> ClientEvent? {
        guard head < items.count else { return nil }
        let event = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return event
    }

    /// Drops the events of `token` (nil: of every token) of the current
    /// session: after the reply that removed it, none may reach the caller
    /// (docs/protocol.md, "Ordering"). Those before a `session_taken` notice
    /// are of the session that was lost: theirs to keep.
    mutating func dropEvents(of token: Token?) {
        var from = head
        for index in head..<items.count where items[index] == .sessionTaken { from = index + 1 }
        var kept = Array(items[head..<from])
        for event in items[from...] {
            if case .ready(let ready) = event, token == nil || ready.token == token { continue }
            kept.append(event)
        }
        items = kept
        head = 0
    }
}
