#include "check.h"
#include "metrics/metrics.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/* ---- helpers ----------------------------------------------------------------------------------
 */

/* Checks that object's keys are exactly the expected ones, in that order. */
static bool keys_are(const cJSON *object, const char *const *expected, size_t count)
{
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, object)
    {
        if (i >= count || strcmp(item->string, expected[i]) != 0) {
            fprintf(stderr, "  unexpected key #%zu: %s\n", i, item->string);
            return false;
        }
        i++;
    }
    if (i != count)
        fprintf(stderr, "  %zu keys, expected %zu\n", i, count);
    return i == count;
}

static cJSON *render_stats_json(const metrics *m)
{
    char *text = metrics_render_stats(m);
    CHECK(text != NULL);
    cJSON *json = cJSON_Parse(text);
    CHECK(json != NULL);
    free(text);
    return json;
}

static double number_at(const cJSON *object, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

/* ---- /stats -----------------------------------------------------------------------------------
 */

static void test_stats_follow_the_veba_shape(void)
{
    metrics *m = metrics_new();
    provider_stats *webhook = metrics_add_provider(m, "hooks", "webhook", "0.0.0.0:8080");
    processor_stats *knative = metrics_add_processor(m, "kn", "knative");
    metrics_set_processor_address(knative, "http://broker.default.svc/");
    webhook->started = time(NULL) - 100;
    webhook->events_total = 250;
    webhook->events_err = 3;
    metrics_processor_outcome(knative, "VmPoweredOnEvent", 1);
    metrics_processor_outcome(knative, "VmPoweredOnEvent", 1);
    metrics_processor_outcome(knative, "VmPoweredOnEvent", 0);
    metrics_processor_outcome(knative, "DrsVmPoweredOnEvent", 0);

    cJSON *root = render_stats_json(m);
    static const char *const top[] = {"cmdline",
                                      "system.allLoad",
                                      "system.lastLoad",
                                      "system.numberOfSeconds",
                                      "system.programName",
                                      "vmware.event.router.scripts",
                                      "vmware.event.router.stats"};
    CHECK(keys_are(root, top, 7));
    cJSON *scripts = cJSON_GetObjectItem(root, "vmware.event.router.scripts");
    CHECK(cJSON_GetObjectItem(scripts, "reloads")->valuedouble == 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(scripts, "last_reload")));
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(root, "cmdline")));
    static const char *const load[] = {"Load1", "Load5", "Load15"};
    CHECK(keys_are(cJSON_GetObjectItem(root, "system.allLoad"), load, 3));

    cJSON *stats = cJSON_GetObjectItem(root, "vmware.event.router.stats");
    static const char *const components[] = {"knative", "webhook"};
    CHECK(keys_are(stats, components, 2));

    cJSON *provider = cJSON_GetObjectItem(stats, "webhook");
    static const char *const provider_keys[] = {"type",         "address",    "started",
                                                "events_total", "events_err", "events_per_sec"};
    CHECK(keys_are(provider, provider_keys, 6));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(provider, "type")), "EventProvider");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(provider, "address")), "0.0.0.0:8080");
    CHECK(number_at(provider, "events_total") == 250);
    CHECK(number_at(provider, "events_err") == 3);
    /* 250 events in 100 (or, if the clock ticked, 101) seconds */
    double rate = number_at(provider, "events_per_sec");
    CHECK(rate == 2.5 || rate == round(250.0 / 101 * 100) / 100);

    /* "started" is RFC 3339 in UTC and names the provider's start second */
    struct tm parsed = {0};
    const char *started = cJSON_GetStringValue(cJSON_GetObjectItem(provider, "started"));
    const char *rest = started ? strptime(started, "%Y-%m-%dT%H:%M:%SZ", &parsed) : NULL;
    CHECK(rest != NULL && *rest == '\0');
    CHECK(timegm(&parsed) == webhook->started);

    cJSON *processor = cJSON_GetObjectItem(stats, "knative");
    static const char *const processor_keys[] = {"type", "address", "started", "invocations"};
    CHECK(keys_are(processor, processor_keys, 4));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(processor, "type")), "EventProcessor");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(processor, "address")),
              "http://broker.default.svc/");
    cJSON *invocations = cJSON_GetObjectItem(processor, "invocations");
    static const char *const subjects[] = {"DrsVmPoweredOnEvent", "VmPoweredOnEvent"};
    CHECK(keys_are(invocations, subjects, 2));
    cJSON *powered_on = cJSON_GetObjectItem(invocations, "VmPoweredOnEvent");
    static const char *const details[] = {"SuccessCount", "FailureCount"};
    CHECK(keys_are(powered_on, details, 2));
    CHECK(number_at(powered_on, "SuccessCount") == 2);
    CHECK(number_at(powered_on, "FailureCount") == 1);
    CHECK(knative->delivered == 2 && knative->failed == 2);
    cJSON_Delete(root);
    metrics_free(m);
}

