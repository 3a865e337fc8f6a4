#include "http/http_server.h"

#include "log.h"

#include <http_parser.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

/* Limits that keep one connection's memory small and bounded whatever a client sends: the head
 * is capped at HTTP_SERVER_MAX_HEADER_BYTES (the parser's own cap is 80 KiB), the body at the
 * server's per-request limit and the write queue at its high water mark. */
#define MAX_HEADERS 100
/* Stop reading from a client that pipelines faster than it reads its answers. */
#define WRITE_QUEUE_HIGH_WATER (128 * 1024)
/* Connections that exceed the caps get a 503 with the reason, then linger to deliver it; beyond
 * this many at once (a flood) they are closed without an answer, so refusing costs no more. */
#define MAX_REFUSING 64
/* File descriptors kept free of served connections: outgoing deliveries (maxInFlight plus idle
 * keep-alive connections), dead-letter and checkpoint files, listeners, logs. */
#define FD_RESERVE 128
#define REFUSAL_LOG_INTERVAL_MS 10000
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
    http_server_limits limits; /* defaults applied */
    http_handler_fn handler;
    http_header_check_fn header_check; /* NULL: every request's body is read */
    void *user;
    size_t connection_count;     /* served connections */
    size_t refusing_count;       /* connections being sent a refusal */
    size_t body_bytes_in_flight; /* reserved by the requests whose bodies are being read */
    uint64_t last_refusal_log;
    connection *connections; /* doubly linked list of open connections */
    int open_handles;        /* listener + sweeper + connections not yet closed */
    bool closing;
    /* Shared by all connections: a read is parsed completely before the next one is allocated. */
    char read_buffer[READ_BUFFER_SIZE];
};

typedef enum { PARSE_NONE, PARSE_URL, PARSE_FIELD, PARSE_VALUE } parse_state;

/* Where a connection is in its current request; each phase has its own deadline. */
typedef enum {
    PHASE_IDLE,          /* between requests (keep-alive idle timeout) */
    PHASE_HEAD,          /* request line and headers arriving (header timeout) */
    PHASE_HEAD_COMPLETE, /* the parser paused at the end of the head: checks run, then the body */
    PHASE_BODY,          /* body arriving (body timeout) */
    PHASE_COMPLETE,      /* the parser paused at the end of the message: checks, then handler */
} request_phase;

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

    request_phase phase;
    size_t body_reserved; /* this request's share of the server's body_bytes_in_flight */
    /* Line ends are checked on the raw bytes of the head and of chunked framing (never of body
     * data), because http_parser takes any byte after a CR as its LF. */
    const char *scan_from;      /* raw bytes before this were checked */
    bool prev_cr;               /* the last checked byte was a CR */
    bool after_chunk_data;      /* the next framing byte must start a CRLF */
    const char *line_end_error; /* what was wrong, or NULL */
    int error_status;           /* set by a callback that refuses the request (413, 400) */
    char error_reason[200];
    bool url_split; /* path and query point into text */
    const char *path, *query;
    bool refused;   /* over a cap: answered 503 without being read */
    bool closing;   /* no more requests: answer the last one, then close */
    bool shut_down; /* our side is shut; waiting for the peer's EOF or the linger timeout */
    bool reading;
    bool handle_closed;
    http_deferred *deferred; /* the answer a handler deferred; parsing waits for it */
    char *backlog;           /* bytes read after the deferred request, parsed once it is answered */
    size_t backlog_len;
    uint64_t deadline; /* uv_now() after which the sweeper closes the connection */
};

typedef struct write_request {
    uv_write_t req;
    connection *conn;
    bool last; /* shut the connection down when this one is written */
    size_t len;
    char bytes[];
} write_request;

struct http_deferred {
    connection *conn; /* NULL once the connection is gone */
    bool last;
    bool head_only;
};

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
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static uint64_t linger_ms(const http_server *server)
{
    uint64_t idle = server->limits.idle_timeout_ms;
    return idle < MAX_LINGER_MS ? idle : MAX_LINGER_MS;
}

/* Served connections of every server in the process, against one file descriptor budget. */
static atomic_size_t process_connections;

