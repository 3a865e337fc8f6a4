/* The vCenter event source.
 *
 * What it promises, within one run of the router (and across runs with a checkpoint):
 *   1. Every event vCenter still holds with a key above the last delivered one reaches the queue
 *      exactly once, in increasing key order (so in order per object as well).
 *   2. A key that is not delivered is never skipped in silence: once a look-up over vCenter's
 *      history has covered it, it is reported (log line with the key range, and a counter) as
 *      absent (vCenter's history has no such key: vCenter does skip keys) or as lost (older than
 *      the history vCenter still keeps, e.g. the simulator's ring of 1000).
 *   3. /readyz says ready only once the follower records, and after a lost session the source
 *      logs in again and resumes after the last delivered key with the same promises.
 *
 * How, with one chain of SOAP calls at a time so the state machine reads top to bottom:
 *   connect: RetrieveServiceContent -> Login -> CurrentTime -> CreateCollectorForEvents(follow:
 *            from now, latestPage of 1) -> CreatePropertyCollector -> CreateFilter(latestPage) ->
 *            WaitForUpdatesEx(version "") which returns at once: from here on the property
 *            collector records every change, so nothing posted later can be missed. Ready.
 *   backlog: a range read from the resume time (the checkpoint, or now at the first start):
 *            CreateCollectorForEvents(page of 1000) -> ReadNextEvents until a page brings nothing
 *            new -> DestroyCollector. Events are delivered page by page up to the highest key
 *            read so far.
 *   follow:  WaitForUpdatesEx is the doorbell. Its latestPage values are taken (the simulator
 *            sends one update per posted event, so page 1 carries every event once); then the
 *            follow collector is drained with ReadNextEvents (a real vCenter coalesces updates,
 *            and only its forward reading sees every event of a burst), unless the updates
 *            continue the key sequence without a hole and a drain ran less than a second ago.
 *            Both are merged by key.
 *   gaps:    before delivering key k after last key p with k > p + 1, the keys p+1..k-1 must have
 *            been covered by a range read; if not, one range read over [time(p) - 1 s,
 *            time(k) + 1 s] runs first (the simulator ignores the time filter and serves its whole
 *            ring, which covers it as well). A key still missing then is reported (promise 2) and
 *            the stream moves on: one truly missing key costs one bounded look-up, never a stall.
 *
 * No cap loses an event: every node of a response is taken (the latestPage parse is sized to the
 * answer); WaitForUpdatesEx may answer up to VCENTER_SOAP_MAX_UPDATE_BYTES, and an answer over it
 * is logged with the key range and read again from the history; a ReadNextEvents page over the
 * 16 MiB limit makes the source reconnect and read with pages four times smaller.
 *
 * Backpressure: when the queue is full the chain stops and resumes from the queue's space
 * callback, so nothing is read meanwhile and nothing is dropped.
 *
 * Failures (unreachable, NotAuthenticated, any fault): drop what is not yet pushed, log in again
 * after a capped backoff and read the backlog from the last pushed event's time. */
#include "sources/vcenter/source_vcenter.h"

#include "backoff.h"
#include "log.h"
#include "sources/vcenter/checkpoint.h"
#include "sources/vcenter/checkpoint_store.h"
#include "sources/vcenter/vcenter_convert.h"
#include "sources/vcenter/vcenter_soap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "vcenter"
#define READ_PAGE_SIZE 1000 /* ReadNextEvents maxCount, and a range collector's latestPage */
/* The follow collector's latestPage. On the simulator every posted event gives one update
 * carrying the whole page, so a page of 1 sees each event once with the least data; on a real
 * vCenter the page only rings the bell and ReadNextEvents reads forward. */
#define FOLLOW_PAGE_SIZE 1
#define WAIT_SECONDS 30 /* also keeps the session alive when idle */
#define FOLLOW_DRAIN_MAX_MS 1000
#define GAP_TIME_SLACK_SECONDS 1.0
#define CHECKPOINT_INTERVAL_MS 1000
#define RETRY_INITIAL_SECONDS 0.5
#define RETRY_MAX_SECONDS 30.0

