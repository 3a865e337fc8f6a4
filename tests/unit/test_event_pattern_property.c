/* Random patterns and events, fixed seeds: the engine's verdict must equal a reference matcher's.
 *
 * The reference is written to be obviously right, not fast, and shares no code with the engine:
 * it reads the pattern straight from cJSON, multiplies "$or" out into alternatives (fields in
 * document order, the last of a name winning), flattens the event into every leaf with its
 * dot-joined name and the array elements on its way, and then tries every combination: fields in
 * name order, each taking any leaf of its name whose array elements agree with the leaves taken
 * so far (exists:false: no such leaf). Operators are evaluated directly on the pattern's JSON.
 * Generated values are ASCII and IPv4 only; Unicode case folding and IPv6 have their own cases in
 * test_event_pattern.c. */
#include "check.h"
#include "filters/event_pattern.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the reference matcher ---- */

#define REF_MAX_FIELDS 32
#define REF_MAX_BRANCHES 256
#define REF_MAX_LEAVES 256
#define REF_MAX_DEPTH 16

typedef struct ref_field {
    char name[96];
    const cJSON *values; /* the leaf array */
} ref_field;

typedef struct ref_branch {
    ref_field fields[REF_MAX_FIELDS];
    int count;
} ref_branch;

typedef struct ref_rules {
    ref_branch *branches;
    int count;
} ref_rules;

typedef struct ref_leaf {
    char name[96];
    const cJSON *value;
    const cJSON *arrays[REF_MAX_DEPTH];
    const cJSON *elements[REF_MAX_DEPTH];
    int depth;
} ref_leaf;

typedef struct ref_event {
    ref_leaf leaves[REF_MAX_LEAVES];
    int count;
} ref_event;

/* Set when a generated pattern is bigger than the reference's fixed tables (it is skipped). */
static bool ref_overflow;

static void join(char *out, size_t cap, const char *prefix, bool root, const char *key)
{
    int n = root ? snprintf(out, cap, "%s", key) : snprintf(out, cap, "%s.%s", prefix, key);
    if (n < 0 || (size_t)n >= cap)
        ref_overflow = true;
}

static void put(ref_branch *b, const char *name, const cJSON *values)
{
    for (int i = 0; i < b->count; i++)
        if (strcmp(b->fields[i].name, name) == 0) {
            b->fields[i].values = values;
            return;
        }
    if (b->count == REF_MAX_FIELDS) {
        ref_overflow = true;
        return;
    }
    snprintf(b->fields[b->count].name, sizeof b->fields[b->count].name, "%s", name);
    b->fields[b->count++].values = values;
}

/* Scratch tables for expand(), one set per nesting level of "$or" (allocating them per call
 * costs more than the whole comparison). */
#define REF_MAX_OR_NESTING 8
static ref_branch ref_pool[2 * REF_MAX_OR_NESTING][REF_MAX_BRANCHES];

static void expand(ref_rules *rules, const cJSON *object, const char *prefix, bool root, int level)
{
    for (const cJSON *m = object->child; m; m = m->next) {
        if (strcmp(m->string, "$or") == 0) {
            if (level + 1 >= REF_MAX_OR_NESTING) {
                ref_overflow = true;
                return;
            }
            ref_branch *current = ref_pool[2 * level];
            int current_count = rules->count;
            memcpy(current, rules->branches, sizeof *current * (size_t)current_count);
            rules->count = 0;
            for (const cJSON *alt = m->child; alt; alt = alt->next) {
                ref_rules alternative = {ref_pool[2 * level + 1], current_count};
                memcpy(alternative.branches, current, sizeof *current * (size_t)current_count);
                if (alternative.count == 0)
                    alternative.branches[alternative.count++].count = 0;
                expand(&alternative, alt, prefix, root, level + 1);
                for (int i = 0; i < alternative.count; i++) {
                    if (rules->count == REF_MAX_BRANCHES) {
                        ref_overflow = true;
                        break;
                    }
                    rules->branches[rules->count++] = alternative.branches[i];
                }
            }
            continue;
        }
        char name[96];
        join(name, sizeof name, prefix, root, m->string);
        if (cJSON_IsObject(m)) {
            expand(rules, m, name, false, level);
        } else {
            if (rules->count == 0)
                rules->branches[rules->count++].count = 0;
            for (int i = 0; i < rules->count; i++)
                put(&rules->branches[i], name, m);
        }
    }
}

