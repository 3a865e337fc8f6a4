/* The webhook source. Answers follow the VMware Event Router's webhook provider: 202 when the
 * events are queued, 400 with the reason for an invalid CloudEvent, 401 without valid basic auth
 * (decided on the headers, before the body is read), 413 for a body over maxBodySize or a batch
 * that could never fit the queue, 503 with Retry-After when the queue has no room (the sender
 * keeps the event, nothing is lost).
 *
 * With a disk queue the 202 waits until the events are on disk (the answer is deferred until the
 * group commit that holds them); a failed disk write answers 503 instead, so a 202 always means
 * the events survive a crash. */
#include "sources/source_webhook.h"

#include "http/basic_auth.h"

#include "http/cloudevents_http.h"
#include "http/http_server.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_BODY_BYTES (4u * 1024 * 1024)

typedef struct pending_answer pending_answer;

typedef struct webhook_source {
    const config_provider *config;
    source_services services;
    http_server *server;
    basic_auth auth;
    bool paused;
    pending_answer *pending; /* requests waiting for their events to be durable */
} webhook_source;

/* One request whose 202 waits for the disk queue. It outlives the source when the source closes
 * first (the queue still calls back once): source is NULL then. */
struct pending_answer {
    webhook_source *source;
    http_deferred *deferred;
    size_t count;
    pending_answer *prev, *next;
};

static void answer_error(http_response *response, int status, const char *reason)
{
    /* The reason goes through cJSON so quotes and control characters stay valid JSON. */
    static char body[512];
    cJSON *object = cJSON_CreateObject();
    cJSON_AddStringToObject(object, "error", reason);
    if (!cJSON_PrintPreallocated(object, body, sizeof body, false))
        snprintf(body, sizeof body, "{\"error\": \"invalid event\"}");
    cJSON_Delete(object);
    response->status = status;
    response->content_type = "application/json";
    response->body = body;
    response->body_len = strlen(body);
}

static void on_durable(void *user, bool durable)
{
    pending_answer *pending = user;
    webhook_source *source = pending->source;
    if (source) {
        if (pending->prev)
            pending->prev->next = pending->next;
        else
            source->pending = pending->next;
        if (pending->next)
            pending->next->prev = pending->prev;
        provider_stats *stats = source->services.stats;
        if (stats && durable)
            stats->events_total += pending->count;
        else if (stats)
            stats->events_err++;
    }
    http_response response = {.status = 202};
    if (!durable) {
        answer_error(&response, 503, "the disk queue cannot write, retry later");
        response.extra_headers = "Retry-After: 1\r\n";
    }
    if (pending->deferred)
        http_deferred_answer(pending->deferred, &response);
    free(pending);
}

/* Runs on the headers, before any body byte is read: an unauthenticated or misdirected request
 * costs no body memory, and 100 Continue is sent only when the body will be taken. */
static bool check_headers(void *user, const http_request *request, http_response *response)
{
    webhook_source *source = user;
    provider_stats *stats = source->services.stats;
    if (strcmp(request->path, source->config->webhook.path) != 0) {
        answer_error(response, 404, "not found");
        return false;
    }
    if (strcmp(request->method, "POST") != 0) {
        answer_error(response, 405, "method not allowed");
        response->extra_headers = "Allow: POST\r\n";
        return false;
    }
    if (!basic_auth_allows(&source->auth, request)) {
        if (stats)
            stats->events_err++;
        answer_error(response, 401, "unauthorized");
        response->extra_headers = "WWW-Authenticate: Basic realm=\"event-router\"\r\n";
        return false;
    }
    if (source->paused) {
        answer_error(response, 503, "source paused from the console, retry later");
        response->extra_headers = "Retry-After: 1\r\n";
        return false;
    }
    return true;
}