static void test_processor_without_invocations_omits_them(void)
{
    metrics *m = metrics_new();
    metrics_add_processor(m, "kn", "knative");
    cJSON *root = render_stats_json(m);
    cJSON *processor =
        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "vmware.event.router.stats"), "knative");
    static const char *const keys[] = {"type", "address", "started"};
    CHECK(keys_are(processor, keys, 3));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(processor, "address")), "");
    cJSON_Delete(root);
    metrics_free(m);
}

static void test_shared_types_are_keyed_by_name(void)
{
    metrics *m = metrics_new();
    metrics_add_provider(m, "b", "webhook", "127.0.0.1:1");
    metrics_add_provider(m, "a", "webhook", "127.0.0.1:2");
    metrics_add_processor(m, "kn", "knative");
    cJSON *root = render_stats_json(m);
    static const char *const keys[] = {"knative", "webhook/a", "webhook/b"};
    CHECK(keys_are(cJSON_GetObjectItem(root, "vmware.event.router.stats"), keys, 3));
    cJSON_Delete(root);
    metrics_free(m);
}

static void test_subject_table_is_bounded(void)
{
    metrics *m = metrics_new();
    processor_stats *p = metrics_add_processor(m, "kn", "knative");
    const size_t extra = 50;
    char subject[32];
    for (size_t i = 0; i < METRICS_MAX_SUBJECTS + extra; i++) {
        snprintf(subject, sizeof subject, "s%05zu", i);
        metrics_processor_outcome(p, subject, 1);
    }
    /* a subject seen before the cap keeps its own row */
    metrics_processor_outcome(p, "s00007", 0);
    CHECK(p->subject_count == METRICS_MAX_SUBJECTS + 1);

    cJSON *root = render_stats_json(m);
    cJSON *invocations = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "vmware.event.router.stats"), "knative"),
        "invocations");
    CHECK(cJSON_GetArraySize(invocations) == METRICS_MAX_SUBJECTS + 1);
    cJSON *other = cJSON_GetObjectItem(invocations, METRICS_OTHER_SUBJECT);
    CHECK(number_at(other, "SuccessCount") == (double)extra);
    CHECK(number_at(cJSON_GetObjectItem(invocations, "s00007"), "FailureCount") == 1);
    snprintf(subject, sizeof subject, "s%05d", METRICS_MAX_SUBJECTS);
    CHECK(cJSON_GetObjectItem(invocations, subject) == NULL);
    cJSON_Delete(root);
    metrics_free(m);
}

