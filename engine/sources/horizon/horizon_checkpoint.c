/* Horizon checkpoint file and the contiguous-done tracker. See horizon_checkpoint.h. */
#include "sources/horizon/horizon_checkpoint.h"

#include "atomic_file.h"
#include "json_integer.h"
#include "small_file.h"
#include "sources/horizon/horizon_event.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CHECKPOINT_BYTES (1024 * 1024)

/* ---- Id sets: small (the events of one millisecond), so a linear scan is right ---- */

bool horizon_id_set_has(const horizon_id_set *set, int64_t id)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->ids[i] == id)
            return true;
    return false;
}

bool horizon_id_set_add(horizon_id_set *set, int64_t id)
{
    if (horizon_id_set_has(set, id))
        return true;
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        int64_t *ids = realloc(set->ids, cap * sizeof *ids);
        if (!ids)
            return false;
        set->ids = ids;
        set->cap = cap;
    }
    set->ids[set->count++] = id;
    return true;
}

void horizon_id_set_clear(horizon_id_set *set)
{
    set->count = 0;
}

void horizon_id_set_free(horizon_id_set *set)
{
    free(set->ids);
    memset(set, 0, sizeof *set);
}

bool horizon_id_set_copy(horizon_id_set *to, const horizon_id_set *from)
{
    horizon_id_set_clear(to);
    for (size_t i = 0; i < from->count; i++)
        if (!horizon_id_set_add(to, from->ids[i]))
            return false;
    return true;
}

/* ---- File ---- */

bool horizon_checkpoint_path(const char *dir, const char *host, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/cp-horizon-%s.json", dir && dir[0] ? dir : ".", host);
    return n > 0 && (size_t)n < cap;
}

void horizon_checkpoint_free(horizon_checkpoint *cp)
{
    horizon_id_set_free(&cp->last_ids);
    memset(cp, 0, sizeof *cp);
}

/* Past 2^53 a JSON number no longer reads back as the integer written (cJSON keeps a double), and
 * far past it the conversion to int64_t is undefined: such a value is refused, not guessed. */
static bool json_integer(const cJSON *item, int64_t *out)
{
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= -0x1p53 && item->valuedouble <= 0x1p53) ||
        item->valuedouble != floor(item->valuedouble))
        return false;
    *out = (int64_t)item->valuedouble;
    return true;
}

int horizon_checkpoint_load(const char *path, horizon_checkpoint *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    int found =
        small_file_read(path, MAX_CHECKPOINT_BYTES, "checkpoint", &text, &len, err, err_cap);
    if (found <= 0)
        return found;
    cJSON *json = cJSON_Parse(text);
    free(text);
    const char *bad = NULL;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(json, "lastEventIds");
    if (!cJSON_IsObject(json))
        bad = "not a JSON object";
    else if (!json_integer(cJSON_GetObjectItemCaseSensitive(json, "lastEventTime"),
                           &out->last_time_ms))
        bad = "lastEventTime: missing or not an integer";
    else if (!cJSON_IsArray(ids))
        bad = "lastEventIds: missing or not an array";
    for (const cJSON *id = bad ? NULL : ids->child; id; id = id->next) {
        int64_t value;
        if (!json_integer(id, &value)) {
            bad = "lastEventIds: not a list of integers";
            break;
        }
        if (!horizon_id_set_add(&out->last_ids, value)) {
            bad = "out of memory";
            break;
        }
    }
    if (bad) {
        snprintf(err, err_cap, "checkpoint %s is not a valid Horizon checkpoint (%s)", path, bad);
        cJSON_Delete(json);
        horizon_checkpoint_free(out);
        return -1;
    }
    json_integer(cJSON_GetObjectItemCaseSensitive(json, "lastEventId"), &out->last_id);
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(json, "horizon");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(json, "lastEventType");
    snprintf(out->horizon, sizeof out->horizon, "%s",
             cJSON_IsString(host) ? host->valuestring : "");
    snprintf(out->last_type, sizeof out->last_type, "%s",
             cJSON_IsString(type) ? type->valuestring : "");
    cJSON_Delete(json);
    return 1;
}

