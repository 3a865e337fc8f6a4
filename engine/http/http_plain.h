/* A small keep-alive HTTP/1.1 client for plain http:// URLs on libuv + http_parser, used by
 * http_client for those URLs because libcurl cost more than half of a delivery's instructions.
 * Same contract as http_client (http_client.h); https:// and anything http_plain_supports
 * rejects stay on curl. One request per connection at a time; up to 64 idle connections are
 * kept per host:port. */
#ifndef EVENT_ROUTER_HTTP_PLAIN_H
#define EVENT_ROUTER_HTTP_PLAIN_H

#include "http/http_client.h"

#include <stdbool.h>

typedef struct http_plain http_plain;

http_plain *http_plain_new(uv_loop_t *loop);
/* True for an http:// URL without user info and a method other than HEAD. */
bool http_plain_supports(const http_client_request *request);
/* As http_client_send: copies what it needs; done is called exactly once, never from inside this
 * call. Returns 0, or a negative value when the request could not be started. */
int http_plain_send(http_plain *plain, const http_client_request *request, http_client_done_fn done,
                    void *user);
size_t http_plain_in_flight(const http_plain *plain);
/* Fails requests still running with "client closed", closes every connection and frees the
 * client once its handles are closed. */
void http_plain_close(http_plain *plain);

#endif
