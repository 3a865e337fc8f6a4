/* libcurl's multi interface on the libuv loop, after curl's docs/examples/multi-uv.c.
 *
 * curl tells us which sockets to watch (on_curl_socket) and when to wake it up (on_curl_timer);
 * libuv tells curl when a socket is ready (on_socket_ready) or the timer fired (on_timer). curl
 * is never called back from inside its own callbacks: a zero timeout defers the kick to the next
 * loop turn. Finished transfers are drained with curl_multi_info_read after every action and
 * their done callbacks run from there, so never from inside http_client_send. */
#include "http/http_client.h"
#include "http/http_plain.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESPONSE_BODY_CAP (1024 * 1024)
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 30000
#define MAX_KEPT_CONNECTIONS 64
/* Finished requests keep their curl easy handle and buffer for the next one (curl_easy_init and
 * the per-header allocations were the largest cost per delivery); beyond this many idle ones,
 * or with a buffer grown past the cap, they are freed instead. */
#define MAX_IDLE_REQUESTS 256
#define KEEP_SCRATCH_BYTES (16 * 1024)

typedef struct socket_watch {
    uv_poll_t poll;
    curl_socket_t fd;
    http_client *client;
    bool parked; /* curl let go of the socket; the handle waits for curl to want fd again */
    struct socket_watch *next;
} socket_watch;

typedef struct request {
    http_client *client;
    CURL *easy;
    /* One buffer holds the header list (curl_slist nodes built in place, never handed to
     * curl_slist_free_all), the header lines and the body copy: one allocation per request at
     * most, none once the buffer is big enough. */
    char *scratch;
    size_t scratch_cap;
    size_t header_bytes; /* prefix of scratch that held header lines: wiped after the request */
    char *response_body;
    size_t response_len;
    size_t response_cap;
    size_t response_limit;
    int response_truncated;
    char *retry_after;
    char *content_type;
    char *set_cookie;
    char *start_error; /* set when the request never reached curl */
    char error_buffer[CURL_ERROR_SIZE];
    http_client_done_fn done;
    void *user;
    struct request *prev;
    struct request *next;
} request;

struct http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t curl_timer;
    uv_timer_t failure_timer; /* delivers failures of requests that never started */
    request *running;         /* in curl */
    request *failed;          /* waiting for failure_timer */
    request *idle;            /* finished requests kept for reuse (singly linked by next) */
    size_t idle_count;
    socket_watch *watches;
    size_t parked_count;
    bool kick_wanted; /* curl asked for a zero timeout: see kick_new_transfers */
    size_t in_flight;
    int closing;
    int open_handles;
    http_plain *plain; /* plain http:// requests skip curl */
};

static void curl_global_once(void)
{
    static int initialized;
    if (!initialized) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        initialized = 1;
    }
}

static void list_push(request **head, request *req)
{
    req->prev = NULL;
    req->next = *head;
    if (*head)
        (*head)->prev = req;
    *head = req;
}

