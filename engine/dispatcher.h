/* The dispatcher: everything between "this event goes to processor P" and "P acked or nacked it",
 * written once for every processor type.
 *
 * - At most max_in_flight attempts run at once per processor.
 * - Events with the same ordering key (event_ordering_key) are delivered strictly one after the
 *   other, in submission order; events without a key, or with different keys, run in parallel.
 * - DELIVERY_RETRY outcomes are retried with capped full-jitter backoff, or after Retry-After when
 *   the target sent one; DELIVERY_FAILED, and retries exhausted, go to the dead-letter file.
 * - Each submitted event ends in exactly one done(owner, ev, delivered, error) call: the ack
 * (delivered) or nack (dead-lettered) that later lets sources advance checkpoints. */
#ifndef EVENT_ROUTER_DISPATCHER_H
#define EVENT_ROUTER_DISPATCHER_H

#include "config/config.h"
#include "deadletter.h"
#include "event.h"
#include "metrics/metrics.h"
#include "processors/processor.h"

#include <stdbool.h>
#include <uv.h>

typedef struct dispatcher dispatcher;

typedef enum {
    DISPATCH_DELIVERED = 0,
    DISPATCH_DEAD_LETTERED,
    DISPATCH_KEPT, /* shutdown with a disk queue: not delivered, left for the next start */
} dispatch_outcome;

/* error: why it was dead-lettered or kept; NULL when delivered. */
typedef void (*dispatcher_done_fn)(void *owner, event *ev, dispatch_outcome outcome,
                                   const char *error);

typedef struct dispatcher_options {
    const char *processor_name;
    const processor_type *type;
    void *processor_state;
    const config_delivery *delivery;
    deadletter *deadletter;
    metrics *metrics;
    processor_stats *stats;
    dispatcher_done_fn done;
    void *owner;
    double (*random01)(void); /* NULL: drand48; tests pin it */
} dispatcher_options;

dispatcher *dispatcher_new(uv_loop_t *loop, const dispatcher_options *options);
/* Takes its own reference to ev. Never refuses: the engine bounds what it submits. */
void dispatcher_submit(dispatcher *d, event *ev);
/* Events submitted and not yet acked or nacked. */
size_t dispatcher_pending(const dispatcher *d);
/* Of those, events whose dead-letter write failed and is being retried (an alarm). */
size_t dispatcher_deadletter_pending(const dispatcher *d);
/* Shutdown past its deadline: every event not yet delivered is dead-lettered with reason, or
 * with keep, handed back as DISPATCH_KEPT (a disk queue delivers it at the next start). Events
 * in an attempt follow when the attempt ends (the owner cancels attempts by closing the HTTP
 * client), unless it succeeded. */
void dispatcher_abandon(dispatcher *d, const char *reason, bool keep);
/* Frees the dispatcher once nothing is pending and its timers are closed; closed(user) follows. */
void dispatcher_close(dispatcher *d, void (*closed)(void *user), void *user);

#endif
