/* Every public EventBridge case in shared/vectors/eventbridge-patterns: each pattern must give
 * the recorded verdict on its event, and each pattern EventBridge rejects must be rejected here
 * too, with EventBridge's reason.
 *
 * The folder is found through EVENT_PATTERN_VECTORS (the folder itself) or as
 * shared/vectors/eventbridge-patterns beside the source tree (CI puts shared/ next to the
 * checkout; a git worktree sits one level deeper, so a few parent folders are tried). */
#include "check.h"
#include "filters/event_pattern.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char vectors_dir[4096];

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool find_vectors(void)
{
    const char *explicit_dir = getenv("EVENT_PATTERN_VECTORS");
    if (explicit_dir && *explicit_dir) {
        snprintf(vectors_dir, sizeof vectors_dir, "%s", explicit_dir);
        return is_dir(vectors_dir);
    }
    const char *source = getenv("EVENT_ROUTER_SOURCE_DIR");
    if (!source)
        source = ".";
    const char *ups[] = {"..", "../..", "../../.."};
    for (size_t i = 0; i < sizeof ups / sizeof *ups; i++) {
        snprintf(vectors_dir, sizeof vectors_dir, "%s/%s/shared/vectors/eventbridge-patterns",
                 source, ups[i]);
        if (is_dir(vectors_dir))
            return true;
    }
    return false;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[size] = '\0';
        *len = (size_t)size;
    }
    return buf;
}

/* The raw text of the top-level member `key` of a one-line JSON object: the vectors keep
 * numbers as their sources wrote them, and re-serializing through cJSON would change them. */
static bool member_text(const char *line, const char *key, const char **start, size_t *len)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    int depth = 0;
    bool in_string = false;
    for (const char *p = line; *p; p++) {
        if (in_string) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_string = false;
            continue;
        }
        if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
        } else if (*p == '"') {
            if (depth == 1 && strncmp(p, quoted, strlen(quoted)) == 0) {
                const char *v = p + strlen(quoted);
                while (*v == ' ' || *v == ':')
                    v++;
                /* Skip one value. */
                const char *e = v;
                int d = 0;
                bool s = false;
                do {
                    if (s) {
                        if (*e == '\\')
                            e++;
                        else if (*e == '"')
                            s = false;
                    } else if (*e == '"') {
                        s = true;
                    } else if (*e == '{' || *e == '[') {
                        d++;
                    } else if (*e == '}' || *e == ']') {
                        d--;
                    }
                    e++;
                } while (*e && (d > 0 || s));
                *start = v;
                *len = (size_t)(e - v);
                return true;
            }
            in_string = true;
        }
    }
    return false;
}

static void test_cases(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/cases.jsonl", vectors_dir);
    size_t len;
    char *text = read_file(path, &len);
    CHECK(text != NULL);
    if (!text)
        return;
    int cases = 0, passed = 0, matches = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *record = cJSON_Parse(line);
        CHECK(record != NULL);
        if (!record)
            continue;
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(record, "id"));
        bool expected = cJSON_IsTrue(cJSON_GetObjectItem(record, "match"));
        const cJSON *event = cJSON_GetObjectItem(record, "event");
        const char *pattern_text;
        size_t pattern_len;
        CHECK(member_text(line, "pattern", &pattern_text, &pattern_len));
        event_pattern_error error;
        event_pattern *pattern = event_pattern_compile(pattern_text, pattern_len, NULL, &error);
        cases++;
        char why[512];
        if (!pattern) {
            char message[700];
            fprintf(stderr, "%s: pattern refused: %s\n", id,
                    event_pattern_error_format(&error, message, sizeof message));
            check_failures++;
        } else {
            bool got = event_pattern_explain(pattern, event, why, sizeof why);
            /* The fast path and the explaining one must agree. */
            CHECK(event_pattern_match(pattern, event) == got);
            if (got == expected) {
                passed++;
                matches += got;
            } else {
                fprintf(stderr, "%s: expected %s, got %s%s%s\n", id,
                        expected ? "match" : "no match", got ? "match" : "no match",
                        got ? "" : ": ", got ? "" : why);
                check_failures++;
            }
            event_pattern_free(pattern);
        }
        check_count++;
        cJSON_Delete(record);
    }
    fprintf(stderr, "cases.jsonl: %d of %d cases pass (%d match, %d do not)\n", passed, cases,
            matches, passed - matches);
    CHECK(cases >= 300); /* the file was read, not just opened */
    free(text);
}

static void test_invalid_patterns(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/invalid-patterns.jsonl", vectors_dir);
    size_t len;
    char *text = read_file(path, &len);
    CHECK(text != NULL);
    if (!text)
        return;
    const char *prefix = "Event pattern is not valid. Reason: ";
    int cases = 0, rejected = 0, same_reason = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *record = cJSON_Parse(line);
        CHECK(record != NULL);
        if (!record)
            continue;
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(record, "id"));
        const char *aws = cJSON_GetStringValue(cJSON_GetObjectItem(record, "message"));
        const char *pattern_text;
        size_t pattern_len;
        CHECK(member_text(line, "pattern", &pattern_text, &pattern_len));
        event_pattern_error error;
        event_pattern *pattern = event_pattern_compile(pattern_text, pattern_len, NULL, &error);
        cases++;
        check_count++;
        if (pattern) {
            fprintf(stderr, "%s: accepted, EventBridge rejects it: %s\n", id, aws);
            check_failures++;
            event_pattern_free(pattern);
        } else {
            rejected++;
            const char *reason =
                aws && strncmp(aws, prefix, strlen(prefix)) == 0 ? aws + strlen(prefix) : aws;
            /* EventBridge's reasons are ours word for word (we add the JSON path in front). */
            if (reason && strcmp(reason, error.message) == 0) {
                same_reason++;
            } else {
                fprintf(stderr, "%s: reason differs\n  EventBridge: %s\n  ours:        %s\n", id,
                        reason ? reason : "(none)", error.message);
                check_failures++;
            }
            CHECK(error.line >= 1 && error.col >= 1);
        }
        cJSON_Delete(record);
    }
    fprintf(stderr, "invalid-patterns.jsonl: %d of %d rejected, %d with EventBridge's reason\n",
            rejected, cases, same_reason);
    CHECK(cases >= 30);
    free(text);
}

int main(void)
{
    if (!find_vectors()) {
        fprintf(stderr, "SKIP: shared/vectors/eventbridge-patterns not found beside the source "
                        "tree (set EVENT_PATTERN_VECTORS to the folder)\n");
        return 0;
    }
    fprintf(stderr, "vectors: %s\n", vectors_dir);
    RUN_TEST(test_cases);
    RUN_TEST(test_invalid_patterns);
    return CHECK_DONE();
}
