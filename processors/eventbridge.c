/* EventBridge processor.
 *
 * Data path: send() gets one attempt per event from the dispatcher (up to maxInFlight at once,
 * at most one per ordering key, so per-subject order is the dispatcher's, as for Knative). The
 * event is matched against the configured rules (eventbridge_rules.c): unmatched events are
 * answered DELIVERY_FILTERED; matched ones become PutEvents entries in a queue. The queue is
 * flushed in calls of up to batch.maxEntries entries and 256 KiB (as AWS sizes them) when full or
 * after batch.maxDelay, at most rateLimit calls per second. Each entry's answer goes to its own
 * attempt: accepted, InternalFailure/ThrottlingException retried by the dispatcher (alone, in a
 * later batch), other codes dead-lettered with AWS's code. A whole call that fails answers every
 * entry in it the same way.
 *
 * Rules: ListRules (the bus, Limit 50, every page) at start and every ruleRefresh. Until the
 * first pass finds and compiles every configured rule, events are held here (the dispatcher's
 * in-flight limit pushes back on the queue) and /readyz says 503; a failed pass is retried with
 * backoff. A failed refresh later keeps the rules of the last good pass.
 *
 * Every request is signed with SigV4 using credentials from the static keys or the SDKs' chain
 * (which has its own HTTP client: a credentials refresh may be under way while the engine shuts
 * its client down). */
#include "processors/eventbridge.h"

#include "backoff.h"
#include "log.h"
#include "metrics/metrics.h"
#include "processors/aws/aws_credentials_provider.h"
#include "processors/aws/eventbridge_api.h"
#include "processors/aws/sigv4.h"
#include "processors/eventbridge_rules.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ERROR_CODES 16        /* distinct per-entry error codes counted by name, then "other" */
#define MAX_LIST_RULES_PAGES 1000 /* a NextToken that never ends is a broken answer */
#define RULES_RETRY_MAX_SECONDS 30.0

typedef struct eventbridge_state eventbridge_state;

/* One attempt: one event, one entry. */
typedef struct pending_entry {
    eventbridge_state *st;
    event *ev;
    void *attempt;
    processor_attempt_done_fn done;
    char *detail; /* the Detail text */
    eventbridge_entry entry;
    size_t size; /* as AWS counts it */
    uint64_t queued_ms;
    delivery_result result;
    struct pending_entry *next;
} pending_entry;

typedef struct entry_list {
    pending_entry *head, *tail;
    size_t count;
} entry_list;

typedef struct error_code_count {
    char code[64];
    uint64_t count;
} error_code_count;

struct eventbridge_state {
    uv_loop_t *loop;
    http_client *http; /* the engine's, for PutEvents and ListRules */
    http_client *credentials_http;
    aws_credentials_provider *credentials;
    processor_stats *stats;
    char *region;
    char *event_bus;
    char *url;  /* where PutEvents and ListRules go */
    char *host; /* its authority, signed as the Host header */
    char *path; /* its path, "/" by default */
    long connect_timeout_ms;
    long timeout_ms;
    sigv4_signer signer; /* one loop thread: reused by every request */

    /* batching */
    size_t max_entries;
    uint64_t max_delay_ms;
    entry_list held;     /* waiting for the first rules */
    entry_list queued;   /* matched, waiting for a call */
    entry_list answered; /* answered outside a callback: told on the next loop turn */
    uv_timer_t flush_timer;
    uv_timer_t answer_timer;
    size_t calls_in_flight;

    /* rateLimit: a token bucket of PutEvents calls */
    double rate;     /* calls per second; 0: none */
    double capacity; /* the bucket's size */
    double tokens;
    uint64_t tokens_at_ms;

    char **resources; /* every entry's Resources (resources:) */
    size_t resource_count;

    /* rules */
    char **rule_arns;
    size_t rule_count;
    eventbridge_rule_set *rules; /* of the last good pass; NULL before the first */
    double refresh_seconds;
    uv_timer_t refresh_timer;
    bool pass_running;
    size_t pass_pages;
    char **pass_patterns; /* per configured rule: its EventPattern in this pass */
    bool *pass_found;
    char *pass_next_token;
    int rules_failures_in_row;
    uint64_t rules_loaded_ms;
    uint64_t rules_refresh_failures;
    uint64_t rules_refreshes;
    char last_rules_error[400];

    /* counters for /metrics and the console */
    uint64_t calls_ok, calls_retry, calls_failed, calls_throttled;
    uint64_t entries_accepted, entries_retried, entries_failed, entries_unmatched;
    uint64_t batch_sizes[EVENTBRIDGE_MAX_ENTRIES + 1]; /* calls by entry count */
    error_code_count error_codes[MAX_ERROR_CODES + 1];
    size_t error_code_count;

    /* shutdown */
    bool stopped;    /* the engine's client is closing: start no request */
    bool destroying; /* freed once the handles are closed and no callback is owed */
    int handles_open;
    int credentials_waits; /* aws_call waiting for credentials */
};

/* ---- lists and answers ----------------------------------------------------------------------- */

static void list_push(entry_list *list, pending_entry *p)
{
    p->next = NULL;
    if (list->tail)
        list->tail->next = p;
    else
        list->head = p;
    list->tail = p;
    list->count++;
}