static void flatten(ref_event *e, const cJSON *node, const char *name, bool root, ref_leaf *path)
{
    if (cJSON_IsArray(node)) {
        if (path->depth == REF_MAX_DEPTH) {
            ref_overflow = true;
            return;
        }
        for (const cJSON *el = node->child; el; el = el->next) {
            path->arrays[path->depth] = node;
            path->elements[path->depth++] = el;
            flatten(e, el, name, root, path);
            path->depth--;
        }
    } else if (cJSON_IsObject(node)) {
        for (const cJSON *c = node->child; c; c = c->next) {
            char child[96];
            join(child, sizeof child, name, root, c->string);
            flatten(e, c, child, false, path);
        }
    } else if (!root) {
        if (e->count == REF_MAX_LEAVES) {
            ref_overflow = true;
            return;
        }
        ref_leaf *leaf = &e->leaves[e->count++];
        *leaf = *path;
        snprintf(leaf->name, sizeof leaf->name, "%s", name);
        leaf->value = node;
    }
}

static bool ascii_prefix_nocase(const char *s, const char *p)
{
    return strncasecmp(s, p, strlen(p)) == 0;
}

static bool ascii_suffix(const char *s, const char *p, bool nocase)
{
    size_t n = strlen(s), m = strlen(p);
    if (m > n)
        return false;
    return nocase ? strcasecmp(s + n - m, p) == 0 : strcmp(s + n - m, p) == 0;
}

/* Wildcard by backtracking over the pattern text: "*" any run, "\x" the character x. */
static bool glob(const char *p, const char *s)
{
    if (*p == '\0')
        return *s == '\0';
    if (*p == '*') {
        for (const char *t = s;; t++) {
            if (glob(p + 1, t))
                return true;
            if (*t == '\0')
                return false;
        }
    }
    if (*p == '\\')
        p++;
    return *s == *p && glob(p + 1, s + 1);
}

static bool ipv4(const char *s, unsigned *out)
{
    unsigned a, b, c, d;
    char tail;
    if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 || c > 255 ||
        d > 255)
        return false;
    char canonical[20];
    snprintf(canonical, sizeof canonical, "%u.%u.%u.%u", a, b, c, d);
    if (strcmp(canonical, s) != 0)
        return false;
    *out = a << 24 | b << 16 | c << 8 | d;
    return true;
}

static bool in_cidr(const char *cidr, const char *value)
{
    char base[20];
    unsigned bits;
    if (sscanf(cidr, "%19[^/]/%u", base, &bits) != 2)
        return false;
    unsigned net, ip;
    if (!ipv4(base, &net) || !ipv4(value, &ip))
        return false;
    unsigned mask = bits == 0 ? 0 : 0xFFFFFFFFu << (32 - bits);
    return (net & mask) == (ip & mask);
}

static bool numeric_holds(const cJSON *ops, double v)
{
    for (const cJSON *op = ops->child; op; op = op->next->next) {
        const char *o = op->valuestring;
        double bound = op->next->valuedouble;
        bool ok = strcmp(o, "=") == 0    ? v == bound
                  : strcmp(o, "<") == 0  ? v < bound
                  : strcmp(o, "<=") == 0 ? v <= bound
                  : strcmp(o, ">") == 0  ? v > bound
                                         : v >= bound;
        if (!ok)
            return false;
    }
    return true;
}

/* anything-but with prefix/suffix/equals-ignore-case/wildcard: over strings only */
static bool but_strings(const char *op, const cJSON *values, const char *s)
{
    const cJSON *one = values;
    bool list = cJSON_IsArray(values);
    for (const cJSON *v = list ? values->child : one; v; v = list ? v->next : NULL) {
        const char *p = v->valuestring;
        bool hit = strcmp(op, "prefix") == 0               ? strncmp(s, p, strlen(p)) == 0
                   : strcmp(op, "suffix") == 0             ? ascii_suffix(s, p, false)
                   : strcmp(op, "equals-ignore-case") == 0 ? strcasecmp(s, p) == 0
                                                           : glob(p, s);
        if (hit)
            return false;
    }
    return true;
}

static bool anything_but(const cJSON *arg, const cJSON *v)
{
    if (cJSON_IsObject(arg)) {
        if (!cJSON_IsString(v))
            return true; /* other types are "anything but" these strings */
        return but_strings(arg->child->string, arg->child, v->valuestring);
    }
    bool list = cJSON_IsArray(arg);
    for (const cJSON *x = list ? arg->child : arg; x; x = list ? x->next : NULL) {
        if (cJSON_IsString(x) && cJSON_IsString(v) && strcmp(x->valuestring, v->valuestring) == 0)
            return false;
        if (cJSON_IsNumber(x) && cJSON_IsNumber(v) && x->valuedouble == v->valuedouble)
            return false;
    }
    return true;
}

