#include "http/http_server.h"

#include "log.h"

#include <http_parser.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Limits that keep one connection's memory small and bounded whatever a client sends. The
 * parser itself caps the header block (HTTP_MAX_HEADER_SIZE, 80 KiB). */
#define MAX_HEADERS 100
/* Stop reading from a client that pipelines faster than it reads its answers. */
#define WRITE_QUEUE_HIGH_WATER (1024 * 1024)
/* Idle keep-alive connections and half-closed ones are reaped by the sweep timer. */
#define DEFAULT_IDLE_TIMEOUT_MS 120000
#define MAX_LINGER_MS 2000
#define MAX_SWEEP_INTERVAL_MS 1000
/* Buffers above this are freed after their request instead of being kept for the next one. */
#define KEEP_BUFFER_BYTES 4096
#define READ_BUFFER_SIZE 65536

typedef struct connection connection;

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweeper;
    size_t max_body_bytes;
    uint64_t idle_timeout_ms;
    http_handler_fn handler;
    void *user;
    connection *connections; /* doubly linked list of open connections */
    int open_handles;        /* listener + sweeper + connections not yet closed */
    bool closing;
    /* Shared by all connections: a read is parsed completely before the next one is allocated. */
    char read_buffer[READ_BUFFER_SIZE];
};

typedef enum { PARSE_NONE, PARSE_URL, PARSE_FIELD, PARSE_VALUE } parse_state;

struct connection {
    uv_tcp_t tcp;
    http_parser parser;
    http_server *server;
    connection *prev, *next;

    /* The request being parsed: URL and header strings, NUL-separated, addressed by offset
     * because the buffer may move when it grows. */
    char *text;
    size_t text_len, text_cap;
    size_t url_offset;
    size_t name_offsets[MAX_HEADERS];
    size_t value_offsets[MAX_HEADERS];
    size_t header_count;
    parse_state state;
    char *body;
    size_t body_len, body_cap;

    int error_status; /* set by a callback that refuses the request (413, 400) */
    bool closing;     /* no more requests: answer the last one, then close */
    bool shut_down;   /* our side is shut; waiting for the peer's EOF or the linger timeout */
    bool reading;
    bool handle_closed;
    uint64_t deadline; /* uv_now() after which the sweeper closes the connection */
};

typedef struct write_request {
    uv_write_t req;
    connection *conn;
    bool last; /* shut the connection down when this one is written */
    size_t len;
    char bytes[];
} write_request;

static void connection_close(connection *conn);
static void start_reading(connection *conn);

const char *http_request_header(const http_request *request, const char *name)
{
    for (size_t i = 0; i < request->header_count; i++)
        if (strcasecmp(request->header_names[i], name) == 0)
            return request->header_values[i];
    return NULL;
}

static const char *status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

static uint64_t linger_ms(const http_server *server)
{
    return server->idle_timeout_ms < MAX_LINGER_MS ? server->idle_timeout_ms : MAX_LINGER_MS;
}

/* ---- handle lifetime ---- */

static void server_handle_closed(http_server *server)
{
    if (--server->open_handles == 0)
        free(server);
}

static void server_handle_close_cb(uv_handle_t *handle)
{
    server_handle_closed(handle->data);
}

static void connection_free_request(connection *conn)
{
    free(conn->text);
    free(conn->body);
    conn->text = conn->body = NULL;
    conn->text_cap = conn->body_cap = 0;
}

static void connection_close_cb(uv_handle_t *handle)
{
    connection *conn = handle->data;
    http_server *server = conn->server;
    connection_free_request(conn);
    free(conn);
    server_handle_closed(server);
}

static void connection_close(connection *conn)
{
    if (conn->handle_closed)
        return;
    conn->handle_closed = true;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        conn->server->connections = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    uv_close((uv_handle_t *)&conn->tcp, connection_close_cb);
}

/* Half-close instead of close: closing a socket with unread input makes the kernel send a reset
 * that can destroy the answer (a 413 for an unread body) before the client reads it. */
static void shutdown_cb(uv_shutdown_t *req, int status)
{
    connection *conn = req->data;
    free(req);
    if (status < 0 || conn->handle_closed) {
        connection_close(conn);
        return;
    }
    conn->deadline = uv_now(conn->server->loop) + linger_ms(conn->server);
    start_reading(conn);
}

