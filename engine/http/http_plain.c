/* Keep-alive HTTP/1.1 over plain TCP: one pool of connections per host:port, one request per
 * connection at a time.
 *
 * Ownership: a request (preq) is one allocation holding its timer and the bytes it sends; it is
 * freed in its timer's close callback, after its done callback ran. A connection is freed in its
 * tcp handle's close callback. The client itself is freed when the last of those callbacks ran
 * after http_plain_close. Idle connections keep reading so a server that closes them is noticed;
 * a request that went out on a reused connection and got nothing back before it closed is sent
 * once more on a fresh connection (the keep-alive race). */
#include "http/http_plain.h"

#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESPONSE_BODY_CAP (1024 * 1024)
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 30000
#define MAX_IDLE_PER_HOST 64
#define READ_BUFFER_BYTES (16 * 1024)
/* Requests are recycled (malloc/free of these ~2 KiB blocks was a visible cost per delivery). */
#define MAX_SPARE_REQUESTS 128
#define MIN_REQUEST_BYTES 2048
#define MAX_SPARE_BYTES (64 * 1024)
#define HEADER_NAME_MAX 16 /* longest name we keep: "Content-Type", "Retry-After", "Set-Cookie" */

typedef struct text {
    char *data;
    size_t len;
    size_t cap;
} text;

typedef struct host_pool host_pool;
typedef struct conn conn;
typedef struct preq preq;

typedef struct url_parts {
    struct http_parser_url u;
    const char *url;
    uint16_t port;
} url_parts;

struct http_plain {
    uv_loop_t *loop;
    host_pool *pools;
    conn *conns; /* every open connection */
    preq *active;
    size_t in_flight;
    size_t pending; /* handles and DNS lookups whose callbacks have not run yet */
    char *last_url; /* the URL last sent to, its parts and pool */
    url_parts last_parts;
    host_pool *last_pool;
    preq *spare; /* freed requests kept for their memory, linked by next */
    size_t spare_count;
    bool closing;
};

struct host_pool {
    http_plain *plain;
    char *key; /* "host:port" as in the Host header */
    size_t key_len;
    char *host;
    char port[8];
    struct sockaddr_storage addr;
    bool resolved;
    bool resolving;
    char *dns_error;
    uv_getaddrinfo_t lookup;
    preq *waiting; /* requests waiting for the lookup, linked by wait_next */
    conn *idle;    /* linked by idle_next, most recently used first */
    size_t idle_count;
    host_pool *next;
};

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    http_parser parser;
    http_plain *plain;
    host_pool *pool;
    preq *req;
    size_t served; /* responses completed on this connection */
    bool connected;
    bool writing;
    bool closing;
    bool idle;
    conn *idle_next;
    conn *prev;
    conn *next;
    char read_buffer[READ_BUFFER_BYTES];
};

enum slot { SLOT_NONE, SLOT_RETRY_AFTER, SLOT_CONTENT_TYPE, SLOT_SET_COOKIE };

struct preq {
    uv_timer_t timer;
    http_plain *plain;
    host_pool *pool;
    conn *conn;
    http_client_done_fn done;
    void *user;
    long connect_ms;
    uint64_t deadline;
    long timeout_ms;
    char *early_error; /* delivered by the timer: failures found before anything was sent */
    bool retried;
    bool got_bytes;
    bool complete;
    bool keep_alive;
    bool finished;
    /* response */
    long status;
    size_t body_limit; /* max_response_bytes, or the 1 MiB default */
    bool truncated;
    text body;
    text retry_after;
    text content_type;
    text set_cookie;
    char header_name[HEADER_NAME_MAX];
    size_t header_name_len;
    bool in_value;
    enum slot slot;
    preq *wait_next;
    preq *prev;
    preq *next;
    char url_for_errors[256]; /* scheme, host, port and path, no query: for error texts */
    size_t header_bytes;      /* prefix of out holding headers: wiped, it may hold a secret */
    size_t out_len;
    size_t out_cap;
    char out[]; /* request line, headers, body */
};

