/* The pipeline: sources -> queue -> scripts -> route -> one dispatcher per processor -> ack/nack
 * -> the source's event_done (checkpoints), and the engine's start, reload and staged shutdown.
 * What the console or a test may see and do is the public API at the end (engine.h). */
#include "engine.h"

#include "console/console.h"
#include "deadletter.h"
#include "disk_queue.h"
#include "dispatcher.h"
#include "event_queue.h"
#include "event_view.h"
#include "filters/event_pattern.h"
#include "ha/leader_election.h"
#include "http/http_client.h"
#include "kube/k8s_api.h"
#include "log.h"
#include "metrics/metrics_server.h"
#include "processors/processor.h"
#include "lua/script_chain.h"
#include "script_deadletter.h"
#include "sources/source.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct engine_source {
    const source_type *type;
    void *state;
    const config_provider *config;
    provider_stats *stats;
    bool paused; /* from the console */
} engine_source;

typedef struct engine_processor {
    const processor_type *type;
    void *state;
    dispatcher *dispatcher;
    engine *owner;
    processor_stats *stats;
    char last_error[256]; /* of the last event it dead-lettered, for the console */
} engine_processor;

struct engine {
    uv_loop_t *loop;
    const config *config;
    metrics *metrics;
    event_queue queue;
    disk_queue *journal; /* NULL: memory queue */
    http_client *http;
    deadletter *deadletter;
    script_deadletters *script_deadletters; /* the scripts' dead letters waiting to be written */
    metrics_server *metrics_server;
    engine_source *sources;
    size_t source_count;
    engine_processor *processors;
    size_t processor_count;
    processor_services processor_services;
    script_chain *scripts; /* NULL: no scripts, every event goes to every processor */
    console *console;      /* NULL: no console; attached by its backend, closed by us */

    uv_idle_t drain; /* runs the queue -> dispatchers step outside the sources' callbacks */
    bool drain_active;
    size_t in_delivery; /* events taken off the queue and not yet finished everywhere */
    size_t max_in_delivery;
    size_t in_delivery_bytes; /* their event_memory_bytes */
    size_t max_in_delivery_bytes;
    bool keep_undelivered; /* past the shutdown deadline with a disk queue: leave the rest */

    bool shutting_down;
    bool closing_handles;
    uv_timer_t shutdown_timer;
    size_t handles_open;
    size_t dispatchers_open;
    void (*stopped)(void *user);
    void *stopped_user;
    void (*on_fatal)(void *user, const char *reason);
    void *on_fatal_user;

    /* High availability (leaderElection): sources marked leader_only run only while this replica
     * leads; the others (the webhook) take in events on every replica. */
    k8s_api kube;
    bool kube_loaded;
    char lease_namespace[256];
    char checkpoint_namespace[256];
    leader_election *election; /* NULL: no election, every source runs */
    bool election_closing;
};

static const char *processor_type_name(config_processor_kind kind)
{
    switch (kind) {
    case PROCESSOR_EVENTBRIDGE:
        return "aws_event_bridge";
    case PROCESSOR_OPENFAAS:
        return "openfaas";
    default:
        return "knative";
    }
}

/* Every event accepted and not yet finished: the queue's and the dispatchers' (waiting for their
 * turn, a retry or an attempt). */
static size_t queue_depth_gauge(void *user)
{
    engine *e = user;
    return event_queue_depth(&e->queue) + e->in_delivery;
}

static void queue_samples(void *user, metrics_queue_sample *out)
{
    engine *e = user;
    out->queued_bytes = event_queue_bytes(&e->queue);
    out->in_delivery = e->in_delivery;
    out->in_delivery_bytes = e->in_delivery_bytes;
    out->disk = e->journal != NULL;
    for (size_t i = 0; i < e->processor_count; i++)
        if (e->processors[i].dispatcher)
            out->deadletter_pending += dispatcher_deadletter_pending(e->processors[i].dispatcher);
    out->deadletter_pending += script_deadletters_pending(e->script_deadletters);
    out->deadletter_write_failures = e->deadletter ? deadletter_write_failures(e->deadletter) : 0;
    if (e->journal) {
        out->disk_bytes = disk_queue_bytes(e->journal);
        out->fsyncs = disk_queue_fsyncs(e->journal);
        out->commits = disk_queue_commits(e->journal);
        out->disk_healthy = disk_queue_healthy(e->journal);
    }
}

bool engine_ready(const engine *e)
{
    if (e->shutting_down)
        return false;
    if (e->journal && !disk_queue_healthy(e->journal))
        return false;
    /* A dead letter that cannot be written is an alarm: readiness says so until it is. */
    if (script_deadletters_pending(e->script_deadletters) > 0)
        return false;
    for (size_t i = 0; i < e->processor_count; i++)
        if (e->processors[i].dispatcher &&
            dispatcher_deadletter_pending(e->processors[i].dispatcher) > 0)
            return false;
    /* A standby (its leader-only sources not running) is ready: its webhook intake works. */
    for (size_t i = 0; i < e->source_count; i++)
        if (e->sources[i].state && e->sources[i].type->ready &&
            !e->sources[i].type->ready(e->sources[i].state))
            return false;
    for (size_t i = 0; i < e->processor_count; i++)
        if (e->processors[i].type->ready && e->processors[i].state &&
            !e->processors[i].type->ready(e->processors[i].state))
            return false;
    return true;
}