static void connection_shutdown(connection *conn)
{
    if (conn->shut_down || conn->handle_closed)
        return;
    conn->shut_down = true;
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req) {
        connection_close(conn);
        return;
    }
    req->data = conn;
    if (uv_shutdown(req, (uv_stream_t *)&conn->tcp, shutdown_cb) < 0) {
        free(req);
        connection_close(conn);
    }
}

/* ---- writing ---- */

static void write_cb(uv_write_t *req, int status)
{
    write_request *w = (write_request *)req;
    connection *conn = w->conn;
    bool last = w->last;
    free(w);
    if (conn->handle_closed)
        return;
    if (status < 0) {
        connection_close(conn);
        return;
    }
    if (last) {
        connection_shutdown(conn);
        return;
    }
    if (!conn->reading && !conn->closing &&
        uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp) < WRITE_QUEUE_HIGH_WATER / 2)
        start_reading(conn);
}

static void send_bytes(connection *conn, write_request *w)
{
    w->conn = conn;
    uv_buf_t buf = uv_buf_init(w->bytes, (unsigned int)w->len);
    /* Most answers fit the socket buffer at once: writing them directly saves the poll round
     * (an epoll_ctl per request) that a queued uv_write costs. The last answer of a connection
     * still goes through uv_write, whose callback shuts the connection down. */
    if (!w->last) {
        int written = uv_try_write((uv_stream_t *)&conn->tcp, &buf, 1);
        if (written == (int)w->len) {
            free(w);
            return;
        }
        if (written > 0) {
            buf.base += written;
            buf.len -= (unsigned int)written;
        }
    }
    if (uv_write(&w->req, (uv_stream_t *)&conn->tcp, &buf, 1, write_cb) < 0) {
        free(w);
        connection_close(conn);
    }
}

/* A HEAD answer carries the headers of the GET answer, Content-Length included, but no body. */
static void send_response(connection *conn, const http_response *response, bool last,
                          bool head_only)
{
    const char *content_type = response->content_type;
    const char *extra = response->extra_headers ? response->extra_headers : "";
    size_t body_len = response->body ? response->body_len : 0;
    char head[256];
    int head_len =
        snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s", response->status,
                 status_text(response->status), body_len, last ? "Connection: close\r\n" : "");
    size_t type_len = content_type ? strlen(content_type) + strlen("Content-Type: \r\n") : 0;
    size_t extra_len = strlen(extra);
    size_t sent_body_len = head_only ? 0 : body_len;
    size_t total = (size_t)head_len + type_len + extra_len + 2 + sent_body_len;
    write_request *w = malloc(sizeof *w + total + 1);
    if (!w) {
        connection_close(conn);
        return;
    }
    w->last = last;
    char *p = w->bytes;
    memcpy(p, head, (size_t)head_len);
    p += head_len;
    if (content_type)
        p += sprintf(p, "Content-Type: %s\r\n", content_type);
    memcpy(p, extra, extra_len);
    p += extra_len;
    memcpy(p, "\r\n", 2);
    p += 2;
    if (sent_body_len)
        memcpy(p, response->body, sent_body_len);
    w->len = total;
    send_bytes(conn, w);
}

static void send_error(connection *conn, int status)
{
    char body[64];
    int len = snprintf(body, sizeof body, "{\"error\": \"%s\"}", status_text(status));
    http_response response = {.status = status,
                              .content_type = "application/json",
                              .body = body,
                              .body_len = (size_t)len};
    send_response(conn, &response, true, false);
}

/* ---- parsing ---- */

static bool text_append(connection *conn, const char *data, size_t len)
{
    if (conn->text_len + len + 1 > conn->text_cap) {
        size_t cap = conn->text_cap ? conn->text_cap : 512;
        while (cap < conn->text_len + len + 1)
            cap *= 2;
        char *grown = realloc(conn->text, cap);
        if (!grown)
            return false;
        conn->text = grown;
        conn->text_cap = cap;
    }
    memcpy(conn->text + conn->text_len, data, len);
    conn->text_len += len;
    conn->text[conn->text_len] = '\0';
    return true;
}

