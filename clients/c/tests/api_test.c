// Every call of libmio-client against a real mio-daemon, one case per run
// (Tests/c_client/test_c_client.py drives it and checks the daemon's fds
// after each):
//
//     api_test CASE SOCKET DAEMON_PID
//
// SOCKET "-" means NULL: the default lookup. Exit status 0 and "ok" on
// stdout when every check held; otherwise the first failed check on stderr.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "mio-client.h"

#include "test_support.h"

static mio_client *connect_client(void) {
    mio_client *c = NULL;
    int r = mio_client_connect(strcmp(socket_path, "-") == 0 ? NULL : socket_path, &c);
    if (r < 0) failed(__FILE__, __LINE__, "mio_client_connect", r);
    CHECK(c != NULL);
    last_client = c;
    return c;
}

/* The /proc link target of one of our fds, e.g. "pipe:[1234]". */
static void fd_target(pid_t pid, int fd, char *out, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
    ssize_t n = readlink(path, out, size - 1);
    if (n < 0) failed(__FILE__, __LINE__, "readlink", -errno);
    out[n] = 0;
}

/* How many fds the daemon has open on the object our fd is open on. */
static int daemon_copies(int fd) {
    char mine[256], theirs[256], dir[64], path[400];
    fd_target(getpid(), fd, mine, sizeof mine);
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)daemon_pid);
    DIR *d = opendir(dir);
    if (!d) failed(__FILE__, __LINE__, "opendir /proc/DAEMON/fd", -errno);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t len = readlink(path, theirs, sizeof theirs - 1);
        if (len < 0) continue;
        theirs[len] = 0;
        if (strcmp(mine, theirs) == 0) n++;
    }
    closedir(d);
    return n;
}

/* The daemon closes asynchronously to its replies on some paths. */
static int daemon_copies_settled(int fd, int want) {
    int64_t end = now_ms() + 3000;
    int n;
    while ((n = daemon_copies(fd)) != want && now_ms() < end) sleep_ms(5);
    return n;
}

/* Waits (up to timeout_ms) for an event of token; returns its flags, or -1. */
/* No event at all within ms. */
/* A request line on a raw connection of our own (for what the API does not
 * send, such as hello with takeover); returns the socket. */
static int raw_request(const char *line) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    char path[108];
    if (strcmp(socket_path, "-") == 0)
        OK(mio_client_default_socket_path(path, sizeof path));
    else
        snprintf(path, sizeof path, "%s", socket_path);
    strcpy(a.sun_path, path);
    CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(write(s, line, strlen(line)) == (ssize_t)strlen(line));
    char reply[1024];
    ssize_t n = read(s, reply, sizeof reply - 1);
    CHECK(n > 0);
    reply[n] = 0;
    CHECK(strstr(reply, "\"ok\":true") != NULL);
    return s;
}

// ------------------------------------------------------------------ cases