/* The server has run check_headers on this request: path, method and credentials are right. */
static void handle_request(void *user, const http_request *request, http_response *response)
{
    webhook_source *source = user;
    provider_stats *stats = source->services.stats;
    if (source->paused) {
        answer_error(response, 503, "source paused from the console, retry later");
        response->extra_headers = "Retry-After: 1\r\n";
        return;
    }
    event **events = NULL;
    size_t count = 0;
    char reason[256];
    if (cloudevents_http_decode(request, &events, &count, reason, sizeof reason) < 0) {
        if (stats)
            stats->events_err++;
        log_debug("webhook", "%s: refused an invalid event: %s", source->config->name, reason);
        answer_error(response, 400, reason);
        return;
    }
    uint64_t now = uv_hrtime();
    for (size_t i = 0; i < count; i++) {
        events[i]->source_name = source->config->name;
        events[i]->received_ns = now;
    }
    size_t capacity = source->services.queue->capacity;
    if (count > capacity) {
        /* Retrying cannot help a batch that would not fit even an empty queue. */
        for (size_t i = 0; i < count; i++)
            event_unref(events[i]);
        free(events);
        if (stats)
            stats->events_err++;
        snprintf(reason, sizeof reason,
                 "batch of %zu events is larger than the queue can ever hold (%zu); send smaller "
                 "batches",
                 count, capacity);
        answer_error(response, 413, reason);
        return;
    }
    pending_answer *pending = calloc(1, sizeof *pending);
    event_queue_offer_result result =
        pending ? event_queue_offer(source->services.queue, events, count, on_durable, pending)
                : EVENT_QUEUE_FULL;
    /* The queue took its own references; ours go either way. */
    for (size_t i = 0; i < count; i++)
        event_unref(events[i]);
    free(events);
    if (result == EVENT_QUEUE_PENDING) {
        pending->source = source;
        pending->count = count;
        pending->deferred = http_request_defer(request);
        pending->next = source->pending;
        if (pending->next)
            pending->next->prev = pending;
        source->pending = pending;
        return;
    }
    free(pending);
    if (result == EVENT_QUEUE_TOO_LARGE) {
        if (stats)
            stats->events_err++;
        answer_error(response, 413, "the batch is larger than the event queue can ever hold");
        return;
    }
    if (result == EVENT_QUEUE_FULL) {
        if (stats)
            stats->events_err++;
        answer_error(response, 503, "event queue is full, retry later");
        response->extra_headers = "Retry-After: 1\r\n";
        return;
    }
    if (stats)
        stats->events_total += count;
    response->status = 202;
}

static uint64_t seconds_to_ms(double seconds)
{
    return seconds > 0 ? (uint64_t)(seconds * 1000 + 0.5) : 0;
}

static void webhook_free(webhook_source *source)
{
    free(source);
}

static int webhook_create(const config_provider *config, const source_services *services,
                          void **state, char *err, size_t err_cap)
{
    const config_webhook *webhook = &config->webhook;
    if (!webhook->path || webhook->path[0] != '/' || strcmp(webhook->path, "/") == 0) {
        snprintf(err, err_cap, "webhook path must start with '/' and must not be \"/\"");
        return -1;
    }
    if (!webhook->bind_address) {
        snprintf(err, err_cap, "webhook bind address is missing");
        return -1;
    }
    webhook_source *source = calloc(1, sizeof *source);
    if (!source) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    source->config = config;
    source->services = *services;
    if (webhook->auth.type == AUTH_BASIC) {
        const char *user = webhook->auth.username ? webhook->auth.username : "";
        const char *password = webhook->auth.password ? webhook->auth.password : "";
        if (!basic_auth_init(&source->auth, user, password)) {
            snprintf(err, err_cap, "cannot set up basic auth (SHA-256)");
            webhook_free(source);
            return -1;
        }
    } else if (webhook->auth.type != AUTH_NONE) {
        snprintf(err, err_cap, "webhook supports only basic_auth authentication");
        webhook_free(source);
        return -1;
    }
    size_t max_body = webhook->max_body_bytes ? webhook->max_body_bytes : DEFAULT_MAX_BODY_BYTES;
    source->server = http_server_start(services->loop, webhook->bind_address, max_body,
                                       handle_request, source, err, err_cap);
    if (!source->server) {
        webhook_free(source);
        return -1;
    }
    http_server_set_header_check(source->server, check_headers);
    /* Room for at least one request of the largest size, or it would get 503 forever. */
    size_t in_flight = webhook->max_body_bytes_in_flight ? webhook->max_body_bytes_in_flight
                                                         : HTTP_SERVER_DEFAULT_MAX_BODY_BYTES_TOTAL;
    if (in_flight < max_body)
        in_flight = max_body;
    http_server_set_limits(source->server,
                           &(http_server_limits){
                               .max_connections = (size_t)webhook->max_connections,
                               .max_body_bytes_total = in_flight,
                               .header_timeout_ms = seconds_to_ms(webhook->header_timeout_seconds),
                               .body_timeout_ms = seconds_to_ms(webhook->body_timeout_seconds),
                               .idle_timeout_ms = seconds_to_ms(webhook->idle_timeout_seconds),
                           });
    log_info("webhook", "%s: listening on %s (port %d) path %s", config->name,
             webhook->bind_address, http_server_port(source->server), webhook->path);
    *state = source;
    return 0;
}

static bool webhook_ready(void *state)
{
    webhook_source *source = state;
    return source->server != NULL;
}

int webhook_source_port(void *state)
{
    webhook_source *source = state;
    return source && source->server ? http_server_port(source->server) : -1;
}

static void webhook_close(void *state)
{
    webhook_source *source = state;
    /* Answers still waiting for the disk go nowhere now; the queue frees them when it calls. */
    for (pending_answer *p = source->pending; p; p = p->next)
        p->source = NULL;
    /* The server frees itself once its handles are closed; it no longer calls back into us. */
    http_server_close(source->server);
    webhook_free(source);
}

static void webhook_pause(void *state, bool paused)
{
    ((webhook_source *)state)->paused = paused;
}

const source_type webhook_source_type = {
    .name = "webhook",
    .create = webhook_create,
    .ready = webhook_ready,
    .pause = webhook_pause,
    .close = webhook_close,
};