static pending_entry *list_pop(entry_list *list)
{
    pending_entry *p = list->head;
    if (p) {
        list->head = p->next;
        if (!list->head)
            list->tail = NULL;
        list->count--;
    }
    return p;
}

static void set_result(delivery_result *result, delivery_status status, long http_status,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set_result(delivery_result *result, delivery_status status, long http_status,
                       const char *fmt, ...)
{
    result->status = status;
    result->http_status = http_status;
    result->retry_after_seconds = -1;
    char raw[sizeof result->error];
    va_list args;
    va_start(args, fmt);
    vsnprintf(raw, sizeof raw, fmt, args);
    va_end(args);
    /* AWS's messages may quote what it was sent; the mask keeps any secret out. */
    log_mask_secrets(raw, result->error, sizeof result->error);
}

static void count_error_code(eventbridge_state *st, const char *code)
{
    size_t i = 0;
    while (i < st->error_code_count && strcmp(st->error_codes[i].code, code) != 0)
        i++;
    if (i == st->error_code_count) {
        if (st->error_code_count == MAX_ERROR_CODES) {
            i = MAX_ERROR_CODES; /* "other" */
            snprintf(st->error_codes[i].code, sizeof st->error_codes[i].code, "other");
        } else {
            snprintf(st->error_codes[i].code, sizeof st->error_codes[i].code, "%s", code);
            st->error_code_count++;
        }
    }
    st->error_codes[i].count++;
}

/* Tells the dispatcher; p is gone afterwards. Only from a callback of ours (never inside send). */
static void answer_now(pending_entry *p)
{
    eventbridge_state *st = p->st;
    switch (p->result.status) {
    case DELIVERY_OK:
        st->entries_accepted++;
        break;
    case DELIVERY_RETRY:
        st->entries_retried++;
        break;
    case DELIVERY_FAILED:
        st->entries_failed++;
        break;
    case DELIVERY_FILTERED:
        st->entries_unmatched++;
        break;
    }
    processor_attempt_done_fn done = p->done;
    void *attempt = p->attempt;
    delivery_result result = p->result;
    event_unref(p->ev);
    free(p->detail);
    free(p);
    done(attempt, &result);
}

static void on_answer_timer(uv_timer_t *timer)
{
    eventbridge_state *st = timer->data;
    entry_list answered = st->answered;
    st->answered = (entry_list){0};
    pending_entry *p;
    while ((p = list_pop(&answered)))
        answer_now(p);
}

/* Answers p on the next loop turn: for answers found inside send() or abandon(). */
static void answer_later(pending_entry *p)
{
    eventbridge_state *st = p->st;
    list_push(&st->answered, p);
    if (!uv_is_active((uv_handle_t *)&st->answer_timer))
        uv_timer_start(&st->answer_timer, on_answer_timer, 0, 0);
}

/* ---- one signed call (PutEvents or ListRules) ------------------------------------------------ */

typedef void (*aws_call_done_fn)(void *user, const http_client_response *response,
                                 const char *key_id);

typedef struct aws_call {
    eventbridge_state *st;
    const char *target;
    char *body;
    size_t body_len;
    aws_call_done_fn done;
    void *user;
    char key_id[128]; /* which key signed it, for messages */
} aws_call;

static void aws_call_end(aws_call *call, const http_client_response *response)
{
    call->done(call->user, response, call->key_id);
    free(call->body);
    free(call);
}

static void aws_call_fail(aws_call *call, const char *error)
{
    http_client_response response = {.error = error};
    aws_call_end(call, &response);
}

static void on_call_response(void *user, const http_client_response *response)
{
    aws_call_end(user, response);
}

static void aws_call_post(aws_call *call, const aws_credentials *credentials)
{
    eventbridge_state *st = call->st;
    if (st->stopped) {
        /* The engine's client is closing or closed: a request now would outlive it. */
        aws_call_fail(call, "the processor is stopping");
        return;
    }
    format_message(call->key_id, sizeof call->key_id, "%s", credentials->access_key_id);
    http_header headers[8] = {{"Host", st->host},
                              {"Content-Type", EVENTBRIDGE_CONTENT_TYPE},
                              {"X-Amz-Target", call->target}};
    size_t count = 3;
    sigv4_request request = {"POST", st->path, NULL, headers, count, NULL, true};
    sigv4_context context = {
        .credentials = {credentials->access_key_id, credentials->secret_access_key,
                        credentials->session_token},
        .region = st->region,
        .service = "events",
        .now = time(NULL),
    };
    if (sigv4_sign(&st->signer, &context, &request, call->body, call->body_len) != 0) {
        aws_call_fail(call, "cannot sign the request");
        return;
    }
    for (size_t i = 0; i < st->signer.added_count; i++)
        headers[count++] = st->signer.added[i];
    http_client_request http_request = {.method = "POST",
                                        .url = st->url,
                                        .headers = headers,
                                        .header_count = count,
                                        .body = call->body,
                                        .body_len = call->body_len,
                                        .connect_timeout_ms = st->connect_timeout_ms,
                                        .timeout_ms = st->timeout_ms};
    if (http_client_send(st->http, &http_request, on_call_response, call) != 0)
        aws_call_fail(call, "the HTTP client could not start the request");
}

static void maybe_free_state(eventbridge_state *st);

static void on_call_credentials(void *user, const aws_credentials *credentials, const char *error)
{
    aws_call *call = user;
    eventbridge_state *st = call->st;
    st->credentials_waits--;
    if (!credentials) {
        char message[300];
        format_message(message, sizeof message, "AWS credentials: %s", error ? error : "none");
        aws_call_fail(call, message);
    } else {
        aws_call_post(call, credentials);
    }
    maybe_free_state(st);
}

/* Signs and sends body (taken) to target; done is called exactly once, possibly from inside this
 * call, so callers are never send(). */
static void aws_call_start(eventbridge_state *st, const char *target, char *body, size_t body_len,
                           aws_call_done_fn done, void *user)
{
    aws_call *call = calloc(1, sizeof *call);
    if (!call) {
        free(body);
        http_client_response response = {.error = "out of memory"};
        done(user, &response, "");
        return;
    }
    *call = (aws_call){st, target, body, body_len, done, user, ""};
    const aws_credentials *credentials = aws_credentials_provider_current(st->credentials);
    if (credentials) {
        aws_call_post(call, credentials);
        return;
    }
    st->credentials_waits++;
    if (aws_credentials_provider_get(st->credentials, on_call_credentials, call) != 0) {
        st->credentials_waits--;
        aws_call_fail(call, "cannot ask for AWS credentials");
    }
}

/* ---- PutEvents: batches and their answers ---------------------------------------------------- */

typedef struct put_call {
    eventbridge_state *st;
    pending_entry *entries[EVENTBRIDGE_MAX_ENTRIES];
    size_t count;
} put_call;

static void answer_entries(put_call *call, delivery_status status, long http_status,
                           const char *error)
{
    for (size_t i = 0; i < call->count; i++) {
        set_result(&call->entries[i]->result, status, http_status, "%s", error);
        answer_now(call->entries[i]);
    }
}

static void schedule_flush(eventbridge_state *st);

static void on_put_events(void *user, const http_client_response *response, const char *key_id)
{
    put_call *call = user;
    eventbridge_state *st = call->st;
    st->calls_in_flight--;
    char error[256];
    if (response->error) {
        st->calls_retry++;
        format_message(error, sizeof error, "PutEvents to %s: %s", st->url, response->error);
        answer_entries(call, DELIVERY_RETRY, 0, error);
    } else if (response->status == 200) {
        eventbridge_entry_result results[EVENTBRIDGE_MAX_ENTRIES];
        size_t failed = 0;
        char problem[256];
        if (eventbridge_parse_put_events(response->body, response->body_len, call->count, results,
                                         &failed, problem, sizeof problem) != 0) {
            st->calls_retry++;
            format_message(error, sizeof error, "PutEvents to %s: %s", st->url, problem);
            answer_entries(call, DELIVERY_RETRY, 200, error);
        } else {
            st->calls_ok++;
            for (size_t i = 0; i < call->count; i++) {
                pending_entry *p = call->entries[i];
                const eventbridge_entry_result *r = &results[i];
                if (r->status == EVENTBRIDGE_ENTRY_OK) {
                    set_result(&p->result, DELIVERY_OK, 200, "%s", "");
                } else {
                    count_error_code(st, r->error_code);
                    bool retry = r->status == EVENTBRIDGE_ENTRY_RETRY;
                    set_result(&p->result, retry ? DELIVERY_RETRY : DELIVERY_FAILED, 200,
                               "PutEvents entry %s: %s%s%s", retry ? "failed" : "refused",
                               r->error_code, *r->error_message ? ": " : "", r->error_message);
                }
                answer_now(p);
            }
        }
    } else {
        char code[64], message[200];
        eventbridge_parse_error(response->body, response->body_len, code, sizeof code, message,
                                sizeof message);
        bool retry = eventbridge_classify_call(response->status, code) == EVENTBRIDGE_CALL_RETRY;
        if (eventbridge_is_throttling(code) || response->status == 429)
            st->calls_throttled++;
        if (retry)
            st->calls_retry++;
        else
            st->calls_failed++;
        format_message(error, sizeof error, "PutEvents to %s: HTTP %ld%s%s%s%s (key id %s)",
                       st->url, response->status, *code ? " " : "", code, *message ? ": " : "",
                       message, key_id);
        answer_entries(call, retry ? DELIVERY_RETRY : DELIVERY_FAILED, response->status, error);
    }
    free(call);
    schedule_flush(st);
}

/* Whether a call may start now (rateLimit); when not, *wait_ms says when one may. */
static bool take_token(eventbridge_state *st, uint64_t *wait_ms)
{
    if (st->rate <= 0)
        return true;
    uint64_t now = uv_now(st->loop);
    st->tokens += (double)(now - st->tokens_at_ms) * st->rate / 1000.0;
    if (st->tokens > st->capacity)
        st->tokens = st->capacity;
    st->tokens_at_ms = now;
    if (st->tokens >= 1.0) {
        st->tokens -= 1.0;
        return true;
    }
    *wait_ms = (uint64_t)((1.0 - st->tokens) * 1000.0 / st->rate) + 1;
    return false;
}

/* How many of the queued entries the next call takes: all that fit (10, 256 KiB) when the call
 * is full by count or by bytes, or when its oldest entry has waited maxDelay (due); else 0. */
static size_t batch_ready(const eventbridge_state *st, bool due)
{
    size_t sizes[EVENTBRIDGE_MAX_ENTRIES];
    size_t look = 0;
    for (const pending_entry *p = st->queued.head; p && look < st->max_entries; p = p->next)
        sizes[look++] = p->size;
    if (look == 0)
        return 0;
    size_t take = eventbridge_batch_take(sizes, look); /* >= 1: oversize entries never queue */
    return due || take < look || look == st->max_entries ? take : 0;
}

static void call_start(eventbridge_state *st, size_t take)
{
    put_call *call = calloc(1, sizeof *call);
    if (!call)
        return; /* the entries stay queued: tried again at the next flush */
    eventbridge_entry entries[EVENTBRIDGE_MAX_ENTRIES];
    call->st = st;
    for (size_t i = 0; i < take; i++) {
        call->entries[i] = list_pop(&st->queued);
        entries[i] = call->entries[i]->entry;
    }
    call->count = take;
    st->batch_sizes[take]++;
    st->calls_in_flight++;
    char problem[256];
    size_t body_len = 0;
    char *body = eventbridge_put_events_body(entries, take, &body_len, problem, sizeof problem);
    if (!body) {
        http_client_response response = {.error = problem};
        on_put_events(call, &response, "");
        return;
    }
    aws_call_start(st, EVENTBRIDGE_TARGET_PUT_EVENTS, body, body_len, on_put_events, call);
}

/* Starts every call the queue is ready for, within rateLimit. Answers may come back (and the
 * dispatcher send more) inside this loop; schedule_flush then arms the timer for the rest. */
static void on_flush_timer(uv_timer_t *timer)
{
    eventbridge_state *st = timer->data;
    while (!st->stopped && st->queued.head) {
        bool due = uv_now(st->loop) >= st->queued.head->queued_ms + st->max_delay_ms;
        size_t take = batch_ready(st, due);
        if (take == 0)
            break;
        uint64_t wait_ms = 0;
        if (!take_token(st, &wait_ms)) {
            uv_timer_start(&st->flush_timer, on_flush_timer, wait_ms, 0);
            return;
        }
        call_start(st, take);
    }
    schedule_flush(st);
}

/* Arms the flush timer for what the queue needs next: now when a call is full, else when the
 * oldest entry's maxDelay runs out. */
static void schedule_flush(eventbridge_state *st)
{
    if (st->stopped || !st->queued.head)
        return;
    uint64_t now = uv_now(st->loop);
    uint64_t due = st->queued.head->queued_ms + st->max_delay_ms;
    uint64_t delay = st->queued.count >= st->max_entries || due <= now ? 0 : due - now;
    uint64_t left = uv_timer_get_due_in(&st->flush_timer);
    if (uv_is_active((uv_handle_t *)&st->flush_timer) && left <= delay)
        return;
    uv_timer_start(&st->flush_timer, on_flush_timer, delay, 0);
}

/* ---- entries --------------------------------------------------------------------------------- */

static const char *detail_type_of(const event *ev)
{
    return ev->subject && *ev->subject ? ev->subject : ev->type;
}

/* The entry as VEBA builds it, plus Time. False (result set) when it cannot be sent. */
static bool build_entry(eventbridge_state *st, pending_entry *p)
{
    const event *ev = p->ev;
    cJSON *json = event_to_json(ev);
    p->detail = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!p->detail) {
        set_result(&p->result, DELIVERY_RETRY, 0, "%s",
                   "out of memory building the PutEvents entry");
        return false;
    }
    p->entry = (eventbridge_entry){
        .source = ev->source,
        .detail_type = detail_type_of(ev),
        .detail = p->detail,
        .event_bus_name = st->event_bus,
        .resources = (const char *const *)st->resources,
        .resource_count = st->resource_count,
    };
    p->entry.has_time = ev->time && aws_parse_iso8601(ev->time, &p->entry.time);
    p->size = eventbridge_entry_size(&p->entry);
    if (p->size > EVENTBRIDGE_MAX_CALL_BYTES) {
        set_result(&p->result, DELIVERY_FAILED, 0,
                   "the entry is %zu bytes as AWS counts them (Time, Source, DetailType, Detail, "
                   "Resources), "
                   "more than PutEvents takes in one call (%d)",
                   p->size, EVENTBRIDGE_MAX_CALL_BYTES);
        return false;
    }
    return true;
}

