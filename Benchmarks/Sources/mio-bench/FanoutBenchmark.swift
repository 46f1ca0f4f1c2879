import Glibc
import MioCore
import MioSystem

/// A writer thread writes one byte to each pipe per round; the poll loop
/// drains every pipe it gets an event for, and when all were seen lets the
/// writer start the next round.
struct FanoutBenchmark {
    let pipes: Int
    let rounds: Int

    func run() throws -> (events: Int, seconds: Double) {
        let poll = try Poll()
        var readEnds: [Int32] = []
        var writeEnds: [Int32] = []
        for index in 0..<pipes {
            let (r, w) = try Sys.pipe(flags: O_NONBLOCK)
            readEnds.append(r)
            writeEnds.append(w)
            try poll.registry.register(SourceFd(r), token: Token(UInt64(index)), interest: .readable)
        }
        let roundDone = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        sem_init(roundDone, 0, 0)
        let writer = WriterThread(writeEnds: writeEnds, rounds: rounds, roundDone: roundDone)

        var events = try Events(capacity: 1024)
        var buffer = [UInt8](repeating: 0, count: 64)
        var total = 0
        let clock = ContinuousClock()
        let start = clock.now
        writer.start()
        for _ in 0..<rounds {
            var seen = 0
            while seen < pipes {
                guard try pollRetryingInterrupts(poll, &events) else { continue }
                for event in events {
                    drain(readEnds[Int(event.token.rawValue)], &buffer)
                    seen += 1
                }
            }
            total += seen
            sem_post(roundDone)
        }
        let elapsed = clock.now - start
        writer.join()
        for fd in readEnds + writeEnds { Sys.close(fd) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (total, seconds)
    }
}

/// Polls; false when a signal interrupted the wait.
private func pollRetryingInterrupts(_ poll: Poll, _ events: inout Events) throws -> Bool {
    do {
        try poll.poll(&events, timeout: nil)
        return true
    } catch {
        if error.kind == .interrupted { return false }
        throw error
    }
}

/// Reads until EAGAIN or end of file.
private func drain(_ fd: Int32, _ buffer: inout [UInt8]) {
    buffer.withUnsafeMutableBytes { bytes in
        while true {
            guard let result = try? Sys.read(fd, into: bytes.baseAddress!, count: bytes.count),
                  case .done(let n) = result, n > 0 else { return }
        }
    }
}

/// The writer: a plain pthread, as in the C program.
final class WriterThread: @unchecked Sendable {
    let writeEnds: [Int32]
    let rounds: Int
    let roundDone: UnsafeMutablePointer<sem_t>
    private var handle = pthread_t()

    init(writeEnds: [Int32], rounds: Int, roundDone: UnsafeMutablePointer<sem_t>) {
        self.writeEnds = writeEnds
        self.rounds = rounds
        self.roundDone = roundDone
    }

    func start() {
        pthread_create(&handle, nil, { raw in
            Unmanaged<WriterThread>.fromOpaque(raw!).takeUnretainedValue().body()
            return nil
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    func join() { pthread_join(handle, nil) }

    private func body() {
        var byte: UInt8 = 0x78
        for _ in 0..<rounds {
            for fd in writeEnds {
                _ = try? Sys.write(fd, from: &byte, count: 1)
            }
            while sem_wait(roundDone) != 0 {}
        }
    }
}