static void test_long_subjects_are_cut_at_a_character_boundary(void)
{
    metrics *m = metrics_new();
    processor_stats *p = metrics_add_processor(m, "kn", "knative");
    char subject[METRICS_SUBJECT_MAX_BYTES + 64];
    memset(subject, 'a', METRICS_SUBJECT_MAX_BYTES - 1);
    /* a two-byte character straddling the limit */
    strcpy(subject + METRICS_SUBJECT_MAX_BYTES - 1, "\xc3\xa9tail");
    metrics_processor_outcome(p, subject, 1);
    metrics_processor_outcome(p, subject, 1);
    metrics_processor_outcome(p, NULL, 0);
    CHECK(p->subject_count == 2);
    CHECK_STR(p->subjects[0].subject, "");
    CHECK(p->subjects[0].failure == 1);
    CHECK(strlen(p->subjects[1].subject) == METRICS_SUBJECT_MAX_BYTES - 1);
    CHECK(p->subjects[1].success == 2);
    metrics_free(m);
}

/* ---- /metrics ---------------------------------------------------------------------------------
 */

#define MAX_FAMILIES 64

typedef struct exposition {
    char names[MAX_FAMILIES][128];
    char types[MAX_FAMILIES][16];
    bool has_help[MAX_FAMILIES];
    size_t count;
    size_t samples;
    bool valid;
} exposition;

static int family_index(exposition *e, const char *name)
{
    for (size_t i = 0; i < e->count; i++)
        if (strcmp(e->names[i], name) == 0)
            return (int)i;
    return -1;
}

static int family_of_sample(exposition *e, const char *name)
{
    int at = family_index(e, name);
    if (at >= 0)
        return at;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t s = 0; s < 3; s++) {
        size_t len = strlen(name), suffix = strlen(suffixes[s]);
        if (len > suffix && strcmp(name + len - suffix, suffixes[s]) == 0) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(len - suffix), name);
            at = family_index(e, base);
            if (at >= 0 && strcmp(e->types[at], "histogram") == 0)
                return at;
        }
    }
    return -1;
}

/* Parses the text line by line, as a scraper would: every sample must belong to a family announced
 * before it with HELP and TYPE, labels must be well-formed, values must be numbers. */
static void parse_exposition(const char *text, exposition *e)
{
    memset(e, 0, sizeof *e);
    e->valid = true;
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        if (!end) {
            fprintf(stderr, "  last line lacks a newline\n");
            e->valid = false;
            return;
        }
        char buf[1024];
        snprintf(buf, sizeof buf, "%.*s", (int)(end - line), line);
        char name[128], rest[512];
        if (sscanf(buf, "# HELP %127s %511[^\n]", name, rest) == 2) {
            int at = family_index(e, name);
            if (at < 0 && e->count < MAX_FAMILIES) {
                at = (int)e->count++;
                snprintf(e->names[at], sizeof e->names[at], "%s", name);
            }
            if (at < 0 || e->has_help[at])
                e->valid = false;
            else
                e->has_help[at] = true;
        } else if (sscanf(buf, "# TYPE %127s %511s", name, rest) == 2) {
            int at = family_index(e, name);
            if (at < 0 || e->types[at][0])
                e->valid = false;
            else
                snprintf(e->types[at], sizeof e->types[at], "%.15s", rest);
        } else {
            size_t n = strcspn(buf, "{ ");
            snprintf(name, sizeof name, "%.*s", (int)n, buf);
            const char *p = buf + n;
            if (*p == '{') {
                p++;
                while (*p && *p != '}') {
                    while (*p && *p != '=')
                        p++;
                    if (p[0] != '=' || p[1] != '"') {
                        e->valid = false;
                        break;
                    }
                    p += 2;
                    while (*p && *p != '"')
                        p += (*p == '\\' && p[1]) ? 2 : 1;
                    if (*p != '"') {
                        e->valid = false;
                        break;
                    }
                    p++;
                    if (*p == ',')
                        p++;
                }
                if (*p == '}')
                    p++;
                else
                    e->valid = false;
            }
            char *value_end;
            if (*p != ' ')
                e->valid = false;
            else
                strtod(p + 1, &value_end);
            if (*p == ' ' && *value_end != '\0')
                e->valid = false;
            int at = family_of_sample(e, name);
            if (at < 0 || !e->has_help[at] || !e->types[at][0]) {
                fprintf(stderr, "  sample without HELP/TYPE: %s\n", buf);
                e->valid = false;
            }
            e->samples++;
        }
        line = end + 1;
    }
}