/* Rules known: p is filtered, refused, or queued for a call. Never answers synchronously. */
static void route_entry(eventbridge_state *st, pending_entry *p)
{
    if (eventbridge_rule_set_match(st->rules, p->ev, detail_type_of(p->ev),
                                   (const char *const *)st->resources, st->resource_count) < 0) {
        set_result(&p->result, DELIVERY_FILTERED, 0, "%s", "no rule's EventPattern matches");
        answer_later(p);
        return;
    }
    if (!build_entry(st, p)) {
        answer_later(p);
        return;
    }
    p->queued_ms = uv_now(st->loop);
    list_push(&st->queued, p);
    schedule_flush(st);
}

static void eventbridge_send(void *state, event *ev, void *attempt, processor_attempt_done_fn done)
{
    eventbridge_state *st = state;
    pending_entry *p = calloc(1, sizeof *p);
    if (!p) {
        log_error("eventbridge", "out of memory: an attempt is lost");
        return;
    }
    p->st = st;
    p->ev = event_ref(ev);
    p->attempt = attempt;
    p->done = done;
    if (!st->rules) {
        list_push(&st->held, p);
        return;
    }
    route_entry(st, p);
}

/* ---- rules: ListRules passes ----------------------------------------------------------------- */

static void rules_pass_start(eventbridge_state *st);

