// The relay of `make bench` through libmio-client: the rounds of
// `daemon_client relay` (one pipe as token 1; per round: write 1 byte, wait
// for its event, drain the pipe), with mio_client_wait(-1) in place of the
// raw client's read-and-scan. Same output line, so bench.py compares the two
// on the same daemon. With "ring", the events come through the
// shared-memory ring (docs/protocol.md, "Ring delivery").
//
//   libmio_client_relay SOCK ROUNDS [ring|stream]
//
// Built against clients/c's shared library by the Makefile's rule (or by
// bench.py): -Iclients/c/include -Lclients/c/build -lmio-client, with an rpath.
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
    if (argc < 2) fail("%s", "usage: libmio_client_relay SOCK [ROUNDS] [ring|stream]");
    int rounds = argc > 2 ? atoi(argv[2]) : 20000;
    int ring = argc > 3 && strcmp(argv[3], "ring") == 0;
    int warmup = rounds / 20 + 10;
    mio_client *c = NULL;
    check(mio_client_connect(argv[1], &c), c, "mio_client_connect");
    if (ring) check(mio_client_enable_ring(c, 0), c, "mio_client_enable_ring");
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2");
    check(mio_client_register(c, fds[0], 1, MIO_INTEREST_READABLE, 0), c, "mio_client_register");
    uint64_t *lat = calloc((size_t)rounds, sizeof *lat);
    mio_event events[64];
    const char byte = 'x';
    for (int r = -warmup; r < rounds; r++) {
        uint64_t t0 = now_ns();
        write_all(fds[1], &byte, 1);
        for (int seen = 0; !seen;) {
            int n = mio_client_wait(c, events, 64, -1);
            check(n, c, "mio_client_wait");
            for (int i = 0; i < n; i++)
                if (events[i].token == 1) seen = 1;
        }
        drain(fds[0]);
        uint64_t t1 = now_ns();
        if (r >= 0) lat[r] = t1 - t0;
    }
    double sum = 0;
    for (int i = 0; i < rounds; i++) sum += (double)lat[i];
    qsort(lat, (size_t)rounds, sizeof *lat, cmp_u64);
    printf("{\"rounds\": %d, \"mean_us\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f, \"min_us\": %.3f, \"max_us\": %.3f}\n",
           rounds, sum / rounds / 1e3, lat[rounds / 2] / 1e3, lat[(size_t)rounds * 99 / 100] / 1e3, lat[0] / 1e3,
           lat[rounds - 1] / 1e3);
    mio_client_close(c);
    return 0;
}
