/* OpenFaaS processor.
 *
 * Design: one event that matches N functions is N deliveries. The processor declares fans_out,
 * so the engine's dispatcher only hands it each event once (no ordering, no in-flight limit) and
 * waits for one answer. The processor owns one ordinary dispatcher per function (a "target")
 * and submits the event to each matched function's dispatcher; those do what they do for every
 * processor: retries with the delivery policy, order per subject (so per (function, subject)),
 * the in-flight limit, and a dead-letter line whose error names the function. A function that
 * took the event is never called again because a sibling failed: each dispatcher retries only
 * its own delivery. When the last matched function has succeeded or been dead-lettered, the
 * engine's attempt ends with OK and the event is acknowledged to its source. This keeps the
 * engine's changes generic: a flag and an abandon hook in processor.h, and a few lines in
 * dispatcher.c honouring them.
 *
 * The function list (openfaas_functions.c) is read before the first invocation: events that
 * arrive earlier wait, in order. It is re-read every topicRefresh; a failed read keeps the last
 * good list, is logged once per outage and counted. An event that matches no function is
 * counted and acknowledged, or dead-lettered with `unmatched: deadletter`.
 *
 * Invocations: POST {address}/function/{name.ns} (async: /async-function/, where the gateway's
 * 202 is success), body the structured CloudEvent exactly as the Knative processor encodes it,
 * headers Content-Type: application/json, X-Topic, X-Connector, X-Ce-Id and the configured ones.
 * The gateway's basic auth goes to the /system endpoints only unless invokeWithAuth is set. As
 * VEBA: transport errors, 429 and 5xx except 501 are retried, every other answer is final. */
#include "processors/openfaas.h"

#include "backoff.h"
#include "deadletter.h"
#include "dispatcher.h"
#include "http/cloudevents_http.h"
#include "http/url_userinfo.h"
#include "log.h"
#include "metrics/metrics.h"
#include "processors/openfaas_callback.h"
#include "processors/openfaas_functions.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FANOUT_BUCKETS 1024
#define CONNECTOR_NAME "event-router"

typedef struct openfaas_state openfaas_state;

/* One function ever listed by the gateway. Kept after it leaves the list so deliveries still
 * under way can finish; it just stops being matched. */
typedef struct openfaas_function {
    openfaas_state *st;
    char *address_name; /* name.namespace */
    char *url;
    char **topics;
    size_t topic_count;
    bool listed;
    dispatcher *dispatcher;
    processor_stats *stats; /* owned by the metrics; in /metrics only */
    /* intake to the function's success, seconds; cumulative per upper bound */
    uint64_t latency_buckets[METRICS_LATENCY_BUCKETS];
    uint64_t latency_count;
    double latency_sum;
    struct openfaas_function *next;
} openfaas_function;

/* The functions that take one topic. */
typedef struct topic_entry {
    const char *topic; /* points into a function's topics */
    openfaas_function **functions;
    size_t count;
} topic_entry;

/* One event's trip through the processor: from the engine's attempt to its answer. */
typedef struct fanout {
    openfaas_state *st;
    event *ev;
    void *attempt;
    processor_attempt_done_fn done;
    size_t remaining; /* matched functions not yet done */
    bool kept;        /* a function left it for the next start (shutdown with a disk queue) */
    /* The structured CloudEvent, encoded by the first invocation and shared by the others and
     * their retries: the event does not change on its way. */
    cloudevents_http_message message;
    bool encoded;
    delivery_result result;
    struct fanout *next;           /* in the waiting or the answered list */
    struct fanout *next_in_bucket; /* in flight, found by event */
} fanout;

struct openfaas_state {
    uv_loop_t *loop;
    http_client *http;
    const config_delivery *delivery;
    deadletter *deadletter;
    metrics *metrics;
    processor_stats *stats;
    char *name;
    char *address;
    char *display_address;
    char *username;
    char *password; /* secret */
    bool async;
    bool invoke_with_auth;
    bool from_subject, from_type;
    bool unmatched_deadletter;
    double refresh_seconds;
    long timeout_ms, connect_timeout_ms;
    http_header *headers; /* configured ones, owned copies */
    size_t header_count;
    openfaas_callbacks *callbacks; /* NULL without callback: */
    double callback_deadline_seconds;
    bool callback_retry;

    openfaas_function *functions;
    topic_entry *topics; /* sorted by topic */
    size_t topic_count;
    size_t listed_count;
    bool have_list;
    uint64_t list_built_ms; /* uv_now of the last good list */
    bool refresh_in_flight;
    int refresh_failures_in_row;
    uint64_t refresh_failures_total;
    char last_refresh_error[512];
    uint64_t unmatched_total;

    uv_timer_t refresh_timer;
    uv_timer_t answer_timer;
    fanout *waiting, *waiting_tail;   /* before the first list */
    fanout *answered, *answered_tail; /* done, answered on the next loop turn */
    fanout *in_flight[FANOUT_BUCKETS];

