/* The vCenter event source.
 *
 * One chain of SOAP calls at a time, so the state machine reads top to bottom:
 *   connect:  RetrieveServiceContent -> Login -> CurrentTime ->
 *             CreateCollectorForEvents(follow: from now, small latestPage) ->
 *             CreatePropertyCollector -> CreateFilter(follow's latestPage) ->
 *             CreateCollectorForEvents(backlog: from the resume time, latestPage of 1000)
 *   backlog:  ReadNextEvents(1000) on the backlog collector until a page brings nothing new
 *             (a real vCenter reads forward page by page), then DestroyCollector(backlog)
 *   follow:   WaitForUpdatesEx on latestPage; each change -> ReadNextEvents on the follow
 *             collector (a real vCenter reads forward from there), then the page's own events (the
 *             simulator's ReadNextEvents never returns new events) -> WaitForUpdatesEx ...
 * Two collectors, because the follow collector's latestPage comes whole in every update and must
 * stay small, while the backlog needs a page of 1000 on the simulator (govmomi 0.24), whose
 * ReadNextEvents serves only the latestPage, filled with the newest event and the OLDEST others.
 * Shrinking one collector with SetCollectorPageSize does not work there: it keeps a ring of
 * 1000 - size slots and drops the newest event. The follow collector is created first, so every
 * event is in one of the two: up to the backlog collector's creation in the backlog, after the
 * follow collector's creation in its latestPage (a real vCenter: its forward reading).
 * Every batch is sorted by key and only keys above the last pushed one go out, so each key is
 * delivered once per run and in order, whatever order or repetition the server uses.
 *
 * Backpressure: a batch is at most one page; when the queue is full the chain stops and resumes
 * from the queue's space callback, so nothing is read meanwhile.
 *
 * Failures (unreachable, NotAuthenticated, any fault): drop the unpushed batch, log in again after
 * a capped backoff and create a collector from the last pushed event's time; keys at or below
 * the last pushed one are skipped, so nothing repeats and nothing is lost. */
#include "sources/vcenter/source_vcenter.h"

#include "sources/vcenter/checkpoint.h"
#include "log.h"
#include "sources/vcenter/vcenter_convert.h"
#include "sources/vcenter/vcenter_soap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "vcenter"
#define READ_PAGE_SIZE 1000 /* ReadNextEvents maxCount, and the backlog's latestPage */
/* The follow collector's latestPage. A real vCenter sends its newest value per update and the
 * source then reads forward with ReadNextEvents; the govmomi simulator instead sends one whole
 * page per posted event (property_collector.go: an ObjectUpdate per change), so each event is
 * in some page even with a small one, and a large page only multiplies the bytes: at 500 events/s
 * a page of 100 made answers of over 16 MiB. */
#define FOLLOW_PAGE_SIZE 10
#define WAIT_SECONDS 30 /* also keeps the session alive when idle */
#define CHECKPOINT_INTERVAL_MS 1000
#define RETRY_INITIAL_SECONDS 0.5
#define RETRY_MAX_SECONDS 30.0
#define MAX_PAGE_NODES 1024

typedef struct batch_event {
    int64_t key;
    event *ev; /* NULL when the event could not be converted: skipped, but its key is consumed */
    char type[96];
    char created[64];
} batch_event;

typedef struct batch {
    batch_event *items;
    size_t count;
    size_t cap;
    size_t next; /* first item not yet pushed */
} batch;

typedef enum { AFTER_PUSH_READ_NEXT, AFTER_PUSH_END_BACKLOG, AFTER_PUSH_WAIT } after_push;

typedef struct vcenter_source vcenter_source;

/* Outlives the source when the queue still holds it as a waiter (the queue cannot forget one). */
typedef struct space_waiter {
    vcenter_source *source;
} space_waiter;

struct vcenter_source {
    uv_loop_t *loop;
    event_queue *queue;
    provider_stats *stats;
    const char *name; /* owned by the config */
    double max_replay_age_seconds;
    vcenter_soap *soap;
    vcenter_convert_context convert;

