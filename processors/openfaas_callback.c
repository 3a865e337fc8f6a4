#include "processors/openfaas_callback.h"

#include "http/http_server.h"
#include "log.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAITER_BUCKETS 1024
#define CALLBACK_MAX_BODY (64u << 10)

struct openfaas_waiter {
    openfaas_callbacks *owner;
    uint64_t token;
    openfaas_callback_fn done;
    void *user;
    bool in_table;
    bool armed;
    bool answered_early; /* the callback came before the 202 was read */
    openfaas_callback_result result;
    uv_timer_t timer; /* the deadline, or the next turn for an early answer */
    openfaas_waiter *prev, *next;
};

struct openfaas_callbacks {
    uv_loop_t *loop;
    http_server *server;
    char *path;
    char *url;      /* public URL, without the query */
    uint64_t nonce; /* per process: a stray callback from an earlier run matches nothing */
    uint64_t next_token;
    openfaas_waiter *buckets[WAITER_BUCKETS];
    size_t timers_open;
    bool closing;
    void (*closed)(void *user);
    void *closed_user;
    openfaas_callback_counts counts;
};

static size_t bucket_of(uint64_t token)
{
    return (size_t)(token % WAITER_BUCKETS);
}

static void table_remove(openfaas_waiter *w)
{
    if (!w->in_table)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->owner->buckets[bucket_of(w->token)] = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->in_table = false;
}

static openfaas_waiter *table_find(openfaas_callbacks *cb, uint64_t token)
{
    for (openfaas_waiter *w = cb->buckets[bucket_of(token)]; w; w = w->next)
        if (w->token == token)
            return w;
    return NULL;
}

static void maybe_finish_close(openfaas_callbacks *cb)
{
    if (!cb->closing || cb->timers_open > 0)
        return;
    void (*closed)(void *) = cb->closed;
    void *user = cb->closed_user;
    free(cb->path);
    free(cb->url);
    free(cb);
    if (closed)
        closed(user);
}

static void on_waiter_closed(uv_handle_t *handle)
{
    openfaas_waiter *w = handle->data;
    openfaas_callbacks *cb = w->owner;
    free(w);
    cb->timers_open--;
    maybe_finish_close(cb);
}

static void waiter_end(openfaas_waiter *w, const openfaas_callback_result *result)
{
    table_remove(w);
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
    if (result)
        w->done(w->user, result);
}

static void on_waiter_timer(uv_timer_t *timer)
{
    openfaas_waiter *w = timer->data;
    if (w->answered_early) {
        openfaas_callback_result result = w->result;
        waiter_end(w, &result);
        return;
    }
    w->owner->counts.timed_out++;
    openfaas_callback_result result = {.outcome = CALLBACK_TIMED_OUT, .duration_seconds = -1};
    waiter_end(w, &result);
}

static bool parse_token(const char *query, uint64_t nonce, uint64_t *token)
{
    const char *at = strstr(query, "call=");
    if (!at)
        return false;
    uint64_t their_nonce, value;
    if (sscanf(at + 5, "%16" SCNx64 "-%" SCNu64, &their_nonce, &value) != 2 || their_nonce != nonce)
        return false;
    *token = value;
    return true;
}

static void handle_callback(void *user, const http_request *request, http_response *response)
{
    openfaas_callbacks *cb = user;
    response->content_type = "text/plain";
    if (strcmp(request->path, cb->path) != 0) {
        *response = (http_response){.status = 404, .body = "not found\n", .body_len = 10};
        return;
    }
    if (strcmp(request->method, "POST") != 0) {
        *response = (http_response){.status = 405, .body = "POST only\n", .body_len = 10};
        return;
    }
    uint64_t token;
    openfaas_waiter *w =
        parse_token(request->query, cb->nonce, &token) ? table_find(cb, token) : NULL;
    if (!w || w->answered_early) {
        /* Late (after its deadline), repeated, or not ours: nothing waits for it. */
        cb->counts.unknown++;
        log_debug("openfaas", "callback for an unknown or finished call (%.80s)", request->query);
        *response = (http_response){.status = 410, .body = "no such call\n", .body_len = 13};
        return;
    }
    cb->counts.received++;
    openfaas_callback_result result = {.outcome = CALLBACK_RECEIVED, .duration_seconds = -1};
    const char *status = http_request_header(request, "x-function-status");
    const char *call_id = http_request_header(request, "x-call-id");
    const char *duration = http_request_header(request, "x-duration-seconds");
    char *end = NULL;
    long parsed = status ? strtol(status, &end, 10) : 0;
    result.function_status = status && end != status && *end == '\0' ? parsed : 0;
    snprintf(result.call_id, sizeof result.call_id, "%s", call_id ? call_id : "");
    if (duration)
        result.duration_seconds = strtod(duration, NULL);
    *response = (http_response){.status = 200, .body = "ok\n", .body_len = 3};
    if (!w->armed) {
        w->answered_early = true;
        w->result = result;
        table_remove(w);
        return;
    }
    waiter_end(w, &result);
}

