// The C client of `make bench`: drives mio-daemon (or a C baseline server
// that speaks the same few lines) over its Unix socket, so the client's own
// cost stays small next to the server's. Prints one JSON line per run.
//
//   daemon_client relay        SOCK ROUNDS
//       one pipe registered as token 1; per round: write 1 byte, read until an
//       event line for token 1, drain the pipe. Latency per round trip.
//       (Also the client of relay_baseline, which answers the same lines.)
//   daemon_client relay-pair   SOCK_A SOCK_B ROUNDS [BLOCK]
//       the relay against two servers up at once, ROUNDS each, in
//       alternating blocks of BLOCK rounds (default 200); {"a":…,"b":…}.
//   daemon_client fanout       SOCK PIPES ROUNDS
//       PIPES pipes registered; per round: 1 byte to each, read event lines
//       until every token was seen, draining each pipe when its token is seen.
//   daemon_client registration SOCK COUNT
//       COUNT pipes: register each (one sendmsg with its fd, wait for the
//       reply), then deregister each (wait for the reply). 2*COUNT ops.
//       (Also the client of registration_baseline.)
//   daemon_client registration-pair SOCK_A SOCK_B COUNT [BLOCK]
//       the same against two servers up at once, COUNT each (default 9000:
//       both sides' write ends are held), in alternating blocks of BLOCK
//       (default 500); {"a":…,"b":…}.
//   daemon_client memory       SOCK PID COUNT
//       daemon RSS with COUNT idle registrations minus RSS with none.
//   daemon_client slowreader   SOCK PID TOKENS ROUNDS
//       TOKENS pipes registered; ROUNDS times 1 byte to each while this client
//       does not read; RSS growth of the daemon; then read until every token
//       was delivered.
//   daemon_client idle         SOCK PID COUNT SECONDS
//       voluntary context switches of the daemon (all threads) over SECONDS
//       with COUNT idle registrations.
//   daemon_client timer        SOCK|- EXPIRIES INTERVAL_MS
//       a periodic timer of INTERVAL_MS: the daemon's (`timer`, token 1,
//       through SOCK), or with `-` a timerfd in this process's own epoll.
//       Lateness of each wake-up after the expiry it reports, until
//       EXPIRIES expiries; both sides measured by the same code.
//   daemon_client start        DAEMON DIR CPU
//       fork+exec DAEMON --socket DIR/mio.sock pinned to CPU with
//       NOTIFY_SOCKET=DIR/notify.sock; time from before fork() to READY=1.
#include "bench_common.h"

#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

typedef struct {
    int sock;
    reader_t in;
} conn_t;

static void conn_open(conn_t *c, const char *path) {
    c->sock = connect_unix(path);
    reader_init(&c->in, c->sock, 256 * 1024);
}

// Reads lines until a reply (a line without "event"); exits unless it is ok.
static void wait_reply(conn_t *c, const char *request) {
    for (;;) {
        char *line = reader_line(&c->in, NULL);
        if (!line) fail("connection closed while waiting for the reply to %s", request);
        if (is_event_line(line)) continue;
        if (!line_ok(line)) {
            fprintf(stderr, "request %s failed: %s\n", request, line);
            exit(1);
        }
        return;
    }
}

static void request(conn_t *c, const char *line) {
    send_line_fd(c->sock, line, strlen(line), -1);
    wait_reply(c, line);
}

static void register_fd(conn_t *c, uint64_t token, int fd) {
    char line[160];
    int n = snprintf(line, sizeof line,
                     "{\"op\":\"register\",\"token\":%llu,\"interest\":[\"readable\"],\"id\":%llu}\n",
                     (unsigned long long)token, (unsigned long long)token);
    send_line_fd(c->sock, line, (size_t)n, fd);
    wait_reply(c, line);
}

