/* What the parts of libmio-client share. Internal names start with mioc_
 * (the shared library exports only mio_client_*, see mio-client.map). */
#ifndef MIOC_INTERNAL_H
#define MIOC_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mio-client.h"

struct json_tokener;

/* ---- the receive buffer (input.c) ---- */

/* The most fds kept for one line. The daemon sends one, with a fetch reply;
 * any beyond this are closed on arrival. */
#define MIOC_LINE_FDS 8
/* Batches of fds waiting for their line to be read; more are closed. */
#define MIOC_FD_BATCHES 4
/* The control buffer takes the most one message can carry (SCM_MAX_FD), so
 * the kernel never truncates what we then could not close. */
#define MIOC_SCM_MAX_FD 253
/* A line the daemon sends longer than this kills the connection. */
#define MIOC_MAX_LINE (16u << 20)

/* The fds that came with one recvmsg(), for the line starting at line_start
 * (docs/protocol.md, "Receiving an fd (`fetch`)": the last line that
 * begins within those bytes). */
struct mioc_fd_batch {
    size_t line_start;
    int count;
    int fds[MIOC_LINE_FDS];
};

struct mioc_input {
    char *buf;
    size_t cap, start, end;
    size_t scanned;  /* buf[start, scanned) holds no '\n' */
    int batch_count;
    struct mioc_fd_batch batches[MIOC_FD_BATCHES];
};

/* One complete line in the buffer, without its '\n'. fds: the batch that
 * came with it, or NULL; set an entry to -1 to keep that fd. */
struct mioc_line {
    const char *text;
    size_t len;
    struct mioc_fd_batch *fds;
};

int mioc_input_init(struct mioc_input *in);
void mioc_input_free(struct mioc_input *in);
/* Whether a complete line is buffered; fills *line without consuming it. */
bool mioc_input_peek(struct mioc_input *in, struct mioc_line *line);
/* Consumes the line last peeked; closes its fds that nobody kept. */
void mioc_input_consume(struct mioc_input *in, const struct mioc_line *line);
bool mioc_input_has_line(const struct mioc_input *in);
/* One recvmsg() (MSG_CMSG_CLOEXEC | flags), fds kept for their line.
 * Returns the bytes read, or a negative errno: -EAGAIN (only with
 * MSG_DONTWAIT), -EINTR, -ECONNRESET at end of stream, -EMSGSIZE for a
 * line past MIOC_MAX_LINE, -ENOMEM. */
long mioc_input_receive(struct mioc_input *in, int sock, int flags);
/* The same without a control buffer: read(2), or recv(2) with flags. The
 * kernel closes any fds that come (only fetch replies carry one, and those
 * are read by mio_client_fetch with mioc_input_receive). */
long mioc_input_read(struct mioc_input *in, int sock, int flags);

/* ---- events kept while a request waits (event_queue.c) ---- */

/* A queue entry with this bit in flags is a notice, not an event. */
#define MIOC_NOTICE_SESSION_TAKEN 0x80000000u

struct mioc_event_queue {
    mio_event *items;
    size_t head, tail, cap;
};

int mioc_queue_init(struct mioc_event_queue *q);
void mioc_queue_free(struct mioc_event_queue *q);
int mioc_queue_push(struct mioc_event_queue *q, uint64_t token, uint32_t flags);
/* Moves events into out (up to capacity, stopping before a notice). Returns
 * how many; *notice is the notice at the head when none were moved, else 0. */
size_t mioc_queue_pop(struct mioc_event_queue *q, mio_event *out, size_t capacity, uint32_t *notice);
void mioc_queue_drop_token(struct mioc_event_queue *q, uint64_t token);
static inline bool mioc_queue_empty(const struct mioc_event_queue *q) { return q->head == q->tail; }

/* ---- what a line from the daemon says (lines.c) ---- */

enum mioc_line_kind {
    MIOC_LINE_EVENT,          /* token, flags */
    MIOC_LINE_SESSION_TAKEN,
    MIOC_LINE_SHUTDOWN,
    MIOC_LINE_OTHER_EVENT,    /* an event or notice this version does not know */
    MIOC_LINE_REPLY,          /* has_id/id, ok, code, message */
    MIOC_LINE_BAD,            /* not a JSON object, or none of the above */
};

struct mioc_parsed_line {
    enum mioc_line_kind kind;
    uint64_t token;
    uint32_t flags;
    bool has_id;     /* an unsigned integer id (ours are) */
    bool has_any_id; /* any id at all */
    uint64_t id;
    bool ok;
    char code[64];
    const char *message; /* points into message_buf */
    char message_buf[512];
    /* Ring delivery (docs/protocol.md, "Ring delivery"): the hello reply's
     * ring_entries, and the ring_head of deregister/fetch/end replies. */
    bool has_ring_entries, has_ring_head;
    uint64_t ring_entries, ring_head;
};

/* The daemon's own event line format, without json-c: true and *token,
 * *flags set, or false for anything else. */
bool mioc_fast_event_line(const char *text, size_t len, uint64_t *token, uint32_t *flags);
/* Any line: the fast path first, json-c for the rest. */
void mioc_parse_line(struct json_tokener *tok, const char *text, size_t len, struct mioc_parsed_line *out);

