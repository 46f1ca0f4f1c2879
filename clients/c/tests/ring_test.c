// libmio-client in ring delivery against a real mio-daemon, one case per
// run (Tests/c_client/test_c_ring.py drives it and checks the daemon's fds
// after each):
//
//     ring_test CASE SOCKET DAEMON_PID
//
// Exit status 0 and "ok" on stdout when every check held; otherwise the
// first failed check on stderr. A few checks look inside the client
// (src/internal.h): the sleeping flag in the shared memory, which is what
// the daemon sees of a wait.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../src/internal.h"
#include "mio-client.h"

#include "test_support.h"

// ------------------------------------------------------------------ counting allocations
// Every malloc of this process goes through these (glibc lets a program
// replace them); `counting` is set around the calls that must not allocate.
// Not under AddressSanitizer, which has its own.

static __thread int counting;
static __thread long allocations __attribute__((unused));
#ifndef __SANITIZE_ADDRESS__
#define COUNTS_ALLOCATIONS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

void *malloc(size_t n) {
    if (counting) allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    if (counting) allocations++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    if (counting) allocations++;
    return __libc_realloc(p, n);
}
void free(void *p) {
    __libc_free(p);
}
#endif

static mio_client *connect_client(void) {
    mio_client *c = NULL;
    int r = mio_client_connect(socket_path, &c);
    if (r < 0) failed(__FILE__, __LINE__, "mio_client_connect", r);
    last_client = c;
    return c;
}

static mio_client *ring_client(size_t entries) {
    mio_client *c = connect_client();
    OK(mio_client_enable_ring(c, entries));
    return c;
}

static bool is_target(int fd, const char *want) {
    char path[64], target[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) return false;
    target[n] = 0;
    return strcmp(target, want) == 0;
}

/* Waits (up to timeout_ms) for an event of token; its flags, or -1. */
/* Events of each token in [first, first + count) over timeout_ms, until
 * each was seen: seen[i] counts token first + i. Returns how many tokens were seen. */
static int collect(mio_client *c, uint64_t first, int count, int *seen, int timeout_ms, size_t batch) {
    int64_t end = now_ms() + timeout_ms;
    int distinct = 0;
    mio_event ev[64];
    while (distinct < count && now_ms() < end) {
        int n = mio_client_wait(c, ev, batch, (int)(end - now_ms()));
        OK(n);
        for (int i = 0; i < n; i++) {
            CHECK(ev[i].token >= first && ev[i].token < first + (uint64_t)count);
            if (seen[ev[i].token - first]++ == 0) distinct++;
        }
    }
    return distinct;
}

/* A raw connection's request (for what the API does not send). */
static int raw_request(const char *line) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", socket_path);
    CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(write(s, line, strlen(line)) == (ssize_t)strlen(line));
    char reply[1024];
    ssize_t n = read(s, reply, sizeof reply - 1);
    CHECK(n > 0);
    reply[n] = 0;
    CHECK(strstr(reply, "\"ok\":true") != NULL);
    return s;
}

static uint32_t shared_sleeping(const mio_client *c) {
    return atomic_load(c->ring.sleeping);
}

// ------------------------------------------------------------------ cases

