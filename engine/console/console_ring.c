/* The ring of recent events: see console_ring.h. */
#include "console/console_ring.h"

#include <stdlib.h>
#include <string.h>

/* A copy of at most max bytes (cut on a byte boundary: the console shows it, it is not reparsed).
 */
static char *copy_bounded(const char *text, size_t max)
{
    if (!text)
        return NULL;
    size_t len = strnlen(text, max);
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

static void entry_clear(ring_entry *e)
{
    free(e->id);
    free(e->type);
    free(e->subject);
    free(e->source);
    free(e->source_name);
    free(e->time);
    free(e->json);
    for (size_t i = 0; i < e->step_count; i++) {
        free(e->steps[i].name);
        free(e->steps[i].detail);
    }
    memset(e, 0, sizeof *e);
}

bool console_ring_init(console_ring *ring, size_t capacity)
{
    memset(ring, 0, sizeof *ring);
    if (capacity == 0)
        capacity = 1;
    ring->entries = calloc(capacity, sizeof *ring->entries);
    if (!ring->entries)
        return false;
    ring->capacity = capacity;
    return true;
}

void console_ring_free(console_ring *ring)
{
    for (size_t i = 0; i < ring->capacity; i++)
        entry_clear(&ring->entries[i]);
    free(ring->entries);
    memset(ring, 0, sizeof *ring);
}

static char *event_json_bounded(const event *ev, bool *truncated)
{
    *truncated = false;
    cJSON *json = event_to_json(ev);
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text)
        return NULL;
    if (strlen(text) > CONSOLE_RING_JSON_MAX) {
        text[CONSOLE_RING_JSON_MAX] = '\0';
        *truncated = true;
    }
    return text;
}

ring_entry *console_ring_begin(console_ring *ring, const event *ev, double at)
{
    ring_entry *e = &ring->entries[ring->next];
    entry_clear(e);
    ring->next = (ring->next + 1) % ring->capacity;
    if (ring->count < ring->capacity)
        ring->count++;
    e->used = true;
    e->ev_ptr = ev;
    e->sequence = ev->sequence;
    e->at = at;
    e->id = copy_bounded(ev->id ? ev->id : "", CONSOLE_RING_FIELD_MAX);
    e->type = copy_bounded(ev->type ? ev->type : "", CONSOLE_RING_FIELD_MAX);
    e->subject = copy_bounded(ev->subject, CONSOLE_RING_FIELD_MAX);
    e->source = copy_bounded(ev->source ? ev->source : "", CONSOLE_RING_FIELD_MAX);
    e->source_name = copy_bounded(ev->source_name, CONSOLE_RING_FIELD_MAX);
    e->time = copy_bounded(ev->time, CONSOLE_RING_FIELD_MAX);
    e->json = event_json_bounded(ev, &e->json_truncated);
    if (!e->id || !e->type || !e->source || !e->json) {
        entry_clear(e);
        return NULL;
    }
    return e;
}

static bool same_text(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Newest first: an event still in the engine is almost always among the last few begun. The id
 * and source identify it when a script replaced the event object on the way. */
static ring_entry *find_event(console_ring *ring, const event *ev)
{
    for (size_t n = 0; n < ring->count; n++) {
        size_t slot = (ring->next + ring->capacity - 1 - n) % ring->capacity;
        ring_entry *e = &ring->entries[slot];
        if ((e->ev_ptr == ev && e->sequence == ev->sequence) ||
            (same_text(e->id, ev->id) && same_text(e->source, ev->source)))
            return e;
    }
    return NULL;
}

ring_entry *console_ring_step(console_ring *ring, const event *ev, const trace_step *step)
{
    ring_entry *e = find_event(ring, ev);
    if (!e)
        e = console_ring_begin(ring, ev, step->at);
    if (!e)
        return NULL;
    if (e->step_count == CONSOLE_RING_MAX_STEPS) {
        e->steps_dropped++;
        return e;
    }
    ring_step *s = &e->steps[e->step_count];
    s->kind = step->kind;
    s->at = step->at;
    s->name = copy_bounded(step->name ? step->name : "", CONSOLE_RING_NAME_MAX);
    s->detail = copy_bounded(step->detail ? step->detail : "", CONSOLE_RING_DETAIL_MAX);
    if (!s->name || !s->detail) {
        free(s->name);
        free(s->detail);
        s->name = s->detail = NULL;
        e->steps_dropped++;
        return e;
    }
    e->step_count++;
    return e;
}

const ring_entry *console_ring_newest(const console_ring *ring, size_t n)
{
    if (n >= ring->count)
        return NULL;
    return &ring->entries[(ring->next + ring->capacity - 1 - n) % ring->capacity];
}

const ring_entry *console_ring_find_id(const console_ring *ring, const char *id)
{
    for (size_t n = 0; n < ring->count; n++) {
        const ring_entry *e = console_ring_newest(ring, n);
        if (same_text(e->id, id))
            return e;
    }
    return NULL;
}

const char *console_trace_kind_name(trace_step_kind kind)
{
    switch (kind) {
    case TRACE_RECEIVED:
        return "received";
    case TRACE_SCRIPT:
        return "script";
    case TRACE_ROUTED:
        return "routed";
    case TRACE_DELIVERED:
        return "delivered";
    case TRACE_DEADLETTER:
        return "deadletter";
    case TRACE_FILTERED:
        return "filtered";
    }
    return "?";
}
