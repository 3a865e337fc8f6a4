/* A bounded FIFO between sources and the dispatcher. Single-threaded (the libuv loop thread).
 *
 * Bounded by events and by bytes (event_memory_bytes), whatever the event sizes. Backpressure,
 * never loss: a push is refused when the queue is full and the source keeps the event (the
 * webhook answers 503, the vCenter source stops reading). When space frees up again every
 * registered waiter is called once so paused sources can resume.
 *
 * With a journal (disk_queue.h) every event offered (event_queue_offer) is also written to disk,
 * and the source hears when it is durable: only then may it acknowledge it to its sender.
 * Without one, an accepted event is as safe as it gets at once (in memory). Events pushed with
 * event_queue_push / push_all are never journaled: their source keeps them itself until
 * event_done (vCenter keeps its history and replays from its checkpoint; journaling them too would
 * only deliver them twice, and out of order across a restart). */
#ifndef EVENT_ROUTER_EVENT_QUEUE_H
#define EVENT_ROUTER_EVENT_QUEUE_H

#include "disk_queue.h"
#include "event.h"

#include <stdbool.h>
#include <stddef.h>

typedef void (*event_queue_space_fn)(void *waiter);
typedef void (*event_queue_ready_fn)(void *consumer);

typedef struct event_queue {
    event **ring;
    size_t capacity;
    size_t head;
    size_t count;
    size_t bytes;        /* event_memory_bytes of the events queued */
    size_t max_bytes;    /* 0: no byte bound */
    disk_queue *journal; /* NULL: a memory queue */
    uint64_t next_sequence;
    /* Called after every successful push, so the consumer can schedule a drain. */
    event_queue_ready_fn on_ready;
    void *consumer;
    /* Sources waiting for space (called when count drops below capacity). */
    struct {
        event_queue_space_fn fn;
        void *waiter;
    } * waiters;
    size_t waiter_count;
    size_t waiter_cap;
} event_queue;

bool event_queue_init(event_queue *q, size_t capacity);
/* Drops every event still queued (unref) and frees the ring. */
void event_queue_destroy(event_queue *q);

/* Takes a reference to ev and assigns ev->sequence on success; false when full. */
bool event_queue_push(event_queue *q, event *ev);
/* Pushes as many events as fit from evs[0..n); all or nothing when atomic is true (for batches). */
bool event_queue_push_all(event_queue *q, event **evs, size_t n);
typedef enum {
    EVENT_QUEUE_ACCEPTED = 0, /* queued, and as safe as the queue makes it: acknowledge now */
    EVENT_QUEUE_PENDING,      /* queued; durable(user, ok) follows once they are on disk */
    EVENT_QUEUE_FULL,         /* nothing queued; retry later */
    EVENT_QUEUE_TOO_LARGE,    /* nothing queued; this batch can never fit (count or bytes) */
} event_queue_offer_result;

/* What a source whose acknowledgement must mean "durable" calls (all or nothing). On PENDING,
 * durable(user, ok) runs exactly once, later, on the loop: ok false means the disk write failed
 * (the events are still delivered, but the sender must not be told they are safe). */
event_queue_offer_result event_queue_offer(event_queue *q, event **evs, size_t n,
                                           disk_queue_durable_fn durable, void *user);
/* Puts an event read back from the journal at start in the queue, past the bounds: it was
 * accepted by a previous run. Takes a reference. */
void event_queue_restore(event_queue *q, event *ev);
/* Every processor finished with ev: the journal forgets it. */
void event_queue_finished(event_queue *q, event *ev);

/* Byte bound (0: none) and journal (NULL: memory queue), set once before the first push. */
void event_queue_set_max_bytes(event_queue *q, size_t max_bytes);
void event_queue_set_journal(event_queue *q, disk_queue *journal);

/* Returns the oldest event (the caller now owns the queue's reference) or NULL when empty. */
event *event_queue_pop(event_queue *q);

size_t event_queue_depth(const event_queue *q);
size_t event_queue_bytes(const event_queue *q);
size_t event_queue_free(const event_queue *q);

void event_queue_set_consumer(event_queue *q, event_queue_ready_fn fn, void *consumer);
/* fn(waiter) will be called once, the next time space becomes available. */
void event_queue_wait_for_space(event_queue *q, event_queue_space_fn fn, void *waiter);

#endif
