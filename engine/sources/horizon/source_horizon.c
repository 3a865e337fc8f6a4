/* The Horizon event source.
 *
 * A poll is one cycle of GET /rest/external/v1/audit-events calls:
 *   first poll without a checkpoint: size=10&page=1, the newest 10 events (as VEBA);
 *   every other poll: filter={"type":"Between","name":"time","fromValue":F,"toValue":T} with
 *   page=1, 2, ... until a page comes back empty, where F is the time of the last event pushed
 *   and T a day ahead of our clock (as VEBA, for clock skew).
 * Horizon's Between is inclusive, so F's millisecond comes again every poll: the ids already
 * pushed with that time are remembered (seen) and skipped, which is how several events in one
 * millisecond and events arriving between polls are each delivered once. The pages of a cycle
 * are collected, sorted by (time, id), deduplicated (new events shift Horizon's newest-first
 * pages, so a page can repeat the previous one's tail) and pushed in that order.
 *
 * After a poll that brought something the next one follows in 1 s; while nothing new arrives
 * the pause grows 1, 2, 4, 5 s (VEBA's backoff). A failure keeps the position and retries after
 * a capped, jittered backoff, so nothing is lost or repeated; refused credentials at the first
 * login stop the router (retrying only locks the account sooner).
 *
 * Backpressure: when the queue is full, pushing stops and resumes from its space callback. */
#include "sources/horizon/source_horizon.h"

#include "backoff.h"
#include "log.h"
#include "sources/horizon/horizon_api.h"
#include "sources/horizon/horizon_checkpoint.h"
#include "sources/horizon/horizon_event.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "horizon"
#define PAGE_SIZE 100
#define INITIAL_EVENTS "size=10&page=1"
#define MAX_CYCLE_EVENTS 500000 /* one poll's batch: a bound on memory, about 1 KiB each */
#define FUTURE_MS (24LL * 3600 * 1000)
#define POLL_MS 1000
#define IDLE_MAX_MS 5000
#define CHECKPOINT_INTERVAL_MS 1000
#define RETRY_INITIAL_SECONDS 0.5
#define RETRY_MAX_SECONDS 10.0

typedef struct held_event {
    int64_t time_ms;
    int64_t id;
    cJSON *json; /* detached from the page */
} held_event;

typedef struct horizon_source horizon_source;

/* Outlives the source when the queue still holds it as a waiter (the queue cannot forget one). */
typedef struct space_waiter {
    horizon_source *source;
} space_waiter;

struct horizon_source {
    uv_loop_t *loop;
    event_queue *queue;
    provider_stats *stats;
    const char *name;             /* owned by the config */
    const config_horizon *config; /* owned by the config */
    horizon_api *api;
    horizon_event_format format;

    bool following;      /* false until the first poll (VEBA's newest 10) is done */
    int64_t from_ms;     /* Between's fromValue: the time of the last pushed event */
    horizon_id_set seen; /* ids pushed with time == from_ms */

    held_event *batch;
    size_t count, cap, next; /* next: the first not pushed yet */
    int page;
    int64_t cycle_to_ms;
    bool cycle_pushed;
    size_t previous_page_count; /* a server that ignores page= repeats the same page */
    int64_t previous_page_first, previous_page_last;
    uint64_t idle_delay_ms;

    bool connected;
    bool ever_connected;
    bool closing;
    bool paused;
    bool parked; /* paused with work to resume */
    int attempt;
    char last_error[512];
    space_waiter *waiter;
    void (*fatal)(void *engine, const char *reason);
    void *fatal_engine;

    bool checkpointing;
    bool checkpoint_dirty;
    char checkpoint_path[1024];
    horizon_tracker *tracker;
    uint64_t next_seq;

    uv_timer_t poll_timer;
    uv_timer_t checkpoint_timer;
    int open_handles;
};

static void poll_start(horizon_source *s);
static void push_batch(horizon_source *s);

static int64_t wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- The batch of one poll ---- */

static void batch_clear(horizon_source *s)
{
    for (size_t i = s->next; i < s->count; i++)
        cJSON_Delete(s->batch[i].json);
    s->count = s->next = 0;
}