static void conn_close(conn *c);
static void conn_start_request(conn *c, preq *r);
static void pool_dispatch(host_pool *pool, preq *r);
static void request_finish(preq *r, const char *error, bool timed_out);
static void on_request_timer(uv_timer_t *timer);

/* ---------- small helpers ---------- */

static bool text_append(text *t, const char *data, size_t len, size_t limit)
{
    if (t->len >= limit)
        return true;
    if (len > limit - t->len)
        len = limit - t->len; /* beyond the cap the rest is read and dropped */
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + len + 1)
            cap *= 2;
        char *grown = realloc(t->data, cap);
        if (!grown)
            return false;
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, data, len);
    t->len += len;
    t->data[t->len] = '\0';
    return true;
}

static void text_reset(text *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}

static char *put(char *out, const char *s, size_t len)
{
    memcpy(out, s, len);
    return out + len;
}

static const char base64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes "username:password" straight into out; returns the end. */
static char *put_basic_credentials(char *out, const char *username, const char *password)
{
    size_t ulen = strlen(username), plen = strlen(password);
    size_t total = ulen + 1 + plen;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < total; i++) {
        unsigned char ch = i < ulen ? (unsigned char)username[i]
                                    : (i == ulen ? ':' : (unsigned char)password[i - ulen - 1]);
        acc = (acc << 8) | ch;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            *out++ = base64_chars[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        *out++ = base64_chars[(acc << (6 - bits)) & 63];
    while (total % 3 != 0) {
        *out++ = '=';
        total++;
    }
    return out;
}

static size_t base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

static void maybe_free_client(http_plain *plain)
{
    if (!plain->closing || plain->pending != 0)
        return;
    while (plain->spare) {
        preq *r = plain->spare;
        plain->spare = r->next;
        free(r);
    }
    free(plain->last_url);
    free(plain);
}

/* ---------- URL ---------- */

static bool url_parse(const char *url, url_parts *p)
{
    if (!url || strncasecmp(url, "http://", 7) != 0)
        return false;
    p->url = url;
    http_parser_url_init(&p->u);
    if (http_parser_parse_url(url, strlen(url), 0, &p->u) != 0)
        return false;
    if (!(p->u.field_set & (1 << UF_HOST)) || (p->u.field_set & (1 << UF_USERINFO)))
        return false;
    p->port = (p->u.field_set & (1 << UF_PORT)) ? p->u.port : 80;
    return p->port != 0;
}

static bool method_is_token(const char *method)
{
    if (!*method)
        return false;
    for (const char *m = method; *m; m++)
        if (*m <= ' ' || *m >= 127)
            return false;
    return true;
}

bool http_plain_supports(const http_client_request *request)
{
    url_parts p;
    const char *method = request->method ? request->method : "GET";
    return url_parse(request->url, &p) && strcmp(method, "HEAD") != 0 && method_is_token(method);
}

/* ---------- pools and DNS ---------- */

static host_pool *pool_find(http_plain *plain, const char *key, size_t key_len)
{
    for (host_pool *pool = plain->pools; pool; pool = pool->next)
        if (strlen(pool->key) == key_len && memcmp(pool->key, key, key_len) == 0)
            return pool;
    return NULL;
}

static host_pool *pool_get(http_plain *plain, const url_parts *p)
{
    /* The pool key is the Host header: host, and the port unless it is 80. */
    char key[300];
    size_t host_len = p->u.field_data[UF_HOST].len;
    const char *host = p->url + p->u.field_data[UF_HOST].off;
    bool ipv6 = memchr(host, ':', host_len) != NULL;
    if (host_len + 16 > sizeof key)
        return NULL;
    size_t key_len = (size_t)snprintf(key, sizeof key, "%s%.*s%s", ipv6 ? "[" : "", (int)host_len,
                                      host, ipv6 ? "]" : "");
    if (p->port != 80)
        key_len += (size_t)snprintf(key + key_len, sizeof key - key_len, ":%u", (unsigned)p->port);
    host_pool *pool = pool_find(plain, key, key_len);
    if (pool)
        return pool;
    pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->plain = plain;
    pool->key = strndup(key, key_len);
    pool->key_len = key_len;
    pool->host = strndup(p->url + p->u.field_data[UF_HOST].off, p->u.field_data[UF_HOST].len);
    snprintf(pool->port, sizeof pool->port, "%u", (unsigned)p->port);
    if (!pool->key || !pool->host) {
        free(pool->key);
        free(pool->host);
        free(pool);
        return NULL;
    }
    /* Numeric addresses need no lookup. */
    struct sockaddr_in *v4 = (struct sockaddr_in *)&pool->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&pool->addr;
    if (uv_ip4_addr(pool->host, p->port, v4) == 0 || uv_ip6_addr(pool->host, p->port, v6) == 0)
        pool->resolved = true;
    pool->next = plain->pools;
    plain->pools = pool;
    return pool;
}

static void pool_free(host_pool *pool)
{
    free(pool->key);
    free(pool->host);
    free(pool->dns_error);
    free(pool);
}

static void on_resolved(uv_getaddrinfo_t *lookup, int status, struct addrinfo *res)
{
    host_pool *pool = lookup->data;
    http_plain *plain = pool->plain;
    plain->pending--;
    pool->resolving = false;
    if (plain->closing) {
        uv_freeaddrinfo(res);
        pool_free(pool);
        maybe_free_client(plain);
        return;
    }
    struct addrinfo *pick = NULL;
    for (struct addrinfo *ai = res; status == 0 && ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) { /* test peers listen on 127.0.0.1 */
            pick = ai;
            break;
        }
        if (!pick && ai->ai_family == AF_INET6)
            pick = ai;
    }
    if (pick) {
        memcpy(&pool->addr, pick->ai_addr, pick->ai_addrlen);
        pool->resolved = true;
    }
    uv_freeaddrinfo(res);
    preq *waiting = pool->waiting;
    pool->waiting = NULL;
    while (waiting) {
        preq *r = waiting;
        waiting = r->wait_next;
        r->wait_next = NULL;
        if (pick) {
            pool_dispatch(pool, r);
        } else {
            char error[400];
            snprintf(error, sizeof error, "Could not resolve host %s (%s): %s", pool->host,
                     r->url_for_errors, status ? uv_strerror(status) : "no address");
            request_finish(r, error, false);
        }
    }
}