static void case_hello(void) {
    IS(mio_client_enable_ring(NULL, 0), -EINVAL);
    IS(mio_client_hello_ring(NULL, NULL, 0, 0), -EINVAL);
    IS(mio_client_ring_fd(NULL), -EINVAL);

    // Before a ring, the ring fd is the socket; after, an epoll fd of ours.
    mio_client *c = connect_client();
    IS(mio_client_ring_fd(c), mio_client_fd(c));
    OK(mio_client_enable_ring(c, 0));
    int ring_fd = mio_client_ring_fd(c);
    CHECK(ring_fd >= 0 && ring_fd != mio_client_fd(c));
    CHECK(is_target(ring_fd, "anon_inode:[eventpoll]"));
    CHECK(fcntl(ring_fd, F_GETFD) & FD_CLOEXEC);
    CHECK(c->ring.entries == 4096);
    CHECK(fcntl(c->ring.doorbell, F_GETFD) & FD_CLOEXEC);
    CHECK(c->ring.doorbell_is_pipe);  // docs/protocol.md: a pipe's read end
    OK(mio_client_waker(c, 1));
    OK(mio_client_wake(c, 1));
    CHECK(event_for(c, 1, 3000) == MIO_EVENT_READABLE);
    mio_client_close(c);

    // Sizes the daemon refuses; the connection stays usable, in stream delivery.
    size_t bad[] = {32, 63, 100, 65537, 131072};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = connect_client();
        REFUSED(c, mio_client_enable_ring(c, bad[i]), "bad_request");
        IS(mio_client_ring_fd(c), mio_client_fd(c));
        OK(mio_client_waker(c, 2));
        OK(mio_client_wake(c, 2));
        CHECK(event_for(c, 2, 3000) == MIO_EVENT_READABLE);
        mio_client_close(c);
    }
    c = ring_client(64);
    CHECK(c->ring.entries == 64);
    mio_client_close(c);
    c = ring_client(65536);
    CHECK(c->ring.entries == 65536);
    mio_client_close(c);

    // enable_ring keeps the session of an earlier hello.
    c = connect_client();
    OK(mio_client_hello(c, "c-ring-named", 0));
    OK(mio_client_enable_ring(c, 128));
    mio_client *other = connect_client();
    REFUSED(other, mio_client_hello(other, "c-ring-named", 0), "session_busy");
    mio_client_close(other);
    last_client = c;
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 3, MIO_INTEREST_READABLE, 0));
    REFUSED(c, mio_client_enable_ring(c, 64), "wrong_state");
    write_byte(p[1]);
    CHECK(event_for(c, 3, 3000) == MIO_EVENT_READABLE);  // the ring it had still works
    mio_client_close(c);

    // hello_ring with a persistent session: readiness that waited comes
    // through the next connection's ring.
    c = connect_client();
    OK(mio_client_hello_ring(c, "c-ring-persist", 1, 64));
    OK(mio_client_register(c, p[0], 9, MIO_INTEREST_READABLE, 0));
    mio_client_close(c);
    drain(p[0]);
    write_byte(p[1]);
    sleep_ms(50);
    c = connect_client();
    OK(mio_client_hello_ring(c, "c-ring-persist", 1, 128));
    CHECK(event_for(c, 9, 3000) == MIO_EVENT_READABLE);
    OK(mio_client_deregister(c, 9));
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

static void case_events(void) {
    mio_client *c = ring_client(64);
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 1, MIO_INTEREST_READABLE, 0));
    no_event_within(c, 50);
    write_byte(p[1]);
    CHECK(event_for(c, 1, 3000) == MIO_EVENT_READABLE);
    drain(p[0]);
    no_event_within(c, 100);  // edge-triggered: nothing new until new data
    write_byte(p[1]);
    CHECK(event_for(c, 1, 3000) == MIO_EVENT_READABLE);
    drain(p[0]);
    OK(mio_client_register(c, p[1], 2, MIO_INTEREST_WRITABLE, 0));
    CHECK(event_for(c, 2, 3000) == MIO_EVENT_WRITABLE);
    OK(mio_client_deregister(c, 2));

    int q[2];
    make_pipe(q);
    OK(mio_client_register(c, q[0], UINT64_MAX, MIO_INTEREST_READABLE | MIO_INTEREST_PRIORITY, 0));
    write_byte(q[1]);
    CHECK(event_for(c, UINT64_MAX, 3000) == MIO_EVENT_READABLE);
    close(q[1]);
    drain(q[0]);
    int64_t flags = event_for(c, UINT64_MAX, 3000);
    CHECK(flags >= 0 && (flags & MIO_EVENT_READ_CLOSED) && (flags & MIO_EVENT_WRITE_CLOSED));

    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == 0);
    OK(mio_client_register(c, sp[0], 0, MIO_INTEREST_READABLE | MIO_INTEREST_WRITABLE | MIO_INTEREST_PRIORITY, 0));
    CHECK(event_for(c, 0, 3000) == MIO_EVENT_WRITABLE);
    if (send(sp[1], "!", 1, MSG_OOB) == 1) {
        flags = event_for(c, 0, 3000);
        CHECK(flags >= 0 && (flags & MIO_EVENT_PRIORITY) && (flags & MIO_EVENT_READABLE));
    }
    OK(mio_client_waker(c, 77));
    OK(mio_client_wake(c, 77));
    OK(mio_client_wake(c, 77));
    CHECK(event_for(c, 77, 3000) == MIO_EVENT_READABLE);
    // Replies and refusals still come on the socket.
    REFUSED(c, mio_client_register(c, p[0], 1, MIO_INTEREST_READABLE, 0), "token_in_use");
    REFUSED(c, mio_client_wake(c, 78), "unknown_token");
    // Oneshot: one event, then silence until re-armed.
    OK(mio_client_reregister(c, 1, MIO_INTEREST_READABLE, 1));
    write_byte(p[1]);
    CHECK(event_for(c, 1, 3000) == MIO_EVENT_READABLE);
    write_byte(p[1]);
    no_event_within(c, 100);
    OK(mio_client_reregister(c, 1, MIO_INTEREST_READABLE, 1));
    CHECK(event_for(c, 1, 3000) == MIO_EVENT_READABLE);
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(sp[0]);
    close(sp[1]);
}