/* ---- the shared-memory event ring (ring.c) ---- */

/* A token removed by a reply that carried ring_head: its records at
 * positions below `before` are stale (docs/protocol.md, "Ring delivery"). */
struct mioc_stale_token {
    uint64_t token, before;
};

/* The consumer's side of one ring: the mapping and the doorbell.
 * map == NULL: no ring. */
struct mioc_ring {
    unsigned char *map;
    size_t map_len;
    int doorbell;
    bool doorbell_is_pipe;             /* else an eventfd */
    uint32_t entries;                  /* a power of two */
    const unsigned char *records;
    _Atomic uint64_t *head, *tail;     /* the producer's, the consumer's position */
    _Atomic uint32_t *overflow, *sleeping;
    uint64_t consumed;                 /* our tail, kept here: the shared copy is only published */
    bool refill_owed;                  /* a newline to send: the daemon has readiness that did not fit */
    bool corrupt;                      /* the producer broke the protocol (head more than a ring ahead) */
    struct mioc_stale_token *stale;
    size_t stale_count, stale_cap;
};

/* epoll data in the client's epoll fd. */
#define MIOC_EPOLL_KEY_SOCKET 0u
#define MIOC_EPOLL_KEY_DOORBELL 1u

/* Maps and checks the ring the hello reply brought (memfd and doorbell,
 * both taken over: closed on failure too; the memfd is closed once mapped).
 * want_entries: the size the reply announced (0: any valid one). */
int mioc_ring_open(struct mioc_ring *r, int memfd, int doorbell, uint64_t want_entries);
/* Unmaps and closes; r is then "no ring". */
void mioc_ring_close(struct mioc_ring *r);
static inline bool mioc_ring_active(const struct mioc_ring *r) { return r->map != NULL; }
/* Records from our position up to the producer's into out (up to capacity),
 * the stale ones skipped; publishes the new tail. Sets refill_owed when the
 * daemon flagged overflow. No allocation, no syscall. */
size_t mioc_ring_take(struct mioc_ring *r, mio_event *out, size_t capacity);
/* Whether records are unread or overflow is flagged. */
bool mioc_ring_has_work(const struct mioc_ring *r);
/* The sleeping flag: arm (store 1, full fence, look again: false if there is
 * work after all, and the flag is cleared) and disarm. */
bool mioc_ring_arm(const struct mioc_ring *r);
void mioc_ring_disarm(const struct mioc_ring *r);
bool mioc_ring_armed(const struct mioc_ring *r);
/* Clears the doorbell after epoll reported it (see ring.c for how). */
void mioc_ring_clear_doorbell(struct mioc_ring *r);
/* After a reply removed token at the producer's position ring_head
 * (has_ring_head false: the reply did not say), its unread records are
 * dropped. -ENOMEM if the stale list cannot grow. */
int mioc_ring_token_removed(struct mioc_ring *r, uint64_t token, bool has_ring_head, uint64_t ring_head);

/* ---- the default socket path (socket_path.c) ---- */

int mioc_default_socket_path(char *buf, size_t size);

/* ---- the client (client.c, requests.c, wait.c) ---- */

struct mio_client {
    int sock;
    int timeout_ms;     /* per request; -1: none */
    uint64_t next_id;
    int dead;           /* nonzero: the errno every call now returns */
    struct mioc_input in;
    struct mioc_event_queue queue;
    struct json_tokener *tokener;
    char *out;          /* the request line being built */
    size_t out_len, out_cap;
    bool has_error;
    char error_code[64];
    char error_message[512];
    /* The session of the last successful hello (empty: anonymous), which
     * mio_client_enable_ring keeps. */
    char session[65];
    struct mioc_ring ring;
    /* Created by the first ring, kept until close: watches the socket and
     * the doorbell of the ring in use (mio_client_ring_fd). -1: none yet. */
    int epoll_fd;
    /* The last matching reply's ring fields (see mioc_parsed_line). */
    bool reply_has_ring_head, reply_has_ring_entries;
    uint64_t reply_ring_head, reply_ring_entries;
};

void mioc_clear_error(mio_client *c);
/* Sends the newline that asks the daemon to refill the ring, if one is
 * owed (without blocking: an EAGAIN leaves it owed). */
int mioc_send_refill(mio_client *c);
/* Starts reading the ring a hello reply brought (memfd, doorbell). */
int mioc_attach_ring(mio_client *c, int memfd, int doorbell, uint64_t want_entries);
/* Lets go of the ring. keep_records: its unread records go to the event
 * queue first (a later hello changed the delivery: they are still events);
 * otherwise they are dropped (session_taken: they are the lost session's). */
int mioc_detach_ring(mio_client *c, bool keep_records);
void mioc_set_error(mio_client *c, const char *code, const char *message);
/* Marks the connection dead with errno err (the first reason sticks);
 * returns -c->dead. */
int mioc_kill(mio_client *c, int err);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t mioc_now_ms(void);
/* Time left until deadline_ms for poll(2): -1 for none (deadline < 0), else >= 0. */
int mioc_remaining_ms(int64_t deadline_ms);

#endif
