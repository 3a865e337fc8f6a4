/* The engine's counters, and their two renderings: the VMware Event Router's /stats JSON (so
 * existing dashboards and scripts keep working) and Prometheus text for /metrics. */
#include "metrics/metrics.h"

#include "log.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef EVENT_ROUTER_VERSION
#define EVENT_ROUTER_VERSION "unknown"
#endif

/* From half a millisecond (a local function answering at once) to ten seconds (a slow target,
 * or a delivery that needed retries); beyond that only +Inf. */
const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 2.5, 10,
};

/* ---- construction ---------------------------------------------------------------------------- */

static char *copy_or_empty(const char *text)
{
    return strdup(text ? text : "");
}

metrics *metrics_new(void)
{
    metrics *m = calloc(1, sizeof *m);
    if (m)
        m->started = time(NULL);
    return m;
}

static void provider_free(provider_stats *p)
{
    free(p->name);
    free(p->type);
    free(p->address);
    free(p);
}

static void processor_free(processor_stats *p)
{
    for (size_t i = 0; i < p->subject_count; i++)
        free(p->subjects[i].subject);
    free(p->subjects);
    free(p->name);
    free(p->type);
    free(p->address);
    free(p);
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->provider_count; i++)
        provider_free(m->providers[i]);
    for (size_t i = 0; i < m->processor_count; i++)
        processor_free(m->processors[i]);
    free(m->providers);
    free(m->processors);
    free(m);
}

provider_stats *metrics_add_provider(metrics *m, const char *name, const char *type,
                                     const char *address)
{
    provider_stats *p = calloc(1, sizeof *p);
    provider_stats **grown = realloc(m->providers, (m->provider_count + 1) * sizeof *grown);
    if (!p || !grown) {
        free(p);
        if (grown)
            m->providers = grown;
        return NULL;
    }
    m->providers = grown;
    p->name = copy_or_empty(name);
    p->type = copy_or_empty(type);
    p->address = copy_or_empty(address);
    p->started = time(NULL);
    if (!p->name || !p->type || !p->address) {
        provider_free(p);
        return NULL;
    }
    m->providers[m->provider_count++] = p;
    return p;
}

processor_stats *metrics_add_processor(metrics *m, const char *name, const char *type)
{
    processor_stats *p = calloc(1, sizeof *p);
    processor_stats **grown = realloc(m->processors, (m->processor_count + 1) * sizeof *grown);
    if (!p || !grown) {
        free(p);
        if (grown)
            m->processors = grown;
        return NULL;
    }
    m->processors = grown;
    p->name = copy_or_empty(name);
    p->type = copy_or_empty(type);
    if (!p->name || !p->type) {
        processor_free(p);
        return NULL;
    }
    m->processors[m->processor_count++] = p;
    return p;
}

void metrics_set_processor_address(processor_stats *p, const char *address)
{
    char *copy = copy_or_empty(address);
    if (!copy)
        return;
    free(p->address);
    p->address = copy;
}

/* ---- recording ------------------------------------------------------------------------------- */

/* Length of subject cut to the byte limit without splitting a UTF-8 sequence. */
static size_t bounded_subject_length(const char *subject)
{
    size_t len = strnlen(subject, METRICS_SUBJECT_MAX_BYTES + 1);
    if (len <= METRICS_SUBJECT_MAX_BYTES)
        return len;
    len = METRICS_SUBJECT_MAX_BYTES;
    while (len > 0 && ((unsigned char)subject[len] & 0xC0) == 0x80)
        len--;
    return len;
}

/* Compares a stored subject with the first len bytes of key, in strcmp order. */
static int compare_subject(const char *stored, const char *key, size_t len)
{
    int c = strncmp(stored, key, len);
    if (c != 0)
        return c;
    return stored[len] == '\0' ? 0 : 1;
}

