import MioSystem
/// Wakes a ``Poll`` from another thread: mio's `Waker`, over an eventfd.
///
/// The poll reports a readable event with the waker's token. Wakes that
/// arrive before the poll runs coalesce into one event.
public final class Waker: Sendable {
    private let fd: Int32

    private init(eventFd: Int32) { fd = eventFd }

    /// Registers a new eventfd with `registry` under `token`, readable, edge-triggered.
    public convenience init(registry: Registry, token: Token) throws(MioError) {
        let eventFd = try Sys.eventfd()
        do {
            try registry.register(SourceFd(eventFd), token: token, interest: .readable)
        } catch {
            Sys.close(eventFd)
            throw error
        }
        self.init(eventFd: eventFd)
    }

    /// Adopts an eventfd made earlier (kept across a restart in a service
    /// manager's fd store) and registers it like a new one. On failure the
    /// fd stays the caller's.
    public convenience init(registry: Registry, token: Token, adopting eventFd: Int32) throws(MioError) {
        try registry.register(SourceFd(eventFd), token: token, interest: .readable)
        self.init(eventFd: eventFd)
    }

    deinit { Sys.close(fd) }

    /// Makes the registered poll report a readable event for the token.
    public func wake() throws(MioError) {
        var one: UInt64 = 1
        while true {
            switch try Sys.write(fd, from: &one, count: 8) {
            case .done: return
            case .wouldBlock:
                // The counter is at its maximum: reset it and write again.
                reset()
            }
        }
    }

    /// Reads the counter back to zero. A waker never needs this for the next
    /// wake to be seen (each write is a new edge); it only keeps the counter
    /// from overflowing.
    public func reset() {
        var counter: UInt64 = 0
        _ = try? Sys.read(fd, into: &counter, count: 8)
    }

    /// The eventfd, for tests and for counting.
    public var rawDescriptor: Int32 { fd }
}