static void case_arguments(void) {
    mio_client *c = NULL;
    IS(mio_client_connect(NULL, NULL), -EINVAL);
    IS(mio_client_connect("", &c), -EINVAL);
    CHECK(c == NULL);
    IS(mio_client_connect("/nonexistent-dir/mio.sock", &c), -ENOENT);
    CHECK(c == NULL);
    char long_path[200];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = 0;
    IS(mio_client_connect(long_path, &c), -ENAMETOOLONG);
    // A socket file nobody listens on.
    char stale[] = "/tmp/mio-c-client-test-XXXXXX";
    CHECK(mkdtemp(stale) != NULL);
    char stale_sock[200];
    snprintf(stale_sock, sizeof stale_sock, "%s/stale.sock", stale);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, stale_sock);
    CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    close(s);
    IS(mio_client_connect(stale_sock, &c), -ECONNREFUSED);
    unlink(stale_sock);
    rmdir(stale);

    // NULL clients.
    mio_event ev[1];
    int fd;
    IS(mio_client_hello(NULL, NULL, 0), -EINVAL);
    IS(mio_client_register(NULL, 0, 1, MIO_INTEREST_READABLE, 0), -EINVAL);
    IS(mio_client_reregister(NULL, 1, MIO_INTEREST_READABLE, 0), -EINVAL);
    IS(mio_client_deregister(NULL, 1), -EINVAL);
    IS(mio_client_waker(NULL, 1), -EINVAL);
    IS(mio_client_wake(NULL, 1), -EINVAL);
    IS(mio_client_fetch(NULL, 1, 0, &fd), -EINVAL);
    IS(mio_client_store(NULL, 0, 1), -EINVAL);
    IS(mio_client_timer(NULL, 1, 0, 0), -EINVAL);
    IS(mio_client_hello_lease(NULL, "c-client-lease", 1), -EINVAL);
    IS(mio_client_wait(NULL, ev, 1, 0), -EINVAL);
    IS(mio_client_fd(NULL), -EINVAL);
    IS(mio_client_pending(NULL), -EINVAL);
    IS(mio_client_set_timeout(NULL, 5), -EINVAL);
    CHECK(mio_client_error_code(NULL) == NULL);
    CHECK(mio_client_error_message(NULL) == NULL);
    mio_client_close(NULL);
    IS(mio_client_default_socket_path(NULL, 10), -EINVAL);
    char tiny[4];
    IS(mio_client_default_socket_path(tiny, sizeof tiny), -ERANGE);

    // Bad arguments on a real client: refused here, nothing sent.
    c = connect_client();
    CHECK(mio_client_fd(c) >= 0);
    int p[2];
    make_pipe(p);
    IS(mio_client_register(c, p[0], 1, 0, 0), -EINVAL);
    IS(mio_client_register(c, p[0], 1, 8, 0), -EINVAL);
    IS(mio_client_register(c, -1, 1, MIO_INTEREST_READABLE, 0), -EBADF);
    IS(mio_client_reregister(c, 1, 0, 0), -EINVAL);
    IS(mio_client_wait(c, NULL, 1, 0), -EINVAL);
    IS(mio_client_wait(c, ev, 0, 0), -EINVAL);
    IS(mio_client_fetch(c, 1, 0, NULL), -EINVAL);
    IS(mio_client_set_timeout(c, -2), -EINVAL);
    IS(mio_client_store(c, -1, 1), -EBADF);
    IS(mio_client_timer(c, 1, MIO_CLIENT_MAX_TIMER_MS + 1, 0), -EINVAL);
    IS(mio_client_timer(c, 1, 0, MIO_CLIENT_MAX_TIMER_MS + 1), -EINVAL);
    IS(mio_client_timer(c, 1, UINT64_MAX, UINT64_MAX), -EINVAL);
    IS(mio_client_hello_lease(c, "c-client-lease", MIO_CLIENT_MAX_LEASE_S + 1), -EINVAL);
    // An fd number that is not open: the kernel refuses to pass it.
    int closed_fd = dup(p[0]);
    close(closed_fd);
    IS(mio_client_register(c, closed_fd, 1, MIO_INTEREST_READABLE, 0), -EBADF);
    IS(mio_client_store(c, closed_fd, 1), -EBADF);
    CHECK(mio_client_error_code(c) == NULL);
    // The connection is still fine.
    OK(mio_client_register(c, p[0], 1, MIO_INTEREST_READABLE, 0));
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

static void case_hello(void) {
    mio_client *c = connect_client();
    OK(mio_client_hello(c, NULL, 0));
    CHECK(mio_client_error_code(c) == NULL);
    REFUSED(c, mio_client_hello(c, NULL, 1), "bad_request");  // persist without a name
    REFUSED(c, mio_client_hello(c, "no spaces allowed", 0), "bad_request");
    // Quotes and backslashes are escaped: the daemon sees a string, not bad JSON.
    REFUSED(c, mio_client_hello(c, "a\"b\\c\n", 0), "bad_request");
    OK(mio_client_hello(c, "c-client-test", 0));
    CHECK(mio_client_error_code(c) == NULL);  // cleared by the successful request
    CHECK(mio_client_error_message(c) == NULL);

    // The named session is held: another connection is refused.
    mio_client *other = connect_client();
    REFUSED(other, mio_client_hello(other, "c-client-test", 0), "session_busy");
    last_client = c;

    // After a register, hello is refused.
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 3, MIO_INTEREST_READABLE, 0));
    REFUSED(c, mio_client_hello(c, "another", 0), "wrong_state");
    mio_client_close(other);
    mio_client_close(c);
    close(p[0]);
    close(p[1]);

    // A persistent session keeps its fd after the connection closes, and the
    // next hello finds its pending readiness.
    c = connect_client();
    OK(mio_client_hello(c, "c-client-persist", 1));
    make_pipe(p);
    OK(mio_client_register(c, p[0], 9, MIO_INTEREST_READABLE, 0));
    mio_client_close(c);
    CHECK(daemon_copies_settled(p[0], 1) == 1);
    write_byte(p[1]);
    c = connect_client();
    OK(mio_client_hello(c, "c-client-persist", 1));
    int64_t flags = event_for(c, 9, 3000);
    CHECK(flags >= 0 && (flags & MIO_EVENT_READABLE));
    // Emptied, so the daemon holds none of our fds (the session itself stays
    // until `end`, which this API does not send).
    OK(mio_client_deregister(c, 9));
    CHECK(daemon_copies_settled(p[0], 0) == 0);
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

