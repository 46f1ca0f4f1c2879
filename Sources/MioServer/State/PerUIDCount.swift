/// A count per uid and their total; a uid at zero is dropped, so the table
/// holds only uids that have something.
///
/// The uid counted last is kept beside the table, not in it: a daemon's
/// requests mostly come from one uid in a row, and each would otherwise
/// hash it twice (the limit's look, then the count).
struct PerUIDCount {
    /// Every uid with a count but `recent`'s.
    private var byUID: [UInt32: Int] = [:]
    private var recent = (uid: UInt32(0), count: 0)
    private(set) var total = 0

    subscript(uid: UInt32) -> Int {
        uid == recent.uid ? recent.count : byUID[uid, default: 0]
    }

    mutating func increment(_ uid: UInt32) {
        makeRecent(uid)
        recent.count += 1
        total += 1
    }

    mutating func decrement(_ uid: UInt32) {
        makeRecent(uid)
        guard recent.count > 0 else { return }
        recent.count -= 1
        total -= 1
    }

    /// Puts `uid`'s count beside the table, and the one there back in it.
    private mutating func makeRecent(_ uid: UInt32) {
        guard uid != recent.uid else { return }
        if recent.count > 0 { byUID[recent.uid] = recent.count }
        recent = (uid, byUID.removeValue(forKey: uid) ?? 0)
    }
}
