/* Internals shared by the event-pattern compiler (event_pattern_compile.c and the value parsers)
 * and the matcher (event_pattern_match.c). Nothing here is part of the public API. */
#ifndef EVENT_ROUTER_EVENT_PATTERN_INTERNAL_H
#define EVENT_ROUTER_EVENT_PATTERN_INTERNAL_H

#include "event_pattern.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Arena: everything a compiled pattern holds lives in one, freed at once. ---- */

typedef struct ep_arena_chunk ep_arena_chunk;
typedef struct ep_arena {
    ep_arena_chunk *head;
} ep_arena;

/* 16-byte aligned, zeroed; NULL when out of memory. */
void *ep_arena_alloc(ep_arena *arena, size_t size);
/* A NUL-terminated copy of len bytes. */
char *ep_arena_strndup(ep_arena *arena, const char *bytes, size_t len);
void ep_arena_free(ep_arena *arena);
/* Bytes the arena holds (its chunks). */
size_t ep_arena_size(const ep_arena *arena);

/* ---- The pattern's JSON, read strictly (RFC 8259) with each value's place in the text. ---- */

typedef enum {
    EPJ_NULL,
    EPJ_FALSE,
    EPJ_TRUE,
    EPJ_NUMBER,
    EPJ_STRING,
    EPJ_ARRAY,
    EPJ_OBJECT,
} epj_kind;

typedef struct epj_node epj_node;
struct epj_node {
    epj_kind kind;
    size_t offset;    /* byte offset of the value in the text */
    const char *text; /* STRING: the unescaped bytes; NUMBER: as written (both NUL-terminated) */
    size_t len;
    const char *key; /* as a member of an object: its unescaped name */
    size_t key_len;
    size_t key_offset;
    epj_node *first; /* ARRAY, OBJECT: members in document order */
    epj_node *next;
    size_t count;
};

/* Parses text into nodes allocated from arena. NULL on invalid JSON, with a message and the
 * offset of the problem. Nesting deeper than EPJ_MAX_DEPTH is refused (the parser recurses). */
#define EPJ_MAX_DEPTH 64
epj_node *epj_parse(ep_arena *arena, const char *text, size_t len, char *message, size_t cap,
                    size_t *error_offset);

/* ---- Values ---- */

/* Numbers compare as IEEE doubles mapped to unsigned keys whose order is the numbers' order, as
 * event-ruler's ComparableNumber does (so -0.0 sorts just below 0.0 and is a different value). */
uint64_t ep_number_key(double value);
/* Parses a JSON number as written. *comparable is false when the double does not hold the
 * written value exactly (EventBridge refuses such a number in numeric and anything-but). */
bool ep_number_parse(const char *text, double *value, bool *comparable);

/* IP literals as EventBridge recognises them. Returns 4 or 16 (bytes written to out), 0 when
 * text is not shaped like an address at all, -1 when it is shaped like one but invalid. */
int ep_ip_parse(const char *text, size_t len, unsigned char out[16]);
/* Parses "address/bits" into the range it covers; false with EventBridge's message. */
bool ep_cidr_parse(const char *text, size_t len, unsigned char low[16], unsigned char high[16],
                   int *bytes, char *message, size_t cap);

/* Case-insensitive text: each code point of the pattern with its lower- and upper-case forms
 * (what event-ruler accepts at that position). */
typedef struct ep_folded {
    const uint32_t *lower;
    const uint32_t *upper;
    size_t count;
} ep_folded;
bool ep_fold_compile(ep_arena *arena, const char *text, size_t len, ep_folded *out);
/* Decodes one UTF-8 code point at *pos (advancing it); invalid bytes decode one by one to
 * values no pattern code point has. */
uint32_t ep_utf8_next(const char *text, size_t len, size_t *pos);
/* True when text equals the folded pattern (whole) or starts with it (!whole). */
bool ep_fold_equals(const ep_folded *pattern, const char *text, size_t len, bool whole);
bool ep_fold_has_suffix(const ep_folded *pattern, const char *text, size_t len);
size_t ep_utf8_count(const char *text, size_t len);