/* Ends the string being collected (URL, name or value) so a new one can start. */
static bool text_terminate(connection *conn)
{
    if (!text_append(conn, "", 0))
        return false;
    conn->text_len++; /* keep the NUL that text_append wrote */
    return true;
}

static int on_message_begin(http_parser *parser)
{
    connection *conn = parser->data;
    conn->text_len = 0;
    conn->body_len = 0;
    conn->header_count = 0;
    conn->url_offset = 0;
    conn->state = PARSE_NONE;
    return 0;
}

static int on_url(http_parser *parser, const char *at, size_t len)
{
    connection *conn = parser->data;
    conn->state = PARSE_URL;
    return text_append(conn, at, len) ? 0 : -1;
}

static int on_header_field(http_parser *parser, const char *at, size_t len)
{
    connection *conn = parser->data;
    if (conn->state != PARSE_FIELD) {
        if (!text_terminate(conn))
            return -1;
        if (conn->header_count == MAX_HEADERS) {
            conn->error_status = 400;
            return -1;
        }
        conn->name_offsets[conn->header_count++] = conn->text_len;
        conn->state = PARSE_FIELD;
    }
    size_t start = conn->text_len;
    if (!text_append(conn, at, len))
        return -1;
    for (size_t i = start; i < conn->text_len; i++)
        if (conn->text[i] >= 'A' && conn->text[i] <= 'Z')
            conn->text[i] = (char)(conn->text[i] - 'A' + 'a');
    return 0;
}

static int on_header_value(http_parser *parser, const char *at, size_t len)
{
    connection *conn = parser->data;
    if (conn->state != PARSE_VALUE) {
        if (!text_terminate(conn))
            return -1;
        conn->value_offsets[conn->header_count - 1] = conn->text_len;
        conn->state = PARSE_VALUE;
    }
    return text_append(conn, at, len) ? 0 : -1;
}

static bool expects_continue(connection *conn)
{
    for (size_t i = 0; i < conn->header_count; i++)
        if (strcmp(conn->text + conn->name_offsets[i], "expect") == 0)
            return strcasecmp(conn->text + conn->value_offsets[i], "100-continue") == 0;
    return false;
}

static int on_headers_complete(http_parser *parser)
{
    connection *conn = parser->data;
    /* A name without a value (possible only with an empty value) still needs its slot. */
    if (conn->state == PARSE_FIELD) {
        if (!text_terminate(conn))
            return -1;
        conn->value_offsets[conn->header_count - 1] = conn->text_len;
    }
    if (conn->state == PARSE_NONE) {
        /* never reached: the parser requires a URL */
        conn->error_status = 400;
        return -1;
    }
    if (!text_terminate(conn))
        return -1;
    conn->state = PARSE_NONE;
    if ((parser->flags & F_CONTENTLENGTH) &&
        parser->content_length > conn->server->max_body_bytes) {
        conn->error_status = 413;
        return -1;
    }
    if (expects_continue(conn)) {
        static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";
        write_request *w = malloc(sizeof *w + sizeof continue_line);
        if (!w)
            return -1;
        w->last = false;
        w->len = sizeof continue_line - 1;
        memcpy(w->bytes, continue_line, w->len);
        send_bytes(conn, w);
    }
    return 0;
}

static int on_body(http_parser *parser, const char *at, size_t len)
{
    connection *conn = parser->data;
    if (len > conn->server->max_body_bytes - conn->body_len) {
        conn->error_status = 413;
        return -1;
    }
    if (conn->body_len + len > conn->body_cap) {
        size_t cap = conn->body_cap ? conn->body_cap : 1024;
        while (cap < conn->body_len + len)
            cap *= 2;
        if (parser->flags & F_CONTENTLENGTH && cap > conn->body_len + len + parser->content_length)
            cap = conn->body_len + len + parser->content_length;
        char *grown = realloc(conn->body, cap);
        if (!grown)
            return -1;
        conn->body = grown;
        conn->body_cap = cap;
    }
    memcpy(conn->body + conn->body_len, at, len);
    conn->body_len += len;
    return 0;
}