static void deregister(conn_t *c, uint64_t token) {
    char line[128];
    int n = snprintf(line, sizeof line, "{\"op\":\"deregister\",\"token\":%llu,\"id\":%llu}\n",
                     (unsigned long long)token, (unsigned long long)token);
    send_line_fd(c->sock, line, (size_t)n, -1);
    wait_reply(c, line);
}

static void make_pipe(int fds[2]) {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2");
}

// Registers `count` pipes (tokens 1..count); the daemon's copy of each read
// end is the only one left, the client keeps the write ends.
static int *register_idle_pipes(conn_t *c, int count) {
    int *write_ends = calloc((size_t)count, sizeof(int));
    for (int i = 0; i < count; i++) {
        int fds[2];
        make_pipe(fds);
        register_fd(c, (uint64_t)i + 1, fds[0]);
        close(fds[0]);
        write_ends[i] = fds[1];
    }
    return write_ends;
}

static int arg_int(int argc, char **argv, int i, int dflt) {
    return argc > i ? atoi(argv[i]) : dflt;
}

// ---------------------------------------------------------------- relay

typedef struct {
    conn_t c;
    int fds[2];
} relay_t;

static void relay_open(relay_t *r, const char *path) {
    conn_open(&r->c, path);
    make_pipe(r->fds);
    register_fd(&r->c, 1, r->fds[0]);
}

// One round trip: 1 byte in, the event line for token 1 out, the pipe drained.
static uint64_t relay_round(relay_t *r) {
    const char byte = 'x';
    uint64_t t0 = now_ns();
    write_all(r->fds[1], &byte, 1);
    for (;;) {
        char *line = reader_line(&r->c.in, NULL);
        if (!line) fail("%s", "connection closed during relay");
        uint64_t token;
        if (is_event_line(line) && line_token(line, &token) && token == 1) break;
    }
    drain(r->fds[0]);
    return now_ns() - t0;
}

// Sorts `lat` and formats its summary as a JSON object into `out`.
static void latency_summary(char *out, size_t size, uint64_t *lat, int rounds) {
    double sum = 0;
    for (int i = 0; i < rounds; i++) sum += (double)lat[i];
    qsort(lat, (size_t)rounds, sizeof *lat, cmp_u64);
    snprintf(out, size,
             "{\"rounds\": %d, \"mean_us\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f, \"min_us\": %.3f, \"max_us\": %.3f}",
             rounds, sum / rounds / 1e3, lat[rounds / 2] / 1e3, lat[(size_t)rounds * 99 / 100] / 1e3, lat[0] / 1e3,
             lat[rounds - 1] / 1e3);
}

static int cmd_relay(int argc, char **argv) {
    int rounds = arg_int(argc, argv, 3, 20000);
    int warmup = rounds / 20 + 10;
    relay_t r;
    relay_open(&r, argv[2]);
    uint64_t *lat = calloc((size_t)rounds, sizeof *lat);
    for (int i = -warmup; i < rounds; i++) {
        uint64_t ns = relay_round(&r);
        if (i >= 0) lat[i] = ns;
    }
    char summary[256];
    latency_summary(summary, sizeof summary, lat, rounds);
    printf("%s\n", summary);
    return 0;
}

// The side (0 or 1) that runs k-th (k = 0, 1) in block b of a pair
// command: the first side alternates from block to block (ABBA), so
// neither always follows the other.
static int pair_side(int b, int k) {
    return (b % 2) ^ k;
}

