// _GNU_SOURCE for pipe2, accept4, struct ucred and MSG_CMSG_CLOEXEC.
#define _GNU_SOURCE
#include "CMioLinux.h"
#include <errno.h>
#include <string.h>

int cmio_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

int cmio_accept4(int sockfd, int flags) { return accept4(sockfd, NULL, NULL, flags); }

int cmio_epoll_create1(int flags) { return epoll_create1(flags); }

int cmio_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cmio_eventfd(unsigned int initval, int flags) { return eventfd(initval, flags); }

int cmio_peer_credentials(int sockfd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sockfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int cmio_peer_groups(int sockfd, gid_t *groups, int max) {
    socklen_t len = (socklen_t)(sizeof(gid_t) * (size_t)max);
    if (getsockopt(sockfd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0) return -1;
    return (int)(len / sizeof(gid_t));
}

ssize_t cmio_recv_with_fds(int sockfd, void *buf, size_t len, int flags,
                           int *fds, int *nfds, int *truncated) {
    // Room for the most fds one message can carry plus a credentials message,
    // so an honest client never sees MSG_CTRUNC.
    union {
        char buf[CMSG_SPACE(sizeof(int) * CMIO_SCM_MAX_FD) + CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    *nfds = 0;
    *truncated = 0;
    ssize_t n = recvmsg(sockfd, &msg, flags | MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*nfds < CMIO_SCM_MAX_FD) {
                fds[(*nfds)++] = fd;
            } else {
                close(fd);  // cannot happen with one message; never leak
                *truncated = 1;
            }
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) *truncated = 1;
    return n;
}

/// Room for one SCM_RIGHTS header with the most fds a message can carry.
typedef union {
    char buf[CMSG_SPACE(sizeof(int) * CMIO_SCM_MAX_FD)];
    struct cmsghdr align;
} rights_control;

/// Puts `nfds` fds in one SCM_RIGHTS header of `msg` (nothing for 0).
static int attach_rights(struct msghdr *msg, rights_control *control, const int *fds, int nfds) {
    if (nfds == 0) return 0;
    if (nfds < 0 || nfds > CMIO_SCM_MAX_FD) { errno = EINVAL; return -1; }
    memset(control, 0, sizeof *control);
    msg->msg_control = control->buf;
    msg->msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    return 0;
}

ssize_t cmio_send_with_fds(int sockfd, const void *buf, size_t len,
                           const int *fds, int nfds, int flags) {
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    rights_control control;
    if (attach_rights(&msg, &control, fds, nfds) != 0) return -1;
    return sendmsg(sockfd, &msg, flags | MSG_NOSIGNAL);
}

ssize_t cmio_send_datagram(const char *path, const void *buf, size_t len, const int *fds, int nfds) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof a.sun_path) { errno = EINVAL; return -1; }
    memcpy(a.sun_path, path, n);
    if (a.sun_path[0] == '@') a.sun_path[0] = 0;
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    // Like libsystemd, wait while the manager's queue is full; unlike it,
    // not for ever: a stuck manager must not stop the event loop for good.
    struct timeval limit = {.tv_sec = 2, .tv_usec = 0};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &a;
    msg.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    rights_control control;
    if (attach_rights(&msg, &control, fds, nfds) != 0) { close(s); return -1; }
    ssize_t r = sendmsg(s, &msg, MSG_NOSIGNAL);
    int saved = errno;
    close(s);
    errno = saved;
    return r;
}

int cmio_signalfd_for(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

size_t cmio_sun_path_max(void) {
    struct sockaddr_un a;
    return sizeof a.sun_path - 1;
}

static int fill_unix(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof a->sun_path) { errno = ENAMETOOLONG; return -1; }
    memcpy(a->sun_path, path, n);
    return 0;
}

int cmio_bind_unix(int sockfd, const char *path) {
    struct sockaddr_un a;
    if (fill_unix(&a, path) != 0) return -1;
    return bind(sockfd, (struct sockaddr *)&a, sizeof a);
}

int cmio_connect_unix(int sockfd, const char *path) {
    struct sockaddr_un a;
    if (fill_unix(&a, path) != 0) return -1;
    return connect(sockfd, (struct sockaddr *)&a, sizeof a);
}

int cmio_unix_sockname(int sockfd, int peer, void *out, size_t outlen, int *family) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    int r = peer ? getpeername(sockfd, (struct sockaddr *)&ss, &len)
                 : getsockname(sockfd, (struct sockaddr *)&ss, &len);
    if (r != 0) return -1;
    *family = ss.ss_family;
    if (len > outlen) len = (socklen_t)outlen;
    memcpy(out, &ss, len);
    return (int)len;
}

int cmio_memfd_sealable(const char *name) {
    return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

int cmio_seal_size(int fd) {
    return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}

int cmio_cannot_shrink(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    return seals < 0 ? -1 : (seals & F_SEAL_SHRINK) != 0;
}

#include <linux/kcmp.h>
#include <sys/syscall.h>

int cmio_same_open_file(int a, int b) {
    pid_t self = getpid();
    long r = syscall(SYS_kcmp, self, self, KCMP_FILE, a, b);
    if (r < 0) return -1;
    return r == 0 ? 1 : 0;
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>

pid_t cmio_spawn_with_fd3(const char *path, char *const argv[], char *const envp[], char *pid_digits, int fd,
                          int *exec_failed) {
    *exec_failed = 0;
    // The child says through this pipe why its exec failed; close-on-exec
    // makes a successful exec close it, so the parent reads end-of-file.
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(report[0]);
        close(report[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &dfl, NULL);
        int w = report[1];
        if (w == 3) w = fcntl(3, F_DUPFD_CLOEXEC, 4);  // out of fd 3's way
        int placed = fd == 3 ? fcntl(3, F_SETFD, 0) : dup2(fd, 3);
        if (placed >= 0) {
            char reversed[24];
            int n = 0;
            for (unsigned long v = (unsigned long)getpid(); n == 0 || v > 0; v /= 10) reversed[n++] = (char)('0' + v % 10);
            for (int i = 0; i < n; i++) pid_digits[i] = reversed[n - 1 - i];
            pid_digits[n] = '\0';
            execve(path, argv, envp);
        }
        int e = errno;
        ssize_t ignored = write(w, &e, sizeof e);
        (void)ignored;
        _exit(127);
    }
    close(report[1]);
    int e = 0;
    ssize_t n;
    do {
        n = read(report[0], &e, sizeof e);
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof e) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        *exec_failed = 1;
        errno = e;
        return -1;
    }
    return pid;
}

int cmio_accept_peer(int sockfd, char *addr, size_t addrlen, int *port) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    int fd = accept4(sockfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
    if (fd < 0) return -1;
    addr[0] = '\0';
    *port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)addrlen);
        *port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)addrlen);
        *port = ntohs(in6->sin6_port);
    }
    return fd;
}