static void split_url(char *url, const char **path, const char **query)
{
    char *mark = strchr(url, '#');
    if (mark)
        *mark = '\0';
    mark = strchr(url, '?');
    if (mark) {
        *mark = '\0';
        *query = mark + 1;
    } else {
        *query = "";
    }
    /* An absolute-form target ("http://host/path") still names a path. */
    if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) {
        char *slash = strchr(strstr(url, "//") + 2, '/');
        url = slash ? slash : (char *)"/";
    }
    *path = url;
}

static int on_message_complete(http_parser *parser)
{
    connection *conn = parser->data;
    const char *names[MAX_HEADERS], *values[MAX_HEADERS];
    for (size_t i = 0; i < conn->header_count; i++) {
        names[i] = conn->text + conn->name_offsets[i];
        values[i] = conn->text + conn->value_offsets[i];
    }
    http_request request = {
        .method = http_method_str((enum http_method)parser->method),
        .header_names = names,
        .header_values = values,
        .header_count = conn->header_count,
        .body = conn->body ? conn->body : "",
        .body_len = conn->body_len,
    };
    split_url(conn->text + conn->url_offset, &request.path, &request.query);

    http_response response = {.status = 500};
    conn->server->handler(conn->server->user, &request, &response);
    /* After an Upgrade (or CONNECT) the bytes are no longer HTTP; we speak nothing else. */
    bool last = !http_should_keep_alive(parser) || parser->upgrade || conn->server->closing;
    send_response(conn, &response, last, parser->method == HTTP_HEAD);

    /* Do not let one large request pin its buffers for the life of a keep-alive connection. */
    if (conn->text_cap > KEEP_BUFFER_BYTES || conn->body_cap > KEEP_BUFFER_BYTES)
        connection_free_request(conn);
    if (last) {
        conn->closing = true;
        http_parser_pause(parser, 1); /* ignore anything pipelined after the last request */
    }
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading ---- */

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    connection *conn = handle->data;
    *buf = uv_buf_init(conn->server->read_buffer, READ_BUFFER_SIZE);
}

static void stop_reading(connection *conn)
{
    if (conn->reading)
        uv_read_stop((uv_stream_t *)&conn->tcp);
    conn->reading = false;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    connection *conn = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        /* On the peer's EOF, answers already queued are still written before our FIN. */
        if (conn->shut_down || nread != UV_EOF) {
            connection_close(conn);
            return;
        }
        stop_reading(conn);
        conn->closing = true;
        connection_shutdown(conn);
        return;
    }
    if (conn->shut_down || conn->closing)
        return; /* draining what the peer still sends after our last answer */
    conn->deadline = uv_now(conn->server->loop) + conn->server->idle_timeout_ms;
    size_t parsed = http_parser_execute(&conn->parser, &parser_settings, buf->base, (size_t)nread);
    enum http_errno err = HTTP_PARSER_ERRNO(&conn->parser);
    if (conn->closing) {
        stop_reading(conn);
        return;
    }
    if (err != HPE_OK || parsed != (size_t)nread) {
        conn->closing = true;
        send_error(conn, conn->error_status ? conn->error_status : 400);
        return;
    }
    if (uv_stream_get_write_queue_size(stream) > WRITE_QUEUE_HIGH_WATER)
        stop_reading(conn);
}

static void start_reading(connection *conn)
{
    if (conn->reading || conn->handle_closed)
        return;
    if (uv_read_start((uv_stream_t *)&conn->tcp, alloc_cb, read_cb) < 0) {
        connection_close(conn);
        return;
    }
    conn->reading = true;
}

/* ---- accepting ---- */

static void on_connection(uv_stream_t *listener, int status)
{
    http_server *server = listener->data;
    if (status < 0 || server->closing)
        return;
    connection *conn = calloc(1, sizeof *conn);
    if (!conn)
        return;
    conn->server = server;
    uv_tcp_init(server->loop, &conn->tcp);
    conn->tcp.data = conn;
    server->open_handles++;
    conn->next = server->connections;
    if (conn->next)
        conn->next->prev = conn;
    server->connections = conn;
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) < 0) {
        connection_close(conn);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    http_parser_init(&conn->parser, HTTP_REQUEST);
    conn->parser.data = conn;
    conn->deadline = uv_now(server->loop) + server->idle_timeout_ms;
    start_reading(conn);
}

