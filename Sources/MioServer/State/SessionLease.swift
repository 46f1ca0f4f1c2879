import MioCore

/// A persistent session's lease (docs/protocol.md, "Leases"): a timerfd of
/// the daemon's that runs while no connection is attached and ends the
/// session when it expires. Only sessions with a lease have one, so no
/// timer work is done for the others.
final class SessionLease {
    private(set) var seconds: UInt32
    let timer: TimerFd
    /// The daemon's epoll token for the timer, once watched.
    var internalToken = Token(0)
    /// The name its timerfd is kept under in the fd store, while it is there.
    var storedName: String?

    init(seconds: UInt32, timer: TimerFd) {
        self.seconds = seconds
        self.timer = timer
    }

    /// A new length; the countdown, if running, starts again from it.
    func change(seconds: UInt32, attached: Bool) {
        self.seconds = seconds
        if !attached { startCountdown() }
    }

    /// A connection attached (the countdown stops) or the last one went
    /// (it starts again from `seconds`).
    func attachmentChanged(attached: Bool) {
        if attached { try? timer.disarm() } else { startCountdown() }
    }

    func startCountdown() {
        try? timer.arm(after: .seconds(Int64(seconds)))
    }

    /// Time left while counting down; nil while attached (or just expired).
    var expiresIn: Duration? { timer.setting.next }
}