    bool stopped; /* the HTTP client is closing: no more refreshes */
    bool destroying;
    int handles_open;
    size_t dispatchers_open;
};

/* ---- the topic map --------------------------------------------------------------------------- */

static int compare_topic_entries(const void *a, const void *b)
{
    return strcmp(((const topic_entry *)a)->topic, ((const topic_entry *)b)->topic);
}

static void topics_clear(openfaas_state *st)
{
    for (size_t i = 0; i < st->topic_count; i++)
        free(st->topics[i].functions);
    free(st->topics);
    st->topics = NULL;
    st->topic_count = 0;
}

static const topic_entry *topic_find(const openfaas_state *st, const char *topic)
{
    if (!topic || st->topic_count == 0)
        return NULL;
    topic_entry key = {.topic = topic};
    return bsearch(&key, st->topics, st->topic_count, sizeof key, compare_topic_entries);
}

/* Rebuilds the topic -> functions table from the listed functions. */
static int topics_rebuild(openfaas_state *st)
{
    topics_clear(st);
    size_t total = 0;
    for (openfaas_function *fn = st->functions; fn; fn = fn->next)
        if (fn->listed)
            total += fn->topic_count;
    if (total == 0)
        return 0;
    topic_entry *pairs = calloc(total, sizeof *pairs);
    if (!pairs)
        return -1;
    size_t n = 0;
    for (openfaas_function *fn = st->functions; fn; fn = fn->next)
        for (size_t t = 0; fn->listed && t < fn->topic_count; t++)
            pairs[n++] = (topic_entry){.topic = fn->topics[t], .functions = (void *)fn};
    qsort(pairs, n, sizeof *pairs, compare_topic_entries);
    topic_entry *entries = calloc(n, sizeof *entries);
    if (!entries) {
        free(pairs);
        return -1;
    }
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(pairs[j].topic, pairs[i].topic) == 0)
            j++;
        entries[count].topic = pairs[i].topic;
        entries[count].functions = malloc((j - i) * sizeof(openfaas_function *));
        if (!entries[count].functions) {
            st->topics = entries;
            st->topic_count = count;
            free(pairs);
            return -1;
        }
        for (size_t k = i; k < j; k++)
            entries[count].functions[entries[count].count++] =
                (openfaas_function *)pairs[k].functions;
        count++;
        i = j;
    }
    free(pairs);
    st->topics = entries;
    st->topic_count = count;
    return 0;
}

static bool function_takes(const openfaas_function *fn, const char *topic)
{
    for (size_t i = 0; topic && i < fn->topic_count; i++)
        if (strcmp(fn->topics[i], topic) == 0)
            return true;
    return false;
}

/* The topic fn was invoked for: the first of the event's topics it takes. */
static const char *topic_of(const openfaas_state *st, const openfaas_function *fn, const event *ev)
{
    if (st->from_subject && function_takes(fn, ev->subject))
        return ev->subject;
    if (st->from_type && function_takes(fn, ev->type))
        return ev->type;
    return st->from_subject && ev->subject ? ev->subject : ev->type;
}

/* ---- one invocation (a target dispatcher's attempt) ----------------------------------------- */

typedef struct invocation {
    openfaas_function *fn;
    event *ev;
    void *attempt;
    processor_attempt_done_fn done;
    delivery_result result;
    openfaas_waiter *waiter; /* with callbacks: waits for the function's real answer */
    uv_timer_t defer;
} invocation;

static void invocation_finish(invocation *inv)
{
    event_unref(inv->ev);
    inv->done(inv->attempt, &inv->result);
}

static void on_invocation_deferred_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void on_invocation_deferred(uv_timer_t *timer)
{
    invocation_finish(timer->data);
    uv_close((uv_handle_t *)timer, on_invocation_deferred_closed);
}

/* A failure found before any request was made, answered on the next loop turn. */
static void invocation_fail_later(invocation *inv, const char *error)
{
    inv->result = (delivery_result){.status = DELIVERY_RETRY, .retry_after_seconds = -1};
    format_message(inv->result.error, sizeof inv->result.error, "function %s: %s",
                   inv->fn->address_name, error);
    uv_timer_init(inv->fn->st->loop, &inv->defer);
    inv->defer.data = inv;
    uv_timer_start(&inv->defer, on_invocation_deferred, 0, 0);
}

static bool is_retryable(long status)
{
    return status == 429 || (status >= 500 && status <= 599 && status != 501);
}

