// `mio-bench fanout [PIPES] [ROUNDS]`: MioCore's side of the fanout
// benchmark; Benchmarks/c/fanout_epoll.c is the same work in raw epoll.
// Prints one JSON line, as the C program does.
import Glibc
import MioCore

let arguments = CommandLine.arguments
guard arguments.count >= 2, arguments[1] == "fanout" else {
    print("usage: mio-bench fanout [PIPES] [ROUNDS]")
    exit(2)
}
let pipeCount = arguments.count > 2 ? Int(arguments[2]) ?? 4096 : 4096
let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 100 : 100
let result = try FanoutBenchmark(pipes: pipeCount, rounds: rounds).run()
print("{\"events\": \(result.events), \"seconds\": \(result.seconds), \"events_per_second\": \(Double(result.events) / result.seconds)}")