static size_t fd_budget(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return SIZE_MAX;
    size_t fds = (size_t)limit.rlim_cur;
    return fds > 2 * FD_RESERVE ? fds - FD_RESERVE : fds / 2;
}

/* One server may take three quarters of the budget, so another (the metrics server's /healthz)
 * still finds room while the first is flooded. */
static size_t connection_cap(const http_server *server)
{
    size_t budget = fd_budget();
    size_t share = budget == SIZE_MAX ? SIZE_MAX : budget - budget / 4;
    return server->limits.max_connections < share ? server->limits.max_connections : share;
}

/* ---- request body bytes ---- */

static bool body_reserve(connection *conn, size_t bytes)
{
    http_server *server = conn->server;
    if (bytes > server->limits.max_body_bytes_total - server->body_bytes_in_flight)
        return false;
    server->body_bytes_in_flight += bytes;
    conn->body_reserved += bytes;
    return true;
}

static void body_release(connection *conn)
{
    conn->server->body_bytes_in_flight -= conn->body_reserved;
    conn->body_reserved = 0;
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
    if (conn->deferred)
        conn->deferred->conn = NULL;
    free(conn->backlog);
    free(conn);
    server_handle_closed(server);
}

static void connection_close(connection *conn)
{
    if (conn->handle_closed)
        return;
    conn->handle_closed = true;
    body_release(conn);
    if (conn->refused) {
        conn->server->refusing_count--;
    } else {
        conn->server->connection_count--;
        atomic_fetch_sub(&process_connections, 1);
    }
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

/* The last answer of a connection: {"error": reason} (the status text when reason is NULL).
 * Reasons may quote what the client sent, so they are JSON-escaped here. */
static void send_error(connection *conn, int status, const char *reason, const char *extra_headers)
{
    if (!reason || !*reason)
        reason = status_text(status);
    char body[512];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"error\": \"");
    for (const unsigned char *p = (const unsigned char *)reason; *p && n + 8 < sizeof body; p++) {
        if (*p == '"' || *p == '\\')
            n += (size_t)snprintf(body + n, sizeof body - n, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            n += (size_t)snprintf(body + n, sizeof body - n, "\\u%04x", *p);
        else
            body[n++] = (char)*p;
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "\"}");
    http_response response = {.status = status,
                              .content_type = "application/json",
                              .body = body,
                              .body_len = n,
                              .extra_headers = extra_headers};
    send_response(conn, &response, true, false);
    conn->closing = true;
}

/* Refuses the request being read with a reason; the connection closes after the answer. */
static bool refuse(connection *conn, int status, const char *extra_headers, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool refuse(connection *conn, int status, const char *extra_headers, const char *fmt, ...)
{
    char reason[300];
    va_list args;
    va_start(args, fmt);
    vsnprintf(reason, sizeof reason, fmt, args);
    va_end(args);
    send_error(conn, status, reason, extra_headers);
    return false;
}

/* Records why a parser callback stops the request; read_cb sends the answer. */
static int callback_error(connection *conn, int status, const char *reason)
{
    conn->error_status = status;
    snprintf(conn->error_reason, sizeof conn->error_reason, "%s", reason);
    return -1;
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

/* Appends a piece of the head, refusing a head larger than the limit (431). */
static int head_append(connection *conn, const char *data, size_t len)
{
    if (conn->text_len + len > HTTP_SERVER_MAX_HEADER_BYTES)
        return callback_error(conn, 431, "request headers are larger than 32 KiB");
    return text_append(conn, data, len) ? 0 : -1;
}

/* Ends the string being collected (URL, name or value) so a new one can start. */
static bool text_terminate(connection *conn)
{
    if (!text_append(conn, "", 0))
        return false;
    conn->text_len++; /* keep the NUL that text_append wrote */
    return true;
}

/* Checks raw bytes of the head or of chunked framing: every CR must start a CRLF (RFC 9112
 * section 2.2; a bare LF is allowed as the RFC lets recipients do), and chunk data must be
 * followed by a line end. */
static void check_line_ends(connection *conn, const char *from, const char *to)
{
    while (from < to && !conn->line_end_error) {
        if (conn->after_chunk_data) {
            conn->after_chunk_data = false;
            if (*from != '\r' && *from != '\n') {
                conn->line_end_error = "chunk data is not followed by CRLF";
                return;
            }
        }
        if (conn->prev_cr) {
            conn->prev_cr = false;
            if (*from != '\n') {
                conn->line_end_error = "bare CR in the request (lines must end in CRLF)";
                return;
            }
            from++;
            continue;
        }
        const char *cr = memchr(from, '\r', (size_t)(to - from));
        if (!cr)
            return;
        conn->prev_cr = true;
        from = cr + 1;
    }
}

static int on_message_begin(http_parser *parser)
{
    connection *conn = parser->data;
    conn->text_len = 0;
    conn->body_len = 0;
    conn->header_count = 0;
    conn->url_offset = 0;
    conn->state = PARSE_NONE;
    conn->phase = PHASE_HEAD;
    conn->deadline = uv_now(conn->server->loop) + conn->server->limits.header_timeout_ms;
    return 0;
}

static int on_url(http_parser *parser, const char *at, size_t len)
{
    connection *conn = parser->data;
    conn->state = PARSE_URL;
    return head_append(conn, at, len);
}

static int on_header_field(http_parser *parser, const char *at, size_t len)
{
    connection *conn = parser->data;
    if (conn->state != PARSE_FIELD) {
        if (!text_terminate(conn))
            return -1;
        if (conn->header_count == MAX_HEADERS)
            return callback_error(conn, 431, "more than 100 request headers");
        conn->name_offsets[conn->header_count++] = conn->text_len;
        conn->state = PARSE_FIELD;
    }
    size_t start = conn->text_len;
    if (head_append(conn, at, len) < 0)
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
    return head_append(conn, at, len);
}

/* The parser stops here so that read_cb checks the head's raw bytes and the request before a
 * single body byte is parsed (headers_arrived). */
static int on_headers_complete(http_parser *parser)
{
    connection *conn = parser->data;
    /* A name without a value (possible only with an empty value) still needs its slot. */
    if (conn->state == PARSE_FIELD) {
        if (!text_terminate(conn))
            return -1;
        conn->value_offsets[conn->header_count - 1] = conn->text_len;
    }
    if (conn->state == PARSE_NONE) /* never reached: the parser requires a URL */
        return callback_error(conn, 400, "request without a target");
    if (!text_terminate(conn))
        return -1;
    conn->state = PARSE_NONE;
    conn->phase = PHASE_HEAD_COMPLETE;
    http_parser_pause(parser, 1);
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

/* The request as handlers see it; names and values point into conn->text. The URL is split in
 * place once (the first call), so later calls find the same path. */
static void build_request(connection *conn, const char **names, const char **values,
                          http_request *request)
{
    for (size_t i = 0; i < conn->header_count; i++) {
        names[i] = conn->text + conn->name_offsets[i];
        values[i] = conn->text + conn->value_offsets[i];
    }
    *request = (http_request){
        .method = http_method_str((enum http_method)conn->parser.method),
        .header_names = names,
        .header_values = values,
        .header_count = conn->header_count,
        .body = conn->body ? conn->body : "",
        .body_len = conn->body_len,
    };
    if (!conn->url_split) {
        split_url(conn->text + conn->url_offset, &conn->path, &conn->query);
        conn->url_split = true;
    }
    request->path = conn->path;
    request->query = conn->query;
}

/* A header value equal to want (case-insensitive), ignoring trailing whitespace. */
static bool value_is(const char *value, const char *want)
{
    size_t len = strlen(value);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    return len == strlen(want) && strncasecmp(value, want, len) == 0;
}

/* Everything decided from the head, in order: the framing rules (RFC 9112, strictly), the body
 * size, the owner's header check (authentication), room for the body among all connections,
 * and only then 100 Continue. False when the request was answered and the connection closes. */
static bool headers_arrived(connection *conn)
{
    http_server *server = conn->server;
    http_parser *parser = &conn->parser;
    if (conn->line_end_error)
        return refuse(conn, 400, NULL, "%s", conn->line_end_error);
    if (parser->http_major != 1 || parser->http_minor > 1)
        return refuse(conn, 505, NULL, "HTTP/%u.%u is not supported (only HTTP/1.0 and HTTP/1.1)",
                      parser->http_major, parser->http_minor);
    const char *transfer_encoding = NULL, *expect = NULL;
    size_t transfer_encodings = 0, content_lengths = 0;
    for (size_t i = 0; i < conn->header_count; i++) {
        const char *name = conn->text + conn->name_offsets[i];
        const char *value = conn->text + conn->value_offsets[i];
        if (strcmp(name, "transfer-encoding") == 0) {
            transfer_encodings++;
            transfer_encoding = value;
        } else if (strcmp(name, "content-length") == 0) {
            content_lengths++;
        } else if (strcmp(name, "expect") == 0) {
            expect = value;
        }
    }
    if (transfer_encodings > 1)
        return refuse(conn, 400, NULL, "Transfer-Encoding is given more than once");
    if (transfer_encoding && content_lengths)
        return refuse(conn, 400, NULL,
                      "both Content-Length and Transfer-Encoding (send one of them)");
    if (transfer_encoding && !value_is(transfer_encoding, "chunked"))
        return refuse(conn, 400, NULL, "Transfer-Encoding '%.60s' is not supported (only chunked)",
                      transfer_encoding);
    if (transfer_encoding && parser->http_minor == 0)
        return refuse(conn, 400, NULL, "Transfer-Encoding in an HTTP/1.0 request");
    if (expect && !value_is(expect, "100-continue"))
        return refuse(conn, 417, NULL, "Expect '%.60s' is not supported (only 100-continue)",
                      expect);
    bool has_length = parser->flags & F_CONTENTLENGTH;
    if (has_length && parser->content_length > server->max_body_bytes)
        return refuse(conn, 413, NULL, "request body of %llu bytes is over the limit of %zu bytes",
                      (unsigned long long)parser->content_length, server->max_body_bytes);
    if (server->header_check) {
        const char *names[MAX_HEADERS], *values[MAX_HEADERS];
        http_request request;
        build_request(conn, names, values, &request);
        http_response response = {.status = 500};
        if (!server->header_check(server->user, &request, &response)) {
            send_response(conn, &response, true, parser->method == HTTP_HEAD);
            conn->closing = true;
            return false;
        }
    }
    if (has_length && !body_reserve(conn, (size_t)parser->content_length))
        return refuse(conn, 503, "Retry-After: 1\r\n",
                      "request bodies being read exceed %zu bytes, retry later",
                      server->limits.max_body_bytes_total);
    if (expect && parser->http_minor == 1) {
        static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";
        write_request *w = malloc(sizeof *w + sizeof continue_line);
        if (!w) {
            connection_close(conn);
            return false;
        }
        w->last = false;
        w->len = sizeof continue_line - 1;
        memcpy(w->bytes, continue_line, w->len);
        send_bytes(conn, w);
    }
    conn->phase = PHASE_BODY;
    conn->deadline = uv_now(server->loop) + server->limits.body_timeout_ms;
    return true;
}

static int on_body(http_parser *parser, const char *at, size_t len)
{
    connection *conn = parser->data;
    http_server *server = conn->server;
    bool chunked = parser->flags & F_CHUNKED;
    if (chunked) {
        check_line_ends(conn, conn->scan_from, at);
        conn->scan_from = at + len;
        conn->prev_cr = false;
        conn->after_chunk_data = true;
        if (conn->line_end_error)
            return callback_error(conn, 400, conn->line_end_error);
    }
    if (len > server->max_body_bytes - conn->body_len) {
        snprintf(conn->error_reason, sizeof conn->error_reason,
                 "request body is over the limit of %zu bytes", server->max_body_bytes);
        conn->error_status = 413;
        return -1;
    }
    if (conn->body_len + len > conn->body_cap) {
        size_t cap = conn->body_cap ? conn->body_cap : 1024;
        while (cap < conn->body_len + len)
            cap *= 2;
        /* A declared length (reserved at the head, within maxBodySize) is allocated at once:
         * no regrowth, no copies, and no freed intermediate buffers. */
        if (parser->flags & F_CONTENTLENGTH)
            cap = conn->body_len + len + parser->content_length;
        /* A chunked body reserves its bytes as it grows; a Content-Length one did at its head. */
        if (cap > conn->body_reserved && !body_reserve(conn, cap - conn->body_reserved)) {
            snprintf(conn->error_reason, sizeof conn->error_reason,
                     "request bodies being read exceed %zu bytes, retry later",
                     server->limits.max_body_bytes_total);
            conn->error_status = 503;
            return -1;
        }
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

/* The parser stops here so that read_cb checks the last chunked framing before the handler runs
 * (request_complete). */
static int on_message_complete(http_parser *parser)
{
    connection *conn = parser->data;
    conn->phase = PHASE_COMPLETE;
    http_parser_pause(parser, 1);
    return 0;
}

/* Hands a complete request to the handler and sends its answer. */
static void request_complete(connection *conn)
{
    http_parser *parser = &conn->parser;
    const char *names[MAX_HEADERS], *values[MAX_HEADERS];
    http_request request;
    build_request(conn, names, values, &request);

    request.connection = conn;

    http_response response = {.status = 500};
    conn->server->handler(conn->server->user, &request, &response);
    /* After an Upgrade (or CONNECT) the bytes are no longer HTTP; we speak nothing else. */
    bool last = !http_should_keep_alive(parser) || parser->upgrade || conn->server->closing;
    if (conn->deferred) {
        /* Answered later (http_deferred_answer); the request's buffers go now all the same. */
        conn->deferred->last = last;
        conn->deferred->head_only = parser->method == HTTP_HEAD;
        last = false;
    } else {
        send_response(conn, &response, last, parser->method == HTTP_HEAD);
    }

    /* Do not let one large request pin its buffers for the life of a keep-alive connection. */
    if (conn->text_cap > KEEP_BUFFER_BYTES || conn->body_cap > KEEP_BUFFER_BYTES)
        connection_free_request(conn);
    body_release(conn);
    conn->url_split = false;
    conn->phase = PHASE_IDLE;
    conn->deadline = uv_now(conn->server->loop) + conn->server->limits.idle_timeout_ms;
    if (last)
        conn->closing = true; /* anything pipelined after the last request is ignored */
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

static const char *parser_error_reason(enum http_errno err)
{
    switch (err) {
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return "Content-Length is given more than once, or with Transfer-Encoding";
    case HPE_INVALID_CONTENT_LENGTH:
        return "invalid Content-Length";
    case HPE_INVALID_VERSION:
        return "invalid HTTP version";
    case HPE_INVALID_METHOD:
        return "invalid method";
    case HPE_HEADER_OVERFLOW:
        return "request headers are too large";
    case HPE_LF_EXPECTED:
        return "bare CR in the request (lines must end in CRLF)";
    default:
        return http_errno_description(err);
    }
}

/* A deferred answer holds the connection: what was read after the request waits (the read buffer
 * is shared by every connection), and reading stops until the answer is sent. */
static void keep_backlog(connection *conn, const char *rest, size_t len)
{
    stop_reading(conn);
    if (len == 0)
        return;
    conn->backlog = malloc(len);
    if (!conn->backlog) {
        connection_close(conn);
        return;
    }
    memcpy(conn->backlog, rest, len);
    conn->backlog_len = len;
}

/* Feeds one read to the parser. The parser stops at the end of each head (checked before its
 * body) and of each message (so the next head's raw bytes are checked from its first byte). */
static void parse_input(connection *conn, const char *data, size_t len)
{
    size_t offset = 0;
    while (offset < len) {
        const char *chunk = data + offset;
        bool in_head = conn->phase == PHASE_IDLE || conn->phase == PHASE_HEAD;
        conn->scan_from = chunk;
        size_t parsed = http_parser_execute(&conn->parser, &parser_settings, chunk, len - offset);
        enum http_errno err = HTTP_PARSER_ERRNO(&conn->parser);
        if (conn->closing)
            return; /* the last request was answered */
        bool chunked = conn->parser.flags & F_CHUNKED;
        if (err == HPE_PAUSED) {
            http_parser_pause(&conn->parser, 0);
            if (conn->phase == PHASE_HEAD_COMPLETE) {
                /* The parser stopped on the head's last byte (what it took as the final LF). */
                check_line_ends(conn, conn->scan_from, chunk + parsed + 1);
                if (!headers_arrived(conn))
                    return;
                conn->prev_cr = false;
            } else {
                /* The end of a message: its last framing (chunked) is checked first. */
                if (in_head || chunked)
                    check_line_ends(conn, conn->scan_from, chunk + parsed);
                if (conn->line_end_error) {
                    send_error(conn, 400, conn->line_end_error, NULL);
                    return;
                }
                request_complete(conn);
                if (conn->closing)
                    return;
                if (conn->deferred) {
                    keep_backlog(conn, chunk + parsed, len - offset - parsed);
                    return;
                }
            }
            conn->after_chunk_data = false;
            offset += parsed;
            continue;
        }
        if (err == HPE_OK && parsed == len - offset) {
            if (in_head || (conn->phase == PHASE_BODY && chunked))
                check_line_ends(conn, conn->scan_from, data + len);
            if (conn->line_end_error)
                send_error(conn, 400, conn->line_end_error, NULL);
            return;
        }
        if (conn->error_status)
            send_error(conn, conn->error_status, conn->error_reason,
                       conn->error_status == 503 ? "Retry-After: 1\r\n" : NULL);
        else
            send_error(conn, 400, parser_error_reason(err), NULL);
        return;
    }
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
    parse_input(conn, buf->base, (size_t)nread);
    if (conn->closing) {
        stop_reading(conn);
        return;
    }
    if (uv_stream_get_write_queue_size(stream) > WRITE_QUEUE_HIGH_WATER)
        stop_reading(conn);
}

http_deferred *http_request_defer(const http_request *request)
{
    connection *conn = request->connection;
    http_deferred *deferred = conn ? calloc(1, sizeof *deferred) : NULL;
    if (!deferred)
        return NULL;
    deferred->conn = conn;
    conn->deferred = deferred;
    return deferred;
}

void http_deferred_answer(http_deferred *deferred, const http_response *response)
{
    connection *conn = deferred->conn;
    bool last = deferred->last, head_only = deferred->head_only;
    free(deferred);
    if (!conn)
        return;
    conn->deferred = NULL;
    if (conn->handle_closed)
        return;
    send_response(conn, response, last, head_only);
    if (last) {
        conn->closing = true; /* anything pipelined after the last request is ignored */
        return;
    }
    char *backlog = conn->backlog;
    size_t backlog_len = conn->backlog_len;
    conn->backlog = NULL;
    conn->backlog_len = 0;
    if (backlog)
        parse_input(conn, backlog, backlog_len);
    free(backlog);
    if (!conn->deferred && !conn->closing && !conn->handle_closed &&
        uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp) <= WRITE_QUEUE_HIGH_WATER)
        start_reading(conn);
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

static void log_refusal(http_server *server, const char *why)
{
    uint64_t now = uv_now(server->loop);
    if (server->last_refusal_log && now - server->last_refusal_log < REFUSAL_LOG_INTERVAL_MS)
        return;
    server->last_refusal_log = now;
    log_warn("http", "port %d: refusing connections: %s", http_server_port(server), why);
}

/* Over a cap: a 503 with the reason, then the usual half-close and linger; in a flood of them,
 * just the close. */
static void refuse_connection(connection *conn, const char *why)
{
    http_server *server = conn->server;
    log_refusal(server, why);
    bool flood = server->refusing_count >= MAX_REFUSING;
    server->refusing_count++;
    conn->refused = true; /* counted as refusing from here to its close */
    if (flood) {
        connection_close(conn);
        return;
    }
    conn->deadline = uv_now(server->loop) + linger_ms(server);
    char reason[200];
    snprintf(reason, sizeof reason, "%s, retry later", why);
    send_error(conn, 503, reason, "Retry-After: 1\r\n");
}

static void on_connection(uv_stream_t *listener, int status)
{
    http_server *server = listener->data;
    if (status < 0) {
        /* EMFILE: libuv accepts and drops the connection with its spare descriptor. */
        if (!server->closing)
            log_refusal(server, uv_strerror(status));
        return;
    }
    if (server->closing)
        return;
    connection *conn = calloc(1, sizeof *conn);
    if (!conn)
        return;
    conn->server = server;
    uv_tcp_init(server->loop, &conn->tcp);
    conn->tcp.data = conn;
    server->open_handles++;
    server->connection_count++;
    atomic_fetch_add(&process_connections, 1);
    conn->next = server->connections;
    if (conn->next)
        conn->next->prev = conn;
    server->connections = conn;
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) < 0) {
        connection_close(conn);
        return;
    }
    size_t cap = connection_cap(server);
    size_t budget = fd_budget();
    char why[160] = "";
    if (server->connection_count > cap)
        snprintf(why, sizeof why, "too many connections (limit %zu)", cap);
    else if (atomic_load(&process_connections) > budget)
        snprintf(why, sizeof why, "too many connections in the process (%zu file descriptors)",
                 budget);
    if (*why) {
        server->connection_count--;
        atomic_fetch_sub(&process_connections, 1);
        refuse_connection(conn, why);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    http_parser_init(&conn->parser, HTTP_REQUEST);
    conn->parser.data = conn;
    /* A silent new connection is both idle and late with its head: the shorter deadline. */
    uint64_t first = server->limits.header_timeout_ms < server->limits.idle_timeout_ms
                         ? server->limits.header_timeout_ms
                         : server->limits.idle_timeout_ms;
    conn->deadline = uv_now(server->loop) + first;
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
    http_server_set_limits(server, &(http_server_limits){0});
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
    uv_timer_start(&server->sweeper, sweep, MAX_SWEEP_INTERVAL_MS, MAX_SWEEP_INTERVAL_MS);
    uv_unref((uv_handle_t *)&server->sweeper);
    http_server_set_limits(server, &server->limits);
    return server;
}

void http_server_set_header_check(http_server *server, http_header_check_fn check)
{
    server->header_check = check;
}

static uint64_t or_default(uint64_t value, uint64_t fallback)
{
    return value ? value : fallback;
}

void http_server_set_limits(http_server *server, const http_server_limits *limits)
{
    http_server_limits *l = &server->limits;
    l->max_connections = or_default(limits->max_connections, HTTP_SERVER_DEFAULT_MAX_CONNECTIONS);
    l->max_body_bytes_total =
        or_default(limits->max_body_bytes_total, HTTP_SERVER_DEFAULT_MAX_BODY_BYTES_TOTAL);
    l->header_timeout_ms =
        or_default(limits->header_timeout_ms, HTTP_SERVER_DEFAULT_HEADER_TIMEOUT_MS);
    l->body_timeout_ms = or_default(limits->body_timeout_ms, HTTP_SERVER_DEFAULT_BODY_TIMEOUT_MS);
    l->idle_timeout_ms = or_default(limits->idle_timeout_ms, HTTP_SERVER_DEFAULT_IDLE_TIMEOUT_MS);
    if (!uv_is_active((uv_handle_t *)&server->sweeper))
        return; /* http_server_start arms it */
    /* Sweep often enough that each deadline is honoured to within a quarter of itself. */
    uint64_t shortest = l->idle_timeout_ms;
    if (l->header_timeout_ms < shortest)
        shortest = l->header_timeout_ms;
    if (l->body_timeout_ms < shortest)
        shortest = l->body_timeout_ms;
    uint64_t interval = shortest / 4;
    if (interval > MAX_SWEEP_INTERVAL_MS)
        interval = MAX_SWEEP_INTERVAL_MS;
    if (interval == 0)
        interval = 1;
    uv_timer_start(&server->sweeper, sweep, interval, interval);
    uv_unref((uv_handle_t *)&server->sweeper);
}

void http_server_set_idle_timeout(http_server *server, uint64_t idle_ms)
{
    http_server_limits limits = server->limits;
    limits.idle_timeout_ms = idle_ms;
    http_server_set_limits(server, &limits);
}

size_t http_server_connection_count(const http_server *server)
{
    return server->connection_count;
}

size_t http_server_body_bytes_in_flight(const http_server *server)
{
    return server->body_bytes_in_flight;
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
