/* Lease JSON and the election decisions. See lease.h for the contract. */
#include "ha/lease.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RELEASED_LEASE_SECONDS 1
#define STANDBY_JITTER 0.2
#define EXPIRY_MARGIN_SECONDS 0.01

/* A string field: absent or null reads as "", anything else but a string is an error. */
static bool read_string(const cJSON *spec, const char *name, char *out, size_t cap, char *err,
                        size_t err_cap)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(spec, name);
    out[0] = '\0';
    if (!item || cJSON_IsNull(item))
        return true;
    if (!cJSON_IsString(item)) {
        snprintf(err, err_cap, "Lease spec.%s is not a string", name);
        return false;
    }
    if (strlen(item->valuestring) >= cap) {
        snprintf(err, err_cap, "Lease spec.%s is longer than %zu bytes", name, cap - 1);
        return false;
    }
    memcpy(out, item->valuestring, strlen(item->valuestring) + 1);
    return true;
}

/* An int32 field (the API's type); absent or null reads as 0. */
static bool read_int(const cJSON *spec, const char *name, int *out, char *err, size_t err_cap)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(spec, name);
    *out = 0;
    if (!item || cJSON_IsNull(item))
        return true;
    double value = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    if (!(value >= -2147483648.0 && value <= 2147483647.0) || value != floor(value)) {
        snprintf(err, err_cap, "Lease spec.%s is not a 32-bit integer", name);
        return false;
    }
    *out = (int)value;
    return true;
}

int lease_parse(const char *json, size_t len, lease_record *record, char *rv, size_t rv_cap,
                char *err, size_t err_cap)
{
    memset(record, 0, sizeof *record);
    cJSON *object = cJSON_ParseWithLength(json, len);
    int rc = -1;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(object, "kind");
    const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(metadata, "resourceVersion");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(object, "spec");
    if (!cJSON_IsObject(object)) {
        snprintf(err, err_cap, "the Lease answer is not a JSON object");
    } else if (kind && (!cJSON_IsString(kind) || strcmp(kind->valuestring, "Lease") != 0)) {
        snprintf(err, err_cap, "the answer is not a Lease (kind is not \"Lease\")");
    } else if (!cJSON_IsString(version) || !version->valuestring[0] ||
               strlen(version->valuestring) >= rv_cap) {
        snprintf(err, err_cap, "Lease metadata.resourceVersion is missing or not a short string");
    } else if (spec && !cJSON_IsObject(spec) && !cJSON_IsNull(spec)) {
        snprintf(err, err_cap, "Lease spec is not an object");
    } else if (read_string(spec, "holderIdentity", record->holder, sizeof record->holder, err,
                           err_cap) &&
               read_int(spec, "leaseDurationSeconds", &record->lease_duration_seconds, err,
                        err_cap) &&
               read_string(spec, "acquireTime", record->acquire_time, sizeof record->acquire_time,
                           err, err_cap) &&
               read_string(spec, "renewTime", record->renew_time, sizeof record->renew_time, err,
                           err_cap) &&
               read_int(spec, "leaseTransitions", &record->transitions, err, err_cap)) {
        snprintf(rv, rv_cap, "%s", version->valuestring);
        rc = 0;
    }
    cJSON_Delete(object);
    if (rc != 0)
        memset(record, 0, sizeof *record);
    return rc;
}

/* Replaces every member called name (a hostile answer may repeat a key: the one we write must be
 * the one read back). */
static void set_item(cJSON *object, const char *name, cJSON *value)
{
    while (cJSON_GetObjectItemCaseSensitive(object, name))
        cJSON_DeleteItemFromObjectCaseSensitive(object, name);
    cJSON_AddItemToObject(object, name, value);
}

/* An empty time is left out: the API refuses "" as a MicroTime. */
static void set_spec(cJSON *spec, const lease_record *record)
{
    set_item(spec, "holderIdentity", cJSON_CreateString(record->holder));
    set_item(spec, "leaseDurationSeconds", cJSON_CreateNumber(record->lease_duration_seconds));
    if (record->acquire_time[0])
        set_item(spec, "acquireTime", cJSON_CreateString(record->acquire_time));
    if (record->renew_time[0])
        set_item(spec, "renewTime", cJSON_CreateString(record->renew_time));
    set_item(spec, "leaseTransitions", cJSON_CreateNumber(record->transitions));
}