// Both servers up at once, the rounds taken in alternating blocks (ABBA:
// the side that goes first alternates), so the drift of a shared machine
// between blocks hits both sides alike.
static int cmd_relay_pair(int argc, char **argv) {
    int rounds = arg_int(argc, argv, 4, 20000);
    int block = arg_int(argc, argv, 5, 200);
    if (block < 1 || rounds % block) fail("%s", "relay-pair: ROUNDS must be a multiple of BLOCK");
    int warmup = rounds / 20 + 10;
    relay_t side[2];
    relay_open(&side[0], argv[2]);
    relay_open(&side[1], argv[3]);
    uint64_t *lat[2] = {calloc((size_t)rounds, sizeof(uint64_t)), calloc((size_t)rounds, sizeof(uint64_t))};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < warmup; i++) relay_round(&side[s]);
    for (int b = 0; b < rounds / block; b++) {
        for (int k = 0; k < 2; k++) {
            int s = pair_side(b, k);
            for (int i = 0; i < block; i++) lat[s][b * block + i] = relay_round(&side[s]);
        }
    }
    char a[256], bsum[256];
    latency_summary(a, sizeof a, lat[0], rounds);
    latency_summary(bsum, sizeof bsum, lat[1], rounds);
    printf("{\"block\": %d, \"a\": %s, \"b\": %s}\n", block, a, bsum);
    return 0;
}

// ---------------------------------------------------------------- fanout

static int cmd_fanout(int argc, char **argv) {
    const char *path = argv[2];
    int n = arg_int(argc, argv, 3, 4096);
    int rounds = arg_int(argc, argv, 4, 100);
    int warmup = 3;
    conn_t c;
    conn_open(&c, path);
    int *rd = calloc((size_t)n, sizeof(int)), *wr = calloc((size_t)n, sizeof(int));
    int *seen_in = calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        int fds[2];
        make_pipe(fds);
        rd[i] = fds[0];
        wr[i] = fds[1];
        register_fd(&c, (uint64_t)i + 1, fds[0]);
        seen_in[i] = -1000;
    }
    const char byte = 'x';
    long events = 0, lines = 0;
    uint64_t start = 0;
    for (int r = -warmup; r < rounds; r++) {
        if (r == 0) {
            start = now_ns();
            lines = 0;
        }
        for (int i = 0; i < n; i++) write_all(wr[i], &byte, 1);
        int seen = 0;
        while (seen < n) {
            char *line = reader_line(&c.in, NULL);
            if (!line) fail("%s", "connection closed during fanout");
            uint64_t token;
            if (!is_event_line(line) || !line_token(line, &token)) continue;
            lines++;
            if (token < 1 || token > (uint64_t)n) continue;
            int i = (int)(token - 1);
            if (seen_in[i] == r) continue;  // a second event in one round: spurious
            seen_in[i] = r;
            seen++;
            drain(rd[i]);
        }
        if (r >= 0) events += seen;
    }
    double seconds = (now_ns() - start) / 1e9;
    printf("{\"pipes\": %d, \"rounds\": %d, \"events\": %ld, \"event_lines\": %ld, \"seconds\": %.6f, \"events_per_second\": %.1f}\n",
           n, rounds, events, lines, seconds, events / seconds);
    return 0;
}

// ---------------------------------------------------------------- registration

// Tokens first..first+count-1 of a registration run: a pipe made just
// before each register and its read end closed after it (the server holds
// its own copy; the write end is kept, or the server would see a hangup);
// neither is on the clock. Returns the nanoseconds spent in the requests.
static uint64_t register_block(conn_t *c, int *write_ends, int first, int count) {
    uint64_t ns = 0;
    for (int i = first; i < first + count; i++) {
        int fds[2];
        make_pipe(fds);
        uint64_t t = now_ns();
        register_fd(c, (uint64_t)i + 1, fds[0]);
        ns += now_ns() - t;
        close(fds[0]);
        write_ends[i] = fds[1];
    }
    return ns;
}

static uint64_t deregister_block(conn_t *c, int first, int count) {
    uint64_t t = now_ns();
    for (int i = first; i < first + count; i++) deregister(c, (uint64_t)i + 1);
    return now_ns() - t;
}