/* 64 records, 1000 tokens ready at once: every token comes, once a round.
 * Wakers first (the records pile up while the wake requests wait), then
 * pipes written while nobody reads. */
static void case_overflow(void) {
    enum { WAKERS = 1000, PIPES = 400 };
    mio_client *c = ring_client(64);
    static int seen[WAKERS];
    for (int t = 0; t < WAKERS; t++) OK(mio_client_waker(c, (uint64_t)t + 1));
    for (int round = 0; round < 3; round++) {
        for (int t = 0; t < WAKERS; t++) OK(mio_client_wake(c, (uint64_t)t + 1));
        memset(seen, 0, sizeof seen);
        IS(collect(c, 1, WAKERS, seen, 10000, round == 1 ? 7 : 64), WAKERS);
        no_event_within(c, 50);
        for (int t = 0; t < WAKERS; t++) CHECK(seen[t] == 1);  // wakes before delivery coalesce
    }
    mio_client_close(c);

    c = ring_client(64);
    int rd[PIPES], wr[PIPES];
    for (int i = 0; i < PIPES; i++) {
        int p[2];
        make_pipe(p);
        rd[i] = p[0];
        wr[i] = p[1];
        OK(mio_client_register(c, rd[i], (uint64_t)i + 5000, MIO_INTEREST_READABLE, 0));
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < PIPES; i++) write_byte(wr[i]);
        sleep_ms(20);  // the ring is full before the wait
        memset(seen, 0, sizeof seen);
        IS(collect(c, 5000, PIPES, seen, 10000, 64), PIPES);
        for (int i = 0; i < PIPES; i++) drain(rd[i]);
        no_event_within(c, 50);
    }
    mio_client_close(c);
    for (int i = 0; i < PIPES; i++) {
        close(rd[i]);
        close(wr[i]);
    }
}

/* Records of a removed token already in the ring are not returned; those
 * of the same token registered again are. */
static void case_deregister(void) {
    mio_client *c = ring_client(64);
    int p[3][2];
    for (int i = 0; i < 3; i++) {
        make_pipe(p[i]);
        write_byte(p[i][1]);  // ready: a record follows the reply
        OK(mio_client_register(c, p[i][0], (uint64_t)i + 1, MIO_INTEREST_READABLE, 0));
    }
    sleep_ms(50);  // the three records are in the ring, unread
    OK(mio_client_deregister(c, 2));
    int fd = -1;
    OK(mio_client_fetch(c, 3, 1, &fd));
    close(fd);
    int seen[3] = {0};
    IS(collect(c, 1, 3, seen, 300, 16), 1);
    CHECK(seen[0] == 1 && seen[1] == 0 && seen[2] == 0);

    // Token 2 again, ready at once, while its old record is still unread.
    drain(p[0][0]);
    for (int round = 0; round < 2; round++) {
        OK(mio_client_register(c, p[1][0], 2, MIO_INTEREST_READABLE, 0));
        sleep_ms(50);
        OK(mio_client_deregister(c, 2));
    }
    OK(mio_client_register(c, p[1][0], 2, MIO_INTEREST_READABLE, 0));
    sleep_ms(50);
    memset(seen, 0, sizeof seen);
    collect(c, 1, 3, seen, 300, 16);
    CHECK(seen[1] == 1);  // only the record of the registration that lives
    CHECK(seen[0] == 0 && seen[2] == 0);
    CHECK(c->ring.stale_count == 0);  // consumed past them: forgotten
    mio_client_close(c);
    for (int i = 0; i < 3; i++) {
        close(p[i][0]);
        close(p[i][1]);
    }
}

static void on_alarm(int sig) {
    (void)sig;
}

