/* Horizon audit event (one object of GET /rest/external/v1/audit-events) -> CloudEvent.
 *
 * VEBA's format: type com.vmware.event.router/horizon.<type lower-cased>.v0, id the event id,
 * source the Horizon address, time the event time, data the event object; we add subject = the
 * Horizon event type. The sources-for-knative format names it com.vmware.horizon.<type>.v0. */
#ifndef EVENT_ROUTER_HORIZON_EVENT_H
#define EVENT_ROUTER_HORIZON_EVENT_H

#include "event.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { HORIZON_FORMAT_ROUTER, HORIZON_FORMAT_SOURCES_KNATIVE } horizon_event_format;

/* The fields ordering and deduplication need. False (with a reason naming the field) when the
 * object has no integer id or time, or no type. *type points into object. */
bool horizon_event_fields(const cJSON *object, int64_t *id, int64_t *time_ms, const char **type,
                          char *reason, size_t reason_cap);

/* A new event, or NULL with a reason. object is copied. */
event *horizon_event_convert(const cJSON *object, horizon_event_format format,
                             const char *source_url, char *reason, size_t reason_cap);

/* Milliseconds since the epoch as RFC 3339 with milliseconds ("2021-07-27T07:12:19.733Z"); "" for a
 * time outside the years 0000-9999 that RFC 3339 can write. */
void horizon_format_time_ms(int64_t time_ms, char *out, size_t cap);

#endif