char *lease_render_new(const char *name, const char *namespace_, const lease_record *record)
{
    cJSON *object = cJSON_CreateObject();
    cJSON_AddStringToObject(object, "apiVersion", "coordination.k8s.io/v1");
    cJSON_AddStringToObject(object, "kind", "Lease");
    cJSON *metadata = cJSON_AddObjectToObject(object, "metadata");
    cJSON_AddStringToObject(metadata, "name", name);
    cJSON_AddStringToObject(metadata, "namespace", namespace_);
    set_spec(cJSON_AddObjectToObject(object, "spec"), record);
    char *text = cJSON_PrintUnformatted(object);
    cJSON_Delete(object);
    return text;
}

char *lease_render_update(const char *observed_json, size_t len, const char *rv,
                          const lease_record *record)
{
    cJSON *object = cJSON_ParseWithLength(observed_json, len);
    if (!cJSON_IsObject(object)) {
        cJSON_Delete(object);
        return NULL;
    }
    cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    if (!cJSON_IsObject(metadata)) {
        metadata = cJSON_CreateObject();
        set_item(object, "metadata", metadata);
    }
    set_item(metadata, "resourceVersion", cJSON_CreateString(rv));
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(object, "spec");
    if (!cJSON_IsObject(spec)) {
        spec = cJSON_CreateObject();
        set_item(object, "spec", spec);
    }
    set_spec(spec, record);
    char *text = cJSON_PrintUnformatted(object);
    cJSON_Delete(object);
    return text;
}

void lease_format_micro_time(double seconds, char *out, size_t cap)
{
    time_t whole = (time_t)floor(seconds);
    long micros = (long)((seconds - floor(seconds)) * 1e6);
    if (micros > 999999)
        micros = 999999;
    struct tm tm;
    gmtime_r(&whole, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%06ldZ", base, micros);
}

bool lease_record_equal(const lease_record *a, const lease_record *b)
{
    return strcmp(a->holder, b->holder) == 0 &&
           a->lease_duration_seconds == b->lease_duration_seconds &&
           strcmp(a->acquire_time, b->acquire_time) == 0 &&
           strcmp(a->renew_time, b->renew_time) == 0 && a->transitions == b->transitions;
}

void election_observe(election_view *view, const lease_record *record, double now)
{
    if (view->has_record && lease_record_equal(&view->record, record))
        return;
    view->record = *record;
    view->observed_time = now;
    view->has_record = true;
}

double election_expiry(const election_view *view)
{
    if (!view->has_record)
        return 0;
    return view->observed_time + view->record.lease_duration_seconds;
}

bool election_held_by_other(const election_view *view, const char *identity, double now)
{
    return view->has_record && view->record.holder[0] &&
           strcmp(view->record.holder, identity) != 0 && election_expiry(view) > now;
}

lease_record election_next_record(const election_view *view, const char *identity,
                                  int lease_duration_seconds, const char *now_text)
{
    lease_record next = {0};
    snprintf(next.holder, sizeof next.holder, "%s", identity);
    next.lease_duration_seconds = lease_duration_seconds;
    snprintf(next.renew_time, sizeof next.renew_time, "%s", now_text);
    bool renewing = view->has_record && strcmp(view->record.holder, identity) == 0;
    if (renewing) {
        memcpy(next.acquire_time, view->record.acquire_time, sizeof next.acquire_time);
        next.transitions = view->record.transitions;
        if (!next.acquire_time[0])
            snprintf(next.acquire_time, sizeof next.acquire_time, "%s", now_text);
    } else {
        snprintf(next.acquire_time, sizeof next.acquire_time, "%s", now_text);
        next.transitions = view->has_record ? view->record.transitions + 1 : 0;
    }
    return next;
}

lease_record election_release_record(const election_view *view, const char *now_text)
{
    lease_record released = {0};
    released.lease_duration_seconds = RELEASED_LEASE_SECONDS;
    released.transitions = view->has_record ? view->record.transitions : 0;
    snprintf(released.acquire_time, sizeof released.acquire_time, "%s", now_text);
    snprintf(released.renew_time, sizeof released.renew_time, "%s", now_text);
    return released;
}

bool election_must_step_down(double last_renew, double renew_deadline, double now)
{
    return now - last_renew >= renew_deadline;
}

double election_next_try_delay(bool leading, const election_view *view, double retry_period,
                               double jitter, double now)
{
    if (leading)
        return retry_period;
    double delay = retry_period * (1.0 + STANDBY_JITTER * jitter);
    double expiry = election_expiry(view);
    if (view->has_record && view->record.holder[0] && expiry > now &&
        expiry + EXPIRY_MARGIN_SECONDS - now < delay)
        delay = expiry + EXPIRY_MARGIN_SECONDS - now;
    return delay;
}
