/* Matching a compiled pattern against a JSON event (cJSON), with no allocation.
 *
 * An alternative (branch) matches when each of its fields, taken in name order, can be given a
 * value from the event such that all values chosen so far are array-consistent: two values
 * inside the same array of objects must come from the same element. The search picks a value
 * for the first field, then the next, and backs up when a later field cannot be satisfied;
 * "pins" record which element of which array the values chosen so far went through, and a
 * later field may only pass through those elements. exists:false holds when no value of the
 * field is consistent with the pins so far, which is where event-ruler checks it too.
 *
 * Two facts keep the search from trying alternatives that cannot help: only arrays within the
 * prefix a field shares with later fields can constrain them (ep_branch.shared), so only those
 * are pinned; and values that add no pin leave later fields exactly as they were, so after one
 * of them failed the others are skipped. For the usual event (arrays of plain values, or fields
 * that do not share arrays) every field is then decided by its first matching value. */
#include "event_pattern_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An event can nest arrays deeper than any pattern needs; beyond these, values are not
 * followed (they cannot match) rather than risking the stack. */
#define EP_MAX_PINS 64
#define EP_MAX_FRAMES 4096

typedef struct pin {
    const cJSON *array;
    const cJSON *element;
} pin;

typedef struct search {
    const cJSON *root;
    const ep_branch *branch;
    pin pins[EP_MAX_PINS];
    size_t pin_count;
    unsigned frames;
    /* explain mode: the deepest field the search failed on, and why */
    bool explain;
    size_t stuck; /* index + 1; 0 when nothing failed */
    const cJSON *stuck_value;
    bool stuck_present, stuck_object;
} search;

typedef enum { WALK_GO_ON, WALK_FOUND, WALK_GIVE_UP } walk_result;

typedef struct walk {
    search *s;
    size_t index;
    const ep_field *f;
    size_t shared;
    bool probe; /* only asks whether a consistent value exists (exists:false) */
    size_t base_pins;
    bool pinless_failed;
    const cJSON *first_value;
    bool saw_object;
} walk;

static bool search_from(search *s, size_t index);

static bool texts_contain(const ep_text *items, size_t count, const char *text, size_t len)
{
    size_t low = 0, high = count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        const ep_text *t = &items[mid];
        size_t n = t->len < len ? t->len : len;
        int r = memcmp(t->bytes, text, n);
        if (r == 0)
            r = (t->len > len) - (t->len < len);
        if (r == 0)
            return true;
        if (r < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return false;
}

static bool keys_contain(const uint64_t *keys, size_t count, uint64_t key)
{
    size_t low = 0, high = count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (keys[mid] == key)
            return true;
        if (keys[mid] < key)
            low = mid + 1;
        else
            high = mid;
    }
    return false;
}

static bool has_prefix(const char *text, size_t len, const ep_text *prefix)
{
    return len >= prefix->len && memcmp(text, prefix->bytes, prefix->len) == 0;
}

static bool has_suffix(const char *text, size_t len, const ep_text *suffix)
{
    return len >= suffix->len && memcmp(text + len - suffix->len, suffix->bytes, suffix->len) == 0;
}

static bool in_ip_range(const ep_cond *cond, const unsigned char *ip, int bytes)
{
    return bytes == cond->u.ip.bytes && memcmp(ip, cond->u.ip.low, (size_t)bytes) >= 0 &&
           memcmp(ip, cond->u.ip.high, (size_t)bytes) <= 0;
}

