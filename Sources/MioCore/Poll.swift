/// Polls for readiness events on all registered sources: mio's `Poll` over
/// Linux epoll.
///
/// ```swift
/// let poll = try Poll()
/// var events = try Events(capacity: 128)
/// try poll.registry.register(SourceFd(fd), token: Token(0), interest: .readable)
/// while true {
///     try poll.poll(&events, timeout: nil)
///     for event in events where event.token == Token(0) {
///         // read until EAGAIN
///     }
/// }
/// ```
///
/// Readiness is edge-triggered: after an event, drain the source (read or
/// write until the call would block) or no further event may come for it.
/// Events may be spurious. When the `Poll` (and every clone of its registry)
/// is gone, its epoll instance is closed; the registered fds are not.
public final class Poll: @unchecked Sendable {
    /// Registers and deregisters sources.
    public let registry: Registry

    /// A new epoll instance (`epoll_create1(EPOLL_CLOEXEC)`).
    public init() throws(MioError) {
        registry = Registry(selector: try Selector.make(), ownsSelector: true)
    }

    /// Waits for readiness and stores the events in `events`, replacing what
    /// it held.
    ///
    /// - Parameter timeout: nil waits until an event comes; zero returns at
    ///   once. A timeout is rounded up to whole milliseconds, never down.
    /// - Throws: `.interrupted` when a signal arrived (`EINTR`): mio leaves the
    ///   retry to the caller, and so does this.
    public func poll(_ events: inout Events, timeout: Duration?) throws(MioError) {
        try registry.selector.select(&events, timeout: timeout)
    }

    /// The epoll fd, to register this `Poll` inside another one.
    public var rawDescriptor: Int32 { registry.selector.epfd }
}
