#include "test_pattern.h"

#include "filters/event_pattern.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: event-router test-pattern [--eventbridge] PATTERN.json [EVENT.json ...]\n"
    "Compiles the EventBridge event pattern in PATTERN.json and tries it on each event (a JSON "
    "object, or an array of them; stdin when no file is given): one line per event, \"match\" or "
    "\"no match\" with the first field that failed. Events are matched as written: a structured "
    "CloudEvent (what a processor's filter sees), or an EventBridge event (what a rule sees).\n"
    "--eventbridge: also hold the pattern to EventBridge's 2048-character limit.\n"
    "Exit status 0 when every event matched, 1 when some did not, 2 on a bad pattern or input.\n";

static char *read_stream(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static char *read_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = read_stream(f, len);
    int saved = errno;
    fclose(f);
    errno = saved;
    return text;
}

static bool try_event(const event_pattern *pattern, const char *name, const cJSON *event)
{
    char why[600];
    bool matched = event_pattern_explain(pattern, event, why, sizeof why);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(event, "id"));
    char label[300];
    if (id)
        snprintf(label, sizeof label, "%s (id %.200s)", name, id);
    else
        snprintf(label, sizeof label, "%s", name);
    if (matched)
        printf("%s: match\n", label);
    else
        printf("%s: no match: %s\n", label, why);
    return matched;
}

static int try_value(const event_pattern *pattern, const char *name, const cJSON *json)
{
    if (!cJSON_IsArray(json))
        return try_event(pattern, name, json) ? 0 : 1;
    int status = 0, index = 0;
    for (const cJSON *item = json->child; item; item = item->next, index++) {
        char item_name[320];
        snprintf(item_name, sizeof item_name, "%s[%d]", name, index);
        if (!try_event(pattern, item_name, item))
            status = 1;
    }
    return status;
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* One JSON value, or several one after the other (JSON Lines): each is an event or an array of
 * them. Returns 0 all matched, 1 some did not, 2 unreadable. */
static int try_input(const event_pattern *pattern, const char *name, const char *text, size_t len)
{
    const char *end = text + len, *p = skip_space(text, end);
    const char *after_first = NULL;
    cJSON *first = NULL;
    if (p < end) {
        first = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &after_first, false);
        if (first)
            after_first = skip_space(after_first, end);
    }
    if (!first) {
        fprintf(stderr, "test-pattern: %s: not valid JSON\n", name);
        return 2;
    }
    if (after_first == end) { /* the usual case: one value, named by the file alone */
        int status = try_value(pattern, name, first);
        cJSON_Delete(first);
        return status;
    }
    cJSON_Delete(first);
    int status = 0, line = 1;
    const char *counted = text;
    while ((p = skip_space(p, end)) < end) {
        for (; counted < p; counted++)
            line += *counted == '\n';
        const char *next = NULL;
        cJSON *json = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &next, false);
        if (!json) {
            fprintf(stderr, "test-pattern: %s:%d: not valid JSON\n", name, line);
            return 2;
        }
        char value_name[300];
        snprintf(value_name, sizeof value_name, "%s:%d", name, line);
        if (try_value(pattern, value_name, json))
            status = 1;
        cJSON_Delete(json);
        p = next;
    }
    return status;
}

int test_pattern_main(int argc, char **argv)
{
    int first = 2;
    event_pattern_options options = {0};
    if (argc > first && strcmp(argv[first], "--eventbridge") == 0) {
        options.max_chars = EVENT_PATTERN_AWS_MAX_CHARS;
        first++;
    }
    if (argc <= first || strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *pattern_path = argv[first];
    size_t len;
    char *text = read_path(pattern_path, &len);
    if (!text) {
        fprintf(stderr, "test-pattern: %s: %s\n", pattern_path, strerror(errno));
        return 2;
    }
    event_pattern_error error;
    event_pattern *pattern = event_pattern_compile(text, len, &options, &error);
    free(text);
    if (!pattern) {
        char reason[700];
        fprintf(stderr, "%s:%d:%d: %s\n", pattern_path, error.line, error.col,
                event_pattern_error_format(&error, reason, sizeof reason));
        return 2;
    }
    for (size_t i = 0; i < event_pattern_warning_count(pattern); i++)
        fprintf(stderr, "%s: warning: %s\n", pattern_path, event_pattern_warning(pattern, i));

    int status = 0;
    if (argc == first + 1) {
        char *input = read_stream(stdin, &len);
        status = input ? try_input(pattern, "stdin", input, len) : 2;
        free(input);
    }
    for (int i = first + 1; i < argc; i++) {
        char *input = read_path(argv[i], &len);
        int one;
        if (!input) {
            fprintf(stderr, "test-pattern: %s: %s\n", argv[i], strerror(errno));
            one = 2;
        } else {
            one = try_input(pattern, argv[i], input, len);
        }
        free(input);
        if (one > status)
            status = one;
    }
    event_pattern_free(pattern);
    return status;
}