static bool string_matches(const ep_field *f, const char *text)
{
    size_t len = strlen(text);
    unsigned char ip[16];
    int ip_bytes = f->has_ip ? ep_ip_parse(text, len, ip) : 0;
    for (size_t i = 0; i < f->cond_count; i++) {
        const ep_cond *c = &f->conds[i];
        bool hit = false;
        switch (c->kind) {
        case EPC_STRINGS:
            hit = texts_contain(c->u.texts.items, c->u.texts.count, text, len);
            break;
        case EPC_IP:
        case EPC_CIDR:
            hit = ip_bytes > 0 && in_ip_range(c, ip, ip_bytes);
            break;
        case EPC_PREFIX:
            hit = has_prefix(text, len, &c->u.text);
            break;
        case EPC_SUFFIX:
            hit = has_suffix(text, len, &c->u.text);
            break;
        case EPC_EQUALS_NOCASE:
            hit = ep_fold_equals(&c->u.folded.items[0], text, len, true);
            break;
        case EPC_PREFIX_NOCASE:
            hit = ep_fold_equals(&c->u.folded.items[0], text, len, false);
            break;
        case EPC_SUFFIX_NOCASE:
            hit = ep_fold_has_suffix(&c->u.folded.items[0], text, len);
            break;
        case EPC_WILDCARD:
            hit = ep_glob_match(&c->u.globs.items[0], text, len);
            break;
        case EPC_NOT_STRINGS:
            hit = !texts_contain(c->u.texts.items, c->u.texts.count, text, len);
            break;
        case EPC_NOT_NUMBERS:
            hit = true; /* a string is not any of those numbers */
            break;
        case EPC_NOT_PREFIX:
            hit = true;
            for (size_t k = 0; k < c->u.texts.count && hit; k++)
                hit = !has_prefix(text, len, &c->u.texts.items[k]);
            break;
        case EPC_NOT_SUFFIX:
            hit = true;
            for (size_t k = 0; k < c->u.texts.count && hit; k++)
                hit = !has_suffix(text, len, &c->u.texts.items[k]);
            break;
        case EPC_NOT_NOCASE:
            hit = true;
            for (size_t k = 0; k < c->u.folded.count && hit; k++)
                hit = !ep_fold_equals(&c->u.folded.items[k], text, len, true);
            break;
        case EPC_NOT_WILDCARD:
            hit = true;
            for (size_t k = 0; k < c->u.globs.count && hit; k++)
                hit = !ep_glob_match(&c->u.globs.items[k], text, len);
            break;
        case EPC_NUMBERS:
        case EPC_NUMERIC:
        case EPC_TRUE:
        case EPC_FALSE:
        case EPC_NULL:
            break;
        }
        if (hit)
            return true;
    }
    return false;
}

static bool number_matches(const ep_field *f, double value)
{
    uint64_t key = ep_number_key(value);
    for (size_t i = 0; i < f->cond_count; i++) {
        const ep_cond *c = &f->conds[i];
        switch (c->kind) {
        case EPC_NUMBERS:
            if (keys_contain(c->u.numbers.keys, c->u.numbers.count, key))
                return true;
            break;
        case EPC_NUMERIC: {
            bool above = c->u.range.low_open ? key > c->u.range.low : key >= c->u.range.low;
            bool below = c->u.range.high_open ? key < c->u.range.high : key <= c->u.range.high;
            if (above && below)
                return true;
            break;
        }
        case EPC_NOT_NUMBERS:
            if (!keys_contain(c->u.numbers.keys, c->u.numbers.count, key))
                return true;
            break;
        case EPC_NOT_STRINGS:
        case EPC_NOT_PREFIX:
        case EPC_NOT_SUFFIX:
        case EPC_NOT_NOCASE:
        case EPC_NOT_WILDCARD:
            return true; /* a number is none of those strings */
        default:
            break;
        }
    }
    return false;
}

/* true, false and null: equal to the same literal, and "anything but" any string or number. */
static bool literal_matches(const ep_field *f, ep_cond_kind literal)
{
    for (size_t i = 0; i < f->cond_count; i++) {
        ep_cond_kind kind = f->conds[i].kind;
        if (kind == literal || kind >= EPC_NOT_STRINGS)
            return true;
    }
    return false;
}