static void case_register(void) {
    mio_client *c = connect_client();
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 1, MIO_INTEREST_READABLE, 0));
    CHECK(daemon_copies(p[0]) == 1);
    no_event_within(c, 50);
    write_byte(p[1]);
    int64_t flags = event_for(c, 1, 3000);
    CHECK(flags == MIO_EVENT_READABLE);
    // Edge-triggered: nothing new until new data.
    drain(p[0]);
    no_event_within(c, 100);
    write_byte(p[1]);
    CHECK(event_for(c, 1, 3000) == MIO_EVENT_READABLE);
    drain(p[0]);

    // The write end, writable at once.
    OK(mio_client_register(c, p[1], 2, MIO_INTEREST_WRITABLE, 0));
    CHECK(event_for(c, 2, 3000) == MIO_EVENT_WRITABLE);
    OK(mio_client_deregister(c, 2));

    // The biggest token comes back exactly (the fast path's digits).
    int q[2];
    make_pipe(q);
    OK(mio_client_register(c, q[0], UINT64_MAX, MIO_INTEREST_READABLE | MIO_INTEREST_PRIORITY, 0));
    write_byte(q[1]);
    CHECK(event_for(c, UINT64_MAX, 3000) == MIO_EVENT_READABLE);
    // Closing the only write end: read_closed (and write_closed: EPOLLHUP).
    close(q[1]);
    drain(q[0]);
    flags = event_for(c, UINT64_MAX, 3000);
    CHECK(flags >= 0 && (flags & MIO_EVENT_READ_CLOSED) && (flags & MIO_EVENT_WRITE_CLOSED));

    // All three interests on a socket: writable at once.
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == 0);
    OK(mio_client_register(c, sp[0], 0, MIO_INTEREST_READABLE | MIO_INTEREST_WRITABLE | MIO_INTEREST_PRIORITY, 0));
    CHECK(event_for(c, 0, 3000) == MIO_EVENT_WRITABLE);
    // Out-of-band data (AF_UNIX has it since Linux 5.15): priority, and
    // readable too, as in mio.
    if (send(sp[1], "!", 1, MSG_OOB) == 1) {
        flags = event_for(c, 0, 3000);
        CHECK(flags >= 0 && (flags & MIO_EVENT_PRIORITY) && (flags & MIO_EVENT_READABLE));
    } else {
        CHECK(errno == EOPNOTSUPP || errno == EINVAL);
    }

    // Refusals.
    REFUSED(c, mio_client_register(c, p[0], 1, MIO_INTEREST_READABLE, 0), "token_in_use");
    char file_template[] = "/tmp/mio-c-client-file-XXXXXX";
    int file = mkstemp(file_template);
    CHECK(file >= 0);
    unlink(file_template);
    REFUSED(c, mio_client_register(c, file, 50, MIO_INTEREST_READABLE, 0), "not_pollable");
    close(file);
    // The daemon's own socket.
    REFUSED(c, mio_client_register(c, mio_client_fd(c), 51, MIO_INTEREST_READABLE, 0), "bad_fd");

    mio_client_close(c);
    // A non-persistent session ends with its connection: the daemon lets go.
    CHECK(daemon_copies_settled(p[0], 0) == 0);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(sp[0]);
    close(sp[1]);
}

static void case_reregister(void) {
    mio_client *c = connect_client();
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 4, MIO_INTEREST_READABLE, 1));
    write_byte(p[1]);
    CHECK(event_for(c, 4, 3000) == MIO_EVENT_READABLE);
    // Oneshot: silent after one event, however much more comes.
    write_byte(p[1]);
    no_event_within(c, 100);
    // Re-arming reports the data that is there.
    OK(mio_client_reregister(c, 4, MIO_INTEREST_READABLE, 1));
    CHECK(event_for(c, 4, 3000) == MIO_EVENT_READABLE);
    drain(p[0]);
    // To edge mode with writable interest too: readable again on new data.
    OK(mio_client_reregister(c, 4, MIO_INTEREST_READABLE | MIO_INTEREST_WRITABLE, 0));
    no_event_within(c, 50);
    write_byte(p[1]);
    CHECK(event_for(c, 4, 3000) == MIO_EVENT_READABLE);
    write_byte(p[1]);
    CHECK(event_for(c, 4, 3000) == MIO_EVENT_READABLE);
    REFUSED(c, mio_client_reregister(c, 99, MIO_INTEREST_READABLE, 0), "unknown_token");
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

static void case_deregister(void) {
    mio_client *c = connect_client();
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 6, MIO_INTEREST_READABLE, 0));
    CHECK(daemon_copies(p[0]) == 1);
    OK(mio_client_deregister(c, 6));
    CHECK(daemon_copies_settled(p[0], 0) == 0);
    REFUSED(c, mio_client_deregister(c, 6), "unknown_token");
    write_byte(p[1]);
    no_event_within(c, 100);

    // An event that arrived while deregister waited is not returned after it.
    OK(mio_client_register(c, p[0], 7, MIO_INTEREST_READABLE, 0));  // ready: an event follows
    sleep_ms(50);
    OK(mio_client_deregister(c, 7));
    no_event_within(c, 100);
    CHECK(mio_client_pending(c) == 0);
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