/* The value of the sample whose name and labels are exactly series; NAN when absent. */
static double sample_value(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            return strtod(line + len + 1, NULL);
    return NAN;
}

static size_t fake_queue_depth(void *user)
{
    return *(size_t *)user;
}

static void test_prometheus_text_is_well_formed(void)
{
    metrics *m = metrics_new();
    size_t depth = 17;
    m->queue_depth = fake_queue_depth;
    m->queue_depth_user = &depth;
    m->events_in = 11;
    m->events_out = 7;
    m->events_dropped = 2;
    m->events_dead_lettered = 1;
    provider_stats *hook = metrics_add_provider(m, "hooks", "webhook", "127.0.0.1:0");
    hook->events_total = 11;
    hook->events_err = 4;
    processor_stats *kn = metrics_add_processor(m, "kn", "knative");
    metrics_processor_outcome(kn, "a", 1);
    metrics_processor_outcome(kn, "a", 0);
    metrics_count_response(kn, 202);
    metrics_count_response(kn, 204);
    metrics_count_response(kn, 503);
    metrics_count_response(kn, 0);
    metrics_count_response(kn, 404);
    kn->retries = 5;
    kn->in_flight = 3;
    m->providers[0]->unknown_classes = 5;

    char *text = metrics_render_prometheus(m);
    CHECK(text != NULL);
    exposition e;
    parse_exposition(text, &e);
    CHECK(e.valid);
    CHECK(e.samples > 20);
    CHECK(sample_value(text, "event_router_events_in_total") == 11);
    CHECK(sample_value(text, "event_router_events_out_total") == 7);
    CHECK(sample_value(text, "event_router_events_dropped_total") == 2);
    CHECK(sample_value(text, "event_router_events_dead_lettered_total") == 1);
    CHECK(sample_value(text, "event_router_queue_depth") == 17);
    CHECK(sample_value(text,
                       "event_router_provider_events_total{provider=\"hooks\",type=\"webhook\"}") ==
          11);
    CHECK(sample_value(
              text,
              "event_router_provider_events_refused_total{provider=\"hooks\",type=\"webhook\"}") ==
          4);
    CHECK(sample_value(text, "event_router_provider_unknown_classes_total{provider=\"hooks\","
                             "type=\"webhook\"}") == 5);
    CHECK(sample_value(text,
                       "event_router_deliveries_total{processor=\"kn\",result=\"success\"}") == 1);
    CHECK(sample_value(text,
                       "event_router_deliveries_total{processor=\"kn\",result=\"failure\"}") == 1);
    CHECK(sample_value(text, "event_router_responses_total{processor=\"kn\",class=\"2xx\"}") == 2);
    CHECK(sample_value(text, "event_router_responses_total{processor=\"kn\",class=\"4xx\"}") == 1);
    CHECK(sample_value(text, "event_router_responses_total{processor=\"kn\",class=\"5xx\"}") == 1);
    CHECK(sample_value(text, "event_router_responses_total{processor=\"kn\",class=\"error\"}") ==
          1);
    CHECK(sample_value(text, "event_router_retries_total{processor=\"kn\"}") == 5);
    CHECK(sample_value(text, "event_router_in_flight{processor=\"kn\"}") == 3);
    CHECK(sample_value(text, "event_router_uptime_seconds") >= 0);
    CHECK(sample_value(text, "event_router_start_time_seconds") == (double)m->started);
    CHECK_CONTAINS(text, "# TYPE event_router_delivery_latency_seconds histogram\n");
    CHECK_CONTAINS(text, "# TYPE event_router_in_flight gauge\n");
    CHECK_CONTAINS(text, "# TYPE event_router_events_in_total counter\n");
    free(text);
    metrics_free(m);
}

