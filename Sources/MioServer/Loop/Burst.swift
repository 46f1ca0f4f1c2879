/// Whether the loop is in a burst of readiness, and so looks again without
/// sleeping (``Server``'s `turn`).
///
/// A look that finds several fds ready means their producers are likely
/// still at it. Sleeping then costs each producer a wake-up of the daemon
/// after every few of its writes (on another CPU: an interprocessor
/// interrupt in the writer's `write`; on the same CPU: two context
/// switches), so the loop keeps looking, yielding the CPU before each
/// look, until several looks in a row find nothing. A single ready fd (a
/// relay's) starts no burst: it is answered and the loop sleeps.
struct Burst {
    /// Readiness events in one look that start a burst.
    static let startingReadiness = 2
    /// Looks in a row that find nothing before the burst is over.
    static let quietLooks = 32

    private var quietLooksLeft = 0

    var isOn: Bool { quietLooksLeft > 0 }

    /// One look found `readiness` ready client fds.
    mutating func looked(finding readiness: Int) {
        if readiness >= Self.startingReadiness || (isOn && readiness > 0) {
            quietLooksLeft = Self.quietLooks
        } else if isOn {
            quietLooksLeft -= 1
        }
    }
}
