import MioCore

/// A session's registrations by the client's token.
///
/// Most clients number their tokens densely from zero (mio's own examples
/// take them from a `Slab`), so small tokens are indexes into an array: no
/// hashing, and growth is an append. The array only grows to four times
/// the most registrations the session has held at once, so memory follows
/// what it holds whatever tokens it picks. Other tokens go to a dictionary,
/// whose keyed hashing keeps client-chosen tokens from colliding on purpose.
struct TokenTable {
    /// `dense[t]` is the registration of token `t`, for tokens that were
    /// below `dense.count` when added.
    private var dense: [Registration?] = []
    /// The rest. A token added before `dense` grew past it stays here.
    private var sparse: [Token: Registration] = [:]
    private(set) var count = 0

    /// The smallest dense array the table may grow to, whatever it holds.
    private static let minimumDenseLimit = 64

    @inline(__always)
    subscript(token: Token) -> Registration? {
        if token.rawValue < UInt64(dense.count), let found = dense[Int(token.rawValue)] { return found }
        return sparse.isEmpty ? nil : sparse[token]
    }

    /// Adds `registration` under its token, in place of any it had.
    mutating func insert(_ registration: Registration) {
        let token = registration.token
        if !sparse.isEmpty, sparse[token] != nil {
            sparse[token] = registration
        } else if token.rawValue < UInt64(dense.count) || growDense(toCover: token.rawValue) {
            if dense[Int(token.rawValue)] == nil { count += 1 }
            dense[Int(token.rawValue)] = registration
        } else {
            sparse[token] = registration
            count += 1
        }
    }

    /// Removes and returns the registration of `token`, if any.
    mutating func remove(_ token: Token) -> Registration? {
        if token.rawValue < UInt64(dense.count), let found = dense[Int(token.rawValue)] {
            dense[Int(token.rawValue)] = nil
            count -= 1
            return found
        }
        guard !sparse.isEmpty, let found = sparse.removeValue(forKey: token) else { return nil }
        count -= 1
        return found
    }

    /// How many tokens the array reaches (its bound is checked by tests).
    var denseReach: Int { dense.count }

    /// Every registration, in no particular order.
    var all: [Registration] {
        var result: [Registration] = []
        result.reserveCapacity(count)
        for case let registration? in dense { result.append(registration) }
        result.append(contentsOf: sparse.values)
        return result
    }

    /// Makes `dense` reach `raw` when that keeps it within its limit.
    private mutating func growDense(toCover raw: UInt64) -> Bool {
        let limit = max(Self.minimumDenseLimit, 4 * (count + 1))
        guard raw < UInt64(limit) else { return false }
        // One at a time: tokens mostly come in order, and a one-element
        // `append(contentsOf:)` costs several times an `append`.
        while dense.count <= Int(raw) { dense.append(nil) }
        return true
    }
}
