/* EventBridge event patterns (filters/event_pattern.h): what a processor's filter costs per event.
 * Events are the govmomi simulator's recorded events (tests/fixtures/vsphere-events/) made into
 * the router's CloudEvents and matched the way the engine matches them: through the structured
 * view of the event (engine/event_view.h), built per match. CPU time of this process, so a busy
 * machine does not inflate it. Linked with -Wl,--wrap=malloc,... to count allocations while
 * matching (the target is none).
 * Usage: bench_pattern [seconds per measurement, default 1]   (run from the repository root, or
 * set EVENT_ROUTER_SOURCE_DIR) */
#include "event.h"
#include "event_view.h"
#include "filters/event_pattern.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
static unsigned long allocations;
void *__wrap_malloc(size_t size)
{
    allocations++;
    return __real_malloc(size);
}
void *__wrap_calloc(size_t count, size_t size)
{
    allocations++;
    return __real_calloc(count, size);
}
void *__wrap_realloc(void *p, size_t size)
{
    allocations++;
    return __real_realloc(p, size);
}

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct sample {
    event **events;
    size_t count;
    char **classes;
} sample;

/* One CloudEvent per fixture line, as the vCenter source makes it (router format). */
static bool load_events(const char *file, sample *out)
{
    const char *root = getenv("EVENT_ROUTER_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/vsphere-events/%s", root ? root : ".", file);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_pattern: cannot read %s (run from the repository root)\n", path);
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    while (getline(&line, &cap, f) > 0) {
        cJSON *record = cJSON_Parse(line);
        const char *cls = cJSON_GetStringValue(cJSON_GetObjectItem(record, "class"));
        cJSON *data = cJSON_GetObjectItem(record, "data");
        if (!cls || !data) {
            cJSON_Delete(record);
            continue;
        }
        event *ev = event_new();
        char id[32];
        snprintf(id, sizeof id, "%zu", out->count + 1);
        event_set_attribute(ev, "specversion", "1.0");
        event_set_attribute(ev, "id", id);
        event_set_attribute(ev, "source", "https://vcsa-01.lab.local/sdk");
        event_set_attribute(ev, "type", "com.vmware.event.router/event");
        event_set_attribute(ev, "subject", cls);
        event_set_attribute(ev, "time", "2026-11-25T18:29:59.317Z");
        event_set_attribute(ev, "datacontenttype", "application/json");
        event_set_attribute(ev, "vsphereapiversion", "8.0.2");
        event_set_data_json(ev, cJSON_DetachItemViaPointer(record, data));
        out->events = realloc(out->events, (out->count + 1) * sizeof *out->events);
        out->classes = realloc(out->classes, (out->count + 1) * sizeof *out->classes);
        out->classes[out->count] = strdup(cls);
        out->events[out->count++] = ev;
        cJSON_Delete(record);
    }
    free(line);
    fclose(f);
    return out->count > 0;
}

/* A realistic VEBA rule: a list of subjects, a prefix, a numeric range and an anything-but. */
static const char vcenter_rule[] =
    "{\"source\": [{\"prefix\": \"https://vcsa-01.\"}],"
    " \"subject\": [\"VmPoweredOnEvent\", \"VmPoweredOffEvent\", \"VmReconfiguredEvent\","
    " \"DrsVmPoweredOnEvent\", \"VmCreatedEvent\", \"VmRemovedEvent\", \"VmMigratedEvent\","
    " \"VmRenamedEvent\"],"
    " \"data\": {\"Key\": [{\"numeric\": [\">\", 0, \"<\", 1000000000]}],"
    " \"UserName\": [{\"anything-but\": [\"vpxd-extension\", \"vsphere-webclient\"]}]}}";

static event_pattern *compile(const char *text)
{
    event_pattern_error error;
    event_pattern *p = event_pattern_compile(text, strlen(text), NULL, &error);
    if (!p) {
        char buf[700];
        fprintf(stderr, "bench_pattern: %s\n", event_pattern_error_format(&error, buf, sizeof buf));
        exit(1);
    }
    return p;
}

