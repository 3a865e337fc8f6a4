/* A processor's `filter: {eventPattern: ...}`: an EventBridge event pattern, written either as
 * YAML (a mapping, as the rest of the file) or as a string holding the pattern's JSON (pasted
 * from an EventBridge rule). It is compiled here, so a bad pattern is a config error with its
 * file:line:col, and the compiled pattern is part of the config. */
#ifndef EVENT_ROUTER_CONFIG_FILTER_H
#define EVENT_ROUTER_CONFIG_FILTER_H

#include "config/config_check.h"

struct event_pattern;

/* Reads parent["filter"] when present: *pattern gets the compiled pattern (owned by the caller,
 * event_pattern_free) and *text its JSON (malloc'd). Problems are reported through ck; warnings
 * of the compiler (e.g. quamina's shellstyle) go to the log with file:line. */
void config_read_filter(config_checker *ck, const ynode *parent, const char *path,
                        struct event_pattern **pattern, char **text);

/* The JSON text of a YAML value as an event pattern reads it: mappings are objects, sequences
 * arrays, unquoted true/false/null and JSON-shaped numbers are themselves, everything else a
 * string. For each value, where it starts in the text and where it was in the file, so an error
 * at an offset can be traced back to a line. NULL when out of memory. */
typedef struct yaml_json_place {
    size_t offset;
    int line, col;
} yaml_json_place;

typedef struct yaml_json {
    char *text;
    size_t len;
    yaml_json_place *places; /* by offset, ascending */
    size_t place_count;
} yaml_json;

bool yaml_to_json(const ynode *node, yaml_json *out);
void yaml_json_free(yaml_json *json);
/* The file position of the value that holds offset. */
void yaml_json_locate(const yaml_json *json, size_t offset, int *line, int *col);

#endif