static void list_remove(request **head, request *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        *head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

static void request_destroy(request *req)
{
    if (req->easy)
        curl_easy_cleanup(req->easy);
    free(req->scratch);
    free(req);
}

/* Drops what one request owned and keeps the easy handle and buffer for the next request. */
static void request_recycle(request *req)
{
    http_client *client = req->client;
    /* Headers may hold a token: do not leave it lying in memory. */
    if (req->header_bytes)
        memset(req->scratch, 0, req->header_bytes);
    free(req->response_body);
    free(req->retry_after);
    free(req->content_type);
    free(req->set_cookie);
    free(req->start_error);
    CURL *easy = req->easy;
    char *scratch = req->scratch;
    size_t scratch_cap = req->scratch_cap;
    if (scratch_cap > KEEP_SCRATCH_BYTES) {
        free(scratch);
        scratch = NULL;
        scratch_cap = 0;
    }
    memset(req, 0, sizeof *req);
    req->client = client;
    req->easy = easy;
    req->scratch = scratch;
    req->scratch_cap = scratch_cap;
    if (client->closing || client->idle_count >= MAX_IDLE_REQUESTS || !easy) {
        request_destroy(req);
        return;
    }
    curl_easy_reset(easy);
    req->next = client->idle;
    client->idle = req;
    client->idle_count++;
}

static request *request_take(http_client *client)
{
    request *req = client->idle;
    if (req) {
        client->idle = req->next;
        client->idle_count--;
        req->next = NULL;
        return req;
    }
    req = calloc(1, sizeof *req);
    if (req)
        req->client = client;
    return req;
}

/* Calls the owner's callback once and frees the request. The request is already off every list. */
static void request_finish(request *req, CURLcode result, const char *forced_error)
{
    http_client_response response = {0};
    const char *error = forced_error;
    if (!error && result != CURLE_OK)
        error = req->error_buffer[0] ? req->error_buffer : curl_easy_strerror(result);
    if (error) {
        response.error = error;
        response.timed_out = result == CURLE_OPERATION_TIMEDOUT;
    } else {
        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &response.status);
        response.body = req->response_body ? req->response_body : "";
        response.body_len = req->response_len;
        response.truncated = req->response_truncated;
        response.retry_after = req->retry_after;
        response.content_type = req->content_type;
        response.set_cookie = req->set_cookie;
    }
    req->client->in_flight--;
    req->done(req->user, &response);
    request_recycle(req);
}

static void drain_finished(http_client *client)
{
    CURLMsg *message;
    int pending;
    while (!client->closing && (message = curl_multi_info_read(client->multi, &pending))) {
        if (message->msg != CURLMSG_DONE)
            continue;
        char *private_data = NULL;
        CURLcode result = message->data.result;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &private_data);
        request *req = (request *)private_data;
        curl_multi_remove_handle(client->multi, message->easy_handle);
        list_remove(&client->running, req);
        request_finish(req, result, NULL);
    }
}

static void on_handle_closed(uv_handle_t *handle)
{
    http_client *client = handle->data;
    if (handle->type == UV_POLL)
        free(handle); /* a socket_watch starts with its uv_poll_t */
    if (--client->open_handles == 0)
        free(client);
}

/* Done callbacks usually start the next request at once (the dispatcher refills its slot), and
 * curl then asks to be woken "now". Doing that here, outside any curl callback, sends the request
 * in this loop turn instead of the next one: the kept-alive socket curl just handed back is asked
 * for again before the loop would stop and restart watching it. Bounded, in case each kick
 * finishes transfers that start more; the timer still covers whatever is left. */
#define MAX_KICKS_PER_TURN 4

static void kick_new_transfers(http_client *client)
{
    for (int i = 0; i < MAX_KICKS_PER_TURN && client->kick_wanted && !client->closing; i++) {
        client->kick_wanted = false;
        int running;
        curl_multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        drain_finished(client);
    }
}

static void on_socket_ready(uv_poll_t *poll, int status, int events)
{
    socket_watch *watch = (socket_watch *)poll;
    http_client *client = watch->client;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(client->multi, watch->fd, flags, &running);
    drain_finished(client);
    kick_new_transfers(client);
}

static void on_timer(uv_timer_t *timer)
{
    http_client *client = timer->data;
    int running;
    curl_multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_finished(client);
}

static void watch_unlink(http_client *client, socket_watch *watch)
{
    for (socket_watch **p = &client->watches; *p; p = &(*p)->next) {
        if (*p == watch) {
            *p = watch->next;
            return;
        }
    }
}

static void watch_close(http_client *client, socket_watch *watch)
{
    if (watch->parked)
        client->parked_count--;
    watch_unlink(client, watch);
    uv_poll_stop(&watch->poll);
    uv_close((uv_handle_t *)&watch->poll, on_handle_closed);
}

