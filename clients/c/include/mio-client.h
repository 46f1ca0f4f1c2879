/*
 * mio-client.h - C client library for mio-daemon (libmio-client)
 *
 * SYNOPSIS
 *     #include <mio-client.h>
 *     cc prog.c $(pkg-config --cflags --libs mio-client)
 *
 * DESCRIPTION
 *     mio-daemon holds a mio-style epoll instance for its clients and serves
 *     it over a Unix socket (docs/protocol.md). This library speaks that
 *     protocol: you hand the daemon file descriptors under 64-bit tokens and
 *     receive readiness events for them, as with Rust's mio::Poll.
 *
 *     Registrations are edge-triggered, as in mio: after an event, read (or
 *     write) the fd until EAGAIN before waiting again.
 *
 *         mio_client *c;
 *         int r = mio_client_connect(NULL, &c);          // the default socket
 *         if (r < 0) { fprintf(stderr, "%s\n", strerror(-r)); exit(1); }
 *         r = mio_client_register(c, pipe_read_end, 7, MIO_INTEREST_READABLE, 0);
 *         mio_event ev[16];
 *         int n = mio_client_wait(c, ev, 16, 5000);      // up to 5 s
 *         for (int i = 0; i < n; i++)
 *             if (ev[i].token == 7 && (ev[i].flags & MIO_EVENT_READABLE)) drain(pipe_read_end);
 *         mio_client_close(c);
 *
 * RETURN VALUES
 *     Every function returning int returns 0 (or a count) on success and a
 *     negative errno value on failure; errno itself is not set. The ones
 *     callers meet most often:
 *
 *     -EPROTO        the daemon refused the request; mio_client_error_code()
 *                    and mio_client_error_message() say why (e.g.
 *                    "unknown_token"). The connection stays usable.
 *     -ETIMEDOUT     no reply within the request timeout
 *                    (mio_client_set_timeout, default 10 s). The request may
 *                    still take effect; its late reply is discarded. The
 *                    connection stays usable.
 *     -EINVAL        a bad argument (NULL client, no interest bits, ...);
 *                    nothing was sent.
 *     -EBADF         a negative fd (register, store), or the kernel refused to pass it.
 *     -EINTR         mio_client_wait only: a signal arrived before any event.
 *                    Call it again.
 *     -ECONNABORTED  mio_client_wait only: another connection took the session
 *                    over (hello with takeover; protocol notice
 *                    "session_taken"). The connection carries on in a fresh
 *                    anonymous session without the old registrations.
 *     -ESHUTDOWN     the daemon is stopping (notice "shutdown"), -ECONNRESET
 *                    the daemon closed the connection, -EIO a request line
 *                    was only partly sent before its timeout, -EMSGSIZE the
 *                    daemon sent a line longer than 16 MiB. After any of these
 *                    the connection is dead: every later call returns the
 *                    same value. Close it. (A request that finds the
 *                    connection closed returns -EPROTO instead when the
 *                    daemon said why first, e.g. "permission_denied".)
 *     -ENOMEM, and the errno of a failed socket()/connect()/sendmsg()/
 *                    recvmsg() (e.g. -ENOENT, -ECONNREFUSED, -EACCES from
 *                    mio_client_connect when no daemon listens).
 *
 * BLOCKING
 *     No function blocks for ever except mio_client_wait with a negative
 *     timeout (and requests after mio_client_set_timeout(c, -1)). Connecting
 *     waits at most MIO_CLIENT_DEFAULT_TIMEOUT_MS, each request at most the
 *     request timeout.
 *
 * EVENTS AND REQUESTS
 *     Events that arrive while a request waits for its reply are kept, in
 *     order, and returned by the next mio_client_wait calls. Events of a
 *     token kept that way are dropped when that token is deregistered
 *     (mio_client_deregister, or mio_client_fetch with deregister), so no
 *     event of a token is returned after the call that removed it.
 *
 * RING DELIVERY
 *     After mio_client_enable_ring (or mio_client_hello_ring) the daemon
 *     puts events into a ring in shared memory instead of sending event
 *     lines (docs/protocol.md, "Ring delivery"): no formatting, copying or
 *     parsing per event, and no syscall while events keep coming.
 *     mio_client_wait reads the ring transparently; everything else works
 *     as before. The library follows the ring's sleep protocol, so
 *     mio_client_wait(..., -1) sleeps only once the daemon has been told to
 *     ring the doorbell; it asks the daemon to refill a ring that
 *     overflowed, so no readiness is lost however small the ring; and it
 *     drops the records of a token once deregister (or fetch with
 *     deregister) has returned, so the promise of EVENTS AND REQUESTS holds.
 *     When another connection takes the session over (-ECONNABORTED), the
 *     ring's unread records are dropped with it and the connection is back
 *     in stream delivery.
 *
 * FOREIGN EVENT LOOPS
 *     Poll mio_client_fd() for POLLIN in your own loop (in ring delivery:
 *     mio_client_ring_fd() instead), then call
 *     mio_client_wait(c, events, capacity, 0). Events this library has
 *     already read off the socket (or not yet taken from the ring) do not
 *     make the fd readable: after any request call, or when mio_client_wait
 *     filled all of capacity, call mio_client_wait(..., 0) until it returns
 *     fewer than capacity (or ask mio_client_pending()) before polling the
 *     fd again. In ring delivery those two calls also arm the doorbell when
 *     they find nothing more, which is what makes the fd readable at the
 *     next event; the next mio_client_wait disarms it.
 *
 * THREAD SAFETY
 *     A mio_client is not thread-safe: use each one from one thread at a time
 *     (or guard it with your own lock). Separate clients in separate threads
 *     are independent; the library keeps no global state.
 *
 * FILE DESCRIPTORS
 *     mio_client_register sends the request line and its one fd in one
 *     sendmsg(2) (SCM_RIGHTS). The daemon keeps its own copy of the fd: close
 *     yours when you no longer need it; the registration lasts until
 *     deregister, fetch with deregister, or the end of the (non-persistent)
 *     session. mio_client_store sends its fd the same way. Descriptors this
 *     library creates or receives are close-on-exec.
 *
 * SEE ALSO
 *     mio-client(3), docs/protocol.md of mio-daemon.
 */