static bool value_matches(const ep_field *f, const cJSON *value)
{
    if (f->any_value)
        return true;
    switch (value->type & 0xFF) {
    case cJSON_String:
        return value->valuestring && string_matches(f, value->valuestring);
    case cJSON_Number:
        return number_matches(f, value->valuedouble);
    case cJSON_True:
        return literal_matches(f, EPC_TRUE);
    case cJSON_False:
        return literal_matches(f, EPC_FALSE);
    case cJSON_NULL:
        return literal_matches(f, EPC_NULL);
    default:
        return false;
    }
}

static walk_result at_leaf(walk *w, const cJSON *value)
{
    if (w->probe)
        return WALK_FOUND;
    if (!w->first_value)
        w->first_value = value;
    if (!value_matches(w->f, value))
        return WALK_GO_ON;
    search *s = w->s;
    bool new_pins = s->pin_count > w->base_pins;
    if (!new_pins && w->pinless_failed)
        return WALK_GO_ON; /* same pins as a value that already failed: same outcome */
    if (search_from(s, w->index + 1))
        return WALK_FOUND;
    if (!new_pins) {
        w->pinless_failed = true;
        /* Nothing this field can reach is pinned, so every other value would fail the same. */
        if (w->shared == 0)
            return WALK_GIVE_UP;
    }
    return WALK_GO_ON;
}

static const pin *find_pin(const search *s, const cJSON *array)
{
    for (size_t i = s->pin_count; i > 0; i--)
        if (s->pins[i - 1].array == array)
            return &s->pins[i - 1];
    return NULL;
}

/* Visits the values at the dot-joined name rest (a tail of the field's name) under node. at_end:
 * the whole name has been followed; an empty rest alone may still be an empty last step ("a."). */
static walk_result walk_node(walk *w, const cJSON *node, const char *rest, size_t rest_len,
                             bool at_end);

static walk_result walk_array(walk *w, const cJSON *array, const char *rest, size_t rest_len,
                              bool at_end)
{
    search *s = w->s;
    const pin *pinned = find_pin(s, array);
    if (pinned)
        return walk_node(w, pinned->element, rest, rest_len, at_end);
    /* Where in the name the array sits (the end of the key that led to it): within the prefix
     * this field shares with later ones, the element chosen binds them too. */
    size_t followed = (size_t)(rest - w->f->name);
    size_t position = at_end ? w->f->name_len : followed ? followed - 1 : 0;
    bool pins = !w->probe && position <= w->shared;
    for (const cJSON *element = array->child; element; element = element->next) {
        if (pins) {
            if (s->pin_count == EP_MAX_PINS)
                return WALK_GO_ON;
            s->pins[s->pin_count++] = (pin){array, element};
        }
        walk_result r = walk_node(w, element, rest, rest_len, at_end);
        if (pins)
            s->pin_count--;
        if (r != WALK_GO_ON)
            return r;
    }
    return WALK_GO_ON;
}

static walk_result walk_object(walk *w, const cJSON *object, const char *rest, size_t rest_len)
{
    for (const cJSON *child = object->child; child; child = child->next) {
        const char *key = child->string;
        if (!key)
            continue;
        /* The key must be the next whole step(s) of the name: "a" or "a.b" for "a.b.c". */
        size_t i = 0;
        while (i < rest_len && key[i] && key[i] == rest[i])
            i++;
        if (key[i] != '\0' || (i < rest_len && rest[i] != '.'))
            continue;
        walk_result r = i == rest_len ? walk_node(w, child, rest + i, 0, true)
                                      : walk_node(w, child, rest + i + 1, rest_len - i - 1, false);
        if (r != WALK_GO_ON)
            return r;
    }
    return WALK_GO_ON;
}

static walk_result walk_node(walk *w, const cJSON *node, const char *rest, size_t rest_len,
                             bool at_end)
{
    search *s = w->s;
    if (s->frames >= EP_MAX_FRAMES)
        return WALK_GO_ON;
    s->frames++;
    walk_result r = WALK_GO_ON;
    int type = node->type & 0xFF;
    if (type == cJSON_Array)
        r = walk_array(w, node, rest, rest_len, at_end);
    else if (!at_end)
        r = type == cJSON_Object ? walk_object(w, node, rest, rest_len) : WALK_GO_ON;
    else if (type == cJSON_Object)
        w->saw_object = true; /* objects are not values: operators apply to leaves only */
    else
        r = at_leaf(w, node);
    s->frames--;
    return r;
}