    char collector[256]; /* follow */
    char backlog_collector[256];
    bool in_backlog; /* ReadNextEvents goes to the backlog collector */
    char backlog_begin[64];
    char property_collector[256];
    char version[256];
    batch ready;     /* sorted, being pushed */
    batch page;      /* latestPage events held until ReadNextEvents brings nothing new */
    after_push next; /* what follows once ready is pushed */
    space_waiter *waiter;

    int64_t last_pushed;
    int64_t highest_page_key; /* highest key any ReadNextEvents page held */
    double last_pushed_time;  /* createdTime of the last pushed event, seconds */
    double floor_time;        /* events created before this are not wanted (replay bound) */
    bool started;             /* the first connection chose floor_time */
    bool connected;
    bool closing;
    bool paused; /* from the console: take nothing in; vCenter keeps the history */
    bool ever_connected;
    void (*fatal)(void *engine, const char *reason);
    void *fatal_engine;
    bool parked; /* paused with a continuation to run on resume */
    int attempt;
    char last_error[512];

    bool checkpointing;
    bool has_checkpoint;
    checkpoint_record checkpoint;
    char checkpoint_path[1024];
    checkpoint_tracker *tracker;
    bool checkpoint_dirty;

    uv_timer_t retry_timer;
    uv_timer_t checkpoint_timer;
    int open_handles;
};

static void connect_start(vcenter_source *s);
static void connect_fresh(vcenter_source *s);
static void read_next(vcenter_source *s);
static void wait_updates(vcenter_source *s);
static void continue_after_push(vcenter_source *s);
static void end_backlog(vcenter_source *s);

/* ---- Batches ---- */

static void batch_clear(batch *b)
{
    for (size_t i = b->next; i < b->count; i++)
        if (b->items[i].ev)
            event_unref(b->items[i].ev);
    b->count = b->next = 0;
}

static void batch_free(batch *b)
{
    batch_clear(b);
    free(b->items);
    b->items = NULL;
    b->cap = 0;
}

static bool batch_has(const batch *b, int64_t key)
{
    for (size_t i = b->next; i < b->count; i++)
        if (b->items[i].key == key)
            return true;
    return false;
}

static batch_event *batch_add(batch *b)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        batch_event *items = realloc(b->items, cap * sizeof *items);
        if (!items)
            return NULL;
        b->items = items;
        b->cap = cap;
    }
    batch_event *item = &b->items[b->count++];
    memset(item, 0, sizeof *item);
    return item;
}

static int compare_keys(const void *a, const void *b)
{
    int64_t x = ((const batch_event *)a)->key, y = ((const batch_event *)b)->key;
    return x < y ? -1 : x > y;
}

static void batch_sort(batch *b)
{
    if (b->count - b->next < 2)
        return;
    qsort(b->items + b->next, b->count - b->next, sizeof *b->items, compare_keys);
}

/* Moves every item of from into to (both unpushed), dropping keys to already has. */
static void batch_move(batch *to, batch *from)
{
    for (size_t i = from->next; i < from->count; i++) {
        batch_event *item = &from->items[i];
        batch_event *slot = batch_has(to, item->key) ? NULL : batch_add(to);
        if (slot) {
            *slot = *item;
        } else if (item->ev) {
            event_unref(item->ev);
        }
    }
    from->count = from->next = 0;
}

/* Converts one event node into b unless it is already pushed, already held, or too old. */
static void take_event(vcenter_source *s, batch *b, xmlNodePtr node)
{
    int64_t key;
    if (!vcenter_event_key(node, &key) || key <= s->last_pushed || batch_has(b, key))
        return;
    char created[64];
    double created_time = 0;
    vcenter_xml_text(vcenter_xml_child(node, "createdTime"), created, sizeof created);
    if (checkpoint_parse_time(created, &created_time) && created_time < s->floor_time)
        return;
    batch_event *item = batch_add(b);
    if (!item)
        return;
    item->key = key;
    snprintf(item->created, sizeof item->created, "%s", created);
    if (!vcenter_xml_type(node, item->type, sizeof item->type))
        item->type[0] = '\0';
    char reason[256];
    int64_t converted_key = key;
    item->ev = vcenter_event_convert(&s->convert, node, &converted_key, reason, sizeof reason);
    if (s->stats)
        s->stats->unknown_classes = s->convert.unknown_classes;
    if (!item->ev) {
        log_warn(COMPONENT, "%s: skipping event %lld (%s): %s", s->name, (long long)key, item->type,
                 reason);
        if (s->stats)
            s->stats->events_err++;
    }
}