static bool engine_ready_callback(void *user)
{
    return engine_ready(user);
}

metrics *engine_metrics(engine *e)
{
    return e->metrics;
}

static void on_drain(uv_idle_t *idle);

/* Room to take one more event off the queue: by count, and by bytes (one event always fits, so
 * an event larger than the bound still moves). */
static bool room_in_delivery(const engine *e)
{
    return e->in_delivery < e->max_in_delivery &&
           (e->in_delivery == 0 || e->in_delivery_bytes < e->max_in_delivery_bytes);
}

static void schedule_drain(engine *e)
{
    if (!e->drain_active && event_queue_depth(&e->queue) > 0 && room_in_delivery(e)) {
        uv_idle_start(&e->drain, on_drain);
        e->drain_active = true;
    }
}

static void on_queue_ready(void *consumer)
{
    schedule_drain(consumer);
}

static void maybe_finish_shutdown(engine *e);
static void leave_delivery(engine *e, event *ev);

static void find_source_and_finish(engine *e, event *ev)
{
    for (size_t i = 0; i < e->source_count; i++) {
        if (e->sources[i].config->name == ev->source_name ||
            (ev->source_name && strcmp(e->sources[i].config->name, ev->source_name) == 0)) {
            if (e->sources[i].type->event_done && e->sources[i].state)
                e->sources[i].type->event_done(e->sources[i].state, ev);
            return;
        }
    }
}

/* One processor acked or nacked ev. When the last one has, the event is finished: the source
 * may advance its checkpoint past it. */
/* Every processor the event went to has acked or nacked it (or it went to none): the source may
 * now advance its checkpoint past it. */
static void event_finished(engine *e, event *ev)
{
    if (!ev->recovered)
        find_source_and_finish(e, ev);
    event_queue_finished(&e->queue, ev);
    leave_delivery(e, ev);
}

/* Shutdown with a disk queue: ev was not delivered; it stays on disk and nobody is told. */
static void leave_delivery(engine *e, event *ev)
{
    e->in_delivery--;
    e->in_delivery_bytes -= event_memory_bytes(ev);
    event_unref(ev);
    schedule_drain(e);
    maybe_finish_shutdown(e);
}

static void trace(engine *e, const event *ev, trace_step_kind kind, const char *name,
                  const char *detail)
{
    if (!e->console)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    trace_step step = {kind, name, detail, (double)now.tv_sec + now.tv_nsec / 1e9};
    console_trace_step(e->console, ev, &step);
}

static void on_delivery_done(void *owner, event *ev, dispatch_outcome outcome, const char *error)
{
    engine_processor *p = owner;
    engine *e = p->owner;
    const char *name = e->config->processors[p - e->processors].name;
    bool delivered = outcome == DISPATCH_DELIVERED;
    if (outcome == DISPATCH_KEPT) {
        ev->deliveries_kept++;
    } else if (!delivered) {
        ev->deliveries_failed++;
        snprintf(p->last_error, sizeof p->last_error, "%s", error ? error : "");
    }
    trace(e, ev, delivered ? TRACE_DELIVERED : TRACE_DEADLETTER, name,
          delivered ? "delivered" : error);
    if (--ev->deliveries_pending > 0)
        return;
    if (ev->deliveries_kept > 0) {
        leave_delivery(e, ev);
        return;
    }
    if (ev->deliveries_failed == 0)
        e->metrics->events_out++;
    event_finished(e, ev);
}

/* The scripts' dead letter of ev is written (or, past the shutdown deadline, logged or kept on
 * disk): only now is the event finished. */
static void on_script_dead_letter_done(void *owner, event *ev, script_deadletter_outcome outcome)
{
    engine *e = owner;
    if (outcome == SCRIPT_DEADLETTER_KEPT) {
        leave_delivery(e, ev);
        return;
    }
    e->metrics->events_dead_lettered++;
    event_finished(e, ev);
}

/* An event the scripts could not pass on is kept in the "scripts" dead-letter file; it is
 * finished once its line is written (script_deadletter.h: a failed write is retried). */
static void dead_letter_from_scripts(engine *e, event *ev, const char *error)
{
    trace(e, ev, TRACE_DEADLETTER, "scripts", error);
    log_warn("engine", "event %s dead-lettered by the scripts: %s", ev->id, error);
    script_deadletters_write(e->script_deadletters, ev, error);
}

static engine_processor *engine_find_processor(engine *e, const char *name)
{
    for (size_t i = 0; i < e->processor_count; i++)
        if (strcmp(e->config->processors[i].name, name) == 0)
            return &e->processors[i];
    return NULL;
}

/* A processor with a filter gets only the events its pattern matches (against the event as
 * structured JSON); the others are acknowledged for it here, counted, and never delivered.
 * Removes them from chosen and returns how many remain. */
static size_t apply_filters(engine *e, event *ev, engine_processor **chosen, size_t count)
{
    event_view view;
    const cJSON *json = NULL;
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        const config_processor *pc = &e->config->processors[chosen[i] - e->processors];
        if (pc->filter) {
            if (!json)
                json = event_view_init(&view, ev);
            if (!event_pattern_match(pc->filter, json)) {
                chosen[i]->stats->filtered++;
                if (e->console) {
                    char why[400];
                    event_pattern_explain(pc->filter, json, why, sizeof why);
                    trace(e, ev, TRACE_FILTERED, pc->name, why);
                }
                continue;
            }
        }
        chosen[kept++] = chosen[i];
    }
    return kept;
}

