#if canImport(Glibc)
import Glibc
#endif
import MioSystem

/// An eventfd that tells an event stream's reader thread something: stop,
/// or look again (a request on another thread read its events off the socket). The
/// stream's termination handler may run after the thread has gone, so the
/// fd is written and closed under one lock: never written once closed.
final class StopSignal: @unchecked Sendable {
    private let lock = ConnectionLock()
    private var fd: Int32?

    init() throws(MioError) {
        fd = try Sys.eventfd()
    }

    /// The fd to poll, while not closed.
    var pollable: Int32? { lock.withLock { fd } }

    func raise() {
        lock.withLock {
            guard let fd else { return }
            var one: UInt64 = 1
            _ = try? Sys.write(fd, from: &one, count: 8)
        }
    }

    /// Takes the signal back (the eventfd's count to 0), to wait for the next one.
    func clear() {
        lock.withLock {
            guard let fd else { return }
            var count: UInt64 = 0
            _ = try? Sys.read(fd, into: &count, count: 8)
        }
    }

    func close() {
        lock.withLock {
            if let fd { Sys.close(fd) }
            fd = nil
        }
    }
}

/// The one thread behind an ``MioConnection/eventStream``: it sleeps in
/// poll(2) on the socket and the stop signal (not holding the connection's
/// lock, so requests from other tasks go on meanwhile) and hands each event
/// to the stream. One thread for the stream's life, none per event.
enum StreamReader {
    static func start(_ body: @escaping @Sendable () -> Void) {
        Sys.startThread(body)
    }
}