/* ---- Pushing ---- */

static void on_space(void *opaque)
{
    space_waiter *waiter = opaque;
    vcenter_source *s = waiter->source;
    free(waiter);
    if (!s)
        return; /* the source closed meanwhile */
    s->waiter = NULL;
    continue_after_push(s);
}

/* Pushes the ready batch in key order. False when the queue is full (resumes on space). */
static bool push_ready(vcenter_source *s)
{
    batch *b = &s->ready;
    while (b->next < b->count) {
        if (s->paused) {
            s->parked = true;
            return false;
        }
        batch_event *item = &b->items[b->next];
        if (item->key <= s->last_pushed) { /* a duplicate across batches */
            if (item->ev)
                event_unref(item->ev);
            b->next++;
            continue;
        }
        if (item->ev) {
            item->ev->source_name = s->name;
            item->ev->source_token = (void *)(intptr_t)item->key;
            if (!event_queue_push(s->queue, item->ev)) {
                s->waiter = calloc(1, sizeof *s->waiter);
                if (s->waiter) {
                    s->waiter->source = s;
                    event_queue_wait_for_space(s->queue, on_space, s->waiter);
                }
                return false;
            }
            checkpoint_tracker_pushed(s->tracker, item->key, item->ev->id, item->type,
                                      item->created);
            event_unref(item->ev); /* the queue holds its own reference */
            if (s->stats)
                s->stats->events_total++;
        }
        s->last_pushed = item->key;
        double t;
        if (checkpoint_parse_time(item->created, &t))
            s->last_pushed_time = t;
        b->next++;
    }
    b->count = b->next = 0;
    return true;
}

static void continue_after_push(vcenter_source *s)
{
    if (s->paused) {
        s->parked = true;
        return;
    }
    if (s->closing || !push_ready(s))
        return;
    if (s->next == AFTER_PUSH_READ_NEXT)
        read_next(s);
    else if (s->next == AFTER_PUSH_END_BACKLOG)
        end_backlog(s);
    else
        wait_updates(s);
}

/* ---- Failure and retry ---- */

static void on_retry_timer(uv_timer_t *timer)
{
    connect_start(timer->data);
}

static void on_stale_logout(void *user, const vcenter_soap_result *result)
{
    (void)result; /* best effort */
    connect_fresh(user);
}

static void fail(vcenter_source *s, const vcenter_soap_result *result, const char *step)
{
    if (s->closing)
        return;
    snprintf(s->last_error, sizeof s->last_error, "%s: %s", step,
             result->error ? result->error : "failed");
    s->connected = false;
    batch_clear(&s->ready);
    batch_clear(&s->page);
    s->collector[0] = s->property_collector[0] = s->version[0] = '\0';
    s->backlog_collector[0] = '\0';
    s->in_backlog = false;
    double cap = RETRY_INITIAL_SECONDS * pow(2.0, s->attempt < 16 ? s->attempt : 16);
    if (cap > RETRY_MAX_SECONDS)
        cap = RETRY_MAX_SECONDS;
    double delay = cap * (0.5 + 0.5 * ((double)rand() / ((double)RAND_MAX + 1.0)));
    s->attempt++;
    /* Wrong credentials at start are a configuration error: retrying only locks the account
     * sooner. Once the source has run, a refused login (a password changed under it) is retried,
     * with /readyz saying not ready, so that fixing the password in vCenter needs no restart. */
    if (result->status == VCENTER_SOAP_INVALID_LOGIN && !s->ever_connected && s->fatal) {
        char reason[600];
        snprintf(reason, sizeof reason, "%s: %s", s->name, s->last_error);
        s->fatal(s->fatal_engine, reason);
        return;
    }
    if (result->status == VCENTER_SOAP_INVALID_LOGIN)
        log_error(COMPONENT, "%s: %s (retrying in %.1fs)", s->name, s->last_error, delay);
    else
        log_warn(COMPONENT, "%s: %s (reconnecting in %.1fs)", s->name, s->last_error, delay);
    uv_timer_start(&s->retry_timer, on_retry_timer, (uint64_t)(delay * 1000.0), 0);
}

