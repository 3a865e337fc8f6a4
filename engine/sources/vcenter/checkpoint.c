/* Checkpoint file and the contiguous-done tracker. See checkpoint.h for the contract. */
#include "sources/vcenter/checkpoint.h"

#include "atomic_file.h"
#include "json_integer.h"
#include "small_file.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CHECKPOINT_BYTES (64 * 1024)

bool checkpoint_path(const char *dir, const char *host, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/cp-%s.json", dir && dir[0] ? dir : ".", host);
    return n > 0 && (size_t)n < cap;
}

static void copy_string(const cJSON *object, const char *name, char *out, size_t cap)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    snprintf(out, cap, "%s", cJSON_IsString(item) ? item->valuestring : "");
}

int checkpoint_parse(const char *text, size_t len, const char *where, checkpoint_record *out,
                     char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    cJSON *json = cJSON_ParseWithLength(text, len);
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(json, "lastEventKey");
    if (!cJSON_IsObject(json) || !cJSON_IsNumber(key)) {
        snprintf(err, err_cap, "checkpoint %s is not a valid checkpoint (no lastEventKey)", where);
        cJSON_Delete(json);
        return -1;
    }
    /* An edited or damaged file may hold any number; converting one outside int64 is undefined,
     * and past 2^53 a JSON number no longer reads back as the integer written (cJSON keeps a
     * double). vCenter's keys are 32-bit, so such a key was never vCenter's. */
    double value = key->valuedouble;
    if (!(value >= -0x1p53 && value <= 0x1p53) || value != (double)(int64_t)value) {
        snprintf(err, err_cap,
                 "checkpoint %s: lastEventKey %.17g is not a 64-bit integer within +-2^53", where,
                 value);
        cJSON_Delete(json);
        return -1;
    }
    out->last_event_key = (int64_t)key->valuedouble;
    copy_string(json, "vCenter", out->vcenter, sizeof out->vcenter);
    copy_string(json, "lastEventUUID", out->last_event_uuid, sizeof out->last_event_uuid);
    copy_string(json, "lastEventType", out->last_event_type, sizeof out->last_event_type);
    copy_string(json, "lastEventKeyTimestamp", out->last_event_key_timestamp,
                sizeof out->last_event_key_timestamp);
    copy_string(json, "createdTimestamp", out->created_timestamp, sizeof out->created_timestamp);
    cJSON_Delete(json);
    return 1;
}

int checkpoint_load(const char *path, checkpoint_record *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    int found =
        small_file_read(path, MAX_CHECKPOINT_BYTES, "checkpoint", &text, &len, err, err_cap);
    if (found <= 0)
        return found;
    int rc = checkpoint_parse(text, len, path, out, err, err_cap);
    free(text);
    return rc;
}

char *checkpoint_render(const checkpoint_record *record)
{
    char created[64];
    if (record->created_timestamp[0]) {
        snprintf(created, sizeof created, "%s", record->created_timestamp);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        checkpoint_format_time(now.tv_sec, now.tv_nsec, created, sizeof created);
    }
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "vCenter", record->vcenter);
    cJSON_AddStringToObject(json, "lastEventUUID", record->last_event_uuid);
    cJSON_AddItemToObject(json, "lastEventKey", json_int64(record->last_event_key));
    cJSON_AddStringToObject(json, "lastEventType", record->last_event_type);
    cJSON_AddStringToObject(json, "lastEventKeyTimestamp",
                            record->last_event_key_timestamp[0] ? record->last_event_key_timestamp
                                                                : "0001-01-01T00:00:00Z");
    cJSON_AddStringToObject(json, "createdTimestamp", created);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    return text;
}

int checkpoint_save(const char *path, const checkpoint_record *record, char *err, size_t err_cap)
{
    char *text = checkpoint_render(record);
    if (!text) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }

    int rc = atomic_file_save(path, "checkpoint", text, strlen(text), err, err_cap);
    free(text);
    return rc;
}

/* ---- Tracker ---- */

typedef struct pending_event {
    int64_t key;
    bool done;
    char *uuid;
    char *type;
    char *created_time;
} pending_event;