/* Submits ev to the processors the scripts chose (all when they chose none). Returns false with
 * a reason when a route names no processor: a script bug, and the event is dead-lettered. */
static bool route_event(engine *e, event *ev, const script_result *result, char *err,
                        size_t err_cap)
{
    engine_processor *chosen[64];
    size_t count = 0;
    if (!result || !result->routes) {
        for (size_t i = 0; i < e->processor_count && count < 64; i++)
            chosen[count++] = &e->processors[i];
    } else {
        for (size_t r = 0; r < result->route_count; r++) {
            engine_processor *p = engine_find_processor(e, result->routes[r]);
            if (!p) {
                snprintf(err, err_cap,
                         "a script routed the event to '%.100s', which is not a "
                         "configured eventProcessor",
                         result->routes[r]);
                return false;
            }
            bool duplicate = false;
            for (size_t i = 0; i < count; i++)
                duplicate = duplicate || chosen[i] == p;
            if (!duplicate && count < 64)
                chosen[count++] = p;
        }
    }
    count = apply_filters(e, ev, chosen, count);
    if (e->console) {
        char names[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < count && used < sizeof names; i++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? "," : "",
                                     e->config->processors[chosen[i] - e->processors].name);
        trace(e, ev, TRACE_ROUTED, "router", count ? names : "(none)");
    }
    ev->deliveries_pending = (unsigned)count;
    ev->deliveries_failed = 0;
    ev->deliveries_kept = 0;
    if (count == 0) {
        event_finished(e, ev); /* routed nowhere on purpose (an empty route list), or filtered */
        return true;
    }
    /* Every dispatcher holds its own reference; ours is dropped in event_finished. */
    for (size_t i = 0; i < count; i++)
        dispatcher_submit(chosen[i]->dispatcher, ev);
    return true;
}

/* One step per script that ran (the chain stops at a drop): kept, changed or its error. */
static void trace_scripts(engine *e, const event *ev, script_verdict verdict,
                          const script_result *result)
{
    for (size_t i = 0; i < script_chain_count(e->scripts) && i < 32; i++) {
        const char *name = script_chain_name(e->scripts, i);
        if (result->error_script && strcmp(result->error_script, name) == 0) {
            char detail[600];
            snprintf(detail, sizeof detail, "error: %s", result->error);
            trace(e, ev, TRACE_SCRIPT, name, detail);
            if (verdict != SCRIPT_KEEP)
                return;
            continue;
        }
        trace(e, ev, TRACE_SCRIPT, name, result->changed_mask & (1u << i) ? "changed" : "kept");
    }
    if (verdict == SCRIPT_DROP)
        trace(e, ev, TRACE_SCRIPT, "scripts", "dropped");
}

/* Replay to one processor: the scripts already ran when the event first passed. */
static void enter_delivery(engine *e, event *ev)
{
    e->in_delivery++;
    e->in_delivery_bytes += event_memory_bytes(ev);
}

static void engine_dispatch_to(engine *e, engine_processor *p, event *ev)
{
    e->metrics->events_in++;
    enter_delivery(e, ev);
    if (e->console) {
        console_trace_begin(e->console, ev);
        trace(e, ev, TRACE_RECEIVED, "replay", "");
        trace(e, ev, TRACE_ROUTED, "router", e->config->processors[p - e->processors].name);
    }
    ev->deliveries_pending = 1;
    ev->deliveries_failed = 0;
    ev->deliveries_kept = 0;
    dispatcher_submit(p->dispatcher, ev);
}

/* source -> scripts -> route -> dispatchers. */
static void engine_dispatch(engine *e, event *ev)
{
    e->metrics->events_in++;
    enter_delivery(e, ev);
    if (e->console) {
        console_trace_begin(e->console, ev);
        trace(e, ev, TRACE_RECEIVED, ev->source_name ? ev->source_name : "replay", "");
    }
    if (!e->scripts) {
        route_event(e, ev, NULL, NULL, 0);
        return;
    }
    script_result result = {0};
    script_verdict verdict = script_chain_run(e->scripts, ev, &result);
    if (result.error[0])
        e->metrics->script_errors_total++;
    if (e->console)
        trace_scripts(e, ev, verdict, &result);
    char err[256];
    if (verdict == SCRIPT_DROP) {
        e->metrics->events_dropped++;
        event_finished(e, ev);
    } else if (verdict == SCRIPT_DEADLETTER) {
        dead_letter_from_scripts(e, ev, result.error);
    } else if (!route_event(e, ev, &result, err, sizeof err)) {
        dead_letter_from_scripts(e, ev, err);
    }
    script_result_clear(&result);
}

static void on_drain(uv_idle_t *idle)
{
    engine *e = idle->data;
    /* A bounded batch per loop turn keeps the sockets served while a backlog drains. */
    for (int n = 0; n < 256 && !e->keep_undelivered && (e->shutting_down || room_in_delivery(e));
         n++) {
        event *ev = event_queue_pop(&e->queue);
        if (!ev)
            break;
        engine_dispatch(e, ev);
    }
    if (event_queue_depth(&e->queue) == 0 || e->keep_undelivered ||
        (!e->shutting_down && !room_in_delivery(e))) {
        uv_idle_stop(&e->drain);
        e->drain_active = false;
    }
}