/* ---- Follow ---- */

static void on_update(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (s->closing)
        return;
    if (result->status != VCENTER_SOAP_OK) {
        fail(s, result, "WaitForUpdatesEx");
        return;
    }
    if (!result->returnval) { /* maxWaitSeconds passed: nothing new */
        wait_updates(s);
        return;
    }
    xmlNodePtr nodes[MAX_PAGE_NODES];
    size_t found = vcenter_soap_parse_latest_page(result->returnval, s->version, sizeof s->version,
                                                  nodes, MAX_PAGE_NODES);
    for (size_t i = 0; i < found && i < MAX_PAGE_NODES; i++)
        take_event(s, &s->page, nodes[i]);
    read_next(s);
}

static void wait_updates(vcenter_source *s)
{
    if (vcenter_soap_wait_for_updates(s->soap, s->property_collector, s->version, WAIT_SECONDS,
                                      on_update, s) != 0) {
        vcenter_soap_result failed = {.status = VCENTER_SOAP_UNREACHABLE,
                                      .error = "cannot start a request"};
        fail(s, &failed, "WaitForUpdatesEx");
    }
}

/* ---- Backlog ---- */

static void on_page(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (s->closing)
        return;
    if (result->status != VCENTER_SOAP_OK) {
        fail(s, result, "ReadNextEvents");
        return;
    }
    int64_t page_max = 0;
    for (xmlNodePtr node = result->returnval; node;
         node = vcenter_xml_next(node->next, "returnval")) {
        int64_t key;
        if (vcenter_event_key(node, &key) && key > page_max)
            page_max = key;
        take_event(s, &s->ready, node);
    }
    /* A page of only old keys still counts as progress while the keys climb (a real vCenter
     * reading forward past a checkpoint); a repeated or older page (the simulator) does not. */
    bool progress = s->ready.count > s->ready.next || page_max > s->highest_page_key;
    if (page_max > s->highest_page_key)
        s->highest_page_key = page_max;
    if (progress) {
        s->next = AFTER_PUSH_READ_NEXT;
    } else if (s->in_backlog) {
        s->next = AFTER_PUSH_END_BACKLOG;
    } else {
        /* Caught up with the collector: now the latestPage events not read through it. */
        batch_move(&s->ready, &s->page);
        s->next = AFTER_PUSH_WAIT;
    }
    batch_sort(&s->ready);
    continue_after_push(s);
}

static void read_next(vcenter_source *s)
{
    const char *collector = s->in_backlog ? s->backlog_collector : s->collector;
    if (vcenter_soap_read_next_events(s->soap, collector, READ_PAGE_SIZE, on_page, s) != 0) {
        vcenter_soap_result failed = {.status = VCENTER_SOAP_UNREACHABLE,
                                      .error = "cannot start a request"};
        fail(s, &failed, "ReadNextEvents");
    }
}

static void on_backlog_destroyed(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (s->closing)
        return;
    if (result->status != VCENTER_SOAP_OK) /* the session ends it anyway; following tells */
        log_debug(COMPONENT, "%s: DestroyCollector: %s", s->name, result->error);
    log_info(COMPONENT, "%s: caught up at event key %lld, following new events", s->name,
             (long long)s->last_pushed);
    wait_updates(s);
}

