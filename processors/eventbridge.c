/* EventBridge processor: one attempt is one PutEvents call with the event's entry, signed with
 * SigV4 using credentials from the static keys or the SDKs' chain. Retrying is the dispatcher's
 * business; this file only builds, sends and classifies. */
#include "processors/eventbridge.h"

#include "log.h"
#include "processors/aws/aws_credentials_provider.h"
#include "processors/aws/eventbridge_api.h"
#include "processors/aws/sigv4.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct eventbridge_state {
    uv_loop_t *loop;
    http_client *http; /* the engine's, for PutEvents */
    /* Our own client for STS, ECS and IMDS: a credentials refresh may be under way while the
     * engine shuts its client down, and must not outlive the client it uses. */
    http_client *credentials_http;
    aws_credentials_provider *credentials;
    char *region;
    char *event_bus;
    char *url;  /* where PutEvents goes */
    char *host; /* its authority, signed as the Host header */
    char *path; /* its path, "/" by default */
    long connect_timeout_ms;
    long timeout_ms;
    sigv4_signer signer; /* one loop thread: reused by every request */
} eventbridge_state;

typedef struct eventbridge_attempt {
    eventbridge_state *state;
    event *ev;
    void *attempt;
    processor_attempt_done_fn done;
    delivery_result result;
    char key_id[128]; /* which key signed it, for messages */
    uv_timer_t defer; /* only for failures found before any request was made */
} eventbridge_attempt;

static void attempt_finish(eventbridge_attempt *a)
{
    event_unref(a->ev);
    a->done(a->attempt, &a->result);
    free(a);
}

static void set_result(eventbridge_attempt *a, delivery_status status, long http_status,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set_result(eventbridge_attempt *a, delivery_status status, long http_status,
                       const char *fmt, ...)
{
    a->result.status = status;
    a->result.http_status = http_status;
    a->result.retry_after_seconds = -1;
    char raw[sizeof a->result.error];
    va_list args;
    va_start(args, fmt);
    vsnprintf(raw, sizeof raw, fmt, args);
    va_end(args);
    /* AWS's messages may quote what it was sent; the mask keeps any secret out. */
    log_mask_secrets(raw, a->result.error, sizeof a->result.error);
}

static void on_deferred_closed(uv_handle_t *handle)
{
    attempt_finish(handle->data);
}

static void on_deferred(uv_timer_t *timer)
{
    uv_close((uv_handle_t *)timer, on_deferred_closed);
}

/* Reports a failure found before any request was made, on the next loop turn (never from
 * inside send). */
static void attempt_fail_later(eventbridge_attempt *a)
{
    uv_timer_init(a->state->loop, &a->defer);
    a->defer.data = a;
    uv_timer_start(&a->defer, on_deferred, 0, 0);
}

/* The entry as VEBA builds it, plus Time. *detail is the Detail text the caller frees. */
static bool build_entry(const eventbridge_state *st, const event *ev, eventbridge_entry *entry,
                        char **detail)
{
    cJSON *json = event_to_json(ev);
    *detail = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!*detail)
        return false;
    *entry = (eventbridge_entry){
        .source = ev->source,
        .detail_type = ev->subject && *ev->subject ? ev->subject : ev->type,
        .detail = *detail,
        .event_bus_name = st->event_bus,
    };
    entry->has_time = ev->time && aws_parse_iso8601(ev->time, &entry->time);
    return true;
}

static void classify(eventbridge_attempt *a, const http_client_response *response)
{
    const eventbridge_state *st = a->state;
    if (response->error) {
        set_result(a, DELIVERY_RETRY, 0, "PutEvents to %s: %s", st->url, response->error);
        return;
    }
    if (response->status == 200) {
        eventbridge_entry_result entry;
        size_t failed = 0;
        char problem[256];
        if (eventbridge_parse_put_events(response->body, response->body_len, 1, &entry, &failed,
                                         problem, sizeof problem) != 0) {
            set_result(a, DELIVERY_RETRY, 200, "PutEvents to %s: %s", st->url, problem);
        } else if (entry.status == EVENTBRIDGE_ENTRY_OK) {
            set_result(a, DELIVERY_OK, 200, "%s", "");
        } else {
            set_result(a,
                       entry.status == EVENTBRIDGE_ENTRY_RETRY ? DELIVERY_RETRY : DELIVERY_FAILED,
                       200, "PutEvents entry %s: %s%s%s",
                       entry.status == EVENTBRIDGE_ENTRY_RETRY ? "failed" : "refused",
                       entry.error_code, *entry.error_message ? ": " : "", entry.error_message);
        }
        return;
    }
    char code[64], message[200];
    eventbridge_parse_error(response->body, response->body_len, code, sizeof code, message,
                            sizeof message);
    eventbridge_call_status call = eventbridge_classify_call(response->status, code);
    set_result(a, call == EVENTBRIDGE_CALL_RETRY ? DELIVERY_RETRY : DELIVERY_FAILED,
               response->status, "PutEvents to %s: HTTP %ld%s%s%s%s (key id %s)", st->url,
               response->status, *code ? " " : "", code, *message ? ": " : "", message, a->key_id);
}

static void on_response(void *user, const http_client_response *response)
{
    eventbridge_attempt *a = user;
    classify(a, response);
    attempt_finish(a);
}

/* Builds, signs and sends the call. Failures before the request go through attempt_fail_later
 * because this may run inside send. */