static void registration_summary(char *out, size_t size, int n, uint64_t reg_ns, uint64_t dereg_ns) {
    double seconds = (reg_ns + dereg_ns) / 1e9;
    snprintf(out, size,
             "{\"registrations\": %d, \"ops\": %d, \"seconds\": %.6f, \"ops_per_second\": %.1f, "
             "\"register_per_second\": %.1f, \"deregister_per_second\": %.1f}",
             n, 2 * n, seconds, 2 * n / seconds, n / (reg_ns / 1e9), n / (dereg_ns / 1e9));
}

static int cmd_registration(int argc, char **argv) {
    int n = arg_int(argc, argv, 3, 10000);
    conn_t c;
    conn_open(&c, argv[2]);
    request(&c, "{\"op\":\"ping\"}\n");
    int *wr = calloc((size_t)n, sizeof(int));
    uint64_t reg_ns = register_block(&c, wr, 0, n);
    uint64_t dereg_ns = deregister_block(&c, 0, n);
    char summary[256];
    registration_summary(summary, sizeof summary, n, reg_ns, dereg_ns);
    printf("%s\n", summary);
    return 0;
}

// Both servers up at once: COUNT registrations on each, made in alternating
// blocks (ABBA, as relay-pair), then the deregistrations likewise. Both
// sides' write ends are held at once: 2*COUNT must stay under the fd limit.
static int cmd_registration_pair(int argc, char **argv) {
    int n = arg_int(argc, argv, 4, 9000);
    int block = arg_int(argc, argv, 5, 500);
    if (block < 1 || n % block) fail("%s", "registration-pair: COUNT must be a multiple of BLOCK");
    conn_t c[2];
    int *wr[2];
    uint64_t reg_ns[2] = {0, 0}, dereg_ns[2] = {0, 0};
    for (int s = 0; s < 2; s++) {
        conn_open(&c[s], argv[2 + s]);
        request(&c[s], "{\"op\":\"ping\"}\n");
        wr[s] = calloc((size_t)n, sizeof(int));
    }
    for (int b = 0; b < n / block; b++)
        for (int k = 0; k < 2; k++) {
            int s = pair_side(b, k);
            reg_ns[s] += register_block(&c[s], wr[s], b * block, block);
        }
    for (int b = 0; b < n / block; b++)
        for (int k = 0; k < 2; k++) {
            int s = pair_side(b, k);
            dereg_ns[s] += deregister_block(&c[s], b * block, block);
        }
    char a[256], bsum[256];
    registration_summary(a, sizeof a, n, reg_ns[0], dereg_ns[0]);
    registration_summary(bsum, sizeof bsum, n, reg_ns[1], dereg_ns[1]);
    printf("{\"block\": %d, \"a\": %s, \"b\": %s}\n", block, a, bsum);
    return 0;
}

// ---------------------------------------------------------------- memory

static int cmd_memory(int argc, char **argv) {
    const char *path = argv[2];
    pid_t pid = (pid_t)atoi(argv[3]);
    int n = arg_int(argc, argv, 4, 10000);
    conn_t c;
    conn_open(&c, path);
    request(&c, "{\"op\":\"ping\"}\n");
    usleep(20000);
    long before = rss_kb(pid);
    int *wr = register_idle_pipes(&c, n);
    request(&c, "{\"op\":\"ping\"}\n");
    usleep(20000);
    long after = rss_kb(pid);
    (void)wr;
    printf("{\"registrations\": %d, \"rss_none_kb\": %ld, \"rss_full_kb\": %ld, \"bytes_per_registration\": %.1f}\n", n,
           before, after, (after - before) * 1024.0 / n);
    return 0;
}

// ---------------------------------------------------------------- slow reader