/* The backlog is delivered: its collector (and its page of 1000) is no longer needed. */
static void end_backlog(vcenter_source *s)
{
    char ref[256];
    snprintf(ref, sizeof ref, "%s", s->backlog_collector);
    s->backlog_collector[0] = '\0';
    s->in_backlog = false;
    if (vcenter_soap_destroy_collector(s->soap, ref, on_backlog_destroyed, s) != 0) {
        vcenter_soap_result failed = {.status = VCENTER_SOAP_UNREACHABLE,
                                      .error = "cannot start a request"};
        fail(s, &failed, "DestroyCollector");
    }
}

/* ---- Connect ---- */

#define CHAIN(call, step)                                                                          \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            vcenter_soap_result failed_ = {.status = VCENTER_SOAP_UNREACHABLE,                     \
                                           .error = "cannot start a request"};                     \
            fail(s, &failed_, step);                                                               \
        }                                                                                          \
    } while (0)

static bool step_ok(vcenter_source *s, const vcenter_soap_result *result, const char *step)
{
    if (s->closing)
        return false;
    if (result->status != VCENTER_SOAP_OK) {
        fail(s, result, step);
        return false;
    }
    return true;
}

static void on_backlog_collector(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (!step_ok(s, result, "CreateCollectorForEvents"))
        return;
    vcenter_xml_text(result->returnval, s->backlog_collector, sizeof s->backlog_collector);
    s->in_backlog = true;
    s->connected = true;
    s->ever_connected = true;
    s->attempt = 0;
    s->last_error[0] = '\0';
    s->version[0] = '\0';
    log_info(COMPONENT, "%s: connected to %s, streaming events after key %lld", s->name,
             vcenter_soap_host(s->soap), (long long)s->last_pushed);
    read_next(s);
}

static void on_filter(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (!step_ok(s, result, "CreateFilter"))
        return;
    CHAIN(vcenter_soap_create_event_collector(s->soap, s->backlog_begin, READ_PAGE_SIZE,
                                              on_backlog_collector, s),
          "CreateCollectorForEvents");
}

static void on_property_collector(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (!step_ok(s, result, "CreatePropertyCollector"))
        return;
    vcenter_xml_text(result->returnval, s->property_collector, sizeof s->property_collector);
    CHAIN(vcenter_soap_create_latest_page_filter(s->soap, s->property_collector, s->collector,
                                                 on_filter, s),
          "CreateFilter");
}

static void on_collector(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (!step_ok(s, result, "CreateCollectorForEvents"))
        return;
    vcenter_xml_text(result->returnval, s->collector, sizeof s->collector);
    CHAIN(vcenter_soap_create_property_collector(s->soap, on_property_collector, s),
          "CreatePropertyCollector");
}

/* Chooses where the collector starts: the first time from the checkpoint (bounded by the replay
 * age) or vCenter's current time; after a reconnect from the last pushed event. */
static void on_current_time(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (!step_ok(s, result, "CurrentTime"))
        return;
    char text[64];
    double now = 0;
    vcenter_xml_text(result->returnval, text, sizeof text);
    if (!checkpoint_parse_time(text, &now))
        now = (double)time(NULL);
    double begin;
    if (!s->started) {
        s->started = true;
        begin = now;
        double checkpoint_time;
        if (s->has_checkpoint) {
            begin = now - s->max_replay_age_seconds;
            if (checkpoint_parse_time(s->checkpoint.last_event_key_timestamp, &checkpoint_time) &&
                checkpoint_time > begin)
                begin = checkpoint_time;
        }
        s->floor_time = begin;
    } else {
        begin = s->last_pushed_time > s->floor_time ? s->last_pushed_time : s->floor_time;
    }
    checkpoint_format_time((int64_t)floor(begin), (long)((begin - floor(begin)) * 1e9),
                           s->backlog_begin, sizeof s->backlog_begin);
    char now_text[64];
    checkpoint_format_time((int64_t)floor(now), (long)((now - floor(now)) * 1e9), now_text,
                           sizeof now_text);
    CHAIN(vcenter_soap_create_event_collector(s->soap, now_text, FOLLOW_PAGE_SIZE, on_collector, s),
          "CreateCollectorForEvents");
}