static void attempt_post(eventbridge_attempt *a, const aws_credentials *credentials)
{
    eventbridge_state *st = a->state;
    format_message(a->key_id, sizeof a->key_id, "%s", credentials->access_key_id);
    eventbridge_entry entry;
    char *detail = NULL;
    if (!build_entry(st, a->ev, &entry, &detail)) {
        set_result(a, DELIVERY_RETRY, 0, "%s", "out of memory building the PutEvents entry");
        attempt_fail_later(a);
        return;
    }
    size_t size = eventbridge_entry_size(&entry);
    if (size > EVENTBRIDGE_MAX_CALL_BYTES) {
        set_result(a, DELIVERY_FAILED, 0,
                   "the entry is %zu bytes as AWS counts them (Time, Source, DetailType, Detail), "
                   "more than PutEvents takes in one call (%d)",
                   size, EVENTBRIDGE_MAX_CALL_BYTES);
        free(detail);
        attempt_fail_later(a);
        return;
    }
    char problem[256];
    size_t body_len = 0;
    char *body = eventbridge_put_events_body(&entry, 1, &body_len, problem, sizeof problem);
    free(detail);
    if (!body) {
        set_result(a, DELIVERY_FAILED, 0, "cannot build the PutEvents call: %s", problem);
        attempt_fail_later(a);
        return;
    }
    http_header headers[8] = {{"Host", st->host},
                              {"Content-Type", EVENTBRIDGE_CONTENT_TYPE},
                              {"X-Amz-Target", EVENTBRIDGE_TARGET_PUT_EVENTS}};
    size_t count = 3;
    sigv4_request request = {"POST", st->path, NULL, headers, count, NULL, true};
    sigv4_context context = {
        .credentials = {credentials->access_key_id, credentials->secret_access_key,
                        credentials->session_token},
        .region = st->region,
        .service = "events",
        .now = time(NULL),
    };
    if (sigv4_sign(&st->signer, &context, &request, body, body_len) != 0) {
        free(body);
        set_result(a, DELIVERY_RETRY, 0, "%s", "cannot sign the PutEvents call");
        attempt_fail_later(a);
        return;
    }
    for (size_t i = 0; i < st->signer.added_count; i++)
        headers[count++] = st->signer.added[i];
    http_client_request http_request = {.method = "POST",
                                        .url = st->url,
                                        .headers = headers,
                                        .header_count = count,
                                        .body = body,
                                        .body_len = body_len,
                                        .connect_timeout_ms = st->connect_timeout_ms,
                                        .timeout_ms = st->timeout_ms};
    int rc = http_client_send(st->http, &http_request, on_response, a);
    free(body); /* the client copied what it needs */
    if (rc != 0) {
        set_result(a, DELIVERY_RETRY, 0, "%s", "the HTTP client could not start the request");
        attempt_fail_later(a);
    }
}

static void on_credentials(void *user, const aws_credentials *credentials, const char *error)
{
    eventbridge_attempt *a = user;
    if (!credentials) {
        set_result(a, DELIVERY_RETRY, 0, "AWS credentials: %s", error ? error : "none");
        attempt_finish(a);
        return;
    }
    attempt_post(a, credentials);
}

static void eventbridge_send(void *state, event *ev, void *attempt, processor_attempt_done_fn done)
{
    eventbridge_state *st = state;
    eventbridge_attempt *a = calloc(1, sizeof *a);
    if (!a) {
        log_error("eventbridge", "out of memory: an attempt is lost");
        return;
    }
    a->state = st;
    a->ev = event_ref(ev);
    a->attempt = attempt;
    a->done = done;
    const aws_credentials *credentials = aws_credentials_provider_current(st->credentials);
    if (credentials) {
        attempt_post(a, credentials);
        return;
    }
    if (aws_credentials_provider_get(st->credentials, on_credentials, a) != 0) {
        set_result(a, DELIVERY_RETRY, 0, "%s", "cannot ask for AWS credentials");
        attempt_fail_later(a);
    }
}

static void eventbridge_destroy(void *state)
{
    eventbridge_state *st = state;
    if (!st)
        return;
    /* The provider goes first so that the client's aborted requests find it closing. */
    aws_credentials_provider_close(st->credentials);
    if (st->credentials_http)
        http_client_close(st->credentials_http);
    sigv4_signer_free(&st->signer);
    free(st->region);
    free(st->event_bus);
    free(st->url);
    free(st->host);
    free(st->path);
    free(st);
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
    if (!st->region || !st->event_bus || !st->url || split_url(st, err, err_cap) != 0) {
        if (!*err)
            format_message(err, err_cap, "out of memory");
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
    /* Read and checked, but their machinery comes with batching and the pattern engine. */
    if (c->rule_count > 1 || c->rate_limit > 0 || c->batch_max_entries != 10 ||
        c->batch_max_delay_seconds != 0.02 || c->rule_refresh_seconds != 300)
        log_warn("eventbridge",
                 "eventProcessor '%s': rules, ruleRefresh, batch and rateLimit are not used yet: "
                 "every event goes alone, unmatched locally (the bus's rules decide in AWS)",
                 config->name);
    log_info("eventbridge", "PutEvents to %s, bus %s, region %s, credentials %s", st->url,
             st->event_bus, st->region,
             c->auth.type == AUTH_AWS_ACCESS_KEY ? "static keys" : "the default chain");
    *state = st;
    return 0;
}

const processor_type eventbridge_processor_type = {.name = "aws_event_bridge",
                                                   .create = eventbridge_create,
                                                   .send = eventbridge_send,
                                                   .destroy = eventbridge_destroy};
