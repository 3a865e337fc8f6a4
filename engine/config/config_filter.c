#include "config/config_filter.h"

#include "filters/event_pattern.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- YAML -> JSON text ---- */

typedef struct builder {
    yaml_json *out;
    size_t cap, place_cap;
    bool failed;
} builder;

static void put(builder *b, const char *bytes, size_t len)
{
    if (b->failed)
        return;
    if (b->out->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->out->len + len + 1)
            cap *= 2;
        char *grown = realloc(b->out->text, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->out->text = grown;
        b->cap = cap;
    }
    memcpy(b->out->text + b->out->len, bytes, len);
    b->out->len += len;
    b->out->text[b->out->len] = '\0';
}

static void place(builder *b, int line, int col)
{
    if (b->failed)
        return;
    yaml_json *out = b->out;
    if (out->place_count == b->place_cap) {
        size_t cap = b->place_cap ? b->place_cap * 2 : 16;
        yaml_json_place *grown = realloc(out->places, cap * sizeof *grown);
        if (!grown) {
            b->failed = true;
            return;
        }
        out->places = grown;
        b->place_cap = cap;
    }
    out->places[out->place_count++] = (yaml_json_place){out->len, line, col};
}

static void put_string(builder *b, const char *text)
{
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char escaped[8];
        if (*p == '"' || *p == '\\') {
            escaped[0] = '\\';
            escaped[1] = (char)*p;
            put(b, escaped, 2);
        } else if (*p < 0x20) {
            snprintf(escaped, sizeof escaped, "\\u%04x", *p);
            put(b, escaped, 6);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    put(b, "\"", 1);
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (*p == '.') {
        if (!(*++p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

static void emit(builder *b, const ynode *node)
{
    place(b, node->line, node->col);
    switch (node->kind) {
    case YNODE_MAP:
        put(b, "{", 1);
        for (size_t i = 0; i < node->pair_count; i++) {
            if (i)
                put(b, ",", 1);
            place(b, node->pairs[i].key_line, node->pairs[i].key_col);
            put_string(b, node->pairs[i].key);
            put(b, ":", 1);
            emit(b, node->pairs[i].value);
        }
        put(b, "}", 1);
        break;
    case YNODE_SEQ:
        put(b, "[", 1);
        for (size_t i = 0; i < node->item_count; i++) {
            if (i)
                put(b, ",", 1);
            emit(b, node->items[i]);
        }
        put(b, "]", 1);
        break;
    case YNODE_SCALAR: {
        const char *s = node->scalar;
        if (node->plain && node->is_null)
            put(b, "null", 4);
        else if (node->plain &&
                 (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0))
            put(b, "true", 4);
        else if (node->plain &&
                 (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0))
            put(b, "false", 5);
        else if (node->plain && json_number(s))
            put(b, s, strlen(s));
        else
            put_string(b, s);
        break;
    }
    }
}

bool yaml_to_json(const ynode *node, yaml_json *out)
{
    memset(out, 0, sizeof *out);
    builder b = {.out = out};
    emit(&b, node);
    if (b.failed || !out->text) {
        yaml_json_free(out);
        return false;
    }
    return true;
}

void yaml_json_free(yaml_json *json)
{
    free(json->text);
    free(json->places);
    memset(json, 0, sizeof *json);
}

void yaml_json_locate(const yaml_json *json, size_t offset, int *line, int *col)
{
    *line = json->place_count ? json->places[0].line : 1;
    *col = json->place_count ? json->places[0].col : 1;
    for (size_t i = 0; i < json->place_count && json->places[i].offset <= offset; i++) {
        *line = json->places[i].line;
        *col = json->places[i].col;
    }
}

/* ---- the filter section ---- */

void config_read_filter(config_checker *ck, const ynode *parent, const char *path,
                        struct event_pattern **pattern, char **text)
{
    const ynode *filter = check_map(ck, parent, path, "filter", false);
    if (!filter)
        return;
    char filter_path[256], field[300];
    check_path(filter_path, sizeof filter_path, path, "filter");
    check_known_keys(ck, filter, filter_path, (const char *const[]){"eventPattern", NULL});
    const ynode *node = check_value(ck, filter, filter_path, "eventPattern", true);
    if (!node)
        return;
    check_path(field, sizeof field, filter_path, "eventPattern");

    /* A string is the pattern's JSON as EventBridge shows it; anything else is the pattern
     * written in YAML. */
    yaml_json json = {0};
    bool as_text = node->kind == YNODE_SCALAR;
    if (as_text) {
        json.text = strdup(node->scalar);
        json.len = json.text ? strlen(json.text) : 0;
    } else if (!yaml_to_json(node, &json)) {
        json.text = NULL;
    }
    if (!json.text) {
        check_error_at(ck, node->line, node->col, field, "out of memory");
        return;
    }
    event_pattern_error error;
    event_pattern *compiled = event_pattern_compile(json.text, json.len, NULL, &error);
    if (!compiled) {
        char reason[700];
        event_pattern_error_format(&error, reason, sizeof reason);
        if (as_text) {
            check_error_at(ck, node->line, node->col, field,
                           "%s (line %d, column %d of the pattern)", reason, error.line, error.col);
        } else {
            int line, col;
            yaml_json_locate(&json, error.offset, &line, &col);
            check_error_at(ck, line, col, field, "%s", reason);
        }
        yaml_json_free(&json);
        return;
    }
    for (size_t i = 0; i < event_pattern_warning_count(compiled); i++)
        log_warn("config", "%s:%d:%d: %s: %s", ck->file, node->line, node->col, field,
                 event_pattern_warning(compiled, i));
    event_pattern_free(*pattern);
    free(*text);
    *pattern = compiled;
    *text = json.text;
    json.text = NULL;
    yaml_json_free(&json);
}
