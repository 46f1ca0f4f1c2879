#if canImport(Glibc)
import Glibc
#endif
import MioCore
import MioSystem
import MioProtocol

/// ``MioConnection/eventStream``: one reader thread that takes events under
/// the lock, and sleeps without it in poll(2), on the socket (and, in ring
/// delivery, the doorbell, with the ring's sleeping flag raised).
extension MioConnection {
    /// Events as an `AsyncSequence`; it ends when the daemon or ``close()``
    /// ends the connection, and at once when the consuming task is
    /// cancelled. One reader thread serves the stream for its whole life
    /// (none per event); requests from other tasks go on meanwhile.
    public var eventStream: AsyncThrowingStream<ClientEvent, Error> {
        let (stream, continuation) = AsyncThrowingStream<ClientEvent, Error>.makeStream()
        let stop: StopSignal
        let nudge: StopSignal
        do {
            stop = try StopSignal()
            nudge = try StopSignal()
        } catch {
            continuation.finish(throwing: MioClientError.system(error))
            return stream
        }
        let started = lock.withLock { () -> Bool in
            if closedByUser { return false }
            readers += 1
            readerNudges[ObjectIdentifier(nudge)] = nudge
            return true
        }
        guard started else {
            stop.close()
            nudge.close()
            continuation.finish()
            return stream
        }
        continuation.onTermination = { _ in stop.raise() }
        StreamReader.start { [self] in
            defer {
                stop.close()
                lock.withLock {
                    readerNudges[ObjectIdentifier(nudge)] = nil
                    nudge.close()
                    readers -= 1
                    if closedByUser && readers == 0 { releaseFd() }
                }
            }
            while true {
                nudge.clear()
                do {
                    // What has come, without blocking, under the lock.
                    while let event = try exchange({ () throws(MioClientError) in try nextEvent(timeout: .zero) }) {
                        if case .terminated = continuation.yield(event) { return }
                    }
                } catch {
                    if (error as? MioClientError) == .connectionClosed { continuation.finish() } else { continuation.finish(throwing: error) }
                    return
                }
                // Then sleep, not holding the lock, until the socket, the
                // doorbell, a nudge or the stop signal wakes us.
                let sleep: Sleep
                do {
                    sleep = try exchange { () throws(MioClientError) in prepareToSleep() }
                } catch {
                    continuation.finish()
                    return
                }
                var doorbell: RingReader?
                switch sleep {
                case .again: continue
                case .onSocket: doorbell = nil
                case .onRing(let ring): doorbell = ring
                }
                let ready = stop.pollable.flatMap { stopFd in
                    nudge.pollable.flatMap { nudgeFd in
                        try? Sys.waitReadable(anyOf: [fd, stopFd, nudgeFd] + (doorbell.map { [$0.doorbell] } ?? []), timeout: nil)
                    }
                }
                if let ring = doorbell { lock.withLock { wokeUp(ring, rang: ready.map { $0[3] } ?? false) } }
                guard let ready, !ready[1] else {
                    continuation.finish()
                    return
                }
            }
        }
        return stream
    }

    /// How the stream's reader may sleep.
    enum Sleep {
        /// Work came meanwhile: take it first.
        case again
        case onSocket
        /// On the socket and this ring's doorbell, its flag raised.
        case onRing(RingReader)
    }

    /// Under the lock, after the reader found nothing.
    func prepareToSleep() -> Sleep {
        guard let ring else { return .onSocket }
        return ring.arm() ? .onRing(ring) : .again
    }

    /// Under the lock, after the sleep: the flag lowered, the doorbell
    /// cleared; nothing if the ring was let go of meanwhile (the nudge
    /// that woke us said so).
    func wokeUp(_ sleptOn: RingReader, rang: Bool) {
        guard sleptOn === ring else { return }
        sleptOn.disarm()
        if rang { sleptOn.clearDoorbell() }
    }
}
