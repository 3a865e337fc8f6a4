/* Horizon audit event conversion. See horizon_event.h. */
#include "sources/horizon/horizon_event.h"

#include "log.h"
#include "utf8.h"

#include <stdlib.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* JSON numbers arrive as doubles: integral and within 2^53 is exact for ids and ms times. */
static bool integer_field(const cJSON *object, const char *name, int64_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    if (!cJSON_IsNumber(item))
        return false;
    double v = item->valuedouble;
    if (v != floor(v) || fabs(v) > 9007199254740992.0)
        return false;
    *out = (int64_t)v;
    return true;
}

bool horizon_event_fields(const cJSON *object, int64_t *id, int64_t *time_ms, const char **type,
                          char *reason, size_t reason_cap)
{
    if (!cJSON_IsObject(object)) {
        snprintf(reason, reason_cap, "not a JSON object");
        return false;
    }
    if (!integer_field(object, "id", id)) {
        snprintf(reason, reason_cap, "field id: missing or not an integer");
        return false;
    }
    if (!integer_field(object, "time", time_ms)) {
        snprintf(reason, reason_cap, "event %lld: field time: missing or not an integer",
                 (long long)*id);
        return false;
    }
    const cJSON *type_item = cJSON_GetObjectItemCaseSensitive(object, "type");
    if (!cJSON_IsString(type_item) || !type_item->valuestring[0]) {
        snprintf(reason, reason_cap, "event %lld: field type: missing or not a string",
                 (long long)*id);
        return false;
    }
    *type = type_item->valuestring;
    return true;
}

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z in ms since the epoch. */
#define RFC3339_FIRST_MS (-62167219200000LL)
#define RFC3339_LAST_MS 253402300799999LL

void horizon_format_time_ms(int64_t time_ms, char *out, size_t cap)
{
    /* RFC 3339 has four-digit years; outside them (and for INT64_MIN, which cannot be negated)
     * there is no timestamp to write. */
    if (time_ms < RFC3339_FIRST_MS || time_ms > RFC3339_LAST_MS) {
        snprintf(out, cap, "%s", "");
        return;
    }
    int64_t seconds = time_ms >= 0 ? time_ms / 1000 : -((-time_ms + 999) / 1000);
    int millis = (int)(time_ms - seconds * 1000);
    time_t t = (time_t)seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    /* Not strftime's %Y: it does not pad years below 1000 to four digits. */
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

event *horizon_event_convert(const cJSON *object, horizon_event_format format,
                             const char *source_url, char *reason, size_t reason_cap)
{
    int64_t id, time_ms;
    const char *type;
    if (!horizon_event_fields(object, &id, &time_ms, &type, reason, reason_cap))
        return NULL;
    /* Horizon's answer is read with cJSON, which passes any bytes through in strings. A polled
     * source cannot refuse an event: bytes that are not UTF-8 become U+FFFD (said in the log),
     * so the event stays deliverable to a strict receiver. */
    char *type_fixed =
        utf8_valid(type, strlen(type)) ? NULL : utf8_replace_invalid(type, strlen(type));
    if (type_fixed)
        type = type_fixed;
    char lower[256];
    size_t n = 0;
    for (; type[n] && n + 1 < sizeof lower; n++)
        lower[n] = (char)tolower((unsigned char)type[n]);
    while (n > 0 && !utf8_valid(lower, n))
        n--; /* the cut must not split a UTF-8 sequence (fuzz finding) */
    lower[n] = '\0';
    char ce_type[320], ce_id[32], ce_time[64];
    snprintf(ce_type, sizeof ce_type,
             format == HORIZON_FORMAT_SOURCES_KNATIVE ? "com.vmware.horizon.%s.v0"
                                                      : "com.vmware.event.router/horizon.%s.v0",
             lower);
    snprintf(ce_id, sizeof ce_id, "%lld", (long long)id);
    /* A time outside RFC 3339's years gives no 'time' (the event would be invalid and every
     * receiver refuse it); the data keeps what Horizon sent. */
    horizon_format_time_ms(time_ms, ce_time, sizeof ce_time);

    event *ev = event_new();
    cJSON *data = cJSON_Duplicate(object, 1);
    int repaired = data ? utf8_repair_json(data) : -1;
    if (!ev || !data || repaired < 0) {
        event_unref(ev);
        cJSON_Delete(data);
        free(type_fixed);
        snprintf(reason, reason_cap, "event %lld: out of memory", (long long)id);
        return NULL;
    }
    if (repaired > 0)
        log_warn("horizon",
                 "event %lld: %d string(s) held bytes that are not UTF-8, kept as U+FFFD",
                 (long long)id, repaired);
    bool ok =
        event_set_attribute(ev, "specversion", "1.0") && event_set_attribute(ev, "id", ce_id) &&
        event_set_attribute(ev, "source", source_url) && event_set_attribute(ev, "type", ce_type) &&
        event_set_attribute(ev, "subject", type) &&
        event_set_attribute(ev, "time", ce_time[0] ? ce_time : NULL) &&
        event_set_attribute(ev, "datacontenttype", "application/json");
    free(type_fixed);
    if (!ok) {
        event_unref(ev);
        cJSON_Delete(data);
        snprintf(reason, reason_cap, "event %lld: cannot set its attributes", (long long)id);
        return NULL;
    }
    event_set_data_json(ev, data);
    return ev;
}