static void pool_unwait(host_pool *pool, preq *r)
{
    for (preq **p = &pool->waiting; *p; p = &(*p)->wait_next) {
        if (*p == r) {
            *p = r->wait_next;
            r->wait_next = NULL;
            return;
        }
    }
}

/* ---------- connections ---------- */

static void on_conn_closed(uv_handle_t *handle)
{
    conn *c = (conn *)handle;
    http_plain *plain = c->plain;
    free(c);
    plain->pending--;
    maybe_free_client(plain);
}

static void idle_remove(conn *c)
{
    if (!c->idle)
        return;
    host_pool *pool = c->pool;
    for (conn **p = &pool->idle; *p; p = &(*p)->idle_next) {
        if (*p == c) {
            *p = c->idle_next;
            break;
        }
    }
    c->idle_next = NULL;
    c->idle = false;
    pool->idle_count--;
}

static void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    idle_remove(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->plain->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->req = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static conn *conn_new(http_plain *plain, host_pool *pool)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (uv_tcp_init(plain->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    plain->pending++;
    c->plain = plain;
    c->pool = pool;
    c->next = plain->conns;
    if (plain->conns)
        plain->conns->prev = c;
    plain->conns = c;
    uv_tcp_nodelay(&c->tcp, 1);
    return c;
}

/* The connection broke (or was refused) while serving r. */
static void conn_failed(conn *c, int status, const char *what)
{
    preq *r = c->req;
    bool was_reused = c->served > 0;
    conn_close(c);
    if (!r)
        return;
    r->conn = NULL;
    if (was_reused && !r->got_bytes && !r->retried && !r->plain->closing) {
        /* A kept-alive connection the server had closed: nothing was answered, send it again. */
        r->retried = true;
        conn *fresh = conn_new(r->plain, r->pool);
        if (fresh) {
            conn_start_request(fresh, r);
            return;
        }
    }
    char error[400];
    snprintf(error, sizeof error, "%s %s: %s", what, r->url_for_errors, uv_strerror(status));
    request_finish(r, error, false);
}

static void on_write(uv_write_t *write, int status)
{
    conn *c = write->data;
    c->writing = false;
    if (c->closing || status == 0)
        return;
    conn_failed(c, status, "Failed to send the request to");
}

/* Fails r from its timer, in a later loop turn: this runs inside http_plain_send too, where done
 * must not be called. */
static void request_fail_soon(preq *r, const char *what, int status)
{
    if (r->conn) {
        conn *c = r->conn;
        r->conn = NULL;
        conn_close(c);
    }
    char error[400];
    snprintf(error, sizeof error, "%s %s: %s", what, r->url_for_errors,
             status ? uv_strerror(status) : "out of memory");
    free(r->early_error);
    r->early_error = strdup(error);
    uv_timer_start(&r->timer, on_request_timer, 0, 0);
}

/* Writes at once when the socket takes it all (the usual case): a uv_write that completes
 * still costs an epoll_ctl per request when libuv stops watching for writability. */
static void request_write(conn *c, preq *r)
{
    uv_buf_t buf = uv_buf_init(r->out, (unsigned)r->out_len);
    int written = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (written == (int)r->out_len)
        return;
    if (written > 0) {
        buf.base += written;
        buf.len -= (size_t)written;
    }
    /* On EAGAIN the rest waits for writability; on an error uv_write reports it in on_write. */
    c->write_req.data = c;
    c->writing = true;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (rc != 0) {
        c->writing = false;
        request_fail_soon(r, "Failed to send the request to", rc);
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn *c = (conn *)handle;
    *buf = uv_buf_init(c->read_buffer, sizeof c->read_buffer);
}

static const http_parser_settings parser_settings;

/* The final response arrived: give the connection back (or close it) and answer. */
static void conn_response_done(conn *c, bool leftover)
{
    preq *r = c->req;
    c->req = NULL;
    r->conn = NULL;
    c->served++;
    host_pool *pool = c->pool;
    bool reusable = r->keep_alive && !leftover && !c->writing && !c->plain->closing &&
                    pool->idle_count < MAX_IDLE_PER_HOST;
    if (reusable) {
        c->idle = true;
        c->idle_next = pool->idle;
        pool->idle = c;
        pool->idle_count++;
    } else {
        conn_close(c);
    }
    request_finish(r, NULL, false);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = (conn *)stream;
    if (c->closing || nread == 0)
        return;
    preq *r = c->req;
    if (!r) {
        conn_close(c); /* an idle connection closed by the server, or unexpected bytes */
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF && r->got_bytes) {
            /* A response without a length ends with the connection. */
            http_parser_execute(&c->parser, &parser_settings, NULL, 0);
            if (r->complete) {
                r->keep_alive = false;
                conn_response_done(c, false);
                return;
            }
        }
        conn_failed(c, (int)nread,
                    r->got_bytes ? "Connection closed before the response was complete from"
                                 : "Empty reply from");
        return;
    }
    r->got_bytes = true;
    size_t parsed = http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)nread);
    if (r->complete) {
        conn_response_done(c, parsed < (size_t)nread);
        return;
    }
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
    if (err != HPE_OK) {
        preq *failed = r;
        conn_close(c);
        failed->conn = NULL;
        char error[400];
        snprintf(error, sizeof error, "Invalid HTTP response from %s: %s", failed->url_for_errors,
                 http_errno_description(err));
        request_finish(failed, error, false);
    }
}