static void case_timeout(void) {
    mio_client *c = ring_client(0);
    mio_event ev[4];
    int64_t t0 = now_ms();
    IS(mio_client_wait(c, ev, 4, 0), 0);
    CHECK(now_ms() - t0 < 50);
    // timeout 0 never blocks, whatever the daemon does.
    CHECK(kill(daemon_pid, SIGSTOP) == 0);
    t0 = now_ms();
    int r = mio_client_wait(c, ev, 4, 0);
    int64_t took = now_ms() - t0;
    CHECK(kill(daemon_pid, SIGCONT) == 0);
    IS(r, 0);
    CHECK(took < 50);
    t0 = now_ms();
    IS(mio_client_wait(c, ev, 4, 150), 0);
    took = now_ms() - t0;
    CHECK(took >= 140 && took < 1500);
    CHECK(shared_sleeping(c) == 0);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    t0 = now_ms();
    alarm(1);
    IS(mio_client_wait(c, ev, 4, -1), -EINTR);
    CHECK(now_ms() - t0 >= 900);
    CHECK(shared_sleeping(c) == 0);
    OK(mio_client_waker(c, 2));
    OK(mio_client_wake(c, 2));
    IS(mio_client_wait(c, ev, 4, -1), 1);
    CHECK(ev[0].token == 2 && ev[0].flags == MIO_EVENT_READABLE);
    mio_client_close(c);
}

struct writer {
    mio_client *c;
    int fd;
    int64_t asleep_ms;  // how long the flag said "sleeping" before the write
};

/* Waits until the client says it sleeps (the shared flag), a while longer,
 * then writes: only the doorbell can wake it. */
static void *write_once_asleep(void *arg) {
    struct writer *w = arg;
    int64_t end = now_ms() + 3000;
    while (shared_sleeping(w->c) == 0 && now_ms() < end) sleep_ms(1);
    int64_t since = now_ms();
    sleep_ms(50);
    w->asleep_ms = shared_sleeping(w->c) ? now_ms() - since : -1;
    write_byte(w->fd);
    return NULL;
}

static void case_sleeps(void) {
    mio_client *c = ring_client(64);
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 4, MIO_INTEREST_READABLE, 0));
    for (int i = 0; i < 5; i++) {
        struct writer w = {c, p[1], 0};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, write_once_asleep, &w) == 0);
        mio_event ev[4];
        int n = mio_client_wait(c, ev, 4, -1);
        pthread_join(t, NULL);
        IS(n, 1);
        CHECK(ev[0].token == 4);
        CHECK(w.asleep_ms >= 45);         // asleep, flag up, the whole time
        CHECK(shared_sleeping(c) == 0);  // and down once awake
        drain(p[0]);
    }
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

struct pumper {
    int *fds;
    int count, rounds;
    atomic_int round_done;
};

static void *pump(void *arg) {
    struct pumper *p = arg;
    for (int r = 0; r < p->rounds; r++) {
        for (int i = 0; i < p->count; i++) write_byte(p->fds[i]);
        while (atomic_load(&p->round_done) <= r) sleep_ms(1);
    }
    return NULL;
}

/* mio_client_wait allocates nothing per event, in ring and stream delivery. */
static void no_allocation_in(mio_client *c) {
    enum { PIPES = 64, ROUNDS = 40 };
    int rd[PIPES], wr[PIPES];
    for (int i = 0; i < PIPES; i++) {
        int p[2];
        make_pipe(p);
        rd[i] = p[0];
        wr[i] = p[1];
        OK(mio_client_register(c, rd[i], (uint64_t)i, MIO_INTEREST_READABLE, 0));
    }
    struct pumper pumper = {.fds = wr, .count = PIPES, .rounds = ROUNDS};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, pump, &pumper) == 0);
    long events = 0;
    mio_event ev[16];
    for (int r = 0; r < ROUNDS; r++) {
        int seen[PIPES] = {0}, distinct = 0;
        while (distinct < PIPES) {
            counting = 1;
            int n = mio_client_wait(c, ev, 16, 5000);
            counting = 0;
            CHECK(n > 0);
            for (int i = 0; i < n; i++) {
                if (seen[ev[i].token]++ == 0) distinct++;
                drain(rd[ev[i].token]);
            }
            events += n;
        }
        atomic_store(&pumper.round_done, r + 1);
    }
    pthread_join(t, NULL);
    CHECK(events >= PIPES * ROUNDS);