static void pass_reset(eventbridge_state *st)
{
    for (size_t i = 0; i < st->rule_count; i++) {
        free(st->pass_patterns[i]);
        st->pass_patterns[i] = NULL;
        st->pass_found[i] = false;
    }
    free(st->pass_next_token);
    st->pass_next_token = NULL;
    st->pass_pages = 0;
}

static void on_refresh_timer(uv_timer_t *timer)
{
    rules_pass_start(timer->data);
}

static void pass_end(eventbridge_state *st, const char *error)
{
    st->pass_running = false;
    char reason[sizeof st->last_rules_error];
    eventbridge_rule_set *set = NULL;
    if (!error) {
        eventbridge_rule found[st->rule_count ? st->rule_count : 1];
        const eventbridge_rule *found_ptr[st->rule_count ? st->rule_count : 1];
        for (size_t i = 0; i < st->rule_count; i++) {
            found[i] =
                (eventbridge_rule){.arn = st->rule_arns[i], .event_pattern = st->pass_patterns[i]};
            found_ptr[i] = st->pass_found[i] ? &found[i] : NULL;
        }
        set = eventbridge_rule_set_build((const char *const *)st->rule_arns, st->rule_count,
                                         found_ptr, reason, sizeof reason);
        if (!set)
            error = reason;
    }
    pass_reset(st);
    if (st->stopped) {
        eventbridge_rule_set_free(set);
        return;
    }
    double next = st->refresh_seconds;
    if (set) {
        bool first = st->rules == NULL;
        eventbridge_rule_set_free(st->rules);
        st->rules = set;
        st->rules_loaded_ms = uv_now(st->loop);
        st->rules_refreshes++;
        st->rules_failures_in_row = 0;
        st->last_rules_error[0] = '\0';
        if (first) {
            log_info("eventbridge", "%zu rule(s) loaded from ListRules; sending what they match",
                     st->rule_count);
            pending_entry *p;
            while ((p = list_pop(&st->held)))
                route_entry(st, p);
        }
    } else {
        st->rules_refresh_failures++;
        st->rules_failures_in_row++;
        format_message(st->last_rules_error, sizeof st->last_rules_error, "%s", error);
        double retry =
            backoff_delay_seconds(st->rules_failures_in_row, 1.0, RULES_RETRY_MAX_SECONDS, 1.0);
        if (retry < next)
            next = retry;
        if (st->rules)
            log_error("eventbridge", "rule refresh failed, keeping the rules read %.0f s ago: %s",
                      (double)(uv_now(st->loop) - st->rules_loaded_ms) / 1000.0, error);
        else
            log_error("eventbridge",
                      "cannot read the rules (%zu event(s) held until they are read; retrying in "
                      "%.0f s): %s",
                      st->held.count, next, error);
    }
    uv_timer_start(&st->refresh_timer, on_refresh_timer, (uint64_t)(next * 1000.0), 0);
}