#ifndef MIO_CLIENT_H
#define MIO_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A connection to mio-daemon. */
typedef struct mio_client mio_client;

/* One readiness event: the token you registered and MIO_EVENT_* bits. */
typedef struct {
    uint64_t token;
    uint32_t flags;
} mio_event;

/* Interest bits (register, reregister). */
#define MIO_INTEREST_READABLE 1u
#define MIO_INTEREST_WRITABLE 2u
#define MIO_INTEREST_PRIORITY 4u

/* Event flags, with mio's meaning on Linux
 * (docs/protocol.md, "From epoll bits to flags"). Priority
 * readiness also sets MIO_EVENT_READABLE, as in mio. */
#define MIO_EVENT_READABLE 1u
#define MIO_EVENT_WRITABLE 2u
#define MIO_EVENT_ERROR 4u
#define MIO_EVENT_READ_CLOSED 8u
#define MIO_EVENT_WRITE_CLOSED 16u
#define MIO_EVENT_PRIORITY 32u

/* The request timeout a new client starts with. */
#define MIO_CLIENT_DEFAULT_TIMEOUT_MS 10000

/*
 * mio_client_connect - connect to the daemon.
 *     socket_path NULL: the default lookup (docs/protocol.md,
 *     "Socket path"), the first that applies: $MIO_SOCKET if set and not
 *     empty; /run/mio-daemon/mio.sock if the caller is root (uid 0);
 *     $XDG_RUNTIME_DIR/mio-daemon/mio.sock if XDG_RUNTIME_DIR is set and not
 *     empty; /tmp/mio-daemon-$UID/mio.sock.
 *     On success *out is the new client (release it with mio_client_close);
 *     on failure *out is NULL. The connection starts in an anonymous session.
 *     Errors: -EINVAL (out NULL, or an empty path), -ENAMETOOLONG, -ETIMEDOUT
 *     (the daemon's listen queue stayed full), connect(2)'s errno.
 */
int mio_client_connect(const char *socket_path, mio_client **out);

/*
 * mio_client_default_socket_path - the path mio_client_connect(NULL, ...)
 *     would use, written with its NUL into buf. Returns its length, or
 *     -ERANGE if it does not fit in size bytes, -EINVAL if buf is NULL.
 */
int mio_client_default_socket_path(char *buf, size_t size);

/*
 * mio_client_hello - choose the session this connection speaks for.
 *     session NULL: an anonymous session (the default). persist nonzero: the
 *     named session and its fds outlive the connection (needs a session
 *     name). Allowed until the first successful register or waker on the
 *     connection; afterwards the daemon refuses it (-EPROTO, "wrong_state").
 *     Events are streamed (delivery "stream").
 */
int mio_client_hello(mio_client *c, const char *session, int persist);

/*
 * mio_client_hello_ring - mio_client_hello with ring delivery
 *     (docs/protocol.md, "Ring delivery"): events come through a ring of
 *     entries records in memory shared with the daemon (a power of two from
 *     64 to 65536; 0: the daemon's default, 4096), replies and notices stay
 *     on the socket. The reply brings the ring's memfd and its doorbell (a
 *     pipe's read end); the library checks the ring's header and size
 *     against the document and maps it. A smaller ring than the bursts you expect costs
 *     refill round trips, never events. Same rules as mio_client_hello:
 *     before the first register or waker. Calling it (or mio_client_hello)
 *     again replaces the ring: the old one's unread events are kept for
 *     mio_client_wait. Holds two descriptors more while the ring is on (the
 *     doorbell and an epoll fd; the memfd is closed once mapped).
 *     Errors: -EPROTO "bad_request" (entries not allowed) and the other
 *     refusals of mio_client_hello; -EBADMSG, -ENOTSUP, -EMFILE, -ENOMEM:
 *     the daemon switched to the ring but it cannot be read (a bad header
 *     or size, no room for a descriptor): the connection is dead then.
 */