static bool condition_holds(const cJSON *c, const cJSON *v)
{
    if (cJSON_IsString(c))
        return cJSON_IsString(v) && strcmp(c->valuestring, v->valuestring) == 0;
    if (cJSON_IsNumber(c))
        return cJSON_IsNumber(v) && c->valuedouble == v->valuedouble;
    if (cJSON_IsNull(c) || cJSON_IsBool(c))
        return (c->type & 0xFF) == (v->type & 0xFF);
    const char *op = c->child->string;
    const cJSON *arg = c->child;
    if (strcmp(op, "exists") == 0)
        return cJSON_IsTrue(arg);
    if (strcmp(op, "anything-but") == 0)
        return anything_but(arg, v);
    if (strcmp(op, "numeric") == 0)
        return cJSON_IsNumber(v) && numeric_holds(arg, v->valuedouble);
    if (!cJSON_IsString(v))
        return false;
    const char *s = v->valuestring;
    if (strcmp(op, "prefix") == 0)
        return cJSON_IsObject(arg) ? ascii_prefix_nocase(s, arg->child->valuestring)
                                   : strncmp(s, arg->valuestring, strlen(arg->valuestring)) == 0;
    if (strcmp(op, "suffix") == 0)
        return cJSON_IsObject(arg) ? ascii_suffix(s, arg->child->valuestring, true)
                                   : ascii_suffix(s, arg->valuestring, false);
    if (strcmp(op, "equals-ignore-case") == 0)
        return strcasecmp(s, arg->valuestring) == 0;
    if (strcmp(op, "wildcard") == 0)
        return glob(arg->valuestring, s);
    if (strcmp(op, "cidr") == 0)
        return in_cidr(arg->valuestring, s);
    return false;
}

static bool wants_absent(const cJSON *values)
{
    for (const cJSON *c = values->child; c; c = c->next)
        if (cJSON_IsObject(c) && strcmp(c->child->string, "exists") == 0 && cJSON_IsFalse(c->child))
            return true;
    return false;
}

typedef struct membership {
    const cJSON *arrays[REF_MAX_FIELDS * REF_MAX_DEPTH];
    const cJSON *elements[REF_MAX_FIELDS * REF_MAX_DEPTH];
    int count;
} membership;

static bool consistent(const membership *m, const ref_leaf *leaf)
{
    for (int i = 0; i < leaf->depth; i++)
        for (int k = 0; k < m->count; k++)
            if (m->arrays[k] == leaf->arrays[i] && m->elements[k] != leaf->elements[i])
                return false;
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const ref_field *)a)->name, ((const ref_field *)b)->name);
}

static bool ref_search(const ref_branch *b, int i, const ref_event *e, membership *m)
{
    if (i == b->count)
        return true;
    const ref_field *f = &b->fields[i];
    bool any_consistent = false;
    for (int l = 0; l < e->count; l++) {
        const ref_leaf *leaf = &e->leaves[l];
        if (strcmp(leaf->name, f->name) != 0 || !consistent(m, leaf))
            continue;
        any_consistent = true;
        bool holds = false;
        for (const cJSON *c = f->values->child; c && !holds; c = c->next)
            holds = !(cJSON_IsObject(c) && strcmp(c->child->string, "exists") == 0 &&
                      cJSON_IsFalse(c->child)) &&
                    condition_holds(c, leaf->value);
        if (!holds)
            continue;
        int saved = m->count;
        for (int d = 0; d < leaf->depth; d++) {
            m->arrays[m->count] = leaf->arrays[d];
            m->elements[m->count++] = leaf->elements[d];
        }
        bool found = ref_search(b, i + 1, e, m);
        m->count = saved;
        if (found)
            return true;
    }
    return wants_absent(f->values) && !any_consistent && ref_search(b, i + 1, e, m);
}

