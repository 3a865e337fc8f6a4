/* An event seen as its structured-mode JSON (the CloudEvents JSON format: context attributes
 * and extensions at the top, JSON data under "data"), without copying or allocating anything:
 * the view's cJSON nodes point at the event's own strings and data tree. What event patterns
 * (filters/event_pattern.h) are matched against.
 *
 * Lifetime: the view borrows from the event; it is valid while the event is not changed or
 * freed, and it lives where the caller puts it (usually on the stack). Read-only: never pass it to
 * a cJSON function that changes or frees. Data that is not JSON is not in the view (structured
 * mode would carry it as base64, which no pattern could use). */
#ifndef EVENT_ROUTER_EVENT_VIEW_H
#define EVENT_ROUTER_EVENT_VIEW_H

#include "event.h"

#include <cjson/cJSON.h>

/* Extensions beyond this many are left out of the view (an event seldom has more than a few). */
#define EVENT_VIEW_MAX_EXTENSIONS 32

typedef struct event_view {
    cJSON root;
    cJSON members[8 + EVENT_VIEW_MAX_EXTENSIONS + 1];
} event_view;

/* Fills view for ev and returns its root object. */
const cJSON *event_view_init(event_view *view, const event *ev);

/* The event as an EventBridge rule sees it once it is sent as a PutEvents entry: the envelope
 * EventBridge builds, with the CloudEvent (structured JSON, as above) as `detail`. For the
 * EventBridge processor, so that its local verdict is the one AWS will reach. */
#define EVENT_VIEW_MAX_RESOURCES 16

typedef struct eventbridge_fields {
    const char *account;     /* from the rule's ARN */
    const char *region;      /* from the rule's ARN */
    const char *detail_type; /* the entry's DetailType; NULL: the subject, else the type */
    const char *time;        /* as EventBridge writes the entry's Time; NULL: the event's time */
    const char *const *resources; /* the entry's Resources (at most EVENT_VIEW_MAX_RESOURCES) */
    size_t resource_count;
} eventbridge_fields;

typedef struct eventbridge_view {
    event_view detail;
    cJSON root;
    cJSON members[7];
    cJSON resources_array;
    cJSON resources[EVENT_VIEW_MAX_RESOURCES];
} eventbridge_view;

/* {"version": "0", "detail-type", "source", "account", "region", "time", "resources": [...],
 * "detail": {...}}; `id` is left out: EventBridge makes a new one per entry. Borrows from ev and
 * fields like event_view_init; allocates nothing. */
const cJSON *event_view_eventbridge(eventbridge_view *view, const event *ev,
                                    const eventbridge_fields *fields);

#endif