static void request_arm_timer(preq *r, uint64_t deadline);

static void conn_send(conn *c, preq *r)
{
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    request_write(c, r);
}

static void on_connect(uv_connect_t *connect, int status)
{
    conn *c = connect->data;
    if (c->closing)
        return;
    if (status != 0) {
        conn_failed(c, status, "Failed to connect to");
        return;
    }
    c->connected = true;
    preq *r = c->req;
    request_arm_timer(r, r->deadline);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        conn_failed(c, rc, "Failed to connect to");
        return;
    }
    conn_send(c, r);
}

/* Binds r to c; a fresh connection connects first. */
static void conn_start_request(conn *c, preq *r)
{
    c->req = r;
    r->conn = c;
    r->got_bytes = false;
    r->complete = false;
    if (c->connected) {
        conn_send(c, r);
        return;
    }
    uint64_t connect_deadline = uv_now(r->plain->loop) + (uint64_t)r->connect_ms;
    request_arm_timer(r, connect_deadline < r->deadline ? connect_deadline : r->deadline);
    c->connect_req.data = c;
    int rc =
        uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&c->pool->addr, on_connect);
    if (rc != 0)
        request_fail_soon(r, "Failed to connect to", rc);
}

static void pool_dispatch(host_pool *pool, preq *r)
{
    conn *c = pool->idle;
    if (c) {
        idle_remove(c);
        conn_start_request(c, r);
        return;
    }
    c = conn_new(pool->plain, pool);
    if (!c) {
        request_fail_soon(r, "Could not open a connection to", 0);
        return;
    }
    conn_start_request(c, r);
}