static void sweep(uv_timer_t *timer)
{
    http_server *server = timer->data;
    uint64_t now = uv_now(server->loop);
    connection *conn = server->connections;
    while (conn) {
        connection *next = conn->next;
        if (now >= conn->deadline)
            connection_close(conn);
        conn = next;
    }
}

/* "host:port", "[v6]:port" or ":port" (all interfaces). */
static int parse_bind_address(const char *bind_address, struct sockaddr_storage *addr, char *err,
                              size_t err_cap)
{
    char host[256];
    const char *colon = strrchr(bind_address, ':');
    if (!colon) {
        snprintf(err, err_cap, "bind address '%.100s' has no port (want host:port)", bind_address);
        return -1;
    }
    size_t host_len = (size_t)(colon - bind_address);
    const char *host_start = bind_address;
    bool bracketed = host_len >= 2 && bind_address[0] == '[' && colon[-1] == ']';
    if (bracketed) {
        host_start++;
        host_len -= 2;
    }
    if (host_len >= sizeof host) {
        snprintf(err, err_cap, "bind address host is too long");
        return -1;
    }
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
        snprintf(err, err_cap, "bind address '%.100s' has an invalid port", bind_address);
        return -1;
    }
    if (host_len == 0)
        strcpy(host, "0.0.0.0");
    else if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0 && !bracketed)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr) == 0)
        return 0;
    snprintf(err, err_cap, "bind address '%.100s' is not an IP address and port", bind_address);
    return -1;
}

http_server *http_server_start(uv_loop_t *loop, const char *bind_address, size_t max_body_bytes,
                               http_handler_fn handler, void *user, char *err, size_t err_cap)
{
    struct sockaddr_storage addr;
    if (parse_bind_address(bind_address, &addr, err, err_cap) < 0)
        return NULL;
    http_server *server = calloc(1, sizeof *server);
    if (!server) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    server->loop = loop;
    server->max_body_bytes = max_body_bytes;
    server->handler = handler;
    server->user = user;
    uv_tcp_init(loop, &server->listener);
    server->listener.data = server;
    server->open_handles = 1;
    int rc = uv_tcp_bind(&server->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server->listener, 511, on_connection);
    if (rc < 0) {
        snprintf(err, err_cap, "cannot listen on %.100s: %s", bind_address, uv_strerror(rc));
        uv_close((uv_handle_t *)&server->listener, server_handle_close_cb);
        return NULL;
    }
    uv_timer_init(loop, &server->sweeper);
    server->sweeper.data = server;
    server->open_handles++;
    server->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    uv_timer_start(&server->sweeper, sweep, MAX_SWEEP_INTERVAL_MS, MAX_SWEEP_INTERVAL_MS);
    uv_unref((uv_handle_t *)&server->sweeper);
    return server;
}

void http_server_set_idle_timeout(http_server *server, uint64_t idle_ms)
{
    server->idle_timeout_ms = idle_ms ? idle_ms : DEFAULT_IDLE_TIMEOUT_MS;
    /* Sweep often enough that a short timeout is honoured to within a quarter of itself. */
    uint64_t interval = server->idle_timeout_ms / 4;
    if (interval > MAX_SWEEP_INTERVAL_MS)
        interval = MAX_SWEEP_INTERVAL_MS;
    if (interval == 0)
        interval = 1;
    uv_timer_start(&server->sweeper, sweep, interval, interval);
    uv_unref((uv_handle_t *)&server->sweeper);
}

int http_server_port(const http_server *server)
{
    struct sockaddr_storage addr;
    int len = sizeof addr;
    if (uv_tcp_getsockname(&server->listener, (struct sockaddr *)&addr, &len) < 0)
        return -1;
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

void http_server_close(http_server *server)
{
    if (!server || server->closing)
        return;
    server->closing = true;
    while (server->connections)
        connection_close(server->connections);
    uv_close((uv_handle_t *)&server->sweeper, server_handle_close_cb);
    uv_close((uv_handle_t *)&server->listener, server_handle_close_cb);
}
