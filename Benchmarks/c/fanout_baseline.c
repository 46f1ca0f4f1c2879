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

#include <sys/epoll.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4096;
    int rounds = argc > 2 ? atoi(argv[2]) : 100;
    int warmup = 3;
    raise_nofile();
    int *rd = calloc((size_t)n, sizeof(int)), *wr = calloc((size_t)n, sizeof(int));
    int *seen_in = calloc((size_t)n, sizeof(int));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < n; i++) {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2");
        rd[i] = fds[0];
        wr[i] = fds[1];
        seen_in[i] = -1000;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev) != 0) die("epoll_ctl");
    }
    struct epoll_event events[1024];
    const char byte = 'x';
    long total = 0, raw = 0;
    uint64_t start = 0;
    for (int r = -warmup; r < rounds; r++) {
        if (r == 0) {
            start = now_ns();
            raw = 0;
        }
        for (int i = 0; i < n; i++) write_all(wr[i], &byte, 1);
        int seen = 0;
        while (seen < n) {
            int got = epoll_wait(ep, events, 1024, -1);
            if (got < 0) {
                if (errno == EINTR) continue;
                die("epoll_wait");
            }
            raw += got;
            for (int e = 0; e < got; e++) {
                int i = (int)events[e].data.u64;
                if (seen_in[i] == r) continue;
                seen_in[i] = r;
                seen++;
                drain(rd[i]);
            }
        }
        if (r >= 0) total += seen;
    }
    double seconds = (now_ns() - start) / 1e9;
    printf("{\"pipes\": %d, \"rounds\": %d, \"events\": %ld, \"epoll_events\": %ld, \"seconds\": %.6f, \"events_per_second\": %.1f}\n",
           n, rounds, total, raw, seconds, total / seconds);
    return 0;
}
