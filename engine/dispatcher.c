#include "dispatcher.h"

#include "backoff.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One event on its way to one processor. */
typedef struct delivery_job {
    dispatcher *owner;
    event *ev;
    int attempts;
    char last_error[256];
    struct key_chain *chain;        /* NULL for events without an ordering key */
    struct delivery_job *next_same; /* the next job of the same key, waiting behind this one */
    struct delivery_job *next_ready;
    struct delivery_job *prev_all, *next_all; /* every live job, for abandon */
    bool in_attempt;
    bool filtered; /* the processor acknowledged it without delivering (DELIVERY_FILTERED) */
    bool deadletter_pending; /* its dead-letter write failed: retried until written */
    int deadletter_tries;
    bool timer_started;
    uv_timer_t retry_timer; /* initialised on the first retry only */
} delivery_job;

/* The jobs of one ordering key: head is the only one that may run. */
typedef struct key_chain {
    char *key;
    delivery_job *head, *tail;
    struct key_chain *next_in_bucket;
} key_chain;

#define KEY_BUCKETS 4096

struct dispatcher {
    uv_loop_t *loop;
    dispatcher_options options;
    char *processor_name;
    key_chain *buckets[KEY_BUCKETS];
    delivery_job *ready_head, *ready_tail;
    delivery_job *all_jobs;
    size_t pending;
    size_t attempts_running;
    size_t timers_open;        /* job timers not yet closed: the dispatcher outlives them */
    size_t deadletter_pending; /* jobs whose dead-letter write failed, waiting to retry */
    bool abandoning;
    bool keeping; /* abandoned with keep: no dead letters */
    bool sweeping;
    /* Calls into the dispatcher still on the stack. done() may close the dispatcher (the engine
     * does at shutdown); it is freed only once the outermost call has stopped touching it. */
    int busy;
    char abandon_reason[128];
    bool closing;
    void (*closed)(void *user);
    void *closed_user;
};

static double default_random01(void)
{
    return drand48();
}

static size_t key_hash(const char *key)
{
    size_t hash = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        hash = (hash ^ *p) * 1099511628211ULL;
    return hash % KEY_BUCKETS;
}

dispatcher *dispatcher_new(uv_loop_t *loop, const dispatcher_options *options)
{
    dispatcher *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->loop = loop;
    d->options = *options;
    if (!d->options.random01)
        d->options.random01 = default_random01;
    d->processor_name = strdup(options->processor_name);
    if (!d->processor_name) {
        free(d);
        return NULL;
    }
    d->options.processor_name = d->processor_name;
    return d;
}

size_t dispatcher_pending(const dispatcher *d)
{
    return d->pending;
}

size_t dispatcher_deadletter_pending(const dispatcher *d)
{
    return d->deadletter_pending;
}

static void ready_push(dispatcher *d, delivery_job *job)
{
    job->next_ready = NULL;
    if (d->ready_tail)
        d->ready_tail->next_ready = job;
    else
        d->ready_head = job;
    d->ready_tail = job;
}

/* A job that waited (behind its key, or for a retry) goes back in intake order, ahead of younger
 * events: with maxInFlight 1 delivery then follows the source's order exactly. */
static void ready_push_in_order(dispatcher *d, delivery_job *job)
{
    if (!d->ready_tail || d->ready_tail->ev->sequence < job->ev->sequence) {
        ready_push(d, job);
        return;
    }
    delivery_job **link = &d->ready_head;
    while (*link && (*link)->ev->sequence < job->ev->sequence)
        link = &(*link)->next_ready;
    job->next_ready = *link;
    *link = job;
}

static delivery_job *ready_pop(dispatcher *d)
{
    delivery_job *job = d->ready_head;
    if (job) {
        d->ready_head = job->next_ready;
        if (!d->ready_head)
            d->ready_tail = NULL;
    }
    return job;
}

static void ready_remove(dispatcher *d, delivery_job *job)
{
    delivery_job **link = &d->ready_head, *prev = NULL;
    while (*link && *link != job) {
        prev = *link;
        link = &(*link)->next_ready;
    }
    if (!*link)
        return;
    *link = job->next_ready;
    if (d->ready_tail == job)
        d->ready_tail = prev;
}

