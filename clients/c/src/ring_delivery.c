/* A client in ring delivery: the ring a hello reply brought attached (and
 * watched, with the socket, by the client's epoll fd), let go of again, and
 * the newline that asks the daemon to refill it (docs/protocol.md, "Ring
 * delivery"). The ring's own protocol is in ring.c. */
#include "internal.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int watch(int epoll_fd, int fd, uint64_t key, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.u64 = key};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

int mioc_attach_ring(mio_client *c, int memfd, int doorbell, uint64_t want_entries) {
    if (c->epoll_fd < 0) {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        int r = ep < 0 ? -errno : watch(ep, c->sock, MIOC_EPOLL_KEY_SOCKET, EPOLLIN);
        if (r < 0) {
            if (ep >= 0) close(ep);
            close(memfd);
            close(doorbell);
            return r;
        }
        c->epoll_fd = ep;
    }
    int r = mioc_ring_open(&c->ring, memfd, doorbell, want_entries);
    if (r < 0) return r;
    // An eventfd edge-triggered: each ring is an edge, and no read(2) per
    // wake-up is needed to quiet it (mioc_ring_clear_doorbell).
    r = watch(c->epoll_fd, doorbell, MIOC_EPOLL_KEY_DOORBELL, c->ring.doorbell_is_pipe ? EPOLLIN : EPOLLIN | EPOLLET);
    if (r < 0) mioc_ring_close(&c->ring);
    return r;
}

int mioc_detach_ring(mio_client *c, bool keep_records) {
    if (!mioc_ring_active(&c->ring)) return 0;
    int r = 0;
    if (keep_records) {
        mio_event batch[64];
        size_t n;
        while ((n = mioc_ring_take(&c->ring, batch, 64)) > 0)
            for (size_t i = 0; i < n && r == 0; i++) r = mioc_queue_push(&c->queue, batch[i].token, batch[i].flags);
    }
    // The daemon may still hold the doorbell a while: our epoll would keep
    // watching it after our close.
    epoll_ctl(c->epoll_fd, EPOLL_CTL_DEL, c->ring.doorbell, NULL);
    mioc_ring_close(&c->ring);
    return r;
}

int mioc_send_refill(mio_client *c) {
    if (!c->ring.refill_owed) return 0;
    ssize_t n;
    do {
        n = send(c->sock, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n == 1) {
        c->ring.refill_owed = false;
        return 0;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;  // still owed: the wait polls for room
    c->ring.refill_owed = false;
    // A closed connection: reading the socket tells why (a shutdown notice first).
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return 0;
    return mioc_kill(c, n < 0 ? errno : EIO);
}