/* Binary search in the sorted table; returns whether found and where it is or belongs. */
static bool find_subject(const processor_stats *p, const char *key, size_t len, size_t *index)
{
    size_t low = 0, high = p->subject_count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        int c = compare_subject(p->subjects[mid].subject, key, len);
        if (c == 0) {
            *index = mid;
            return true;
        }
        if (c < 0)
            low = mid + 1;
        else
            high = mid;
    }
    *index = low;
    return false;
}

static subject_count *insert_subject(processor_stats *p, size_t at, const char *key, size_t len)
{
    if (p->subject_count == p->subject_cap) {
        size_t cap = p->subject_cap ? p->subject_cap * 2 : 8;
        subject_count *grown = realloc(p->subjects, cap * sizeof *grown);
        if (!grown)
            return NULL;
        p->subjects = grown;
        p->subject_cap = cap;
    }
    char *copy = strndup(key, len);
    if (!copy)
        return NULL;
    memmove(&p->subjects[at + 1], &p->subjects[at], (p->subject_count - at) * sizeof *p->subjects);
    p->subjects[at] = (subject_count){.subject = copy};
    p->subject_count++;
    return &p->subjects[at];
}

/* The table is kept sorted, which makes lookups logarithmic and the rendering already ordered the
 * way Go's encoding/json orders map keys. */
static subject_count *subject_slot(processor_stats *p, const char *subject)
{
    const char *key = subject ? subject : "";
    size_t len = bounded_subject_length(key);
    size_t at;
    if (find_subject(p, key, len, &at))
        return &p->subjects[at];
    if (p->subject_count >= METRICS_MAX_SUBJECTS) {
        key = METRICS_OTHER_SUBJECT;
        len = strlen(key);
        if (find_subject(p, key, len, &at))
            return &p->subjects[at];
    }
    return insert_subject(p, at, key, len);
}

void metrics_processor_outcome(processor_stats *p, const char *subject, int success)
{
    if (success)
        p->delivered++;
    else
        p->failed++;
    subject_count *slot = subject_slot(p, subject);
    if (!slot)
        return;
    if (success)
        slot->success++;
    else
        slot->failure++;
}

void metrics_count_response(processor_stats *p, long http_status)
{
    size_t class = http_status >= 100 && http_status <= 599 ? (size_t)(http_status / 100) : 0;
    p->responses_by_class[class]++;
}

static void observe(uint64_t *buckets, uint64_t *count, double *sum, double seconds)
{
    if (isnan(seconds))
        return;
    if (seconds < 0)
        seconds = 0;
    for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++)
        if (seconds <= metrics_latency_bounds[i])
            buckets[i]++;
    (*count)++;
    *sum += seconds;
}

void metrics_observe_latency(metrics *m, double seconds)
{
    observe(m->latency_buckets, &m->latency_count, &m->latency_sum, seconds);
}

void metrics_observe_commit(metrics *m, double seconds)
{
    observe(m->commit_buckets, &m->commit_count, &m->commit_sum, seconds);
}

/* ---- /stats ---------------------------------------------------------------------------------- */

/* VEBA keys its stats map by the component's type ("webhook", "knative"): it could only run one of
 * each. We keep that key whenever it is unambiguous and fall back to "type/name" otherwise. */
static bool type_is_shared(const metrics *m, const char *type)
{
    size_t uses = 0;
    for (size_t i = 0; i < m->provider_count; i++)
        uses += strcmp(m->providers[i]->type, type) == 0;
    for (size_t i = 0; i < m->processor_count; i++)
        uses += strcmp(m->processors[i]->type, type) == 0;
    return uses > 1;
}

static void stats_key(const metrics *m, const char *type, const char *name, char *out, size_t cap)
{
    if (type_is_shared(m, type) || type[0] == '\0')
        snprintf(out, cap, "%s/%s", type, name);
    else
        snprintf(out, cap, "%s", type);
}