int horizon_checkpoint_save(const char *path, const horizon_checkpoint *cp, char *err,
                            size_t err_cap)
{
    char last[64], created[64];
    horizon_format_time_ms(cp->last_time_ms, last, sizeof last);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    horizon_format_time_ms((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, created,
                           sizeof created);
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "horizon", cp->horizon);
    cJSON_AddItemToObject(json, "lastEventTime", json_int64(cp->last_time_ms));
    cJSON_AddStringToObject(json, "lastEventTimestamp", last);
    cJSON *ids = cJSON_AddArrayToObject(json, "lastEventIds");
    for (size_t i = 0; ids && i < cp->last_ids.count; i++)
        cJSON_AddItemToArray(ids, json_int64(cp->last_ids.ids[i]));
    cJSON_AddItemToObject(json, "lastEventId", json_int64(cp->last_id));
    cJSON_AddStringToObject(json, "lastEventType", cp->last_type);
    cJSON_AddStringToObject(json, "createdTimestamp", created);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    int rc = atomic_file_save(path, "checkpoint", text, strlen(text), err, err_cap);
    free(text);
    return rc;
}

/* ---- Tracker ---- */

typedef struct pending {
    uint64_t seq;
    int64_t time_ms;
    int64_t id;
    bool done;
    char type[96];
} pending;

struct horizon_tracker {
    pending *ring; /* seq increasing from head */
    size_t head;
    size_t count;
    size_t cap;
    bool committed_any; /* an event committed since the tracker started */
    bool has_position;  /* committed_time_ms and committed_ids hold something */
    int64_t committed_time_ms;
    horizon_id_set committed_ids; /* every committed id with committed_time_ms */
    int64_t committed_id;
    char committed_type[96];
};

horizon_tracker *horizon_tracker_new(const horizon_checkpoint *start)
{
    horizon_tracker *t = calloc(1, sizeof *t);
    if (!t || !start)
        return t;
    t->has_position = true;
    t->committed_time_ms = start->last_time_ms;
    if (!horizon_id_set_copy(&t->committed_ids, &start->last_ids)) {
        horizon_tracker_free(t);
        return NULL;
    }
    return t;
}

void horizon_tracker_free(horizon_tracker *t)
{
    if (!t)
        return;
    free(t->ring);
    horizon_id_set_free(&t->committed_ids);
    free(t);
}

static bool grow(horizon_tracker *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    pending *ring = calloc(cap, sizeof *ring);
    if (!ring)
        return false;
    for (size_t i = 0; i < t->count; i++)
        ring[i] = t->ring[(t->head + i) % t->cap];
    free(t->ring);
    t->ring = ring;
    t->cap = cap;
    t->head = 0;
    return true;
}

bool horizon_tracker_pushed(horizon_tracker *t, uint64_t seq, int64_t time_ms, int64_t id,
                            const char *type)
{
    if (t->count == t->cap && !grow(t))
        return false;
    pending *p = &t->ring[(t->head + t->count) % t->cap];
    p->seq = seq;
    p->time_ms = time_ms;
    p->id = id;
    p->done = false;
    snprintf(p->type, sizeof p->type, "%s", type ? type : "");
    t->count++;
    return true;
}

static pending *find(horizon_tracker *t, uint64_t seq)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        pending *p = &t->ring[(t->head + mid) % t->cap];
        if (p->seq == seq)
            return p;
        if (p->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool horizon_tracker_done(horizon_tracker *t, uint64_t seq)
{
    pending *p = find(t, seq);
    if (!p)
        return false;
    p->done = true;
    bool moved = false;
    while (t->count > 0 && t->ring[t->head].done) {
        pending *head = &t->ring[t->head];
        if (!t->has_position || head->time_ms != t->committed_time_ms)
            horizon_id_set_clear(&t->committed_ids);
        horizon_id_set_add(&t->committed_ids, head->id);
        t->has_position = t->committed_any = true;
        t->committed_time_ms = head->time_ms;
        t->committed_id = head->id;
        snprintf(t->committed_type, sizeof t->committed_type, "%s", head->type);
        t->head = (t->head + 1) % t->cap;
        t->count--;
        moved = true;
    }
    return moved;
}

bool horizon_tracker_fill(const horizon_tracker *t, horizon_checkpoint *cp)
{
    if (!t->committed_any)
        return false;
    cp->last_time_ms = t->committed_time_ms;
    cp->last_id = t->committed_id;
    snprintf(cp->last_type, sizeof cp->last_type, "%s", t->committed_type);
    return horizon_id_set_copy(&cp->last_ids, &t->committed_ids);
}

size_t horizon_tracker_pending(const horizon_tracker *t)
{
    return t->count;
}
