/* The consumer's side of ring delivery (docs/protocol.md, "Ring delivery"):
 * the memfd checked and mapped, records taken with the memory ordering the
 * document prescribes (C11 atomics on the naturally aligned header fields),
 * the sleeping flag, and the records of removed tokens dropped. Taking
 * records is the hot path: no allocation, no syscall. */
#include "internal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RING_MAGIC 0x474E4952u /* the bytes "RING" */
#define RING_VERSION 1u
#define RING_RECORD_SIZE 16u
#define RING_MIN_ENTRIES 64u
#define RING_MAX_ENTRIES 65536u

/* Byte offsets of the header fields. */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 4,
    OFF_ENTRIES = 8,
    OFF_RECORD_SIZE = 12,
    OFF_RECORDS_OFFSET = 16,
    OFF_HEAD = 64,
    OFF_OVERFLOW = 72,
    OFF_TAIL = 128,
    OFF_SLEEPING = 136,
    HEADER_END = OFF_SLEEPING + 4,
};

/* The flags a record may carry: MIO_EVENT_READABLE ... MIO_EVENT_PRIORITY. */
#define RECORD_FLAGS 0x3fu

static uint32_t header_u32(const unsigned char *map, size_t offset) {
    uint32_t v;
    memcpy(&v, map + offset, sizeof v);
    return le32toh(v);
}

static bool power_of_two(uint64_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}

/* Whether fd can be a doorbell: the read end of a pipe (*pipe set), as
 * docs/protocol.md says, or an eventfd, as daemons before the pipe sent
 * (as far as /proc can tell; without /proc: yes). */
static bool is_doorbell(int fd, bool *pipe) {
    struct stat st;
    *pipe = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
    if (*pipe) return true;
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) return errno == ENOENT || errno == EACCES;
    target[n] = 0;
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* The mapped header and size say what the document says a ring is. */
static int check_layout(struct mioc_ring *r, size_t size, uint64_t want_entries) {
    const unsigned char *m = r->map;
    uint32_t entries = header_u32(m, OFF_ENTRIES), offset = header_u32(m, OFF_RECORDS_OFFSET);
    if (header_u32(m, OFF_MAGIC) != RING_MAGIC || header_u32(m, OFF_VERSION) != RING_VERSION ||
        header_u32(m, OFF_RECORD_SIZE) != RING_RECORD_SIZE)
        return -EBADMSG;
    if (!power_of_two(entries) || entries < RING_MIN_ENTRIES || entries > RING_MAX_ENTRIES) return -EBADMSG;
    if (want_entries != 0 && entries != want_entries) return -EBADMSG;
    // The records follow the header, aligned, and end inside the memfd.
    if (offset < HEADER_END || offset % RING_RECORD_SIZE != 0 || (uint64_t)offset + (uint64_t)entries * RING_RECORD_SIZE > size)
        return -EBADMSG;
    r->entries = entries;
    r->records = m + offset;
    return 0;
}

int mioc_ring_open(struct mioc_ring *r, int memfd, int doorbell, uint64_t want_entries) {
    memset(r, 0, sizeof *r);
    r->doorbell = doorbell;
    int err = -EBADMSG;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    // The positions are little-endian words shared with the daemon's atomics.
    err = -ENOTSUP;
    goto fail;
#endif
    struct stat st;
    if (fstat(memfd, &st) != 0) {
        err = -errno;
        goto fail;
    }
    // A file that could shrink under the mapping would fault (SIGBUS) on access.
    int seals = fcntl(memfd, F_GET_SEALS);
    // At most the biggest ring rounded up to any page size: a bogus memfd
    // does not get us to map gigabytes.
    size_t largest = 256 + (size_t)RING_MAX_ENTRIES * RING_RECORD_SIZE + 65536;
    if (!S_ISREG(st.st_mode) || seals < 0 || !(seals & F_SEAL_SHRINK) || st.st_size < HEADER_END ||
        (uint64_t)st.st_size > largest || !is_doorbell(doorbell, &r->doorbell_is_pipe))
        goto fail;
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (map == MAP_FAILED) {
        err = -errno;
        goto fail;
    }
    close(memfd);
    memfd = -1;
    r->map = map;
    r->map_len = (size_t)st.st_size;
    if ((err = check_layout(r, r->map_len, want_entries)) < 0) goto fail;
    r->head = (_Atomic uint64_t *)(void *)(r->map + OFF_HEAD);
    r->overflow = (_Atomic uint32_t *)(void *)(r->map + OFF_OVERFLOW);
    r->tail = (_Atomic uint64_t *)(void *)(r->map + OFF_TAIL);
    r->sleeping = (_Atomic uint32_t *)(void *)(r->map + OFF_SLEEPING);
    // Records may be there already (a persistent session's pending readiness).
    r->consumed = atomic_load_explicit(r->tail, memory_order_relaxed);
    if (atomic_load_explicit(r->head, memory_order_acquire) - r->consumed > r->entries) goto fail;
    return 0;
fail:
    if (memfd >= 0) close(memfd);
    mioc_ring_close(r);
    return err;
}