static void on_handle_closed(uv_handle_t *handle)
{
    engine *e = handle->data;
    e->handles_open--;
    maybe_finish_shutdown(e);
}

static void on_dispatcher_closed(void *user)
{
    engine *e = user;
    e->dispatchers_open--;
    maybe_finish_shutdown(e);
}

static void engine_free(engine *e)
{
    for (size_t i = 0; i < e->processor_count; i++)
        if (e->processors[i].state)
            e->processors[i].type->destroy(e->processors[i].state);
    free(e->processors);
    free(e->sources);
    script_chain_free(e->scripts);
    k8s_api_free(&e->kube);
    event_queue_destroy(&e->queue);
    deadletter_close(e->deadletter);
    metrics_free(e->metrics);
    void (*stopped)(void *) = e->stopped;
    void *user = e->stopped_user;
    free(e);
    if (stopped)
        stopped(user);
}

/* Shutdown runs in stages, each started when the previous one has nothing left:
 * 1. deliveries finish (or the deadline dead-letters them);
 * 2. dispatchers close; 3. the HTTP client, timers and idle handle close; 4. free. */
static void on_journal_closed(void *user)
{
    engine *e = user;
    e->journal = NULL;
    e->handles_open--;
    maybe_finish_shutdown(e);
}

static void on_script_deadletters_closed(void *user)
{
    engine *e = user;
    e->handles_open--;
    maybe_finish_shutdown(e);
}

static void on_election_closed(void *user)
{
    engine *e = user;
    e->election = NULL;
    maybe_finish_shutdown(e);
}

static void maybe_finish_shutdown(engine *e)
{
    if (!e->shutting_down || e->in_delivery > 0 ||
        (event_queue_depth(&e->queue) > 0 && !e->keep_undelivered))
        return;
    if (!e->closing_handles) {
        uv_timer_stop(&e->shutdown_timer);
        for (size_t i = 0; i < e->processor_count; i++) {
            if (e->processors[i].dispatcher) {
                e->dispatchers_open++;
                dispatcher *d = e->processors[i].dispatcher;
                e->processors[i].dispatcher = NULL;
                dispatcher_close(d, on_dispatcher_closed, e);
            }
        }
        /* A dispatcher with nothing pending closes at once and re-enters this function, which
         * then already went on to the next stage. */
        if (e->dispatchers_open > 0 || e->closing_handles)
            return;
        /* Every delivery is finished: now the standby may take over at once. */
        if (e->election) {
            if (!e->election_closing) {
                e->election_closing = true;
                leader_election_release_and_close(e->election, on_election_closed, e);
            }
            return;
        }
        e->closing_handles = true;
        for (size_t i = 0; i < e->processor_count; i++)
            if (e->processors[i].type->stop && e->processors[i].state)
                e->processors[i].type->stop(e->processors[i].state);
        if (e->http)
            http_client_close(e->http);
        e->http = NULL;
        if (e->metrics_server)
            metrics_server_close(e->metrics_server);
        e->metrics_server = NULL;
        if (e->console)
            console_close(e->console);
        e->console = NULL;
        e->handles_open = 2;
        uv_close((uv_handle_t *)&e->shutdown_timer, on_handle_closed);
        uv_close((uv_handle_t *)&e->drain, on_handle_closed);
        if (e->script_deadletters) {
            e->handles_open++;
            script_deadletters *sd = e->script_deadletters;
            e->script_deadletters = NULL;
            script_deadletters_close(sd, on_script_deadletters_closed, e);
        }
        if (e->journal) {
            /* Its last commit (finished records) is written before it closes. */
            e->handles_open++;
            disk_queue_close(e->journal, on_journal_closed, e);
        }
        return;
    }
    if (e->handles_open > 0)
        return;
    engine_free(e);
}

/* Past the deadline nothing waits any longer: attempts in flight are cancelled (closing the HTTP
 * client ends them with an error) and every undelivered event is dead-lettered, or, with a disk
 * queue, left on disk for the next start (it was acknowledged as durable; a dead letter would
 * only make an operator replay it by hand). */
static void on_shutdown_deadline(uv_timer_t *timer)
{
    engine *e = timer->data;
    size_t queued = event_queue_depth(&e->queue);
    bool keep = e->journal != NULL;
    log_warn("engine", "shutdown deadline reached with %zu event(s) in delivery and %zu queued: %s",
             e->in_delivery, queued,
             keep ? "keeping them in the disk queue for the next start" : "dead-lettering them");
    if (keep) {
        e->keep_undelivered = true;
    } else {
        deadletter_sync_lazily(e->deadletter);
        /* Queued events go into the dispatchers first so each lands in the dead-letter file of
         * every processor it was meant for. */
        event *ev;
        while ((ev = event_queue_pop(&e->queue)))
            engine_dispatch(e, ev);
    }
    script_deadletters_abandon(e->script_deadletters, keep);
    for (size_t i = 0; i < e->processor_count; i++)
        if (e->processors[i].dispatcher)
            dispatcher_abandon(e->processors[i].dispatcher, "not delivered before shutdown", keep);
    if (e->http) {
        http_client *http = e->http;
        e->http = NULL; /* closing calls back into the dispatchers, which may end the shutdown */
        if (e->election && !e->election_closing) {
            /* The release goes out before the client closes and is cut short with it: the
             * standby then waits for the lease to expire. */
            e->election_closing = true;
            leader_election_release_and_close(e->election, on_election_closed, e);
        }
        http_client_close(http);
    }
    maybe_finish_shutdown(e);
}

