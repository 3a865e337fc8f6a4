/* The event model: one CloudEvents 1.0 event as it travels source -> queue -> processors.
 *
 * Ownership: an event is reference counted. Whoever holds a pointer holds a reference; the queue,
 * each in-flight delivery and the dead-letter writer take their own with event_ref() and drop it
 * with event_unref(). Strings inside are owned by the event. */
#ifndef EVENT_ROUTER_EVENT_H
#define EVENT_ROUTER_EVENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct event_extension {
    char *name;  /* lower-case a-z0-9, at most 20 chars per the spec (we accept longer, warn) */
    char *value; /* canonical string form of the attribute value */
} event_extension;

typedef struct event {
    int refcount;

    /* Required context attributes (never NULL on a valid event). */
    char *specversion;
    char *id;
    char *source;
    char *type;
    /* Optional context attributes (NULL when absent). */
    char *subject;
    char *time; /* RFC 3339 */
    char *datacontenttype;
    char *dataschema;

    event_extension *extensions;
    size_t extension_count;

    /* data exactly as received (or produced); data_len 0 with data NULL means "no data". */
    unsigned char *data;
    size_t data_len;
    /* The same data parsed, when datacontenttype is JSON (or absent and data is JSON); else NULL.
     */
    cJSON *data_json;

    /* Engine bookkeeping, not part of the CloudEvent. */
    uint64_t sequence;    /* assigned by the engine in order of intake */
    uint64_t received_ns; /* uv_hrtime() at intake, for latency metrics */
    char *
        ordering_key; /* events with the same key are delivered in order; NULL: subject; "": none */
    const char *source_name;     /* name of the source that produced it (owned by the config) */
    void *source_token;          /* opaque to everyone but the source (e.g. a vCenter event key) */
    unsigned deliveries_pending; /* processors that still owe an ack or nack for this event */
    unsigned deliveries_failed;  /* of those finished, how many dead-lettered it */
    unsigned deliveries_kept;    /* of those finished, how many left it for the next start */
    size_t memory_bytes;         /* what it holds in memory, counted by the byte bounds */
    uint64_t journal_id;         /* its record in the disk queue; 0 on a memory queue */
    uint64_t journal_segment;    /* the disk queue segment holding it; 0 once finished */
    bool recovered;              /* read back from the disk queue at start: its source is gone */
} event;

event *event_new(void);
event *event_ref(event *ev);
void event_unref(event *ev);

/* Sets a context attribute or extension by its CloudEvents name. NULL value removes it.
 * Returns false for a name that is not a valid attribute name. */
bool event_set_attribute(event *ev, const char *name, const char *value);
/* Returns the attribute or extension value, or NULL. */
const char *event_get_attribute(const event *ev, const char *name);

/* Takes a copy of the bytes; parses them as JSON when is_json is true. Returns false (with the
 * event unchanged) when is_json is true and the bytes are not valid JSON. */
bool event_set_data(event *ev, const void *bytes, size_t len, bool is_json);
/* Takes ownership of json and stores its compact serialization as the data bytes. */
void event_set_data_json(event *ev, cJSON *json);

/* True when datacontenttype is absent or names JSON (application/json, text/json, *+json). */
bool event_content_type_is_json(const char *content_type);

/* True when text is an RFC 3339 date-time, as the 'time' attribute must be. */
bool event_time_is_rfc3339(const char *text);

/* Validates against CloudEvents 1.0: required attributes present and non-empty, specversion
 * "1.0", attribute names legal, time parseable as RFC 3339. On failure writes a reason that names
 * the attribute into reason and returns false. */
bool event_validate(const event *ev, char *reason, size_t reason_cap);

/* Bytes ev holds in memory: the struct, its strings, its data and the parsed JSON tree (which
 * can be many times the text). Computed once and cached in memory_bytes. */
size_t event_memory_bytes(event *ev);

/* The key used to keep deliveries in order: ordering_key, else subject, else NULL (unordered); an
 * empty ordering_key also means unordered. */
const char *event_ordering_key(const event *ev);

/* Structured-mode JSON (application/cloudevents+json): a new cJSON object the caller owns. JSON
 * data is embedded as "data", other data as "data_base64". */
cJSON *event_to_json(const event *ev);
/* Builds an event from a structured-mode JSON object. NULL with a reason on invalid input. */
event *event_from_json(const cJSON *object, char *reason, size_t reason_cap);

#endif
