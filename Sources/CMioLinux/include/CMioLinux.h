// The C side of mio-daemon: headers Glibc's module does not show to Swift,
// macros Swift cannot call (CMSG_*), and functions that need _GNU_SOURCE.
// Every symbol is prefixed `cmio_` and does one thing.
#ifndef CMIOLINUX_H
#define CMIOLINUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>

// epoll's flags are an enum in glibc; Swift sees them best as plain constants.
static const uint32_t CMIO_EPOLLIN = EPOLLIN;
static const uint32_t CMIO_EPOLLOUT = EPOLLOUT;
static const uint32_t CMIO_EPOLLPRI = EPOLLPRI;
static const uint32_t CMIO_EPOLLERR = EPOLLERR;
static const uint32_t CMIO_EPOLLHUP = EPOLLHUP;
static const uint32_t CMIO_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t CMIO_EPOLLET = EPOLLET;
static const uint32_t CMIO_EPOLLONESHOT = EPOLLONESHOT;

/// O_PATH needs _GNU_SOURCE in <fcntl.h>, which Swift's Glibc lacks.
static const int CMIO_O_PATH = 010000000;

/// Scheduling policies <sched.h> names only under _GNU_SOURCE.
static const int CMIO_SCHED_OTHER = 0;
static const int CMIO_SCHED_BATCH = 3;

/// Most fds one SCM_RIGHTS message can carry (the kernel's SCM_MAX_FD).
#define CMIO_SCM_MAX_FD 253

int cmio_pipe2(int fds[2], int flags);
int cmio_accept4(int sockfd, int flags);
int cmio_epoll_create1(int flags);
int cmio_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
int cmio_eventfd(unsigned int initval, int flags);

/// SO_PEERCRED: the peer's pid, uid and gid.
int cmio_peer_credentials(int sockfd, pid_t *pid, uid_t *uid, gid_t *gid);

/// SO_PEERGROUPS: the peer's supplementary groups. Returns the count
/// stored (at most `max`), or -1 with errno.
int cmio_peer_groups(int sockfd, gid_t *groups, int max);

/// recvmsg() with MSG_CMSG_CLOEXEC and room for 253 fds and a credentials
/// message. Every SCM_RIGHTS header is read; received fds go to `fds` (room
/// for CMIO_SCM_MAX_FD), their count to `*nfds`. `*truncated` is set when the
/// kernel reported MSG_CTRUNC (the fds it did deliver are still returned).
/// Returns recvmsg's result.
ssize_t cmio_recv_with_fds(int sockfd, void *buf, size_t len, int flags,
                           int *fds, int *nfds, int *truncated);

/// sendmsg() of `len` bytes with `nfds` fds in one SCM_RIGHTS header
/// (`nfds` may be 0, then it is a plain sendmsg).
ssize_t cmio_send_with_fds(int sockfd, const void *buf, size_t len,
                           const int *fds, int nfds, int flags);

/// One datagram to an AF_UNIX socket path (a leading '@' names an abstract
/// socket, as in $NOTIFY_SOCKET), with `nfds` fds attached. Uses a socket
/// of its own, closed before returning.
ssize_t cmio_send_datagram(const char *path, const void *buf, size_t len, const int *fds, int nfds);

/// Blocks `signals` for the calling thread and returns a signalfd for them.
int cmio_signalfd_for(const int *signals, int count);

/// sockaddr_un helpers: the path length limit, and bind/connect by path.
size_t cmio_sun_path_max(void);
int cmio_bind_unix(int sockfd, const char *path);
int cmio_connect_unix(int sockfd, const char *path);
/// getsockname()/getpeername() of an AF_UNIX socket, as raw address bytes.
/// Returns the address length, or -1 with errno (ENOTSOCK etc.).
int cmio_unix_sockname(int sockfd, int peer, void *out, size_t outlen, int *family);

/// kcmp(KCMP_FILE) of two fds of this process: 1 when they are the same
/// open file (as systemd's fd store compares them), 0 when not, -1 on error.
int cmio_same_open_file(int a, int b);

/// Socket activation's exec, as `mioctl serve` needs it: fork()s a child
/// that puts `fd` at 3 (close-on-exec off), unblocks every signal, sets
/// SIGPIPE back to its default, writes its own pid into `pid_digits` (room
/// for 20 digits and a NUL, inside one of `envp`'s strings: LISTEN_PID is
/// the pid that exec keeps) and execve()s `path`. Between fork and exec
/// only async-signal-safe calls run (the caller has threads). Returns the
/// child's pid once the exec has happened; -1 with errno when fork failed,
/// or when execve failed (then `*exec_failed` is 1, and that child is reaped).
pid_t cmio_spawn_with_fd3(const char *path, char *const argv[], char *const envp[], char *pid_digits, int fd,
                          int *exec_failed);

/// accept4(SOCK_CLOEXEC) on a blocking or non-blocking listener; for an
/// AF_INET/AF_INET6 peer its address as text (room for INET6_ADDRSTRLEN)
/// and its port, else `addr` "" and port 0. Returns the fd or -1 with errno.
int cmio_accept_peer(int sockfd, char *addr, size_t addrlen, int *port);

/// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING).
int cmio_memfd_sealable(const char *name);
/// fcntl(F_ADD_SEALS) of F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL: the size is fixed.
int cmio_seal_size(int fd);
/// fcntl(F_GET_SEALS) & F_SEAL_SHRINK: 1 when the file can no longer
/// shrink (a mapping of it cannot fault with SIGBUS), 0 when it can, -1 with errno.
int cmio_cannot_shrink(int fd);

// Shared memory a client can write (the event ring): loads and stores of
// naturally aligned fields with C11 ordering, and a full fence.
static inline uint64_t cmio_load_acquire_u64(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE); }
static inline uint32_t cmio_load_relaxed_u32(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED); }
static inline uint32_t cmio_load_acquire_u32(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE); }
static inline void cmio_store_relaxed_u32(void *p, uint32_t v) { __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED); }
static inline void cmio_store_release_u64(void *p, uint64_t v) { __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE); }
static inline void cmio_store_release_u32(void *p, uint32_t v) { __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE); }
static inline void cmio_fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

#endif