int mio_client_hello_ring(mio_client *c, const char *session, int persist, size_t entries);

/*
 * mio_client_enable_ring - switch this connection to ring delivery and
 *     keep its session: mio_client_hello_ring with the session of the last
 *     successful mio_client_hello (anonymous if none, or after a
 *     takeover), persist unchanged (the daemon keeps a session persistent
 *     once it is). So either call it alone, or after mio_client_hello; in
 *     both cases before the first register or waker.
 */
int mio_client_enable_ring(mio_client *c, size_t entries);

/* The longest lease mio_client_hello_lease takes: 2^31-1 seconds. */
#define MIO_CLIENT_MAX_LEASE_S 2147483647u

/*
 * mio_client_hello_lease - mio_client_hello(c, session, 1) with a lease
 *     (docs/protocol.md, "Leases"): once no connection has been attached
 *     to the session for lease_s seconds, the daemon ends it as by `end`
 *     (every registration removed, every fd closed). Attaching stops the
 *     countdown, detaching starts it again from the whole lease. lease_s
 *     1 to MIO_CLIENT_MAX_LEASE_S sets the lease (replacing one the
 *     session has); 0 removes it (the session stays persistent, for
 *     ever). mio_client_hello, mio_client_hello_ring and
 *     mio_client_enable_ring leave a session's lease as it is: for ring
 *     delivery with a lease, call mio_client_enable_ring after this.
 *     Same rules as mio_client_hello otherwise.
 *     Errors: -EINVAL (lease_s above MIO_CLIENT_MAX_LEASE_S; nothing sent),
 *     -EPROTO "bad_request" (session NULL: only a named session can be
 *     persistent) and the other refusals of mio_client_hello.
 */
int mio_client_hello_lease(mio_client *c, const char *session, unsigned lease_s);

/*
 * mio_client_register - hand the daemon fd under token.
 *     interest: MIO_INTEREST_* bits (at least one, no others: else -EINVAL).
 *     oneshot nonzero: one event, then silence until mio_client_reregister.
 *     If fd is already ready, an event follows without new activity.
 */
int mio_client_register(mio_client *c, int fd, uint64_t token, unsigned interest, int oneshot);

/* mio_client_reregister - change interest and mode of token, and re-arm it. */
int mio_client_reregister(mio_client *c, uint64_t token, unsigned interest, int oneshot);

/* mio_client_deregister - stop watching token; the daemon closes its copy.
 *     Also removes a waker, a timer or a held fd (mio_client_store).
 *     No event of token is returned after this call succeeds. */
int mio_client_deregister(mio_client *c, uint64_t token);

/* mio_client_waker - make a waker (an eventfd of the daemon's) under token,
 *     like mio::Waker: mio_client_wake makes it report a readable event. */
int mio_client_waker(mio_client *c, uint64_t token);

/* mio_client_wake - fire the waker token of this connection's session.
 *     Wakes before the event is delivered coalesce into one event. */
int mio_client_wake(mio_client *c, uint64_t token);

/*
 * mio_client_fetch - get the fd held under token back.
 *     On success *fd_out is a new descriptor (close-on-exec) that the caller
 *     owns. deregister zero: the daemon keeps watching its copy;
 *     nonzero: the registration ends and the daemon's own copy is sent.
 *     Works for held fds (mio_client_store) too. Wakers and timers hold no
 *     fd: -EPROTO ("bad_request").
 */
int mio_client_fetch(mio_client *c, uint64_t token, int deregister, int *fd_out);

/*
 * mio_client_store - hand the daemon fd to hold under token, never polled
 *     (docs/protocol.md, "Holding without polling"): any kind of fd, a
 *     memfd with state, a regular file, a directory, an O_PATH fd, a
 *     socket. It sends no events. mio_client_fetch hands it back (a memfd
 *     with its content), mio_client_deregister closes the daemon's copy; a
 *     persistent session keeps it like a registration. Sent as register's
 *     fd is, in the same sendmsg(2). Close yours when you like.
 *     Errors: -EBADF (fd negative, or the kernel refused to pass it);
 *     -EPROTO "token_in_use", "limit_exceeded", "bad_fd" (the daemon's own
 *     socket or a connection to it). mio_client_reregister of a held fd is
 *     refused with "wrong_state".
 */