static void on_login(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (!step_ok(s, result, "Login"))
        return;
    CHAIN(vcenter_soap_current_time(s->soap, on_current_time, s), "CurrentTime");
}

static void on_service_content(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (!step_ok(s, result, "RetrieveServiceContent"))
        return;
    s->convert.api_version = vcenter_soap_content(s->soap)->api_version;
    CHAIN(vcenter_soap_login(s->soap, on_login, s), "Login");
}

static void connect_fresh(vcenter_source *s)
{
    if (s->closing)
        return;
    CHAIN(vcenter_soap_retrieve_service_content(s->soap, on_service_content, s),
          "RetrieveServiceContent");
}

/* A session that may still be alive (the connection dropped, not the session) is ended first,
 * so its collectors do not pile up on the server. */
static void connect_start(vcenter_source *s)
{
    if (s->closing)
        return;
    if (vcenter_soap_logged_in(s->soap) && vcenter_soap_logout(s->soap, on_stale_logout, s) == 0)
        return;
    connect_fresh(s);
}

/* ---- Checkpoints ---- */

static void checkpoint_flush(vcenter_source *s)
{
    if (!s->checkpointing || !s->checkpoint_dirty)
        return;
    checkpoint_record record = {0};
    snprintf(record.vcenter, sizeof record.vcenter, "%s", vcenter_soap_host(s->soap));
    if (!checkpoint_tracker_fill(s->tracker, &record))
        return;
    char err[512];
    if (checkpoint_save(s->checkpoint_path, &record, err, sizeof err) != 0) {
        log_error(COMPONENT, "%s: %s", s->name, err);
        return; /* stays dirty: the next tick tries again */
    }
    s->checkpoint_dirty = false;
}

static void on_checkpoint_timer(uv_timer_t *timer)
{
    checkpoint_flush(timer->data);
}

/* ---- The source interface ---- */

static void free_source(vcenter_source *s)
{
    batch_free(&s->ready);
    batch_free(&s->page);
    checkpoint_tracker_free(s->tracker);
    free(s);
}

static void on_handle_closed(uv_handle_t *handle)
{
    vcenter_source *s = handle->data;
    if (--s->open_handles == 0)
        free_source(s);
}

static int source_create(const config_provider *config, const source_services *services,
                         void **state, char *err, size_t err_cap)
{
    vcenter_source *s = calloc(1, sizeof *s);
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
    s->tracker = checkpoint_tracker_new(0);
    s->soap = vcenter_soap_new(services->loop, &config->vcenter, err, err_cap);
    if (!s->soap || !s->tracker) {
        if (s->soap)
            vcenter_soap_close(s->soap);
        else if (s->tracker)
            snprintf(err, err_cap, "out of memory");
        free_source(s);
        return -1;
    }
    s->max_replay_age_seconds =
        config->vcenter.max_replay_age_seconds > 0 ? config->vcenter.max_replay_age_seconds : 3600;
    s->convert.format = config->vcenter.sources_for_knative_format ? VCENTER_FORMAT_SOURCES_KNATIVE
                                                                   : VCENTER_FORMAT_ROUTER;
    s->convert.source_url = config->vcenter.address;
    s->checkpointing = config->vcenter.checkpoint;
    if (s->checkpointing) {
        const char *dir =
            config->vcenter.checkpoint_dir ? config->vcenter.checkpoint_dir : "./checkpoints";
        char load_err[512];
        int loaded = -1;
        if (!checkpoint_path(dir, vcenter_soap_host(s->soap), s->checkpoint_path,
                             sizeof s->checkpoint_path))
            snprintf(load_err, sizeof load_err, "checkpoint path too long");
        else
            loaded = checkpoint_load(s->checkpoint_path, &s->checkpoint, load_err, sizeof load_err);
        if (loaded < 0) {
            snprintf(err, err_cap, "%s", load_err);
            vcenter_soap_close(s->soap);
            free_source(s);
            return -1;
        }
        if (loaded == 1 && s->checkpoint.last_event_key > 0) {
            s->has_checkpoint = true;
            s->last_pushed = s->checkpoint.last_event_key;
            checkpoint_tracker_free(s->tracker);
            s->tracker = checkpoint_tracker_new(s->last_pushed);
            log_info(COMPONENT, "%s: resuming after event key %lld from %s", s->name,
                     (long long)s->last_pushed, s->checkpoint_path);
        }
    }
    uv_timer_init(s->loop, &s->retry_timer);
    uv_timer_init(s->loop, &s->checkpoint_timer);
    s->retry_timer.data = s->checkpoint_timer.data = s;
    s->open_handles = 2;
    if (s->checkpointing)
        uv_timer_start(&s->checkpoint_timer, on_checkpoint_timer, CHECKPOINT_INTERVAL_MS,
                       CHECKPOINT_INTERVAL_MS);
    /* Deferred to the next loop turn: create() never calls back into the engine. */
    uv_timer_start(&s->retry_timer, on_retry_timer, 0, 0);
    *state = s;
    return 0;
}

