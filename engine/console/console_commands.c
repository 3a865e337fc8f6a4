/* The console's commands: each reads the request, asks the backend or the ring, and answers
 * through conn_print/conn_ok/conn_error. Anything that is not a command is Lua. */
#include "console/console_internal.h"
#include "log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WORDS 8

/* Splits into words (in place in line); from[i] is where word i starts in the original text, so
 * a command can take "the rest of the line" (a filter or JSON with spaces) from there. */
static int split_words(char *line, const char *original, char **words, const char **from, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        from[n] = original + (p - line);
        words[n++] = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (*p)
            *p++ = '\0';
    }
    return n;
}

static bool parse_count(const char *text, size_t *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    unsigned long long n = strtoull(text, &end, 10);
    if (*end || text[0] == '-')
        return false;
    *out = (size_t)n;
    return true;
}

static void format_clock(double at, char *out, size_t cap)
{
    time_t secs = (time_t)at;
    struct tm tm;
    gmtime_r(&secs, &tm);
    int millis = (int)((at - (double)secs) * 1000.0);
    snprintf(out, cap, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

/* Prints a JSON document the backend gave (pretty when it parses), or fails the request. */
static void answer_json(console_conn *conn, char *text)
{
    if (!text) {
        conn_error(conn, "the engine gave no answer");
        return;
    }
    cJSON *json = cJSON_Parse(text);
    char *pretty = json ? cJSON_Print(json) : NULL;
    conn_print(conn, pretty ? pretty : text);
    free(pretty);
    cJSON_Delete(json);
    free(text);
    conn_ok(conn);
}

#define REQUIRE_BACKEND(conn, fn)                                                                  \
    do {                                                                                           \
        if (!(conn)->owner->backend.fn) {                                                          \
            conn_error(conn, "not supported by this engine: " #fn);                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* ---- filters and formatting shared with the server ---- */

static bool contains(const char *haystack, const char *needle)
{
    return haystack && strstr(haystack, needle);
}

bool console_filter_matches_event(const char *filter, const event *ev)
{
    const char *eq = strchr(filter, '=');
    if (eq) {
        char key[128];
        size_t len = (size_t)(eq - filter);
        if (len >= sizeof key)
            return false;
        memcpy(key, filter, len);
        key[len] = '\0';
        const char *value =
            strcmp(key, "from") == 0 ? ev->source_name : event_get_attribute(ev, key);
        return value && strcmp(value, eq + 1) == 0;
    }
    return contains(ev->type, filter) || contains(ev->subject, filter) ||
           contains(ev->source, filter) || contains(ev->source_name, filter);
}

bool console_filter_matches_entry(const char *filter, const ring_entry *e)
{
    const char *eq = strchr(filter, '=');
    if (!eq)
        return contains(e->type, filter) || contains(e->subject, filter) ||
               contains(e->source, filter) || contains(e->source_name, filter);
    size_t key_len = (size_t)(eq - filter);
    if (key_len == 4 && strncmp(filter, "from", 4) == 0)
        return e->source_name && strcmp(e->source_name, eq + 1) == 0;
    /* Attributes beyond the kept fields live in the JSON copy. */
    char key[128];
    if (key_len >= sizeof key || e->json_truncated)
        return false;
    memcpy(key, filter, key_len);
    key[key_len] = '\0';
    cJSON *json = cJSON_Parse(e->json);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, key);
    bool match = cJSON_IsString(item) && strcmp(item->valuestring, eq + 1) == 0;
    cJSON_Delete(json);
    return match;
}

void console_format_trace_line(char *out, size_t cap, const event *ev, const trace_step *step,
                               double at)
{
    char clock[32];
    format_clock(at, clock, sizeof clock);
    if (!step) {
        snprintf(out, cap, "%s %s event type=%s subject=%s source=%s from=%s", clock,
                 ev->id ? ev->id : "", ev->type ? ev->type : "", ev->subject ? ev->subject : "-",
                 ev->source ? ev->source : "", ev->source_name ? ev->source_name : "-");
        return;
    }
    const char *name = step->name ? step->name : "";
    const char *detail = step->detail ? step->detail : "";
    snprintf(out, cap, "%s %s %s%s%s%s%s", clock, ev->id ? ev->id : "",
             console_trace_kind_name(step->kind), *name ? " " : "", name, *detail ? ": " : "",
             detail);
}

void console_format_entry(console_conn *conn, const ring_entry *e, bool with_steps)
{
    char clock[32];
    format_clock(e->at, clock, sizeof clock);
    conn_printf(conn, "%s %s type=%s subject=%s source=%s from=%s", clock, e->id, e->type,
                e->subject ? e->subject : "-", e->source, e->source_name ? e->source_name : "-");
    if (!with_steps)
        return;
    for (size_t i = 0; i < e->step_count; i++) {
        const ring_step *s = &e->steps[i];
        conn_printf(conn, "  +%.3fs %s%s%s%s%s", s->at - e->at, console_trace_kind_name(s->kind),
                    *s->name ? " " : "", s->name, *s->detail ? ": " : "", s->detail);
    }
    if (e->steps_dropped)
        conn_printf(conn, "  ... %zu more steps not kept", e->steps_dropped);
}

/* ---- commands ---- */

static const char *const help_text =
    "help                                this text\n"
    "stats | sources | processors | scripts | config\n"
    "leader                              this replica's role and the lease holder (HA)\n"
    "tail [N] [FILTER]                   last N matching events, then live traces until you\n"
    "                                    send a line (Ctrl-C); FILTER: substring of\n"
    "                                    type/subject/source, or key=value (from=SOURCE)\n"
    "last [N]                            the N most recent events with their trace (10)\n"
    "show ID                             one recent event's JSON and trace\n"
    "test SCRIPT [ID|JSON]               run one script on a recent event (newest by default)\n"
    "pattern PATTERN [ID]                an EventBridge event pattern (JSON, or a file) on the\n"
    "                                    recent events (or one): match, or the field that failed\n"
    "replay ID [PROCESSOR]               deliver a recent or dead-lettered event again\n"
    "reload                              reload the scripts\n"
    "pause SOURCE | resume SOURCE\n"
    "deadletter list\n"
    "deadletter show PROCESSOR [N]       the first N dead letters (10)\n"
    "deadletter replay PROCESSOR [N|all] replay the first N (all); replayed lines are removed\n"
    "log-level [LEVEL]                   debug, info, warn, error\n"
    "= EXPR                              evaluate Lua and print the value\n"
    "anything else                       a Lua statement or block (<<< ... >>> on the wire)";

static void cmd_tail(console_conn *conn, char **words, const char **from, int n)
{
    size_t backlog = 0;
    int at = 1;
    if (n > 1 && parse_count(words[1], &backlog))
        at = 2;
    free(conn->tail_filter);
    conn->tail_filter = NULL;
    if (at < n) {
        conn->tail_filter = strdup(from[at]);
        if (!conn->tail_filter) {
            conn_error(conn, "out of memory");
            return;
        }
        size_t len = strlen(conn->tail_filter);
        while (len > 0 && isspace((unsigned char)conn->tail_filter[len - 1]))
            conn->tail_filter[--len] = '\0';
    }
    console_ring *ring = &conn->owner->ring;
    const ring_entry *picked[1024];
    size_t count = 0;
    for (size_t i = 0; count < backlog && count < 1024; i++) {
        const ring_entry *e = console_ring_newest(ring, i);
        if (!e)
            break;
        if (!conn->tail_filter || console_filter_matches_entry(conn->tail_filter, e))
            picked[count++] = e;
    }
    while (count > 0)
        console_format_entry(conn, picked[--count], true);
    /* Tells the client the tail has started: everything after is live. */
    conn_print(conn, "tailing; send a line (Ctrl-C) to stop");
    conn->tailing = true;
    conn->tail_skipped = 0;
    conn->tail_shown = 0;
}

static void cmd_last(console_conn *conn, char **words, int n)
{
    size_t count = 10;
    if (n > 1 && !parse_count(words[1], &count)) {
        conn_error(conn, "usage: last [N]");
        return;
    }
    console_ring *ring = &conn->owner->ring;
    if (count > ring->count)
        count = ring->count;
    while (count > 0)
        console_format_entry(conn, console_ring_newest(ring, --count), true);
    conn_ok(conn);
}

static void cmd_show(console_conn *conn, char **words, int n)
{
    if (n < 2) {
        conn_error(conn, "usage: show ID");
        return;
    }
    const ring_entry *e = console_ring_find_id(&conn->owner->ring, words[1]);
    if (!e) {
        conn_error(conn, "no recent event with id %s", words[1]);
        return;
    }
    cJSON *json = e->json_truncated ? NULL : cJSON_Parse(e->json);
    char *pretty = json ? cJSON_Print(json) : NULL;
    conn_print(conn, pretty ? pretty : e->json);
    if (e->json_truncated)
        conn_printf(conn, "(truncated to %d bytes)", CONSOLE_RING_JSON_MAX);
    free(pretty);
    cJSON_Delete(json);
    console_format_entry(conn, e, true);
    conn_ok(conn);
}

/* The JSON of a recent event by id, or an error already answered (NULL). */
static const char *ring_event_json(console_conn *conn, const char *id, bool quiet)
{
    const ring_entry *e = id ? console_ring_find_id(&conn->owner->ring, id)
                             : console_ring_newest(&conn->owner->ring, 0);
    if (!e) {
        if (!quiet)
            conn_error(conn, id ? "no recent event with id %s" : "no recent event%s", id ? id : "");
        return NULL;
    }
    if (e->json_truncated) {
        conn_error(conn, "event %s was cut to %d bytes in the console's memory; pass its JSON",
                   e->id, CONSOLE_RING_JSON_MAX);
        return NULL;
    }
    return e->json;
}

static void cmd_test(console_conn *conn, char **words, const char **from, int n)
{
    REQUIRE_BACKEND(conn, test_script);
    if (n < 2) {
        conn_error(conn, "usage: test SCRIPT [ID|JSON]");
        return;
    }
    const char *arg = n > 2 ? words[2] : NULL;
    const char *json;
    if (arg && arg[0] == '{') {
        json = from[2]; /* a literal event runs to the end of the line */
    } else {
        json = ring_event_json(conn, arg, false);
        if (!json)
            return;
    }
    char err[512] = "";
    const console_backend *b = &conn->owner->backend;
    char *result = b->test_script(b->engine, words[1], json, err, sizeof err);
    if (!result) {
        conn_error(conn, "%s", err[0] ? err : "test failed");
        return;
    }
    answer_json(conn, result);
}

static void cmd_replay(console_conn *conn, char **words, int n)
{
    REQUIRE_BACKEND(conn, replay);
    if (n < 2) {
        conn_error(conn, "usage: replay ID [PROCESSOR]");
        return;
    }
    const char *processor = n > 2 ? words[2] : NULL;
    const ring_entry *e = console_ring_find_id(&conn->owner->ring, words[1]);
    char *owned = NULL;
    const char *json = NULL;
    const char *from = "recent events";
    if (e && !e->json_truncated) {
        json = e->json;
    } else {
        owned = console_deadletter_find_event(conn->owner, words[1], processor);
        json = owned;
        from = "dead letters";
    }
    if (!json) {
        if (e)
            conn_error(conn, "event %s was cut to %d bytes in the console's memory", words[1],
                       CONSOLE_RING_JSON_MAX);
        else
            conn_error(conn, "no recent or dead-lettered event with id %s", words[1]);
        return;
    }
    char err[512] = "";
    const console_backend *b = &conn->owner->backend;
    if (b->replay(b->engine, json, processor, err, sizeof err) != 0) {
        conn_error(conn, "replay failed: %s", err[0] ? err : "unknown reason");
    } else {
        conn_printf(conn, "replayed %s (from %s) to %s", words[1], from,
                    processor ? processor : "all processors");
        conn_ok(conn);
    }
    free(owned);
}

static void cmd_pause(console_conn *conn, char **words, int n, bool pause)
{
    REQUIRE_BACKEND(conn, pause_source);
    if (n < 2) {
        conn_error(conn, "usage: %s SOURCE", pause ? "pause" : "resume");
        return;
    }
    char err[512] = "";
    const console_backend *b = &conn->owner->backend;
    if (b->pause_source(b->engine, words[1], pause, err, sizeof err) != 0) {
        conn_error(conn, "%s", err[0] ? err : "failed");
        return;
    }
    conn_printf(conn, "source %s %s", words[1], pause ? "paused" : "resumed");
    conn_ok(conn);
}

static void cmd_reload(console_conn *conn)
{
    REQUIRE_BACKEND(conn, reload);
    char err[512] = "";
    const console_backend *b = &conn->owner->backend;
    if (b->reload(b->engine, err, sizeof err) != 0) {
        conn_error(conn, "reload failed: %s", err[0] ? err : "unknown reason");
        return;
    }
    conn_print(conn, "reloaded");
    conn_ok(conn);
}

static void cmd_log_level(console_conn *conn, char **words, int n)
{
    if (n > 1) {
        log_level level;
        if (!log_parse_level(words[1], &level)) {
            conn_error(conn, "unknown log level %s (debug, info, warn, error)", words[1]);
            return;
        }
        log_set_level(level);
    }
    conn_printf(conn, "log level %s", log_level_name(log_get_level()));
    conn_ok(conn);
}

static void run_lua(console_conn *conn, const char *chunk)
{
    REQUIRE_BACKEND(conn, eval_lua);
    char err[1024] = "";
    const console_backend *b = &conn->owner->backend;
    char *out = b->eval_lua(b->engine, chunk, err, sizeof err);
    if (!out) {
        conn_error(conn, "%s", err[0] ? err : "Lua failed");
        return;
    }
    if (*out)
        conn_print(conn, out);
    free(out);
    conn_ok(conn);
}

static void run_expression(console_conn *conn, const char *expr)
{
    size_t len = strlen(expr) + sizeof "return ";
    char *chunk = malloc(len);
    if (!chunk) {
        conn_error(conn, "out of memory");
        return;
    }
    snprintf(chunk, len, "return %s", expr);
    run_lua(conn, chunk);
    free(chunk);
}

static char *backend_json(console_conn *conn, char *(*fn)(void *))
{
    return fn(conn->owner->backend.engine);
}

void console_run_request(console_conn *conn, const char *request, bool is_block)
{
    if (is_block) {
        run_lua(conn, request);
        return;
    }
    const char *p = request;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p) {
        conn_ok(conn);
        return;
    }
    if (*p == '=') {
        run_expression(conn, p + 1);
        return;
    }
    char *line = strdup(p);
    if (!line) {
        conn_error(conn, "out of memory");
        return;
    }
    char *words[MAX_WORDS];
    const char *from[MAX_WORDS];
    int n = split_words(line, p, words, from, MAX_WORDS);
    const console_backend *b = &conn->owner->backend;
    const char *cmd = words[0];
    if (strcmp(cmd, "help") == 0) {
        conn_print(conn, help_text);
        conn_ok(conn);
    } else if (strcmp(cmd, "stats") == 0) {
        if (b->stats_json)
            answer_json(conn, backend_json(conn, b->stats_json));
        else
            conn_error(conn, "not supported by this engine: stats");
    } else if (strcmp(cmd, "leader") == 0) {
        if (b->leader_json)
            answer_json(conn, backend_json(conn, b->leader_json));
        else
            conn_error(conn, "not supported by this engine: leader");
    } else if (strcmp(cmd, "sources") == 0) {
        if (b->sources_json)
            answer_json(conn, backend_json(conn, b->sources_json));
        else
            conn_error(conn, "not supported by this engine: sources");
    } else if (strcmp(cmd, "processors") == 0) {
        if (b->processors_json)
            answer_json(conn, backend_json(conn, b->processors_json));
        else
            conn_error(conn, "not supported by this engine: processors");
    } else if (strcmp(cmd, "scripts") == 0) {
        if (b->scripts_json)
            answer_json(conn, backend_json(conn, b->scripts_json));
        else
            conn_error(conn, "not supported by this engine: scripts");
    } else if (strcmp(cmd, "config") == 0) {
        if (b->config_json)
            answer_json(conn, backend_json(conn, b->config_json));
        else
            conn_error(conn, "not supported by this engine: config");
    } else if (strcmp(cmd, "tail") == 0) {
        cmd_tail(conn, words, from, n);
    } else if (strcmp(cmd, "last") == 0) {
        cmd_last(conn, words, n);
    } else if (strcmp(cmd, "show") == 0) {
        cmd_show(conn, words, n);
    } else if (strcmp(cmd, "test") == 0) {
        cmd_test(conn, words, from, n);
    } else if (strcmp(cmd, "pattern") == 0) {
        console_pattern_command(conn, n > 1 ? from[1] : "");
    } else if (strcmp(cmd, "replay") == 0) {
        cmd_replay(conn, words, n);
    } else if (strcmp(cmd, "reload") == 0) {
        cmd_reload(conn);
    } else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
        cmd_pause(conn, words, n, strcmp(cmd, "pause") == 0);
    } else if (strcmp(cmd, "deadletter") == 0) {
        console_deadletter_command(conn, n, words);
    } else if (strcmp(cmd, "log-level") == 0) {
        cmd_log_level(conn, words, n);
    } else if (strcmp(cmd, "lua") == 0) {
        run_lua(conn, p + 3);
    } else {
        run_lua(conn, p);
    }
    free(line);
}
