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

static void wake_waiters(event_queue *q);

static void store(event_queue *q, event *ev)
{
    ev->sequence = q->next_sequence++;
    q->ring[(q->head + q->count) % q->capacity] = event_ref(ev);
    q->count++;
    q->bytes += event_memory_bytes(ev);
}

static size_t batch_bytes(event **evs, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += event_memory_bytes(evs[i]);
    return bytes;
}

/* Queues evs[0..n) all or nothing: bounds first, then the journal (whose records for a batch
 * that did not fit whole are finished at once, so they are never delivered). */
static event_queue_offer_result queue_batch(event_queue *q, event **evs, size_t n, bool journal)
{
    size_t bytes = batch_bytes(evs, n);
    if (n > q->capacity || (q->max_bytes && bytes > q->max_bytes))
        return EVENT_QUEUE_TOO_LARGE;
    /* An empty queue takes any one event that fits the bound at all. */
    if (n > q->capacity - q->count || (q->max_bytes && q->count && bytes > q->max_bytes - q->bytes))
        return EVENT_QUEUE_FULL;
    if (journal && q->journal) {
        for (size_t i = 0; i < n; i++) {
            if (!disk_queue_append(q->journal, evs[i])) {
                for (size_t j = 0; j < i; j++)
                    disk_queue_finished(q->journal, evs[j]);
                return EVENT_QUEUE_FULL;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        store(q, evs[i]);
    if (n > 0 && q->on_ready)
        q->on_ready(q->consumer);
    return EVENT_QUEUE_ACCEPTED;
}

bool event_queue_push(event_queue *q, event *ev)
{
    return queue_batch(q, &ev, 1, false) == EVENT_QUEUE_ACCEPTED;
}

bool event_queue_push_all(event_queue *q, event **evs, size_t n)
{
    return queue_batch(q, evs, n, false) == EVENT_QUEUE_ACCEPTED;
}

event_queue_offer_result event_queue_offer(event_queue *q, event **evs, size_t n,
                                           disk_queue_durable_fn durable, void *user)
{
    event_queue_offer_result result = queue_batch(q, evs, n, true);
    if (result != EVENT_QUEUE_ACCEPTED || !q->journal)
        return result;
    disk_queue_when_durable(q->journal, durable, user);
    return EVENT_QUEUE_PENDING;
}

void event_queue_restore(event_queue *q, event *ev)
{
    if (q->count == q->capacity) {
        /* A previous run may have had a larger queue: grow rather than refuse what it accepted. */
        event **ring = calloc(q->capacity * 2, sizeof *ring);
        if (!ring)
            return; /* stays on disk: delivered at the next start */
        for (size_t i = 0; i < q->count; i++)
            ring[i] = q->ring[(q->head + i) % q->capacity];
        free(q->ring);
        q->ring = ring;
        q->head = 0;
        q->capacity *= 2;
    }
    store(q, ev);
    if (q->on_ready)
        q->on_ready(q->consumer);
}

void event_queue_finished(event_queue *q, event *ev)
{
    if (!q->journal)
        return;
    disk_queue_finished(q->journal, ev);
    /* A disk queue frees space when events finish, not when they leave the memory ring: a source
     * that stopped on a full disk (vCenter) must hear of it even when the ring is empty. */
    wake_waiters(q);
}

void event_queue_set_max_bytes(event_queue *q, size_t max_bytes)
{
    q->max_bytes = max_bytes;
}

void event_queue_set_journal(event_queue *q, disk_queue *journal)
{
    q->journal = journal;
}

size_t event_queue_bytes(const event_queue *q)
{
    return q->bytes;
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
    q->bytes -= event_memory_bytes(ev);
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