static int cmd_slowreader(int argc, char **argv) {
    const char *path = argv[2];
    pid_t pid = (pid_t)atoi(argv[3]);
    int n = arg_int(argc, argv, 4, 500);
    int rounds = arg_int(argc, argv, 5, 50);
    conn_t c;
    conn_open(&c, path);
    int *rd = calloc((size_t)n, sizeof(int)), *wr = calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        int fds[2];
        make_pipe(fds);
        rd[i] = fds[0];
        wr[i] = fds[1];
        register_fd(&c, (uint64_t)i + 1, fds[0]);
    }
    request(&c, "{\"op\":\"ping\"}\n");
    usleep(20000);
    long before = rss_kb(pid);
    // Each write to a pipe is a new edge (the pipe is not drained); the
    // pause lets the daemon see each round's edges while nobody reads.
    const char byte = 'x';
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < n; i++) write_all(wr[i], &byte, 1);
        usleep(4000);
    }
    usleep(50000);
    long after = rss_kb(pid);
    // Now read until every token was delivered (10 s at most).
    char *seen = calloc((size_t)n, 1);
    int delivered = 0;
    long lines = 0;
    uint64_t deadline = now_ns() + 10000000000ull;
    while (delivered < n && now_ns() < deadline) {
        if (!reader_has_line(&c.in)) {
            struct pollfd p = {.fd = c.sock, .events = POLLIN};
            if (poll(&p, 1, 200) <= 0) continue;
        }
        char *line = reader_line(&c.in, NULL);
        if (!line) fail("%s", "connection closed during slow reader");
        uint64_t token;
        if (!is_event_line(line) || !line_token(line, &token)) continue;
        lines++;
        if (token >= 1 && token <= (uint64_t)n && !seen[token - 1]) {
            seen[token - 1] = 1;
            delivered++;
        }
    }
    // The daemon's own count of coalesced events, when it answers `stats`.
    long coalesced = -1;
    send_line_fd(c.sock, "{\"op\":\"stats\"}\n", 15, -1);
    for (;;) {
        char *line = reader_line(&c.in, NULL);
        if (!line) break;
        if (is_event_line(line)) {
            lines++;
            continue;
        }
        const char *v = json_field(line, "\"events_coalesced\"");
        if (v) coalesced = strtol(v, NULL, 10);
        break;
    }
    for (int i = 0; i < n; i++) drain(rd[i]);
    printf("{\"tokens\": %d, \"rounds\": %d, \"tokens_delivered\": %d, \"event_lines\": %ld, \"events_coalesced\": %ld, "
           "\"rss_before_kb\": %ld, \"rss_after_kb\": %ld, \"rss_growth_kb\": %ld}\n",
           n, rounds, delivered, lines, coalesced, before, after, after - before);
    return delivered == n ? 0 : 3;
}

// ---------------------------------------------------------------- idle

static int cmd_idle(int argc, char **argv) {
    const char *path = argv[2];
    pid_t pid = (pid_t)atoi(argv[3]);
    int n = arg_int(argc, argv, 4, 1000);
    double seconds = argc > 5 ? atof(argv[5]) : 10.0;
    conn_t c;
    conn_open(&c, path);
    int *wr = register_idle_pipes(&c, n);
    (void)wr;
    request(&c, "{\"op\":\"ping\"}\n");
    usleep(100000);  // let the daemon settle into its wait
    int threads = 0;
    long v0 = ctxt_switches(pid, "voluntary_ctxt_switches", &threads);
    long i0 = ctxt_switches(pid, "nonvoluntary_ctxt_switches", NULL);
    struct timespec t = {.tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - (time_t)seconds) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
    long v1 = ctxt_switches(pid, "voluntary_ctxt_switches", NULL);
    long i1 = ctxt_switches(pid, "nonvoluntary_ctxt_switches", NULL);
    printf("{\"registrations\": %d, \"seconds\": %.1f, \"threads\": %d, \"voluntary_ctxt_switches\": %ld, "
           "\"nonvoluntary_ctxt_switches\": %ld}\n",
           n, seconds, threads, v1 - v0, i1 - i0);
    return 0;
}

// ---------------------------------------------------------------- start