/* The function's real outcome, from the gateway's callback (or its absence). */
static void on_callback(void *user, const openfaas_callback_result *cb)
{
    invocation *inv = user;
    const openfaas_function *fn = inv->fn;
    const openfaas_state *st = fn->st;
    delivery_result *r = &inv->result;
    *r = (delivery_result){.retry_after_seconds = -1};
    if (cb->outcome == CALLBACK_RECEIVED && cb->function_status >= 200 &&
        cb->function_status <= 299) {
        r->status = DELIVERY_OK;
        r->http_status = cb->function_status;
    } else if (cb->outcome == CALLBACK_RECEIVED) {
        r->http_status = cb->function_status;
        r->status =
            st->callback_retry && (is_retryable(cb->function_status) || cb->function_status == 0)
                ? DELIVERY_RETRY
                : DELIVERY_FAILED;
        format_message(r->error, sizeof r->error,
                       "function %s: the callback says X-Function-Status %ld (X-Call-Id %.60s)",
                       fn->address_name, cb->function_status, cb->call_id);
    } else if (cb->outcome == CALLBACK_TIMED_OUT) {
        r->status = st->callback_retry ? DELIVERY_RETRY : DELIVERY_FAILED;
        format_message(r->error, sizeof r->error,
                       "function %s: no callback within %.0fs of the gateway's 202",
                       fn->address_name, st->callback_deadline_seconds);
    } else {
        r->status = DELIVERY_FAILED;
        format_message(r->error, sizeof r->error,
                       "function %s: shut down before the async callback came", fn->address_name);
    }
    invocation_finish(inv);
    free(inv);
}

static void on_invocation_response(void *user, const http_client_response *response)
{
    invocation *inv = user;
    if (inv->waiter) {
        openfaas_waiter *waiter = inv->waiter;
        inv->waiter = NULL;
        if (!response->error && response->status >= 200 && response->status <= 299) {
            /* Queued: the outcome comes with the callback (or its deadline). */
            openfaas_waiter_arm(waiter, inv->fn->st->callback_deadline_seconds);
            return;
        }
        openfaas_waiter_cancel(waiter);
    }
    openfaas_function *fn = inv->fn;
    const openfaas_state *st = fn->st;
    delivery_result *r = &inv->result;
    r->http_status = response->status;
    r->retry_after_seconds = -1;
    const char *path = st->async ? "async-function" : "function";
    long s = response->status;
    if (response->error) {
        r->status = DELIVERY_RETRY;
        format_message(r->error, sizeof r->error, "function %s: %s (%s/%s/%s)", fn->address_name,
                       response->error, st->display_address, path, fn->address_name);
    } else if (s >= 200 && s <= 299) {
        r->status = DELIVERY_OK;
        r->error[0] = '\0';
    } else {
        /* VEBA's rule: 429 and 5xx but 501 (Not Implemented will not change) are worth another
         * try; any other answer is the function's final word. */
        bool retry = is_retryable(s);
        r->status = retry ? DELIVERY_RETRY : DELIVERY_FAILED;
        if (retry)
            r->retry_after_seconds = backoff_parse_retry_after(response->retry_after, time(NULL));
        format_message(r->error, sizeof r->error, "function %s: HTTP %ld from %s/%s/%s: %.80s",
                       fn->address_name, s, st->display_address, path, fn->address_name,
                       response->body ? response->body : "");
    }
    invocation_finish(inv);
    free(inv);
}

static fanout *fanout_find(openfaas_state *st, const event *ev);

/* The event's structured encoding, shared by every function it goes to. */
static const cloudevents_http_message *encoded_event(openfaas_state *st, event *ev)
{
    fanout *f = fanout_find(st, ev);
    if (!f)
        return NULL;
    if (!f->encoded && cloudevents_http_encode(ev, true, &f->message) == 0)
        f->encoded = true;
    return f->encoded ? &f->message : NULL;
}

static void function_send(void *state, event *ev, void *attempt, processor_attempt_done_fn done)
{
    openfaas_function *fn = state;
    openfaas_state *st = fn->st;
    invocation *inv = calloc(1, sizeof *inv);
    if (!inv) {
        log_error("openfaas", "out of memory: an invocation of %s is lost", fn->address_name);
        return;
    }
    inv->fn = fn;
    inv->ev = event_ref(ev);
    inv->attempt = attempt;
    inv->done = done;
    const cloudevents_http_message *message = encoded_event(st, ev);
    if (!message) {
        invocation_fail_later(inv, "out of memory encoding the event");
        return;
    }
    http_header headers[5 + st->header_count];
    char callback_url[512];
    size_t count = 0;
    headers[count++] = (http_header){"Content-Type", "application/json"};
    headers[count++] = (http_header){"X-Topic", topic_of(st, fn, ev)};
    headers[count++] = (http_header){"X-Connector", CONNECTOR_NAME};
    if (ev->id)
        headers[count++] = (http_header){"X-Ce-Id", ev->id};
    if (st->callbacks) {
        inv->waiter = openfaas_callbacks_expect(st->callbacks, on_callback, inv, callback_url,
                                                sizeof callback_url);
        if (!inv->waiter) {
            invocation_fail_later(inv, "out of memory for the callback");
            return;
        }
        headers[count++] = (http_header){"X-Callback-Url", callback_url};
    }
    for (size_t i = 0; i < st->header_count; i++)
        headers[count++] = st->headers[i];
    http_client_request request = {.method = "POST",
                                   .url = fn->url,
                                   .headers = headers,
                                   .header_count = count,
                                   .body = message->body,
                                   .body_len = message->body_len,
                                   .connect_timeout_ms = st->connect_timeout_ms,
                                   .timeout_ms = st->timeout_ms,
                                   .username = st->invoke_with_auth ? st->username : NULL,
                                   .password = st->invoke_with_auth ? st->password : NULL};
    int rc = http_client_send(st->http, &request, on_invocation_response, inv);
    if (rc != 0) {
        if (inv->waiter)
            openfaas_waiter_cancel(inv->waiter);
        inv->waiter = NULL;
        invocation_fail_later(inv, "the HTTP client could not start the request");
    }
}

