/* A small YAML tree for the config validator: libyaml's events folded into mappings, sequences
 * and scalars that remember where (1-based line:col) each key and value was written, so every
 * validation message can point at the exact spot. Anchors, aliases and multiple documents are
 * rejected: RouterConfig files do not use them and they would blur "where was this written". */
#ifndef EVENT_ROUTER_CONFIG_YAML_H
#define EVENT_ROUTER_CONFIG_YAML_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ } ynode_kind;

typedef struct ynode ynode;

typedef struct ynode_pair {
    char *key;
    int key_line, key_col;
    ynode *value;
} ynode_pair;

struct ynode {
    ynode_kind kind;
    int line, col;
    char *scalar;      /* YNODE_SCALAR: the text as written (without quotes) */
    bool is_null;      /* plain "", "~", "null": the key is there but says nothing */
    bool plain;        /* written without quotes: 5 is a number, "5" a string */
    ynode_pair *pairs; /* YNODE_MAP, in file order */
    size_t pair_count;
    ynode **items; /* YNODE_SEQ */
    size_t item_count;
};

/* Parses the first document; returns NULL (and adds "name:line:col: ..." errors) on a syntax
 * error, an empty document or a non-unique key. The tree is owned by the caller (ynode_free). */
ynode *ynode_parse(const char *name, const char *text, size_t len, config_errors *errors);
void ynode_free(ynode *node);
/* The pair for key in a mapping, or NULL (also when map is not a mapping). */
const ynode_pair *ynode_find(const ynode *map, const char *key);

#endif