static void case_waker(void) {
    mio_client *c = connect_client();
    OK(mio_client_waker(c, 5));
    no_event_within(c, 50);
    OK(mio_client_wake(c, 5));
    CHECK(event_for(c, 5, 3000) == MIO_EVENT_READABLE);
    OK(mio_client_wake(c, 5));
    OK(mio_client_wake(c, 5));
    CHECK(event_for(c, 5, 3000) == MIO_EVENT_READABLE);
    REFUSED(c, mio_client_waker(c, 5), "token_in_use");
    REFUSED(c, mio_client_wake(c, 77), "unknown_token");
    int fd = 12345;
    REFUSED(c, mio_client_fetch(c, 5, 0, &fd), "bad_request");  // a waker holds no fd of ours
    CHECK(fd == -1);
    OK(mio_client_deregister(c, 5));
    REFUSED(c, mio_client_wake(c, 5), "unknown_token");
    mio_client_close(c);
}

static void same_file(int a, int b) {
    struct stat sa, sb;
    CHECK(fstat(a, &sa) == 0 && fstat(b, &sb) == 0);
    CHECK(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

static void case_fetch(void) {
    mio_client *c = connect_client();
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 8, MIO_INTEREST_READABLE, 0));
    int mine = p[0];
    int fd = -1;
    OK(mio_client_fetch(c, 8, 0, &fd));
    CHECK(fd >= 0 && fd != mine);
    same_file(fd, p[1]);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    // Still registered: the daemon keeps its copy (once the one it sent is
    // closed) and reports data.
    CHECK(daemon_copies_settled(mine, 1) == 1);
    write_byte(p[1]);
    CHECK(event_for(c, 8, 3000) == MIO_EVENT_READABLE);
    char b;
    CHECK(read(fd, &b, 1) == 1 && b == 'x');
    close(fd);

    // With deregister: the daemon's own copy comes back, nothing stays.
    fd = -1;
    OK(mio_client_fetch(c, 8, 1, &fd));
    CHECK(fd >= 0);
    same_file(fd, p[1]);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK(daemon_copies_settled(mine, 0) == 0);
    close(fd);
    write_byte(p[1]);
    no_event_within(c, 100);
    int again = 12345;
    REFUSED(c, mio_client_fetch(c, 8, 0, &again), "unknown_token");
    CHECK(again == -1);

    // A fetch while events stream in: the fd still reaches its reply.
    int q[2];
    make_pipe(q);
    OK(mio_client_waker(c, 100));
    OK(mio_client_register(c, q[0], 101, MIO_INTEREST_READABLE, 0));
    for (int i = 0; i < 20; i++) {
        OK(mio_client_wake(c, 100));
        fd = -1;
        OK(mio_client_fetch(c, 101, 0, &fd));
        same_file(fd, q[1]);
        close(fd);
    }
    CHECK(event_for(c, 100, 3000) == MIO_EVENT_READABLE);
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

static void case_events_kept(void) {
    enum { PIPES = 100 };
    mio_client *c = connect_client();
    int rd[PIPES], wr[PIPES];
    for (int i = 0; i < PIPES; i++) {
        int p[2];
        make_pipe(p);
        rd[i] = p[0];
        wr[i] = p[1];
        write_byte(wr[i]);  // ready before it is registered: an event follows the reply
        OK(mio_client_register(c, rd[i], (uint64_t)i + 1000, MIO_INTEREST_READABLE, 0));
    }
    sleep_ms(50);  // every event line is sent, in front of the next reply
    OK(mio_client_waker(c, 1));
    // All of them were read while the requests waited: the socket is empty.
    struct pollfd pfd = {.fd = mio_client_fd(c), .events = POLLIN};
    IS(poll(&pfd, 1, 0), 0);
    IS(mio_client_pending(c), 1);
    char seen[PIPES] = {0};
    int total = 0;
    mio_event ev[7];
    for (;;) {
        int n = mio_client_wait(c, ev, 7, 0);
        OK(n);
        if (n == 0) break;
        CHECK(n <= 7);
        for (int i = 0; i < n; i++) {
            CHECK(ev[i].token >= 1000 && ev[i].token < 1000 + PIPES);
            CHECK(ev[i].flags == MIO_EVENT_READABLE);
            CHECK(!seen[ev[i].token - 1000]);
            seen[ev[i].token - 1000] = 1;
            total++;
        }
    }
    IS(total, PIPES);
    IS(mio_client_pending(c), 0);

    // Many event lines in few reads, taken 7 at a time from the buffer.
    for (int i = 0; i < PIPES; i++) drain(rd[i]);
    for (int i = 0; i < PIPES; i++) write_byte(wr[i]);
    memset(seen, 0, sizeof seen);
    total = 0;
    int64_t end = now_ms() + 5000;
    while (total < PIPES && now_ms() < end) {
        int n = mio_client_wait(c, ev, 7, 1000);
        OK(n);
        CHECK(n <= 7);
        for (int i = 0; i < n; i++) {
            CHECK(ev[i].token >= 1000 && ev[i].token < 1000 + PIPES);
            if (!seen[ev[i].token - 1000]) total++;
            seen[ev[i].token - 1000] = 1;
        }
    }
    IS(total, PIPES);
    mio_client_close(c);
    for (int i = 0; i < PIPES; i++) {
        close(rd[i]);
        close(wr[i]);
    }
}

static void on_alarm(int sig) {
    (void)sig;
}

static void case_timeout(void) {
    mio_client *c = connect_client();
    mio_event ev[4];
    int64_t t0 = now_ms();
    IS(mio_client_wait(c, ev, 4, 0), 0);
    CHECK(now_ms() - t0 < 50);
    t0 = now_ms();
    IS(mio_client_wait(c, ev, 4, 150), 0);
    int64_t took = now_ms() - t0;
    CHECK(took >= 140 && took < 1500);

    // wait(-1) blocks until something happens: here a signal (no SA_RESTART).
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    t0 = now_ms();
    alarm(1);
    IS(mio_client_wait(c, ev, 4, -1), -EINTR);
    CHECK(now_ms() - t0 >= 900);
    // ... or an event.
    OK(mio_client_waker(c, 2));
    OK(mio_client_wake(c, 2));
    IS(mio_client_wait(c, ev, 4, -1), 1);
    CHECK(ev[0].token == 2 && ev[0].flags == MIO_EVENT_READABLE);

    // A request whose reply does not come: the daemon is stopped.
    OK(mio_client_set_timeout(c, 200));
    CHECK(kill(daemon_pid, SIGSTOP) == 0);
    t0 = now_ms();
    int r = mio_client_waker(c, 3);
    took = now_ms() - t0;
    CHECK(kill(daemon_pid, SIGCONT) == 0);
    IS(r, -ETIMEDOUT);
    CHECK(took >= 190 && took < 1500);
    CHECK(mio_client_error_code(c) == NULL);
    // The late reply is skipped; the request did take effect.
    OK(mio_client_set_timeout(c, -1));
    OK(mio_client_waker(c, 4));
    OK(mio_client_set_timeout(c, MIO_CLIENT_DEFAULT_TIMEOUT_MS));
    OK(mio_client_wake(c, 3));
    CHECK(event_for(c, 3, 3000) == MIO_EVENT_READABLE);
    mio_client_close(c);
}

static void case_foreign_loop(void) {
    mio_client *c = connect_client();
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 11, MIO_INTEREST_READABLE, 0));
    IS(mio_client_pending(c), 0);
    write_byte(p[1]);
    struct pollfd pfd = {.fd = mio_client_fd(c), .events = POLLIN};
    IS(poll(&pfd, 1, 3000), 1);
    mio_event ev[4];
    IS(mio_client_wait(c, ev, 4, 0), 1);
    CHECK(ev[0].token == 11 && ev[0].flags == MIO_EVENT_READABLE);
    IS(mio_client_wait(c, ev, 4, 0), 0);
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