/* The dispatchers of single functions see this type. */
static const processor_type function_target_type = {
    .name = "openfaas_function",
    .send = function_send,
};

/* ---- fan-out bookkeeping --------------------------------------------------------------------- */

static size_t fanout_bucket(const event *ev)
{
    return ((uintptr_t)ev >> 4) % FANOUT_BUCKETS;
}

static fanout *fanout_find(openfaas_state *st, const event *ev)
{
    for (fanout *f = st->in_flight[fanout_bucket(ev)]; f; f = f->next_in_bucket)
        if (f->ev == ev)
            return f;
    return NULL;
}

static void fanout_unlink(openfaas_state *st, fanout *f)
{
    fanout **link = &st->in_flight[fanout_bucket(f->ev)];
    while (*link && *link != f)
        link = &(*link)->next_in_bucket;
    if (*link)
        *link = f->next_in_bucket;
}

static void on_answer_timer(uv_timer_t *timer)
{
    openfaas_state *st = timer->data;
    fanout *list = st->answered;
    st->answered = st->answered_tail = NULL;
    /* The engine may destroy st once the last attempt is answered: read nothing from st after. */
    while (list) {
        fanout *f = list;
        list = f->next;
        event_unref(f->ev);
        processor_attempt_done_fn done = f->done;
        void *attempt = f->attempt;
        delivery_result result = f->result;
        if (f->encoded)
            cloudevents_http_message_free(&f->message);
        free(f);
        done(attempt, &result);
    }
}

/* Answers the engine's attempt on the next loop turn: never from inside send, nor from inside a
 * target dispatcher's callback (the answer can end the engine's use of this processor). */
static void fanout_answer(openfaas_state *st, fanout *f)
{
    f->next = NULL;
    if (st->answered_tail)
        st->answered_tail->next = f;
    else
        st->answered = f;
    st->answered_tail = f;
    uv_timer_start(&st->answer_timer, on_answer_timer, 0, 0);
}

static void fanout_answer_status(openfaas_state *st, fanout *f, delivery_status status,
                                 const char *error)
{
    f->result = (delivery_result){.status = status, .retry_after_seconds = -1};
    format_message(f->result.error, sizeof f->result.error, "%s", error);
    fanout_answer(st, f);
}

/* A target dispatcher's final word on one function's delivery of ev. */
static void on_function_done(void *owner, event *ev, dispatch_outcome outcome, const char *error)
{
    bool delivered = outcome == DISPATCH_DELIVERED;
    (void)error; /* the target dispatcher already logged it and wrote the dead-letter line */
    openfaas_function *fn = owner;
    openfaas_state *st = fn->st;
    metrics_processor_outcome(st->stats, topic_of(st, fn, ev), delivered);
    if (delivered) {
        double seconds = (double)(uv_hrtime() - ev->received_ns) / 1e9;
        for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++)
            if (seconds <= metrics_latency_bounds[i])
                fn->latency_buckets[i]++;
        fn->latency_count++;
        fn->latency_sum += seconds;
    }
    fanout *f = fanout_find(st, ev);
    if (!f) {
        log_error("openfaas", "function %s finished event %s that no attempt waits for",
                  fn->address_name, ev->id ? ev->id : "?");
        return;
    }
    if (outcome == DISPATCH_KEPT)
        f->kept = true;
    if (--f->remaining > 0)
        return;
    fanout_unlink(st, f);
    /* A kept function keeps the whole event: the next start delivers it again (at least once). */
    if (f->kept)
        fanout_answer_status(st, f, DELIVERY_FAILED, "kept for the next start");
    else
        fanout_answer_status(st, f, DELIVERY_OK, "");
}

static void add_match(openfaas_function **matched, size_t *count, const topic_entry *entry)
{
    for (size_t i = 0; entry && i < entry->count; i++) {
        bool seen = false;
        for (size_t j = 0; j < *count && !seen; j++)
            seen = matched[j] == entry->functions[i];
        if (!seen)
            matched[(*count)++] = entry->functions[i];
    }
}