static int cmd_start(int argc, char **argv) {
    if (argc < 5) fail("%s", "usage: daemon_client start DAEMON DIR CPU");
    const char *daemon = argv[2], *dir = argv[3];
    int cpu = atoi(argv[4]);
    char notify_path[200], sock_path[200];
    snprintf(notify_path, sizeof notify_path, "%s/notify.sock", dir);
    snprintf(sock_path, sizeof sock_path, "%s/mio.sock", dir);
    struct sockaddr_un a;
    unix_address(&a, notify_path);
    unlink(notify_path);
    int ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (ns < 0) die("socket(SOCK_DGRAM)");
    if (bind(ns, (struct sockaddr *)&a, sizeof a) != 0) die(notify_path);

    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
        setenv("NOTIFY_SOCKET", notify_path, 1);
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDNAMES");
        execl(daemon, daemon, "--socket", sock_path, "--log-level", "warning", (char *)NULL);
        _exit(127);
    }
    int ready = 0;
    uint64_t t1 = 0;
    while (!ready) {
        struct pollfd p = {.fd = ns, .events = POLLIN};
        int r = poll(&p, 1, 5000);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        char buf[4096];
        ssize_t n = recv(ns, buf, sizeof buf - 1, 0);
        if (n <= 0) continue;
        buf[n] = 0;
        // One datagram may hold several newline-separated assignments.
        for (char *s = strtok(buf, "\n"); s; s = strtok(NULL, "\n"))
            if (strcmp(s, "READY=1") == 0) ready = 1;
        if (ready) t1 = now_ns();
    }
    // Sanity: the daemon answers on its socket once it said READY=1.
    int answered = 0;
    if (ready) {
        conn_t c;
        conn_open(&c, sock_path);
        request(&c, "{\"op\":\"ping\"}\n");
        answered = 1;
        close(c.sock);
    }
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    close(ns);
    unlink(notify_path);
    if (!ready) fail("%s", "no READY=1 within 5 s");
    printf("{\"ms\": %.3f, \"answered_ping\": %s, \"exit_status\": %d}\n", (t1 - t0) / 1e6, answered ? "true" : "false",
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}

// ---------------------------------------------------------------- timer

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

// Lateness of each wake-up after the expiry it reports, the nearest one
// of the schedule `anchor + k * interval` (a late wake-up that covers two
// expiries, as the daemon's coalescing and a timerfd's count do, is
// measured from the second). Signed, sorted.
static int64_t *latenesses(const uint64_t *arrivals, int count, uint64_t anchor, uint64_t interval) {
    int64_t *late = calloc((size_t)count, sizeof *late);
    for (int i = 0; i < count; i++) {
        uint64_t k = (arrivals[i] - anchor + interval / 2) / interval;
        late[i] = (int64_t)(arrivals[i] - (anchor + k * interval));
    }
    qsort(late, (size_t)count, sizeof *late, cmp_i64);
    return late;
}