static void case_session_taken(void) {
    mio_client *c = connect_client();
    OK(mio_client_hello(c, "c-client-taken", 0));
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 12, MIO_INTEREST_READABLE, 0));
    int thief = raw_request("{\"op\":\"hello\",\"id\":1,\"session\":\"c-client-taken\",\"takeover\":true}\n");
    mio_event ev[4];
    IS(mio_client_wait(c, ev, 4, 3000), -ECONNABORTED);
    CHECK(mio_client_error_code(c) && strcmp(mio_client_error_code(c), "session_taken") == 0);
    // The connection lives on, in a fresh anonymous session: hello is allowed again.
    OK(mio_client_hello(c, NULL, 0));
    OK(mio_client_waker(c, 12));  // token 12 is free in the new session
    close(thief);
    mio_client_close(c);
    CHECK(daemon_copies_settled(p[0], 0) == 0);
    close(p[0]);
    close(p[1]);
}

/* The registrations of the named session `name`, as `list` reports them. */
static json_object *list_of(const char *name) {
    char line[200];
    snprintf(line, sizeof line, "{\"op\":\"list\",\"id\":1,\"session\":\"%s\"}\n", name);
    return raw_query(line);
}

/* A held fd's list entry: held, its kind, no interest or mode
 * (docs/protocol.md, "`list`"). */
static void check_held(json_object *list, uint64_t token, const char *kind) {
    json_object *entry = entry_with(list, "registrations", "token", (int64_t)token);
    CHECK(entry != NULL);
    CHECK(member(entry, "held") && json_object_get_boolean(member(entry, "held")));
    CHECK(member(entry, "kind") && strcmp(json_object_get_string(member(entry, "kind")), kind) == 0);
    CHECK(!has_member(entry, "interest") && !has_member(entry, "mode"));
}

static void check_content(int fd, const char *want) {
    char buf[64] = {0};
    IS((int)pread(fd, buf, sizeof buf - 1, 0), (int)strlen(want));
    CHECK(strcmp(buf, want) == 0);
}