static void list_rules_page(eventbridge_state *st);

static void on_list_rules(void *user, const http_client_response *response, const char *key_id)
{
    eventbridge_state *st = user;
    char error[400];
    if (response->error) {
        format_message(error, sizeof error, "ListRules to %s: %s", st->url, response->error);
        pass_end(st, error);
        return;
    }
    if (response->status != 200) {
        char code[64], message[200];
        eventbridge_parse_error(response->body, response->body_len, code, sizeof code, message,
                                sizeof message);
        format_message(error, sizeof error, "ListRules to %s: HTTP %ld%s%s%s%s (key id %s)",
                       st->url, response->status, *code ? " " : "", code, *message ? ": " : "",
                       message, key_id);
        pass_end(st, error);
        return;
    }
    eventbridge_rule_page page;
    char problem[256];
    if (eventbridge_parse_list_rules(response->body, response->body_len, &page, problem,
                                     sizeof problem) != 0) {
        format_message(error, sizeof error, "ListRules to %s: %s", st->url, problem);
        pass_end(st, error);
        return;
    }
    for (size_t i = 0; i < st->rule_count; i++) {
        const eventbridge_rule *rule = eventbridge_rule_find(&page, st->rule_arns[i]);
        if (!rule || st->pass_found[i])
            continue;
        st->pass_found[i] = true;
        st->pass_patterns[i] = rule->event_pattern ? strdup(rule->event_pattern) : NULL;
    }
    free(st->pass_next_token);
    st->pass_next_token = page.next_token ? strdup(page.next_token) : NULL;
    eventbridge_rule_page_free(&page);
    bool all_found = true;
    for (size_t i = 0; i < st->rule_count; i++)
        all_found = all_found && st->pass_found[i];
    if (!st->pass_next_token || all_found) {
        pass_end(st, NULL);
    } else if (st->pass_pages >= MAX_LIST_RULES_PAGES) {
        format_message(error, sizeof error, "ListRules to %s: more than %d pages", st->url,
                       MAX_LIST_RULES_PAGES);
        pass_end(st, error);
    } else {
        list_rules_page(st);
    }
}