static bool reference_match(const cJSON *pattern, const cJSON *event)
{
    static ref_branch top[REF_MAX_BRANCHES];
    ref_rules rules = {top, 0};
    expand(&rules, pattern, "", true, 0);
    static ref_event event_leaves;
    ref_event *e = &event_leaves;
    e->count = 0;
    ref_leaf path = {.depth = 0};
    flatten(e, event, "", true, &path);
    static membership memberships;
    membership *m = &memberships;
    bool matched = false;
    for (int i = 0; i < rules.count && !matched; i++) {
        qsort(rules.branches[i].fields, (size_t)rules.branches[i].count, sizeof(ref_field),
              by_name);
        m->count = 0;
        matched = ref_search(&rules.branches[i], 0, e, m);
    }
    return matched;
}

/* ---- random patterns and events ---- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

#define PICK(array) array[rnd(sizeof array / sizeof *array)]

static const char *const keys[] = {"a", "b", "c", "a.b", "b.c"};
static const char *const strings[] = {"",    "x",        "xy",       "xyz",         "Xy", "yz",
                                      "a*b", "10.0.0.1", "10.0.1.7", "192.168.3.4", "XYZ"};
static const double numbers[] = {0, 1, 2.5, -3, 100, 1000};
static const char *const affixes[] = {"x", "X", "y", "z", "xy", "1", ""};
static const char *const wildcards[] = {"*", "x*", "*z", "x*z", "*y*", "a\\*b", "", "X*Z"};
static const char *const cidrs[] = {"10.0.0.0/8", "10.0.0.0/24", "192.168.0.0/16"};

static cJSON *random_scalar(void)
{
    switch (rnd(8)) {
    case 0:
    case 1:
    case 2:
        return cJSON_CreateString(PICK(strings));
    case 3:
    case 4:
        return cJSON_CreateNumber(PICK(numbers));
    case 5:
        return cJSON_CreateTrue();
    case 6:
        return cJSON_CreateFalse();
    default:
        return cJSON_CreateNull();
    }
}

static cJSON *random_event_node(int depth)
{
    uint32_t kind = depth >= 3 ? 0 : rnd(4);
    if (kind <= 1)
        return random_scalar();
    if (kind == 2) {
        cJSON *array = cJSON_CreateArray();
        uint32_t n = rnd(4);
        for (uint32_t i = 0; i < n; i++)
            cJSON_AddItemToArray(array, rnd(2) ? random_scalar() : random_event_node(depth + 1));
        return array;
    }
    cJSON *object = cJSON_CreateObject();
    uint32_t n = 1 + rnd(3);
    for (uint32_t i = 0; i < n; i++)
        cJSON_AddItemToObject(object, PICK(keys), random_event_node(depth + 1));
    return object;
}

static cJSON *string_or_list(const char *const *pool, size_t pool_size)
{
    if (rnd(2))
        return cJSON_CreateString(pool[rnd((uint32_t)pool_size)]);
    cJSON *list = cJSON_CreateArray();
    uint32_t n = 1 + rnd(2);
    for (uint32_t i = 0; i < n; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(pool[rnd((uint32_t)pool_size)]));
    return list;
}

static cJSON *operator_object(const char *op, cJSON *arg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, op, arg);
    return o;
}

static cJSON *random_condition(void)
{
    static const char *const numeric_low[] = {">", ">="};
    static const char *const numeric_high[] = {"<", "<="};
    switch (rnd(16)) {
    case 0:
    case 1:
        return cJSON_CreateString(PICK(strings));
    case 2:
        return cJSON_CreateNumber(PICK(numbers));
    case 3:
        return rnd(3) == 0 ? cJSON_CreateNull() : rnd(2) ? cJSON_CreateTrue() : cJSON_CreateFalse();
    case 4:
        return operator_object("prefix", cJSON_CreateString(PICK(affixes)));
    case 5:
        return operator_object("suffix", cJSON_CreateString(PICK(affixes)));
    case 6: {
        const char *op = rnd(3) == 0 ? "equals-ignore-case" : rnd(2) ? "prefix" : "suffix";
        cJSON *arg = strcmp(op, "equals-ignore-case") == 0
                         ? cJSON_CreateString(PICK(strings))
                         : operator_object("equals-ignore-case", cJSON_CreateString(PICK(affixes)));
        return operator_object(op, arg);
    }
    case 7:
        return operator_object("wildcard", cJSON_CreateString(PICK(wildcards)));
    case 8: {
        cJSON *arg;
        if (rnd(2)) {
            arg = rnd(2) ? cJSON_CreateString(PICK(strings)) : cJSON_CreateNumber(PICK(numbers));
        } else {
            arg = cJSON_CreateArray();
            bool strings_list = rnd(2);
            uint32_t n = 1 + rnd(3);
            for (uint32_t i = 0; i < n; i++)
                cJSON_AddItemToArray(arg, strings_list ? cJSON_CreateString(PICK(strings))
                                                       : cJSON_CreateNumber(PICK(numbers)));
        }
        return operator_object("anything-but", arg);
    }
    case 9: {
        static const char *const ops[] = {"prefix", "suffix", "equals-ignore-case", "wildcard"};
        const char *op = PICK(ops);
        static const char *const nonempty[] = {"x", "X", "y", "z", "xy"};
        cJSON *inner = strcmp(op, "wildcard") == 0 ? string_or_list(wildcards, 8)
                       : strcmp(op, "equals-ignore-case") == 0
                           ? string_or_list(strings, sizeof strings / sizeof *strings)
                           : string_or_list(nonempty, 5);
        return operator_object("anything-but", operator_object(op, inner));
    }
    case 10:
    case 11: {
        cJSON *ops = cJSON_CreateArray();
        uint32_t shape = rnd(4);
        double low = PICK(numbers);
        if (shape == 0) {
            cJSON_AddItemToArray(ops, cJSON_CreateString("="));
            cJSON_AddItemToArray(ops, cJSON_CreateNumber(low));
        } else if (shape == 1) {
            cJSON_AddItemToArray(ops, cJSON_CreateString(PICK(numeric_high)));
            cJSON_AddItemToArray(ops, cJSON_CreateNumber(low));
        } else {
            cJSON_AddItemToArray(ops, cJSON_CreateString(PICK(numeric_low)));
            cJSON_AddItemToArray(ops, cJSON_CreateNumber(low));
            if (shape == 3) {
                cJSON_AddItemToArray(ops, cJSON_CreateString(PICK(numeric_high)));
                cJSON_AddItemToArray(ops, cJSON_CreateNumber(low + 1 + rnd(200)));
            }
        }
        return operator_object("numeric", ops);
    }
    case 12:
    case 13:
        return operator_object("exists", cJSON_CreateBool(rnd(2)));
    default:
        return operator_object("cidr", cJSON_CreateString(PICK(cidrs)));
    }
}

static cJSON *random_pattern_object(int depth, bool allow_or)
{
    cJSON *object = cJSON_CreateObject();
    uint32_t n = 1 + rnd(2);
    bool has_or = false;
    for (uint32_t i = 0; i < n; i++) {
        if (allow_or && !has_or && depth < 2 && rnd(5) == 0) {
            has_or = true;
            cJSON *alternatives = cJSON_CreateArray();
            uint32_t count = 2 + rnd(2);
            for (uint32_t k = 0; k < count; k++)
                cJSON_AddItemToArray(alternatives, random_pattern_object(depth + 1, true));
            cJSON_AddItemToObject(object, "$or", alternatives);
            continue;
        }
        if (depth < 2 && rnd(3) == 0) {
            cJSON_AddItemToObject(object, PICK(keys), random_pattern_object(depth + 1, allow_or));
            continue;
        }
        cJSON *values = cJSON_CreateArray();
        uint32_t count = 1 + rnd(3);
        for (uint32_t k = 0; k < count; k++)
            cJSON_AddItemToArray(values, random_condition());
        cJSON_AddItemToObject(object, PICK(keys), values);
    }
    return object;
}

static void run_seed(uint64_t seed, int patterns, int events_per_pattern, int *total, int *matches)
{
    rng_state = seed;
    for (int p = 0; p < patterns; p++) {
        cJSON *pattern = random_pattern_object(0, true);
        char *text = cJSON_PrintUnformatted(pattern);
        event_pattern_error error;
        event_pattern *compiled = event_pattern_compile(text, strlen(text), NULL, &error);
        check_count++;
        if (!compiled) {
            check_failures++;
            char buf[700];
            fprintf(stderr, "seed %llu: generated pattern refused: %s\n  %s\n",
                    (unsigned long long)seed, event_pattern_error_format(&error, buf, sizeof buf),
                    text);
        }
        for (int e = 0; compiled && e < events_per_pattern; e++) {
            cJSON *event = random_event_node(0);
            if (!cJSON_IsObject(event)) {
                cJSON *wrapper = cJSON_CreateObject();
                cJSON_AddItemToObject(wrapper, PICK(keys), event);
                event = wrapper;
            }
            ref_overflow = false;
            bool expected = reference_match(pattern, event);
            if (ref_overflow) {
                cJSON_Delete(event);
                break;
            }
            bool got = event_pattern_match(compiled, event);
            (*total)++;
            *matches += got;
            check_count++;
            if (got != expected) {
                check_failures++;
                char *event_text = cJSON_PrintUnformatted(event);
                fprintf(stderr, "seed %llu: engine %s, reference %s\n  pattern %s\n  event   %s\n",
                        (unsigned long long)seed, got ? "matches" : "does not match",
                        expected ? "matches" : "does not match", text, event_text);
                free(event_text);
            }
            cJSON_Delete(event);
        }
        event_pattern_free(compiled);
        free(text);
        cJSON_Delete(pattern);
    }
}

static void test_against_reference(void)
{
    const uint64_t seeds[] = {0x9E3779B97F4A7C15u, 0xD1B54A32D192ED03u, 42, 20261125};
    int total = 0, matches = 0;
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
        run_seed(seeds[i], 1500, 6, &total, &matches);
    fprintf(stderr, "%d random cases, %d matches\n", total, matches);
    /* Both verdicts must be common, or the comparison says little. */
    CHECK(total >= 30000);
    CHECK(matches > total / 20);
    CHECK(matches < total - total / 20);
}

