/* Events (and the session_taken notice) that arrived while a request waited
 * for its reply, in arrival order, for the next mio_client_wait. The array
 * grows by doubling and is reused, so steady traffic allocates nothing. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_CAPACITY 64u

int mioc_queue_init(struct mioc_event_queue *q) {
    q->items = malloc(INITIAL_CAPACITY * sizeof *q->items);
    if (!q->items) return -ENOMEM;
    q->cap = INITIAL_CAPACITY;
    q->head = q->tail = 0;
    return 0;
}

void mioc_queue_free(struct mioc_event_queue *q) {
    free(q->items);
    q->items = NULL;
}

int mioc_queue_push(struct mioc_event_queue *q, uint64_t token, uint32_t flags) {
    if (q->tail == q->cap) {
        if (q->head > 0) {
            memmove(q->items, q->items + q->head, (q->tail - q->head) * sizeof *q->items);
            q->tail -= q->head;
            q->head = 0;
        } else {
            mio_event *items = realloc(q->items, 2 * q->cap * sizeof *items);
            if (!items) return -ENOMEM;
            q->items = items;
            q->cap *= 2;
        }
    }
    q->items[q->tail].token = token;
    q->items[q->tail].flags = flags;
    q->tail++;
    return 0;
}

size_t mioc_queue_pop(struct mioc_event_queue *q, mio_event *out, size_t capacity, uint32_t *notice) {
    size_t n = 0;
    *notice = 0;
    while (n < capacity && q->head < q->tail) {
        const mio_event *e = &q->items[q->head];
        if (e->flags & MIOC_NOTICE_SESSION_TAKEN) {
            if (n == 0) {
                *notice = e->flags;
                q->head++;
            }
            break;
        }
        out[n++] = *e;
        q->head++;
    }
    if (q->head == q->tail) q->head = q->tail = 0;
    return n;
}

void mioc_queue_drop_token(struct mioc_event_queue *q, uint64_t token) {
    // Only events after the last session_taken notice are of this session.
    size_t from = q->head;
    for (size_t i = q->head; i < q->tail; i++)
        if (q->items[i].flags & MIOC_NOTICE_SESSION_TAKEN) from = i + 1;
    size_t kept = from;
    for (size_t i = from; i < q->tail; i++) {
        if (q->items[i].token == token) continue;
        q->items[kept++] = q->items[i];
    }
    q->tail = kept;
    if (q->head == q->tail) q->head = q->tail = 0;
}