static void list_rules_page(eventbridge_state *st)
{
    st->pass_pages++;
    size_t len = 0;
    char *body = eventbridge_list_rules_body(st->event_bus, st->pass_next_token, &len);
    if (!body) {
        pass_end(st, "out of memory");
        return;
    }
    aws_call_start(st, EVENTBRIDGE_TARGET_LIST_RULES, body, len, on_list_rules, st);
}

/* Called from the refresh timer only (a pass may end inside it). */
static void rules_pass_start(eventbridge_state *st)
{
    if (st->pass_running || st->stopped)
        return;
    st->pass_running = true;
    pass_reset(st);
    list_rules_page(st);
}

/* ---- /metrics, console, readiness ------------------------------------------------------------ */

static double rules_age_seconds(const eventbridge_state *st)
{
    return st->rules ? (double)(uv_now(st->loop) - st->rules_loaded_ms) / 1000.0 : -1;
}

static void eventbridge_samples(void *user, metrics_sample_emit_fn emit, void *ctx)
{
    const eventbridge_state *st = user;
    const char *help = "PutEvents calls by outcome (retry: the whole call failed and is retried).";
    emit(ctx, "event_router_eventbridge_calls_total", "counter", help, "", "outcome", "ok", NULL,
         NULL, (double)st->calls_ok);
    emit(ctx, "event_router_eventbridge_calls_total", "counter", help, "", "outcome", "retry", NULL,
         NULL, (double)st->calls_retry);
    emit(ctx, "event_router_eventbridge_calls_total", "counter", help, "", "outcome", "failed",
         NULL, NULL, (double)st->calls_failed);
    emit(ctx, "event_router_eventbridge_throttled_calls_total", "counter",
         "PutEvents calls AWS throttled as a whole.", "", NULL, NULL, NULL, NULL,
         (double)st->calls_throttled);
    help = "Entries by outcome: accepted, retried (a later attempt follows), failed (final), "
           "unmatched (no rule matched: not sent).";
    const struct {
        const char *name;
        uint64_t value;
    } outcomes[] = {{"accepted", st->entries_accepted},
                    {"retried", st->entries_retried},
                    {"failed", st->entries_failed},
                    {"unmatched", st->entries_unmatched}};
    for (size_t i = 0; i < 4; i++)
        emit(ctx, "event_router_eventbridge_entries_total", "counter", help, "", "outcome",
             outcomes[i].name, NULL, NULL, (double)outcomes[i].value);
    help = "Entries PutEvents answered with an ErrorCode, by code.";
    for (size_t i = 0; i <= MAX_ERROR_CODES; i++)
        if (st->error_codes[i].count > 0)
            emit(ctx, "event_router_eventbridge_entry_errors_total", "counter", help, "", "code",
                 st->error_codes[i].code, NULL, NULL, (double)st->error_codes[i].count);
    help = "Entries per PutEvents call.";
    uint64_t cumulative = 0, sum = 0;
    for (size_t n = 1; n <= EVENTBRIDGE_MAX_ENTRIES; n++) {
        char bound[8];
        cumulative += st->batch_sizes[n];
        sum += n * st->batch_sizes[n];
        snprintf(bound, sizeof bound, "%zu", n);
        emit(ctx, "event_router_eventbridge_batch_entries", "histogram", help, "_bucket", "le",
             bound, NULL, NULL, (double)cumulative);
    }
    emit(ctx, "event_router_eventbridge_batch_entries", "histogram", help, "_bucket", "le", "+Inf",
         NULL, NULL, (double)cumulative);
    emit(ctx, "event_router_eventbridge_batch_entries", "histogram", help, "_sum", NULL, NULL, NULL,
         NULL, (double)sum);
    emit(ctx, "event_router_eventbridge_batch_entries", "histogram", help, "_count", NULL, NULL,
         NULL, NULL, (double)cumulative);
    emit(ctx, "event_router_eventbridge_rules", "gauge", "Rules whose patterns are in use.", "",
         NULL, NULL, NULL, NULL, (double)eventbridge_rule_set_count(st->rules));
    emit(ctx, "event_router_eventbridge_rules_age_seconds", "gauge",
         "Seconds since the rules were last read with ListRules (-1: never).", "", NULL, NULL, NULL,
         NULL, rules_age_seconds(st));
    emit(ctx, "event_router_eventbridge_rules_refresh_failures_total", "counter",
         "ListRules passes that failed (the last good rules stay in use).", "", NULL, NULL, NULL,
         NULL, (double)st->rules_refresh_failures);
    emit(ctx, "event_router_eventbridge_held_events", "gauge",
         "Events waiting for the first rules.", "", NULL, NULL, NULL, NULL, (double)st->held.count);
}