typedef struct batch_event {
    int64_t key;
    event *ev; /* NULL when the event could not be converted: skipped, but its key is consumed */
    char type[96];
    char created[64];
} batch_event;

/* Events taken in and not yet pushed, merged by key: a key set makes a repeated key (the same
 * event through latestPage, ReadNextEvents and a range read) cost no conversion. */
typedef struct batch {
    batch_event *items;
    size_t count;
    size_t cap;
    size_t next;   /* first item not yet pushed */
    int64_t *keys; /* open addressing, 0 = free (vCenter keys start at 1) */
    size_t key_cap;
    size_t key_count;
} batch;

typedef enum { RANGE_BACKLOG, RANGE_GAP, RANGE_RECOVER } range_purpose;

typedef enum { DELIVER_DONE, DELIVER_BLOCKED, DELIVER_NEED_LOOKUP } deliver_result;

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
    char property_collector[256];
    char version[256];
    int64_t follow_highest; /* highest key a ReadNextEvents page of the follow collector held */
    uint64_t last_drain_ms; /* loop time of the last ReadNextEvents on the follow collector */

    /* The range read in progress (backlog, gap look-up or recovery). */
    char range_collector[256];
    range_purpose range_purpose;
    char range_begin[64];
    char range_end[64];
    int64_t range_highest;  /* highest key it returned */
    int64_t range_lowest;   /* lowest key it returned (0: none yet) */
    int64_t range_gap_high; /* RANGE_GAP: the highest missing key it must cover */
    bool range_open;        /* the collector exists and is being read */
    int read_count;         /* ReadNextEvents maxCount; shrinks after an answer too large */

    batch pending;
    void (*resume)(vcenter_source *s); /* what continues once the queue has space again */
    space_waiter *waiter;

    int64_t last_pushed;
    double last_pushed_time; /* createdTime of the last pushed event, seconds */
    bool baseline;           /* last_pushed is a real key to check continuity against */
    int64_t covered_to;      /* every key in (last_pushed, covered_to] was looked up */
    int64_t history_oldest;  /* lowest key the last covering range read saw */
    double floor_time;       /* events created before this are not wanted (replay bound) */
    bool started;            /* the first connection chose floor_time */
    bool connected;          /* recording: the first WaitForUpdatesEx returned */
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
    checkpoint_store *store; /* NULL: checkpoints off */
    bool loading;            /* the store has not answered the first read yet */
    checkpoint_tracker *tracker;
    bool checkpoint_dirty;
    bool load_failed;
    bool started_loading_async; /* load returned before answering: errors are fatal() */

    uv_timer_t retry_timer;
    uv_timer_t checkpoint_timer;
    int open_handles;
};

static void connect_start(vcenter_source *s);
static void connect_fresh(vcenter_source *s);
static void wait_updates(vcenter_source *s);
static void follow_read(vcenter_source *s);
static void follow_deliver(vcenter_source *s);
static void range_start(vcenter_source *s, range_purpose purpose, double begin, double end);
static void range_read(vcenter_source *s);
static void range_deliver(vcenter_source *s);
static void fail(vcenter_source *s, const vcenter_soap_result *result, const char *step);

static const vcenter_soap_result cannot_start = {.status = VCENTER_SOAP_UNREACHABLE,
                                                 .error = "cannot start a request"};

/* ---- Batches ---- */