static void case_store(void) {
    mio_client *c = connect_client();
    OK(mio_client_hello(c, "c-client-store", 0));  // named, so a raw connection can list it

    // A memfd with content: held, fetched back with its content.
    int memfd = memfd_create("mio-c-client-store", MFD_CLOEXEC);
    CHECK(memfd >= 0);
    CHECK(write(memfd, "held state", 10) == 10);
    OK(mio_client_store(c, memfd, 1));
    CHECK(daemon_copies(memfd) == 1);
    int fd = -1;
    OK(mio_client_fetch(c, 1, 0, &fd));
    CHECK(fd >= 0 && fd != memfd);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    same_file(fd, memfd);
    close(memfd);  // ours gone: the daemon's copy keeps the content
    check_content(fd, "held state");
    CHECK(pwrite(fd, " and more", 9, 10) == 9);
    close(fd);

    // A regular file, a directory, an O_PATH fd and a pipe: any kind is held.
    char file_template[] = "/tmp/mio-c-client-held-XXXXXX";
    int file = mkstemp(file_template);
    CHECK(file >= 0);
    unlink(file_template);
    char dir_template[] = "/tmp/mio-c-client-dir-XXXXXX";
    CHECK(mkdtemp(dir_template) != NULL);
    int dir = open(dir_template, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dir >= 0);
    int path_fd = open(dir_template, O_PATH | O_CLOEXEC);
    CHECK(path_fd >= 0);
    int p[2];
    make_pipe(p);
    OK(mio_client_store(c, file, 2));
    OK(mio_client_store(c, dir, 3));
    OK(mio_client_store(c, path_fd, 4));
    OK(mio_client_store(c, p[0], 5));
    CHECK(daemon_copies(file) == 1 && daemon_copies(p[0]) == 1);
    CHECK(daemon_copies(dir) == 2);  // the directory, and the O_PATH fd of the same path
    json_object *list = list_of("c-client-store");
    IS((int)json_object_array_length(member(list, "registrations")), 5);
    check_held(list, 1, "memfd");
    check_held(list, 2, "file");
    check_held(list, 3, "directory");
    check_held(list, 4, "path");
    check_held(list, 5, "pipe");
    json_object_put(list);
    // Never polled: data in the pipe makes no event.
    write_byte(p[1]);
    no_event_within(c, 100);

    // Refusals.
    REFUSED(c, mio_client_store(c, file, 2), "token_in_use");
    REFUSED(c, mio_client_store(c, mio_client_fd(c), 6), "bad_fd");  // the daemon's own socket
    REFUSED(c, mio_client_reregister(c, 2, MIO_INTEREST_READABLE, 0), "wrong_state");
    REFUSED(c, mio_client_wake(c, 2), "unknown_token");
    int waker_token = 7;
    OK(mio_client_waker(c, (uint64_t)waker_token));
    int p2[2];
    make_pipe(p2);
    REFUSED(c, mio_client_store(c, p2[0], (uint64_t)waker_token), "token_in_use");
    OK(mio_client_deregister(c, (uint64_t)waker_token));
    close(p2[0]);
    close(p2[1]);

    // fetch with deregister: the daemon's own copy comes back, with what
    // was written through the first copy.
    fd = -1;
    OK(mio_client_fetch(c, 1, 1, &fd));
    check_content(fd, "held state and more");
    close(fd);
    REFUSED(c, mio_client_fetch(c, 1, 0, &fd), "unknown_token");
    // deregister closes the daemon's copy (files are closed off its loop).
    OK(mio_client_deregister(c, 2));
    CHECK(daemon_copies_settled(file, 0) == 0);
    list = list_of("c-client-store");
    IS((int)json_object_array_length(member(list, "registrations")), 3);
    json_object_put(list);
    // The end of the (non-persistent) session closes the rest.
    mio_client_close(c);
    CHECK(daemon_copies_settled(dir, 0) == 0);  // the O_PATH fd's too
    CHECK(daemon_copies_settled(p[0], 0) == 0);
    close(file);
    close(dir);
    close(path_fd);
    rmdir(dir_template);
    close(p[0]);
    close(p[1]);
}

/* Events of token over ms (read as they come). */
static int events_of(mio_client *c, uint64_t token, int ms) {
    int64_t end = now_ms() + ms;
    int count = 0;
    mio_event ev[16];
    for (int left; (left = (int)(end - now_ms())) > 0;) {
        int n = mio_client_wait(c, ev, 16, left);
        OK(n);
        for (int i = 0; i < n; i++) {
            CHECK(ev[i].token == token);
            CHECK(ev[i].flags == MIO_EVENT_READABLE);
            count++;
        }
    }
    return count;
}