void engine_shutdown(engine *e, double deadline_seconds, void (*stopped)(void *user), void *user)
{
    if (e->shutting_down)
        return;
    e->shutting_down = true;
    e->stopped = stopped;
    e->stopped_user = user;
    log_info("engine", "shutting down: %zu event(s) queued, %zu in delivery",
             event_queue_depth(&e->queue), e->in_delivery);
    for (size_t i = 0; i < e->source_count; i++) {
        if (e->sources[i].state) {
            e->sources[i].type->close(e->sources[i].state);
            e->sources[i].state = NULL;
        }
    }
    uv_timer_start(&e->shutdown_timer, on_shutdown_deadline, (uint64_t)(deadline_seconds * 1000),
                   0);
    if (event_queue_depth(&e->queue) > 0 && !e->drain_active) {
        uv_idle_start(&e->drain, on_drain);
        e->drain_active = true;
    }
    maybe_finish_shutdown(e);
}

static void emit_script_samples(void *user,
                                void (*emit)(void *ctx, const char *script, const char *name,
                                             double value),
                                void *ctx)
{
    engine *e = user;
    if (!e->scripts)
        return;
    for (size_t i = 0; i < script_chain_count(e->scripts); i++)
        emit(ctx, script_chain_name(e->scripts, i), NULL,
             (double)script_chain_errors(e->scripts, i));
    script_chain_each_counter(e->scripts, (script_counter_fn)emit, ctx);
}

static script_chain *load_scripts(const config *cfg, char *err, size_t err_cap)
{
    script_limits limits = {.instruction_limit = cfg->script_instruction_limit,
                            .memory_limit = cfg->script_memory_limit,
                            .time_limit_ms = cfg->script_time_limit_ms};
    script_chain *chain = script_chain_load(cfg->scripts_dir, &limits, err, err_cap);
    if (chain)
        log_info("engine", "%zu script(s) loaded from %s", script_chain_count(chain),
                 cfg->scripts_dir);
    return chain;
}

/* A filter belongs to its processor, and processors are not reloaded: say so when one changed,
 * rather than let the old pattern go on silently. */
static void warn_changed_filters(const config *running, const config *fresh)
{
    for (size_t i = 0; i < fresh->processor_count; i++) {
        const config_processor *next = &fresh->processors[i];
        for (size_t k = 0; k < running->processor_count; k++) {
            const config_processor *now = &running->processors[k];
            if (strcmp(now->name, next->name) != 0)
                continue;
            const char *a = now->filter_text ? now->filter_text : "";
            const char *b = next->filter_text ? next->filter_text : "";
            if (strcmp(a, b) != 0)
                log_warn("engine",
                         "reload: processor '%s': its filter changed; processors are not "
                         "reloaded, restart to apply it",
                         next->name);
        }
    }
}

int engine_reload(engine *e, char *err, size_t err_cap)
{
    e->metrics->reloads_total++;
    e->metrics->last_reload = time(NULL);
    config_errors errors = {0};
    config *fresh = config_load(e->config->path, &errors);
    script_chain *chain = NULL;
    if (!fresh) {
        snprintf(err, err_cap, "%s", errors.count ? errors.messages[0] : "config unreadable");
    } else if (fresh->scripts_dir) {
        chain = load_scripts(fresh, err, err_cap);
    }
    bool ok = fresh && (chain || !fresh->scripts_dir);
    if (ok) {
        if (fresh->provider_count != e->config->provider_count ||
            fresh->processor_count != e->config->processor_count)
            log_warn("engine", "reload: sources and processors are not reloaded; restart to "
                               "apply changes to them");
        warn_changed_filters(e->config, fresh);
        /* Single-threaded: no event is inside the old chain at this point. */
        script_chain_free(e->scripts);
        e->scripts = chain;
        e->metrics->last_reload_error[0] = '\0';
        log_info("engine", "reload: %s", chain ? "scripts swapped in" : "no scripts configured");
    } else {
        e->metrics->reload_failures_total++;
        snprintf(e->metrics->last_reload_error, sizeof e->metrics->last_reload_error, "%s", err);
    }
    config_free(fresh);
    config_errors_free(&errors);
    return ok ? 0 : -1;
}