static cJSON *eventbridge_describe(const void *state)
{
    const eventbridge_state *st = state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "endpoint", st->url);
    cJSON_AddStringToObject(o, "bus", st->event_bus);
    cJSON *rules = cJSON_AddArrayToObject(o, "rules");
    for (size_t i = 0; i < st->rule_count; i++)
        cJSON_AddItemToArray(rules, cJSON_CreateString(st->rule_arns[i]));
    cJSON_AddNumberToObject(o, "rules_loaded", (double)eventbridge_rule_set_count(st->rules));
    if (st->rules)
        cJSON_AddNumberToObject(o, "rules_age_seconds", rules_age_seconds(st));
    else
        cJSON_AddNullToObject(o, "rules_age_seconds");
    cJSON_AddNumberToObject(o, "refresh_failures", (double)st->rules_refresh_failures);
    cJSON_AddStringToObject(o, "last_refresh_error", st->last_rules_error);
    cJSON_AddNumberToObject(o, "held", (double)st->held.count);
    cJSON_AddNumberToObject(o, "queued", (double)st->queued.count);
    cJSON_AddNumberToObject(o, "unmatched", (double)st->entries_unmatched);
    uint64_t calls = 0, entries = 0;
    for (size_t n = 1; n <= EVENTBRIDGE_MAX_ENTRIES; n++) {
        calls += st->batch_sizes[n];
        entries += n * st->batch_sizes[n];
    }
    cJSON_AddNumberToObject(o, "calls", (double)calls);
    cJSON_AddNumberToObject(o, "entries_per_call", calls ? (double)entries / (double)calls : 0);
    return o;
}

