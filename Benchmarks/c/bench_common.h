// Helpers shared by the C programs of `make bench` (header-only, so the
// Makefile's one-file rule `gcc -O2 -Wall -o bin/NAME c/NAME.c -lpthread`
// still builds each program).
#ifndef MIO_BENCH_COMMON_H
#define MIO_BENCH_COMMON_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static inline void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(1);
}

static inline void fail(const char *fmt, const char *detail) {
    fprintf(stderr, fmt, detail);
    fputc('\n', stderr);
    exit(1);
}

static inline uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// 4096 pipes are 8192 fds: raise the soft limit to the hard one.
static inline void raise_nofile(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &r) != 0) die("setrlimit(RLIMIT_NOFILE)");
    }
}

static inline void unix_address(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path) fail("socket path too long: %s", path);
    strcpy(a->sun_path, path);
}

static inline int connect_unix(const char *path) {
    struct sockaddr_un a;
    unix_address(&a, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) die(path);
    return s;
}

static inline int listen_unix(const char *path) {
    struct sockaddr_un a;
    unix_address(&a, path);
    unlink(path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) die(path);
    if (listen(s, 64) != 0) die("listen");
    return s;
}

static inline void write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        p += n;
        len -= (size_t)n;
    }
}

// One request line and (if fd >= 0) its one fd, in a sendmsg() of their own
// (protocol §2).
static inline void send_line_fd(int sock, const char *line, size_t len, int fd) {
    struct iovec iov = {.iov_base = (void *)line, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) die("sendmsg");
    if ((size_t)n < len) write_all(sock, line + n, len - (size_t)n);
}

// Reads a pipe until EAGAIN (the pipe is O_NONBLOCK).
static inline void drain(int fd) {
    char buf[256];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) die("read(pipe)");
        return;
    }
}

// ---- lines from a stream socket; a line may arrive split over reads ----

typedef struct {
    int fd;
    char *buf;
    size_t cap, start, end;
} reader_t;

static inline void reader_init(reader_t *r, int fd, size_t cap) {
    r->fd = fd;
    r->cap = cap;
    r->start = r->end = 0;
    r->buf = malloc(cap);
    if (!r->buf) die("malloc");
}

// Whether a complete line is already buffered (no read needed).
static inline int reader_has_line(const reader_t *r) {
    return memchr(r->buf + r->start, '\n', r->end - r->start) != NULL;
}

// The next line, NUL-terminated in place of its '\n' (valid until the next
// call); NULL at end of stream. Blocks in read() when no full line is buffered.
static inline char *reader_line(reader_t *r, size_t *len_out) {
    size_t scanned = r->start;
    for (;;) {
        char *nl = memchr(r->buf + scanned, '\n', r->end - scanned);
        if (nl) {
            char *line = r->buf + r->start;
            *nl = 0;
            if (len_out) *len_out = (size_t)(nl - line);
            r->start = (size_t)(nl - r->buf) + 1;
            return line;
        }
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        scanned = r->end;
        if (r->end == r->cap) {
            r->cap *= 2;
            r->buf = realloc(r->buf, r->cap);
            if (!r->buf) die("realloc");
        }
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n > 0) {
            r->end += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            if (n < 0) die("read(socket)");
            return NULL;
        }
    }
}

// ---- minimal JSON field lookup: enough for the daemon's lines ----

static inline const char *json_field(const char *line, const char *key) {
    // key is given with its quotes: "\"token\""
    size_t klen = strlen(key);
    for (const char *p = strstr(line, key); p; p = strstr(p + 1, key)) {
        const char *q = p + klen;
        while (*q == ' ' || *q == '\t') q++;
        if (*q != ':') continue;
        q++;
        while (*q == ' ' || *q == '\t') q++;
        return q;
    }
    return NULL;
}

static inline int is_event_line(const char *line) {
    return json_field(line, "\"event\"") != NULL;
}

static inline int line_token(const char *line, uint64_t *token) {
    const char *v = json_field(line, "\"token\"");
    if (!v || *v < '0' || *v > '9') return 0;
    *token = strtoull(v, NULL, 10);
    return 1;
}

static inline int line_ok(const char *line) {
    const char *v = json_field(line, "\"ok\"");
    return v && strncmp(v, "true", 4) == 0;
}

// ---- /proc ----

// A "Name:   value" field of /proc/PID/status (or /proc/PID/task/TID/status).
static inline long proc_status_field(const char *status_path, const char *name) {
    FILE *f = fopen(status_path, "r");
    if (!f) return -1;
    char line[256];
    size_t nlen = strlen(name);
    long value = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, nlen) == 0 && line[nlen] == ':') {
            value = strtol(line + nlen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return value;
}

static inline long rss_kb(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    long v = proc_status_field(path, "VmRSS");
    if (v < 0) fail("cannot read VmRSS of %s", path);
    return v;
}

// Summed over every thread of the process (/proc/PID/status alone counts
// only the main thread).
static inline long ctxt_switches(pid_t pid, const char *name, int *threads) {
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d) fail("cannot open %s", dir);
    long sum = 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s/status", dir, e->d_name);
        long v = proc_status_field(path, name);
        if (v >= 0) {
            sum += v;
            n++;
        }
    }
    closedir(d);
    if (threads) *threads = n;
    return sum;
}

static inline int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// ---- the fanout's pipes, and its C floor (fanout_baseline.c; the paired
// rounds of libmio_client_fanout.c) ----

#include <sys/epoll.h>

typedef struct {
    int n;
    int *rd, *wr;
    int *seen_in;  // per pipe: the round it was last seen in
} fanout_pipes;

static inline void fanout_pipes_make(fanout_pipes *p, int n) {
    p->n = n;
    p->rd = calloc((size_t)n, sizeof(int));
    p->wr = calloc((size_t)n, sizeof(int));
    p->seen_in = calloc((size_t)n, sizeof(int));
    if (!p->rd || !p->wr || !p->seen_in) die("calloc");
    for (int i = 0; i < n; i++) {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2");
        p->rd[i] = fds[0];
        p->wr[i] = fds[1];
        p->seen_in[i] = -1000;
    }
}

static inline void fanout_pipes_write(const fanout_pipes *p) {
    const char byte = 'x';
    for (int i = 0; i < p->n; i++) write_all(p->wr[i], &byte, 1);
}

// Pipe `i` was seen in round `r`: true (and the pipe drained) the first
// time; a second event of a token in one round is spurious.
static inline int fanout_pipes_see(fanout_pipes *p, int i, int r) {
    if (p->seen_in[i] == r) return 0;
    p->seen_in[i] = r;
    drain(p->rd[i]);
    return 1;
}

// The pipes' read ends in an epoll of the process's own, as the daemon
// registers them (EPOLLIN|EPOLLRDHUP|EPOLLET, the index as data).
static inline int fanout_epoll(const fanout_pipes *p) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < p->n; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, p->rd[i], &ev) != 0) die("epoll_ctl");
    }
    return ep;
}

// One round of the C floor: 1 byte to each pipe, then epoll_wait until
// every pipe was seen. Returns the events epoll_wait returned.
static inline long fanout_epoll_round(fanout_pipes *p, int ep, int r) {
    struct epoll_event events[1024];
    long raw = 0;
    fanout_pipes_write(p);
    int seen = 0;
    while (seen < p->n) {
        int got = epoll_wait(ep, events, 1024, -1);
        if (got < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        raw += got;
        for (int e = 0; e < got; e++) seen += fanout_pipes_see(p, (int)events[e].data.u64, r);
    }
    return raw;
}

#endif