/* Go marshals time.Time as RFC 3339; whole seconds are all we keep. */
static void format_rfc3339(time_t when, char *out, size_t cap)
{
    struct tm utc;
    gmtime_r(&when, &utc);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

static double seconds_since(time_t started, time_t now)
{
    double elapsed = difftime(now, started);
    /* Go divides by the (always positive) elapsed time; below a second we count a second rather
     * than report a burst as an absurd rate or divide by zero. */
    return elapsed < 1 ? 1 : elapsed;
}

static cJSON *provider_stats_json(const provider_stats *p, time_t now)
{
    char started[32];
    format_rfc3339(p->started, started, sizeof started);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "EventProvider");
    cJSON_AddStringToObject(o, "address", p->address);
    cJSON_AddStringToObject(o, "started", started);
    cJSON_AddNumberToObject(o, "events_total", (double)p->events_total);
    cJSON_AddNumberToObject(o, "events_err", (double)p->events_err);
    /* VEBA rounds to two decimals ("%.2f" semantics) */
    double rate = (double)p->events_total / seconds_since(p->started, now);
    cJSON_AddNumberToObject(o, "events_per_sec", round(rate * 100) / 100);
    return o;
}

static cJSON *processor_stats_json(const processor_stats *p, time_t started_at)
{
    char started[32];
    format_rfc3339(started_at, started, sizeof started);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "EventProcessor");
    cJSON_AddStringToObject(o, "address", p->address ? p->address : "");
    cJSON_AddStringToObject(o, "started", started);
    /* Ours (VEBA has no filters): only when a filter kept something back. */
    if (p->filtered > 0)
        cJSON_AddNumberToObject(o, "filtered", (double)p->filtered);
    /* Go's omitempty drops an empty map, and InvocationDetails has no json tags, so its field
     * names are the keys. */
    if (p->subject_count > 0) {
        cJSON *invocations = cJSON_AddObjectToObject(o, "invocations");
        for (size_t i = 0; i < p->subject_count; i++) {
            cJSON *details = cJSON_AddObjectToObject(invocations, p->subjects[i].subject);
            cJSON_AddNumberToObject(details, "SuccessCount", (double)p->subjects[i].success);
            cJSON_AddNumberToObject(details, "FailureCount", (double)p->subjects[i].failure);
        }
    }
    return o;
}

/* /proc/self/cmdline as the JSON array Go's expvar publishes under "cmdline". */
static cJSON *command_line_json(void)
{
    cJSON *args = cJSON_CreateArray();
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f)
        return args;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* a secret passed on the command line must not leak through /stats either */
    char masked[sizeof buf];
    for (size_t at = 0; at < n; at += strlen(buf + at) + 1) {
        log_mask_secrets(buf + at, masked, sizeof masked);
        cJSON_AddItemToArray(args, cJSON_CreateString(masked));
    }
    return args;
}

static void add_load_average(cJSON *root)
{
    double load[3] = {0, 0, 0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = load[1] = load[2] = 0;
        fclose(f);
    }
    cJSON *all = cJSON_AddObjectToObject(root, "system.allLoad");
    cJSON_AddNumberToObject(all, "Load1", load[0]);
    cJSON_AddNumberToObject(all, "Load5", load[1]);
    cJSON_AddNumberToObject(all, "Load15", load[2]);
    cJSON_AddNumberToObject(root, "system.lastLoad", load[0]);
}

typedef struct stats_entry {
    char key[512];
    cJSON *value;
} stats_entry;

static int compare_stats_entries(const void *a, const void *b)
{
    return strcmp(((const stats_entry *)a)->key, ((const stats_entry *)b)->key);
}

/* Our addition to the document (VEBA has no scripts): reloads and script errors. */
static void add_script_stats(cJSON *root, const metrics *m)
{
    cJSON *scripts = cJSON_AddObjectToObject(root, "vmware.event.router.scripts");
    cJSON_AddNumberToObject(scripts, "reloads", (double)m->reloads_total);
    cJSON_AddNumberToObject(scripts, "reload_failures", (double)m->reload_failures_total);
    if (m->last_reload) {
        char stamp[32];
        struct tm utc;
        gmtime_r(&m->last_reload, &utc);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
        cJSON_AddStringToObject(scripts, "last_reload", stamp);
    } else {
        cJSON_AddNullToObject(scripts, "last_reload");
    }
    cJSON_AddStringToObject(scripts, "last_reload_error", m->last_reload_error);
    cJSON_AddNumberToObject(scripts, "errors", (double)m->script_errors_total);
}