static bool batch_add(horizon_source *s, int64_t time_ms, int64_t id, cJSON *json)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        held_event *items = realloc(s->batch, cap * sizeof *items);
        if (!items)
            return false;
        s->batch = items;
        s->cap = cap;
    }
    s->batch[s->count++] = (held_event){.time_ms = time_ms, .id = id, .json = json};
    return true;
}

static int compare_held(const void *a, const void *b)
{
    const held_event *x = a, *y = b;
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Sorts into (time, id) order and drops repeats (the same id twice in one cycle). */
static void batch_order(horizon_source *s)
{
    if (s->count < 2)
        return; /* qsort's array must not be NULL, and an empty batch has none */
    qsort(s->batch, s->count, sizeof *s->batch, compare_held);
    size_t kept = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (kept > 0 && s->batch[kept - 1].id == s->batch[i].id &&
            s->batch[kept - 1].time_ms == s->batch[i].time_ms) {
            cJSON_Delete(s->batch[i].json);
            continue;
        }
        s->batch[kept++] = s->batch[i];
    }
    s->count = kept;
}

/* ---- Failure and retry ---- */

static void on_poll_timer(uv_timer_t *timer)
{
    poll_start(timer->data);
}

static void fail(horizon_source *s, const horizon_api_result *result)
{
    if (s->closing)
        return;
    snprintf(s->last_error, sizeof s->last_error, "%s", result->error ? result->error : "failed");
    s->connected = false;
    batch_clear(s);
    if (result->status == HORIZON_API_LOGIN_REFUSED && !s->ever_connected && s->fatal) {
        char reason[700];
        snprintf(reason, sizeof reason, "%s: %s", s->name, s->last_error);
        s->fatal(s->fatal_engine, reason);
        return;
    }
    double delay =
        backoff_reconnect_delay_seconds(s->attempt, RETRY_INITIAL_SECONDS, RETRY_MAX_SECONDS,
                                        (double)rand() / ((double)RAND_MAX + 1.0));
    s->attempt++;
    if (result->status == HORIZON_API_LOGIN_REFUSED)
        log_error(COMPONENT, "%s: %s (retrying in %.1fs)", s->name, s->last_error, delay);
    else
        log_warn(COMPONENT, "%s: %s (retrying in %.1fs)", s->name, s->last_error, delay);
    uv_timer_start(&s->poll_timer, on_poll_timer, (uint64_t)(delay * 1000.0), 0);
}

static void fail_start(horizon_source *s)
{
    horizon_api_result failed = {.status = HORIZON_API_UNREACHABLE,
                                 .error = "audit-events: cannot start a request"};
    fail(s, &failed);
}

/* ---- Pushing ---- */

static void on_space(void *opaque)
{
    space_waiter *waiter = opaque;
    horizon_source *s = waiter->source;
    free(waiter);
    if (!s)
        return; /* the source closed meanwhile */
    s->waiter = NULL;
    push_batch(s);
}

/* The cycle is delivered: choose when the next poll runs. */
static void cycle_done(horizon_source *s)
{
    s->count = s->next = 0;
    uint64_t delay = POLL_MS;
    if (s->cycle_pushed) {
        s->idle_delay_ms = POLL_MS;
    } else {
        delay = s->idle_delay_ms;
        s->idle_delay_ms = s->idle_delay_ms * 2 > IDLE_MAX_MS ? IDLE_MAX_MS : s->idle_delay_ms * 2;
    }
    if (!s->following) {
        /* An empty first answer means Horizon has no events yet: from the beginning, then. */
        s->following = true;
        log_info(COMPONENT, "%s: following audit events from %lld (ms since the epoch)", s->name,
                 (long long)s->from_ms);
    }
    uv_timer_start(&s->poll_timer, on_poll_timer, delay, 0);
}