/* Arrays of objects are where matchers go wrong: events built of them, patterns that reach into
 * them with several fields. */
static void test_arrays_of_objects_against_reference(void)
{
    rng_state = 7;
    int total = 0, matches = 0;
    for (int p = 0; p < 1500; p++) {
        cJSON *pattern = cJSON_CreateObject();
        cJSON *inner = cJSON_CreateObject();
        static const char *const few[] = {"x", "y"};
        uint32_t n = 2 + rnd(2);
        for (uint32_t i = 0; i < n; i++) {
            cJSON *values = cJSON_CreateArray();
            cJSON_AddItemToArray(values, rnd(4) == 0
                                             ? operator_object("exists", cJSON_CreateBool(rnd(2)))
                                             : cJSON_CreateString(PICK(few)));
            cJSON_AddItemToObject(inner, PICK(keys), values);
        }
        cJSON_AddItemToObject(pattern, "e", inner);
        char *text = cJSON_PrintUnformatted(pattern);
        event_pattern *compiled = event_pattern_compile(text, strlen(text), NULL, NULL);
        CHECK(compiled != NULL);
        for (int k = 0; compiled && k < 8; k++) {
            cJSON *event = cJSON_CreateObject();
            cJSON *array = cJSON_CreateArray();
            uint32_t elements = 1 + rnd(3);
            for (uint32_t el = 0; el < elements; el++) {
                cJSON *object = cJSON_CreateObject();
                uint32_t fields = rnd(4);
                for (uint32_t f = 0; f < fields; f++) {
                    cJSON *v = rnd(5) == 0 ? cJSON_CreateArray() : NULL;
                    if (v) {
                        cJSON_AddItemToArray(v, cJSON_CreateString(PICK(few)));
                        cJSON_AddItemToArray(v, cJSON_CreateString(PICK(few)));
                    }
                    cJSON_AddItemToObject(object, PICK(keys),
                                          v ? v : cJSON_CreateString(PICK(few)));
                }
                cJSON *element = object;
                if (rnd(6) == 0) { /* sometimes one level of array deeper */
                    element = cJSON_CreateArray();
                    cJSON_AddItemToArray(element, object);
                }
                cJSON_AddItemToArray(array, element);
            }
            cJSON_AddItemToObject(event, "e", array);
            bool expected = reference_match(pattern, event);
            bool got = event_pattern_match(compiled, event);
            total++;
            matches += got;
            check_count++;
            if (got != expected) {
                check_failures++;
                char *event_text = cJSON_PrintUnformatted(event);
                fprintf(stderr, "engine %s, reference %s\n  pattern %s\n  event   %s\n",
                        got ? "matches" : "does not match", expected ? "matches" : "does not match",
                        text, event_text);
                free(event_text);
            }
            cJSON_Delete(event);
        }
        event_pattern_free(compiled);
        free(text);
        cJSON_Delete(pattern);
    }
    fprintf(stderr, "%d array-of-objects cases, %d matches\n", total, matches);
    CHECK(matches > total / 20);
    CHECK(matches < total - total / 20);
}

int main(void)
{
    RUN_TEST(test_against_reference);
    RUN_TEST(test_arrays_of_objects_against_reference);
    return CHECK_DONE();
}