static void case_timer(void) {
    mio_client *c = connect_client();
    OK(mio_client_hello(c, "c-client-timer", 0));

    // Once, after 50 ms: one readable event, never early, then silence.
    int64_t t0 = now_ms();
    OK(mio_client_timer(c, 1, 50, 0));
    CHECK(event_for(c, 1, 3000) == MIO_EVENT_READABLE);
    CHECK(now_ms() - t0 >= 49);  // whole ms on both sides of the daemon's timerfd
    no_event_within(c, 200);
    // After 0: at once.
    OK(mio_client_timer(c, 2, 0, 0));
    CHECK(event_for(c, 2, 1000) == MIO_EVENT_READABLE);
    no_event_within(c, 100);

    // list: a one-shot timer that expired has no interval and no next expiry.
    json_object *list = list_of("c-client-timer");
    json_object *entry = entry_with(list, "registrations", "token", 1);
    CHECK(entry && strcmp(json_object_get_string(member(entry, "kind")), "timer") == 0);
    CHECK(has_member(entry, "interval_ms") && member(entry, "interval_ms") == NULL);
    CHECK(has_member(entry, "expires_in_ms") && member(entry, "expires_in_ms") == NULL);
    json_object_put(list);

    // Every 20 ms: an event each time, read as they come.
    OK(mio_client_timer(c, 3, 20, 20));
    int n = events_of(c, 3, 400);
    CHECK(n >= 5 && n <= 21);
    // Deregister stops it: no event of it after the call.
    OK(mio_client_deregister(c, 3));
    no_event_within(c, 150);
    REFUSED(c, mio_client_deregister(c, 3), "unknown_token");

    // Set anew on its token: an hour becomes 30 ms.
    OK(mio_client_timer(c, 4, 3600000, 1000));
    list = list_of("c-client-timer");
    entry = entry_with(list, "registrations", "token", 4);
    CHECK(entry && json_object_get_int64(member(entry, "interval_ms")) == 1000);
    int64_t expires = json_object_get_int64(member(entry, "expires_in_ms"));
    CHECK(expires > 3590000 && expires <= 3600000);
    json_object_put(list);
    OK(mio_client_timer(c, 4, 30, 0));
    CHECK(event_for(c, 4, 3000) == MIO_EVENT_READABLE);
    no_event_within(c, 100);  // once, now

    // Refusals: the token is something else, and what a timer is not.
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 5, MIO_INTEREST_READABLE, 0));
    REFUSED(c, mio_client_timer(c, 5, 10, 0), "token_in_use");
    OK(mio_client_waker(c, 6));
    REFUSED(c, mio_client_timer(c, 6, 10, 0), "token_in_use");
    int fd = 12345;
    REFUSED(c, mio_client_fetch(c, 4, 0, &fd), "bad_request");  // a timer holds no fd of ours
    CHECK(fd == -1);
    REFUSED(c, mio_client_reregister(c, 4, MIO_INTEREST_READABLE, 0), "wrong_state");
    REFUSED(c, mio_client_wake(c, 4), "unknown_token");
    no_event_within(c, 50);

    // The daemon holds a timerfd per timer: the end of the session closes them
    // (the test's fixture checks the daemon's fds).
    mio_client_close(c);
    CHECK(daemon_copies_settled(p[0], 0) == 0);
    close(p[0]);
    close(p[1]);
}

static json_object *sessions_query(void) {
    return raw_query("{\"op\":\"sessions\",\"id\":1}\n");
}

/* The lease and countdown `sessions` shows for session name
 * (docs/protocol.md, "`sessions`"): *lease_s -1 for null, *expires_in -1 for null. */
static void lease_of(const char *name, int64_t *lease_s, double *expires_in, int *attached) {
    json_object *reply = sessions_query();
    json_object *entry = session_named(reply, name);
    CHECK(entry != NULL);
    CHECK(has_member(entry, "lease_s") && has_member(entry, "expires_in_s"));
    json_object *lease = member(entry, "lease_s"), *left = member(entry, "expires_in_s");
    *lease_s = lease ? json_object_get_int64(lease) : -1;
    *expires_in = left ? json_object_get_double(left) : -1;
    *attached = json_object_get_boolean(member(entry, "attached"));
    CHECK(json_object_get_boolean(member(entry, "persistent")));
    json_object_put(reply);
}

static int session_exists(const char *name) {
    json_object *reply = sessions_query();
    int found = session_named(reply, name) != NULL;
    json_object_put(reply);
    return found;
}