/* Puts job behind the others of its key; true when it is first in line and may run now. */
static bool chain_enqueue(dispatcher *d, delivery_job *job, const char *key)
{
    size_t bucket = key_hash(key);
    key_chain *chain = d->buckets[bucket];
    while (chain && strcmp(chain->key, key) != 0)
        chain = chain->next_in_bucket;
    if (chain) {
        chain->tail->next_same = job;
        chain->tail = job;
        job->chain = chain;
        return false;
    }
    chain = calloc(1, sizeof *chain);
    if (!chain || !(chain->key = strdup(key))) {
        /* Without memory for the chain, deliver unordered rather than lose the event. */
        free(chain);
        log_warn("dispatcher", "out of memory for ordering key; delivering %s unordered",
                 job->ev->id);
        return true;
    }
    chain->head = chain->tail = job;
    chain->next_in_bucket = d->buckets[bucket];
    d->buckets[bucket] = chain;
    job->chain = chain;
    return true;
}

/* The head of a chain finished: the next job of the key becomes runnable. */
static void chain_advance(dispatcher *d, delivery_job *job)
{
    key_chain *chain = job->chain;
    if (!chain)
        return;
    chain->head = job->next_same;
    if (chain->head) {
        ready_push_in_order(d, chain->head);
        return;
    }
    key_chain **link = &d->buckets[key_hash(chain->key)];
    while (*link != chain)
        link = &(*link)->next_in_bucket;
    *link = chain->next_in_bucket;
    free(chain->key);
    free(chain);
}

static void maybe_finish_close(dispatcher *d)
{
    if (!d->closing || d->pending > 0 || d->timers_open > 0 || d->busy > 0)
        return;
    void (*closed)(void *) = d->closed;
    void *user = d->closed_user;
    free(d->processor_name);
    free(d);
    if (closed)
        closed(user);
}

static void free_job_after_timer_close(uv_handle_t *handle)
{
    delivery_job *job = handle->data;
    dispatcher *d = job->owner;
    free(job);
    d->timers_open--;
    maybe_finish_close(d);
}

static void pump(dispatcher *d);
static void abandon_sweep(dispatcher *d);
static void ensure_timer(delivery_job *job);
static void on_deadletter_retry(uv_timer_t *timer);

/* A failed dead-letter write is not an acknowledgement: the job stays (pending, and first of its
 * key) and the write is tried again, 1 s, 2 s, ... up to 30 s apart, while readiness answers 503
 * and event_router_deadletter_pending raises the alarm. Past the shutdown deadline it is tried
 * once more; then, with a disk queue, the event is kept for the next start, else the line goes
 * to the log, the last place left. Returns true when the job may finish. */
static bool write_dead_letter(delivery_job *job)
{
    dispatcher *d = job->owner;
    event *ev = job->ev;
    bool written = deadletter_write(d->options.deadletter, d->processor_name, ev, job->attempts,
                                    job->last_error);
    if (written || d->abandoning) {
        if (job->deadletter_pending) {
            job->deadletter_pending = false;
            d->deadletter_pending--;
        }
        if (written) {
            d->options.metrics->events_dead_lettered++;
            log_warn("dispatcher", "%s: event %s dead-lettered after %d attempt(s): %s",
                     d->processor_name, ev->id, job->attempts, job->last_error);
        } else if (!d->keeping) {
            char *line =
                deadletter_format_line(d->processor_name, ev, job->attempts, job->last_error);
            d->options.metrics->events_dead_lettered++;
            log_error("dispatcher",
                      "%s: event %s could not be written to the dead-letter file before "
                      "shutdown; its dead letter follows: %s",
                      d->processor_name, ev->id, line ? line : "(out of memory)");
            free(line);
        }
        return true;
    }
    if (!job->deadletter_pending) {
        job->deadletter_pending = true;
        d->deadletter_pending++;
        log_error("dispatcher",
                  "%s: event %s stays in memory until its dead letter is written (retrying)",
                  d->processor_name, ev->id);
    }
    double delay = job->deadletter_tries < 5 ? (double)(1 << job->deadletter_tries) : 30.0;
    job->deadletter_tries++;
    ensure_timer(job);
    uv_timer_start(&job->retry_timer, on_deadletter_retry, (uint64_t)(delay * 1000.0), 0);
    return false;
}