/* curl gives a kept-alive connection's socket back after every transfer and asks for it again
 * with the next one: closing and re-creating the poll handle each time cost a handle, an
 * allocation and a loop turn per request, so the handle is stopped and kept for the same fd. */
#define MAX_PARKED_WATCHES 128

static void watch_park(http_client *client, socket_watch *watch)
{
    if (client->parked_count >= MAX_PARKED_WATCHES) {
        watch_close(client, watch);
        return;
    }
    uv_poll_stop(&watch->poll);
    watch->parked = true;
    client->parked_count++;
}

static socket_watch *watch_unpark(http_client *client, curl_socket_t fd)
{
    for (socket_watch *watch = client->watches; watch; watch = watch->next) {
        if (watch->parked && watch->fd == fd) {
            watch->parked = false;
            client->parked_count--;
            return watch;
        }
    }
    return NULL;
}

static socket_watch *watch_open(http_client *client, curl_socket_t fd)
{
    socket_watch *watch = calloc(1, sizeof *watch);
    if (!watch || uv_poll_init_socket(client->loop, &watch->poll, fd) != 0) {
        free(watch);
        return NULL;
    }
    watch->fd = fd;
    watch->client = client;
    /* poll.data points at the client so on_handle_closed can find the open-handle count;
     * the watch itself is the handle (first member). */
    watch->poll.data = client;
    watch->next = client->watches;
    client->watches = watch;
    client->open_handles++;
    return watch;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    (void)easy;
    http_client *client = userp;
    socket_watch *watch = socketp;
    if (action == CURL_POLL_REMOVE) {
        if (watch) {
            curl_multi_assign(client->multi, fd, NULL);
            watch_park(client, watch);
        }
        return 0;
    }
    if (!watch) {
        watch = watch_unpark(client, fd);
        if (!watch)
            watch = watch_open(client, fd);
        if (!watch)
            return -1;
        curl_multi_assign(client->multi, fd, watch);
    }
    int events = 0;
    if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&watch->poll, events, on_socket_ready);
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    http_client *client = userp;
    client->kick_wanted = timeout_ms == 0;
    if (timeout_ms < 0)
        uv_timer_stop(&client->curl_timer);
    else /* 0 means "now", but not from inside curl: the next loop turn (or kick_new_transfers). */
        uv_timer_start(&client->curl_timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static void on_failure_timer(uv_timer_t *timer)
{
    http_client *client = timer->data;
    while (client->failed && !client->closing) {
        request *req = client->failed;
        list_remove(&client->failed, req);
        request_finish(req, CURLE_FAILED_INIT, req->start_error);
    }
}

http_client *http_client_new(uv_loop_t *loop)
{
    curl_global_once();
    http_client *client = calloc(1, sizeof *client);
    if (!client)
        return NULL;
    client->loop = loop;
    client->multi = curl_multi_init();
    client->plain = http_plain_new(loop);
    if (!client->multi || !client->plain) {
        if (client->multi)
            curl_multi_cleanup(client->multi);
        http_plain_close(client->plain);
        free(client);
        return NULL;
    }
    curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
    curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
    curl_multi_setopt(client->multi, CURLMOPT_MAXCONNECTS, (long)MAX_KEPT_CONNECTIONS);
    uv_timer_init(loop, &client->curl_timer);
    uv_timer_init(loop, &client->failure_timer);
    client->curl_timer.data = client;
    client->failure_timer.data = client;
    client->open_handles = 2;
    return client;
}

static size_t on_body(char *data, size_t size, size_t count, void *userp)
{
    request *req = userp;
    size_t len = size * count;
    size_t room = req->response_limit - req->response_len;
    size_t keep = len < room ? len : room; /* beyond the cap the rest is read and dropped */
    if (keep < len)
        req->response_truncated = 1;
    if (keep > 0) {
        if (req->response_len + keep + 1 > req->response_cap) {
            size_t cap = req->response_cap ? req->response_cap : 1024;
            while (cap < req->response_len + keep + 1)
                cap *= 2;
            char *grown = realloc(req->response_body, cap);
            if (!grown)
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
            req->response_body = grown;
            req->response_cap = cap;
        }
        memcpy(req->response_body + req->response_len, data, keep);
        req->response_len += keep;
        req->response_body[req->response_len] = '\0';
    }
    return len;
}

/* Keeps "Name: value" when name matches, trimmed of the line's whitespace. */
static void capture_header(const char *line, size_t len, const char *name, char **slot)
{
    size_t name_len = strlen(name);
    if (len <= name_len || line[name_len] != ':' || strncasecmp(line, name, name_len) != 0)
        return;
    const char *value = line + name_len + 1;
    const char *end = line + len;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    free(*slot);
    *slot = strndup(value, (size_t)(end - value));
}

/* A response may set several cookies: keep them all, one per line. */
static void append_set_cookie(request *req, const char *line, size_t len)
{
    char *value = NULL;
    capture_header(line, len, "Set-Cookie", &value);
    if (!value)
        return;
    size_t old_len = req->set_cookie ? strlen(req->set_cookie) : 0;
    char *joined = realloc(req->set_cookie, old_len + strlen(value) + 2);
    if (joined) {
        if (old_len)
            joined[old_len++] = '\n';
        strcpy(joined + old_len, value);
        req->set_cookie = joined;
    }
    free(value);
}

static size_t on_header(char *data, size_t size, size_t count, void *userp)
{
    request *req = userp;
    size_t len = size * count;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response starts (after a 100 Continue): forget the previous one's headers. */
        free(req->retry_after);
        free(req->content_type);
        free(req->set_cookie);
        req->retry_after = req->content_type = req->set_cookie = NULL;
        req->response_len = 0;
        req->response_truncated = 0;
        return len;
    }
    capture_header(data, len, "Retry-After", &req->retry_after);
    capture_header(data, len, "Content-Type", &req->content_type);
    append_set_cookie(req, data, len);
    return len;
}

