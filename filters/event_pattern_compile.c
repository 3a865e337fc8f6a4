/* Pattern text -> compiled pattern. The structure follows EventBridge's own compiler
 * (aws/event-ruler JsonRuleCompiler) step by step, so a pattern is accepted or refused exactly as
 * EventBridge does it, with EventBridge's messages prefixed by the JSON path:
 *
 *   - an object's members are fields (nested objects extend the dot-joined name), a leaf array
 *     lists the values a field may have; the same name written twice (nested or dotted): the
 *     last one wins;
 *   - "$or" with an array of 2+ objects multiplies the pattern into alternatives (each object's
 *     fields added to a copy of what came before; later fields go into every copy). When any
 *     part of the pattern cannot be read that way, EventBridge reads the whole pattern again with
 *     "$or" as an ordinary field name, and so do we (with a warning).
 *
 * Each alternative becomes an ep_branch: its fields sorted by name, the order the matcher takes
 * them in. */
#include "event_pattern_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable string for the JSON path (errors) and the dot-joined field name. */
typedef struct strbuf {
    char *bytes;
    size_t len, cap;
    bool failed;
} strbuf;

static void strbuf_append(strbuf *b, const char *bytes, size_t len)
{
    if (b->failed)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *grown = realloc(b->bytes, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->bytes = grown;
        b->cap = cap;
    }
    memcpy(b->bytes + b->len, bytes, len);
    b->len += len;
    b->bytes[b->len] = '\0';
}

/* The alternatives being built: each a list of fields by name. */
typedef struct rule_map {
    const ep_field **fields;
    size_t count, cap;
} rule_map;

typedef struct rule_list {
    rule_map *maps;
    size_t count, cap;
} rule_list;

/* What one leaf array compiles to, before it is frozen into an ep_field. */
typedef struct field_builder {
    ep_text *strings;
    size_t string_count, string_cap;
    uint64_t *numbers;
    size_t number_count, number_cap;
    ep_cond *conds;
    size_t cond_count, cond_cap;
    bool any_value, accepts_absent, has_ip;
} field_builder;

typedef struct compiler {
    event_pattern *pattern; /* outputs live in its arena */
    ep_arena scratch;       /* everything else: freed when compiling ends */
    const char *text;
    size_t len;
    bool or_mode; /* read "$or" as OR (first attempt) or as a field name (second) */
    bool saw_or;
    strbuf path; /* JSON path of the value being read, for errors */
    strbuf name; /* dot-joined field name */
    size_t name_depth;
    size_t field_copies; /* every field put into an alternative, copies included */
    char **warnings;
    size_t warning_count, warning_cap;
    bool failed;
    event_pattern_error error;
} compiler;

/* ---- errors and warnings ---- */

static void locate(const char *text, size_t offset, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static void copy_path(char *out, size_t cap, const strbuf *path)
{
    const char *p = path->bytes ? path->bytes : "";
    size_t len = path->len;
    if (len < cap) {
        memcpy(out, p, len + 1);
        return;
    }
    /* Keep the end of a long path: the innermost steps say the most. */
    snprintf(out, cap, "...%s", p + len - (cap - 4));
}

__attribute__((format(printf, 3, 4))) static bool barf(compiler *c, size_t offset,
                                                       const char *format, ...)
{
    if (c->failed)
        return false;
    c->failed = true;
    copy_path(c->error.path, sizeof c->error.path, &c->path);
    va_list ap;
    va_start(ap, format);
    vsnprintf(c->error.message, sizeof c->error.message, format, ap);
    va_end(ap);
    c->error.offset = offset;
    locate(c->text, offset, &c->error.line, &c->error.col);
    return false;
}

__attribute__((format(printf, 2, 3))) static void warn(compiler *c, const char *format, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, format);
    vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    if (c->warning_count == c->warning_cap) {
        size_t cap = c->warning_cap ? c->warning_cap * 2 : 4;
        char **grown = realloc(c->warnings, cap * sizeof *grown);
        if (!grown)
            return;
        c->warnings = grown;
        c->warning_cap = cap;
    }
    char *copy = strdup(line);
    if (copy)
        c->warnings[c->warning_count++] = copy;
}

static bool out_of_memory(compiler *c, size_t offset)
{
    return barf(c, offset, "out of memory");
}

/* ---- path and name ---- */

static size_t path_push_key(compiler *c, const char *key, size_t key_len)
{
    size_t mark = c->path.len;
    if (c->path.len)
        strbuf_append(&c->path, ".", 1);
    strbuf_append(&c->path, key, key_len);
    return mark;
}

static size_t path_push_index(compiler *c, size_t index)
{
    size_t mark = c->path.len;
    char step[32];
    int n = snprintf(step, sizeof step, "[%zu]", index);
    strbuf_append(&c->path, step, (size_t)n);
    return mark;
}

static void path_pop(compiler *c, size_t mark)
{
    c->path.len = mark;
    if (c->path.bytes)
        c->path.bytes[mark] = '\0';
}

static size_t name_push(compiler *c, const char *key, size_t key_len)
{
    size_t mark = c->name.len;
    /* By depth, not length: an empty key is a step too ({"": {"b": ..}} is ".b"). */
    if (c->name_depth++)
        strbuf_append(&c->name, ".", 1);
    strbuf_append(&c->name, key, key_len);
    return mark;
}

static void name_pop(compiler *c, size_t mark)
{
    c->name_depth--;
    c->name.len = mark;
    if (c->name.bytes)
        c->name.bytes[mark] = '\0';
}

static bool key_is(const epj_node *n, const char *word)
{
    size_t len = strlen(word);
    return n->key_len == len && memcmp(n->key, word, len) == 0;
}

static bool text_is(const epj_node *n, const char *word)
{
    size_t len = strlen(word);
    return n->kind == EPJ_STRING && n->len == len && memcmp(n->text, word, len) == 0;
}

