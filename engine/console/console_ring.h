/* The console's memory of recent events: a fixed number of slots, each a compact, truncated copy
 * of one event and its trace steps, so `last`, `show`, `test` and `replay` work on events that
 * have long left the engine while the memory used stays bounded whatever the traffic. */
#ifndef EVENT_ROUTER_CONSOLE_RING_H
#define EVENT_ROUTER_CONSOLE_RING_H

#include "console/console.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_RING_MAX_STEPS 16
#define CONSOLE_RING_FIELD_MAX 256  /* id, type, subject, source, time */
#define CONSOLE_RING_NAME_MAX 128   /* a step's name */
#define CONSOLE_RING_DETAIL_MAX 512 /* a step's detail */
#define CONSOLE_RING_JSON_MAX 8192  /* the structured JSON; longer is cut and marked */

typedef struct ring_step {
    trace_step_kind kind;
    char *name;
    char *detail;
    double at;
} ring_step;

typedef struct ring_entry {
    bool used;
    const event *ev_ptr; /* only compared, never dereferenced: the event may be gone */
    uint64_t sequence;
    char *id, *type, *subject, *source, *source_name, *time;
    char *json;          /* structured-mode JSON, at most CONSOLE_RING_JSON_MAX bytes */
    bool json_truncated; /* then json is not valid JSON and cannot be replayed */
    double at;
    ring_step steps[CONSOLE_RING_MAX_STEPS];
    size_t step_count;
    size_t steps_dropped;
} ring_entry;

typedef struct console_ring {
    ring_entry *entries;
    size_t capacity;
    size_t next;  /* slot the next event goes to */
    size_t count; /* slots in use */
} console_ring;

bool console_ring_init(console_ring *ring, size_t capacity);
void console_ring_free(console_ring *ring);
/* Copies ev into the oldest slot. Returns the slot, or NULL when memory ran out. */
ring_entry *console_ring_begin(console_ring *ring, const event *ev, double at);
/* Appends a step to ev's slot (starting one when ev was never begun or has been overwritten). */
ring_entry *console_ring_step(console_ring *ring, const event *ev, const trace_step *step);
/* n = 0 is the newest. NULL past the oldest. */
const ring_entry *console_ring_newest(const console_ring *ring, size_t n);
/* The newest entry with this CloudEvent id, or NULL. */
const ring_entry *console_ring_find_id(const console_ring *ring, const char *id);

const char *console_trace_kind_name(trace_step_kind kind);

#endif
