import Glibc
import MioClient
import MioCore
import MioSystem
import MioProtocol

/// The relay round trip driven by the Swift client library instead of the
/// C client: one pipe registered; write 1 byte, wait for its event, drain.
/// Against the C client on the same daemon, it shows the library's own cost.
/// `delivery: .ring`: the event comes through the shared-memory ring.
struct RelayClientBenchmark {
    let socketPath: String
    let rounds: Int
    var delivery: Delivery = .stream

    func run() throws -> (mean: Double, p50: Double, p99: Double) {
        let daemon = try MioConnection(path: socketPath)
        if delivery != .stream { try daemon.hello(delivery: delivery, client: "mio-bench relay") }
        let (readEnd, writeEnd) = try Sys.pipe(flags: O_NONBLOCK)
        defer { Sys.close(readEnd); Sys.close(writeEnd) }
        try daemon.register(fd: readEnd, token: 1, interest: .readable)
        var latencies: [UInt64] = []
        latencies.reserveCapacity(rounds)
        var byte: UInt8 = 0x78
        var sink = [UInt8](repeating: 0, count: 64)
        let warmup = rounds / 20 + 10
        for round in -warmup..<rounds {
            let start = Sys.monotonicNanoseconds()
            _ = try Sys.write(writeEnd, from: &byte, count: 1)
            while true {
                guard let event = try daemon.next(timeout: nil) else { continue }
                if case .ready(let ready) = event, ready.token == Token(1) { break }
            }
            sink.withUnsafeMutableBytes { buffer in
                while case .done(let n)? = try? Sys.read(readEnd, into: buffer.baseAddress!, count: buffer.count), n > 0 {}
            }
            if round >= 0 { latencies.append(Sys.monotonicNanoseconds() - start) }
        }
        latencies.sort()
        let mean = Double(latencies.reduce(0, +)) / Double(latencies.count) / 1000
        return (mean, Double(latencies[latencies.count / 2]) / 1000, Double(latencies[latencies.count * 99 / 100]) / 1000)
    }
}