openfaas_callbacks *openfaas_callbacks_start(uv_loop_t *loop, const char *bind_address,
                                             const char *path, const char *public_url, char *err,
                                             size_t err_cap)
{
    openfaas_callbacks *cb = calloc(1, sizeof *cb);
    if (!cb) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    cb->loop = loop;
    cb->path = strdup(path);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    cb->nonce = ((uint64_t)now.tv_sec << 20) ^ (uint64_t)now.tv_nsec ^ ((uint64_t)getpid() << 40);
    char reason[256] = "";
    cb->server = http_server_start(loop, bind_address, CALLBACK_MAX_BODY, handle_callback, cb,
                                   reason, sizeof reason);
    if (!cb->server || !cb->path) {
        snprintf(err, err_cap, "callback.bindAddress %s: %s", bind_address,
                 reason[0] ? reason : "out of memory");
        if (cb->server)
            http_server_close(cb->server);
        free(cb->path);
        free(cb);
        return NULL;
    }
    if (public_url) {
        cb->url = strdup(public_url);
    } else {
        /* host:port with the port the listener really got (port 0 in tests). */
        char host[256];
        snprintf(host, sizeof host, "%s", bind_address);
        char *colon = strrchr(host, ':');
        if (colon)
            *colon = '\0';
        size_t len = strlen(host) + strlen(path) + 32;
        cb->url = malloc(len);
        if (cb->url)
            snprintf(cb->url, len, "http://%s:%d%s", host, http_server_port(cb->server), path);
    }
    if (!cb->url) {
        http_server_close(cb->server);
        free(cb->path);
        free(cb);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    return cb;
}

int openfaas_callbacks_port(const openfaas_callbacks *callbacks)
{
    return http_server_port(callbacks->server);
}

openfaas_waiter *openfaas_callbacks_expect(openfaas_callbacks *callbacks, openfaas_callback_fn done,
                                           void *user, char *url, size_t url_cap)
{
    openfaas_waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->owner = callbacks;
    w->token = ++callbacks->next_token;
    w->done = done;
    w->user = user;
    uv_timer_init(callbacks->loop, &w->timer);
    w->timer.data = w;
    callbacks->timers_open++;
    size_t b = bucket_of(w->token);
    w->next = callbacks->buckets[b];
    if (w->next)
        w->next->prev = w;
    callbacks->buckets[b] = w;
    w->in_table = true;
    snprintf(url, url_cap, "%s%scall=%016" PRIx64 "-%" PRIu64, callbacks->url,
             strchr(callbacks->url, '?') ? "&" : "?", callbacks->nonce, w->token);
    return w;
}

void openfaas_waiter_arm(openfaas_waiter *waiter, double deadline_seconds)
{
    waiter->armed = true;
    uint64_t ms = waiter->answered_early ? 0 : (uint64_t)(deadline_seconds * 1000.0);
    uv_timer_start(&waiter->timer, on_waiter_timer, ms, 0);
}

void openfaas_waiter_cancel(openfaas_waiter *waiter)
{
    waiter_end(waiter, NULL);
}

void openfaas_callbacks_abandon(openfaas_callbacks *callbacks)
{
    for (size_t b = 0; b < WAITER_BUCKETS; b++) {
        openfaas_waiter *w = callbacks->buckets[b];
        while (w) {
            openfaas_waiter *next = w->next;
            if (w->armed) {
                openfaas_callback_result result = {.outcome = CALLBACK_ABANDONED,
                                                   .duration_seconds = -1};
                waiter_end(w, &result);
                next = callbacks->buckets[b]; /* done() may have changed the bucket */
            }
            w = next;
        }
    }
}

openfaas_callback_counts openfaas_callbacks_counts(const openfaas_callbacks *callbacks)
{
    return callbacks->counts;
}

void openfaas_callbacks_close(openfaas_callbacks *callbacks, void (*closed)(void *user), void *user)
{
    callbacks->closing = true;
    callbacks->closed = closed;
    callbacks->closed_user = user;
    http_server_close(callbacks->server);
    callbacks->server = NULL;
    maybe_finish_close(callbacks);
}