static void note_failure(search *s, size_t index, const walk *w, bool present)
{
    if (!s->explain || index + 1 <= s->stuck)
        return;
    s->stuck = index + 1;
    s->stuck_value = w->first_value;
    s->stuck_present = present;
    s->stuck_object = w->saw_object;
}

static bool search_from(search *s, size_t index)
{
    if (index == s->branch->count)
        return true;
    if (s->frames >= EP_MAX_FRAMES)
        return false;
    s->frames++;
    const ep_field *f = s->branch->fields[index];
    walk w = {.s = s,
              .index = index,
              .f = f,
              .shared = s->branch->shared[index],
              .base_pins = s->pin_count};
    bool matched = false, present = false;
    if (f->cond_count || f->any_value)
        matched = walk_node(&w, s->root, f->name, f->name_len, false) == WALK_FOUND;
    if (!matched && f->accepts_absent) {
        walk probe = {.s = s, .index = index, .f = f, .probe = true};
        present = walk_node(&probe, s->root, f->name, f->name_len, false) == WALK_FOUND;
        matched = !present && search_from(s, index + 1);
    }
    if (!matched)
        note_failure(s, index, &w, present);
    s->frames--;
    return matched;
}

static void search_init(search *s, const event_pattern *p, size_t branch, const cJSON *event)
{
    s->root = event;
    s->branch = &p->branches[branch];
    s->pin_count = 0;
    s->frames = 0;
    s->explain = false;
    s->stuck = 0;
    s->stuck_value = NULL;
    s->stuck_present = s->stuck_object = false;
}

bool event_pattern_match(const event_pattern *pattern, const cJSON *event)
{
    if (!pattern || !event)
        return false;
    search s;
    for (size_t i = 0; i < pattern->branch_count; i++) {
        search_init(&s, pattern, i, event);
        if (search_from(&s, 0))
            return true;
    }
    return false;
}

bool event_pattern_explain(const event_pattern *pattern, const cJSON *event, char *why, size_t cap)
{
    if (cap)
        why[0] = '\0';
    if (!pattern || !event) {
        snprintf(why, cap, "no pattern or no event");
        return false;
    }
    /* The alternative that got furthest explains best. */
    search s, best = {0};
    size_t best_branch = 0;
    for (size_t i = 0; i < pattern->branch_count; i++) {
        search_init(&s, pattern, i, event);
        s.explain = true;
        if (search_from(&s, 0))
            return true;
        if (i == 0 || s.stuck > best.stuck) {
            best = s;
            best_branch = i;
        }
    }
    if (best.stuck == 0) {
        snprintf(why, cap, "no match");
        return false;
    }
    const ep_field *f = pattern->branches[best_branch].fields[best.stuck - 1];
    char alternative[64] = "";
    if (pattern->branch_count > 1)
        snprintf(alternative, sizeof alternative, " ($or alternative %zu of %zu)", best_branch + 1,
                 pattern->branch_count);
    if (best.stuck_present) {
        snprintf(why, cap, "%s%s: present, but the pattern wants it absent ({\"exists\": false})",
                 f->name, alternative);
    } else if (best.stuck_value) {
        char *text = cJSON_PrintUnformatted(best.stuck_value);
        snprintf(why, cap, "%s%s: %.200s%s does not match", f->name, alternative,
                 text ? text : "(value)", text && strlen(text) > 200 ? "..." : "");
        free(text);
    } else if (best.stuck_object) {
        snprintf(why, cap,
                 "%s%s: is an object, and the pattern's operators apply to values (leaves) only",
                 f->name, alternative);
    } else {
        snprintf(why, cap, "%s%s: missing", f->name, alternative);
    }
    return false;
}
