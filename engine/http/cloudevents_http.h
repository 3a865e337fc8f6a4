/* The CloudEvents 1.0 HTTP protocol binding: binary mode (ce-* headers + body), structured mode
 * (application/cloudevents+json) and batched mode (application/cloudevents-batch+json). */
#ifndef EVENT_ROUTER_CLOUDEVENTS_HTTP_H
#define EVENT_ROUTER_CLOUDEVENTS_HTTP_H

#include "event.h"
#include "http/http_client.h"
#include "http/http_server.h"

#include <stdbool.h>
#include <stddef.h>

/* Decodes every event of a request. On success returns 0 and a malloc'd array of new events
 * (caller unrefs each and frees the array). On an invalid message returns -1 with a reason naming
 * the attribute (and, in a batch, the index of the bad event); no events are returned then. */
int cloudevents_http_decode(const http_request *request, event ***events, size_t *count,
                            char *reason, size_t reason_cap);

/* An encoded outgoing message: headers and body, with all storage owned by the message. */
typedef struct cloudevents_http_message {
    http_header *headers;
    size_t header_count;
    char *body;
    size_t body_len;
    char *storage_; /* internal */
} cloudevents_http_message;

/* Encodes ev in binary or structured mode. Returns 0, or -1 when out of memory. */
int cloudevents_http_encode(const event *ev, bool structured, cloudevents_http_message *message);
void cloudevents_http_message_free(cloudevents_http_message *message);

#endif