int mio_client_store(mio_client *c, int fd, uint64_t token);

/* The longest after_ms and interval_ms of mio_client_timer: 2^53-1 ms. */
#define MIO_CLIENT_MAX_TIMER_MS ((UINT64_C(1) << 53) - 1)

/*
 * mio_client_timer - a timer of the daemon's under token (docs/protocol.md,
 *     "Timers"): a readable event for token after_ms milliseconds from now
 *     (0: at once), then every interval_ms (0: once only). Expiries that
 *     pile up while nobody reads coalesce into one event, like any
 *     readiness. On a token that is a timer already, sets that timer anew.
 *     mio_client_deregister removes it (no event of it is returned after);
 *     the clock is CLOCK_MONOTONIC. No fd changes hands.
 *     Errors: -EINVAL (after_ms or interval_ms above
 *     MIO_CLIENT_MAX_TIMER_MS; nothing sent); -EPROTO "token_in_use" (the
 *     token is a registration, waker or held fd), "limit_exceeded".
 *     A timer's mio_client_fetch is refused with "bad_request",
 *     mio_client_reregister with "wrong_state", mio_client_wake with
 *     "unknown_token".
 */
int mio_client_timer(mio_client *c, uint64_t token, uint64_t after_ms, uint64_t interval_ms);

/*
 * mio_client_wait - wait for events.
 *     Fills up to capacity entries of events and returns how many; 0 when
 *     timeout_ms passed without an event. timeout_ms 0: return at once;
 *     -1 (any negative value): wait for ever. Returns as soon as at least one
 *     event is there: it reads the socket at most once per call when events
 *     are already buffered, and never waits for capacity to fill.
 *     Errors: -EINVAL (events NULL, capacity 0), -EINTR, -ECONNABORTED,
 *     -EPROTO (the daemon sent an error that answers no request, e.g.
 *     "permission_denied" right after connect), -EBADMSG (ring delivery:
 *     the daemon's position ran more than a ring ahead; the connection is
 *     dead), and the dead-connection errors of RETURN VALUES.
 *     In ring delivery, no allocation and no syscall while records are
 *     there; with timeout_ms 0 it never blocks.
 */
int mio_client_wait(mio_client *c, mio_event *events, size_t capacity, int timeout_ms);

/* mio_client_pending - 1 if mio_client_wait(..., 0) has lines or events to
 *     look at without reading the socket (in ring delivery: records in the
 *     ring too), 0 if not, -EINVAL for NULL. In ring delivery a 0 also arms
 *     the doorbell, as a foreign loop needs before it polls
 *     (FOREIGN EVENT LOOPS). */
int mio_client_pending(const mio_client *c);

/* mio_client_fd - the connection's socket, for a foreign loop in stream
 *     delivery: poll it for POLLIN, then mio_client_wait(..., 0). Do not
 *     read or write it. */
int mio_client_fd(const mio_client *c);

/*
 * mio_client_ring_fd - the fd a foreign loop polls for POLLIN in ring
 *     delivery: an epoll fd (close-on-exec) of the library's that watches
 *     the socket and the ring's doorbell, so it is readable when either
 *     has something. Made by the first mio_client_enable_ring or
 *     mio_client_hello_ring and the same until mio_client_close, whatever
 *     the delivery later is (it always watches the socket). Before any
 *     ring: the socket, as mio_client_fd. Do not read, epoll_wait on or
 *     change it; -EINVAL for NULL.
 */
int mio_client_ring_fd(const mio_client *c);

/*
 * mio_client_set_timeout - how long each later request waits for its reply
 *     (and for room to send), in milliseconds; -1: for ever. A new client
 *     has MIO_CLIENT_DEFAULT_TIMEOUT_MS, which is also the most
 *     mio_client_connect waits. Returns 0, or -EINVAL (c NULL, or below -1).
 */
int mio_client_set_timeout(mio_client *c, int timeout_ms);

/*
 * mio_client_error_code - the protocol's error code (e.g. "unknown_token",
 *     "not_pollable", "session_busy") when the last request call returned
 *     -EPROTO, or the notice behind the last -ECONNABORTED
 *     ("session_taken") / -ESHUTDOWN ("shutdown") of mio_client_wait;
 *     NULL when the last request succeeded or failed on this side. Each
 *     request call clears it. Valid until the next call on c.
 */
const char *mio_client_error_code(const mio_client *c);

/* mio_client_error_message - the daemon's text for that error (meant for
 *     people; it may change between versions), or NULL with the code. */
const char *mio_client_error_message(const mio_client *c);

/* mio_client_close - close the connection and free c (NULL: nothing).
 *     A non-persistent session ends with it: the daemon closes its fds. */
void mio_client_close(mio_client *c);

#ifdef __cplusplus
}
#endif

#endif /* MIO_CLIENT_H */