static int start_processors(engine *e, char *err, size_t err_cap)
{
    e->processors = calloc(e->config->processor_count, sizeof *e->processors);
    if (!e->processors)
        return -1;
    e->processor_count = e->config->processor_count;
    for (size_t i = 0; i < e->processor_count; i++) {
        const config_processor *pc = &e->config->processors[i];
        engine_processor *p = &e->processors[i];
        p->owner = e;
        p->type = processor_type_find(processor_type_name(pc->kind));
        if (!p->type) {
            snprintf(err, err_cap, "eventProcessor '%s': type not supported", pc->name);
            return -1;
        }
        char reason[512] = "";
        processor_services services = e->processor_services;
        services.deadletter = e->deadletter;
        services.metrics = e->metrics;
        services.stats = p->stats = metrics_add_processor(e->metrics, pc->name, p->type->name);
        if (!p->stats) {
            snprintf(err, err_cap, "eventProcessor '%s': out of memory", pc->name);
            return -1;
        }
        if (p->type->create(pc, &services, &p->state, reason, sizeof reason) != 0) {
            snprintf(err, err_cap, "eventProcessor '%s': %s", pc->name, reason);
            return -1;
        }
        dispatcher_options options = {
            .processor_name = pc->name,
            .type = p->type,
            .processor_state = p->state,
            .delivery = &e->config->delivery,
            .deadletter = e->deadletter,
            .metrics = e->metrics,
            .stats = p->stats,
            .done = on_delivery_done,
            .owner = p,
        };
        p->dispatcher = dispatcher_new(e->loop, &options);
        if (!p->dispatcher || !options.stats) {
            snprintf(err, err_cap, "eventProcessor '%s': out of memory", pc->name);
            return -1;
        }
        log_info("engine", "processor %s (%s) ready", pc->name, p->type->name);
    }
    return 0;
}

static void on_source_fatal(void *user, const char *reason)
{
    engine *e = user;
    log_error("engine", "%s", reason);
    if (e->on_fatal)
        e->on_fatal(e->on_fatal_user, reason);
}

void engine_set_fatal_handler(engine *e, void (*fn)(void *user, const char *reason), void *user)
{
    e->on_fatal = fn;
    e->on_fatal_user = user;
}

static bool engine_leading(void *user)
{
    engine *e = user;
    return !e->election || leader_election_leading(e->election);
}

static int start_source(engine *e, engine_source *s, char *err, size_t err_cap)
{
    const config_provider *pc = s->config;
    source_services services = {
        .loop = e->loop,
        .queue = &e->queue,
        .fatal = on_source_fatal,
        .engine = e,
        .stats = s->stats,
        .http = e->http,
        .kube = e->kube_loaded ? &e->kube : NULL,
        .checkpoint_store = &e->config->checkpoint_store,
        .checkpoint_namespace = e->checkpoint_namespace,
        .leading = engine_leading,
    };
    char reason[512] = "";
    if (s->type->create(pc, &services, &s->state, reason, sizeof reason) != 0) {
        snprintf(err, err_cap, "eventProvider '%s': %s", pc->name, reason);
        s->state = NULL;
        return -1;
    }
    log_info("engine", "source %s (%s) started on %s", pc->name, s->type->name,
             config_provider_address(pc));
    if (s->paused && s->type->pause)
        s->type->pause(s->state, true);
    return 0;
}

static bool runs_on_leader_only(const engine *e, const engine_source *s)
{
    return e->config->leader_election.enabled && s->type->leader_only;
}

static int start_sources(engine *e, char *err, size_t err_cap)
{
    e->sources = calloc(e->config->provider_count, sizeof *e->sources);
    if (!e->sources)
        return -1;
    e->source_count = e->config->provider_count;
    for (size_t i = 0; i < e->source_count; i++) {
        const config_provider *pc = &e->config->providers[i];
        engine_source *s = &e->sources[i];
        s->config = pc;
        s->type = source_type_find(config_provider_type_name(pc->kind));
        if (!s->type) {
            snprintf(err, err_cap, "eventProvider '%s': type not supported", pc->name);
            return -1;
        }
        s->stats =
            metrics_add_provider(e->metrics, pc->name, s->type->name, config_provider_address(pc));
        if (!s->stats) {
            snprintf(err, err_cap, "eventProvider '%s': out of memory", pc->name);
            return -1;
        }
        if (runs_on_leader_only(e, s)) {
            log_info("engine", "source %s (%s) waits for this replica to lead", pc->name,
                     s->type->name);
            continue;
        }
        if (start_source(e, s, err, err_cap) != 0)
            return -1;
    }
    return 0;
}

/* ---- leading ---- */

static void on_started_leading(void *user)
{
    engine *e = user;
    if (e->shutting_down)
        return;
    for (size_t i = 0; i < e->source_count; i++) {
        engine_source *s = &e->sources[i];
        if (!runs_on_leader_only(e, s) || s->state)
            continue;
        char err[600];
        if (start_source(e, s, err, sizeof err) != 0) {
            on_source_fatal(e, err);
            return;
        }
    }
}

/* What a stopped source has pushed is still delivered here; its checkpoint advances no further,
 * so the new leader reads again from the last checkpoint (duplicates within that window only). */
static void on_stopped_leading(void *user)
{
    engine *e = user;
    for (size_t i = 0; i < e->source_count; i++) {
        engine_source *s = &e->sources[i];
        if (!runs_on_leader_only(e, s) || !s->state)
            continue;
        log_info("engine", "source %s (%s) stopped: this replica no longer leads", s->config->name,
                 s->type->name);
        s->type->close(s->state);
        s->state = NULL;
    }
}

static void leader_sample(void *user, metrics_leader_sample *out)
{
    engine *e = user;
    out->enabled = e->election != NULL;
    if (!e->election)
        return;
    out->leading = leader_election_leading(e->election);
    out->transitions = leader_election_transitions(e->election);
    out->holder = leader_election_holder(e->election);
    out->identity = leader_election_identity(e->election);
}

