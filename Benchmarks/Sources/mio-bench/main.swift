// `mio-bench fanout [PIPES] [ROUNDS]`: MioCore's side of the fanout
// benchmark; Benchmarks/c/fanout_epoll.c is the same work in raw epoll.
// `mio-bench relay SOCKET [ROUNDS] [stream|ring]`: the relay round trip
// through the daemon, driven by the Swift client library, over event lines
// or through the ring. Each prints one JSON line, as the C programs do.
import Glibc
import MioClient
import MioCore

let arguments = CommandLine.arguments
if arguments.count >= 3, arguments[1] == "relay" {
    let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 20000 : 20000
    guard let delivery = arguments.count > 4 ? Delivery(rawValue: arguments[4]) : .stream, delivery != .poll else {
        print("mio-bench relay: the delivery is stream or ring")
        exit(2)
    }
    let result = try RelayClientBenchmark(socketPath: arguments[2], rounds: rounds, delivery: delivery).run()
    print("{\"rounds\": \(rounds), \"mean_us\": \(result.mean), \"p50_us\": \(result.p50), \"p99_us\": \(result.p99)}")
    exit(0)
}
guard arguments.count >= 2, arguments[1] == "fanout" else {
    print("usage: mio-bench fanout [PIPES] [ROUNDS] | mio-bench relay SOCKET [ROUNDS] [stream|ring]")
    exit(2)
}
let pipeCount = arguments.count > 2 ? Int(arguments[2]) ?? 4096 : 4096
let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 100 : 100
let result = try FanoutBenchmark(pipes: pipeCount, rounds: rounds).run()
print("{\"events\": \(result.events), \"seconds\": \(result.seconds), \"events_per_second\": \(Double(result.events) / result.seconds)}")
