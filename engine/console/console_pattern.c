/* `pattern PATTERN [ID]`: an EventBridge event pattern tried on the recent events the console
 * remembers (or on one of them), as a processor's filter would see them: one line per event,
 * match or the field that failed. PATTERN is the pattern's JSON on the line, or a file holding
 * it. Nothing is delivered. */
#include "console/console_internal.h"
#include "filters/event_pattern.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the JSON value starting at text ends (one past it), or NULL when it does not end. */
static const char *json_end(const char *text)
{
    int depth = 0;
    bool in_string = false;
    for (const char *p = text; *p; p++) {
        if (in_string) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_string = false;
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if ((*p == '}' || *p == ']') && --depth == 0) {
            return p + 1;
        }
    }
    return NULL;
}

static char *read_pattern_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            char *grown = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!grown) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool try_entry(console_conn *conn, const event_pattern *pattern, const ring_entry *e)
{
    if (e->json_truncated) {
        conn_printf(conn, "%s: skipped (cut to %d bytes in the console's memory)", e->id,
                    CONSOLE_RING_JSON_MAX);
        return false;
    }
    cJSON *json = cJSON_Parse(e->json);
    char why[512] = "not valid JSON";
    bool matched = json && event_pattern_explain(pattern, json, why, sizeof why);
    cJSON_Delete(json);
    if (matched)
        conn_printf(conn, "%s %s: match", e->id, e->subject ? e->subject : e->type);
    else
        conn_printf(conn, "%s %s: no match: %s", e->id, e->subject ? e->subject : e->type, why);
    return matched;
}

void console_pattern_command(console_conn *conn, const char *args)
{
    while (*args && isspace((unsigned char)*args))
        args++;
    if (!*args) {
        conn_error(conn, "usage: pattern PATTERN [ID]   (PATTERN: its JSON, or a file)");
        return;
    }
    char *text = NULL;
    size_t len = 0;
    const char *rest;
    if (*args == '{') {
        const char *end = json_end(args);
        if (!end) {
            conn_error(conn, "the pattern's JSON does not end on this line");
            return;
        }
        len = (size_t)(end - args);
        text = strndup(args, len);
        rest = end;
    } else {
        const char *end = args;
        while (*end && !isspace((unsigned char)*end))
            end++;
        char *path = strndup(args, (size_t)(end - args));
        text = path ? read_pattern_file(path, &len) : NULL;
        if (!text) {
            conn_error(conn, "cannot read %s", path ? path : "the pattern");
            free(path);
            return;
        }
        free(path);
        rest = end;
    }
    if (!text) {
        conn_error(conn, "out of memory");
        return;
    }
    event_pattern_error error;
    event_pattern *pattern = event_pattern_compile(text, len, NULL, &error);
    free(text);
    if (!pattern) {
        char reason[700];
        conn_error(conn, "%d:%d: %s", error.line, error.col,
                   event_pattern_error_format(&error, reason, sizeof reason));
        return;
    }
    for (size_t i = 0; i < event_pattern_warning_count(pattern); i++)
        conn_printf(conn, "warning: %s", event_pattern_warning(pattern, i));

    while (*rest && isspace((unsigned char)*rest))
        rest++;
    char id[256];
    snprintf(id, sizeof id, "%s", rest);
    for (size_t n = strlen(id); n > 0 && isspace((unsigned char)id[n - 1]); n--)
        id[n - 1] = '\0';
    const console_ring *ring = &conn->owner->ring;
    if (id[0]) {
        const ring_entry *e = console_ring_find_id(ring, id);
        if (e) {
            try_entry(conn, pattern, e);
            conn_ok(conn);
        } else {
            conn_error(conn, "no recent event with id %s", id);
        }
        event_pattern_free(pattern);
        return;
    }
    size_t matched = 0, count = ring->count;
    for (size_t n = count; n > 0; n--) /* oldest first, as tail shows them */
        matched += try_entry(conn, pattern, console_ring_newest(ring, n - 1));
    conn_printf(conn, "%zu of %zu recent events match", matched, count);
    conn_ok(conn);
    event_pattern_free(pattern);
}