/* Loads the service account when the config talks to Kubernetes, and picks the namespaces. */
static int open_kube(engine *e, char *err, size_t err_cap)
{
    const config *cfg = e->config;
    bool configmap = cfg->checkpoint_store.type == CHECKPOINT_STORE_CONFIGMAP;
    if (!cfg->leader_election.enabled && !configmap)
        return 0;
    if (k8s_api_load(&e->kube, err, err_cap) != 0)
        return -1;
    e->kube_loaded = true;
    const char *lease_ns = cfg->leader_election.lease_namespace
                               ? cfg->leader_election.lease_namespace
                               : e->kube.namespace_;
    const char *store_ns =
        cfg->checkpoint_store.namespace_ ? cfg->checkpoint_store.namespace_ : lease_ns;
    if ((cfg->leader_election.enabled && (!lease_ns || !*lease_ns)) ||
        (configmap && (!store_ns || !*store_ns))) {
        snprintf(err, err_cap,
                 "no namespace: set leaderElection.leaseNamespace (or checkpointStore.namespace), "
                 "or run with a service account whose namespace file exists");
        return -1;
    }
    snprintf(e->lease_namespace, sizeof e->lease_namespace, "%s", lease_ns ? lease_ns : "");
    snprintf(e->checkpoint_namespace, sizeof e->checkpoint_namespace, "%s",
             store_ns ? store_ns : "");
    return 0;
}

static int start_election(engine *e, char *err, size_t err_cap)
{
    if (!e->config->leader_election.enabled)
        return 0;
    leader_election_callbacks callbacks = {
        .started = on_started_leading, .stopped = on_stopped_leading, .user = e};
    e->election = leader_election_start(e->loop, e->http, &e->kube, &e->config->leader_election,
                                        e->lease_namespace, &callbacks, err, err_cap);
    if (!e->election)
        return -1;
    e->metrics->leader_samples = leader_sample;
    e->metrics->leader_samples_user = e;
    return 0;
}

/* Tears down a partly started engine synchronously enough for main() to exit with the error. */
static void abort_start(engine *e)
{
    e->in_delivery = 0;
    e->keep_undelivered = true; /* a disk queue's recovered events wait for a start that works */
    engine_shutdown(e, 0, NULL, NULL);
}

/* An event a previous run accepted and did not finish: delivered again (at-least-once, the same
 * CloudEvent id). Its source is told nothing: that run's source is gone. */
static void on_recovered(void *user, event *ev, const char *source)
{
    engine *e = user;
    ev->recovered = true;
    ev->source_name = NULL;
    for (size_t i = 0; source && i < e->config->provider_count; i++)
        if (strcmp(e->config->providers[i].name, source) == 0)
            ev->source_name = e->config->providers[i].name;
    ev->received_ns = uv_hrtime();
    event_queue_restore(&e->queue, ev);
}

static void observe_commit(void *user, double seconds)
{
    metrics_observe_commit(user, seconds);
}

static int open_journal(engine *e, char *err, size_t err_cap)
{
    const config *cfg = e->config;
    disk_queue_options options = {
        .dir = cfg->queue_dir,
        .max_bytes = cfg->queue_max_bytes,
        .segment_bytes = cfg->queue_segment_bytes,
        .sync_interval_seconds = cfg->queue_sync_interval_seconds,
    };
    disk_queue_recovery stats;
    e->journal = disk_queue_open(e->loop, &options, on_recovered, e, &stats, err, err_cap);
    if (!e->journal)
        return -1;
    event_queue_set_journal(&e->queue, e->journal);
    disk_queue_observe_commits(e->journal, observe_commit, e->metrics);
    log_info("engine",
             "disk queue %s: %zu undelivered event(s) from the last run to deliver again, %zu "
             "segment(s) read, %zu torn or corrupt record(s) skipped (%" PRIu64 " bytes)",
             cfg->queue_dir, stats.events, stats.segments, stats.torn_records, stats.torn_bytes);
    e->metrics->queue_recovered_events = stats.events;
    e->metrics->queue_torn_records = stats.torn_records;
    return 0;
}

