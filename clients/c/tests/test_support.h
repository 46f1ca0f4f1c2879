// What the C test programs share: where the daemon is, the checks that
// end a case with the first failure (and the client's error code), time,
// pipes, and waiting for one token's event. Each test program is one .c
// file that includes this once.
#ifndef MIO_CLIENT_TEST_SUPPORT_H
#define MIO_CLIENT_TEST_SUPPORT_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mio-client.h"

static const char *socket_path;
static pid_t daemon_pid;
static mio_client *last_client;  // for the error code in failure messages

static void failed(const char *file, int line, const char *what, int r) {
    const char *code = last_client ? mio_client_error_code(last_client) : NULL;
    const char *message = last_client ? mio_client_error_message(last_client) : NULL;
    fprintf(stderr, "FAIL %s:%d: %s", file, line, what);
    if (r < 0) fprintf(stderr, " -> %d (%s)", r, strerror(-r));
    if (code) fprintf(stderr, " [code %s: %s]", code, message ? message : "");
    fputc('\n', stderr);
    exit(1);
}

#define CHECK(cond)                                           \
    do {                                                      \
        if (!(cond)) failed(__FILE__, __LINE__, #cond, 0);    \
    } while (0)
// expr must return 0 (or a count >= 0).
#define OK(expr)                                                  \
    do {                                                          \
        int r_ = (expr);                                          \
        if (r_ < 0) failed(__FILE__, __LINE__, #expr, r_);        \
    } while (0)
// expr must return exactly want.
#define IS(expr, want)                                                              \
    do {                                                                            \
        int r_ = (expr);                                                            \
        if (r_ != (want)) {                                                         \
            char what_[300];                                                        \
            snprintf(what_, sizeof what_, "%s == %s (got %d)", #expr, #want, r_);   \
            failed(__FILE__, __LINE__, what_, r_ < 0 ? r_ : 0);                     \
        }                                                                           \
    } while (0)
// expr must be refused by the daemon with this code.
#define REFUSED(c, expr, want_code)                                                         \
    do {                                                                                    \
        int r_ = (expr);                                                                    \
        const char *code_ = mio_client_error_code(c);                                       \
        if (r_ != -EPROTO || !code_ || strcmp(code_, want_code) != 0)                       \
            failed(__FILE__, __LINE__, #expr " refused with " want_code, r_);               \
        const char *message_ = mio_client_error_message(c);                                 \
        CHECK(message_ && *message_);                                                       \
    } while (0)

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

static void make_pipe(int fds[2]) {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) failed(__FILE__, __LINE__, "pipe2", -errno);
}

static void write_byte(int fd) {
    CHECK(write(fd, "x", 1) == 1);
}

static void drain(int fd) {
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {}
}

static int64_t event_for(mio_client *c, uint64_t token, int timeout_ms) {
    int64_t end = now_ms() + timeout_ms;
    mio_event ev[16];
    for (;;) {
        int left = (int)(end - now_ms());
        if (left < 0) return -1;
        int n = mio_client_wait(c, ev, 16, left);
        if (n < 0) failed(__FILE__, __LINE__, "mio_client_wait", n);
        if (n == 0) return -1;
        for (int i = 0; i < n; i++)
            if (ev[i].token == token) return ev[i].flags;
    }
}

static void no_event_within(mio_client *c, int ms) {
    mio_event ev[4];
    int n = mio_client_wait(c, ev, 4, ms);
    if (n != 0) {
        char what[120];
        snprintf(what, sizeof what, "no event expected, got %d (first token %" PRIu64 ")", n, n > 0 ? ev[0].token : 0);
        failed(__FILE__, __LINE__, what, n < 0 ? n : 0);
    }
}

#endif