void mioc_ring_close(struct mioc_ring *r) {
    if (r->map) munmap(r->map, r->map_len);
    if (r->doorbell >= 0) close(r->doorbell);
    free(r->stale);
    memset(r, 0, sizeof *r);
    r->doorbell = -1;
}

static bool is_stale(const struct mioc_ring *r, uint64_t token, uint64_t position) {
    for (size_t i = 0; i < r->stale_count; i++)
        if (r->stale[i].token == token && position < r->stale[i].before) return true;
    return false;
}

/* Entries whose records are all consumed are done with. */
static void prune_stale(struct mioc_ring *r) {
    size_t kept = 0;
    for (size_t i = 0; i < r->stale_count; i++)
        if (r->stale[i].before > r->consumed) r->stale[kept++] = r->stale[i];
    r->stale_count = kept;
}

size_t mioc_ring_take(struct mioc_ring *r, mio_event *out, size_t capacity) {
    uint64_t head = atomic_load_explicit(r->head, memory_order_acquire);
    uint64_t position = r->consumed;
    if (head - position > r->entries) {
        // The producer is never more than a ring ahead of what we published.
        r->corrupt = true;
        return 0;
    }
    const uint64_t mask = r->entries - 1;
    size_t n = 0;
    while (position != head && n < capacity) {
        const unsigned char *record = r->records + (size_t)(position & mask) * RING_RECORD_SIZE;
        uint64_t token;
        uint32_t flags;
        memcpy(&token, record, sizeof token);
        memcpy(&flags, record + 8, sizeof flags);
        if (r->stale_count == 0 || !is_stale(r, le64toh(token), position)) {
            out[n].token = le64toh(token);
            out[n].flags = le32toh(flags) & RECORD_FLAGS;
            n++;
        }
        position++;
    }
    if (position != r->consumed) {
        r->consumed = position;
        // Release: our reads of those records come before the daemon reuses them.
        atomic_store_explicit(r->tail, position, memory_order_release);
        if (r->stale_count) prune_stale(r);
    }
    if (atomic_load_explicit(r->overflow, memory_order_acquire) != 0) {
        atomic_store_explicit(r->overflow, 0, memory_order_relaxed);
        r->refill_owed = true;
    }
    return n;
}

bool mioc_ring_has_work(const struct mioc_ring *r) {
    return r->refill_owed || atomic_load_explicit(r->head, memory_order_acquire) != r->consumed ||
           atomic_load_explicit(r->overflow, memory_order_acquire) != 0;
}

bool mioc_ring_arm(const struct mioc_ring *r) {
    atomic_store_explicit(r->sleeping, 1, memory_order_relaxed);
    // Pairs with the daemon's fence between publishing head and reading
    // sleeping: either we see its records now, or it sees us asleep.
    atomic_thread_fence(memory_order_seq_cst);
    if (!mioc_ring_has_work(r)) return true;
    atomic_store_explicit(r->sleeping, 0, memory_order_relaxed);
    return false;
}

void mioc_ring_disarm(const struct mioc_ring *r) {
    atomic_store_explicit(r->sleeping, 0, memory_order_relaxed);
}

bool mioc_ring_armed(const struct mioc_ring *r) {
    return atomic_load_explicit(r->sleeping, memory_order_relaxed) != 0;
}

void mioc_ring_clear_doorbell(struct mioc_ring *r) {
    // An eventfd is watched edge-triggered: nothing to read (its counter
    // would take 2^64 rings to fill). A pipe is watched level-triggered and
    // read: a full one would take no more bytes, so no more edges. One read
    // of what it holds; the rest, if any, keeps it readable for the next look.
    if (!r->doorbell_is_pipe) return;
    unsigned char bytes[512];
    ssize_t n;
    do {
        n = read(r->doorbell, bytes, sizeof bytes);
    } while (n < 0 && errno == EINTR);
}

int mioc_ring_token_removed(struct mioc_ring *r, uint64_t token, bool has_ring_head, uint64_t ring_head) {
    // One request at a time: the token cannot be registered again before
    // this returns, so every record of it below the producer's position now
    // is stale; ring_head, when the reply has it, is the same bound or lower.
    uint64_t before = atomic_load_explicit(r->head, memory_order_acquire);
    if (has_ring_head && ring_head < before) before = ring_head;
    if (before <= r->consumed) return 0;
    for (size_t i = 0; i < r->stale_count; i++) {
        if (r->stale[i].token == token) {
            if (before > r->stale[i].before) r->stale[i].before = before;
            return 0;
        }
    }
    if (r->stale_count == r->stale_cap) {
        size_t cap = r->stale_cap ? 2 * r->stale_cap : 16;
        struct mioc_stale_token *grown = realloc(r->stale, cap * sizeof *grown);
        if (!grown) return -ENOMEM;
        r->stale = grown;
        r->stale_cap = cap;
    }
    r->stale[r->stale_count++] = (struct mioc_stale_token){token, before};
    return 0;
}
