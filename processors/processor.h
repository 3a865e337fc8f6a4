/* The processor interface: one delivery target type (Knative, OpenFaaS, EventBridge) per file in
 * processors/, one row in the table in processor_registry.c.
 *
 * A processor only makes single attempts and classifies their outcome. Retries with backoff,
 * per-key ordering, concurrency limits and dead-lettering live once in the dispatcher, so every
 * target behaves the same way (as Fluent Bit's OK / RETRY / ERROR). */
#ifndef EVENT_ROUTER_PROCESSOR_H
#define EVENT_ROUTER_PROCESSOR_H

#include "config/config.h"
#include "event.h"
#include "http/http_client.h"

#include <uv.h>

typedef enum {
    DELIVERY_OK = 0, /* the target accepted the event */
    DELIVERY_RETRY,  /* transient: connection error, timeout, 408, 429, 5xx */
    DELIVERY_FAILED, /* final: any other 4xx, an event the target can never take */
    /* acknowledged without delivery: the processor's own selection left the event out
     * (EventBridge: no rule's pattern matches). Counted as filtered, not as delivered. */
    DELIVERY_FILTERED,
} delivery_status;

typedef struct delivery_result {
    delivery_status status;
    long http_status;           /* 0 when there was no HTTP answer */
    double retry_after_seconds; /* from Retry-After; < 0 when absent */
    char error[256];            /* what went wrong, for logs and the dead-letter file; no secrets */
} delivery_result;

typedef void (*processor_attempt_done_fn)(void *attempt, const delivery_result *result);

struct deadletter;
struct metrics;
struct processor_stats;

typedef struct processor_services {
    uv_loop_t *loop;
    http_client *http;
    const config_delivery *delivery;
    /* For a processor that fans out (below) and runs a dispatcher per target of its own. */
    struct deadletter *deadletter;
    struct metrics *metrics;
    struct processor_stats *stats; /* this processor's /stats entry */
} processor_services;

typedef struct processor_type {
    const char *name; /* the config's eventProcessor type */
    /* Builds the processor's state from its config. Returns 0, or -1 with a reason in err. */
    int (*create)(const config_processor *config, const processor_services *services, void **state,
                  char *err, size_t err_cap);
    /* Makes one delivery attempt. done(attempt, result) is called exactly once, later (never from
     * inside send). The processor may keep a reference to ev until then. Up to the delivery's
     * maxInFlight attempts (at most one per ordering key) run at once, and each is answered on
     * its own: a processor may gather several into one request (EventBridge batches PutEvents
     * entries this way) and answer each with its own outcome. */
    void (*send)(void *state, event *ev, void *attempt, processor_attempt_done_fn done);
    /* Frees the state. Called once no attempt is in flight. */
    void (*destroy)(void *state);
    /* A processor that fans one event out to several targets (OpenFaaS: every function whose
     * topic matches) runs one dispatcher per target itself, so retries, order and dead letters
     * are per target. The engine's dispatcher then only passes events through: no ordering key,
     * no in-flight limit, no per-subject counting; one attempt ends when every target is done. */
    bool fans_out;
    /* Optional: shutdown past its deadline; attempts in flight should end soon, dead-lettered
     * with reason, or with keep (a disk queue) left undelivered for the next start. */
    void (*abandon)(void *state, const char *reason, bool keep);
    /* Optional: what the console's `processors` shows beyond the counters (OpenFaaS: the topic
     * map and its age), as a JSON object the caller frees. No secrets. */
    struct cJSON *(*describe)(const void *state);
    /* Optional: false while the processor cannot deliver anything yet (OpenFaaS: before the
     * first function list); /readyz answers 503 meanwhile. */
    bool (*ready)(const void *state);
    /* Optional: shutdown, every attempt is done and the HTTP client closes next. Stop starting
     * requests of your own (refresh timers); requests under way end with "client closed". */
    void (*stop)(void *state);
} processor_type;

const processor_type *processor_type_find(const char *name);

#endif
