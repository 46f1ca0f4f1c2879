/* The requests: one line out (with its fd, for register, in the same
 * sendmsg), then lines in until the reply with our id. Events that come
 * first are queued for mio_client_wait; replies to requests that timed out
 * earlier are skipped by their id. */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- building the line ---- */

static int out_append(mio_client *c, const char *text, size_t n) {
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap;
        while (cap < c->out_len + n) cap *= 2;
        char *out = realloc(c->out, cap);
        if (!out) return -ENOMEM;
        c->out = out;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, text, n);
    c->out_len += n;
    return 0;
}

__attribute__((format(printf, 2, 3))) static int out_printf(mio_client *c, const char *format, ...) {
    char small[128];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(small, sizeof small, format, ap);
    va_end(ap);
    if (n < 0) return -EINVAL;
    if ((size_t)n >= sizeof small) return -EOVERFLOW;  // only short fields go through here
    return out_append(c, small, (size_t)n);
}

/* A JSON string, escaped by json-c. */
static int out_string(mio_client *c, const char *text) {
    json_object *s = json_object_new_string(text);
    if (!s) return -ENOMEM;
    size_t n;
    const char *json = json_object_to_json_string_length(s, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    int r = json ? out_append(c, json, n) : -ENOMEM;
    json_object_put(s);
    return r;
}

/* Starts the line of op; returns its id through *id. */
static int begin(mio_client *c, const char *op, uint64_t *id) {
    mioc_clear_error(c);
    if (c->dead) return -c->dead;
    *id = c->next_id++;
    c->out_len = 0;
    return out_printf(c, "{\"op\":\"%s\",\"id\":%" PRIu64, op, *id);
}

static int out_token(mio_client *c, uint64_t token) {
    return out_printf(c, ",\"token\":%" PRIu64, token);
}

static bool valid_interest(unsigned interest) {
    return interest != 0 && (interest & ~(MIO_INTEREST_READABLE | MIO_INTEREST_WRITABLE | MIO_INTEREST_PRIORITY)) == 0;
}

static int out_interest(mio_client *c, unsigned interest, int oneshot) {
    static const char *const names[3] = {"\"readable\"", "\"writable\"", "\"priority\""};
    int r = out_append(c, ",\"interest\":[", 13);
    bool first = true;
    for (int k = 0; k < 3 && r == 0; k++) {
        if (!(interest & (1u << k))) continue;
        if (!first) r = out_append(c, ",", 1);
        if (r == 0) r = out_append(c, names[k], strlen(names[k]));
        first = false;
    }
    if (r == 0) r = out_printf(c, "],\"mode\":\"%s\"", oneshot ? "oneshot" : "edge");
    return r;
}

/* ---- the exchange ---- */

/* poll(2) for events until deadline_ms (-1: none): 1 ready, 0 timed out. */
static int wait_for(int sock, short events, int64_t deadline_ms) {
    for (;;) {
        struct pollfd p = {.fd = sock, .events = events};
        int r = poll(&p, 1, mioc_remaining_ms(deadline_ms));
        if (r > 0) return 1;
        if (r == 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

/* The line in c->out, and fd (if >= 0) with its first bytes in one sendmsg. */
static int send_line(mio_client *c, int fd, int64_t deadline_ms) {
    const char *p = c->out;
    size_t left = c->out_len;
    bool sent_any = false;
    while (left > 0) {
        struct iovec iov = {.iov_base = (void *)p, .iov_len = left};
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } control;
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        if (fd >= 0 && !sent_any) {
            memset(&control, 0, sizeof control);
            msg.msg_control = control.buf;
            msg.msg_controllen = sizeof control.buf;
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        }
        ssize_t n = sendmsg(c->sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            left -= (size_t)n;
            sent_any = true;
            continue;
        }
        int err = n == 0 ? EIO : errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            int r = wait_for(c->sock, POLLOUT, deadline_ms);
            if (r > 0) continue;
            if (!sent_any) return r == 0 ? -ETIMEDOUT : r;
            err = EIO;  // half a line went out: the stream cannot be trusted
        }
        // The daemon closed the connection: one errno for it, however seen.
        if (err == EPIPE || err == ECONNRESET) return mioc_kill(c, ECONNRESET);
        if (sent_any) return mioc_kill(c, err);
        return -err;  // nothing sent (e.g. EBADF for the fd): the connection is fine
    }
    return 0;
}

/* Lines until the reply to request id. fds_out: take the nfds fds of that
 * reply (nfds 0: it brings none). */
static int await_reply(mio_client *c, uint64_t id, int *fds_out, int nfds, int64_t deadline_ms) {
    struct mioc_parsed_line p;
    struct mioc_line line;
    for (;;) {
        while (mioc_input_peek(&c->in, &line)) {
            mioc_parse_line(c->tokener, line.text, line.len, &p);
            int result = 1;  // 1: not the reply, read on
            switch (p.kind) {
            case MIOC_LINE_EVENT:
                if (mioc_queue_push(&c->queue, p.token, p.flags) < 0) result = -ENOMEM;
                break;
            case MIOC_LINE_SESSION_TAKEN:
                // The ring served the lost session: its records go with it.
                mioc_detach_ring(c, false);
                c->session[0] = 0;
                if (mioc_queue_push(&c->queue, 0, MIOC_NOTICE_SESSION_TAKEN) < 0) result = -ENOMEM;
                break;
            case MIOC_LINE_SHUTDOWN:
                mioc_set_error(c, "shutdown", "the daemon is stopping");
                result = mioc_kill(c, ESHUTDOWN);
                break;
            case MIOC_LINE_OTHER_EVENT:
            case MIOC_LINE_BAD:
                break;
            case MIOC_LINE_REPLY:
                // Ours, or an error that answers no id (line_too_long,
                // permission_denied at connect): it is about this request.
                if ((p.has_id && p.id == id) || (!p.has_any_id && !p.ok)) {
                    if (!p.ok) {
                        mioc_set_error(c, p.code, p.message);
                        result = -EPROTO;
                    } else if (nfds == 0) {
                        result = 0;
                    } else if (line.fds && line.fds->count >= nfds) {
                        for (int i = 0; i < nfds; i++) {
                            fds_out[i] = line.fds->fds[i];
                            line.fds->fds[i] = -1;
                        }
                        result = 0;
                    } else {
                        result = -EBADMSG;  // a fetch or ring hello reply without its fds
                    }
                    c->reply_has_ring_head = p.has_ring_head;
                    c->reply_ring_head = p.ring_head;
                    c->reply_has_ring_entries = p.has_ring_entries;
                    c->reply_ring_entries = p.ring_entries;
                }
                // else: the late reply of a request that timed out
                break;
            }
            mioc_input_consume(&c->in, &line);
            if (result <= 0) return result;
        }
        if (c->dead) return -c->dead;
        int r = wait_for(c->sock, POLLIN, deadline_ms);
        if (r == 0) return -ETIMEDOUT;
        if (r < 0) return r;
        long n = mioc_input_receive(&c->in, c->sock, MSG_DONTWAIT);
        if (n == -EAGAIN || n == -EINTR) continue;
        if (n < 0) return mioc_kill(c, (int)-n);
    }
}

/* The daemon closed the connection under a send: what it said first (such
 * as permission_denied right after connect) is still in the socket. */
static int reason_for_close(mio_client *c, uint64_t id) {
    while (mioc_input_receive(&c->in, c->sock, MSG_DONTWAIT) > 0) {}
    return await_reply(c, id, NULL, 0, mioc_now_ms());
}

/* Sends the line built in c->out and waits for its reply (and its nfds
 * fds, into fds_out). */
static int exchange(mio_client *c, uint64_t id, int fd, int *fds_out, int nfds) {
    int r = out_append(c, "}\n", 2);
    if (r < 0) return r;
    int64_t deadline_ms = c->timeout_ms < 0 ? -1 : mioc_now_ms() + c->timeout_ms;
    r = send_line(c, fd, deadline_ms);
    if (r == -ECONNRESET) return reason_for_close(c, id);
    if (r < 0) return r;
    return await_reply(c, id, fds_out, nfds, deadline_ms);
}

/* The events of a token just removed, kept or still in the ring, are
 * dropped (docs/protocol.md, "Ordering" and "Ring delivery"). */
static int token_removed(mio_client *c, uint64_t token) {
    mioc_queue_drop_token(&c->queue, token);
    if (!mioc_ring_active(&c->ring)) return 0;
    return mioc_ring_token_removed(&c->ring, token, c->reply_has_ring_head, c->reply_ring_head);
}

/* ---- the API ---- */

/* What a hello does to the session's lease (docs/protocol.md, "Leases"). */
#define LEASE_KEEP (-1L)  /* lease_s absent */
#define LEASE_REMOVE 0L   /* lease_s null */

/* hello: stream delivery, or ring delivery with entries records (0: the
 * daemon's default); lease: LEASE_KEEP, LEASE_REMOVE or seconds. */
static int hello(mio_client *c, const char *session, int persist, bool ring, size_t entries, long lease) {
    if (!c) return -EINVAL;
    uint64_t id = 0;
    int r = begin(c, "hello", &id);
    if (r == 0) r = out_printf(c, ",\"protocol\":1");
    if (r == 0 && session) r = out_printf(c, ",\"session\":");
    if (r == 0 && session) r = out_string(c, session);
    if (r == 0 && persist) r = out_printf(c, ",\"persist\":true");
    if (r == 0 && lease == LEASE_REMOVE) r = out_printf(c, ",\"lease_s\":null");
    if (r == 0 && lease > 0) r = out_printf(c, ",\"lease_s\":%ld", lease);
    if (r == 0 && ring) r = out_printf(c, ",\"delivery\":\"ring\"");
    if (r == 0 && ring && entries) r = out_printf(c, ",\"ring_entries\":%zu", entries);
    if (r == 0) r = out_printf(c, ",\"client\":\"libmio-client\"");
    int fds[2] = {-1, -1};
    if (r == 0) r = exchange(c, id, -1, ring ? fds : NULL, ring ? 2 : 0);
    if (r < 0) return r;
    // The daemon has let go of any earlier ring: what we had not read of it
    // yet are events all the same, kept for mio_client_wait.
    r = mioc_detach_ring(c, true);
    snprintf(c->session, sizeof c->session, "%s", session ? session : "");
    if (!ring) return r;
    if (r < 0) {
        close(fds[0]);
        close(fds[1]);
        return r;
    }
    uint64_t announced = c->reply_has_ring_entries ? c->reply_ring_entries : 0;
    if (entries && announced && announced != entries) r = -EBADMSG;
    if (r == 0) r = mioc_attach_ring(c, fds[0], fds[1], announced ? announced : entries);
    else close(fds[0]), close(fds[1]);
    // Our events now go to a ring we cannot read: the connection is useless.
    return r < 0 ? mioc_kill(c, -r) : 0;
}

int mio_client_hello(mio_client *c, const char *session, int persist) {
    return hello(c, session, persist, false, 0, LEASE_KEEP);
}

int mio_client_hello_ring(mio_client *c, const char *session, int persist, size_t entries) {
    return hello(c, session, persist, true, entries, LEASE_KEEP);
}

int mio_client_enable_ring(mio_client *c, size_t entries) {
    if (!c) return -EINVAL;
    return hello(c, c->session[0] ? c->session : NULL, 0, true, entries, LEASE_KEEP);
}

/* A lease needs persist (the daemon refuses lease_s without it), so this
 * hello always asks for it. */
int mio_client_hello_lease(mio_client *c, const char *session, unsigned lease_s) {
    if (!c || lease_s > MIO_CLIENT_MAX_LEASE_S) return -EINVAL;
    return hello(c, session, 1, false, 0, lease_s == 0 ? LEASE_REMOVE : (long)lease_s);
}

int mio_client_register(mio_client *c, int fd, uint64_t token, unsigned interest, int oneshot) {
    if (!c || !valid_interest(interest)) return -EINVAL;
    if (fd < 0) return -EBADF;
    uint64_t id = 0;
    int r = begin(c, "register", &id);
    if (r == 0) r = out_token(c, token);
    if (r == 0) r = out_interest(c, interest, oneshot);
    return r < 0 ? r : exchange(c, id, fd, NULL, 0);
}

/* Held, never polled (docs/protocol.md, "Holding without polling"): the fd
 * goes with the line, as register's. */
int mio_client_store(mio_client *c, int fd, uint64_t token) {
    if (!c) return -EINVAL;
    if (fd < 0) return -EBADF;
    uint64_t id = 0;
    int r = begin(c, "store", &id);
    if (r == 0) r = out_token(c, token);
    return r < 0 ? r : exchange(c, id, fd, NULL, 0);
}

/* docs/protocol.md, "Timers": interval_ms absent means once. */
int mio_client_timer(mio_client *c, uint64_t token, uint64_t after_ms, uint64_t interval_ms) {
    if (!c || after_ms > MIO_CLIENT_MAX_TIMER_MS || interval_ms > MIO_CLIENT_MAX_TIMER_MS) return -EINVAL;
    uint64_t id = 0;
    int r = begin(c, "timer", &id);
    if (r == 0) r = out_token(c, token);
    if (r == 0) r = out_printf(c, ",\"after_ms\":%" PRIu64, after_ms);
    if (r == 0 && interval_ms) r = out_printf(c, ",\"interval_ms\":%" PRIu64, interval_ms);
    return r < 0 ? r : exchange(c, id, -1, NULL, 0);
}

int mio_client_reregister(mio_client *c, uint64_t token, unsigned interest, int oneshot) {
    if (!c || !valid_interest(interest)) return -EINVAL;
    uint64_t id = 0;
    int r = begin(c, "reregister", &id);
    if (r == 0) r = out_token(c, token);
    if (r == 0) r = out_interest(c, interest, oneshot);
    return r < 0 ? r : exchange(c, id, -1, NULL, 0);
}

int mio_client_deregister(mio_client *c, uint64_t token) {
    if (!c) return -EINVAL;
    uint64_t id = 0;
    int r = begin(c, "deregister", &id);
    if (r == 0) r = out_token(c, token);
    if (r == 0) r = exchange(c, id, -1, NULL, 0);
    // No event of the token after the reply that removed it (docs/protocol.md, "Ordering").
    if (r == 0) r = token_removed(c, token);
    return r;
}

int mio_client_waker(mio_client *c, uint64_t token) {
    if (!c) return -EINVAL;
    uint64_t id = 0;
    int r = begin(c, "waker", &id);
    if (r == 0) r = out_token(c, token);
    return r < 0 ? r : exchange(c, id, -1, NULL, 0);
}

int mio_client_wake(mio_client *c, uint64_t token) {
    if (!c) return -EINVAL;
    uint64_t id = 0;
    int r = begin(c, "wake", &id);
    if (r == 0) r = out_token(c, token);
    return r < 0 ? r : exchange(c, id, -1, NULL, 0);
}

int mio_client_fetch(mio_client *c, uint64_t token, int deregister, int *fd_out) {
    if (!c || !fd_out) return -EINVAL;
    *fd_out = -1;
    uint64_t id = 0;
    int r = begin(c, "fetch", &id);
    if (r == 0) r = out_token(c, token);
    if (r == 0 && deregister) r = out_printf(c, ",\"deregister\":true");
    if (r == 0) r = exchange(c, id, -1, fd_out, 1);
    if (r == 0 && deregister && (r = token_removed(c, token)) < 0) {
        close(*fd_out);  // out of memory: an error, so nothing of it is the caller's
        *fd_out = -1;
    }
    return r;
}