/* Wildcards: literal segments between stars. */
typedef struct ep_glob {
    const char *bytes;    /* the literal bytes of all segments, escapes resolved */
    const size_t *starts; /* segment k is bytes[starts[k] .. starts[k] + lens[k]) */
    const size_t *lens;
    size_t segments; /* stars + 1 */
} ep_glob;
/* Parses an EventBridge wildcard ("\*" and "\\" escapes, no "**"). quamina_shellstyle: no
 * escapes at all (quamina's shellstyle). False with EventBridge's message. */
bool ep_glob_compile(ep_arena *arena, const char *text, size_t len, bool quamina_shellstyle,
                     ep_glob *out, char *message, size_t cap);
bool ep_glob_match(const ep_glob *glob, const char *text, size_t len);
/* How many wildcard positions a worst-case value keeps alive at once across these globs (the
 * measure behind EventBridge's "Rule is too complex"); stops counting above limit. */
#define EP_GLOB_COMPLEXITY_LIMIT 10
size_t ep_glob_complexity(const ep_glob *const *globs, size_t count, size_t limit);

/* ---- Compiled pattern ---- */

typedef struct ep_text {
    const char *bytes;
    size_t len;
} ep_text;

typedef enum {
    EPC_STRINGS, /* exact strings (sorted, for bsearch) */
    EPC_NUMBERS, /* numeric equality (sorted keys) */
    EPC_TRUE,
    EPC_FALSE,
    EPC_NULL,
    EPC_IP, /* an exact IP literal: any spelling of the same address */
    EPC_PREFIX,
    EPC_SUFFIX,
    EPC_EQUALS_NOCASE,
    EPC_PREFIX_NOCASE,
    EPC_SUFFIX_NOCASE,
    EPC_WILDCARD,
    EPC_NUMERIC, /* a range */
    EPC_CIDR,
    EPC_NOT_STRINGS, /* anything-but over strings */
    EPC_NOT_NUMBERS, /* anything-but over numbers */
    EPC_NOT_PREFIX,
    EPC_NOT_SUFFIX,
    EPC_NOT_NOCASE,
    EPC_NOT_WILDCARD,
} ep_cond_kind;

typedef struct ep_cond {
    ep_cond_kind kind;
    union {
        struct {
            const ep_text *items; /* STRINGS, NOT_STRINGS, NOT_PREFIX, NOT_SUFFIX */
            size_t count;
        } texts;
        ep_text text; /* PREFIX, SUFFIX */
        struct {
            const uint64_t *keys; /* NUMBERS, NOT_NUMBERS */
            size_t count;
        } numbers;
        struct {
            const ep_folded *items; /* EQUALS_NOCASE, PREFIX_NOCASE, SUFFIX_NOCASE: 1 */
            size_t count;
        } folded;
        struct {
            const ep_glob *items; /* WILDCARD: 1, NOT_WILDCARD: any */
            size_t count;
        } globs;
        struct {
            uint64_t low, high;
            bool low_open, high_open;
        } range;
        struct {
            unsigned char low[16], high[16]; /* IP: low == high */
            int bytes;
        } ip;
    } u;
} ep_cond;

typedef struct ep_field {
    const char *name; /* dot-joined, NUL-terminated */
    size_t name_len;
    const ep_cond *conds; /* OR */
    size_t cond_count;
    bool any_value;      /* {"exists": true}: any leaf matches */
    bool accepts_absent; /* {"exists": false} */
    bool has_ip;         /* some cond wants the value read as an IP address */
} ep_field;

/* One alternative of the pattern after "$or" is multiplied out: its fields in the order the
 * matcher takes them: by name, as event-ruler does, when an exists:false makes the order matter
 * (inside arrays of objects), else cheapest first. */
typedef struct ep_branch {
    const ep_field *const *fields;
    /* shared[i]: the longest dot-aligned prefix field i shares with any later field of this
     * branch. An array reached within it constrains later fields (same element); an array
     * beyond it cannot, which lets the search stop trying alternatives early. */
    const size_t *shared;
    size_t count;
} ep_branch;

struct event_pattern {
    ep_arena arena;
    const ep_branch *branches;
    size_t branch_count;
    const char *const *warnings;
    size_t warning_count;
};

/* Limits that keep a hostile pattern from costing more than linear work: "$or" multiplies
 * alternatives, so their number and the fields copied into them are capped. */
#define EP_MAX_BRANCHES 1024
#define EP_MAX_FIELD_COPIES 262144

#endif
