/* mio_client_wait: the events kept by requests first, then the ring (in
 * ring delivery), then buffered lines, then the socket. This is the hot
 * path of every event loop: no allocation, no json-c for the daemon's own
 * event lines, no syscall while records are in the ring.
 *
 * Stream delivery: one read(2) per call on the blocking socket when there
 * is no timeout, poll(2) first only when there is one. No control buffer:
 * event lines carry no fds.
 *
 * Ring delivery (docs/protocol.md, "Ring delivery"): a wait that finds
 * nothing arms the sleeping flag (with the full fence and the second look
 * the document prescribes) and sleeps in epoll_wait on the doorbell and the
 * socket together; it never sleeps any other way. A wait with timeout 0
 * never sleeps: when it returns fewer events than asked for it leaves the
 * flag armed, so that a foreign loop polling mio_client_ring_fd() is woken
 * by the next record. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* A line that ends this call: an error to report once no events are
 * waiting to be returned before it. */
static int report(mio_client *c, const struct mioc_parsed_line *p) {
    switch (p->kind) {
    case MIOC_LINE_SESSION_TAKEN:
        mioc_set_error(c, "session_taken", "another connection took this session over");
        return -ECONNABORTED;
    case MIOC_LINE_SHUTDOWN:
        mioc_set_error(c, "shutdown", "the daemon is stopping");
        return mioc_kill(c, ESHUTDOWN);
    case MIOC_LINE_REPLY:
        mioc_set_error(c, p->code, p->message);
        return -EPROTO;
    default:
        return -EBADMSG;
    }
}

/* Buffered lines into events[n...]: the new n, or a negative errno when a
 * line ends the call before any event. */
static int take_buffered(mio_client *c, mio_event *events, int n, int capacity) {
    struct mioc_line line;
    while (n < capacity && mioc_input_peek(&c->in, &line)) {
        if (mioc_fast_event_line(line.text, line.len, &events[n].token, &events[n].flags)) {
            n++;
            mioc_input_consume(&c->in, &line);
            continue;
        }
        struct mioc_parsed_line p;
        mioc_parse_line(c->tokener, line.text, line.len, &p);
        bool ends_call = false;
        switch (p.kind) {
        case MIOC_LINE_EVENT:
            events[n].token = p.token;
            events[n].flags = p.flags;
            n++;
            break;
        case MIOC_LINE_REPLY:
            // A late reply of a request that timed out is dropped; an error
            // that answers no request is the caller's to know.
            ends_call = !p.has_any_id && !p.ok;
            break;
        case MIOC_LINE_OTHER_EVENT:
            break;
        case MIOC_LINE_SESSION_TAKEN:
            // Nothing more of the lost session's ring, even before the
            // notice is reported.
            mioc_detach_ring(c, false);
            c->session[0] = 0;
            ends_call = true;
            break;
        default:
            ends_call = true;
        }
        if (ends_call) {
            if (n > 0) return n;  // this line waits for the next call
            mioc_input_consume(&c->in, &line);
            return report(c, &p);
        }
        mioc_input_consume(&c->in, &line);
    }
    return n;
}

static int wait_stream(mio_client *c, mio_event *events, int n, int cap, int timeout_ms) {
    int64_t deadline_ms = timeout_ms > 0 ? mioc_now_ms() + timeout_ms : -1;
    for (;;) {
        n = take_buffered(c, events, n, cap);
        if (n != 0) return n;
        if (c->dead) return -c->dead;
        long got;
        if (timeout_ms < 0) {
            got = mioc_input_read(&c->in, c->sock, 0);
        } else {
            if (timeout_ms > 0) {
                struct pollfd p = {.fd = c->sock, .events = POLLIN};
                int r = poll(&p, 1, mioc_remaining_ms(deadline_ms));
                if (r == 0) return 0;
                if (r < 0) return -errno;
            }
            got = mioc_input_read(&c->in, c->sock, MSG_DONTWAIT);
            if (got == -EAGAIN) {
                if (timeout_ms == 0 || mioc_remaining_ms(deadline_ms) == 0) return 0;
                continue;
            }
        }
        if (got == -EINTR) return -EINTR;
        if (got < 0) return mioc_kill(c, (int)-got);
        // A partial line: receive again, within the same deadline.
        if (timeout_ms == 0 && !mioc_input_has_line(&c->in)) return 0;
    }
}