/* Sends f's event to every function that takes one of its topics. */
static void fanout_start(openfaas_state *st, fanout *f)
{
    event *ev = f->ev;
    if (fanout_find(st, ev)) {
        /* The same event object twice at once (a replay while the first is under way): the
         * bookkeeping is by event, so the second waits for a retry. */
        fanout_answer_status(st, f, DELIVERY_RETRY, "the event is already being delivered");
        return;
    }
    const topic_entry *by_subject = st->from_subject ? topic_find(st, ev->subject) : NULL;
    const topic_entry *by_type = st->from_type ? topic_find(st, ev->type) : NULL;
    size_t cap = (by_subject ? by_subject->count : 0) + (by_type ? by_type->count : 0);
    if (cap == 0) {
        st->unmatched_total++;
        if (!st->unmatched_deadletter) {
            fanout_answer_status(st, f, DELIVERY_OK, "");
            return;
        }
        char error[300];
        format_message(error, sizeof error, "no OpenFaaS function takes topic '%.200s'",
                       st->from_subject && ev->subject ? ev->subject : ev->type);
        fanout_answer_status(st, f, DELIVERY_FAILED, error);
        return;
    }
    openfaas_function *matched[cap];
    size_t count = 0;
    add_match(matched, &count, by_subject);
    add_match(matched, &count, by_type);
    f->remaining = count;
    size_t bucket = fanout_bucket(ev);
    f->next_in_bucket = st->in_flight[bucket];
    st->in_flight[bucket] = f;
    /* Submitting cannot answer synchronously (dispatchers call back only after an attempt), so
     * f stays valid through the loop. */
    for (size_t i = 0; i < count; i++)
        dispatcher_submit(matched[i]->dispatcher, ev);
}

static void openfaas_send(void *state, event *ev, void *attempt, processor_attempt_done_fn done)
{
    openfaas_state *st = state;
    fanout *f = calloc(1, sizeof *f);
    if (!f) {
        log_error("openfaas", "%s: out of memory: event %s is lost", st->name,
                  ev->id ? ev->id : "?");
        return;
    }
    f->st = st;
    f->ev = event_ref(ev);
    f->attempt = attempt;
    f->done = done;
    if (st->have_list) {
        fanout_start(st, f);
        return;
    }
    /* No list yet: matching now would match nothing. The event waits, in order. */
    if (st->waiting_tail)
        st->waiting_tail->next = f;
    else
        st->waiting = f;
    st->waiting_tail = f;
}

/* ---- the function list ----------------------------------------------------------------------- */

static void maybe_free(openfaas_state *st);

static void on_callbacks_closed(void *user)
{
    openfaas_state *st = user;
    st->handles_open--;
    maybe_free(st);
}

static void on_function_dispatcher_closed(void *user);

static openfaas_function *function_add(openfaas_state *st, const char *address_name)
{
    openfaas_function *fn = calloc(1, sizeof *fn);
    if (!fn)
        return NULL;
    fn->st = st;
    fn->address_name = strdup(address_name);
    size_t url_len = strlen(st->address) + strlen(address_name) + 32;
    fn->url = malloc(url_len);
    char stats_name[512];
    format_message(stats_name, sizeof stats_name, "%s/%s", st->name, address_name);
    fn->stats = metrics_add_processor(st->metrics, stats_name, "openfaas_function");
    if (!fn->address_name || !fn->url || !fn->stats) {
        free(fn->address_name);
        free(fn->url);
        free(fn);
        return NULL;
    }
    fn->stats->metrics_only = 1;
    snprintf(fn->url, url_len, "%s/%s/%s", st->address, st->async ? "async-function" : "function",
             address_name);
    dispatcher_options options = {
        .processor_name = st->name, /* one dead-letter file per processor; the error names fn */
        .type = &function_target_type,
        .processor_state = fn,
        .delivery = st->delivery,
        .deadletter = st->deadletter,
        .metrics = st->metrics,
        .stats = fn->stats,
        .done = on_function_done,
        .owner = fn,
    };
    fn->dispatcher = dispatcher_new(st->loop, &options);
    if (!fn->dispatcher) {
        free(fn->address_name);
        free(fn->url);
        free(fn);
        return NULL;
    }
    st->dispatchers_open++;
    fn->next = st->functions;
    st->functions = fn;
    return fn;
}

static openfaas_function *function_find(openfaas_state *st, const char *address_name)
{
    for (openfaas_function *fn = st->functions; fn; fn = fn->next)
        if (strcmp(fn->address_name, address_name) == 0)
            return fn;
    return NULL;
}

/* Makes list the current one. Returns 0, or -1 (out of memory: the old list stays). */
static int apply_list(openfaas_state *st, openfaas_function_list *list)
{
    /* Look everything up first so a failure leaves the old map whole. */
    openfaas_function **found = calloc(list->count ? list->count : 1, sizeof *found);
    if (!found)
        return -1;
    for (size_t i = 0; i < list->count; i++) {
        found[i] = function_find(st, list->items[i].address_name);
        if (!found[i] && !(found[i] = function_add(st, list->items[i].address_name))) {
            free(found);
            return -1;
        }
    }
    for (openfaas_function *fn = st->functions; fn; fn = fn->next) {
        bool still = false;
        for (size_t i = 0; i < list->count && !still; i++)
            still = found[i] == fn;
        if (fn->listed && !still)
            log_info("openfaas", "%s: function %s is gone from the gateway", st->name,
                     fn->address_name);
        fn->listed = false;
    }
    size_t listed = 0;
    for (size_t i = 0; i < list->count; i++) {
        openfaas_function *fn = found[i];
        if (fn->listed)
            continue; /* listed twice (two namespaces answering the same): once is enough */
        openfaas_free_topics(fn->topics, fn->topic_count);
        fn->topics = list->items[i].topics;
        fn->topic_count = list->items[i].topic_count;
        list->items[i].topics = NULL;
        list->items[i].topic_count = 0;
        fn->listed = true;
        listed++;
    }
    free(found);
    st->listed_count = listed;
    return topics_rebuild(st);
}