static void source_event_done(void *state, event *ev)
{
    vcenter_source *s = state;
    if (checkpoint_tracker_done(s->tracker, (int64_t)(intptr_t)ev->source_token))
        s->checkpoint_dirty = true;
}

static bool source_ready(void *state)
{
    return ((vcenter_source *)state)->connected;
}

const char *source_vcenter_last_error(void *state)
{
    return ((vcenter_source *)state)->last_error;
}

static void close_next(vcenter_source *s);

static void on_close_step(void *user, const vcenter_soap_result *result)
{
    (void)result; /* best effort: the session ends either way */
    close_next(user);
}

/* Destroys the collectors and logs out, one call after the other, then frees everything. */
static void close_next(vcenter_source *s)
{
    char ref[256];
    if (s->property_collector[0]) {
        snprintf(ref, sizeof ref, "%s", s->property_collector);
        s->property_collector[0] = '\0';
        if (vcenter_soap_destroy_property_collector(s->soap, ref, on_close_step, s) == 0)
            return;
    }
    if (s->collector[0]) {
        snprintf(ref, sizeof ref, "%s", s->collector);
        s->collector[0] = '\0';
        if (vcenter_soap_destroy_collector(s->soap, ref, on_close_step, s) == 0)
            return;
    }
    if (s->backlog_collector[0]) {
        snprintf(ref, sizeof ref, "%s", s->backlog_collector);
        s->backlog_collector[0] = '\0';
        if (vcenter_soap_destroy_collector(s->soap, ref, on_close_step, s) == 0)
            return;
    }
    if (s->connected) {
        s->connected = false;
        if (vcenter_soap_logout(s->soap, on_close_step, s) == 0)
            return;
    }
    vcenter_soap *soap = s->soap;
    s->soap = NULL;
    vcenter_soap_close(soap); /* aborts a WaitForUpdatesEx still pending; it sees closing */
    uv_close((uv_handle_t *)&s->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->checkpoint_timer, on_handle_closed);
}

static void source_close(void *state)
{
    vcenter_source *s = state;
    if (s->closing)
        return;
    s->closing = true;
    uv_timer_stop(&s->retry_timer);
    uv_timer_stop(&s->checkpoint_timer);
    checkpoint_flush(s);
    if (s->waiter)
        s->waiter->source = NULL; /* the queue frees it when it calls back */
    s->waiter = NULL;
    if (!s->connected)
        s->collector[0] = s->property_collector[0] = s->backlog_collector[0] = '\0';
    close_next(s);
}

static void source_pause(void *state, bool paused)
{
    vcenter_source *s = state;
    s->paused = paused;
    if (!paused && s->parked && !s->waiter) {
        s->parked = false;
        continue_after_push(s);
    }
}

const source_type vcenter_source_type = {
    .name = "vcenter",
    .create = source_create,
    .event_done = source_event_done,
    .ready = source_ready,
    .pause = source_pause,
    .close = source_close,
};
