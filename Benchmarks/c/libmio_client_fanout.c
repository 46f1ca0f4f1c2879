// The fanout of `make bench` through libmio-client: PIPES pipes registered
// (tokens 0..PIPES-1); per round, 1 byte to each, then mio_client_wait
// until every token was seen, draining each pipe as its token is seen (a
// second event of a token in one round is spurious, and counted as
// such). What fanout_baseline.c does with its own epoll, through the
// daemon; with "ring", the events come through the shared-memory ring
// (docs/protocol.md, "Ring delivery"), with "stream" as event lines.
//
//   libmio_client_fanout SOCK PIPES ROUNDS ring|stream [RING_ENTRIES]
//
// Prints one line: {"events": E, "seconds": S, "events_per_second": R, ...}
// Built against clients/c's shared library, as libmio_client_relay.
#include "bench_common.h"

#include "mio-client.h"

static void check(int r, mio_client *c, const char *what) {
    if (r >= 0) return;
    const char *code = mio_client_error_code(c);
    fprintf(stderr, "%s: %s%s%s\n", what, strerror(-r), code ? ": " : "", code ? code : "");
    exit(1);
}

int main(int argc, char **argv) {
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    if (argc < 5) fail("%s", "usage: libmio_client_fanout SOCK PIPES ROUNDS ring|stream [RING_ENTRIES]");
    int n = atoi(argv[2]), rounds = atoi(argv[3]);
    int ring = strcmp(argv[4], "ring") == 0;
    size_t entries = argc > 5 ? (size_t)atol(argv[5]) : 0;
    int warmup = 3;
    mio_client *c = NULL;
    check(mio_client_connect(argv[1], &c), c, "mio_client_connect");
    if (ring) check(mio_client_enable_ring(c, entries), c, "mio_client_enable_ring");
    int *rd = calloc((size_t)n, sizeof(int)), *wr = calloc((size_t)n, sizeof(int));
    int *seen_in = calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2");
        rd[i] = fds[0];
        wr[i] = fds[1];
        seen_in[i] = -1000;
        check(mio_client_register(c, rd[i], (uint64_t)i, MIO_INTEREST_READABLE, 0), c, "mio_client_register");
    }
    mio_event events[1024];
    const char byte = 'x';
    long total = 0, delivered = 0;
    uint64_t start = 0;
    for (int r = -warmup; r < rounds; r++) {
        if (r == 0) {
            start = now_ns();
            delivered = 0;
        }
        for (int i = 0; i < n; i++) write_all(wr[i], &byte, 1);
        int seen = 0;
        while (seen < n) {
            int got = mio_client_wait(c, events, 1024, -1);
            check(got, c, "mio_client_wait");
            delivered += got;
            for (int e = 0; e < got; e++) {
                uint64_t token = events[e].token;
                if (token >= (uint64_t)n) continue;
                int i = (int)token;
                if (seen_in[i] == r) continue;
                seen_in[i] = r;
                seen++;
                drain(rd[i]);
            }
        }
        if (r >= 0) total += seen;
    }
    double seconds = (now_ns() - start) / 1e9;
    printf("{\"pipes\": %d, \"rounds\": %d, \"delivery\": \"%s\", \"events\": %ld, \"delivered\": %ld, \"seconds\": %.6f, "
           "\"events_per_second\": %.1f}\n",
           n, rounds, ring ? "ring" : "stream", total, delivered, seconds, total / seconds);
    mio_client_close(c);
    return 0;
}
