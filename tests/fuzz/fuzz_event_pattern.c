/* The event-pattern compiler (filters/event_pattern*.c) on arbitrary pattern text, and the matcher
 * on the same bytes read as an event. Beyond not crashing (and staying within libFuzzer's time
 * limit: every step of the compiler is bounded by the text's size, see EP_MAX_* in
 * filters/event_pattern_internal.h):
 *   - a refused pattern comes with a reason and a place inside the text (line:col, offset);
 *   - compiling is deterministic: the same text gives the same verdict and the same reason;
 *   - a compiled pattern matches a few events the same way through event_pattern_match and
 *     event_pattern_explain, and an explained miss says why;
 *   - when the bytes are JSON, they are also an event for patterns that use every operator.
 * The input is the pattern's text (seeds: tests/fuzz/corpus/event_pattern/). Needs only libc and
 * cJSON, like the library. */
#include "filters/event_pattern.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const fixed_patterns[] = {
    "{\"source\": [{\"prefix\": \"https://\"}], \"subject\": [\"VmPoweredOnEvent\", \"x\"]}",
    "{\"a\": [{\"numeric\": [\">\", 0, \"<=\", 5]}, {\"anything-but\": [1, 2]}, null, true]}",
    "{\"a\": [{\"suffix\": {\"equals-ignore-case\": \".PNG\"}}, {\"equals-ignore-case\": \"x\"}]}",
    "{\"a\": [{\"wildcard\": \"*a*b*\"}, {\"anything-but\": {\"wildcard\": [\"*c\", \"d*\"]}}]}",
    "{\"a\": [{\"cidr\": \"10.0.0.0/8\"}, {\"cidr\": \"2001:db8::/32\"}, \"::1\"]}",
    "{\"a\": {\"b\": [{\"exists\": true}], \"c\": [{\"exists\": false}]}, \"a.d\": [\"\"]}",
    "{\"$or\": [{\"a\": [{\"anything-but\": {\"prefix\": \"x\"}}]}, {\"b\": {\"c\": [0]}}]}",
};
#define FIXED (sizeof fixed_patterns / sizeof *fixed_patterns)
static event_pattern *fixed[FIXED];

static const char *const fixed_events[] = {
    "{}",
    "{\"a\": \"x\", \"b\": 1, \"source\": \"https://vc/sdk\", \"subject\": \"VmPoweredOnEvent\"}",
    "{\"a\": [1, \"10.1.2.3\", null, {\"b\": [true, {\"c\": \"A.png\"}]}], \"a.b\": false}",
    "{\"detail\": {\"state\": [[\"on\"], {\"x\": 3.5}]}, \"$or\": \"bee\"}",
};
#define EVENTS (sizeof fixed_events / sizeof *fixed_events)
static cJSON *events[EVENTS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < FIXED; i++) {
        fixed[i] = event_pattern_compile(fixed_patterns[i], strlen(fixed_patterns[i]), NULL, NULL);
        FUZZ_CHECK(fixed[i] != NULL);
    }
    for (size_t i = 0; i < EVENTS; i++) {
        events[i] = cJSON_Parse(fixed_events[i]);
        FUZZ_CHECK(events[i] != NULL);
    }
    return 0;
}

static void check_match(const event_pattern *p, const cJSON *event)
{
    char why[512];
    bool explained = event_pattern_explain(p, event, why, sizeof why);
    FUZZ_CHECK(event_pattern_match(p, event) == explained);
    FUZZ_CHECK(explained || why[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    event_pattern_error error;
    event_pattern *p = event_pattern_compile(text, size, NULL, &error);
    event_pattern_error again;
    event_pattern *q = event_pattern_compile(text, size, NULL, &again);
    FUZZ_CHECK((p == NULL) == (q == NULL));
    if (!p) {
        FUZZ_CHECK(error.message[0] != '\0');
        FUZZ_CHECK(error.line >= 1 && error.col >= 1);
        FUZZ_CHECK(error.offset <= size);
        FUZZ_CHECK(strcmp(error.message, again.message) == 0);
        FUZZ_CHECK(strcmp(error.path, again.path) == 0);
    } else {
        for (size_t i = 0; i < event_pattern_warning_count(p); i++)
            FUZZ_CHECK(event_pattern_warning(p, i)[0] != '\0');
        for (size_t i = 0; i < EVENTS; i++) {
            check_match(p, events[i]);
            FUZZ_CHECK(event_pattern_match(p, events[i]) == event_pattern_match(q, events[i]));
        }
    }
    cJSON *as_event = cJSON_ParseWithLength(text, size);
    if (as_event) {
        for (size_t i = 0; i < FIXED; i++)
            check_match(fixed[i], as_event);
        if (p)
            check_match(p, as_event);
        cJSON_Delete(as_event);
    }
    event_pattern_free(p);
    event_pattern_free(q);
    return 0;
}
