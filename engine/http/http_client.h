/* An asynchronous HTTP client: libcurl's multi interface driven by the libuv loop (one uv_poll_t
 * per socket, one uv_timer_t). Connections are kept alive and reused; many requests run at once.
 * TLS verification is on unless a request says insecure. */
#ifndef EVENT_ROUTER_HTTP_CLIENT_H
#define EVENT_ROUTER_HTTP_CLIENT_H

#include <stddef.h>
#include <uv.h>

typedef struct http_client http_client;

typedef struct http_header {
    const char *name;
    const char *value;
} http_header;

typedef struct http_client_request {
    const char *method; /* "POST", "GET", ... */
    const char *url;
    const http_header *headers;
    size_t header_count;
    const void *body;
    size_t body_len;
    long connect_timeout_ms; /* 0: default 5000 */
    long timeout_ms;         /* total; 0: default 30000 */
    int insecure;            /* skip TLS verification */
    const char *ca_file;     /* extra CA bundle, NULL for the system one */
    const char *username;    /* basic auth, NULL for none */
    const char *password;
    const char *bearer_token;  /* Authorization: Bearer, NULL for none */
    size_t max_response_bytes; /* 0: default 1 MiB */
} http_client_request;

typedef struct http_client_response {
    long status;       /* 0 when no HTTP response arrived */
    const char *error; /* transport error text (no secrets), NULL on a response */
    int timed_out;     /* the error was a timeout */
    const char *body;  /* NUL-terminated copy, valid during the callback only */
    size_t body_len;
    int truncated; /* the body was longer than max_response_bytes: only its start is kept */
    const char *retry_after; /* Retry-After header value or NULL */
    const char *content_type;
    /* Every Set-Cookie header value of the final response, joined by '\n', or NULL. */
    const char *set_cookie;
} http_client_response;

typedef void (*http_client_done_fn)(void *user, const http_client_response *response);

http_client *http_client_new(uv_loop_t *loop);
/* Copies everything it needs from request; done is called exactly once, never from inside this
 * call. Returns 0, or a negative value when the request could not be started. */
int http_client_send(http_client *client, const http_client_request *request,
                     http_client_done_fn done, void *user);
size_t http_client_in_flight(const http_client *client);
/* Aborts requests still running (their callbacks get an error "client closed"), closes the libuv
 * handles and frees the client once they are closed. */
void http_client_close(http_client *client);

#endif
