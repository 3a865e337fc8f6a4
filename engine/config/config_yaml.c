#include "config/config_yaml.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Deeper nesting than this is not a config; refusing it keeps the recursion bounded. */
#define YNODE_MAX_DEPTH 64

typedef struct {
    yaml_parser_t parser;
    const char *name;
    config_errors *errors;
    bool failed;
} builder;

static void builder_error(builder *b, const yaml_mark_t *mark, const char *message)
{
    if (!b->failed)
        config_errors_add(b->errors, b->name, (int)mark->line + 1, (int)mark->column + 1, NULL,
                          "%s", message);
    b->failed = true;
}

static bool next_event(builder *b, yaml_event_t *event)
{
    if (yaml_parser_parse(&b->parser, event))
        return true;
    /* libyaml's texts are fixed phrases, never document content, so they cannot leak a secret. */
    char message[256], context[128] = "";
    if (b->parser.context)
        snprintf(context, sizeof context, " %s (from line %d col %d)", b->parser.context,
                 (int)b->parser.context_mark.line + 1, (int)b->parser.context_mark.column + 1);
    snprintf(message, sizeof message, "YAML syntax error: %s%s",
             b->parser.problem ? b->parser.problem : "malformed document", context);
    builder_error(b, &b->parser.problem_mark, message);
    return false;
}

static ynode *node_new(ynode_kind kind, const yaml_mark_t *mark)
{
    ynode *node = calloc(1, sizeof *node);
    if (!node)
        return NULL;
    node->kind = kind;
    node->line = (int)mark->line + 1;
    node->col = (int)mark->column + 1;
    return node;
}

static ynode *scalar_from_event(const yaml_event_t *event)
{
    ynode *node = node_new(YNODE_SCALAR, &event->start_mark);
    if (!node)
        return NULL;
    const char *text = (const char *)event->data.scalar.value;
    node->scalar = strndup(text, event->data.scalar.length);
    if (!node->scalar) {
        free(node);
        return NULL;
    }
    node->plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (node->plain)
        node->is_null = strcmp(text, "") == 0 || strcmp(text, "~") == 0 ||
                        strcmp(text, "null") == 0 || strcmp(text, "Null") == 0 ||
                        strcmp(text, "NULL") == 0;
    return node;
}

static ynode *build_node(builder *b, yaml_event_t *event, int depth);

static bool append_item(ynode *seq, ynode *item)
{
    ynode **grown = realloc(seq->items, (seq->item_count + 1) * sizeof *grown);
    if (!grown)
        return false;
    seq->items = grown;
    seq->items[seq->item_count++] = item;
    return true;
}

static bool append_pair(builder *b, ynode *map, ynode *key, ynode *value)
{
    if (ynode_find(map, key->scalar)) {
        char message[160];
        snprintf(message, sizeof message, "duplicate key '%.100s'", key->scalar);
        yaml_mark_t mark = {.line = (size_t)key->line - 1, .column = (size_t)key->col - 1};
        builder_error(b, &mark, message);
        return false;
    }
    ynode_pair *grown = realloc(map->pairs, (map->pair_count + 1) * sizeof *grown);
    if (!grown) {
        yaml_mark_t mark = {.line = (size_t)key->line - 1, .column = (size_t)key->col - 1};
        builder_error(b, &mark, "out of memory");
        return false;
    }
    map->pairs = grown;
    map->pairs[map->pair_count++] = (ynode_pair){
        .key = key->scalar, .key_line = key->line, .key_col = key->col, .value = value};
    key->scalar = NULL; /* the pair owns the key text now */
    ynode_free(key);
    return true;
}