struct checkpoint_tracker {
    pending_event *ring; /* keys increasing from head */
    size_t head;
    size_t count;
    size_t cap;
    int64_t last_pushed;
    int64_t committed;
    pending_event last_committed; /* owns its strings; key 0 and no uuid until one commits */
    bool has_committed_event;
};

checkpoint_tracker *checkpoint_tracker_new(int64_t start_key)
{
    checkpoint_tracker *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->last_pushed = t->committed = start_key;
    return t;
}

static void pending_clear(pending_event *p)
{
    free(p->uuid);
    free(p->type);
    free(p->created_time);
    memset(p, 0, sizeof *p);
}

void checkpoint_tracker_free(checkpoint_tracker *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->count; i++)
        pending_clear(&t->ring[(t->head + i) % t->cap]);
    pending_clear(&t->last_committed);
    free(t->ring);
    free(t);
}

static bool grow(checkpoint_tracker *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    pending_event *ring = calloc(cap, sizeof *ring);
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

bool checkpoint_tracker_pushed(checkpoint_tracker *t, int64_t key, const char *uuid,
                               const char *type, const char *created_time)
{
    if (key <= t->last_pushed || (t->count == t->cap && !grow(t)))
        return false;
    pending_event *p = &t->ring[(t->head + t->count) % t->cap];
    p->key = key;
    p->done = false;
    p->uuid = strdup(uuid ? uuid : "");
    p->type = strdup(type ? type : "");
    p->created_time = strdup(created_time ? created_time : "");
    if (!p->uuid || !p->type || !p->created_time) {
        pending_clear(p);
        return false;
    }
    t->count++;
    t->last_pushed = key;
    return true;
}

/* Binary search: the ring holds increasing keys. */
static pending_event *find(checkpoint_tracker *t, int64_t key)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        pending_event *p = &t->ring[(t->head + mid) % t->cap];
        if (p->key == key)
            return p;
        if (p->key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool checkpoint_tracker_done(checkpoint_tracker *t, int64_t key)
{
    pending_event *p = find(t, key);
    if (!p)
        return false;
    p->done = true;
    bool moved = false;
    while (t->count > 0 && t->ring[t->head].done) {
        pending_clear(&t->last_committed);
        t->last_committed = t->ring[t->head]; /* takes over the strings */
        memset(&t->ring[t->head], 0, sizeof t->ring[t->head]);
        t->committed = t->last_committed.key;
        t->has_committed_event = true;
        t->head = (t->head + 1) % t->cap;
        t->count--;
        moved = true;
    }
    return moved;
}

int64_t checkpoint_tracker_committed(const checkpoint_tracker *t)
{
    return t->committed;
}

bool checkpoint_tracker_fill(const checkpoint_tracker *t, checkpoint_record *record)
{
    if (!t->has_committed_event)
        return false;
    record->last_event_key = t->last_committed.key;
    snprintf(record->last_event_uuid, sizeof record->last_event_uuid, "%s", t->last_committed.uuid);
    snprintf(record->last_event_type, sizeof record->last_event_type, "%s", t->last_committed.type);
    snprintf(record->last_event_key_timestamp, sizeof record->last_event_key_timestamp, "%s",
             t->last_committed.created_time);
    return true;
}

size_t checkpoint_tracker_pending(const checkpoint_tracker *t)
{
    return t->count;
}

/* ---- Time ---- */

void checkpoint_format_time(int64_t seconds, long nanoseconds, char *out, size_t cap)
{
    time_t t = (time_t)seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%09ldZ", base, nanoseconds);
}

bool checkpoint_parse_time(const char *text, double *seconds)
{
    if (!text)
        return false;
    struct tm tm = {0};
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return false;
    double fraction = 0;
    if (*rest == '.') {
        char *end;
        fraction = strtod(rest, &end);
        rest = end;
    }
    double offset = 0;
    if (*rest == '+' || *rest == '-') {
        int hours, minutes;
        if (sscanf(rest + 1, "%2d:%2d", &hours, &minutes) != 2)
            return false;
        offset = (*rest == '+' ? 1 : -1) * (hours * 3600.0 + minutes * 60.0);
    } else if (*rest != 'Z' && *rest != 'z') {
        return false;
    }
    *seconds = (double)timegm(&tm) + fraction - offset;
    return true;
}