/* Matches every event against every pattern for about `seconds`; returns ns per (event, rule). */
static double time_matching(event_pattern **patterns, size_t pattern_count, const sample *s,
                            double seconds, size_t *matched_out, unsigned long *allocs_out)
{
    size_t rounds = 0, matched = 0;
    unsigned long before = allocations;
    double start = cpu_seconds(), elapsed;
    do {
        for (size_t e = 0; e < s->count; e++) {
            event_view view;
            const cJSON *json = event_view_init(&view, s->events[e]);
            for (size_t p = 0; p < pattern_count; p++)
                matched += event_pattern_match(patterns[p], json);
        }
        rounds++;
        elapsed = cpu_seconds() - start;
    } while (elapsed < seconds);
    *allocs_out = allocations - before;
    *matched_out = matched / rounds;
    return elapsed / ((double)rounds * (double)s->count * (double)pattern_count) * 1e9;
}

static unsigned long rng = 20261125;
static unsigned pick(unsigned n)
{
    rng = rng * 6364136223846793005u + 1442695040888963407u;
    return (unsigned)((rng >> 33) % n);
}

/* 100 different rules of the kinds VEBA users write, over the classes of the sample. */
static char *make_rule(const sample *s, int i)
{
    char *text = malloc(8192);
    size_t n = 0;
    n += (size_t)snprintf(text + n, 8192 - n, "{\"subject\": [");
    unsigned subjects = 3 + pick(12);
    for (unsigned k = 0; k < subjects; k++)
        n += (size_t)snprintf(text + n, 8192 - n, "%s\"%s\"", k ? ", " : "",
                              s->classes[pick((unsigned)s->count)]);
    n += (size_t)snprintf(text + n, 8192 - n, "]");
    switch (i % 5) {
    case 0:
        n += (size_t)snprintf(text + n, 8192 - n,
                              ", \"data\": {\"Key\": [{\"numeric\": [\">=\", %u]}]}", pick(50));
        break;
    case 1:
        n += (size_t)snprintf(text + n, 8192 - n,
                              ", \"source\": [{\"prefix\": \"https://vcsa-0%u\"}], \"data\": "
                              "{\"UserName\": [{\"anything-but\": {\"prefix\": \"vpxd\"}}]}",
                              1 + pick(3));
        break;
    case 2:
        n += (size_t)snprintf(text + n, 8192 - n,
                              ", \"data\": {\"Vm\": {\"Name\": [{\"wildcard\": \"DC0_*_VM%u\"}]}}",
                              pick(3));
        break;
    case 3:
        n += (size_t)snprintf(text + n, 8192 - n,
                              ", \"data\": {\"Datacenter\": {\"Name\": [{\"equals-ignore-case\": "
                              "\"dc0\"}]}, \"Ds\": [{\"exists\": false}]}");
        break;
    default:
        n += (size_t)snprintf(text + n, 8192 - n,
                              ", \"$or\": [{\"data\": {\"Host\": {\"Name\": [{\"suffix\": "
                              "\"_H0\"}]}}}, {\"data\": {\"ChainId\": [{\"numeric\": [\"<\", "
                              "%u]}]}}]",
                              5 + pick(20));
        break;
    }
    snprintf(text + n, 8192 - n, "}");
    return text;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    sample real, all;
    if (!load_events("vcsim-events.jsonl", &real) || !load_events("events.jsonl", &all))
        return 1;
    printf("events: %zu recorded by the govmomi simulator, %zu of every vSphere event class "
           "(tests/fixtures/vsphere-events)\n",
           real.count, all.count);

    /* compile time */
    size_t compiles = 0;
    double start = cpu_seconds(), elapsed;
    do {
        event_pattern_free(compile(vcenter_rule));
        compiles++;
        elapsed = cpu_seconds() - start;
    } while (elapsed < seconds);
    event_pattern *rule = compile(vcenter_rule);
    printf("compile the vCenter rule (%zu bytes):          %8.2f us  (%zu bytes compiled)\n",
           strlen(vcenter_rule), elapsed / (double)compiles * 1e6, event_pattern_memory(rule));

    /* the view alone: what every filtered event pays once, whatever the rules */
    size_t views = 0;
    start = cpu_seconds();
    do {
        for (size_t e = 0; e < real.count; e++) {
            event_view view;
            volatile const cJSON *json = event_view_init(&view, real.events[e]);
            (void)json;
        }
        views += real.count;
        elapsed = cpu_seconds() - start;
    } while (elapsed < seconds);
    printf("build the event's structured view:               %8.1f ns/event\n",
           elapsed / (double)views * 1e9);

    size_t matched;
    unsigned long allocs;
    double ns = time_matching(&rule, 1, &real, seconds, &matched, &allocs);
    printf("1 rule, simulator events (view + match):         %8.1f ns/event  (%zu of %zu match, "
           "%lu allocations)\n",
           ns, matched, real.count, allocs);
    ns = time_matching(&rule, 1, &all, seconds, &matched, &allocs);
    printf("1 rule, every event class (view + match):        %8.1f ns/event  (%zu of %zu match, "
           "%lu allocations)\n",
           ns, matched, all.count, allocs);

    /* 100 rules at once */
    event_pattern *rules[100];
    char *texts[100];
    for (int i = 0; i < 100; i++)
        texts[i] = make_rule(&all, i);
    compiles = 0;
    start = cpu_seconds();
    do {
        for (int i = 0; i < 100; i++)
            event_pattern_free(compile(texts[i]));
        compiles++;
        elapsed = cpu_seconds() - start;
    } while (elapsed < seconds);
    printf("compile 100 rules:                               %8.1f us\n",
           elapsed / (double)compiles * 1e6);
    for (int i = 0; i < 100; i++)
        rules[i] = compile(texts[i]);
    ns = time_matching(rules, 100, &all, seconds, &matched, &allocs);
    printf("100 rules, every event class:                    %8.1f ns/event/rule, %6.2f "
           "us/event  (%zu matches per pass, %lu allocations)\n",
           ns, ns * 100 / 1000, matched, allocs);
    ns = time_matching(rules, 100, &real, seconds, &matched, &allocs);
    printf("100 rules, simulator events:                     %8.1f ns/event/rule, %6.2f "
           "us/event  (%zu matches per pass, %lu allocations)\n",
           ns, ns * 100 / 1000, matched, allocs);

    /* for scale: what parsing the same event from text costs (the engine does not do this per
     * match: a source parses each event's data once) */
    char *texts_json[64];
    size_t n = real.count < 64 ? real.count : 64;
    for (size_t e = 0; e < n; e++) {
        cJSON *json = event_to_json(real.events[e]);
        texts_json[e] = cJSON_PrintUnformatted(json);
        cJSON_Delete(json);
    }
    size_t parses = 0;
    start = cpu_seconds();
    do {
        for (size_t e = 0; e < n; e++)
            cJSON_Delete(cJSON_Parse(texts_json[e]));
        parses += n;
        elapsed = cpu_seconds() - start;
    } while (elapsed < seconds);
    printf("for scale: cJSON_Parse of one such CloudEvent:   %8.1f ns/event\n",
           elapsed / (double)parses * 1e9);

    for (size_t e = 0; e < n; e++)
        free(texts_json[e]);
    for (int i = 0; i < 100; i++) {
        event_pattern_free(rules[i]);
        free(texts[i]);
    }
    event_pattern_free(rule);
    for (size_t e = 0; e < real.count; e++) {
        event_unref(real.events[e]);
        free(real.classes[e]);
    }
    for (size_t e = 0; e < all.count; e++) {
        event_unref(all.events[e]);
        free(all.classes[e]);
    }
    free(real.events);
    free(real.classes);
    free(all.events);
    free(all.classes);
    return 0;
}
