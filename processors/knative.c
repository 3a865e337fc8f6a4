/* Knative processor: one attempt is one POST of the encoded event; the answer is classified and
 * handed back. Retrying is the dispatcher's business.
 *
 * With a ref destination the URL is not known at start: the first send starts the lookup, and
 * sends that arrive meanwhile wait in a list. If the lookup fails those attempts come back as
 * RETRY and the next send looks up again. */
#include "processors/knative.h"

#include "backoff.h"

#include "http/cloudevents_http.h"
#include "http/url_userinfo.h"
#include "processors/k8s_resolver.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct knative_attempt knative_attempt;

typedef struct knative_state {
    uv_loop_t *loop;
    http_client *http;
    bool structured;
    bool insecure;
    char *ca_file;
    char *username;
    char *password; /* secret */
    long connect_timeout_ms;
    long timeout_ms;
    char *url;         /* where to POST; NULL until a ref is resolved */
    char *display_url; /* url without any user:password@, for messages */
    bool has_ref;
    config_k8s_ref ref; /* owned copies */
    char ref_text[256]; /* "Broker/default/rabbit" */
    k8s_api api;
    bool resolving;
    knative_attempt *waiting;      /* attempts waiting for the URL, oldest first */
    knative_attempt *waiting_tail; /* where the next one goes */
} knative_state;

struct knative_attempt {
    knative_state *state;
    event *ev;
    void *attempt;
    processor_attempt_done_fn done;
    delivery_result result;
    uv_timer_t defer; /* only for failures found before any request was made */
    knative_attempt *next;
};

static void attempt_finish(knative_attempt *a)
{
    event_unref(a->ev);
    a->done(a->attempt, &a->result);
}

static void on_deferred_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void on_deferred(uv_timer_t *timer)
{
    knative_attempt *a = timer->data;
    attempt_finish(a);
    uv_close((uv_handle_t *)timer, on_deferred_closed);
}

/* Reports a failure found before any request was made, on the next loop turn. */
static void attempt_fail_later(knative_attempt *a, delivery_status status, const char *error)
{
    a->result.status = status;
    a->result.http_status = 0;
    a->result.retry_after_seconds = -1;
    format_message(a->result.error, sizeof a->result.error, "%s", error);
    uv_timer_init(a->state->loop, &a->defer);
    a->defer.data = a;
    uv_timer_start(&a->defer, on_deferred, 0, 0);
}

static void classify(knative_attempt *a, const http_client_response *response)
{
    delivery_result *r = &a->result;
    const char *url = a->state->display_url;
    r->http_status = response->status;
    r->retry_after_seconds = -1;
    if (response->error) {
        r->status = DELIVERY_RETRY;
        format_message(r->error, sizeof r->error, "%s (%s)", response->error, url);
        return;
    }
    long s = response->status;
    if (s >= 200 && s <= 299) {
        r->status = DELIVERY_OK;
        r->error[0] = '\0';
        return;
    }
    r->status = (s == 408 || s == 429 || (s >= 500 && s <= 599)) ? DELIVERY_RETRY : DELIVERY_FAILED;
    if (r->status == DELIVERY_RETRY)
        r->retry_after_seconds = backoff_parse_retry_after(response->retry_after, time(NULL));
    format_message(r->error, sizeof r->error, "HTTP %ld from %s", s, url);
}

static void on_response(void *user, const http_client_response *response)
{
    knative_attempt *a = user;
    classify(a, response);
    attempt_finish(a);
    free(a);
}

static void attempt_post(knative_attempt *a)
{
    knative_state *st = a->state;
    cloudevents_http_message message;
    if (cloudevents_http_encode(a->ev, st->structured, &message) != 0) {
        attempt_fail_later(a, DELIVERY_RETRY, "out of memory encoding the event");
        return;
    }
    http_client_request request = {.method = "POST",
                                   .url = st->url,
                                   .headers = message.headers,
                                   .header_count = message.header_count,
                                   .body = message.body,
                                   .body_len = message.body_len,
                                   .connect_timeout_ms = st->connect_timeout_ms,
                                   .timeout_ms = st->timeout_ms,
                                   .insecure = st->insecure,
                                   .ca_file = st->ca_file,
                                   .username = st->username,
                                   .password = st->password};
    int rc = http_client_send(st->http, &request, on_response, a);
    cloudevents_http_message_free(&message); /* the client copied what it needs */
    if (rc != 0)
        attempt_fail_later(a, DELIVERY_RETRY, "the HTTP client could not start the request");
}

static void on_resolved(void *user, const char *url, const char *error)
{
    knative_state *st = user;
    st->resolving = false;
    knative_attempt *waiting = st->waiting;
    st->waiting = st->waiting_tail = NULL;
    if (url) {
        st->url = strdup(url);
        st->display_url = st->url ? url_without_userinfo(st->url) : NULL;
        if (!st->url || !st->display_url) {
            free(st->url);
            st->url = NULL;
            error = "out of memory";
        } else {
            log_info("knative", "destination %s resolved to %s", st->ref_text, st->display_url);
        }
    }
    if (!st->url)
        log_warn("knative", "cannot resolve destination %s: %s", st->ref_text, error);
    char failure[sizeof((delivery_result *)0)->error];
    format_message(failure, sizeof failure, "destination %s: %s", st->ref_text, error ? error : "");
    bool resolved = st->url != NULL;
    /* Once the last waiting attempt is done the dispatcher may destroy st: touch it no more. */
    while (waiting) {
        knative_attempt *a = waiting;
        waiting = a->next;
        a->next = NULL;
        if (resolved) {
            attempt_post(a);
        } else {
            a->result.status = DELIVERY_RETRY;
            a->result.retry_after_seconds = -1;
            format_message(a->result.error, sizeof a->result.error, "%s", failure);
            attempt_finish(a);
            free(a);
        }
    }
}