static void push_batch(horizon_source *s)
{
    while (s->next < s->count) {
        if (s->closing)
            return;
        if (s->paused) {
            s->parked = true;
            return;
        }
        held_event *item = &s->batch[s->next];
        char reason[256];
        event *ev =
            horizon_event_convert(item->json, s->format, s->config->address, reason, sizeof reason);
        if (!ev) {
            log_warn(COMPONENT, "%s: skipping audit event %lld: %s", s->name, (long long)item->id,
                     reason);
            if (s->stats)
                s->stats->events_err++;
        } else {
            uint64_t seq = ++s->next_seq;
            ev->source_name = s->name;
            ev->source_token = (void *)(uintptr_t)seq;
            if (!event_queue_push(s->queue, ev)) {
                s->next_seq--;
                event_unref(ev);
                s->waiter = calloc(1, sizeof *s->waiter);
                if (s->waiter) {
                    s->waiter->source = s;
                    event_queue_wait_for_space(s->queue, on_space, s->waiter);
                } else {
                    uv_timer_start(&s->poll_timer, on_poll_timer, POLL_MS, 0);
                    batch_clear(s);
                }
                return;
            }
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(item->json, "type");
            horizon_tracker_pushed(s->tracker, seq, item->time_ms, item->id,
                                   cJSON_IsString(type) ? type->valuestring : "");
            event_unref(ev); /* the queue holds its own reference */
            if (s->stats)
                s->stats->events_total++;
            s->cycle_pushed = true;
        }
        if (item->time_ms > s->from_ms || !s->following) {
            if (item->time_ms != s->from_ms)
                horizon_id_set_clear(&s->seen);
            s->from_ms = item->time_ms;
        }
        horizon_id_set_add(&s->seen, item->id);
        cJSON_Delete(item->json);
        item->json = NULL;
        s->next++;
    }
    cycle_done(s);
}

/* ---- Polling ---- */

static void request_page(horizon_source *s);

static void on_page(void *user, const horizon_api_result *result)
{
    horizon_source *s = user;
    if (s->closing)
        return;
    if (result->status != HORIZON_API_OK) {
        fail(s, result);
        return;
    }
    if (!s->connected)
        log_info(COMPONENT, "%s: connected to %s as %s\\%s", s->name, horizon_api_host(s->api),
                 s->config->auth.domain, s->config->auth.username);
    s->connected = s->ever_connected = true;
    s->attempt = 0;
    s->last_error[0] = '\0';

    cJSON *events = (cJSON *)result->events;
    size_t page_count = (size_t)cJSON_GetArraySize(events);
    int64_t first_id = -1, last_id = -1;
    for (cJSON *item = events->child; item;) {
        cJSON *next = item->next;
        int64_t id, time_ms;
        const char *type;
        char reason[256];
        if (!horizon_event_fields(item, &id, &time_ms, &type, reason, sizeof reason)) {
            log_warn(COMPONENT, "%s: skipping an audit event of page %d: %s", s->name, s->page,
                     reason);
            if (s->stats)
                s->stats->events_err++;
            item = next;
            continue;
        }
        if (first_id < 0)
            first_id = id;
        last_id = id;
        bool wanted =
            !s->following ||
            (time_ms > s->from_ms || (time_ms == s->from_ms && !horizon_id_set_has(&s->seen, id)));
        if (wanted && s->count < MAX_CYCLE_EVENTS) {
            cJSON *detached = cJSON_DetachItemViaPointer(events, item);
            if (!batch_add(s, time_ms, id, detached))
                cJSON_Delete(detached);
        }
        item = next;
    }
    if (s->count >= MAX_CYCLE_EVENTS) {
        horizon_api_result failed = {.status = HORIZON_API_FAILED,
                                     .error = "audit-events: more events in one poll than "
                                              "the batch limit"};
        fail(s, &failed);
        return;
    }
    bool repeated = page_count > 0 && page_count == s->previous_page_count &&
                    first_id == s->previous_page_first && last_id == s->previous_page_last;
    if (repeated)
        log_warn(COMPONENT, "%s: page %d repeats page %d: Horizon ignores page=, stopping there",
                 s->name, s->page, s->page - 1);
    s->previous_page_count = page_count;
    s->previous_page_first = first_id;
    s->previous_page_last = last_id;
    if (s->following && page_count > 0 && !repeated) {
        s->page++;
        request_page(s);
        return;
    }
    batch_order(s);
    s->cycle_pushed = false;
    push_batch(s);
}