/* What EventBridge's parser calls a token's text, for messages that quote it. */
static const char *token_text(const epj_node *n)
{
    if (!n)
        return "]";
    switch (n->kind) {
    case EPJ_STRING:
    case EPJ_NUMBER:
        return n->text;
    case EPJ_TRUE:
        return "true";
    case EPJ_FALSE:
        return "false";
    case EPJ_NULL:
        return "null";
    case EPJ_ARRAY:
        return "[";
    case EPJ_OBJECT:
        return "{";
    }
    return "";
}

/* ---- building one field ---- */

static bool grow(compiler *c, void **items, size_t *cap, size_t count, size_t size)
{
    if (count < *cap)
        return true;
    size_t new_cap = *cap ? *cap * 2 : 4;
    void *bigger = ep_arena_alloc(&c->scratch, new_cap * size);
    if (!bigger)
        return false;
    if (count)
        memcpy(bigger, *items, count * size);
    *items = bigger;
    *cap = new_cap;
    return true;
}

static ep_cond *add_cond(compiler *c, field_builder *b, ep_cond_kind kind, size_t offset)
{
    if (!grow(c, (void **)&b->conds, &b->cond_cap, b->cond_count, sizeof *b->conds)) {
        out_of_memory(c, offset);
        return NULL;
    }
    ep_cond *cond = &b->conds[b->cond_count++];
    memset(cond, 0, sizeof *cond);
    cond->kind = kind;
    return cond;
}

static bool add_string(compiler *c, field_builder *b, const epj_node *n)
{
    if (!grow(c, (void **)&b->strings, &b->string_cap, b->string_count, sizeof *b->strings))
        return out_of_memory(c, n->offset);
    const char *copy = ep_arena_strndup(&c->pattern->arena, n->text, n->len);
    if (!copy)
        return out_of_memory(c, n->offset);
    b->strings[b->string_count++] = (ep_text){copy, n->len};
    return true;
}

static bool add_number(compiler *c, field_builder *b, double value, size_t offset)
{
    if (!grow(c, (void **)&b->numbers, &b->number_cap, b->number_count, sizeof *b->numbers))
        return out_of_memory(c, offset);
    b->numbers[b->number_count++] = ep_number_key(value);
    return true;
}

/* A number EventBridge will compare (numeric, anything-but): the double must hold it exactly. */
static bool comparable_number(compiler *c, const epj_node *n, double *value)
{
    bool comparable;
    if (!ep_number_parse(n->text, value, &comparable) || !comparable)
        return barf(c, n->offset, "Cannot compare number : %s", n->text);
    return true;
}

/* A match expression has one key; a second one is reported at its own path (object_mark: the
 * path's length at the object). */
static bool only_key(compiler *c, const epj_node *object, size_t object_mark)
{
    if (object->count <= 1)
        return true;
    const epj_node *extra = object->first->next;
    path_pop(c, object_mark);
    path_push_key(c, extra->key, extra->key_len);
    return barf(c, extra->key_offset, "Only one key allowed in match expression");
}

static int compare_texts(const void *a, const void *b)
{
    const ep_text *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->bytes, y->bytes, n);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

