// The C floor for the registration benchmark: a process that receives fds
// by SCM_RIGHTS and does epoll_ctl ADD and DEL for them, answering each
// request with a short line; nothing else. Serves connections one after
// another:
//
//   registration_baseline SOCK [same-syscalls]
//
// With `same-syscalls` it makes the syscalls the daemon must make for each
// request, and no more: it waits in epoll_wait (level-triggered) for the
// connection before each recvmsg, as an event loop serving many clients
// does, and fstat()s each fd it is given before epoll_ctl (the daemon tells
// what kind of fd it holds). Without it: blocking recvmsg and no fstat, the
// kernel's bare floor.
//
// It reads the same lines a client sends mio-daemon (so
// `daemon_client registration SOCK COUNT` is the client for both sides):
//   {"op":"register","token":N,...} + 1 fd  -> epoll_ctl ADD, {"id":N,"ok":true,"token":N}
//   {"op":"deregister","token":N,...}       -> epoll_ctl DEL, close, same reply
//   anything else                           -> {"ok":true}
// Ends on SIGTERM.
#include "bench_common.h"

#include <sys/epoll.h>

#include <sys/stat.h>

static int same_syscalls;
static int *held;  // token -> fd
static size_t held_cap;

static void hold(uint64_t token, int fd) {
    if (token >= held_cap) {
        size_t cap = held_cap ? held_cap : 1024;
        while (cap <= token) cap *= 2;
        held = realloc(held, cap * sizeof *held);
        if (!held) die("realloc");
        for (size_t i = held_cap; i < cap; i++) held[i] = -1;
        held_cap = cap;
    }
    held[token] = fd;
}

static int reply(int client, const char *line, size_t len) {
    return send(client, line, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

// Handles one request line; fd is the fd that came with it, or -1.
static int handle(int ep, int client, const char *line, int fd) {
    char out[128];
    uint64_t token = 0;
    int has_token = line_token(line, &token);
    const char *op = json_field(line, "\"op\"");
    int is_register = op && strncmp(op, "\"register\"", 10) == 0;
    int is_deregister = op && strncmp(op, "\"deregister\"", 12) == 0;
    if (is_register && has_token && fd >= 0 && token < (1u << 24)) {
        struct stat info;
        if (same_syscalls && (fstat(fd, &info) != 0 || !S_ISFIFO(info.st_mode))) die("fstat: not a pipe");
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = token};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl(ADD)");
        if (token < held_cap && held[token] >= 0) close(held[token]);
        hold(token, fd);
        int n = snprintf(out, sizeof out, "{\"id\":%llu,\"ok\":true,\"token\":%llu}\n", (unsigned long long)token,
                         (unsigned long long)token);
        return reply(client, out, (size_t)n);
    }
    if (fd >= 0) close(fd);
    if (is_deregister && has_token && token < held_cap && held[token] >= 0) {
        if (epoll_ctl(ep, EPOLL_CTL_DEL, held[token], NULL) != 0) die("epoll_ctl(DEL)");
        close(held[token]);
        held[token] = -1;
        int n = snprintf(out, sizeof out, "{\"id\":%llu,\"ok\":true,\"token\":%llu}\n", (unsigned long long)token,
                         (unsigned long long)token);
        return reply(client, out, (size_t)n);
    }
    static const char other[] = "{\"ok\":true}\n";
    static const char bad[] = "{\"ok\":false,\"error\":{\"code\":\"bad_request\",\"message\":\"baseline\"}}\n";
    if (is_register || is_deregister) return reply(client, bad, sizeof bad - 1);
    return reply(client, other, sizeof other - 1);
}

static void serve(int client) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    // The event loop's own epoll, watching only the connection.
    int loop = -1;
    if (same_syscalls) {
        loop = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
        if (loop < 0 || epoll_ctl(loop, EPOLL_CTL_ADD, client, &ev) != 0) die("epoll (loop)");
    }
    size_t cap = 64 * 1024, len = 0;
    int pending_fd = -1;
    char *buf = malloc(cap + 1);
    union {
        char buf[CMSG_SPACE(sizeof(int) * 253)];
        struct cmsghdr align;
    } control;
    for (;;) {
        struct iovec iov = {.iov_base = buf + len, .iov_len = cap - len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = sizeof control.buf};
        if (loop >= 0) {
            struct epoll_event ready;
            if (epoll_wait(loop, &ready, 1, -1) < 0 && errno != EINTR) die("epoll_wait");
        }
        ssize_t n = recvmsg(client, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        // A client sends each register alone in its sendmsg, with its one
        // fd: give the fd to the last complete line these bytes end, or keep
        // it for the line still incomplete.
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int *fds = (int *)CMSG_DATA(c);
            for (int i = 0; i < count; i++) {
                if (pending_fd < 0) pending_fd = fds[i];
                else close(fds[i]);
            }
        }
        len += (size_t)n;
        size_t begin = 0;
        for (;;) {
            char *nl = memchr(buf + begin, '\n', len - begin);
            if (!nl) break;
            *nl = 0;
            size_t next = (size_t)(nl - buf) + 1;
            int last = memchr(buf + next, '\n', len - next) == NULL;
            int line_fd = -1;
            if (last) {
                line_fd = pending_fd;
                pending_fd = -1;
            }
            if (handle(ep, client, buf + begin, line_fd) != 0) goto done;
            begin = next;
        }
        memmove(buf, buf + begin, len - begin);
        len -= begin;
        if (len == cap) len = 0;  // an overlong line: drop it
    }
done:
    if (pending_fd >= 0) close(pending_fd);
    for (size_t i = 0; i < held_cap; i++) {
        if (held[i] >= 0) {
            close(held[i]);
            held[i] = -1;
        }
    }
    free(buf);
    close(ep);
    if (loop >= 0) close(loop);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: registration_baseline SOCK [same-syscalls]\n");
        return 2;
    }
    same_syscalls = argc > 2 && strcmp(argv[2], "same-syscalls") == 0;
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
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
