#include "event_queue.h"

#include <stdlib.h>

bool event_queue_init(event_queue *q, size_t capacity)
{
    *q = (event_queue){0};
    if (capacity == 0)
        return false;
    q->ring = calloc(capacity, sizeof *q->ring);
    if (!q->ring)
        return false;
    q->capacity = capacity;
    q->next_sequence = 1;
    return true;
}

void event_queue_destroy(event_queue *q)
{
    event *ev;
    while ((ev = event_queue_pop(q)))
        event_unref(ev);
    free(q->ring);
    free(q->waiters);
    *q = (event_queue){0};
}

static void store(event_queue *q, event *ev)
{
    ev->sequence = q->next_sequence++;
    q->ring[(q->head + q->count) % q->capacity] = event_ref(ev);
    q->count++;
}

bool event_queue_push(event_queue *q, event *ev)
{
    if (q->count >= q->capacity)
        return false;
    store(q, ev);
    if (q->on_ready)
        q->on_ready(q->consumer);
    return true;
}

bool event_queue_push_all(event_queue *q, event **evs, size_t n)
{
    if (n > q->capacity - q->count)
        return false;
    for (size_t i = 0; i < n; i++)
        store(q, evs[i]);
    if (n > 0 && q->on_ready)
        q->on_ready(q->consumer);
    return true;
}

/* Waiters are called from a copy of the list, so one that re-registers (because the space it
 * was woken for is gone again) lands in the fresh list, not in the one being walked. */
static void wake_waiters(event_queue *q)
{
    if (q->waiter_count == 0)
        return;
    size_t count = q->waiter_count;
    void *pending = q->waiters;
    q->waiters = NULL;
    q->waiter_count = 0;
    q->waiter_cap = 0;
    struct {
        event_queue_space_fn fn;
        void *waiter;
    } *list = pending;
    for (size_t i = 0; i < count; i++)
        list[i].fn(list[i].waiter);
    free(pending);
}

event *event_queue_pop(event_queue *q)
{
    if (q->count == 0)
        return NULL;
    event *ev = q->ring[q->head];
    q->ring[q->head] = NULL;
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    wake_waiters(q);
    return ev;
}

size_t event_queue_depth(const event_queue *q)
{
    return q->count;
}

size_t event_queue_free(const event_queue *q)
{
    return q->capacity - q->count;
}

void event_queue_set_consumer(event_queue *q, event_queue_ready_fn fn, void *consumer)
{
    q->on_ready = fn;
    q->consumer = consumer;
}

void event_queue_wait_for_space(event_queue *q, event_queue_space_fn fn, void *waiter)
{
    for (size_t i = 0; i < q->waiter_count; i++)
        if (q->waiters[i].fn == fn && q->waiters[i].waiter == waiter)
            return;
    if (q->waiter_count == q->waiter_cap) {
        size_t cap = q->waiter_cap ? q->waiter_cap * 2 : 4;
        void *grown = realloc(q->waiters, cap * sizeof *q->waiters);
        if (!grown)
            return;
        q->waiters = grown;
        q->waiter_cap = cap;
    }
    q->waiters[q->waiter_count].fn = fn;
    q->waiters[q->waiter_count].waiter = waiter;
    q->waiter_count++;
}