static void maybe_free(openfaas_state *st);
static void start_refresh(uv_timer_t *timer);

static void arm_refresh(openfaas_state *st, double seconds)
{
    if (st->destroying || st->stopped)
        return;
    uv_timer_start(&st->refresh_timer, start_refresh, (uint64_t)(seconds * 1000.0), 0);
}

static void on_list(void *user, openfaas_function_list *list, const char *error)
{
    openfaas_state *st = user;
    st->refresh_in_flight = false;
    if (st->destroying || st->stopped) {
        /* A read cut short by shutdown ("client closed") is no outage to report. */
        openfaas_function_list_free(list);
        free(list);
        maybe_free(st);
        return;
    }
    if (list && apply_list(st, list) != 0)
        error = "out of memory applying the function list";
    openfaas_function_list_free(list);
    free(list);
    if (error) {
        st->refresh_failures_total++;
        if (st->refresh_failures_in_row++ == 0)
            log_warn("openfaas", "%s: cannot read the function list: %s; %s", st->name, error,
                     st->have_list ? "keeping the last good list" : "events wait until it is read");
        format_message(st->last_refresh_error, sizeof st->last_refresh_error, "%s", error);
        double retry = st->have_list ? st->refresh_seconds
                                     : backoff_delay_seconds(st->refresh_failures_in_row, 0.5,
                                                             st->refresh_seconds, drand48());
        arm_refresh(st, retry < 0.05 ? 0.05 : retry);
        return;
    }
    if (st->refresh_failures_in_row > 0)
        log_info("openfaas", "%s: function list read again after %d failed attempt(s)", st->name,
                 st->refresh_failures_in_row);
    else if (!st->have_list)
        log_info("openfaas", "%s: %zu function(s), %zu topic(s) from %s", st->name,
                 st->listed_count, st->topic_count, st->display_address);
    st->refresh_failures_in_row = 0;
    st->last_refresh_error[0] = '\0';
    st->list_built_ms = uv_now(st->loop);
    bool first = !st->have_list;
    st->have_list = true;
    arm_refresh(st, st->refresh_seconds);
    if (first) {
        fanout *waiting = st->waiting;
        st->waiting = st->waiting_tail = NULL;
        while (waiting) {
            fanout *f = waiting;
            waiting = f->next;
            f->next = NULL;
            fanout_start(st, f);
        }
    }
}

static void start_refresh(uv_timer_t *timer)
{
    openfaas_state *st = timer->data;
    if (st->refresh_in_flight || st->destroying || st->stopped)
        return;
    openfaas_list_request request = {.address = st->address,
                                     .display_address = st->display_address,
                                     .username = st->username,
                                     .password = st->password,
                                     .timeout_ms = st->timeout_ms,
                                     .connect_timeout_ms = st->connect_timeout_ms};
    st->refresh_in_flight = true;
    if (openfaas_list_fetch(st->http, &request, on_list, st) != 0) {
        st->refresh_in_flight = false;
        on_list(st, NULL, "cannot start the request");
    }
}

/* ---- what /metrics shows ----------------------------------------------------------------------
 */