#ifdef COUNTS_ALLOCATIONS
    IS((int)allocations, 0);
#endif
    for (int i = 0; i < PIPES; i++) {
        close(rd[i]);
        close(wr[i]);
    }
}

static void case_no_allocation(void) {
    mio_client *c = ring_client(64);
    no_allocation_in(c);
    mio_client_close(c);
    c = connect_client();  // stream delivery: the same promise
    no_allocation_in(c);
    mio_client_close(c);
}

static void case_foreign_loop(void) {
    mio_client *c = ring_client(64);
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 11, MIO_INTEREST_READABLE, 0));
    mio_event ev[4];
    // After a request: wait(..., 0) until fewer than capacity, then poll.
    IS(mio_client_wait(c, ev, 4, 0), 0);
    struct pollfd pfd = {.fd = mio_client_ring_fd(c), .events = POLLIN};
    for (int i = 0; i < 3; i++) {
        IS(poll(&pfd, 1, 0), 0);
        write_byte(p[1]);
        IS(poll(&pfd, 1, 3000), 1);  // the doorbell rang
        IS(mio_client_wait(c, ev, 4, 0), 1);
        CHECK(ev[0].token == 11 && ev[0].flags == MIO_EVENT_READABLE);
        drain(p[0]);
        IS(poll(&pfd, 1, 0), 0);  // cleared by that wait: no second wake-up
    }
    // mio_client_pending as the last word before polling works too.
    OK(mio_client_waker(c, 12));
    IS(mio_client_pending(c), 0);
    write_byte(p[1]);
    IS(poll(&pfd, 1, 3000), 1);
    IS(mio_client_pending(c), 1);
    IS(mio_client_wait(c, ev, 4, 0), 1);
    CHECK(ev[0].token == 11);
    drain(p[0]);
    // A reply or notice on the socket wakes the loop as well.
    IS(mio_client_wait(c, ev, 4, 0), 0);
    OK(mio_client_wake(c, 12));
    IS(poll(&pfd, 1, 3000), 1);
    IS(mio_client_wait(c, ev, 4, 0), 1);
    CHECK(ev[0].token == 12);
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

static void case_session_taken(void) {
    mio_client *c = connect_client();
    OK(mio_client_hello_ring(c, "c-ring-taken", 0, 64));
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 12, MIO_INTEREST_READABLE, 0));
    int ring_fd = mio_client_ring_fd(c);
    write_byte(p[1]);
    sleep_ms(50);  // a record of the session in the ring, unread
    int thief = raw_request("{\"op\":\"hello\",\"id\":1,\"session\":\"c-ring-taken\",\"takeover\":true}\n");
    sleep_ms(50);
    mio_event ev[4];
    int n = mio_client_wait(c, ev, 4, 3000);
    if (n == 1) {  // the record was taken before the notice was read
        CHECK(ev[0].token == 12);
        n = mio_client_wait(c, ev, 4, 3000);
    }
    IS(n, -ECONNABORTED);
    CHECK(mio_client_error_code(c) && strcmp(mio_client_error_code(c), "session_taken") == 0);
    CHECK(!mioc_ring_active(&c->ring));
    no_event_within(c, 100);
    // Stream delivery now, in a fresh anonymous session; the ring fd is the same and still works.
    IS(mio_client_ring_fd(c), ring_fd);
    OK(mio_client_waker(c, 12));
    IS(mio_client_wait(c, ev, 4, 0), 0);
    OK(mio_client_wake(c, 12));
    // The foreign-loop rule: the event line may have come with the wake's
    // reply and wait in the client already; poll only when nothing does.
    if (mio_client_pending(c) == 0) {
        struct pollfd pfd = {.fd = ring_fd, .events = POLLIN};
        IS(poll(&pfd, 1, 3000), 1);
    }
    IS(mio_client_wait(c, ev, 4, 0), 1);
    CHECK(ev[0].token == 12);
    // And ring delivery again.
    mio_client *fresh = connect_client();
    OK(mio_client_enable_ring(fresh, 64));
    mio_client_close(fresh);
    last_client = c;
    close(thief);
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

