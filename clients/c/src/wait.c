/* mio_client_wait: the events kept by requests first, then buffered lines,
 * then one receive. This is the hot path of every event loop: no
 * allocation, no json-c for the daemon's own event lines, one read(2) per
 * call on the blocking socket when there is no timeout, poll(2) first only
 * when there is one. No control buffer: event lines carry no fds. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
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