static void start_resolution(knative_state *st)
{
    st->resolving = true;
    if (k8s_resolve(st->http, &st->api, &st->ref, st->timeout_ms, on_resolved, st) == 0)
        return;
    st->resolving = false;
    knative_attempt *waiting = st->waiting;
    st->waiting = st->waiting_tail = NULL;
    char error[300];
    format_message(error, sizeof error, "destination %s: cannot start the Kubernetes API request",
                   st->ref_text);
    while (waiting) {
        knative_attempt *a = waiting;
        waiting = a->next;
        attempt_fail_later(a, DELIVERY_RETRY, error);
    }
}

static void knative_send(void *state, event *ev, void *attempt, processor_attempt_done_fn done)
{
    knative_state *st = state;
    knative_attempt *a = calloc(1, sizeof *a);
    if (!a) {
        log_error("knative", "out of memory: an attempt is lost");
        return;
    }
    a->state = st;
    a->ev = event_ref(ev);
    a->attempt = attempt;
    a->done = done;
    if (st->url) {
        attempt_post(a);
        return;
    }
    if (st->waiting_tail)
        st->waiting_tail->next = a;
    else
        st->waiting = a;
    st->waiting_tail = a;
    if (!st->resolving)
        start_resolution(st);
}

static void knative_destroy(void *state)
{
    knative_state *st = state;
    if (!st)
        return;
    free(st->ca_file);
    free(st->username);
    if (st->password) {
        memset(st->password, 0, strlen(st->password));
        free(st->password);
    }
    free(st->url);
    free(st->display_url);
    free(st->ref.api_version);
    free(st->ref.kind);
    free(st->ref.name);
    free(st->ref.namespace_);
    k8s_api_free(&st->api);
    free(st);
}

static char *copy_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Picks the destination: K_SINK, uri, or a ref to resolve later. Returns 0 or -1 with err. */
static int choose_destination(knative_state *st, const config_knative *k, char *err, size_t cap)
{
    const char *sink = getenv("K_SINK");
    const char *fixed = sink && *sink ? sink : k->uri;
    if (fixed && *fixed) {
        st->url = strdup(fixed);
        st->display_url = st->url ? url_without_userinfo(st->url) : NULL;
        if (!st->display_url) {
            format_message(err, cap, "out of memory");
            return -1;
        }
        return 0;
    }
    if (!k->has_ref) {
        format_message(err, cap, "knative processor needs a destination: uri or ref (or K_SINK)");
        return -1;
    }
    st->has_ref = true;
    st->ref.api_version = copy_or_null(k->ref.api_version);
    st->ref.kind = copy_or_null(k->ref.kind);
    st->ref.name = copy_or_null(k->ref.name);
    st->ref.namespace_ = copy_or_null(k->ref.namespace_ ? k->ref.namespace_ : "default");
    snprintf(st->ref_text, sizeof st->ref_text, "%s/%s/%s", k->ref.kind ? k->ref.kind : "?",
             st->ref.namespace_ ? st->ref.namespace_ : "?", k->ref.name ? k->ref.name : "?");
    char path[512];
    char reason[256];
    if (k8s_ref_api_path(&st->ref, path, sizeof path, reason, sizeof reason) != 0) {
        format_message(err, cap, "knative destination ref %s: %s", st->ref_text, reason);
        return -1;
    }
    if (k8s_api_load(&st->api, reason, sizeof reason) != 0) {
        format_message(
            err, cap,
            "knative destination ref %s needs the Kubernetes API, but %s (not running in a "
            "cluster?)",
            st->ref_text, reason);
        return -1;
    }
    return 0;
}

static int knative_create(const config_processor *config, const processor_services *services,
                          void **state, char *err, size_t err_cap)
{
    const config_knative *k = &config->knative;
    if (k->auth.type != AUTH_NONE && k->auth.type != AUTH_BASIC) {
        snprintf(err, err_cap, "knative processor supports only basic_auth authentication");
        return -1;
    }
    knative_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    st->loop = services->loop;
    st->http = services->http;
    st->structured = k->structured;
    st->insecure = k->insecure_ssl;
    st->ca_file = copy_or_null(k->ca_file);
    if (k->auth.type == AUTH_BASIC) {
        st->username = copy_or_null(k->auth.username);
        st->password = copy_or_null(k->auth.password ? k->auth.password : "");
    }
    if (services->delivery) {
        st->connect_timeout_ms = (long)(services->delivery->connect_timeout_seconds * 1000.0);
        st->timeout_ms = (long)(services->delivery->timeout_seconds * 1000.0);
    }
    if (choose_destination(st, k, err, err_cap) != 0) {
        knative_destroy(st);
        return -1;
    }
    *state = st;
    return 0;
}

const processor_type knative_processor_type = {
    .name = "knative", .create = knative_create, .send = knative_send, .destroy = knative_destroy};
