/* A bounded FIFO between sources and the dispatcher. Single-threaded (the libuv loop thread).
 *
 * Backpressure, never loss: event_queue_push() refuses when the queue is full and the source keeps
 * the event (the webhook answers 503, the vCenter source stops reading). When space frees up again
 * every registered waiter is called once so paused sources can resume. */
#ifndef EVENT_ROUTER_EVENT_QUEUE_H
#define EVENT_ROUTER_EVENT_QUEUE_H

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
/* Returns the oldest event (the caller now owns the queue's reference) or NULL when empty. */
event *event_queue_pop(event_queue *q);

size_t event_queue_depth(const event_queue *q);
size_t event_queue_free(const event_queue *q);

void event_queue_set_consumer(event_queue *q, event_queue_ready_fn fn, void *consumer);
/* fn(waiter) will be called once, the next time space becomes available. */
void event_queue_wait_for_space(event_queue *q, event_queue_space_fn fn, void *waiter);

#endif