/* ---------- response parsing ---------- */

static void response_reset(preq *r)
{
    r->body.len = 0;
    r->truncated = false;
    if (r->body.data)
        r->body.data[0] = '\0';
    text_reset(&r->retry_after);
    text_reset(&r->content_type);
    text_reset(&r->set_cookie);
    r->header_name_len = 0;
    r->in_value = false;
    r->slot = SLOT_NONE;
}

static int on_message_begin(http_parser *parser)
{
    conn *c = parser->data;
    response_reset(c->req);
    return 0;
}

static int on_header_field(http_parser *parser, const char *at, size_t len)
{
    preq *r = ((conn *)parser->data)->req;
    if (r->in_value) {
        r->in_value = false;
        r->header_name_len = 0;
    }
    if (r->header_name_len + len < HEADER_NAME_MAX)
        memcpy(r->header_name + r->header_name_len, at, len);
    r->header_name_len += len; /* too long: matches nothing below */
    return 0;
}

static bool name_is(const preq *r, const char *name)
{
    size_t len = strlen(name);
    return r->header_name_len == len && strncasecmp(r->header_name, name, len) == 0;
}

static int on_header_value(http_parser *parser, const char *at, size_t len)
{
    preq *r = ((conn *)parser->data)->req;
    if (!r->in_value) {
        r->in_value = true;
        r->slot = SLOT_NONE;
        if (name_is(r, "Retry-After")) {
            r->slot = SLOT_RETRY_AFTER;
            text_reset(&r->retry_after);
        } else if (name_is(r, "Content-Type")) {
            r->slot = SLOT_CONTENT_TYPE;
            text_reset(&r->content_type);
        } else if (name_is(r, "Set-Cookie")) {
            r->slot = SLOT_SET_COOKIE;
            if (r->set_cookie.len && !text_append(&r->set_cookie, "\n", 1, SIZE_MAX))
                return -1;
        }
        /* An empty value still yields an empty string, as curl's header callback would. */
        text *slot = r->slot == SLOT_RETRY_AFTER    ? &r->retry_after
                     : r->slot == SLOT_CONTENT_TYPE ? &r->content_type
                     : r->slot == SLOT_SET_COOKIE   ? &r->set_cookie
                                                    : NULL;
        if (slot && !text_append(slot, "", 0, SIZE_MAX))
            return -1;
    }
    text *slot = r->slot == SLOT_RETRY_AFTER    ? &r->retry_after
                 : r->slot == SLOT_CONTENT_TYPE ? &r->content_type
                 : r->slot == SLOT_SET_COOKIE   ? &r->set_cookie
                                                : NULL;
    if (slot && !text_append(slot, at, len, SIZE_MAX))
        return -1;
    return 0;
}