// Two views of the same wake-ups:
// - lateness: from the expiry as the client asked for it, the schedule
//   anchored where it started the timer (timerfd_settime, or before sending
//   the `timer` request: its transit, and the daemon's wake-up to read it,
//   are in every expiry, as a user sees them);
// - jitter: from the schedule anchored at the best wake-up of the run
//   (`min(arrival_k - k * interval)`): how much later than its own best each
//   wake-up came, whatever the one-time cost of starting the timer.
static int cmd_timer(int argc, char **argv) {
    const char *path = argv[2];
    int expiries = arg_int(argc, argv, 3, 1000);
    int interval_ms = arg_int(argc, argv, 4, 10);
    uint64_t interval = (uint64_t)interval_ms * 1000000u;
    int local = !strcmp(path, "-");
    conn_t c;
    int tfd = -1, ep = -1;
    uint64_t anchor;
    if (local) {
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.u64 = 1};
        if (tfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e) != 0) die("timerfd/epoll");
        struct itimerspec spec;
        spec.it_interval.tv_sec = spec.it_value.tv_sec = interval_ms / 1000;
        spec.it_interval.tv_nsec = spec.it_value.tv_nsec = (long)(interval_ms % 1000) * 1000000L;
        anchor = now_ns();
        if (timerfd_settime(tfd, 0, &spec, NULL) != 0) die("timerfd_settime");
    } else {
        conn_open(&c, path);
        char line[160];
        snprintf(line, sizeof line, "{\"op\":\"timer\",\"token\":1,\"after_ms\":%d,\"interval_ms\":%d,\"id\":1}\n",
                 interval_ms, interval_ms);
        // A timer made and removed first: the daemon has accepted the
        // connection and run the `timer` path once (its first run is far
        // slower: runtime lookups), so the anchor below measures a timer,
        // not the daemon's first request of the kind.
        request(&c, "{\"op\":\"timer\",\"token\":2,\"after_ms\":3600000,\"id\":0}\n");
        request(&c, "{\"op\":\"deregister\",\"token\":2,\"id\":0}\n");
        anchor = now_ns();
        request(&c, line);
    }
    uint64_t *arrivals = calloc((size_t)expiries, sizeof *arrivals);
    int wakeups = 0;
    uint64_t last = anchor;
    while (last < anchor + (uint64_t)expiries * interval && wakeups < expiries) {
        if (local) {
            struct epoll_event e;
            if (epoll_wait(ep, &e, 1, -1) != 1) continue;
            uint64_t count;
            if (read(tfd, &count, sizeof count) != sizeof count) continue;
        } else {
            char *line = reader_line(&c.in, NULL);
            if (!line) fail("%s", "connection closed during timer");
            uint64_t token;
            if (!is_event_line(line) || !line_token(line, &token) || token != 1) continue;
        }
        last = arrivals[wakeups++] = now_ns();
    }
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < wakeups; i++) {
        uint64_t k = (arrivals[i] - anchor + interval / 2) / interval;
        uint64_t phase = arrivals[i] - k * interval;
        if (phase < best) best = phase;
    }
    int64_t *late = latenesses(arrivals, wakeups, anchor, interval);
    int64_t *jitter = latenesses(arrivals, wakeups, best, interval);
    size_t p99 = (size_t)wakeups * 99 / 100;
    printf("{\"expiries\": %d, \"wakeups\": %d, \"p50_us\": %.3f, \"p99_us\": %.3f, \"max_us\": %.3f, "
           "\"jitter_p50_us\": %.3f, \"jitter_p99_us\": %.3f}\n",
           expiries, wakeups, late[wakeups / 2] / 1e3, late[p99] / 1e3, late[wakeups - 1] / 1e3, jitter[wakeups / 2] / 1e3,
           jitter[p99] / 1e3);
    return 0;
}

int main(int argc, char **argv) {
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    if (argc < 3) {
        fprintf(stderr, "usage: daemon_client relay|relay-pair|fanout|registration|registration-pair|memory|slowreader|idle|start|timer ARGS...\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "relay")) return cmd_relay(argc, argv);
    if (!strcmp(cmd, "relay-pair")) return cmd_relay_pair(argc, argv);
    if (!strcmp(cmd, "fanout")) return cmd_fanout(argc, argv);
    if (!strcmp(cmd, "registration")) return cmd_registration(argc, argv);
    if (!strcmp(cmd, "registration-pair")) return cmd_registration_pair(argc, argv);
    if (!strcmp(cmd, "memory")) return cmd_memory(argc, argv);
    if (!strcmp(cmd, "slowreader")) return cmd_slowreader(argc, argv);
    if (!strcmp(cmd, "idle")) return cmd_idle(argc, argv);
    if (!strcmp(cmd, "start")) return cmd_start(argc, argv);
    if (!strcmp(cmd, "timer")) return cmd_timer(argc, argv);
    fprintf(stderr, "unknown subcommand %s\n", cmd);
    return 2;
}