static void openfaas_samples(void *user, metrics_sample_emit_fn emit, void *ctx)
{
    const openfaas_state *st = user;
    emit(ctx, "event_router_openfaas_functions", "gauge", "Functions in the current function list.",
         "", NULL, NULL, NULL, NULL, (double)st->listed_count);
    emit(ctx, "event_router_openfaas_topics", "gauge", "Topics some function takes.", "", NULL,
         NULL, NULL, NULL, (double)st->topic_count);
    emit(ctx, "event_router_openfaas_function_list_age_seconds", "gauge",
         "Seconds since the function list was last read (-1: never).", "", NULL, NULL, NULL, NULL,
         st->have_list ? (double)(uv_now(st->loop) - st->list_built_ms) / 1000.0 : -1);
    emit(ctx, "event_router_openfaas_function_list_refresh_failures_total", "counter",
         "Failed reads of the function list.", "", NULL, NULL, NULL, NULL,
         (double)st->refresh_failures_total);
    emit(ctx, "event_router_openfaas_function_list_up", "gauge",
         "1 when the last read of the function list succeeded.", "", NULL, NULL, NULL, NULL,
         st->have_list && st->refresh_failures_in_row == 0 ? 1 : 0);
    emit(ctx, "event_router_openfaas_unmatched_total", "counter",
         "Events no function's topic matched.", "", NULL, NULL, NULL, NULL,
         (double)st->unmatched_total);
    if (st->callbacks) {
        openfaas_callback_counts counts = openfaas_callbacks_counts(st->callbacks);
        const char *help = "Async callbacks: received, timed out (never came), unknown (late or "
                           "not ours).";
        emit(ctx, "event_router_openfaas_callbacks_total", "counter", help, "", "outcome",
             "received", NULL, NULL, (double)counts.received);
        emit(ctx, "event_router_openfaas_callbacks_total", "counter", help, "", "outcome",
             "timed_out", NULL, NULL, (double)counts.timed_out);
        emit(ctx, "event_router_openfaas_callbacks_total", "counter", help, "", "outcome",
             "unknown", NULL, NULL, (double)counts.unknown);
    }
    const char *family = "event_router_openfaas_invocation_latency_seconds";
    const char *help = "Seconds from intake to each function's successful invocation.";
    for (const openfaas_function *fn = st->functions; fn; fn = fn->next) {
        char bound[32];
        for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
            snprintf(bound, sizeof bound, "%g", metrics_latency_bounds[i]);
            emit(ctx, family, "histogram", help, "_bucket", "function", fn->address_name, "le",
                 bound, (double)fn->latency_buckets[i]);
        }
        emit(ctx, family, "histogram", help, "_bucket", "function", fn->address_name, "le", "+Inf",
             (double)fn->latency_count);
        emit(ctx, family, "histogram", help, "_sum", "function", fn->address_name, NULL, NULL,
             fn->latency_sum);
        emit(ctx, family, "histogram", help, "_count", "function", fn->address_name, NULL, NULL,
             (double)fn->latency_count);
    }
}

/* What the console's `processors` shows: the topic map (function -> topics), its age, and the
 * state of the last refresh. */
static cJSON *openfaas_describe(const void *state)
{
    const openfaas_state *st = state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "gateway", st->display_address);
    cJSON_AddBoolToObject(o, "async", st->async);
    cJSON *functions = cJSON_AddObjectToObject(o, "functions");
    for (const openfaas_function *fn = st->functions; fn; fn = fn->next) {
        if (!fn->listed)
            continue;
        cJSON *topics = cJSON_AddArrayToObject(functions, fn->address_name);
        for (size_t i = 0; i < fn->topic_count; i++)
            cJSON_AddItemToArray(topics, cJSON_CreateString(fn->topics[i]));
    }
    if (st->have_list)
        cJSON_AddNumberToObject(o, "list_age_seconds",
                                (double)(uv_now(st->loop) - st->list_built_ms) / 1000.0);
    else
        cJSON_AddNullToObject(o, "list_age_seconds");
    cJSON_AddNumberToObject(o, "refresh_failures", (double)st->refresh_failures_total);
    cJSON_AddStringToObject(o, "last_refresh_error", st->last_refresh_error);
    cJSON_AddNumberToObject(o, "unmatched", (double)st->unmatched_total);
    size_t waiting = 0;
    for (const fanout *f = st->waiting; f; f = f->next)
        waiting++;
    cJSON_AddNumberToObject(o, "waiting_for_list", (double)waiting);
    return o;
}

/* The engine closes the HTTP client next: a refresh timer firing after that would use it. */
static void openfaas_stop(void *state)
{
    openfaas_state *st = state;
    st->stopped = true;
    uv_timer_stop(&st->refresh_timer);
}