engine *engine_start(uv_loop_t *loop, const config *cfg, char *err, size_t err_cap)
{
    engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    e->loop = loop;
    e->config = cfg;
    e->max_in_delivery = cfg->delivery.max_in_flight > 0 ? cfg->delivery.max_in_flight * 16 : 1024;
    e->metrics = metrics_new();
    if (!e->metrics ||
        !event_queue_init(&e->queue, cfg->queue_capacity ? cfg->queue_capacity : 4096)) {
        metrics_free(e->metrics);
        free(e);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    e->metrics->queue_depth = queue_depth_gauge;
    e->metrics->queue_depth_user = e;
    e->metrics->queue_samples = queue_samples;
    e->metrics->queue_samples_user = e;
    e->max_in_delivery_bytes =
        cfg->delivery.max_in_flight_bytes ? cfg->delivery.max_in_flight_bytes : 64u * 1024 * 1024;
    event_queue_set_max_bytes(&e->queue, cfg->queue_max_bytes);
    e->metrics->script_samples = emit_script_samples;
    e->metrics->script_samples_user = e;
    event_queue_set_consumer(&e->queue, on_queue_ready, e);
    uv_idle_init(loop, &e->drain);
    e->drain.data = e;
    uv_timer_init(loop, &e->shutdown_timer);
    e->shutdown_timer.data = e;
    e->http = http_client_new(loop);
    e->processor_services =
        (processor_services){.loop = loop, .http = e->http, .delivery = &cfg->delivery};

    char reason[512] = "";
    if (cfg->queue_type == QUEUE_DISK && open_journal(e, reason, sizeof reason) != 0) {
        snprintf(err, err_cap, "queue: %s", reason);
        abort_start(e);
        return NULL;
    }
    e->deadletter = deadletter_open(cfg->deadletter_dir ? cfg->deadletter_dir : "./deadletter",
                                    reason, sizeof reason);
    if (e->deadletter)
        e->script_deadletters =
            script_deadletters_new(loop, e->deadletter, on_script_dead_letter_done, e);
    if (e->deadletter && cfg->scripts_dir &&
        !(e->scripts = load_scripts(cfg, reason, sizeof reason))) {
        snprintf(err, err_cap, "scripts: %s", reason);
        abort_start(e);
        return NULL;
    }
    if (e->http && open_kube(e, reason, sizeof reason) != 0) {
        snprintf(err, err_cap, "Kubernetes API: %s", reason);
        abort_start(e);
        return NULL;
    }
    if (!e->http || !e->deadletter || !e->script_deadletters ||
        start_processors(e, reason, sizeof reason) != 0 ||
        start_sources(e, reason, sizeof reason) != 0 ||
        start_election(e, reason, sizeof reason) != 0) {
        snprintf(err, err_cap, "%s", reason[0] ? reason : "out of memory");
        abort_start(e);
        return NULL;
    }
    if (cfg->metrics.enabled) {
        e->metrics_server = metrics_server_start(loop, &cfg->metrics, e->metrics,
                                                 engine_ready_callback, e, reason, sizeof reason);
        if (!e->metrics_server) {
            snprintf(err, err_cap, "metricsProvider: %s", reason);
            abort_start(e);
            return NULL;
        }
        log_info("engine", "metrics on http://%s (/stats /metrics /healthz /readyz)",
                 cfg->metrics.bind_address);
    }
    return e;
}

/* ---- what the console (or a test) sees and does; loop thread only ---- */

const config *engine_config(const engine *e)
{
    return e->config;
}

size_t engine_source_count(const engine *e)
{
    return e->source_count;
}

bool engine_source_at(const engine *e, size_t i, engine_source_info *out)
{
    if (i >= e->source_count)
        return false;
    const engine_source *s = &e->sources[i];
    out->name = s->config->name;
    out->type = s->type->name;
    out->stats = e->metrics->providers[i];
    out->state = !s->state && runs_on_leader_only(e, s) && !e->shutting_down ? "standby"
                 : !s->state                                                 ? "stopped"
                 : s->paused                                                 ? "paused"
                 : s->type->ready && !s->type->ready(s->state)               ? "not ready"
                                                                             : "running";
    return true;
}

int engine_pause_source(engine *e, const char *name, bool pause, char *err, size_t err_cap)
{
    for (size_t i = 0; i < e->source_count; i++) {
        engine_source *s = &e->sources[i];
        if (strcmp(s->config->name, name) != 0)
            continue;
        if (!s->type->pause || (!s->state && !runs_on_leader_only(e, s))) {
            snprintf(err, err_cap, "source '%s' cannot be paused", name);
            return -1;
        }
        if (s->state) /* a standby's source starts paused when this replica comes to lead */
            s->type->pause(s->state, pause);
        s->paused = pause;
        log_info("engine", "source %s %s", name, pause ? "paused" : "resumed");
        return 0;
    }
    snprintf(err, err_cap, "no source named '%s'", name);
    return -1;
}

size_t engine_processor_count(const engine *e)
{
    return e->processor_count;
}

bool engine_processor_at(const engine *e, size_t i, engine_processor_info *out)
{
    if (i >= e->processor_count)
        return false;
    const engine_processor *p = &e->processors[i];
    out->name = e->config->processors[i].name;
    out->type = p->type->name;
    out->stats = p->stats;
    out->pending = p->dispatcher ? dispatcher_pending(p->dispatcher) : 0;
    out->last_error = p->last_error;
    out->processor_type = p->type;
    out->processor_state = p->state;
    return true;
}

const script_chain *engine_scripts(const engine *e)
{
    return e->scripts;
}

const char *engine_deadletter_dir(const engine *e)
{
    return deadletter_dir(e->deadletter);
}

int engine_replay(engine *e, event *ev, const char *processor, char *err, size_t err_cap)
{
    if (e->shutting_down) {
        snprintf(err, err_cap, "the engine is shutting down");
        return -1;
    }
    engine_processor *target = NULL;
    if (processor && !(target = engine_find_processor(e, processor))) {
        snprintf(err, err_cap, "no processor named '%s'", processor);
        return -1;
    }
    if (target)
        engine_dispatch_to(e, target, ev);
    else
        engine_dispatch(e, ev);
    return 0;
}

void engine_attach_console(engine *e, console *c)
{
    e->console = c;
}
