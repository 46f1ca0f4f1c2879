// What the C test programs share: where the daemon is, the checks that
// end a case with the first failure (and the client's error code), time,
// pipes, waiting for one token's event, and requests on a raw connection
// for what the API does not send (list, sessions). Each test program is
// one .c file that includes this once.
#ifndef MIO_CLIENT_TEST_SUPPORT_H
#define MIO_CLIENT_TEST_SUPPORT_H

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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

/* One request line on a raw connection of our own (for what the API does
 * not send: list, sessions, end of another session); the reply, parsed,
 * which must say ok (release it with json_object_put). */
__attribute__((unused)) static json_object *raw_query(const char *line) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strcmp(socket_path, "-") == 0)
        OK(mio_client_default_socket_path(a.sun_path, sizeof a.sun_path));
    else
        snprintf(a.sun_path, sizeof a.sun_path, "%s", socket_path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(s >= 0);
    CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(write(s, line, strlen(line)) == (ssize_t)strlen(line));
    static char reply[65536];
    size_t len = 0;
    while (len == 0 || reply[len - 1] != '\n') {
        CHECK(len < sizeof reply - 1);
        ssize_t n = read(s, reply + len, sizeof reply - 1 - len);
        CHECK(n > 0);
        len += (size_t)n;
    }
    reply[len] = 0;
    close(s);
    json_object *parsed = json_tokener_parse(reply);
    json_object *ok = NULL;
    if (!parsed || !json_object_object_get_ex(parsed, "ok", &ok) || !json_object_get_boolean(ok)) {
        fprintf(stderr, "raw reply: %s", reply);
        failed(__FILE__, __LINE__, "raw_query: a reply with \"ok\":true", 0);
    }
    return parsed;
}

/* The member key of obj (NULL if absent, or if the member is null). */
__attribute__((unused)) static json_object *member(json_object *obj, const char *key) {
    json_object *value = NULL;
    return json_object_object_get_ex(obj, key, &value) ? value : NULL;
}

/* Whether obj has the member key at all (null included). */
__attribute__((unused)) static int has_member(json_object *obj, const char *key) {
    return json_object_object_get_ex(obj, key, NULL);
}

/* The entry of reply's array `array` whose `key` is the integer want (NULL: none). */
__attribute__((unused)) static json_object *entry_with(json_object *reply, const char *array, const char *key, int64_t want) {
    json_object *items = member(reply, array);
    for (size_t i = 0; items && i < json_object_array_length(items); i++) {
        json_object *item = json_object_array_get_idx(items, i);
        json_object *value = member(item, key);
        if (value && json_object_get_int64(value) == want) return item;
    }
    return NULL;
}

/* The entry of reply's "sessions" named name (NULL: none). */
__attribute__((unused)) static json_object *session_named(json_object *reply, const char *name) {
    json_object *items = member(reply, "sessions");
    for (size_t i = 0; items && i < json_object_array_length(items); i++) {
        json_object *item = json_object_array_get_idx(items, i);
        json_object *value = member(item, "name");
        if (value && strcmp(json_object_get_string(value), name) == 0) return item;
    }
    return NULL;
}

#endif
