/* vCenter event -> CloudEvent. The data is the event as govmomi's Go types encode it with
 * encoding/json (what VEBA functions parse); the attributes follow either the VMware Event
 * Router's convention or VMware's sources-for-knative one. */
#ifndef EVENT_ROUTER_VCENTER_CONVERT_H
#define EVENT_ROUTER_VCENTER_CONVERT_H

#include <cjson/cJSON.h>
#include <libxml/tree.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

typedef enum { VCENTER_FORMAT_ROUTER, VCENTER_FORMAT_SOURCES_KNATIVE } vcenter_event_format;

typedef struct vcenter_convert_context {
    vcenter_event_format format;
    const char *source_url;
    const char *api_version;
    uint64_t unknown_classes; /* counter, incremented for every xsi:type not in the table */
} vcenter_convert_context;

/* node: an element holding one event with an xsi:type attribute (an <returnval> of
 * ReadNextEvents or an <item>/<val> element of a latestPage property update). Returns a new
 * event (engine/event.h) or NULL with a reason; *key_out gets the event's Key. */
event *vcenter_event_convert(vcenter_convert_context *ctx, xmlNodePtr node, int64_t *key_out,
                             char *reason, size_t reason_cap);

/* The data JSON alone (for tests and the console): a new object the caller owns, or NULL when
 * the node has no xsi:type. *class_out (may be NULL) gets the class name, valid until the next
 * call on this thread. */
cJSON *vcenter_event_data_json(vcenter_convert_context *ctx, xmlNodePtr node,
                               const char **class_out);

#endif