static bool openfaas_ready(const void *state)
{
    return ((const openfaas_state *)state)->have_list;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

static void state_free(openfaas_state *st)
{
    topics_clear(st);
    while (st->functions) {
        openfaas_function *fn = st->functions;
        st->functions = fn->next;
        free(fn->address_name);
        free(fn->url);
        openfaas_free_topics(fn->topics, fn->topic_count);
        free(fn);
    }
    for (size_t i = 0; i < st->header_count; i++) {
        free((char *)st->headers[i].name);
        free((char *)st->headers[i].value);
    }
    free(st->headers);
    free(st->name);
    free(st->address);
    free(st->display_address);
    free(st->username);
    if (st->password) {
        memset(st->password, 0, strlen(st->password));
        free(st->password);
    }
    free(st);
}

static void maybe_free(openfaas_state *st)
{
    if (st->destroying && st->handles_open == 0 && st->dispatchers_open == 0 &&
        !st->refresh_in_flight)
        state_free(st);
}

static void on_handle_closed(uv_handle_t *handle)
{
    openfaas_state *st = handle->data;
    st->handles_open--;
    maybe_free(st);
}

static void on_function_dispatcher_closed(void *user)
{
    openfaas_state *st = user;
    st->dispatchers_open--;
    maybe_free(st);
}

static void openfaas_destroy(void *state)
{
    openfaas_state *st = state;
    if (!st)
        return;
    st->destroying = true;
    st->stats->samples = NULL; /* /metrics may still render after st is gone */
    /* Nothing is in flight now, so no event waits: the lists are empty. */
    uv_close((uv_handle_t *)&st->refresh_timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->answer_timer, on_handle_closed);
    if (st->callbacks) {
        st->handles_open++;
        openfaas_callbacks_close(st->callbacks, on_callbacks_closed, st);
        st->callbacks = NULL;
    }
    for (openfaas_function *fn = st->functions; fn; fn = fn->next) {
        dispatcher *d = fn->dispatcher;
        fn->dispatcher = NULL;
        dispatcher_close(d, on_function_dispatcher_closed, st);
    }
}

/* Shutdown past its deadline: waiting events end now, the functions' dispatchers dead-letter
 * what they hold as soon as they may. */
static void openfaas_abandon(void *state, const char *reason, bool keep)
{
    openfaas_state *st = state;
    fanout *waiting = st->waiting;
    st->waiting = st->waiting_tail = NULL;
    while (waiting) {
        fanout *f = waiting;
        waiting = f->next;
        char error[400];
        format_message(error, sizeof error, "%.150s (the function list was never read: %.200s)",
                       reason, st->last_refresh_error);
        fanout_answer_status(st, f, DELIVERY_FAILED, error);
    }
    for (openfaas_function *fn = st->functions; fn; fn = fn->next)
        if (fn->dispatcher)
            dispatcher_abandon(fn->dispatcher, reason, keep);
    if (st->callbacks)
        openfaas_callbacks_abandon(st->callbacks);
}

static char *copy_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int openfaas_create(const config_processor *config, const processor_services *services,
                           void **state, char *err, size_t err_cap)
{
    const config_openfaas *c = &config->openfaas;
    if (!c->address || !services->deadletter || !services->metrics || !services->stats) {
        snprintf(err, err_cap, "openfaas processor needs openfaas.address");
        return -1;
    }
    openfaas_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    st->loop = services->loop;
    st->http = services->http;
    st->delivery = services->delivery;
    st->deadletter = services->deadletter;
    st->metrics = services->metrics;
    st->stats = services->stats;
    st->name = strdup(config->name);
    st->address = strdup(c->address);
    st->display_address = url_without_userinfo(c->address);
    st->async = c->async;
    st->invoke_with_auth = c->invoke_with_auth;
    st->from_subject = c->topic_from_subject;
    st->from_type = c->topic_from_type;
    st->unmatched_deadletter = c->unmatched_deadletter;
    st->refresh_seconds = c->topic_refresh_seconds > 0 ? c->topic_refresh_seconds : 10;
    double timeout = c->timeout_seconds > 0
                         ? c->timeout_seconds
                         : (services->delivery ? services->delivery->timeout_seconds : 30);
    st->timeout_ms = (long)(timeout * 1000.0);
    st->connect_timeout_ms =
        services->delivery ? (long)(services->delivery->connect_timeout_seconds * 1000.0) : 5000;
    if (c->auth.type == AUTH_BASIC) {
        st->username = copy_or_null(c->auth.username ? c->auth.username : "");
        st->password = copy_or_null(c->auth.password ? c->auth.password : "");
    }
    st->headers = calloc(c->header_count ? c->header_count : 1, sizeof *st->headers);
    bool ok = st->name && st->address && st->display_address && st->headers &&
              (c->auth.type != AUTH_BASIC || (st->username && st->password));
    for (size_t i = 0; ok && i < c->header_count; i++) {
        st->headers[i].name = strdup(c->headers[i].name);
        st->headers[i].value = strdup(c->headers[i].value);
        st->header_count++;
        ok = st->headers[i].name && st->headers[i].value;
    }
    if (!ok) {
        state_free(st);
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    if (c->async && c->callback_bind_address) {
        char reason[300];
        st->callbacks = openfaas_callbacks_start(st->loop, c->callback_bind_address,
                                                 c->callback_path ? c->callback_path : "/callback",
                                                 c->callback_url, reason, sizeof reason);
        if (!st->callbacks) {
            state_free(st);
            snprintf(err, err_cap, "openfaas.%s", reason);
            return -1;
        }
        st->callback_deadline_seconds = c->callback_deadline_seconds;
        st->callback_retry = c->callback_retry;
        log_info("openfaas", "%s: async callbacks on http://%s%s", config->name,
                 c->callback_bind_address, c->callback_path ? c->callback_path : "/callback");
    }
    metrics_set_processor_address(st->stats, st->display_address);
    st->stats->samples = openfaas_samples;
    st->stats->samples_user = st;
    uv_timer_init(st->loop, &st->refresh_timer);
    uv_timer_init(st->loop, &st->answer_timer);
    st->refresh_timer.data = st->answer_timer.data = st;
    st->handles_open = 2;
    arm_refresh(st, 0);
    *state = st;
    return 0;
}

const processor_type openfaas_processor_type = {
    .name = "openfaas",
    .create = openfaas_create,
    .send = openfaas_send,
    .destroy = openfaas_destroy,
    .fans_out = true,
    .abandon = openfaas_abandon,
    .describe = openfaas_describe,
    .ready = openfaas_ready,
    .stop = openfaas_stop,
};