static bool eventbridge_ready(const void *state)
{
    return ((const eventbridge_state *)state)->rules != NULL;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

/* The engine closes its HTTP client next: no timer may start a request after that. */
static void eventbridge_stop(void *state)
{
    eventbridge_state *st = state;
    st->stopped = true;
    uv_timer_stop(&st->refresh_timer);
    uv_timer_stop(&st->flush_timer);
}

/* Shutdown past its deadline: what waits here (for rules, for a call) ends now; entries in a call
 * end when the engine closes its client, which it does right after this, long before stop():
 * so from here on no timer of ours may start a request either. */
static void eventbridge_abandon(void *state, const char *reason, bool keep)
{
    (void)keep;
    eventbridge_state *st = state;
    eventbridge_stop(st);
    entry_list *lists[] = {&st->held, &st->queued};
    for (size_t i = 0; i < 2; i++) {
        pending_entry *p;
        while ((p = list_pop(lists[i]))) {
            set_result(&p->result, DELIVERY_RETRY, 0, "%s", reason);
            answer_later(p);
        }
    }
}

static void state_free(eventbridge_state *st)
{
    pass_reset(st);
    free(st->pass_patterns);
    free(st->pass_found);
    eventbridge_rule_set_free(st->rules);
    for (size_t i = 0; i < st->rule_count; i++)
        free(st->rule_arns[i]);
    free(st->rule_arns);
    for (size_t i = 0; i < st->resource_count; i++)
        free(st->resources[i]);
    free(st->resources);
    sigv4_signer_free(&st->signer);
    free(st->region);
    free(st->event_bus);
    free(st->url);
    free(st->host);
    free(st->path);
    free(st);
}

static void maybe_free_state(eventbridge_state *st)
{
    if (st->destroying && st->handles_open == 0 && st->credentials_waits == 0)
        state_free(st);
}

static void on_handle_closed(uv_handle_t *handle)
{
    eventbridge_state *st = handle->data;
    st->handles_open--;
    maybe_free_state(st);
}

static void eventbridge_destroy(void *state)
{
    eventbridge_state *st = state;
    if (!st)
        return;
    st->stopped = true;
    st->destroying = true;
    if (st->stats && st->stats->samples_user == st)
        st->stats->samples = NULL; /* /metrics may still render after st is gone */
    /* The provider goes first so that the client's aborted requests find it closing; a ListRules
     * waiting for credentials comes back through on_call_credentials and finds st stopped. */
    st->credentials_waits++;
    aws_credentials_provider_close(st->credentials);
    if (st->credentials_http)
        http_client_close(st->credentials_http);
    st->credentials_waits--;
    uv_timer_t *timers[] = {&st->flush_timer, &st->answer_timer, &st->refresh_timer};
    for (size_t i = 0; i < 3; i++) {
        if (timers[i]->data) {
            st->handles_open++;
            uv_close((uv_handle_t *)timers[i], on_handle_closed);
        }
    }
    maybe_free_state(st);
}

/* Splits url into its authority (Host) and path. */
static int split_url(eventbridge_state *st, char *err, size_t err_cap)
{
    const char *scheme_end = strstr(st->url, "://");
    const char *authority = scheme_end ? scheme_end + 3 : NULL;
    size_t authority_len = authority ? strcspn(authority, "/?#") : 0;
    if (!authority || authority_len == 0 || memchr(authority, '@', authority_len)) {
        format_message(err, err_cap, "endpoint %s: expected http(s)://host[:port][/path]", st->url);
        return -1;
    }
    st->host = strndup(authority, authority_len);
    const char *path = authority + authority_len;
    st->path = strndup(*path == '/' ? path : "/", strcspn(*path == '/' ? path : "/", "?#"));
    if (!st->host || !st->path) {
        format_message(err, err_cap, "out of memory");
        return -1;
    }
    return 0;
}

static int copy_rules(eventbridge_state *st, const config_eventbridge *c)
{
    size_t n = c->rule_count ? c->rule_count : 1;
    st->rule_arns = calloc(n, sizeof *st->rule_arns);
    st->pass_patterns = calloc(n, sizeof *st->pass_patterns);
    st->pass_found = calloc(n, sizeof *st->pass_found);
    if (!st->rule_arns || !st->pass_patterns || !st->pass_found)
        return -1;
    for (size_t i = 0; i < c->rule_count; i++) {
        if (!(st->rule_arns[i] = strdup(c->rule_arns[i])))
            return -1;
        st->rule_count++;
    }
    st->resources = calloc(c->resource_count ? c->resource_count : 1, sizeof *st->resources);
    if (!st->resources)
        return -1;
    for (size_t i = 0; i < c->resource_count; i++) {
        if (!(st->resources[i] = strdup(c->resources[i])))
            return -1;
        st->resource_count++;
    }
    return 0;
}

static int eventbridge_create(const config_processor *config, const processor_services *services,
                              void **state, char *err, size_t err_cap)
{
    const config_eventbridge *c = &config->eventbridge;
    eventbridge_state *st = calloc(1, sizeof *st);
    if (!st) {
        format_message(err, err_cap, "out of memory");
        return -1;
    }
    st->loop = services->loop;
    st->http = services->http;
    st->stats = services->stats;
    st->region = strdup(c->region ? c->region : "");
    st->event_bus = strdup(c->event_bus ? c->event_bus : "default");
    if (c->endpoint) {
        st->url = strdup(c->endpoint);
    } else {
        size_t len = strlen(st->region) + 40;
        st->url = malloc(len);
        if (st->url)
            snprintf(st->url, len, "https://events.%s.amazonaws.com/", st->region);
    }
    if (services->delivery) {
        st->connect_timeout_ms = (long)(services->delivery->connect_timeout_seconds * 1000.0);
        st->timeout_ms = (long)(services->delivery->timeout_seconds * 1000.0);
    }
    st->max_entries = c->batch_max_entries >= 1 && c->batch_max_entries <= EVENTBRIDGE_MAX_ENTRIES
                          ? (size_t)c->batch_max_entries
                          : EVENTBRIDGE_MAX_ENTRIES;
    st->max_delay_ms =
        c->batch_max_delay_seconds > 0 ? (uint64_t)(c->batch_max_delay_seconds * 1000.0 + 0.5) : 0;
    st->rate = c->rate_limit;
    /* A tenth of a second's worth of calls may go at once (at least one). */
    st->capacity = st->rate / 10.0 > 1.0 ? st->rate / 10.0 : 1.0;
    st->tokens = st->capacity;
    st->tokens_at_ms = uv_now(st->loop);
    st->refresh_seconds = c->rule_refresh_seconds > 0 ? c->rule_refresh_seconds : 300.0;
    uv_timer_t *timers[] = {&st->flush_timer, &st->answer_timer, &st->refresh_timer};
    for (size_t i = 0; i < 3; i++) {
        uv_timer_init(st->loop, timers[i]);
        timers[i]->data = st;
    }
    if (!st->region || !st->event_bus || !st->url || split_url(st, err, err_cap) != 0 ||
        copy_rules(st, c) != 0) {
        if (!*err)
            format_message(err, err_cap, "out of memory");
        eventbridge_destroy(st);
        return -1;
    }
    if (st->rule_count == 0) {
        format_message(err, err_cap, "no ruleARN or rules: nothing decides which events are sent");
        eventbridge_destroy(st);
        return -1;
    }
    if (c->auth.type == AUTH_AWS_ACCESS_KEY) {
        st->credentials = aws_credentials_provider_new_static(
            st->loop, c->auth.access_key, c->auth.secret_key, c->auth.session_token);
    } else {
        st->credentials_http = http_client_new(st->loop);
        aws_credentials_options options = {.region = st->region};
        st->credentials =
            st->credentials_http
                ? aws_credentials_provider_new_chain(st->loop, st->credentials_http, &options)
                : NULL;
    }
    if (!st->credentials) {
        format_message(err, err_cap, "cannot set up the AWS credentials");
        eventbridge_destroy(st);
        return -1;
    }
    if (st->stats) {
        st->stats->samples = eventbridge_samples;
        st->stats->samples_user = st;
    }
    /* The first ListRules pass starts on the first loop turn. */
    uv_timer_start(&st->refresh_timer, on_refresh_timer, 0, 0);
    log_info("eventbridge",
             "PutEvents to %s, bus %s, region %s, credentials %s, %zu rule(s), batches of up to "
             "%zu entries within %llu ms%s",
             st->url, st->event_bus, st->region,
             c->auth.type == AUTH_AWS_ACCESS_KEY ? "static keys" : "the default chain",
             st->rule_count, st->max_entries, (unsigned long long)st->max_delay_ms,
             st->rate > 0 ? ", rate-limited" : "");
    *state = st;
    return 0;
}

const processor_type eventbridge_processor_type = {.name = "aws_event_bridge",
                                                   .create = eventbridge_create,
                                                   .send = eventbridge_send,
                                                   .destroy = eventbridge_destroy,
                                                   .abandon = eventbridge_abandon,
                                                   .describe = eventbridge_describe,
                                                   .ready = eventbridge_ready,
                                                   .stop = eventbridge_stop};
