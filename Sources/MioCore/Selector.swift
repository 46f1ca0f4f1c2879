import CMioLinux
import MioSystem

/// The epoll instance behind a `Poll`: the only place MioCore speaks epoll.
/// `Poll` and `Registry` forward to it, as mio's `poll.rs` forwards to
/// `sys/unix/selector/epoll.rs`.
struct Selector: Sendable {
    let epfd: Int32

    static func make() throws(MioError) -> Selector {
        Selector(epfd: try Sys.epollCreate())
    }

    func tryClone() throws(MioError) -> Selector {
        Selector(epfd: try Sys.duplicate(epfd))
    }

    func close() { Sys.close(epfd) }

    func register(_ fd: Int32, token: Token, interest: Interest, mode: Mode) throws(MioError) {
        try control(EPOLL_CTL_ADD, "epoll_ctl(ADD)", fd, events: interest.epollEvents | mode.epollEvents, data: token.rawValue)
    }

    func reregister(_ fd: Int32, token: Token, interest: Interest, mode: Mode) throws(MioError) {
        try control(EPOLL_CTL_MOD, "epoll_ctl(MOD)", fd, events: interest.epollEvents | mode.epollEvents, data: token.rawValue)
    }

    /// Level-triggered (no `EPOLLET`): beyond mio, for the owner's own
    /// sockets. `interest` nil watches only what epoll always reports
    /// (hang-up, errors).
    func watchLevelTriggered(_ fd: Int32, token: Token, interest: Interest?, adding: Bool) throws(MioError) {
        try control(adding ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, adding ? "epoll_ctl(ADD)" : "epoll_ctl(MOD)", fd,
                    events: interest?.epollEvents ?? 0, data: token.rawValue)
    }

    func deregister(_ fd: Int32) throws(MioError) {
        try control(EPOLL_CTL_DEL, "epoll_ctl(DEL)", fd, events: 0, data: 0)
    }

    /// `epoll_ctl`, with its errnos given the meanings mio gives them
    /// (`EEXIST`: already registered, `ENOENT`: not registered, `EPERM`:
    /// not pollable).
    private func control(_ op: Int32, _ name: String, _ fd: Int32, events: UInt32, data: UInt64) throws(MioError) {
        do {
            try Sys.epollControl(epfd, op, fd, events: events, data: data)
        } catch {
            throw MioError.epollControl(errno: error.errno, operation: name)
        }
    }

    func select(_ events: inout Events, timeout: Duration?) throws(MioError) {
        let milliseconds = Sys.milliseconds(rounding: timeout)
        try events.fill { (buffer, capacity) throws(MioError) -> Int in
            try Sys.epollWait(epfd, buffer, capacity: capacity, timeoutMilliseconds: milliseconds)
        }
    }
}