static void request_page(horizon_source *s)
{
    char query[1024];
    if (!s->following) {
        snprintf(query, sizeof query, "%s", INITIAL_EVENTS);
    } else {
        char filter[256], encoded[768];
        snprintf(filter, sizeof filter,
                 "{\"type\":\"Between\",\"name\":\"time\",\"fromValue\":%lld,\"toValue\":%lld}",
                 (long long)s->from_ms, (long long)s->cycle_to_ms);
        horizon_url_encode(filter, encoded, sizeof encoded);
        snprintf(query, sizeof query, "filter=%s&page=%d&size=%d", encoded, s->page, PAGE_SIZE);
    }
    if (horizon_api_audit_events(s->api, query, on_page, s) != 0)
        fail_start(s);
}

static void poll_start(horizon_source *s)
{
    if (s->closing)
        return;
    if (s->paused) {
        s->parked = true;
        return;
    }
    batch_clear(s);
    s->page = 1;
    s->previous_page_count = 0;
    s->previous_page_first = s->previous_page_last = -1;
    s->cycle_to_ms = wall_ms() + FUTURE_MS;
    request_page(s);
}

/* ---- Checkpoints ---- */

static void checkpoint_flush(horizon_source *s)
{
    if (!s->checkpointing || !s->checkpoint_dirty)
        return;
    horizon_checkpoint cp = {0};
    snprintf(cp.horizon, sizeof cp.horizon, "%s", horizon_api_host(s->api));
    if (!horizon_tracker_fill(s->tracker, &cp)) {
        horizon_checkpoint_free(&cp);
        return;
    }
    char err[1200];
    if (horizon_checkpoint_save(s->checkpoint_path, &cp, err, sizeof err) != 0)
        log_error(COMPONENT, "%s: %s", s->name, err); /* stays dirty: the next tick tries again */
    else
        s->checkpoint_dirty = false;
    horizon_checkpoint_free(&cp);
}

static void on_checkpoint_timer(uv_timer_t *timer)
{
    checkpoint_flush(timer->data);
}

/* Where a checkpoint resumes: its millisecond and ids, unless that is older than maxReplayAge,
 * then from that bound (what is older is not wanted any more). */
static void resume_from(horizon_source *s, const horizon_checkpoint *cp)
{
    double max_age =
        s->config->max_replay_age_seconds > 0 ? s->config->max_replay_age_seconds : 3600;
    int64_t floor_ms = wall_ms() - (int64_t)(max_age * 1000.0);
    s->following = true;
    if (cp->last_time_ms >= floor_ms) {
        s->from_ms = cp->last_time_ms;
        horizon_id_set_copy(&s->seen, &cp->last_ids);
        log_info(COMPONENT, "%s: resuming after audit event %lld (time %lld) from %s", s->name,
                 (long long)cp->last_id, (long long)cp->last_time_ms, s->checkpoint_path);
    } else {
        s->from_ms = floor_ms;
        log_warn(COMPONENT,
                 "%s: checkpoint %s is older than maxReplayAge (%.0fs): resuming from %lld",
                 s->name, s->checkpoint_path, max_age, (long long)floor_ms);
    }
}

/* ---- The source interface ---- */

static void free_source(horizon_source *s)
{
    batch_clear(s);
    free(s->batch);
    horizon_id_set_free(&s->seen);
    horizon_tracker_free(s->tracker);
    free(s);
}

static void on_handle_closed(uv_handle_t *handle)
{
    horizon_source *s = handle->data;
    if (--s->open_handles == 0)
        free_source(s);
}