static void case_lease(void) {
    const char *name = "c-client-lease";
    int64_t lease;
    double left;
    int attached;
    mio_client *c = connect_client();
    // A lease needs a session that can be found again.
    REFUSED(c, mio_client_hello_lease(c, NULL, 5), "bad_request");
    OK(mio_client_hello_lease(c, name, 1));
    lease_of(name, &lease, &left, &attached);
    CHECK(lease == 1 && left == -1 && attached);  // attached: no countdown
    // Its fds and timers go with it when the lease runs out.
    int memfd = memfd_create("mio-c-client-lease", MFD_CLOEXEC);
    CHECK(memfd >= 0);
    OK(mio_client_store(c, memfd, 1));
    OK(mio_client_timer(c, 2, 3600000, 0));
    mio_client_close(c);
    lease_of(name, &lease, &left, &attached);
    CHECK(lease == 1 && left > 0 && left <= 1.0 && !attached);

    // Attaching within the lease stops the countdown; a plain hello keeps the lease.
    sleep_ms(500);
    c = connect_client();
    OK(mio_client_hello(c, name, 0));
    sleep_ms(800);  // past the first countdown's end
    CHECK(daemon_copies(memfd) == 1);
    lease_of(name, &lease, &left, &attached);
    CHECK(lease == 1 && left == -1 && attached);
    // Replaced, removed, set again.
    OK(mio_client_hello_lease(c, name, 3600));
    lease_of(name, &lease, &left, &attached);
    CHECK(lease == 3600);
    OK(mio_client_hello_lease(c, name, 0));
    lease_of(name, &lease, &left, &attached);
    CHECK(lease == -1);
    OK(mio_client_hello_lease(c, name, 1));

    // Detached: the session ends about 1 s later, its fds closed.
    int64_t t0 = now_ms();
    mio_client_close(c);
    while (session_exists(name) && now_ms() - t0 < 5000) sleep_ms(10);
    int64_t took = now_ms() - t0;
    CHECK(!session_exists(name));
    CHECK(took >= 999 && took < 1600);
    CHECK(daemon_copies_settled(memfd, 0) == 0);
    close(memfd);
}

// Waits for the daemon to stop (the test sends SIGTERM once "ready" is out).
static void case_shutdown(void) {
    mio_client *c = connect_client();
    int p[2];
    make_pipe(p);
    OK(mio_client_register(c, p[0], 13, MIO_INTEREST_READABLE, 0));
    printf("ready\n");
    fflush(stdout);
    mio_event ev[4];
    IS(mio_client_wait(c, ev, 4, 10000), -ESHUTDOWN);
    CHECK(mio_client_error_code(c) && strcmp(mio_client_error_code(c), "shutdown") == 0);
    // Dead from now on, for every call.
    IS(mio_client_wait(c, ev, 4, 0), -ESHUTDOWN);
    IS(mio_client_waker(c, 1), -ESHUTDOWN);
    mio_client_close(c);
    close(p[0]);
    close(p[1]);
}

// The daemon refuses this uid at connect: the first request learns it.
static void case_permission_denied(void) {
    mio_client *c = connect_client();
    REFUSED(c, mio_client_waker(c, 1), "permission_denied");
    mio_event ev[4];
    IS(mio_client_wait(c, ev, 4, 3000), -ECONNRESET);
    IS(mio_client_waker(c, 1), -ECONNRESET);
    mio_client_close(c);
    // Once the daemon has closed, the send fails; the reason is still read.
    c = connect_client();
    sleep_ms(200);
    REFUSED(c, mio_client_waker(c, 1), "permission_denied");
    IS(mio_client_wait(c, ev, 4, 0), -ECONNRESET);
    mio_client_close(c);
}

// Prints the default path, then uses the daemon found there.
static void case_default_path(void) {
    char path[108];
    int n = mio_client_default_socket_path(path, sizeof path);
    OK(n);
    CHECK((size_t)n == strlen(path));
    printf("path %s\n", path);
    mio_client *c = connect_client();
    OK(mio_client_hello(c, NULL, 0));
    OK(mio_client_waker(c, 21));
    OK(mio_client_wake(c, 21));
    CHECK(event_for(c, 21, 3000) == MIO_EVENT_READABLE);
    mio_client_close(c);
}

static int own_fd_count(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) failed(__FILE__, __LINE__, "opendir /proc/self/fd", -errno);
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
    {"arguments", case_arguments},         {"hello", case_hello},
    {"register", case_register},           {"reregister", case_reregister},
    {"deregister", case_deregister},       {"waker", case_waker},
    {"fetch", case_fetch},                 {"events_kept", case_events_kept},
    {"timeout", case_timeout},             {"foreign_loop", case_foreign_loop},
    {"session_taken", case_session_taken}, {"shutdown", case_shutdown},
    {"permission_denied", case_permission_denied}, {"default_path", case_default_path},
    {"store", case_store},                 {"timer", case_timer},
    {"lease", case_lease},
};

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: api_test CASE SOCKET|- DAEMON_PID\n");
        return 2;
    }
    socket_path = argv[2];
    daemon_pid = (pid_t)atoi(argv[3]);
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        if (strcmp(CASES[i].name, argv[1]) == 0) {
            int fds_before = own_fd_count();
            CASES[i].run();
            // Each case closes what it opened: the library leaks nothing.
            IS(own_fd_count(), fds_before);
            printf("ok\n");
            return 0;
        }
    }
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