/* The job's final outcome: ack (delivered) or nack (dead-lettered). */
static void finish(delivery_job *job, bool delivered)
{
    dispatcher *d = job->owner;
    event *ev = job->ev;
    d->busy++;
    bool kept = !delivered && d->keeping;
    if (delivered && job->filtered) {
        d->options.stats->filtered++;
    } else if (delivered) {
        if (!d->options.type->fans_out)
            metrics_observe_latency(d->options.metrics,
                                    (double)(uv_hrtime() - ev->received_ns) / 1e9);
    } else if (kept) {
        if (job->deadletter_pending) {
            job->deadletter_pending = false;
            d->deadletter_pending--;
        }
        log_info("dispatcher", "%s: event %s kept in the disk queue for the next start: %s",
                 d->processor_name, ev->id, job->last_error);
    } else if (!write_dead_letter(job)) {
        d->busy--;
        return; /* still owned: retried until the line is written */
    }
    if (!kept && !job->filtered && !d->options.type->fans_out)
        metrics_processor_outcome(d->options.stats, ev->subject ? ev->subject : ev->type,
                                  delivered);

    /* The job is freed below; the reason of a nack outlives it until done() has run. */
    char job_error[sizeof job->last_error];
    if (!delivered)
        snprintf(job_error, sizeof job_error, "%s", job->last_error);
    chain_advance(d, job);
    if (job->prev_all)
        job->prev_all->next_all = job->next_all;
    else
        d->all_jobs = job->next_all;
    if (job->next_all)
        job->next_all->prev_all = job->prev_all;
    d->pending--;

    if (job->timer_started) {
        uv_close((uv_handle_t *)&job->retry_timer, free_job_after_timer_close);
    } else {
        free(job);
    }
    d->options.done(d->options.owner, ev,
                    delivered ? DISPATCH_DELIVERED
                    : kept    ? DISPATCH_KEPT
                              : DISPATCH_DEAD_LETTERED,
                    delivered ? NULL : job_error);
    event_unref(ev);
    if (d->abandoning)
        abandon_sweep(d);
    else
        pump(d);
    d->busy--;
    maybe_finish_close(d);
}

static void on_deadletter_retry(uv_timer_t *timer)
{
    delivery_job *job = timer->data;
    dispatcher *d = job->owner;
    d->busy++;
    finish(job, false);
    d->busy--;
    maybe_finish_close(d);
}

static void ensure_timer(delivery_job *job)
{
    if (!job->timer_started) {
        dispatcher *d = job->owner;
        uv_timer_init(d->loop, &job->retry_timer);
        job->retry_timer.data = job;
        job->timer_started = true;
        d->timers_open++;
    }
}

static void on_retry_timer(uv_timer_t *timer)
{
    delivery_job *job = timer->data;
    ready_push_in_order(job->owner, job);
    pump(job->owner);
}

static void schedule_retry(delivery_job *job, const delivery_result *result)
{
    dispatcher *d = job->owner;
    const config_delivery *policy = d->options.delivery;
    double delay = backoff_delay_seconds(job->attempts, policy->backoff_initial_seconds,
                                         policy->backoff_max_seconds, d->options.random01());
    /* The target's own Retry-After wins, but a hostile or broken value cannot park the event for
     * hours: it is capped at the configured maximum backoff. */
    if (result->retry_after_seconds >= 0)
        delay = result->retry_after_seconds < policy->backoff_max_seconds
                    ? result->retry_after_seconds
                    : policy->backoff_max_seconds;
    ensure_timer(job);
    d->options.stats->retries++;
    log_debug("dispatcher", "%s: retrying event %s in %.3fs (attempt %d): %s", d->processor_name,
              job->ev->id, delay, job->attempts, job->last_error);
    uv_timer_start(&job->retry_timer, on_retry_timer, (uint64_t)(delay * 1000.0), 0);
}

