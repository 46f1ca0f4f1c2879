// The fanout of `make bench` through libmio-client: PIPES pipes registered
// (tokens 0..PIPES-1); per round, 1 byte to each, then mio_client_wait
// until every token was seen, draining each pipe as its token is seen (a
// second event of a token in one round is spurious, and counted as
// such). What fanout_baseline.c does with its own epoll, through the
// daemon; with "ring", the events come through the shared-memory ring
// (docs/protocol.md, "Ring delivery"), with "stream" as event lines.
//
//   libmio_client_fanout SOCK PIPES ROUNDS ring|stream [RING_ENTRIES] [pair]
//
// With "pair" (RING_ENTRIES 0: the default), a second set of PIPES pipes
// is in an epoll of this process's own, and ROUNDS rounds of
// fanout_baseline.c's loop on it alternate with the daemon's ROUNDS in
// blocks of 10 (ABBA): both sides measured in the same process, over the
// same stretch of time, so in the same mode of the machine (as relay-pair).
//
// Prints one line: {"events": E, "seconds": S, "events_per_second": R, ...}
// and with "pair" also "baseline": {"events_per_second": R, ...}.
// Built against clients/c's shared library, as libmio_client_relay.
#include "bench_common.h"

#include "mio-client.h"

enum { pair_block = 10 };

static void check(int r, mio_client *c, const char *what) {
    if (r >= 0) return;
    const char *code = mio_client_error_code(c);
    fprintf(stderr, "%s: %s%s%s\n", what, strerror(-r), code ? ": " : "", code ? code : "");
    exit(1);
}

// One round through the daemon; returns the events delivered.
static long daemon_round(mio_client *c, fanout_pipes *p, int r) {
    mio_event events[1024];
    long delivered = 0;
    fanout_pipes_write(p);
    int seen = 0;
    while (seen < p->n) {
        int got = mio_client_wait(c, events, 1024, -1);
        check(got, c, "mio_client_wait");
        delivered += got;
        for (int e = 0; e < got; e++) {
            uint64_t token = events[e].token;
            if (token < (uint64_t)p->n) seen += fanout_pipes_see(p, (int)token, r);
        }
    }
    return delivered;
}

int main(int argc, char **argv) {
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    if (argc < 5) fail("%s", "usage: libmio_client_fanout SOCK PIPES ROUNDS ring|stream [RING_ENTRIES] [pair]");
    int n = atoi(argv[2]), rounds = atoi(argv[3]);
    int ring = strcmp(argv[4], "ring") == 0;
    size_t entries = argc > 5 ? (size_t)atol(argv[5]) : 0;
    int paired = argc > 6 && strcmp(argv[6], "pair") == 0;
    if (paired && rounds % pair_block) fail("%s", "pair: ROUNDS must be a multiple of 10");
    int warmup = 3;
    mio_client *c = NULL;
    check(mio_client_connect(argv[1], &c), c, "mio_client_connect");
    if (ring) check(mio_client_enable_ring(c, entries), c, "mio_client_enable_ring");
    fanout_pipes pipes, own;
    fanout_pipes_make(&pipes, n);
    for (int i = 0; i < n; i++) {
        check(mio_client_register(c, pipes.rd[i], (uint64_t)i, MIO_INTEREST_READABLE, 0), c, "mio_client_register");
    }
    int ep = -1;
    if (paired) {
        fanout_pipes_make(&own, n);
        ep = fanout_epoll(&own);
        for (int r = -warmup; r < 0; r++) fanout_epoll_round(&own, ep, r);
    }
    for (int r = -warmup; r < 0; r++) daemon_round(c, &pipes, r);
    // Blocks of rounds, each side's in turn first (ABBA); without "pair"
    // one block of the daemon's.
    uint64_t ns[2] = {0, 0};  // through the daemon, own epoll
    long delivered = 0;
    int block = paired ? pair_block : rounds;
    for (int first = 0; first < rounds; first += block) {
        int daemon_first = (first / block) % 2 == 0;
        for (int step = 0; step < (paired ? 2 : 1); step++) {
            int through_daemon = (step == 0) == daemon_first;
            uint64_t t = now_ns();
            for (int r = first; r < first + block; r++) {
                if (through_daemon) delivered += daemon_round(c, &pipes, r);
                else fanout_epoll_round(&own, ep, r);
            }
            ns[through_daemon ? 0 : 1] += now_ns() - t;
        }
    }
    long total = (long)n * rounds;
    double seconds = ns[0] / 1e9;
    printf("{\"pipes\": %d, \"rounds\": %d, \"delivery\": \"%s\", \"events\": %ld, \"delivered\": %ld, \"seconds\": %.6f, "
           "\"events_per_second\": %.1f",
           n, rounds, ring ? "ring" : "stream", total, delivered, seconds, total / seconds);
    if (paired) {
        printf(", \"block\": %d, \"baseline\": {\"events\": %ld, \"seconds\": %.6f, \"events_per_second\": %.1f}", pair_block,
               total, ns[1] / 1e9, total / (ns[1] / 1e9));
    }
    printf("}\n");
    mio_client_close(c);
    return 0;
}
