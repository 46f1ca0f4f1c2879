/* A client's life: connect, its state and errors, close. */
#include "internal.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int64_t mioc_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int mioc_remaining_ms(int64_t deadline_ms) {
    if (deadline_ms < 0) return -1;
    int64_t left = deadline_ms - mioc_now_ms();
    if (left <= 0) return 0;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

void mioc_clear_error(mio_client *c) {
    c->has_error = false;
}

void mioc_set_error(mio_client *c, const char *code, const char *message) {
    c->has_error = true;
    strncpy(c->error_code, code, sizeof c->error_code - 1);
    c->error_code[sizeof c->error_code - 1] = 0;
    strncpy(c->error_message, message ? message : "", sizeof c->error_message - 1);
    c->error_message[sizeof c->error_message - 1] = 0;
}

int mioc_kill(mio_client *c, int err) {
    if (!c->dead) c->dead = err;
    return -c->dead;
}

/* connect(2) on a blocking socket waits while the daemon's listen queue is
 * full; SO_SNDTIMEO bounds that wait (the kernel then says EAGAIN). */
static int connect_with_timeout(int sock, const struct sockaddr_un *address, int timeout_ms) {
    struct timeval limit = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0) return -errno;
    int r;
    do {
        r = connect(sock, (const struct sockaddr *)address, sizeof *address);
    } while (r != 0 && errno == EINTR);
    if (r != 0) return errno == EAGAIN ? -ETIMEDOUT : -errno;
    struct timeval none = {0, 0};
    if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none) != 0) return -errno;
    return 0;
}

int mio_client_connect(const char *socket_path, mio_client **out) {
    if (!out) return -EINVAL;
    *out = NULL;
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (socket_path) {
        size_t n = strlen(socket_path);
        if (n == 0) return -EINVAL;
        if (n >= sizeof address.sun_path) return -ENAMETOOLONG;
        memcpy(address.sun_path, socket_path, n);
    } else {
        int r = mioc_default_socket_path(address.sun_path, sizeof address.sun_path);
        if (r < 0) return r == -ERANGE ? -ENAMETOOLONG : r;
    }

    mio_client *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->sock = -1;
    c->epoll_fd = -1;
    c->ring.doorbell = -1;
    c->timeout_ms = MIO_CLIENT_DEFAULT_TIMEOUT_MS;
    c->next_id = 1;
    int r = -ENOMEM;
    if (mioc_input_init(&c->in) < 0 || mioc_queue_init(&c->queue) < 0 || !(c->tokener = json_tokener_new()))
        goto fail;
    c->out_cap = 256;
    if (!(c->out = malloc(c->out_cap))) goto fail;
    // Blocking: a wait without timeout is one recvmsg(); calls with a
    // deadline use poll(2) and MSG_DONTWAIT.
    c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->sock < 0) {
        r = -errno;
        goto fail;
    }
    r = connect_with_timeout(c->sock, &address, MIO_CLIENT_DEFAULT_TIMEOUT_MS);
    if (r < 0) goto fail;
    *out = c;
    return 0;
fail:
    mio_client_close(c);
    return r;
}

void mio_client_close(mio_client *c) {
    if (!c) return;
    mioc_detach_ring(c, false);
    if (c->epoll_fd >= 0) close(c->epoll_fd);
    if (c->sock >= 0) close(c->sock);
    if (c->in.buf) mioc_input_free(&c->in);
    mioc_queue_free(&c->queue);
    if (c->tokener) json_tokener_free(c->tokener);
    free(c->out);
    free(c);
}

int mio_client_fd(const mio_client *c) {
    return c ? c->sock : -EINVAL;
}

int mio_client_ring_fd(const mio_client *c) {
    if (!c) return -EINVAL;
    return c->epoll_fd >= 0 ? c->epoll_fd : c->sock;
}

int mio_client_set_timeout(mio_client *c, int timeout_ms) {
    if (!c || timeout_ms < -1) return -EINVAL;
    c->timeout_ms = timeout_ms;
    return 0;
}

int mio_client_pending(const mio_client *c) {
    if (!c) return -EINVAL;
    if (!mioc_queue_empty(&c->queue) || mioc_input_has_line(&c->in)) return 1;
    if (!mioc_ring_active(&c->ring)) return 0;
    // "Nothing pending" is what a foreign loop asks before it polls: the
    // daemon must then ring the doorbell (the flag lives in the shared
    // memory, not in *c).
    return !mioc_ring_arm(&c->ring);
}

const char *mio_client_error_code(const mio_client *c) {
    return c && c->has_error ? c->error_code : NULL;
}

const char *mio_client_error_message(const mio_client *c) {
    return c && c->has_error ? c->error_message : NULL;
}