/* The Go router serves expvar's document: its variables in key order, the router's own under
 * "vmware.event.router.stats". Go's runtime "memstats" has no counterpart here and is left out. */
char *metrics_render_stats(const metrics *m)
{
    time_t now = time(NULL);
    cJSON *root = cJSON_CreateObject();
    cJSON *args = command_line_json();
    cJSON *program = cJSON_GetArrayItem(args, 0);
    cJSON_AddItemToObject(root, "cmdline", args);
    add_load_average(root);
    cJSON_AddNumberToObject(root, "system.numberOfSeconds", difftime(now, m->started));
    cJSON_AddStringToObject(root, "system.programName",
                            cJSON_IsString(program) ? program->valuestring : "event-router");

    /* Go's encoding/json writes map keys sorted: collect, sort, then add. */
    size_t count = m->provider_count + m->processor_count;
    stats_entry *entries = calloc(count ? count : 1, sizeof *entries);
    add_script_stats(root, m); /* sorts before "...stats", as expvar orders keys */
    cJSON *stats = cJSON_AddObjectToObject(root, "vmware.event.router.stats");
    if (!entries) {
        cJSON_Delete(root);
        return NULL;
    }
    for (size_t i = 0; i < m->provider_count; i++) {
        const provider_stats *p = m->providers[i];
        stats_key(m, p->type, p->name, entries[i].key, sizeof entries[i].key);
        entries[i].value = provider_stats_json(p, now);
    }
    count = m->provider_count;
    for (size_t i = 0; i < m->processor_count; i++) {
        const processor_stats *p = m->processors[i];
        if (p->metrics_only)
            continue;
        stats_entry *e = &entries[count++];
        stats_key(m, p->type, p->name, e->key, sizeof e->key);
        e->value = processor_stats_json(p, m->started);
    }
    qsort(entries, count, sizeof *entries, compare_stats_entries);
    for (size_t i = 0; i < count; i++)
        cJSON_AddItemToObject(stats, entries[i].key, entries[i].value);
    free(entries);
    if (m->leader_samples) {
        metrics_leader_sample leader = {0};
        m->leader_samples(m->leader_samples_user, &leader);
        cJSON *election = cJSON_AddObjectToObject(root, "leaderElection");
        cJSON_AddStringToObject(election, "identity", leader.identity ? leader.identity : "");
        cJSON_AddStringToObject(election, "holder", leader.holder ? leader.holder : "");
        cJSON_AddStringToObject(election, "role", leader.leading ? "leader" : "standby");
        cJSON_AddNumberToObject(election, "transitions", (double)leader.transitions);
    }

    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

/* ---- /metrics -------------------------------------------------------------------------------- */

typedef struct text_buffer {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} text_buffer;

static void text_append(text_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_append(text_buffer *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list args;
        va_start(args, fmt);
        int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, args);
        va_end(args);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
}

/* Label values may hold any UTF-8; the exposition format escapes exactly \, " and newline. */
static void append_label_value(text_buffer *b, const char *value)
{
    for (const char *c = value; *c; c++) {
        if (*c == '\\')
            text_append(b, "\\\\");
        else if (*c == '"')
            text_append(b, "\\\"");
        else if (*c == '\n')
            text_append(b, "\\n");
        else
            text_append(b, "%c", *c);
    }
}

/* Shortest text that reads back as the same double, laid out as Go's strconv 'g' with precision
 * -1 (what Prometheus' own client writes): plain decimals unless the exponent is below -4 or at
 * least 6, so bucket bounds read le="10", not le="1e+01". */
static void format_double(double value, char *out, size_t cap)
{
    if (isinf(value)) {
        snprintf(out, cap, value > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (isnan(value)) {
        snprintf(out, cap, "NaN");
        return;
    }
    int decimals = 0;
    for (; decimals < 17; decimals++) {
        snprintf(out, cap, "%.*e", decimals, value);
        if (strtod(out, NULL) == value)
            break;
    }
    const char *e = strchr(out, 'e');
    int exponent = e ? atoi(e + 1) : 0;
    if (exponent < -4 || exponent >= 6)
        return; /* already "%.*e" with the fewest digits */
    int fraction = decimals - exponent;
    snprintf(out, cap, "%.*f", fraction > 0 ? fraction : 0, value);
}

static void append_header(text_buffer *b, const char *name, const char *type, const char *help)
{
    text_append(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void append_unlabelled(text_buffer *b, const char *name, const char *type, const char *help,
                              uint64_t value)
{
    append_header(b, name, type, help);
    text_append(b, "%s %" PRIu64 "\n", name, value);
}

/* name{processor="..."} value, optionally with one more label. */
static void append_processor_sample(text_buffer *b, const char *name, const char *processor,
                                    const char *label, const char *label_value, uint64_t value)
{
    text_append(b, "%s{processor=\"", name);
    append_label_value(b, processor);
    text_append(b, "\"");
    if (label) {
        text_append(b, ",%s=\"", label);
        append_label_value(b, label_value);
        text_append(b, "\"");
    }
    text_append(b, "} %" PRIu64 "\n", value);
}

static void append_histogram(text_buffer *b, const char *name, const char *help,
                             const uint64_t *buckets, uint64_t count, double sum_seconds)
{
    append_header(b, name, "histogram", help);
    char bound[32];
    for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
        format_double(metrics_latency_bounds[i], bound, sizeof bound);
        text_append(b, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, bound, buckets[i]);
    }
    text_append(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, count);
    char sum[32];
    format_double(sum_seconds, sum, sizeof sum);
    text_append(b, "%s_sum %s\n%s_count %" PRIu64 "\n", name, sum, name, count);
}

static void append_event_totals(text_buffer *b, const metrics *m)
{
    append_unlabelled(b, "event_router_events_in_total", "counter",
                      "Events accepted from all providers.", m->events_in);
    append_unlabelled(b, "event_router_events_out_total", "counter",
                      "Events delivered by every processor they were routed to.", m->events_out);
    append_unlabelled(b, "event_router_events_dropped_total", "counter",
                      "Events dropped without delivery.", m->events_dropped);
    append_unlabelled(b, "event_router_events_dead_lettered_total", "counter",
                      "Events written to the dead-letter store after final failure.",
                      m->events_dead_lettered);
    size_t depth = m->queue_depth ? m->queue_depth(m->queue_depth_user) : 0;
    append_unlabelled(b, "event_router_queue_depth", "gauge",
                      "Events accepted and not yet finished (queued or in the dispatchers).",
                      (uint64_t)depth);
    metrics_queue_sample q = {0};
    if (m->queue_samples)
        m->queue_samples(m->queue_samples_user, &q);
    append_unlabelled(b, "event_router_queue_bytes", "gauge",
                      "Bytes of events waiting in the queue (bounded by queue.maxBytes).",
                      q.queued_bytes);
    append_unlabelled(b, "event_router_in_flight_bytes", "gauge",
                      "Bytes of events in the dispatchers (bounded by delivery.maxInFlightBytes).",
                      q.in_delivery_bytes);
    if (q.disk) {
        append_unlabelled(b, "event_router_disk_queue_bytes", "gauge",
                          "Bytes of live disk queue segments (bounded by queue.maxBytes).",
                          q.disk_bytes);
        append_unlabelled(b, "event_router_disk_queue_fsyncs_total", "counter",
                          "fdatasync and directory fsync calls of the disk queue.", q.fsyncs);
        append_unlabelled(b, "event_router_disk_queue_commits_total", "counter",
                          "Group commits (one write of a batch) of the disk queue.", q.commits);
        append_unlabelled(b, "event_router_disk_queue_healthy", "gauge",
                          "1 while the disk queue writes and syncs succeed; 0 is an alarm.",
                          q.disk_healthy ? 1 : 0);
        append_histogram(b, "event_router_disk_queue_commit_seconds",
                         "Seconds each synced group commit spent in write and fdatasync: the "
                         "disk's share of a 202's wait.",
                         m->commit_buckets, m->commit_count, m->commit_sum);
        append_unlabelled(b, "event_router_disk_queue_recovered_events", "gauge",
                          "Undelivered events read back from the disk queue at start.",
                          m->queue_recovered_events);
        append_unlabelled(b, "event_router_disk_queue_torn_records", "gauge",
                          "Torn or corrupt records skipped in the disk queue at start.",
                          m->queue_torn_records);
    }
    append_unlabelled(b, "event_router_deadletter_pending", "gauge",
                      "Events whose dead-letter write failed and is being retried (an alarm).",
                      q.deadletter_pending);
    append_unlabelled(b, "event_router_deadletter_write_failures_total", "counter",
                      "Dead-letter writes that failed (disk full, no file descriptors, ...).",
                      q.deadletter_write_failures);
}

typedef enum {
    PROVIDER_TAKEN,
    PROVIDER_REFUSED,
    PROVIDER_UNKNOWN_CLASSES,
    PROVIDER_LOST,
    PROVIDER_ABSENT
} provider_count_kind;

static uint64_t provider_count(const provider_stats *p, provider_count_kind kind)
{
    switch (kind) {
    case PROVIDER_TAKEN:
        return p->events_total;
    case PROVIDER_REFUSED:
        return p->events_err;
    case PROVIDER_UNKNOWN_CLASSES:
        return p->unknown_classes;
    case PROVIDER_LOST:
        return p->events_lost;
    case PROVIDER_ABSENT:
        return p->event_keys_absent;
    }
    return 0;
}

static void append_provider_family(text_buffer *b, const metrics *m, const char *name,
                                   const char *help, provider_count_kind kind)
{
    append_header(b, name, "counter", help);
    for (size_t i = 0; i < m->provider_count; i++) {
        const provider_stats *p = m->providers[i];
        text_append(b, "%s{provider=\"", name);
        append_label_value(b, p->name);
        text_append(b, "\",type=\"");
        append_label_value(b, p->type);
        text_append(b, "\"} %" PRIu64 "\n", provider_count(p, kind));
    }
}

static void append_processor_families(text_buffer *b, const metrics *m)
{
    static const char *const classes[6] = {"error", "1xx", "2xx", "3xx", "4xx", "5xx"};
    append_header(b, "event_router_deliveries_total", "counter",
                  "Final delivery outcomes per processor.");
    for (size_t i = 0; i < m->processor_count; i++) {
        const processor_stats *p = m->processors[i];
        append_processor_sample(b, "event_router_deliveries_total", p->name, "result", "success",
                                p->delivered);
        append_processor_sample(b, "event_router_deliveries_total", p->name, "result", "failure",
                                p->failed);
    }
    append_header(b, "event_router_responses_total", "counter",
                  "Delivery attempts per processor by HTTP status class (error: no answer).");
    for (size_t i = 0; i < m->processor_count; i++)
        for (size_t c = 0; c < 6; c++)
            append_processor_sample(b, "event_router_responses_total", m->processors[i]->name,
                                    "class", classes[c], m->processors[i]->responses_by_class[c]);
    append_header(b, "event_router_retries_total", "counter",
                  "Delivery attempts repeated after a transient failure.");
    for (size_t i = 0; i < m->processor_count; i++)
        append_processor_sample(b, "event_router_retries_total", m->processors[i]->name, NULL, NULL,
                                m->processors[i]->retries);
    append_header(b, "event_router_filtered_total", "counter",
                  "Events a processor's filter (eventPattern) did not match: acknowledged, not "
                  "delivered.");
    for (size_t i = 0; i < m->processor_count; i++)
        append_processor_sample(b, "event_router_filtered_total", m->processors[i]->name, NULL,
                                NULL, m->processors[i]->filtered);
    append_header(b, "event_router_in_flight", "gauge", "Deliveries in progress per processor.");
    for (size_t i = 0; i < m->processor_count; i++)
        append_processor_sample(b, "event_router_in_flight", m->processors[i]->name, NULL, NULL,
                                m->processors[i]->in_flight);
}

/* Processors' own samples, grouped by family so each family's header comes once. */
#define PROCESSOR_FAMILIES_MAX 64

typedef struct family_pass {
    text_buffer *buffer;
    const char *processor;
    const char *only; /* NULL: collecting family names */
    const char *names[PROCESSOR_FAMILIES_MAX];
    const char *types[PROCESSOR_FAMILIES_MAX];
    const char *helps[PROCESSOR_FAMILIES_MAX];
    size_t count;
} family_pass;

static void emit_processor_sample(void *ctx, const char *family, const char *type, const char *help,
                                  const char *suffix, const char *label1, const char *value1,
                                  const char *label2, const char *value2, double value)
{
    family_pass *pass = ctx;
    if (!pass->only) {
        for (size_t i = 0; i < pass->count; i++)
            if (strcmp(pass->names[i], family) == 0)
                return;
        if (pass->count < PROCESSOR_FAMILIES_MAX) {
            pass->names[pass->count] = family;
            pass->types[pass->count] = type;
            pass->helps[pass->count++] = help;
        }
        return;
    }
    if (strcmp(pass->only, family) != 0)
        return;
    text_buffer *b = pass->buffer;
    text_append(b, "%s%s{processor=\"", family, suffix ? suffix : "");
    append_label_value(b, pass->processor);
    const char *labels[2] = {label1, label2}, *values[2] = {value1, value2};
    for (size_t i = 0; i < 2; i++) {
        if (!labels[i])
            continue;
        text_append(b, "\",%s=\"", labels[i]);
        append_label_value(b, values[i] ? values[i] : "");
    }
    char number[32];
    format_double(value, number, sizeof number);
    text_append(b, "\"} %s\n", number);
}

static void append_processor_samples(text_buffer *b, const metrics *m)
{
    family_pass pass = {.buffer = b};
    for (size_t i = 0; i < m->processor_count; i++)
        if (m->processors[i]->samples)
            m->processors[i]->samples(m->processors[i]->samples_user, emit_processor_sample, &pass);
    /* Family names point into the processors' static strings: they outlive the passes. */
    for (size_t f = 0; f < pass.count; f++) {
        append_header(b, pass.names[f], pass.types[f], pass.helps[f]);
        pass.only = pass.names[f];
        for (size_t i = 0; i < m->processor_count; i++) {
            if (!m->processors[i]->samples)
                continue;
            pass.processor = m->processors[i]->name;
            m->processors[i]->samples(m->processors[i]->samples_user, emit_processor_sample, &pass);
        }
    }
}

static void append_latency_histogram(text_buffer *b, const metrics *m)
{
    append_histogram(b, "event_router_delivery_latency_seconds",
                     "Seconds from intake to successful delivery.", m->latency_buckets,
                     m->latency_count, m->latency_sum);
}

static void append_leader(text_buffer *b, const metrics *m)
{
    if (!m->leader_samples)
        return;
    metrics_leader_sample leader = {0};
    m->leader_samples(m->leader_samples_user, &leader);
    append_unlabelled(b, "event_router_leader", "gauge",
                      "1 while this replica holds the leader lease (its vCenter and Horizon "
                      "sources run), else 0.",
                      leader.leading ? 1 : 0);
    append_unlabelled(b, "event_router_leader_transitions_total", "counter",
                      "Times this replica started leading.", leader.transitions);
    append_header(b, "event_router_leader_info", "gauge",
                  "This replica's identity and the lease holder it last saw; always 1.");
    text_append(b, "event_router_leader_info{identity=\"");
    append_label_value(b, leader.identity ? leader.identity : "");
    text_append(b, "\",holder=\"");
    append_label_value(b, leader.holder ? leader.holder : "");
    text_append(b, "\"} 1\n");
}

static void append_process_info(text_buffer *b, const metrics *m)
{
    time_t now = time(NULL);
    append_header(b, "event_router_start_time_seconds", "gauge",
                  "Start time of the router since the Unix epoch, in seconds.");
    text_append(b, "event_router_start_time_seconds %lld\n", (long long)m->started);
    append_header(b, "event_router_uptime_seconds", "gauge", "Seconds since the router started.");
    text_append(b, "event_router_uptime_seconds %lld\n", (long long)difftime(now, m->started));
    append_header(b, "event_router_build_info", "gauge", "The running version; always 1.");
    text_append(b, "event_router_build_info{version=\"");
    append_label_value(b, EVENT_ROUTER_VERSION);
    text_append(b, "\"} 1\n");
}

typedef struct script_sample_pass {
    text_buffer *buffer;
    bool counters; /* this pass writes the counters (name != NULL), else the error counts */
} script_sample_pass;

static void emit_script_sample(void *ctx, const char *script, const char *name, double value)
{
    script_sample_pass *pass = ctx;
    if ((name != NULL) != pass->counters)
        return;
    text_buffer *b = pass->buffer;
    text_append(b, "%s{script=\"",
                pass->counters ? "event_router_script_counter_total"
                               : "event_router_script_errors_total");
    append_label_value(b, script);
    if (name) {
        text_append(b, "\",name=\"");
        append_label_value(b, name);
    }
    char number[40]; /* as every other sample: a script's value can never print as "-nan" */
    format_double(value, number, sizeof number);
    text_append(b, "\"} %s\n", number);
}

static void append_script_families(text_buffer *b, const metrics *m)
{
    append_header(b, "event_router_script_reloads_total", "counter",
                  "Script reloads by result (SIGHUP or console).");
    text_append(b, "event_router_script_reloads_total{result=\"success\"} %llu\n",
                (unsigned long long)(m->reloads_total - m->reload_failures_total));
    text_append(b, "event_router_script_reloads_total{result=\"failure\"} %llu\n",
                (unsigned long long)m->reload_failures_total);
    append_unlabelled(b, "event_router_script_last_reload_timestamp_seconds", "gauge",
                      "When the scripts were last reloaded (0: never).", (uint64_t)m->last_reload);
    append_header(b, "event_router_script_errors_total", "counter",
                  "Script errors (runtime errors and limits) per script.");
    script_sample_pass pass = {b, false};
    if (m->script_samples)
        m->script_samples(m->script_samples_user, emit_script_sample, &pass);
    append_header(b, "event_router_script_counter_total", "counter",
                  "Counters that scripts keep with er.counter().");
    pass.counters = true;
    if (m->script_samples)
        m->script_samples(m->script_samples_user, emit_script_sample, &pass);
}

char *metrics_render_prometheus(const metrics *m)
{
    text_buffer b = {.data = malloc(4096), .cap = 4096};
    if (!b.data)
        return NULL;
    b.data[0] = '\0';
    append_event_totals(&b, m);
    append_provider_family(&b, m, "event_router_provider_events_total",
                           "Events taken in per provider.", PROVIDER_TAKEN);
    append_provider_family(&b, m, "event_router_provider_events_refused_total",
                           "Events refused per provider (invalid, unauthorized, queue full).",
                           PROVIDER_REFUSED);
    append_provider_family(&b, m, "event_router_provider_unknown_classes_total",
                           "vCenter events (or nested types) of classes missing from the type "
                           "table, converted from the XML's own structure.",
                           PROVIDER_UNKNOWN_CLASSES);
    append_provider_family(&b, m, "event_router_provider_events_lost_total",
                           "vCenter events that could not be recovered: older than the history "
                           "vCenter keeps. Each range is also logged with its keys.",
                           PROVIDER_LOST);
    append_provider_family(&b, m, "event_router_provider_event_keys_absent_total",
                           "vCenter event keys a history look-up did not find (vCenter skips "
                           "keys); each range is logged with its keys.",
                           PROVIDER_ABSENT);
    append_processor_families(&b, m);
    append_processor_samples(&b, m);
    append_latency_histogram(&b, m);
    append_script_families(&b, m);
    append_leader(&b, m);
    append_process_info(&b, m);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}
