// The C floor for the relay benchmark: what mio-daemon does for one
// registered pipe, with nothing else. Serves connections one after another:
//
//   relay_baseline SOCK
//
// A client sends one request line with a pipe's read end by SCM_RIGHTS
// (exactly as it registers with mio-daemon); the server answers one line,
// puts the pipe in its epoll with EPOLLIN|EPOLLET, and per edge writes a
// fixed 64-byte record to the client. It never reads the pipe: the client
// drains it, as with the daemon. The record is an event line, so
// `daemon_client relay SOCK ROUNDS` is the client for both sides.
// Ends on SIGTERM.
#include "bench_common.h"

#include <sys/epoll.h>

#define RECORD_SIZE 64

static char record[RECORD_SIZE];

// Receives bytes and at most one fd; returns the byte count (0 at EOF).
static ssize_t recv_with_fd(int sock, char *buf, size_t cap, int *fd) {
    union {
        char buf[CMSG_SPACE(sizeof(int) * 253)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *fds = (int *)CMSG_DATA(c);
        for (int i = 0; i < count; i++) {
            if (*fd < 0) *fd = fds[i];
            else close(fds[i]);
        }
    }
    return n;
}

static void serve(int client) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, client, &ev) != 0) die("epoll_ctl(client)");
    int pipe_fd = -1;
    char buf[4096];
    struct epoll_event events[8];
    for (;;) {
        int n = epoll_wait(ep, events, 8, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.u64 == 1) {
                // An edge of the pipe: one fixed record to the client.
                if (send(client, record, RECORD_SIZE, MSG_NOSIGNAL) != RECORD_SIZE) {
                    if (pipe_fd >= 0) close(pipe_fd);  // gone (or, never seen, a short send)
                    close(ep);
                    return;
                }
                continue;
            }
            int fd = -1;
            ssize_t got = recv_with_fd(client, buf, sizeof buf, &fd);
            if (got <= 0) {  // the client went away
                if (fd >= 0) close(fd);
                if (pipe_fd >= 0) close(pipe_fd);
                close(ep);
                return;
            }
            if (fd < 0) continue;  // a line without an fd: nothing to do
            if (pipe_fd >= 0) close(pipe_fd);
            pipe_fd = fd;
            struct epoll_event pe = {.events = EPOLLIN | EPOLLET, .data.u64 = 1};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, pipe_fd, &pe) != 0) die("epoll_ctl(pipe)");
            static const char reply[] = "{\"id\":1,\"ok\":true,\"token\":1}\n";
            write_all(client, reply, sizeof reply - 1);
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: relay_baseline SOCK\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static const char line[] = "{\"event\":\"ready\",\"token\":1,\"readable\":true}";
    memset(record, ' ', RECORD_SIZE);
    memcpy(record, line, sizeof line - 1);
    record[RECORD_SIZE - 1] = '\n';
    int listener = listen_unix(argv[1]);
    for (;;) {
        int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) {
            if (errno == EINTR) continue;
            die("accept4");
        }
        serve(client);
        close(client);
    }
}