/* Waits up to timeout_ms for the doorbell or the socket (0: just looks),
 * then clears the doorbell, disarms the sleeping flag and reads the socket
 * once. Returns how many of the two were ready (0: timed out) or a
 * negative errno. */
static int service_fds(mio_client *c, int timeout_ms) {
    struct mioc_ring *r = &c->ring;
    bool doorbell = false, sock = false;
    int got;
    if (r->refill_owed) {
        // The refill newline did not fit in the socket: wait for room too.
        struct pollfd p[2] = {{.fd = c->sock, .events = POLLIN | POLLOUT}, {.fd = r->doorbell, .events = POLLIN}};
        got = poll(p, 2, timeout_ms);
        sock = got > 0 && (p[0].revents & ~POLLOUT);
        doorbell = got > 0 && (p[1].revents & POLLIN);
    } else {
        struct epoll_event ev[2];
        got = epoll_wait(c->epoll_fd, ev, 2, timeout_ms);
        for (int i = 0; i < got; i++) {
            if (ev[i].data.u64 == MIOC_EPOLL_KEY_DOORBELL)
                doorbell = true;
            else
                sock = true;
        }
    }
    int err = got < 0 ? errno : 0;
    if (doorbell) mioc_ring_clear_doorbell(r);
    mioc_ring_disarm(r);
    if (got < 0) return -err;
    if (sock) {
        long n = mioc_input_read(&c->in, c->sock, MSG_DONTWAIT);
        if (n < 0 && n != -EAGAIN && n != -EINTR) return mioc_kill(c, (int)-n);
    }
    return got;
}

static int wait_ring(mio_client *c, mio_event *events, int n, int cap, int timeout_ms) {
    struct mioc_ring *r = &c->ring;
    // Armed by the last wait(..., 0) or mio_client_pending(): while we work,
    // the daemon need not ring. A foreign loop was probably woken by the
    // doorbell then: a timeout-0 wait clears it, or the loop would wake again.
    bool was_armed = mioc_ring_armed(r);
    if (was_armed) mioc_ring_disarm(r);
    int64_t deadline_ms = timeout_ms > 0 ? mioc_now_ms() + timeout_ms : -1;
    bool looked = false, timed_out = false;
    for (;;) {
        if (!mioc_ring_active(r)) return wait_stream(c, events, n, cap, timeout_ms);  // session_taken
        n += (int)mioc_ring_take(r, events + n, (size_t)(cap - n));
        if (r->corrupt) {
            mioc_kill(c, EBADMSG);
            return n > 0 ? n : -c->dead;
        }
        int e = mioc_send_refill(c);
        if (e < 0) return n > 0 ? n : e;
        n = take_buffered(c, events, n, cap);
        if (n < 0 || n == cap) return n;
        if (c->dead) return n > 0 ? n : -c->dead;
        if (timed_out) return n;
        if (timeout_ms == 0) {
            if ((n == 0 || was_armed) && !looked) {
                looked = true;
                int got = service_fds(c, 0);
                if (got < 0) return got;
                continue;
            }
            // Fewer than asked for: the caller may poll next, so the
            // daemon must ring. Work that came meanwhile is taken first.
            if (mioc_ring_arm(r)) return n;
            continue;
        }
        if (n > 0) return n;
        if (!mioc_ring_arm(r)) continue;
        int got = service_fds(c, mioc_remaining_ms(deadline_ms));
        if (got < 0) return got;
        if (got == 0) timed_out = true;  // one last look at the ring, then 0
    }
}

int mio_client_wait(mio_client *c, mio_event *events, size_t capacity, int timeout_ms) {
    if (!c || !events || capacity == 0) return -EINVAL;
    int cap = capacity > INT_MAX ? INT_MAX : (int)capacity;
    int n = 0;
    if (!mioc_queue_empty(&c->queue)) {
        uint32_t notice;
        n = (int)mioc_queue_pop(&c->queue, events, (size_t)cap, &notice);
        if (notice) {
            struct mioc_parsed_line p = {.kind = MIOC_LINE_SESSION_TAKEN};
            return report(c, &p);
        }
        if (n == cap || !mioc_queue_empty(&c->queue)) return n;
    }
    if (mioc_ring_active(&c->ring)) return wait_ring(c, events, n, cap, timeout_ms);
    return wait_stream(c, events, n, cap, timeout_ms);
}
