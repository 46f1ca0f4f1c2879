// The C floor for the daemon's fanout benchmark: one process, one thread,
// the same pipes in its own epoll (EPOLLIN|EPOLLRDHUP|EPOLLET, as the
// daemon registers them). Per round it writes 1 byte to each pipe, then
// waits for events until every pipe was seen, draining each as its event
// arrives. What `daemon_client fanout` does through the daemon, minus the
// daemon.
//
//   fanout_baseline [PIPES] [ROUNDS]
//
// Prints one line: {"events": E, "seconds": S, "events_per_second": R, ...}
#include "bench_common.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4096;
    int rounds = argc > 2 ? atoi(argv[2]) : 100;
    int warmup = 3;
    raise_nofile();
    fanout_pipes pipes;
    fanout_pipes_make(&pipes, n);
    int ep = fanout_epoll(&pipes);
    long total = 0, raw = 0;
    uint64_t start = 0;
    for (int r = -warmup; r < rounds; r++) {
        if (r == 0) {
            start = now_ns();
            raw = 0;
        }
        raw += fanout_epoll_round(&pipes, ep, r);
        if (r >= 0) total += n;
    }
    double seconds = (now_ns() - start) / 1e9;
    printf("{\"pipes\": %d, \"rounds\": %d, \"events\": %ld, \"epoll_events\": %ld, \"seconds\": %.6f, \"events_per_second\": %.1f}\n",
           n, rounds, total, raw, seconds, total / seconds);
    return 0;
}
