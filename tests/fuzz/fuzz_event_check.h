/* The promise every event a source produces must keep, whatever the input was: it is a valid
 * CloudEvent, and what the router sends for it (binary or structured mode) decodes again, with
 * the same id, at a receiver like our own webhook. A broken promise aborts (a finding). */
#ifndef EVENT_ROUTER_FUZZ_EVENT_CHECK_H
#define EVENT_ROUTER_FUZZ_EVENT_CHECK_H

#include "fuzz_support.h"

#include "http/cloudevents_http.h"

static inline void fuzz_check_round_trip(const event *ev, bool structured)
{
    cloudevents_http_message message = {0};
    FUZZ_ASSERT(cloudevents_http_encode(ev, structured, &message) == 0);
    const char *names[256], *values[256];
    size_t n = message.header_count;
    FUZZ_ASSERT(n <= sizeof names / sizeof names[0]);
    for (size_t i = 0; i < n; i++) {
        names[i] = message.headers[i].name;
        values[i] = message.headers[i].value;
    }
    http_request again = {.method = "POST",
                          .path = "/",
                          .query = "",
                          .header_names = names,
                          .header_values = values,
                          .header_count = n,
                          .body = message.body,
                          .body_len = message.body_len};
    event **events = NULL;
    size_t count = 0;
    char reason[256] = "";
    int rc = cloudevents_http_decode(&again, &events, &count, reason, sizeof reason);
    if (rc != 0)
        fprintf(stderr, "re-decoding the %s encoding failed: %s\n",
                structured ? "structured" : "binary", reason);
    FUZZ_ASSERT(rc == 0 && count == 1);
    FUZZ_ASSERT(strcmp(events[0]->id, ev->id) == 0);
    event_unref(events[0]);
    free(events);
    cloudevents_http_message_free(&message);
}

static inline void fuzz_check_event(const event *ev)
{
    char reason[256] = "";
    if (!event_validate(ev, reason, sizeof reason))
        fprintf(stderr, "an event that does not validate: %s\n", reason);
    FUZZ_ASSERT(event_validate(ev, reason, sizeof reason));
    fuzz_check_round_trip(ev, false);
    fuzz_check_round_trip(ev, true);
}

#endif