/* Where the header lines are written while the list is built in scratch. */
typedef struct header_writer {
    struct curl_slist *nodes;
    size_t count;
    char *out;
} header_writer;

static void header_add(header_writer *w, const char *first, const char *second, const char *third)
{
    struct curl_slist *node = &w->nodes[w->count];
    node->data = w->out;
    node->next = NULL;
    if (w->count > 0)
        w->nodes[w->count - 1].next = node;
    w->count++;
    const char *parts[] = {first, second, third};
    for (size_t i = 0; i < 3; i++) {
        if (!parts[i])
            continue;
        size_t len = strlen(parts[i]);
        memcpy(w->out, parts[i], len);
        w->out += len;
    }
    *w->out++ = '\0';
}

/* Lays the header list, its lines and the body copy out in req->scratch. Returns -1 without
 * memory. */
static int request_fill_scratch(request *req, const http_client_request *r, bool with_body)
{
    size_t node_count = r->header_count + 2; /* + "Expect:" + Authorization */
    size_t lines = sizeof "Expect:";
    for (size_t i = 0; i < r->header_count; i++)
        lines += strlen(r->headers[i].name) + strlen(r->headers[i].value) + 3;
    if (r->bearer_token)
        lines += sizeof "Authorization: Bearer " + strlen(r->bearer_token);
    size_t header_bytes = node_count * sizeof(struct curl_slist) + lines;
    size_t need = header_bytes + (with_body ? r->body_len + 1 : 0);
    if (need > req->scratch_cap) {
        char *grown = malloc(need);
        if (!grown)
            return -1;
        free(req->scratch);
        req->scratch = grown;
        req->scratch_cap = need;
    }
    req->header_bytes = header_bytes;
    header_writer w = {(struct curl_slist *)(void *)req->scratch, 0,
                       req->scratch + node_count * sizeof(struct curl_slist)};
    for (size_t i = 0; i < r->header_count; i++)
        header_add(&w, r->headers[i].name, ": ", r->headers[i].value);
    /* No "Expect: 100-continue" round trip: our bodies are small and the targets answer fast. */
    header_add(&w, "Expect:", NULL, NULL);
    if (r->bearer_token)
        header_add(&w, "Authorization: Bearer ", r->bearer_token, NULL);
    if (with_body && r->body_len)
        memcpy(req->scratch + header_bytes, r->body, r->body_len);
    return 0;
}