static int on_body(http_parser *parser, const char *at, size_t len)
{
    preq *r = ((conn *)parser->data)->req;
    if (r->body.len + len > r->body_limit)
        r->truncated = true;
    return text_append(&r->body, at, len, r->body_limit) ? 0 : -1;
}

static int on_message_complete(http_parser *parser)
{
    preq *r = ((conn *)parser->data)->req;
    if (parser->status_code >= 100 && parser->status_code < 200 && parser->status_code != 101)
        return 0; /* an interim response: the final one follows */
    r->complete = true;
    r->status = parser->status_code;
    r->keep_alive = http_should_keep_alive(parser);
    http_parser_pause(parser, 1); /* anything after the response makes the connection unusable */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---------- requests ---------- */

static void on_request_closed(uv_handle_t *handle)
{
    preq *r = (preq *)handle;
    http_plain *plain = r->plain;
    if (!plain->closing && plain->spare_count < MAX_SPARE_REQUESTS &&
        r->out_cap <= MAX_SPARE_BYTES) {
        r->next = plain->spare;
        plain->spare = r;
        plain->spare_count++;
    } else {
        free(r);
    }
    plain->pending--;
    maybe_free_client(plain);
}

static void active_remove(preq *r)
{
    http_plain *plain = r->plain;
    if (r->prev)
        r->prev->next = r->next;
    else
        plain->active = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* Answers once; the request must not be bound to a connection any more unless it failed, in
 * which case that connection is closed (it is mid-request). */
static void request_finish(preq *r, const char *error, bool timed_out)
{
    if (r->finished)
        return;
    r->finished = true;
    uv_timer_stop(&r->timer);
    if (r->conn) {
        conn *c = r->conn;
        r->conn = NULL;
        conn_close(c);
    }
    if (r->pool && !r->pool->resolved)
        pool_unwait(r->pool, r);
    active_remove(r);
    r->plain->in_flight--;
    http_client_response response = {0};
    if (error) {
        response.error = error;
        response.timed_out = timed_out;
    } else {
        response.status = r->status;
        response.body = r->body.data ? r->body.data : "";
        response.body_len = r->body.len;
        response.truncated = r->truncated;
        response.retry_after = r->retry_after.data;
        response.content_type = r->content_type.data;
        response.set_cookie = r->set_cookie.data;
    }
    r->done(r->user, &response);
    memset(r->out, 0, r->header_bytes); /* may hold credentials */
    text_reset(&r->body);
    text_reset(&r->retry_after);
    text_reset(&r->content_type);
    text_reset(&r->set_cookie);
    free(r->early_error);
    r->early_error = NULL;
    uv_close((uv_handle_t *)&r->timer, on_request_closed);
}

static void on_request_timer(uv_timer_t *timer)
{
    preq *r = (preq *)timer;
    if (r->early_error) {
        request_finish(r, r->early_error, false);
        return;
    }
    char error[400];
    if (r->conn && !r->conn->connected && uv_now(r->plain->loop) < r->deadline)
        snprintf(error, sizeof error, "Connection timed out connecting to %s", r->url_for_errors);
    else
        snprintf(error, sizeof error, "Operation timed out after %ld milliseconds (%s)",
                 r->timeout_ms, r->url_for_errors);
    request_finish(r, error, true);
}

static void request_arm_timer(preq *r, uint64_t deadline)
{
    uint64_t now = uv_now(r->plain->loop);
    uv_timer_start(&r->timer, on_request_timer, deadline > now ? deadline - now : 0, 0);
}

static bool header_is(const http_header *h, const char *name)
{
    return strcasecmp(h->name, name) == 0;
}

/* Lays out the request line, headers and body; returns the request or NULL without memory. */
static preq *request_alloc(http_plain *plain, size_t total)
{
    preq *r = plain->spare;
    if (r) {
        plain->spare = r->next;
        plain->spare_count--;
        if (r->out_cap >= total)
            return r;
        free(r);
    }
    size_t cap = total < MIN_REQUEST_BYTES ? MIN_REQUEST_BYTES : total;
    r = malloc(sizeof *r + cap);
    if (r)
        r->out_cap = cap;
    return r;
}

static preq *request_build(http_plain *plain, const http_client_request *req, const url_parts *p,
                           const char *key, size_t key_len)
{
    const char *method = req->method ? req->method : "GET";
    bool with_body = req->body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
    const struct http_parser_url *u = &p->u;
    size_t path_off = u->field_data[UF_PATH].off, path_len = u->field_data[UF_PATH].len;
    if (!(u->field_set & (1 << UF_PATH)))
        path_len = 0;
    size_t query_off = u->field_data[UF_QUERY].off, query_len = u->field_data[UF_QUERY].len;
    bool has_query = u->field_set & (1 << UF_QUERY);
    bool user_host = false;
    size_t need = strlen(method) + 1 + (path_len ? path_len : 1) + (has_query ? query_len + 1 : 0) +
                  sizeof " HTTP/1.1\r\n" - 1;
    need += sizeof "Host: \r\n" - 1 + key_len;
    for (size_t i = 0; i < req->header_count; i++) {
        user_host = user_host || header_is(&req->headers[i], "Host");
        need += strlen(req->headers[i].name) + 2 + strlen(req->headers[i].value) + 2;
    }
    need += sizeof "Accept: */*\r\n" - 1;
    if (req->username)
        need += sizeof "Authorization: Basic \r\n" - 1 +
                base64_len(strlen(req->username) + 1 + (req->password ? strlen(req->password) : 0));
    if (req->bearer_token)
        need += sizeof "Authorization: Bearer \r\n" - 1 + strlen(req->bearer_token);
    need += sizeof "Content-Length: 18446744073709551615\r\n" - 1 + 2;
    size_t total = need + (with_body ? req->body_len : 0);

    preq *r = request_alloc(plain, total);
    if (!r)
        return NULL;
    size_t out_cap = r->out_cap;
    memset(r, 0, sizeof *r);
    r->out_cap = out_cap;
    char *out = r->out;
    out = put(out, method, strlen(method));
    *out++ = ' ';
    out = path_len ? put(out, p->url + path_off, path_len) : put(out, "/", 1);
    if (has_query) {
        *out++ = '?';
        out = put(out, p->url + query_off, query_len);
    }
    out = put(out, " HTTP/1.1\r\n", 11);
    if (!user_host) {
        out = put(out, "Host: ", 6);
        out = put(out, key, key_len);
        out = put(out, "\r\n", 2);
    }
    bool user_accept = false;
    for (size_t i = 0; i < req->header_count; i++) {
        const http_header *h = &req->headers[i];
        if (header_is(h, "Content-Length") || header_is(h, "Expect") ||
            header_is(h, "Transfer-Encoding"))
            continue; /* we frame the body ourselves and never wait for 100-continue */
        user_accept = user_accept || header_is(h, "Accept");
        out = put(out, h->name, strlen(h->name));
        out = put(out, ": ", 2);
        out = put(out, h->value, strlen(h->value));
        out = put(out, "\r\n", 2);
    }
    if (!user_accept)
        out = put(out, "Accept: */*\r\n", 13);
    if (req->username) {
        out = put(out, "Authorization: Basic ", 21);
        out = put_basic_credentials(out, req->username, req->password ? req->password : "");
        out = put(out, "\r\n", 2);
    }
    if (req->bearer_token) {
        out = put(out, "Authorization: Bearer ", 22);
        out = put(out, req->bearer_token, strlen(req->bearer_token));
        out = put(out, "\r\n", 2);
    }
    if (with_body) {
        char digits[24];
        size_t n = sizeof digits;
        size_t v = req->body_len;
        do {
            digits[--n] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        out = put(out, "Content-Length: ", 16);
        out = put(out, digits + n, sizeof digits - n);
        out = put(out, "\r\n", 2);
    }
    out = put(out, "\r\n", 2);
    r->header_bytes = (size_t)(out - r->out);
    if (with_body && req->body_len)
        out = put(out, req->body, req->body_len);
    r->out_len = (size_t)(out - r->out);

    /* Errors name the URL without its query (which might carry something private). */
    size_t shown = has_query ? query_off - 1 : strlen(p->url);
    if (u->field_set & (1 << UF_FRAGMENT) && !has_query)
        shown = u->field_data[UF_FRAGMENT].off - 1;
    if (shown >= sizeof r->url_for_errors)
        shown = sizeof r->url_for_errors - 1;
    memcpy(r->url_for_errors, p->url, shown);
    r->url_for_errors[shown] = '\0';
    return r;
}

/* ---------- public ---------- */

http_plain *http_plain_new(uv_loop_t *loop)
{
    http_plain *plain = calloc(1, sizeof *plain);
    if (plain)
        plain->loop = loop;
    return plain;
}

int http_plain_send(http_plain *plain, const http_client_request *request, http_client_done_fn done,
                    void *user)
{
    if (!plain || plain->closing || !done || !request->url)
        return -1;
    /* A processor sends to the same URL again and again: its parse and pool are remembered. */
    if (!plain->last_url || strcmp(plain->last_url, request->url) != 0) {
        url_parts p;
        if (!url_parse(request->url, &p))
            return -1;
        host_pool *pool = pool_get(plain, &p);
        char *copy = strdup(request->url);
        if (!pool || !copy) {
            free(copy);
            return -1;
        }
        free(plain->last_url);
        plain->last_url = copy;
        plain->last_parts = p;
        plain->last_parts.url = copy;
        plain->last_pool = pool;
    }
    host_pool *pool = plain->last_pool;
    preq *r = request_build(plain, request, &plain->last_parts, pool->key, pool->key_len);
    if (!r)
        return -1;
    r->plain = plain;
    r->done = done;
    r->user = user;
    uv_timer_init(plain->loop, &r->timer);
    plain->pending++;
    r->next = plain->active;
    if (plain->active)
        plain->active->prev = r;
    plain->active = r;
    plain->in_flight++;
    uint64_t now = uv_now(plain->loop);
    r->timeout_ms = request->timeout_ms > 0 ? request->timeout_ms : DEFAULT_TIMEOUT_MS;
    r->connect_ms =
        request->connect_timeout_ms > 0 ? request->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    r->deadline = now + (uint64_t)r->timeout_ms;
    r->body_limit = request->max_response_bytes ? request->max_response_bytes : RESPONSE_BODY_CAP;
    request_arm_timer(r, r->deadline);

    r->pool = pool;
    if (pool->resolved) {
        pool_dispatch(pool, r);
        return 0;
    }
    r->wait_next = pool->waiting;
    pool->waiting = r;
    if (!pool->resolving) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        pool->lookup.data = pool;
        if (uv_getaddrinfo(plain->loop, &pool->lookup, on_resolved, pool->host, pool->port,
                           &hints) == 0) {
            pool->resolving = true;
            plain->pending++;
        } else {
            pool_unwait(pool, r);
            r->early_error = strdup("Could not start resolving the host");
            uv_timer_start(&r->timer, on_request_timer, 0, 0);
        }
    }
    return 0;
}

size_t http_plain_in_flight(const http_plain *plain)
{
    return plain ? plain->in_flight : 0;
}

void http_plain_close(http_plain *plain)
{
    if (!plain || plain->closing)
        return;
    plain->closing = true;
    plain->pending++; /* keeps the client alive while callbacks below run */
    while (plain->active)
        request_finish(plain->active, "client closed", false);
    while (plain->conns)
        conn_close(plain->conns);
    host_pool *pool = plain->pools;
    plain->pools = NULL;
    while (pool) {
        host_pool *next = pool->next;
        if (pool->resolving)
            uv_cancel((uv_req_t *)&pool->lookup); /* on_resolved frees it */
        else
            pool_free(pool);
        pool = next;
    }
    plain->pending--;
    maybe_free_client(plain);
}
