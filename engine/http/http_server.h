/* A small HTTP/1.1 server on libuv + http_parser (Debian libhttp-parser-dev), with keep-alive,
 * pipelining answered in order, and a request body limit (413 above it). It serves the webhook
 * source and the metrics endpoints.
 *
 * Hardened for a hostile network (issue 11): the parser's leniencies are refused (versions other
 * than 1.0/1.1, bare CR line ends, Transfer-Encoding other than exactly chunked, Content-Length
 * with Transfer-Encoding: 400/505 with the reason); a header check runs before any body byte is
 * read (401 early; 100 Continue only when the request will be read); connections are capped (503
 * with a reason beyond the cap and within the process's file descriptor budget); the head and
 * the body have deadlines of their own, separate from the keep-alive idle timeout, so a client
 * that trickles bytes cannot hold a connection; and request bodies are bounded in bytes per
 * connection (413) and in total across connections (503 with Retry-After). */
#ifndef EVENT_ROUTER_HTTP_SERVER_H
#define EVENT_ROUTER_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_server http_server;

typedef struct http_request {
    const char *method;              /* "GET", "POST", ... */
    const char *path;                /* the URL path without the query */
    const char *query;               /* after '?', or "" */
    const char *const *header_names; /* lower-cased */
    const char *const *header_values;
    size_t header_count;
    const char *body;
    size_t body_len;
    struct connection *connection; /* the server's own; for http_request_defer */
} http_request;

/* Case-insensitive header lookup; NULL when absent. */
const char *http_request_header(const http_request *request, const char *name);

typedef struct http_response {
    int status;
    const char *content_type; /* NULL: none */
    const char *body;         /* copied */
    size_t body_len;
    const char *extra_headers; /* "Name: value\r\n..." or NULL, copied */
} http_response;

/* A handler answers synchronously by returning the response, or defers it. */
typedef void (*http_handler_fn)(void *user, const http_request *request, http_response *response);

/* Runs when a request's headers are complete, before any of its body is read (request->body is
 * empty). Returns true to read the body and call the handler; false to answer with response at
 * once (401, 404, ...): the body is never read and the connection closes after the answer. */
typedef bool (*http_header_check_fn)(void *user, const http_request *request,
                                     http_response *response);

/* Every field 0 means its default. */
typedef struct http_server_limits {
    size_t max_connections;      /* default 512; never above 3/4 of the process's fd budget */
    size_t max_body_bytes_total; /* request bodies being read, all connections; default 64 MiB */
    uint64_t header_timeout_ms;  /* request line and headers, from their first byte; 10 s */
    uint64_t body_timeout_ms;    /* the whole body, from the end of the headers; 30 s */
    uint64_t idle_timeout_ms;    /* keep-alive between requests; 120 s */
} http_server_limits;

#define HTTP_SERVER_DEFAULT_MAX_CONNECTIONS 512
#define HTTP_SERVER_DEFAULT_MAX_BODY_BYTES_TOTAL (64u * 1024 * 1024)
#define HTTP_SERVER_DEFAULT_HEADER_TIMEOUT_MS 10000
#define HTTP_SERVER_DEFAULT_BODY_TIMEOUT_MS 30000
#define HTTP_SERVER_DEFAULT_IDLE_TIMEOUT_MS 120000
/* The request line and headers together; 431 above it. */
#define HTTP_SERVER_MAX_HEADER_BYTES (32 * 1024)

/* Inside a handler: the answer to this request comes later, through http_deferred_answer (for
 * a webhook 202 that must wait until the events are on disk). The connection reads no further
 * request until then, so pipelined answers stay in order. The response the handler filled in is
 * ignored. Exactly one http_deferred_answer per defer must follow; when the connection closed
 * meanwhile it only frees the token. */
typedef struct http_deferred http_deferred;
http_deferred *http_request_defer(const http_request *request);
void http_deferred_answer(http_deferred *deferred, const http_response *response);

/* Binds "host:port" (port 0 picks one; see http_server_port). Returns NULL and writes a reason into
 * err when the address is bad or taken. */
http_server *http_server_start(uv_loop_t *loop, const char *bind_address, size_t max_body_bytes,
                               http_handler_fn handler, void *user, char *err, size_t err_cap);
int http_server_port(const http_server *server);
void http_server_set_header_check(http_server *server, http_header_check_fn check);
void http_server_set_limits(http_server *server, const http_server_limits *limits);
/* Connections idle longer than this are closed (default 120 s; 0 restores the default). */
void http_server_set_idle_timeout(http_server *server, uint64_t idle_ms);
/* Open connections being served (refused ones not counted), and request body bytes reserved. */
size_t http_server_connection_count(const http_server *server);
size_t http_server_body_bytes_in_flight(const http_server *server);
/* Stops listening, closes every connection and frees the server when all handles are closed. */
void http_server_close(http_server *server);

#endif