/* hello again: what the old ring held is still returned; stream again works. */
static void case_switch(void) {
    int p[2];
    make_pipe(p);
    mio_client *c = connect_client();
    OK(mio_client_hello(c, "c-ring-switch", 1));
    OK(mio_client_register(c, p[0], 21, MIO_INTEREST_READABLE, 0));
    mio_client_close(c);
    write_byte(p[1]);
    sleep_ms(50);
    c = connect_client();
    OK(mio_client_hello_ring(c, "c-ring-switch", 1, 64));
    sleep_ms(50);  // the pending readiness is in this first ring now
    OK(mio_client_enable_ring(c, 128));
    int seen[1] = {0};
    collect(c, 21, 1, seen, 300, 4);
    IS(seen[0], 1);
    OK(mio_client_hello(c, "c-ring-switch", 1));  // back to stream delivery
    CHECK(!mioc_ring_active(&c->ring));
    drain(p[0]);
    write_byte(p[1]);
    CHECK(event_for(c, 21, 3000) == MIO_EVENT_READABLE);
    OK(mio_client_deregister(c, 21));
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

// Timers' events come through the ring like any readiness, and a lease set
// before enable_ring stays (enable_ring's hello leaves it as it is).
static void case_timers(void) {
    mio_client *c = ring_client(64);
    OK(mio_client_timer(c, 1, 20, 0));
    CHECK(event_for(c, 1, 3000) == MIO_EVENT_READABLE);
    // A 2 ms timer nobody reads for a while: its records wait in the ring;
    // once deregister returns, none of them is returned.
    OK(mio_client_timer(c, 2, 2, 2));
    sleep_ms(100);
    CHECK(mioc_ring_has_work(&c->ring));
    OK(mio_client_deregister(c, 2));
    int64_t end = now_ms() + 150;
    mio_event ev[16];
    while (now_ms() < end) {
        int n = mio_client_wait(c, ev, 16, (int)(end - now_ms()));
        OK(n);
        for (int i = 0; i < n; i++) CHECK(ev[i].token != 2);
    }
    mio_client_close(c);

    const char *name = "c-ring-lease";
    c = connect_client();
    OK(mio_client_hello_lease(c, name, 1));
    OK(mio_client_enable_ring(c, 64));
    CHECK(mioc_ring_active(&c->ring));
    json_object *reply = raw_query("{\"op\":\"sessions\",\"id\":1}\n");
    json_object *entry = session_named(reply, name);
    CHECK(entry && json_object_get_int64(member(entry, "lease_s")) == 1);
    json_object_put(reply);
    OK(mio_client_timer(c, 3, 10, 0));
    CHECK(event_for(c, 3, 3000) == MIO_EVENT_READABLE);
    int64_t t0 = now_ms();
    mio_client_close(c);
    int ended = 0;
    while (!ended && now_ms() - t0 < 5000) {
        sleep_ms(20);
        reply = raw_query("{\"op\":\"sessions\",\"id\":1}\n");
        ended = session_named(reply, name) == NULL;
        json_object_put(reply);
    }
    CHECK(ended && now_ms() - t0 >= 999);
}

// Waits for the daemon to stop (the test sends SIGTERM once "ready" is out).
static void case_shutdown(void) {
    mio_client *c = ring_client(64);
    OK(mio_client_waker(c, 13));
    printf("ready\n");
    fflush(stdout);
    mio_event ev[4];
    IS(mio_client_wait(c, ev, 4, 10000), -ESHUTDOWN);
    IS(mio_client_wait(c, ev, 4, 0), -ESHUTDOWN);
    mio_client_close(c);
}

static int own_fd_count(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static const struct {
    const char *name;
    void (*run)(void);
} CASES[] = {
    {"hello", case_hello},           {"events", case_events},
    {"overflow", case_overflow},     {"deregister", case_deregister},
    {"timeout", case_timeout},       {"sleeps", case_sleeps},
    {"no_allocation", case_no_allocation}, {"foreign_loop", case_foreign_loop},
    {"session_taken", case_session_taken}, {"switch", case_switch},
    {"shutdown", case_shutdown},           {"timers", case_timers},
};

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: ring_test CASE SOCKET DAEMON_PID\n");
        return 2;
    }
    socket_path = argv[2];
    daemon_pid = (pid_t)atoi(argv[3]);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        if (strcmp(CASES[i].name, argv[1]) == 0) {
            int fds_before = own_fd_count();
            CASES[i].run();
            IS(own_fd_count(), fds_before);  // the library leaks nothing
            printf("ok\n");
            return 0;
        }
    }
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