static void test_latency_histogram_is_cumulative(void)
{
    metrics *m = metrics_new();
    const double observations[] = {0.0001, 0.0005, 0.003, 0.003, 0.2, 0.7, 3, 9.99, 42, 1e9};
    const size_t count = sizeof observations / sizeof observations[0];
    double sum = 0;
    for (size_t i = 0; i < count; i++) {
        metrics_observe_latency(m, observations[i]);
        sum += observations[i];
    }
    char *text = metrics_render_prometheus(m);
    exposition e;
    parse_exposition(text, &e);
    CHECK(e.valid);

    double previous = 0;
    for (size_t b = 0; b < METRICS_LATENCY_BUCKETS; b++) {
        CHECK(metrics_latency_bounds[b] > (b ? metrics_latency_bounds[b - 1] : 0));
        char series[128];
        snprintf(series, sizeof series, "event_router_delivery_latency_seconds_bucket{le=\"%g\"}",
                 metrics_latency_bounds[b]);
        size_t expected = 0;
        for (size_t i = 0; i < count; i++)
            expected += observations[i] <= metrics_latency_bounds[b];
        double got = sample_value(text, series);
        CHECK(got == (double)expected);
        CHECK(got >= previous);
        previous = got;
    }
    CHECK(metrics_latency_bounds[0] == 0.0005);
    CHECK(metrics_latency_bounds[METRICS_LATENCY_BUCKETS - 1] == 10);
    double inf = sample_value(text, "event_router_delivery_latency_seconds_bucket{le=\"+Inf\"}");
    CHECK(inf == (double)count);
    CHECK(sample_value(text, "event_router_delivery_latency_seconds_count") == inf);
    CHECK(fabs(sample_value(text, "event_router_delivery_latency_seconds_sum") - sum) < 1e-6);
    free(text);
    metrics_free(m);
}

/* Undoes the exposition format's escaping of a label value that starts right after the quote. */
static void unescape_label(const char *from, char *out, size_t cap)
{
    size_t n = 0;
    for (; *from && *from != '"' && n + 1 < cap; from++) {
        if (*from == '\\') {
            from++;
            out[n++] = *from == 'n' ? '\n' : *from;
        } else {
            out[n++] = *from;
        }
    }
    out[n] = '\0';
}

static void test_label_values_are_escaped(void)
{
    metrics *m = metrics_new();
    const char *hostile = "we\"ird\\name\nwith } and ,x=\"y\"";
    metrics_add_processor(m, hostile, "knative");
    metrics_add_provider(m, "p\nq", "webhook", "");
    char *text = metrics_render_prometheus(m);
    exposition e;
    parse_exposition(text, &e);
    CHECK(e.valid);
    CHECK_CONTAINS(text, "event_router_retries_total{processor=\"we\\\"ird\\\\name\\nwith } and "
                         ",x=\\\"y\\\"\"} 0\n");
    const char *at = strstr(text, "event_router_in_flight{processor=\"");
    CHECK(at != NULL);
    if (at) {
        char back[128];
        unescape_label(at + strlen("event_router_in_flight{processor=\""), back, sizeof back);
        CHECK_STR(back, hostile);
    }
    CHECK_CONTAINS(text, "provider=\"p\\nq\"");
    free(text);
    metrics_free(m);
}

int main(void)
{
    RUN_TEST(test_stats_follow_the_veba_shape);
    RUN_TEST(test_processor_without_invocations_omits_them);
    RUN_TEST(test_shared_types_are_keyed_by_name);
    RUN_TEST(test_subject_table_is_bounded);
    RUN_TEST(test_long_subjects_are_cut_at_a_character_boundary);
    RUN_TEST(test_prometheus_text_is_well_formed);
    RUN_TEST(test_latency_histogram_is_cumulative);
    RUN_TEST(test_label_values_are_escaped);
    return CHECK_DONE();
}
