/* The receive buffer: bytes from the daemon framed into lines, and the fds
 * that came with them matched to their line as the daemon does it
 * (docs/protocol.md, "Receiving an fd (`fetch`)"): a recvmsg()'s fds belong
 * to the last line that begins within its bytes, or to the line running
 * through them. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define INITIAL_CAPACITY (64u * 1024)
/* Below this much free space, a receive first makes room. */
#define MIN_RECEIVE_SPACE 4096u

int mioc_input_init(struct mioc_input *in) {
    memset(in, 0, sizeof *in);
    in->buf = malloc(INITIAL_CAPACITY);
    if (!in->buf) return -ENOMEM;
    in->cap = INITIAL_CAPACITY;
    return 0;
}

static void close_batch(struct mioc_fd_batch *b) {
    for (int i = 0; i < b->count; i++)
        if (b->fds[i] >= 0) close(b->fds[i]);
    b->count = 0;
}

static void drop_first_batch(struct mioc_input *in) {
    close_batch(&in->batches[0]);
    in->batch_count--;
    memmove(&in->batches[0], &in->batches[1], (size_t)in->batch_count * sizeof in->batches[0]);
}

void mioc_input_free(struct mioc_input *in) {
    while (in->batch_count > 0) drop_first_batch(in);
    free(in->buf);
    in->buf = NULL;
}

bool mioc_input_has_line(const struct mioc_input *in) {
    return memchr(in->buf + in->scanned, '\n', in->end - in->scanned) != NULL;
}

bool mioc_input_peek(struct mioc_input *in, struct mioc_line *line) {
    char *nl = memchr(in->buf + in->scanned, '\n', in->end - in->scanned);
    if (!nl) {
        in->scanned = in->end;
        return false;
    }
    line->text = in->buf + in->start;
    line->len = (size_t)(nl - line->text);
    line->fds = NULL;
    // Batches for lines before this one cannot be claimed any more.
    while (in->batch_count > 0 && in->batches[0].line_start < in->start) drop_first_batch(in);
    if (in->batch_count > 0 && in->batches[0].line_start == in->start) line->fds = &in->batches[0];
    return true;
}

void mioc_input_consume(struct mioc_input *in, const struct mioc_line *line) {
    if (line->fds) drop_first_batch(in);
    in->start += line->len + 1;
    if (in->start == in->end) in->start = in->end = 0;
    in->scanned = in->start;
}

/* Room for a receive: the unread bytes moved to the front, then the buffer
 * grown if a line is still longer than what is free. */
static int make_room(struct mioc_input *in) {
    if (in->cap - in->end >= MIN_RECEIVE_SPACE) return 0;
    while (in->batch_count > 0 && in->batches[0].line_start < in->start) drop_first_batch(in);
    if (in->start > 0) {
        size_t shift = in->start;
        memmove(in->buf, in->buf + shift, in->end - shift);
        in->end -= shift;
        in->scanned -= shift;
        in->start = 0;
        for (int i = 0; i < in->batch_count; i++) in->batches[i].line_start -= shift;
        if (in->cap - in->end >= MIN_RECEIVE_SPACE) return 0;
    }
    if (in->end > MIOC_MAX_LINE) return -EMSGSIZE;
    size_t cap = in->cap * 2;
    char *buf = realloc(in->buf, cap);
    if (!buf) return -ENOMEM;
    in->buf = buf;
    in->cap = cap;
    return 0;
}

/* The start of the line running through the last byte received, given that
 * buf[start, old_end) held no '\n'. */
static size_t last_line_start(const struct mioc_input *in, size_t old_end) {
    if (in->end - old_end >= 2) {
        const char *nl = memrchr(in->buf + old_end, '\n', in->end - old_end - 1);
        if (nl) return (size_t)(nl - in->buf) + 1;
    }
    return in->start;
}

static void keep_fds(struct mioc_input *in, size_t old_end, const int *fds, int count) {
    size_t line_start = last_line_start(in, old_end);
    struct mioc_fd_batch *b = NULL;
    if (in->batch_count > 0 && in->batches[in->batch_count - 1].line_start == line_start) {
        // A line keeps its first batch, as the daemon does (docs/protocol.md,
        // "How the daemon matches fds to lines").
    } else if (in->batch_count < MIOC_FD_BATCHES) {
        b = &in->batches[in->batch_count++];
        b->line_start = line_start;
        b->count = 0;
    }
    for (int i = 0; i < count; i++) {
        if (b && b->count < MIOC_LINE_FDS)
            b->fds[b->count++] = fds[i];
        else
            close(fds[i]);
    }
}

long mioc_input_receive(struct mioc_input *in, int sock, int flags) {
    int r = make_room(in);
    if (r < 0) return r;
    struct iovec iov = {.iov_base = in->buf + in->end, .iov_len = in->cap - in->end};
    union {
        char buf[CMSG_SPACE(MIOC_SCM_MAX_FD * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
    if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    size_t old_end = in->end;
    in->end += (size_t)n;
    if (msg.msg_controllen > 0) {
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
            int count = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int fds[MIOC_SCM_MAX_FD];
            memcpy(fds, CMSG_DATA(cm), (size_t)count * sizeof(int));
            if (n == 0) {
                for (int i = 0; i < count; i++) close(fds[i]);
            } else {
                keep_fds(in, old_end, fds, count);
            }
        }
    }
    if (n == 0) return -ECONNRESET;
    return (long)n;
}

long mioc_input_read(struct mioc_input *in, int sock, int flags) {
    int r = make_room(in);
    if (r < 0) return r;
    ssize_t n = flags ? recv(sock, in->buf + in->end, in->cap - in->end, flags)
                      : read(sock, in->buf + in->end, in->cap - in->end);
    if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (n == 0) return -ECONNRESET;
    in->end += (size_t)n;
    return (long)n;
}