static int compare_keys(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted and without duplicates, for bsearch while matching. */
static size_t sort_unique_texts(ep_text *items, size_t count)
{
    if (count < 2)
        return count;
    qsort(items, count, sizeof *items, compare_texts);
    size_t out = 1;
    for (size_t i = 1; i < count; i++)
        if (compare_texts(&items[out - 1], &items[i]) != 0)
            items[out++] = items[i];
    return out;
}

static size_t sort_unique_keys(uint64_t *keys, size_t count)
{
    if (count < 2)
        return count;
    qsort(keys, count, sizeof *keys, compare_keys);
    size_t out = 1;
    for (size_t i = 1; i < count; i++)
        if (keys[out - 1] != keys[i])
            keys[out++] = keys[i];
    return out;
}

static ep_text *freeze_texts(compiler *c, const ep_text *items, size_t count)
{
    ep_text *copy = ep_arena_alloc(&c->pattern->arena, sizeof *copy * (count ? count : 1));
    if (copy && count)
        memcpy(copy, items, sizeof *copy * count);
    return copy;
}

static uint64_t *freeze_keys(compiler *c, const uint64_t *keys, size_t count)
{
    uint64_t *copy = ep_arena_alloc(&c->pattern->arena, sizeof *copy * (count ? count : 1));
    if (copy && count)
        memcpy(copy, keys, sizeof *copy * count);
    return copy;
}

/* ---- match expressions: the objects inside a leaf array ---- */

static bool compile_glob(compiler *c, const epj_node *n, bool shellstyle, ep_glob *out)
{
    char message[160];
    if (!ep_glob_compile(&c->pattern->arena, n->text, n->len, shellstyle, out, message,
                         sizeof message))
        return barf(c, n->offset, "%s", message);
    return true;
}

static bool compile_folded(compiler *c, const epj_node *n, ep_folded *out)
{
    if (!ep_fold_compile(&c->pattern->arena, n->text, n->len, out))
        return out_of_memory(c, n->offset);
    return true;
}

/* {"prefix": {"equals-ignore-case": "..."}} and the same for suffix. */
static bool affix_ignoring_case(compiler *c, field_builder *b, const epj_node *object,
                                size_t object_mark, const epj_node *inner, bool prefix)
{
    size_t inner_mark = c->path.len;
    if (inner->count == 0)
        return barf(c, inner->offset, "%s expression name not found", prefix ? "Prefix" : "Suffix");
    const epj_node *op = inner->first;
    size_t mark = path_push_key(c, op->key, op->key_len);
    if (!key_is(op, "equals-ignore-case"))
        return barf(c, op->key_offset, "Unsupported %s pattern: %s", prefix ? "prefix" : "suffix",
                    op->key);
    if (op->kind != EPJ_STRING)
        return barf(c, op->offset, "equals-ignore-case match pattern must be a string");
    if (!only_key(c, inner, inner_mark))
        return false;
    path_pop(c, mark);
    if (!only_key(c, object, object_mark))
        return false;
    ep_folded *folded = ep_arena_alloc(&c->pattern->arena, sizeof *folded);
    if (!folded || !compile_folded(c, op, folded))
        return out_of_memory(c, op->offset);
    ep_cond *cond = add_cond(c, b, prefix ? EPC_PREFIX_NOCASE : EPC_SUFFIX_NOCASE, op->offset);
    if (!cond)
        return false;
    cond->u.folded.items = folded;
    cond->u.folded.count = 1;
    return true;
}

static bool affix(compiler *c, field_builder *b, const epj_node *object, size_t object_mark,
                  const epj_node *value, bool prefix)
{
    if (value->kind == EPJ_OBJECT)
        return affix_ignoring_case(c, b, object, object_mark, value, prefix);
    if (value->kind != EPJ_STRING)
        return barf(c, value->offset, "%s match pattern must be a string",
                    prefix ? "prefix" : "suffix");
    if (!only_key(c, object, object_mark))
        return false;
    ep_cond *cond = add_cond(c, b, prefix ? EPC_PREFIX : EPC_SUFFIX, value->offset);
    if (!cond)
        return false;
    cond->u.text.bytes = ep_arena_strndup(&c->pattern->arena, value->text, value->len);
    cond->u.text.len = value->len;
    return cond->u.text.bytes ? true : out_of_memory(c, value->offset);
}

static void set_range(ep_cond *cond, uint64_t low, bool low_open, uint64_t high, bool high_open)
{
    cond->u.range.low = low;
    cond->u.range.low_open = low_open;
    cond->u.range.high = high;
    cond->u.range.high_open = high_open;
}

/* {"numeric": ["=", 5]}, [">", 0], ["<=", 9], [">", 0, "<=", 5] ... */
static bool numeric_extra_key(compiler *c, const epj_node *object, size_t object_mark)
{
    if (object->count <= 1)
        return true;
    const epj_node *extra = object->first->next;
    path_pop(c, object_mark);
    path_push_key(c, extra->key, extra->key_len);
    return barf(c, extra->key_offset, "Too many elements in numeric expression");
}

static bool numeric(compiler *c, field_builder *b, const epj_node *object, size_t object_mark,
                    const epj_node *array)
{
    if (array->kind != EPJ_ARRAY)
        return barf(c, array->offset, "Value of numeric must be an array.");
    const epj_node *op = array->first;
    if (!op || op->kind != EPJ_STRING)
        return barf(c, op ? op->offset : array->offset, "Invalid member in numeric match: %s",
                    token_text(op));
    const epj_node *value = op->next;
    bool is_eq = text_is(op, "="), is_ge = text_is(op, ">="), is_gt = text_is(op, ">");
    bool is_le = text_is(op, "<="), is_lt = text_is(op, "<");
    if (!is_eq && !is_ge && !is_gt && !is_le && !is_lt)
        return barf(c, op->offset, "Unrecognized numeric range operator: %s", op->text);
    if (!value || value->kind != EPJ_NUMBER)
        return barf(c, value ? value->offset : array->offset, "Value of %s must be numeric",
                    is_eq ? "equals" : op->text);
    double v;
    if (is_eq || is_le || is_lt) {
        if (value->next)
            return barf(c, value->next->offset, "Too many elements in numeric expression");
        if (!comparable_number(c, value, &v))
            return false;
        if (!numeric_extra_key(c, object, object_mark))
            return false;
        if (is_eq)
            return add_number(c, b, v, value->offset);
        ep_cond *cond = add_cond(c, b, EPC_NUMERIC, op->offset);
        if (!cond)
            return false;
        set_range(cond, 0, false, ep_number_key(v), is_lt);
        return true;
    }
    const epj_node *op2 = value->next;
    double top = 0;
    if (op2) {
        if (op2->kind != EPJ_STRING)
            return barf(c, op2->offset, "Bad value in numeric range: %s", token_text(op2));
        bool top_open = text_is(op2, "<");
        if (!top_open && !text_is(op2, "<="))
            return barf(c, op2->offset, "Bad numeric range operator: %s", op2->text);
        const epj_node *value2 = op2->next;
        if (!value2 || value2->kind != EPJ_NUMBER)
            return barf(c, value2 ? value2->offset : array->offset, "Value of %s must be numeric",
                        op2->text);
        if (value2->next)
            return barf(c, value2->next->offset, "Too many terms in numeric range expression");
        if (!comparable_number(c, value, &v) || !comparable_number(c, value2, &top))
            return false;
        if (ep_number_key(v) >= ep_number_key(top))
            return barf(c, value->offset, "Bottom must be less than top");
        if (!numeric_extra_key(c, object, object_mark))
            return false;
        ep_cond *cond = add_cond(c, b, EPC_NUMERIC, op->offset);
        if (!cond)
            return false;
        set_range(cond, ep_number_key(v), is_gt, ep_number_key(top), top_open);
        return true;
    }
    if (!comparable_number(c, value, &v))
        return false;
    if (!numeric_extra_key(c, object, object_mark))
        return false;
    ep_cond *cond = add_cond(c, b, EPC_NUMERIC, op->offset);
    if (!cond)
        return false;
    set_range(cond, ep_number_key(v), is_gt, UINT64_MAX, false);
    return true;
}

typedef enum { BUT_PLAIN, BUT_NOCASE, BUT_PREFIX, BUT_SUFFIX, BUT_WILDCARD } but_kind;

static const char *but_type_message(but_kind kind)
{
    switch (kind) {
    case BUT_NOCASE:
        return "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not "
               "supported.";
    case BUT_WILDCARD:
        return "wildcard match pattern must be a string";
    default:
        return "prefix/suffix match pattern must be a string";
    }
}

/* The values of anything-but with prefix, suffix, equals-ignore-case or wildcard: one string or a
 * list of strings. */
static bool but_strings(compiler *c, field_builder *b, but_kind kind, const epj_node *value)
{
    const epj_node *first = value->kind == EPJ_ARRAY ? value->first : value;
    size_t count = value->kind == EPJ_ARRAY ? value->count : 1;
    size_t index = 0;
    for (const epj_node *n = first; index < count; n = n->next, index++) {
        size_t mark = value->kind == EPJ_ARRAY ? path_push_index(c, index) : c->path.len;
        if (n->kind != EPJ_STRING)
            return barf(c, n->offset, "%s", but_type_message(kind));
        if ((kind == BUT_PREFIX || kind == BUT_SUFFIX) && n->len == 0)
            return barf(c, n->offset, "Null prefix/suffix not allowed");
        path_pop(c, mark);
    }
    ep_cond_kind cond_kind = kind == BUT_NOCASE   ? EPC_NOT_NOCASE
                             : kind == BUT_PREFIX ? EPC_NOT_PREFIX
                             : kind == BUT_SUFFIX ? EPC_NOT_SUFFIX
                                                  : EPC_NOT_WILDCARD;
    ep_cond *cond = add_cond(c, b, cond_kind, value->offset);
    if (!cond)
        return false;
    ep_arena *arena = &c->pattern->arena;
    index = 0;
    if (kind == BUT_PREFIX || kind == BUT_SUFFIX) {
        ep_text *texts = ep_arena_alloc(arena, sizeof *texts * (count ? count : 1));
        if (!texts)
            return out_of_memory(c, value->offset);
        for (const epj_node *n = first; index < count; n = n->next, index++) {
            texts[index].bytes = ep_arena_strndup(arena, n->text, n->len);
            texts[index].len = n->len;
            if (!texts[index].bytes)
                return out_of_memory(c, n->offset);
        }
        cond->u.texts.items = texts;
        cond->u.texts.count = count;
    } else if (kind == BUT_NOCASE) {
        ep_folded *folded = ep_arena_alloc(arena, sizeof *folded * (count ? count : 1));
        if (!folded)
            return out_of_memory(c, value->offset);
        for (const epj_node *n = first; index < count; n = n->next, index++)
            if (!compile_folded(c, n, &folded[index]))
                return false;
        cond->u.folded.items = folded;
        cond->u.folded.count = count;
    } else {
        ep_glob *globs = ep_arena_alloc(arena, sizeof *globs * (count ? count : 1));
        if (!globs)
            return out_of_memory(c, value->offset);
        for (const epj_node *n = first; index < count; n = n->next, index++) {
            size_t mark = value->kind == EPJ_ARRAY ? path_push_index(c, index) : c->path.len;
            if (!compile_glob(c, n, false, &globs[index]))
                return false;
            path_pop(c, mark);
        }
        cond->u.globs.items = globs;
        cond->u.globs.count = count;
    }
    return true;
}

/* Plain anything-but: one string or number, or a list of all strings or all numbers. */
static bool but_values(compiler *c, field_builder *b, const epj_node *value)
{
    const epj_node *first = value->kind == EPJ_ARRAY ? value->first : value;
    size_t count = value->kind == EPJ_ARRAY ? value->count : 1;
    ep_text *texts = ep_arena_alloc(&c->pattern->arena, sizeof *texts * (count ? count : 1));
    uint64_t *keys = ep_arena_alloc(&c->pattern->arena, sizeof *keys * (count ? count : 1));
    if (!texts || !keys)
        return out_of_memory(c, value->offset);
    size_t strings = 0, numbers = 0, index = 0;
    for (const epj_node *n = first; index < count; n = n->next, index++) {
        size_t mark = value->kind == EPJ_ARRAY ? path_push_index(c, index) : c->path.len;
        if (n->kind == EPJ_STRING) {
            texts[strings].bytes = ep_arena_strndup(&c->pattern->arena, n->text, n->len);
            texts[strings].len = n->len;
            if (!texts[strings++].bytes)
                return out_of_memory(c, n->offset);
        } else if (n->kind == EPJ_NUMBER) {
            double v;
            if (!comparable_number(c, n, &v))
                return false;
            keys[numbers++] = ep_number_key(v);
        } else {
            return barf(c, n->offset,
                        "Inside anything but list, start|null|boolean is not "
                        "supported.");
        }
        path_pop(c, mark);
    }
    if ((strings && numbers) || (!strings && !numbers))
        return barf(c, value->offset,
                    "Inside anything but list, either all values are number "
                    "or string, mixed type is not supported");
    ep_cond *cond = add_cond(c, b, strings ? EPC_NOT_STRINGS : EPC_NOT_NUMBERS, value->offset);
    if (!cond)
        return false;
    if (strings) {
        cond->u.texts.items = texts;
        cond->u.texts.count = sort_unique_texts(texts, strings);
    } else {
        cond->u.numbers.keys = keys;
        cond->u.numbers.count = sort_unique_keys(keys, numbers);
    }
    return true;
}

static bool anything_but(compiler *c, field_builder *b, const epj_node *object, size_t object_mark,
                         const epj_node *value)
{
    but_kind kind = BUT_PLAIN;
    const epj_node *inner_object = NULL;
    size_t mark = c->path.len;
    if (value->kind == EPJ_OBJECT) {
        inner_object = value;
        if (value->count == 0)
            return barf(c, value->offset, "Anything-But expression name not found");
        const epj_node *op = value->first;
        path_push_key(c, op->key, op->key_len);
        if (key_is(op, "equals-ignore-case"))
            kind = BUT_NOCASE;
        else if (key_is(op, "prefix"))
            kind = BUT_PREFIX;
        else if (key_is(op, "suffix"))
            kind = BUT_SUFFIX;
        else if (key_is(op, "wildcard"))
            kind = BUT_WILDCARD;
        else
            return barf(c, op->key_offset, "Unsupported anything-but pattern: %s", op->key);
        value = op;
    }
    if (value->kind != EPJ_ARRAY && value->kind != EPJ_STRING && value->kind != EPJ_NUMBER)
        return barf(c, value->offset,
                    "Value of anything-but must be an array or single "
                    "string/number value.");
    if (!(kind == BUT_PLAIN ? but_values(c, b, value) : but_strings(c, b, kind, value)))
        return false;
    path_pop(c, mark);
    if (inner_object && !only_key(c, inner_object, mark))
        return false;
    return only_key(c, object, object_mark);
}

static bool match_expression(compiler *c, field_builder *b, const epj_node *object)
{
    if (object->count == 0)
        return barf(c, object->offset, "Match expression name not found");
    const epj_node *m = object->first;
    size_t mark = path_push_key(c, m->key, m->key_len);
    bool ok;
    if (key_is(m, "prefix") || key_is(m, "suffix")) {
        ok = affix(c, b, object, mark, m, key_is(m, "prefix"));
    } else if (key_is(m, "numeric")) {
        ok = numeric(c, b, object, mark, m);
    } else if (key_is(m, "anything-but")) {
        ok = anything_but(c, b, object, mark, m);
    } else if (key_is(m, "exists")) {
        if (m->kind != EPJ_TRUE && m->kind != EPJ_FALSE)
            return barf(c, m->offset, "exists match pattern must be either true or false.");
        if (m->kind == EPJ_TRUE)
            b->any_value = true;
        else
            b->accepts_absent = true;
        ok = only_key(c, object, mark);
    } else if (key_is(m, "cidr")) {
        /* (sic: EventBridge's message says "prefix" here) */
        if (m->kind != EPJ_STRING)
            return barf(c, m->offset, "prefix match pattern must be a string");
        char message[160];
        ep_cond cidr = {.kind = EPC_CIDR};
        if (!ep_cidr_parse(m->text, m->len, cidr.u.ip.low, cidr.u.ip.high, &cidr.u.ip.bytes,
                           message, sizeof message))
            return barf(c, m->offset, "%s", message);
        if (!only_key(c, object, mark))
            return false;
        ep_cond *cond = add_cond(c, b, EPC_CIDR, m->offset);
        if (!cond)
            return false;
        *cond = cidr;
        b->has_ip = true;
        ok = true;
    } else if (key_is(m, "equals-ignore-case")) {
        if (m->kind != EPJ_STRING)
            return barf(c, m->offset, "equals-ignore-case match pattern must be a string");
        if (!only_key(c, object, mark))
            return false;
        ep_folded *folded = ep_arena_alloc(&c->pattern->arena, sizeof *folded);
        if (!folded)
            return out_of_memory(c, m->offset);
        ep_cond *cond = add_cond(c, b, EPC_EQUALS_NOCASE, m->offset);
        if (!cond || !compile_folded(c, m, folded))
            return false;
        cond->u.folded.items = folded;
        cond->u.folded.count = 1;
        ok = true;
    } else if (key_is(m, "wildcard") || key_is(m, "shellstyle")) {
        bool shellstyle = key_is(m, "shellstyle");
        if (m->kind != EPJ_STRING)
            return barf(c, m->offset, "%s match pattern must be a string",
                        shellstyle ? "shellstyle" : "wildcard");
        ep_glob *glob = ep_arena_alloc(&c->pattern->arena, sizeof *glob);
        if (!glob)
            return out_of_memory(c, m->offset);
        if (!compile_glob(c, m, shellstyle, glob) || !only_key(c, object, mark))
            return false;
        ep_cond *cond = add_cond(c, b, EPC_WILDCARD, m->offset);
        if (!cond)
            return false;
        cond->u.globs.items = glob;
        cond->u.globs.count = 1;
        if (shellstyle)
            warn(c,
                 "%s: \"shellstyle\" is quamina's name for \"wildcard\"; it is read as "
                 "\"wildcard\" here, but EventBridge refuses it: write {\"wildcard\": ...}",
                 c->path.bytes);
        ok = true;
    } else {
        return barf(c, m->key_offset, "Unrecognized match type %s", m->key);
    }
    if (ok)
        path_pop(c, mark);
    return ok;
}

/* ---- fields ---- */

static bool check_complexity(compiler *c, const field_builder *b, const epj_node *array)
{
    size_t count = 0;
    for (size_t i = 0; i < b->cond_count; i++)
        if (b->conds[i].kind == EPC_WILDCARD || b->conds[i].kind == EPC_NOT_WILDCARD)
            count += b->conds[i].u.globs.count;
    if (count == 0)
        return true;
    const ep_glob **globs = ep_arena_alloc(&c->scratch, sizeof *globs * count);
    if (!globs)
        return out_of_memory(c, array->offset);
    size_t n = 0;
    for (size_t i = 0; i < b->cond_count; i++)
        if (b->conds[i].kind == EPC_WILDCARD || b->conds[i].kind == EPC_NOT_WILDCARD)
            for (size_t k = 0; k < b->conds[i].u.globs.count; k++)
                globs[n++] = &b->conds[i].u.globs.items[k];
    if (ep_glob_complexity(globs, n, EP_GLOB_COMPLEXITY_LIMIT) > EP_GLOB_COMPLEXITY_LIMIT)
        return barf(c, array->offset,
                    "Rule is too complex - try using fewer wildcard characters or fewer "
                    "repeating character sequences after a wildcard character");
    return true;
}

static ep_field *freeze_field(compiler *c, field_builder *b, const epj_node *array)
{
    ep_arena *arena = &c->pattern->arena;
    size_t extra = (b->string_count > 0) + (b->number_count > 0);
    ep_field *f = ep_arena_alloc(arena, sizeof *f);
    ep_cond *conds = ep_arena_alloc(arena, sizeof *conds * (b->cond_count + extra + 1));
    char *name = ep_arena_strndup(arena, c->name.bytes ? c->name.bytes : "", c->name.len);
    if (!f || !conds || !name) {
        out_of_memory(c, array->offset);
        return NULL;
    }
    size_t n = 0;
    /* Exact values first: they are the common case and the cheapest test. */
    if (b->string_count) {
        size_t count = sort_unique_texts(b->strings, b->string_count);
        conds[n].kind = EPC_STRINGS;
        conds[n].u.texts.items = freeze_texts(c, b->strings, count);
        conds[n++].u.texts.count = count;
    }
    if (b->number_count) {
        size_t count = sort_unique_keys(b->numbers, b->number_count);
        conds[n].kind = EPC_NUMBERS;
        conds[n].u.numbers.keys = freeze_keys(c, b->numbers, count);
        conds[n++].u.numbers.count = count;
    }
    if (b->cond_count)
        memcpy(conds + n, b->conds, sizeof *conds * b->cond_count);
    n += b->cond_count;
    for (size_t i = 0; i < n; i++)
        if ((conds[i].kind == EPC_STRINGS && !conds[i].u.texts.items) ||
            (conds[i].kind == EPC_NUMBERS && !conds[i].u.numbers.keys)) {
            out_of_memory(c, array->offset);
            return NULL;
        }
    f->name = name;
    f->name_len = c->name.len;
    f->conds = conds;
    f->cond_count = n;
    f->any_value = b->any_value;
    f->accepts_absent = b->accepts_absent;
    f->has_ip = b->has_ip;
    return f;
}

static bool map_put(compiler *c, rule_map *map, const ep_field *f, size_t offset)
{
    for (size_t i = 0; i < map->count; i++) {
        const ep_field *old = map->fields[i];
        if (old->name_len == f->name_len && memcmp(old->name, f->name, f->name_len) == 0) {
            map->fields[i] = f; /* the last one wins */
            return true;
        }
    }
    if (++c->field_copies > EP_MAX_FIELD_COPIES)
        return barf(c, offset,
                    "the $or alternatives multiply out to too many fields (more than %d); "
                    "simplify the pattern",
                    EP_MAX_FIELD_COPIES);
    if (!grow(c, (void **)&map->fields, &map->cap, map->count, sizeof *map->fields))
        return out_of_memory(c, offset);
    map->fields[map->count++] = f;
    return true;
}

static bool list_add_empty(compiler *c, rule_list *list, size_t offset)
{
    if (list->count >= EP_MAX_BRANCHES)
        return barf(c, offset,
                    "the $or alternatives multiply out to more than %d alternatives; simplify "
                    "the pattern",
                    EP_MAX_BRANCHES);
    if (!grow(c, (void **)&list->maps, &list->cap, list->count, sizeof *list->maps))
        return out_of_memory(c, offset);
    memset(&list->maps[list->count++], 0, sizeof *list->maps);
    return true;
}

static bool list_copy(compiler *c, rule_list *to, const rule_list *from, size_t offset)
{
    for (size_t i = 0; i < from->count; i++) {
        if (!list_add_empty(c, to, offset))
            return false;
        for (size_t k = 0; k < from->maps[i].count; k++)
            if (!map_put(c, &to->maps[to->count - 1], from->maps[i].fields[k], offset))
                return false;
    }
    return true;
}

/* A leaf array: the values one field may have. */
static bool leaf(compiler *c, rule_list *rules, const epj_node *array)
{
    field_builder b = {0};
    size_t index = 0;
    for (const epj_node *n = array->first; n; n = n->next, index++) {
        size_t mark = path_push_index(c, index);
        switch (n->kind) {
        case EPJ_OBJECT:
            if (!match_expression(c, &b, n))
                return false;
            break;
        case EPJ_STRING: {
            unsigned char ip[16];
            int bytes = ep_ip_parse(n->text, n->len, ip);
            if (bytes > 0) {
                /* An address matches any spelling of the same address. */
                ep_cond *cond = add_cond(c, &b, EPC_IP, n->offset);
                if (!cond)
                    return false;
                memcpy(cond->u.ip.low, ip, 16);
                memcpy(cond->u.ip.high, ip, 16);
                cond->u.ip.bytes = bytes;
                b.has_ip = true;
            } else if (!add_string(c, &b, n)) {
                return false;
            }
            break;
        }
        case EPJ_NUMBER: {
            /* A number a double cannot hold still matches by value; it just is not refused. */
            double v;
            bool comparable;
            if (!ep_number_parse(n->text, &v, &comparable))
                return barf(c, n->offset, "Cannot compare number : %s", n->text);
            if (!add_number(c, &b, v, n->offset))
                return false;
            break;
        }
        case EPJ_TRUE:
        case EPJ_FALSE:
        case EPJ_NULL: {
            ep_cond_kind kind = n->kind == EPJ_TRUE    ? EPC_TRUE
                                : n->kind == EPJ_FALSE ? EPC_FALSE
                                                       : EPC_NULL;
            if (!add_cond(c, &b, kind, n->offset))
                return false;
            break;
        }
        case EPJ_ARRAY:
            return barf(c, n->offset, "Match value must be String, number, true, false, or null");
        }
        path_pop(c, mark);
    }
    if (array->count == 0)
        return barf(c, array->offset, "Empty arrays are not allowed");
    if (!check_complexity(c, &b, array))
        return false;
    ep_field *f = freeze_field(c, &b, array);
    if (!f)
        return false;
    if (rules->count == 0 && !list_add_empty(c, rules, array->offset))
        return false;
    for (size_t i = 0; i < rules->count; i++)
        if (!map_put(c, &rules->maps[i], f, array->offset))
            return false;
    return true;
}

static const char *const reserved_in_or[] = {"exactly",
                                             "equals-ignore-case",
                                             "prefix",
                                             "suffix",
                                             "anything-but",
                                             "exists",
                                             "wildcard",
                                             "numeric",
                                             "cidr",
                                             "=",
                                             "<",
                                             "<=",
                                             ">",
                                             ">=",
                                             "regex",
                                             "not-wildcard",
                                             "not-equals-ignore-case",
                                             "date-after",
                                             "date-on-or-after",
                                             "date-before",
                                             "date-on-or-before",
                                             "in-date-range",
                                             "ip-address-in-range",
                                             "ip-address-not-in-range"};

static bool is_reserved_in_or(const epj_node *n)
{
    for (size_t i = 0; i < sizeof reserved_in_or / sizeof *reserved_in_or; i++)
        if (key_is(n, reserved_in_or[i]))
            return true;
    return false;
}

static bool object(compiler *c, rule_list *rules, const epj_node *obj, bool inside_or);

static bool or_relationship(compiler *c, rule_list *rules, const epj_node *member)
{
    if (member->kind != EPJ_ARRAY)
        return barf(c, member->offset, "It must be an Array followed with $or.");
    rule_list current = {0};
    if (!list_copy(c, &current, rules, member->offset))
        return false;
    rules->count = 0;
    size_t index = 0;
    for (const epj_node *n = member->first; n; n = n->next, index++) {
        size_t mark = path_push_index(c, index);
        if (n->kind != EPJ_OBJECT)
            return barf(c, n->offset, "Only JSON object is allowed in array of $or relationship.");
        rule_list alternative = {0};
        if (!list_copy(c, &alternative, &current, n->offset))
            return false;
        if (alternative.count == 0 && !list_add_empty(c, &alternative, n->offset))
            return false;
        if (!object(c, &alternative, n, true))
            return false;
        for (size_t i = 0; i < alternative.count; i++) {
            if (rules->count >= EP_MAX_BRANCHES)
                return barf(c, n->offset,
                            "the $or alternatives multiply out to more than %d alternatives; "
                            "simplify the pattern",
                            EP_MAX_BRANCHES);
            if (!grow(c, (void **)&rules->maps, &rules->cap, rules->count, sizeof *rules->maps))
                return out_of_memory(c, n->offset);
            rules->maps[rules->count++] = alternative.maps[i];
        }
        path_pop(c, mark);
    }
    if (index < 2)
        return barf(c, member->offset, "There must have at least 2 Objects in $or relationship.");
    return true;
}

static bool object(compiler *c, rule_list *rules, const epj_node *obj, bool inside_or)
{
    for (const epj_node *m = obj->first; m; m = m->next) {
        size_t path_mark = path_push_key(c, m->key, m->key_len);
        if (key_is(m, "$or")) {
            c->saw_or = true;
            if (c->or_mode) {
                /* "$or" is not part of the field names below it. */
                if (!or_relationship(c, rules, m))
                    return false;
                path_pop(c, path_mark);
                continue;
            }
            warn(c,
                 "%s: EventBridge reads this \"$or\" as a field name, not as OR: OR needs an "
                 "array of at least 2 objects with no operator names (prefix, numeric, ...) as "
                 "keys",
                 c->path.bytes);
        }
        if (inside_or && is_reserved_in_or(m))
            return barf(c, m->key_offset,
                        "%s is Ruler reserved fieldName which cannot be used inside $or.", m->key);
        size_t name_mark = name_push(c, m->key, m->key_len);
        if (m->kind == EPJ_OBJECT) {
            if (!object(c, rules, m, inside_or))
                return false;
        } else if (m->kind == EPJ_ARRAY) {
            if (!leaf(c, rules, m))
                return false;
        } else {
            return barf(c, m->offset, "\"%s\" must be an object or an array", m->key);
        }
        name_pop(c, name_mark);
        path_pop(c, path_mark);
    }
    if (obj->count == 0)
        return barf(c, obj->offset, "Empty objects are not allowed");
    return true;
}

/* ---- output ---- */

static int compare_fields(const void *a, const void *b)
{
    const ep_field *x = *(const ep_field *const *)a, *y = *(const ep_field *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int r = memcmp(x->name, y->name, n);
    return r ? r : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Longest prefix of a and b that ends at a dot or at the end of both names. */
static size_t aligned_common_prefix(const ep_field *a, const ep_field *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    size_t best = 0;
    for (size_t i = 0; i <= n; i++) {
        char x = i < a->name_len ? a->name[i] : '\0';
        char y = i < b->name_len ? b->name[i] : '\0';
        if ((x == '.' || x == '\0') && (y == '.' || y == '\0'))
            best = i;
        if (x != y || x == '\0')
            break;
    }
    return best;
}

static size_t common_prefix(const ep_field *a, const ep_field *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    size_t i = 0;
    while (i < n && a->name[i] == b->name[i])
        i++;
    return i;
}

/* Looking further than this many later fields costs more than it saves: beyond it, assume the
 * whole name is shared (always correct, only less pruning). */
#define EP_SHARED_SCAN 64

/* How early a field is tried when order does not matter: exact values first (they reject most
 * events, at the price of a lookup), then the other operators, wildcards and bare existence last;
 * shallower names before deeper ones. */
static int field_cost(const ep_field *f)
{
    int cost = 0;
    for (size_t i = 0; i < f->cond_count; i++) {
        ep_cond_kind kind = f->conds[i].kind;
        int c = kind <= EPC_NULL ? 0 : (kind == EPC_WILDCARD || kind == EPC_NOT_WILDCARD) ? 2 : 1;
        if (c > cost)
            cost = c;
    }
    if (f->any_value)
        cost = 3;
    size_t depth = 0;
    for (size_t i = 0; i < f->name_len; i++)
        depth += f->name[i] == '.';
    return cost * 1000 + (int)(depth < 999 ? depth : 999);
}

static int compare_cost(const void *a, const void *b)
{
    const ep_field *x = *(const ep_field *const *)a, *y = *(const ep_field *const *)b;
    int cx = field_cost(x), cy = field_cost(y);
    return cx != cy ? (cx > cy) - (cx < cy) : compare_fields(a, b);
}

static bool emit(compiler *c, const rule_list *rules)
{
    ep_arena *arena = &c->pattern->arena;
    ep_branch *branches = ep_arena_alloc(arena, sizeof *branches * rules->count);
    if (!branches)
        return out_of_memory(c, 0);
    for (size_t i = 0; i < rules->count; i++) {
        const rule_map *map = &rules->maps[i];
        const ep_field **fields = ep_arena_alloc(arena, sizeof *fields * (map->count + 1));
        size_t *shared = ep_arena_alloc(arena, sizeof *shared * (map->count + 1));
        if (!fields || !shared)
            return out_of_memory(c, 0);
        if (map->count)
            memcpy(fields, map->fields, sizeof *fields * map->count);
        /* event-ruler takes fields in name order, and with exists:false that order decides the
         * verdict inside arrays of objects (an absence is checked against the elements the
         * earlier fields chose). Without exists:false any order gives the same verdict, so the
         * cheapest and most selective fields go first. */
        bool absent = false;
        for (size_t k = 0; k < map->count; k++)
            absent = absent || fields[k]->accepts_absent;
        qsort(fields, map->count, sizeof *fields, absent ? compare_fields : compare_cost);
        for (size_t k = 0; k < map->count; k++) {
            size_t best = 0;
            for (size_t j = k + 1; j < map->count; j++) {
                /* Sorted names: the plain common prefix only shrinks further down. */
                if (absent && common_prefix(fields[k], fields[j]) <= best)
                    break;
                if (j - k > EP_SHARED_SCAN) {
                    best = fields[k]->name_len;
                    break;
                }
                size_t aligned = aligned_common_prefix(fields[k], fields[j]);
                if (aligned > best)
                    best = aligned;
            }
            shared[k] = best;
        }
        branches[i].fields = fields;
        branches[i].shared = shared;
        branches[i].count = map->count;
    }
    c->pattern->branches = branches;
    c->pattern->branch_count = rules->count;
    return true;
}

static bool keep_warnings(compiler *c)
{
    if (c->warning_count == 0)
        return true;
    const char **copies = ep_arena_alloc(&c->pattern->arena, sizeof *copies * c->warning_count);
    if (!copies)
        return out_of_memory(c, 0);
    for (size_t i = 0; i < c->warning_count; i++) {
        copies[i] = ep_arena_strndup(&c->pattern->arena, c->warnings[i], strlen(c->warnings[i]));
        if (!copies[i])
            return out_of_memory(c, 0);
    }
    c->pattern->warnings = copies;
    c->pattern->warning_count = c->warning_count;
    return true;
}

static void compiler_reset(compiler *c)
{
    ep_arena_free(&c->scratch);
    free(c->path.bytes);
    free(c->name.bytes);
    for (size_t i = 0; i < c->warning_count; i++)
        free(c->warnings[i]);
    free(c->warnings);
}

/* One reading of the pattern; "$or" as OR (or_mode) or as a field name. */
static event_pattern *attempt(const char *text, size_t len, bool or_mode, bool *saw_or,
                              event_pattern_error *error)
{
    compiler c = {.text = text, .len = len, .or_mode = or_mode};
    c.pattern = calloc(1, sizeof *c.pattern);
    if (!c.pattern) {
        snprintf(error->message, sizeof error->message, "out of memory");
        return NULL;
    }
    char message[160];
    size_t error_offset = 0;
    epj_node *root = epj_parse(&c.scratch, text, len, message, sizeof message, &error_offset);
    rule_list rules = {0};
    if (!root)
        barf(&c, error_offset, "%s", message);
    else if (root->kind != EPJ_OBJECT)
        barf(&c, root->offset, "Filter is not an object");
    else if (object(&c, &rules, root, false))
        (void)(emit(&c, &rules) && keep_warnings(&c));
    if (c.path.failed || c.name.failed)
        barf(&c, 0, "out of memory");
    *saw_or = c.saw_or;
    event_pattern *result = c.pattern;
    if (c.failed) {
        *error = c.error;
        event_pattern_free(result);
        result = NULL;
    }
    compiler_reset(&c);
    return result;
}

event_pattern *event_pattern_compile(const char *text, size_t len,
                                     const event_pattern_options *options,
                                     event_pattern_error *error)
{
    event_pattern_error local;
    if (!error)
        error = &local;
    memset(error, 0, sizeof *error);
    error->line = error->col = 1;
    if (options && options->max_chars) {
        size_t chars = ep_utf8_count(text, len);
        if (chars > options->max_chars) {
            snprintf(error->message, sizeof error->message,
                     "Event pattern is %zu characters long; at most %zu are allowed", chars,
                     options->max_chars);
            return NULL;
        }
    }
    bool saw_or = false;
    event_pattern *pattern = attempt(text, len, true, &saw_or, error);
    if (pattern || !saw_or)
        return pattern;
    /* EventBridge's fallback: the whole pattern again with "$or" as a plain field name. The
     * first reading's error is the one to show when both fail: the writer meant OR. */
    event_pattern_error as_field;
    pattern = attempt(text, len, false, &saw_or, &as_field);
    return pattern;
}

void event_pattern_free(event_pattern *pattern)
{
    if (!pattern)
        return;
    ep_arena_free(&pattern->arena);
    free(pattern);
}

const char *event_pattern_error_format(const event_pattern_error *error, char *buf, size_t cap)
{
    if (error->path[0])
        snprintf(buf, cap, "%s: %s", error->path, error->message);
    else
        snprintf(buf, cap, "%s", error->message);
    return buf;
}

size_t event_pattern_warning_count(const event_pattern *pattern)
{
    return pattern->warning_count;
}

size_t event_pattern_memory(const event_pattern *pattern)
{
    return sizeof *pattern + ep_arena_size(&pattern->arena);
}

const char *event_pattern_warning(const event_pattern *pattern, size_t index)
{
    return index < pattern->warning_count ? pattern->warnings[index] : NULL;
}