static uint64_t hash_key(int64_t key)
{
    uint64_t x = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static bool key_set_insert(batch *b, int64_t key); /* true when key was not there */

static bool key_set_grow(batch *b)
{
    size_t cap = b->key_cap ? b->key_cap * 2 : 1024;
    int64_t *old = b->keys;
    size_t old_cap = b->key_cap;
    b->keys = calloc(cap, sizeof *b->keys);
    if (!b->keys) {
        b->keys = old;
        return false;
    }
    b->key_cap = cap;
    b->key_count = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            key_set_insert(b, old[i]);
    free(old);
    return true;
}

static bool key_set_has(const batch *b, int64_t key)
{
    if (!b->key_cap)
        return false;
    for (size_t i = hash_key(key) & (b->key_cap - 1);; i = (i + 1) & (b->key_cap - 1)) {
        if (b->keys[i] == key)
            return true;
        if (!b->keys[i])
            return false;
    }
}

static bool key_set_insert(batch *b, int64_t key)
{
    if ((b->key_count + 1) * 2 > b->key_cap && !key_set_grow(b))
        return false;
    for (size_t i = hash_key(key) & (b->key_cap - 1);; i = (i + 1) & (b->key_cap - 1)) {
        if (b->keys[i] == key)
            return false;
        if (!b->keys[i]) {
            b->keys[i] = key;
            b->key_count++;
            return true;
        }
    }
}

static void batch_clear(batch *b)
{
    for (size_t i = b->next; i < b->count; i++)
        if (b->items[i].ev)
            event_unref(b->items[i].ev);
    b->count = b->next = 0;
    if (b->key_count) {
        memset(b->keys, 0, b->key_cap * sizeof *b->keys);
        b->key_count = 0;
    }
}

static void batch_free(batch *b)
{
    batch_clear(b);
    free(b->items);
    free(b->keys);
    memset(b, 0, sizeof *b);
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

/* Sorts the unpushed items unless they already are (the usual case: keys arrive in order). */
static void batch_sort(batch *b)
{
    for (size_t i = b->next + 1; i < b->count; i++)
        if (b->items[i - 1].key > b->items[i].key) {
            qsort(b->items + b->next, b->count - b->next, sizeof *b->items, compare_keys);
            return;
        }
}

/* Converts one event node into the pending batch unless it is already pushed, already held, or
 * older than the replay bound. */
static void take_event(vcenter_source *s, xmlNodePtr node)
{
    int64_t key;
    if (!vcenter_event_key(node, &key) || key <= s->last_pushed || key <= 0 ||
        key_set_has(&s->pending, key))
        return;
    char created[64];
    double created_time = 0;
    vcenter_xml_text(vcenter_xml_child(node, "createdTime"), created, sizeof created);
    if (checkpoint_parse_time(created, &created_time) && created_time < s->floor_time)
        return;
    if (!key_set_insert(&s->pending, key))
        return; /* out of memory: the key stays missing and the gap check looks it up again */
    batch_event *item = batch_add(&s->pending);
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

static void continue_chain(vcenter_source *s)
{
    if (s->closing)
        return;
    if (s->paused) {
        s->parked = true;
        return;
    }
    if (s->resume)
        s->resume(s);
}

static void on_space(void *opaque)
{
    space_waiter *waiter = opaque;
    vcenter_source *s = waiter->source;
    free(waiter);
    if (!s)
        return; /* the source closed meanwhile */
    s->waiter = NULL;
    continue_chain(s);
}

/* "12" or "12..15", for log lines. */
static const char *key_range(int64_t lo, int64_t hi, char *out, size_t cap)
{
    if (lo == hi)
        snprintf(out, cap, "%lld", (long long)lo);
    else
        snprintf(out, cap, "%lld..%lld", (long long)lo, (long long)hi);
    return out;
}

/* Keys lo..hi were looked up and are not in vCenter's answers: say so, count them. Keys below the
 * oldest key the look-up saw are older than the history vCenter keeps. */
static void report_missing(vcenter_source *s, int64_t lo, int64_t hi)
{
    if (s->history_oldest > lo) {
        int64_t top = s->history_oldest - 1 < hi ? s->history_oldest - 1 : hi;
        char range[64];
        log_warn(COMPONENT,
                 "%s: event keys %s lost: older than the history vCenter keeps (its oldest event "
                 "is key %lld)",
                 s->name, key_range(lo, top, range, sizeof range), (long long)s->history_oldest);
        if (s->stats)
            s->stats->events_lost += (uint64_t)(top - lo + 1);
        lo = top + 1;
    }
    if (lo <= hi) {
        char range[64];
        log_info(COMPONENT, "%s: event keys %s are absent from vCenter's history (skipped)",
                 s->name, key_range(lo, hi, range, sizeof range));
        if (s->stats)
            s->stats->event_keys_absent += (uint64_t)(hi - lo + 1);
    }
}

static bool push_one(vcenter_source *s, batch_event *item)
{
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
        checkpoint_tracker_pushed(s->tracker, item->key, item->ev->id, item->type, item->created);
        event_unref(item->ev); /* the queue holds its own reference */
        item->ev = NULL;
        if (s->stats)
            s->stats->events_total++;
    }
    s->last_pushed = item->key;
    s->baseline = true;
    double t;
    if (checkpoint_parse_time(item->created, &t))
        s->last_pushed_time = t;
    return true;
}

/* Pushes pending events with keys <= limit in key order, stopping at a gap nothing has covered
 * yet (NEED_LOOKUP: pending's next key is the gap's upper end) or at a full queue (BLOCKED). */
static deliver_result deliver(vcenter_source *s, int64_t limit)
{
    batch *b = &s->pending;
    batch_sort(b);
    do { /* even with nothing pending: a paused source stops its chain here, reading nothing */
        if (s->paused) {
            s->parked = true;
            return DELIVER_BLOCKED;
        }
        if (b->next == b->count)
            break;
        batch_event *item = &b->items[b->next];
        if (item->key > limit)
            return DELIVER_DONE;
        if (item->key <= s->last_pushed) { /* pushed meanwhile (a duplicate across reads) */
            if (item->ev)
                event_unref(item->ev);
            b->next++;
            continue;
        }
        if (s->baseline && item->key > s->last_pushed + 1) {
            if (item->key - 1 > s->covered_to)
                return DELIVER_NEED_LOOKUP;
            report_missing(s, s->last_pushed + 1, item->key - 1);
        }
        if (!push_one(s, item))
            return DELIVER_BLOCKED;
        b->next++;
    } while (b->next < b->count);
    batch_clear(b);
    return DELIVER_DONE;
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
    batch_clear(&s->pending);
    s->resume = NULL;
    s->collector[0] = s->property_collector[0] = s->version[0] = '\0';
    s->range_collector[0] = '\0';
    s->range_open = false;
    s->follow_highest = 0;
    double delay =
        backoff_reconnect_delay_seconds(s->attempt, RETRY_INITIAL_SECONDS, RETRY_MAX_SECONDS,
                                        (double)rand() / ((double)RAND_MAX + 1.0));
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
        log_warn(COMPONENT, "%s: %s (reconnecting in %.1fs, resuming after key %lld)", s->name,
                 s->last_error, delay, (long long)s->last_pushed);
    uv_timer_start(&s->retry_timer, on_retry_timer, (uint64_t)(delay * 1000.0), 0);
}

/* A ReadNextEvents page over the byte limit: the server moved its cursor past events nobody read,
 * so reconnect (which reads the history from the last pushed key again) with smaller pages. */
static void fail_too_large(vcenter_source *s, const vcenter_soap_result *result, const char *step)
{
    int smaller = s->read_count / 4 > 0 ? s->read_count / 4 : 1;
    log_warn(COMPONENT,
             "%s: %s: events after key %lld not read: %s; reading them again with pages of %d",
             s->name, step, (long long)s->last_pushed, result->error, smaller);
    s->read_count = smaller;
    fail(s, result, step);
}

static void format_seconds(double t, char *out, size_t cap)
{
    checkpoint_format_time((int64_t)floor(t), (long)((t - floor(t)) * 1e9), out, cap);
}

/* ---- Follow ---- */

static size_t take_latest_page(vcenter_source *s, xmlNodePtr returnval)
{
    size_t found =
        vcenter_soap_parse_latest_page(returnval, s->version, sizeof s->version, NULL, 0);
    if (!found)
        return 0;
    xmlNodePtr *nodes = malloc(found * sizeof *nodes);
    if (!nodes) {
        log_warn(COMPONENT,
                 "%s: out of memory for %zu events after key %lld: the gap check "
                 "reads them from the history",
                 s->name, found, (long long)s->last_pushed);
        return 0;
    }
    vcenter_soap_parse_latest_page(returnval, s->version, sizeof s->version, nodes, found);
    for (size_t i = 0; i < found; i++)
        take_event(s, nodes[i]);
    free(nodes);
    return found;
}

/* True when pending holds keys last_pushed+1, +2, ... without a hole (and at least one). */
static bool pending_continues_keys(vcenter_source *s)
{
    batch *b = &s->pending;
    if (!s->baseline || b->next == b->count)
        return false;
    batch_sort(b);
    int64_t expected = s->last_pushed + 1;
    for (size_t i = b->next; i < b->count; i++) {
        if (b->items[i].key < expected)
            continue;
        if (b->items[i].key != expected)
            return false;
        expected++;
    }
    return expected > s->last_pushed + 1;
}

static void on_update(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (s->closing)
        return;
    if (result->status == VCENTER_SOAP_TOO_LARGE) {
        /* The server has moved on: what the answer held is read from the history instead. */
        log_warn(COMPONENT,
                 "%s: WaitForUpdatesEx: %s; reading events after key %lld from the "
                 "history instead",
                 s->name, result->error, (long long)s->last_pushed);
        range_start(s, RANGE_RECOVER, s->last_pushed_time - GAP_TIME_SLACK_SECONDS, 0);
        return;
    }
    if (result->status != VCENTER_SOAP_OK) {
        fail(s, result, "WaitForUpdatesEx");
        return;
    }
    if (result->returnval) /* NULL: maxWaitSeconds passed, nothing new */
        take_latest_page(s, result->returnval);
    /* The simulator's updates carry every event: when they continue the key sequence without a
     * hole there is nothing for the forward reading to add, and skipping its round trip keeps the
     * latency at the server's own. A hole (coalesced updates) is what the drain is for; it still
     * runs once a second so the collector's cursor never lags far behind. */
    if (pending_continues_keys(s) && uv_now(s->loop) - s->last_drain_ms < FOLLOW_DRAIN_MAX_MS)
        follow_deliver(s);
    else
        follow_read(s);
}

static void wait_updates(vcenter_source *s)
{
    if (vcenter_soap_wait_for_updates(s->soap, s->property_collector, s->version, WAIT_SECONDS,
                                      on_update, s) != 0)
        fail(s, &cannot_start, "WaitForUpdatesEx");
}

/* The follow and range collectors' ReadNextEvents answers alike: true when the answer is no page
 * (the source is closing, or it failed and the source reconnects, with smaller pages when it was
 * too large), so there is nothing more to do with it. */
static bool read_next_events_failed(vcenter_source *s, const vcenter_soap_result *result)
{
    if (s->closing)
        return true;
    if (result->status == VCENTER_SOAP_TOO_LARGE) {
        fail_too_large(s, result, "ReadNextEvents");
        return true;
    }
    if (result->status != VCENTER_SOAP_OK) {
        fail(s, result, "ReadNextEvents");
        return true;
    }
    return false;
}

/* Takes every event of a ReadNextEvents page into pending. Returns the page's highest key (0 for
 * none); when lowest is given, lowers *lowest (0 while there is none) to the page's lowest key. */
static int64_t take_page(vcenter_source *s, xmlNodePtr returnval, int64_t *lowest)
{
    int64_t page_max = 0;
    for (xmlNodePtr node = returnval; node; node = vcenter_xml_next(node->next, "returnval")) {
        int64_t key;
        if (vcenter_event_key(node, &key)) {
            if (key > page_max)
                page_max = key;
            if (lowest && key > 0 && (*lowest == 0 || key < *lowest))
                *lowest = key;
        }
        take_event(s, node);
    }
    return page_max;
}

static void on_follow_page(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (read_next_events_failed(s, result))
        return;
    /* A page of only known keys is still progress while the keys climb (a real vCenter reading
     * forward); a repeated or empty page (the simulator, or the end) is not. */
    int64_t page_max = take_page(s, result->returnval, NULL);
    if (page_max > s->follow_highest) {
        s->follow_highest = page_max;
        follow_read(s);
        return;
    }
    follow_deliver(s);
}

/* Drains the follow collector's forward reading. */
static void follow_read(vcenter_source *s)
{
    s->last_drain_ms = uv_now(s->loop);
    if (vcenter_soap_read_next_events(s->soap, s->collector, s->read_count, on_follow_page, s) != 0)
        fail(s, &cannot_start, "ReadNextEvents");
}

static void follow_deliver(vcenter_source *s)
{
    s->resume = follow_deliver;
    deliver_result r = deliver(s, INT64_MAX);
    if (r == DELIVER_BLOCKED)
        return;
    if (r == DELIVER_NEED_LOOKUP) {
        batch_event *next = &s->pending.items[s->pending.next];
        double end = 0;
        if (!checkpoint_parse_time(next->created, &end))
            end = 0;
        s->range_gap_high = next->key - 1;
        log_debug(COMPONENT, "%s: keys %lld..%lld not seen yet: looking them up", s->name,
                  (long long)s->last_pushed + 1, (long long)next->key - 1);
        range_start(s, RANGE_GAP, s->last_pushed_time - GAP_TIME_SLACK_SECONDS,
                    end > 0 ? end + GAP_TIME_SLACK_SECONDS : 0);
        return;
    }
    s->resume = NULL;
    wait_updates(s);
}

/* ---- Range reads: backlog, gap look-ups, recovery ---- */

static void on_range_destroyed(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (s->closing)
        return;
    if (result->status != VCENTER_SOAP_OK) /* the session ends it anyway; following tells */
        log_debug(COMPONENT, "%s: DestroyCollector: %s", s->name, result->error);
    if (s->range_purpose == RANGE_BACKLOG)
        log_info(COMPONENT, "%s: backlog read up to key %lld, following new events", s->name,
                 (long long)s->range_highest);
    follow_deliver(s);
}

/* Everything the range read could find is in pending: the keys up to its highest (and, for a
 * gap, up to the gap's end) count as covered. */
static void range_end(vcenter_source *s)
{
    s->range_open = false;
    int64_t covered = s->range_highest;
    if (s->range_purpose == RANGE_GAP && s->range_gap_high > covered)
        covered = s->range_gap_high;
    if (covered > s->covered_to)
        s->covered_to = covered;
    if (s->range_lowest > 0)
        s->history_oldest = s->range_lowest;
    char ref[256];
    snprintf(ref, sizeof ref, "%s", s->range_collector);
    s->range_collector[0] = '\0';
    if (vcenter_soap_destroy_collector(s->soap, ref, on_range_destroyed, s) != 0)
        fail(s, &cannot_start, "DestroyCollector");
}

static void on_range_page(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (read_next_events_failed(s, result))
        return;
    int64_t page_max = take_page(s, result->returnval, &s->range_lowest);
    if (page_max <= s->range_highest) {
        range_end(s);
        return;
    }
    s->range_highest = page_max;
    /* A forward reading covers every key up to where it got: deliver that much now, so a long
     * backlog is never held whole in memory. */
    if (s->range_highest > s->covered_to)
        s->covered_to = s->range_highest;
    if (s->range_lowest > 0)
        s->history_oldest = s->range_lowest;
    range_deliver(s);
}

static void range_deliver(vcenter_source *s)
{
    s->resume = range_deliver;
    deliver_result r = deliver(s, s->range_highest);
    if (r == DELIVER_BLOCKED)
        return;
    s->resume = NULL;
    range_read(s); /* NEED_LOOKUP cannot happen below covered_to; the read goes on either way */
}

static void range_read(vcenter_source *s)
{
    if (vcenter_soap_read_next_events(s->soap, s->range_collector, s->read_count, on_range_page,
                                      s) != 0)
        fail(s, &cannot_start, "ReadNextEvents");
}

static void on_range_collector(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (s->closing)
        return;
    if (result->status != VCENTER_SOAP_OK) {
        fail(s, result, "CreateCollectorForEvents");
        return;
    }
    vcenter_xml_text(result->returnval, s->range_collector, sizeof s->range_collector);
    s->range_open = true;
    range_read(s);
}

/* A reading collector over [begin, end] (end 0: open); its events go to pending. */
static void range_start(vcenter_source *s, range_purpose purpose, double begin, double end)
{
    if (begin < s->floor_time)
        begin = s->floor_time;
    s->range_purpose = purpose;
    s->range_highest = 0;
    s->range_lowest = 0;
    s->range_begin[0] = s->range_end[0] = '\0';
    if (begin > 0)
        format_seconds(begin, s->range_begin, sizeof s->range_begin);
    if (end > 0)
        format_seconds(end, s->range_end, sizeof s->range_end);
    if (vcenter_soap_create_event_collector(s->soap, s->range_begin, s->range_end, READ_PAGE_SIZE,
                                            on_range_collector, s) != 0)
        fail(s, &cannot_start, "CreateCollectorForEvents");
}

/* ---- Connect ---- */

#define CHAIN(call, step)                                                                          \
    do {                                                                                           \
        if ((call) != 0)                                                                           \
            fail(s, &cannot_start, step);                                                          \
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

/* The property collector records from here on: anything posted later reaches a later wait, and
 * anything posted before is in the backlog read that starts now. */
static void on_first_update(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (!step_ok(s, result, "WaitForUpdatesEx"))
        return;
    if (result->returnval)
        take_latest_page(s, result->returnval);
    s->connected = true;
    s->ever_connected = true;
    s->attempt = 0;
    s->last_error[0] = '\0';
    double begin = s->last_pushed_time > s->floor_time ? s->last_pushed_time : s->floor_time;
    log_info(COMPONENT, "%s: connected to %s, streaming events after key %lld", s->name,
             vcenter_soap_host(s->soap), (long long)s->last_pushed);
    range_start(s, RANGE_BACKLOG, begin, 0);
}

static void on_filter(void *user, const vcenter_soap_result *result)
{
    vcenter_source *s = user;
    if (!step_ok(s, result, "CreateFilter"))
        return;
    s->version[0] = '\0';
    CHAIN(vcenter_soap_wait_for_updates(s->soap, s->property_collector, "", WAIT_SECONDS,
                                        on_first_update, s),
          "WaitForUpdatesEx");
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

/* The first time chooses the replay bound: the checkpoint (at most max replay age back) or
 * vCenter's current time. The follow collector reads forward from now. */
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
    if (!s->started) {
        s->started = true;
        double begin = now;
        double checkpoint_time;
        if (s->has_checkpoint) {
            begin = now - s->max_replay_age_seconds;
            bool known =
                checkpoint_parse_time(s->checkpoint.last_event_key_timestamp, &checkpoint_time);
            if (known && checkpoint_time > begin) {
                begin = checkpoint_time;
                s->last_pushed_time = checkpoint_time;
                s->baseline = true;
            } else {
                /* Older than the replay bound: the keys in between are skipped by configuration,
                 * not lost, so continuity is checked from the first key delivered. */
                log_info(COMPONENT,
                         "%s: the checkpoint (key %lld) is older than maxReplayAge: replaying "
                         "from %.0f s ago",
                         s->name, (long long)s->last_pushed, s->max_replay_age_seconds);
            }
        }
        s->floor_time = begin;
    }
    char now_text[64];
    format_seconds(now, now_text, sizeof now_text);
    CHAIN(vcenter_soap_create_event_collector(s->soap, now_text, NULL, FOLLOW_PAGE_SIZE,
                                              on_collector, s),
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
    if (!s->checkpointing || !s->store || s->loading ||
        (!s->checkpoint_dirty && !s->store->ops->needs_retry(s->store)))
        return;
    checkpoint_record record = {0};
    snprintf(record.vcenter, sizeof record.vcenter, "%s", vcenter_soap_host(s->soap));
    if (!checkpoint_tracker_fill(s->tracker, &record))
        return;
    char err[512];
    if (s->store->ops->save(s->store, &record, err, sizeof err) != 0) {
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
    if (s->store)
        s->store->ops->close(s->store); /* a write underway finishes first */
    batch_free(&s->pending);
    checkpoint_tracker_free(s->tracker);
    free(s);
}

static void on_handle_closed(uv_handle_t *handle)
{
    vcenter_source *s = handle->data;
    if (--s->open_handles == 0)
        free_source(s);
}

/* The first read of the checkpoint: where streaming resumes. Then connect. */
static void on_checkpoint_loaded(void *user, int result, const checkpoint_record *record,
                                 const char *error)
{
    vcenter_source *s = user;
    s->loading = false;
    if (result < 0) {
        snprintf(s->last_error, sizeof s->last_error, "%s", error ? error : "bad checkpoint");
        s->load_failed = true;
        if (s->started_loading_async && s->fatal) {
            char reason[600];
            snprintf(reason, sizeof reason, "%s: %s", s->name, s->last_error);
            s->fatal(s->fatal_engine, reason);
        }
        return;
    }
    if (result == 1 && record->last_event_key > 0) {
        s->checkpoint = *record;
        s->has_checkpoint = true;
        s->last_pushed = s->checkpoint.last_event_key;
        checkpoint_tracker_free(s->tracker);
        s->tracker = checkpoint_tracker_new(s->last_pushed);
        log_info(COMPONENT, "%s: resuming after event key %lld from %s", s->name,
                 (long long)s->last_pushed, s->store->where);
    }
    if (!s->tracker) {
        snprintf(s->last_error, sizeof s->last_error, "out of memory");
        s->load_failed = true;
        return;
    }
    uv_timer_start(&s->retry_timer, on_retry_timer, 0, 0);
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
    s->read_count = READ_PAGE_SIZE;
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
    s->convert.source_url = vcenter_soap_source_url(s->soap);
    s->checkpointing = config->vcenter.checkpoint;
    if (s->checkpointing) {
        const char *dir =
            config->vcenter.checkpoint_dir ? config->vcenter.checkpoint_dir : "./checkpoints";
        s->store = checkpoint_store_open(services, dir, vcenter_soap_host(s->soap), err, err_cap);
        if (!s->store) {
            vcenter_soap_close(s->soap);
            free_source(s);
            return -1;
        }
    }
    uv_timer_init(s->loop, &s->retry_timer);
    uv_timer_init(s->loop, &s->checkpoint_timer);
    s->retry_timer.data = s->checkpoint_timer.data = s;
    s->open_handles = 2;
    if (s->checkpointing)
        uv_timer_start(&s->checkpoint_timer, on_checkpoint_timer, CHECKPOINT_INTERVAL_MS,
                       CHECKPOINT_INTERVAL_MS);
    *state = s;
    if (!s->store) {
        /* Deferred to the next loop turn: create() never calls back into the engine. */
        uv_timer_start(&s->retry_timer, on_retry_timer, 0, 0);
        return 0;
    }
    /* The file store answers before load returns; a bad file then fails the start as before. */
    s->loading = true;
    s->load_failed = false;
    s->store->ops->load(s->store, on_checkpoint_loaded, s);
    s->started_loading_async = s->loading;
    if (s->load_failed) {
        snprintf(err, err_cap, "%s", s->last_error);
        *state = NULL;
        s->closing = true;
        vcenter_soap *soap = s->soap;
        s->soap = NULL;
        vcenter_soap_close(soap);
        uv_close((uv_handle_t *)&s->retry_timer, on_handle_closed);
        uv_close((uv_handle_t *)&s->checkpoint_timer, on_handle_closed);
        return -1;
    }
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
    if (s->range_collector[0]) {
        snprintf(ref, sizeof ref, "%s", s->range_collector);
        s->range_collector[0] = '\0';
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
        s->collector[0] = s->property_collector[0] = s->range_collector[0] = '\0';
    close_next(s);
}

static void source_pause(void *state, bool paused)
{
    vcenter_source *s = state;
    s->paused = paused;
    if (!paused && s->parked && !s->waiter) {
        s->parked = false;
        continue_chain(s);
    }
}

const source_type vcenter_source_type = {
    .name = "vcenter",
    .leader_only = true,
    .create = source_create,
    .event_done = source_event_done,
    .ready = source_ready,
    .pause = source_pause,
    .close = source_close,
};
