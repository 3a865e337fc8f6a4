/* A small HTTP/1.1 server on libuv + http_parser (Debian libhttp-parser-dev), with keep-alive,
 * pipelining answered in order, and a request body limit (413 above it). It serves the webhook
 * source and the metrics endpoints. */
#ifndef EVENT_ROUTER_HTTP_SERVER_H
#define EVENT_ROUTER_HTTP_SERVER_H

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

/* A handler answers synchronously by returning the response. */
typedef void (*http_handler_fn)(void *user, const http_request *request, http_response *response);

/* Binds "host:port" (port 0 picks one; see http_server_port). Returns NULL and writes a reason into
 * err when the address is bad or taken. */
http_server *http_server_start(uv_loop_t *loop, const char *bind_address, size_t max_body_bytes,
                               http_handler_fn handler, void *user, char *err, size_t err_cap);
int http_server_port(const http_server *server);
/* Connections idle longer than this are closed (default 120 s; 0 restores the default). */
void http_server_set_idle_timeout(http_server *server, uint64_t idle_ms);
/* Stops listening, closes every connection and frees the server when all handles are closed. */
void http_server_close(http_server *server);

#endif