/* Reads children until the matching end event; returns false when the tree cannot be built. */
static bool build_children(builder *b, ynode *parent, yaml_event_type_t end, int depth)
{
    for (;;) {
        yaml_event_t event;
        if (!next_event(b, &event))
            return false;
        if (event.type == end) {
            yaml_event_delete(&event);
            return true;
        }
        if (parent->kind == YNODE_SEQ) {
            ynode *item = build_node(b, &event, depth + 1);
            if (!item || !append_item(parent, item)) {
                ynode_free(item);
                return false;
            }
            continue;
        }
        if (event.type != YAML_SCALAR_EVENT) {
            builder_error(b, &event.start_mark, "mapping keys must be plain strings");
            yaml_event_delete(&event);
            return false;
        }
        ynode *key = build_node(b, &event, depth + 1);
        if (!key)
            return false;
        yaml_event_t value_event;
        if (!next_event(b, &value_event)) {
            ynode_free(key);
            return false;
        }
        ynode *value = build_node(b, &value_event, depth + 1);
        if (!value || !append_pair(b, parent, key, value)) {
            ynode_free(key);
            ynode_free(value);
            return false;
        }
    }
}

/* Takes ownership of event (deletes it). */
static ynode *build_node(builder *b, yaml_event_t *event, int depth)
{
    ynode *node = NULL;
    if (depth > YNODE_MAX_DEPTH) {
        builder_error(b, &event->start_mark, "nesting too deep");
    } else if (event->type == YAML_SCALAR_EVENT) {
        node = scalar_from_event(event);
    } else if (event->type == YAML_MAPPING_START_EVENT ||
               event->type == YAML_SEQUENCE_START_EVENT) {
        bool map = event->type == YAML_MAPPING_START_EVENT;
        node = node_new(map ? YNODE_MAP : YNODE_SEQ, &event->start_mark);
        if (node && !build_children(b, node, map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT,
                                    depth)) {
            ynode_free(node);
            node = NULL;
        }
    } else if (event->type == YAML_ALIAS_EVENT) {
        builder_error(b, &event->start_mark, "YAML aliases are not supported in the config");
    } else {
        builder_error(b, &event->start_mark, "unexpected YAML structure");
    }
    if (!node && !b->failed)
        builder_error(b, &event->start_mark, "out of memory");
    yaml_event_delete(event);
    return node;
}

/* Skips STREAM_START and DOCUMENT_START; NULL root (no error) for an empty stream. */
static bool first_content_event(builder *b, yaml_event_t *event, bool *empty)
{
    *empty = false;
    for (;;) {
        if (!next_event(b, event))
            return false;
        if (event->type == YAML_STREAM_START_EVENT || event->type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(event);
            continue;
        }
        if (event->type == YAML_STREAM_END_EVENT) {
            *empty = true;
            yaml_event_delete(event);
        }
        return true;
    }
}

ynode *ynode_parse(const char *name, const char *text, size_t len, config_errors *errors)
{
    builder b = {.name = name, .errors = errors};
    if (!yaml_parser_initialize(&b.parser)) {
        config_errors_add(errors, name, 1, 1, NULL, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);

    ynode *root = NULL;
    yaml_event_t event;
    bool empty;
    if (first_content_event(&b, &event, &empty)) {
        if (empty)
            config_errors_add(errors, name, 1, 1, NULL, "the configuration is empty");
        else
            root = build_node(&b, &event, 0);
    }
    /* A second document would be silently ignored by a reader that stops here; say so instead. */
    if (root && next_event(&b, &event)) {
        if (event.type == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&event);
            if (next_event(&b, &event)) {
                if (event.type == YAML_DOCUMENT_START_EVENT)
                    builder_error(&b, &event.start_mark,
                                  "only one YAML document is allowed in the config");
                yaml_event_delete(&event);
            }
        } else {
            yaml_event_delete(&event);
        }
    }
    if (b.failed) {
        ynode_free(root);
        root = NULL;
    }
    yaml_parser_delete(&b.parser);
    return root;
}

void ynode_free(ynode *node)
{
    if (!node)
        return;
    free(node->scalar);
    for (size_t i = 0; i < node->pair_count; i++) {
        free(node->pairs[i].key);
        ynode_free(node->pairs[i].value);
    }
    free(node->pairs);
    for (size_t i = 0; i < node->item_count; i++)
        ynode_free(node->items[i]);
    free(node->items);
    free(node);
}

const ynode_pair *ynode_find(const ynode *map, const char *key)
{
    if (!map || map->kind != YNODE_MAP || !key)
        return NULL;
    for (size_t i = 0; i < map->pair_count; i++)
        if (strcmp(map->pairs[i].key, key) == 0)
            return &map->pairs[i];
    return NULL;
}