static int source_create(const config_provider *config, const source_services *services,
                         void **state, char *err, size_t err_cap)
{
    horizon_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    s->loop = services->loop;
    s->queue = services->queue;
    s->stats = services->stats;
    s->fatal = services->fatal;
    s->fatal_engine = services->engine;
    s->name = config->name;
    s->config = &config->horizon;
    s->format = config->horizon.sources_for_knative_format ? HORIZON_FORMAT_SOURCES_KNATIVE
                                                           : HORIZON_FORMAT_ROUTER;
    s->idle_delay_ms = POLL_MS;
    s->api = horizon_api_new(services->loop, &config->horizon, err, err_cap);
    if (!s->api) {
        free_source(s);
        return -1;
    }
    s->checkpointing = config->horizon.checkpoint;
    horizon_checkpoint cp = {0};
    int loaded = 0;
    if (s->checkpointing) {
        const char *dir =
            config->horizon.checkpoint_dir ? config->horizon.checkpoint_dir : "./checkpoints";
        if (!horizon_checkpoint_path(dir, horizon_api_host(s->api), s->checkpoint_path,
                                     sizeof s->checkpoint_path)) {
            snprintf(err, err_cap, "checkpoint path too long");
            loaded = -1;
        } else {
            loaded = horizon_checkpoint_load(s->checkpoint_path, &cp, err, err_cap);
        }
        if (loaded < 0) {
            horizon_api_close(s->api);
            free_source(s);
            return -1;
        }
        if (loaded == 1)
            resume_from(s, &cp);
    }
    s->tracker = horizon_tracker_new(loaded == 1 ? &cp : NULL);
    horizon_checkpoint_free(&cp);
    if (!s->tracker) {
        snprintf(err, err_cap, "out of memory");
        horizon_api_close(s->api);
        free_source(s);
        return -1;
    }
    uv_timer_init(s->loop, &s->poll_timer);
    uv_timer_init(s->loop, &s->checkpoint_timer);
    s->poll_timer.data = s->checkpoint_timer.data = s;
    s->open_handles = 2;
    if (s->checkpointing)
        uv_timer_start(&s->checkpoint_timer, on_checkpoint_timer, CHECKPOINT_INTERVAL_MS,
                       CHECKPOINT_INTERVAL_MS);
    /* Deferred to the next loop turn: create() never calls back into the engine. */
    uv_timer_start(&s->poll_timer, on_poll_timer, 0, 0);
    *state = s;
    return 0;
}

static void source_event_done(void *state, event *ev)
{
    horizon_source *s = state;
    if (horizon_tracker_done(s->tracker, (uint64_t)(uintptr_t)ev->source_token))
        s->checkpoint_dirty = true;
}

static bool source_ready(void *state)
{
    return ((horizon_source *)state)->connected;
}

const char *source_horizon_last_error(void *state)
{
    return ((horizon_source *)state)->last_error;
}

static void close_finish(horizon_source *s)
{
    horizon_api_close(s->api); /* aborts a poll still running; on_page sees closing */
    s->api = NULL;
    uv_close((uv_handle_t *)&s->poll_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->checkpoint_timer, on_handle_closed);
}

static void on_logout(void *user, const horizon_api_result *result)
{
    horizon_source *s = user;
    if (result->status != HORIZON_API_OK)
        log_debug(COMPONENT, "%s: %s", s->name, result->error);
    close_finish(s);
}

static void source_close(void *state)
{
    horizon_source *s = state;
    if (s->closing)
        return;
    s->closing = true;
    uv_timer_stop(&s->poll_timer);
    uv_timer_stop(&s->checkpoint_timer);
    checkpoint_flush(s);
    if (s->waiter)
        s->waiter->source = NULL; /* the queue frees it when it calls back */
    s->waiter = NULL;
    batch_clear(s);
    /* Logging out ends the session on Horizon's side instead of leaving it to expire. */
    if (horizon_api_logged_in(s->api) && horizon_api_logout(s->api, on_logout, s) == 0)
        return;
    close_finish(s);
}

static void source_pause(void *state, bool paused)
{
    horizon_source *s = state;
    s->paused = paused;
    if (!paused && s->parked && !s->waiter) {
        s->parked = false;
        if (s->next < s->count)
            push_batch(s);
        else
            poll_start(s);
    }
}

const source_type horizon_source_type = {
    .name = "horizon",
    .leader_only = true,
    .create = source_create,
    .event_done = source_event_done,
    .ready = source_ready,
    .pause = source_pause,
    .close = source_close,
};
