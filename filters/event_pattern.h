/* EventBridge event patterns, the whole language as AWS documents it: compile a pattern once,
 * then match events against it with no allocation.
 *
 * Semantics follow EventBridge (and aws/event-ruler, the library behind it): fields are flattened
 * to dot-joined names ("detail.state", so {"a.b": ...} and {"a": {"b": ...}} are the same field);
 * a pattern matches when every field matches (AND), a field matches when any of its values does
 * (OR); an array in the event matches when any element does, and fields matched inside one array
 * of objects must come from the same element. Numbers compare by value (3 matches 3.0), "" and
 * null are different values, operators apply to leaves only (exists:false holds where the path is
 * an object). "$or" is an OR of sub-patterns when it is an array of 2+ objects, else a field name.
 *
 * Ownership: event_pattern_compile returns a pattern the caller owns (event_pattern_free). The
 * pattern is immutable once compiled; matching only reads it and the event, so one pattern can be
 * matched from several threads at once. */
#ifndef EVENT_ROUTER_EVENT_PATTERN_H
#define EVENT_ROUTER_EVENT_PATTERN_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* EventBridge's limit on a rule's EventPattern, in characters. */
#define EVENT_PATTERN_AWS_MAX_CHARS 2048

typedef struct event_pattern event_pattern;

typedef struct event_pattern_options {
    /* Longest pattern accepted, in characters (UTF-8 code points); 0 means no limit. An
     * EventBridge rule is held to EVENT_PATTERN_AWS_MAX_CHARS; our own filters may be longer. */
    size_t max_chars;
} event_pattern_options;

/* Where and why a pattern was refused. path is the JSON path of the offending value
 * ("detail.state[0].prefix", "" for the whole pattern); message says what is wrong, in
 * EventBridge's own words where EventBridge has words for it. offset (bytes), line and col
 * (1-based) locate the value in the text that was compiled. */
typedef struct event_pattern_error {
    char path[256];
    char message[320];
    size_t offset;
    int line, col;
} event_pattern_error;

/* Compiles text (len bytes, need not be NUL-terminated). options may be NULL (no length limit).
 * Returns NULL and fills *error (when error is not NULL) for a pattern EventBridge would reject,
 * for invalid JSON and when out of memory. */
event_pattern *event_pattern_compile(const char *text, size_t len,
                                     const event_pattern_options *options,
                                     event_pattern_error *error);
void event_pattern_free(event_pattern *pattern);

/* "path: message" (or just the message for the whole pattern) into buf; returns buf. */
const char *event_pattern_error_format(const event_pattern_error *error, char *buf, size_t cap);

/* Things the compiler accepted but a user should hear about, e.g. quamina's "shellstyle" taken as
 * "wildcard", or "$or" read as a field name. Strings owned by the pattern. */
size_t event_pattern_warning_count(const event_pattern *pattern);
const char *event_pattern_warning(const event_pattern *pattern, size_t index);

/* Bytes the compiled pattern occupies (for accounting, e.g. in a Lua state's memory limit). */
size_t event_pattern_memory(const event_pattern *pattern);

/* True when event (any JSON value; usually an object) matches. Allocates nothing. */
bool event_pattern_match(const event_pattern *pattern, const cJSON *event);

/* As event_pattern_match, and when the event does not match writes why into why: the field the
 * search got stuck on and what was wrong with it (missing, which value did not match, present
 * where it must be absent). For tools and the console, not the hot path (it formats text). */
bool event_pattern_explain(const event_pattern *pattern, const cJSON *event, char *why, size_t cap);

#endif