/* Sets every option of the transfer. Returns NULL or what went wrong. */
static const char *request_configure(request *req, const http_client_request *r)
{
    if (!req->easy)
        req->easy = curl_easy_init();
    CURL *easy = req->easy;
    if (!easy)
        return "curl_easy_init failed";
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)req);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->error_buffer);
    if (curl_easy_setopt(easy, CURLOPT_URL, r->url) != CURLE_OK)
        return "invalid URL";
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     r->connect_timeout_ms > 0 ? r->connect_timeout_ms
                                               : DEFAULT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     r->timeout_ms > 0 ? r->timeout_ms : DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, r->insecure ? 0L : 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, r->insecure ? 0L : 2L);
    if (r->ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, r->ca_file);
    if (r->username) {
        curl_easy_setopt(easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(easy, CURLOPT_USERNAME, r->username);
        curl_easy_setopt(easy, CURLOPT_PASSWORD, r->password ? r->password : "");
    }

    const char *method = r->method ? r->method : "GET";
    bool with_body = r->body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
    if (request_fill_scratch(req, r, with_body) != 0)
        return "out of memory";
    if (with_body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->scratch + req->header_bytes);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    else if (strcmp(method, "GET") == 0 && !with_body)
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, (struct curl_slist *)(void *)req->scratch);
    return NULL;
}

int http_client_send(http_client *client, const http_client_request *r, http_client_done_fn done,
                     void *user)
{
    if (!client || client->closing || !done)
        return -1;
    if (http_plain_supports(r))
        return http_plain_send(client->plain, r, done, user);
    request *req = request_take(client);
    if (!req)
        return -1;
    req->done = done;
    req->user = user;
    req->response_limit = r->max_response_bytes ? r->max_response_bytes : RESPONSE_BODY_CAP;
    client->in_flight++;

    const char *problem = r->url ? request_configure(req, r) : "no URL";
    if (!problem && curl_multi_add_handle(client->multi, req->easy) != CURLM_OK)
        problem = "curl_multi_add_handle failed";
    if (problem) {
        req->start_error = strdup(problem);
        list_push(&client->failed, req);
        uv_timer_start(&client->failure_timer, on_failure_timer, 0, 0);
        return 0;
    }
    list_push(&client->running, req);
    return 0;
}

size_t http_client_in_flight(const http_client *client)
{
    return client ? client->in_flight + http_plain_in_flight(client->plain) : 0;
}

void http_client_close(http_client *client)
{
    if (!client || client->closing)
        return;
    /* Callbacks below may call back into the client; closing makes them see a closed client. */
    client->closing = 1;
    http_plain_close(client->plain);
    client->plain = NULL;
    while (client->running) {
        request *req = client->running;
        list_remove(&client->running, req);
        curl_multi_remove_handle(client->multi, req->easy);
        request_finish(req, CURLE_ABORTED_BY_CALLBACK, "client closed");
    }
    while (client->failed) {
        request *req = client->failed;
        list_remove(&client->failed, req);
        request_finish(req, CURLE_FAILED_INIT, "client closed");
    }
    while (client->idle) {
        request *req = client->idle;
        client->idle = req->next;
        request_destroy(req);
    }
    client->idle_count = 0;
    curl_multi_cleanup(client->multi);
    client->multi = NULL;
    /* Sockets curl did not hand back before cleanup still have a watch. */
    while (client->watches)
        watch_close(client, client->watches);
    uv_close((uv_handle_t *)&client->curl_timer, on_handle_closed);
    uv_close((uv_handle_t *)&client->failure_timer, on_handle_closed);
}