static void on_attempt_done(void *attempt, const delivery_result *result)
{
    delivery_job *job = attempt;
    dispatcher *d = job->owner;
    job->in_attempt = false;
    d->attempts_running--;
    d->options.stats->in_flight--;
    job->attempts++;
    if (result->status == DELIVERY_FILTERED) {
        job->filtered = true;
        finish(job, true);
        return;
    }
    if (!d->options.type->fans_out)
        metrics_count_response(d->options.stats, result->http_status);

    if (result->status == DELIVERY_OK) {
        finish(job, true);
        return;
    }
    snprintf(job->last_error, sizeof job->last_error, "%s", result->error);
    if (d->abandoning) {
        snprintf(job->last_error, sizeof job->last_error, "%.100s (last error: %.140s)",
                 d->abandon_reason, result->error);
        finish(job, false);
    } else if (result->status == DELIVERY_RETRY && job->attempts <= d->options.delivery->retries) {
        schedule_retry(job, result);
        pump(d);
    } else {
        finish(job, false);
    }
}

/* Starts attempts while there is room. A processor never calls back from inside send(), so this
 * loop cannot re-enter itself. */
static void pump(dispatcher *d)
{
    int limit = d->options.delivery->max_in_flight > 0 ? d->options.delivery->max_in_flight : 1;
    while (!d->abandoning && (d->options.type->fans_out || d->attempts_running < (size_t)limit)) {
        delivery_job *job = ready_pop(d);
        if (!job)
            break;
        job->in_attempt = true;
        d->attempts_running++;
        d->options.stats->in_flight++;
        d->options.type->send(d->options.processor_state, job->ev, job, on_attempt_done);
    }
}

void dispatcher_submit(dispatcher *d, event *ev)
{
    delivery_job *job = calloc(1, sizeof *job);
    if (!job) {
        /* Not even a job fits: the event is still not dropped silently. */
        if (!deadletter_write(d->options.deadletter, d->processor_name, ev, 0, "out of memory"))
            log_error("dispatcher", "%s: event %s lost: out of memory", d->processor_name, ev->id);
        d->options.done(d->options.owner, ev, DISPATCH_DEAD_LETTERED, "out of memory");
        return;
    }
    job->owner = d;
    job->ev = event_ref(ev);
    job->next_all = d->all_jobs;
    if (d->all_jobs)
        d->all_jobs->prev_all = job;
    d->all_jobs = job;
    d->pending++;
    /* A fan-out processor orders per target itself; ordering here too would hold one target's
     * events behind another's retries. */
    const char *key = d->options.type->fans_out ? NULL : event_ordering_key(ev);
    if (d->abandoning) {
        snprintf(job->last_error, sizeof job->last_error, "%s", d->abandon_reason);
        finish(job, false);
        return;
    }
    if (!key || chain_enqueue(d, job, key))
        ready_push(d, job);
    pump(d);
}

/* Dead-letters every job that may end now: not in an attempt and first in line for its key.
 * Jobs behind an attempt still running follow when it ends (finish() sweeps again). Jobs are
 * taken in chain order because finishing one advances its chain. */
static void abandon_sweep(dispatcher *d)
{
    if (d->sweeping)
        return;
    d->sweeping = true;
    d->busy++;
    for (bool progress = true; progress;) {
        progress = false;
        for (delivery_job *job = d->all_jobs; job; job = job->next_all) {
            if (job->in_attempt || (job->chain && job->chain->head != job))
                continue;
            ready_remove(d, job);
            if (job->timer_started)
                uv_timer_stop(&job->retry_timer);
            char previous[256];
            snprintf(previous, sizeof previous, "%s", job->last_error);
            if (previous[0])
                snprintf(job->last_error, sizeof job->last_error, "%.100s (last error: %.140s)",
                         d->abandon_reason, previous);
            else
                snprintf(job->last_error, sizeof job->last_error, "%s", d->abandon_reason);
            finish(job, false);
            progress = true;
            break;
        }
    }
    d->sweeping = false;
    d->busy--;
    maybe_finish_close(d);
}

void dispatcher_abandon(dispatcher *d, const char *reason, bool keep)
{
    d->abandoning = true;
    d->keeping = keep;
    snprintf(d->abandon_reason, sizeof d->abandon_reason, "%s", reason);
    if (d->options.type->abandon)
        d->options.type->abandon(d->options.processor_state, reason, keep);
    abandon_sweep(d);
}

void dispatcher_close(dispatcher *d, void (*closed)(void *user), void *user)
{
    d->closing = true;
    d->closed = closed;
    d->closed_user = user;
    maybe_finish_close(d);
}
