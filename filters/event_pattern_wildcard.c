/* Wildcards: "*" matches any run of bytes (also none). EventBridge allows several stars but not
 * two in a row, "\*" is a literal star and "\\" a literal backslash; any other backslash is an
 * error. A compiled wildcard is its literal segments; matching anchors the first and last and
 * finds the middle ones left to right, which is exact for star-only globs and linear. */
#include "event_pattern_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ep_glob_compile(ep_arena *arena, const char *text, size_t len, bool quamina_shellstyle,
                     ep_glob *out, char *message, size_t cap)
{
    size_t stars = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '*') {
            /* Positions count from 1: event-ruler reports them in the quoted string. */
            if (i + 1 < len && text[i + 1] == '*') {
                snprintf(message, cap, "Consecutive wildcard characters at pos %zu", i + 1);
                return false;
            }
            stars++;
        } else if (text[i] == '\\' && !quamina_shellstyle) {
            if (i + 1 < len && (text[i + 1] == '*' || text[i + 1] == '\\')) {
                i++;
                continue;
            }
            snprintf(message, cap, "Invalid escape character at pos %zu", i + 1);
            return false;
        }
    }
    char *bytes = ep_arena_alloc(arena, len + 1);
    size_t *starts = ep_arena_alloc(arena, sizeof *starts * (stars + 1));
    size_t *lens = ep_arena_alloc(arena, sizeof *lens * (stars + 1));
    if (!bytes || !starts || !lens) {
        snprintf(message, cap, "out of memory");
        return false;
    }
    size_t n = 0, segment = 0;
    starts[0] = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '*') {
            lens[segment] = n - starts[segment];
            starts[++segment] = n;
            continue;
        }
        if (text[i] == '\\' && !quamina_shellstyle)
            i++;
        bytes[n++] = text[i];
    }
    lens[segment] = n - starts[segment];
    out->bytes = bytes;
    out->starts = starts;
    out->lens = lens;
    out->segments = stars + 1;
    return true;
}

bool ep_glob_match(const ep_glob *glob, const char *text, size_t len)
{
    const char *first = glob->bytes + glob->starts[0];
    size_t first_len = glob->lens[0];
    if (glob->segments == 1)
        return len == first_len && memcmp(text, first, len) == 0;
    size_t last = glob->segments - 1;
    const char *final = glob->bytes + glob->starts[last];
    size_t final_len = glob->lens[last];
    if (len < first_len + final_len || memcmp(text, first, first_len) != 0 ||
        memcmp(text + len - final_len, final, final_len) != 0)
        return false;
    size_t pos = first_len, end = len - final_len;
    for (size_t k = 1; k < last; k++) {
        size_t seg_len = glob->lens[k];
        if (seg_len == 0)
            continue;
        if (end - pos < seg_len)
            return false;
        const char *found = memmem(text + pos, end - pos, glob->bytes + glob->starts[k], seg_len);
        if (!found)
            return false;
        pos = (size_t)(found - text) + seg_len;
    }
    return true;
}

/* ---- Complexity ----
 * EventBridge refuses wildcards that let one value keep many partial matches alive at once
 * ("Rule is too complex - try using fewer wildcard characters or fewer repeating character
 * sequences after a wildcard character"), e.g. "*:*:*:*:*:event-bus/ *" (without the space). Its
 * measure comes from its byte machine; ours is the same idea on the plain automaton: every wildcard
 * of a field, with the quotes event-ruler puts around string values, as positions; a star position
 * stays alive on any byte. We explore the sets of positions that some value can reach and report
 * the largest. The exploration is bounded so the cost stays linear in the pattern's size. */

typedef struct position {
    int byte;      /* the literal at this position, or -1 for a star; -2 at the end */
    uint32_t next; /* index of the following position */
    bool counted;  /* inside the value (not one of the quotes, not the end) */
} position;

typedef struct complexity {
    position *positions;
    size_t count;
    /* A set holds at most this many positions: limit + 1 counted ones, and the few per wildcard
     * that do not count (quotes, a final star, the end). */
    size_t width;
    uint32_t *scratch; /* 4 sets of width: start/from, to, and remember()'s key */
    /* Explored sets, `width` ids each, sorted and padded with UINT32_MAX; found again through an
     * open-addressing table of indexes + 1 (0 = empty). */
    uint32_t *sets;
    size_t set_count, set_cap;
    uint32_t *table;
    size_t table_mask;
} complexity;

/* Adds p and (through stars, which also match nothing) its successors to set; false once the set
 * would exceed the width. */
static bool add_closure(const complexity *c, uint32_t *set, size_t *n, uint32_t p)
{
    for (;;) {
        for (size_t i = 0; i < *n; i++)
            if (set[i] == p)
                return true;
        if (*n >= c->width)
            return false;
        set[(*n)++] = p;
        if (c->positions[p].byte != -1)
            return true;
        p = c->positions[p].next;
    }
}

/* Partial matches alive: positions inside the value (the quotes and the end are not). */
static size_t live(const complexity *c, const uint32_t *set, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += c->positions[set[i]].counted;
    return count;
}

static bool same_glob(const ep_glob *a, const ep_glob *b)
{
    if (a->segments != b->segments)
        return false;
    for (size_t k = 0; k < a->segments; k++)
        if (a->lens[k] != b->lens[k] ||
            memcmp(a->bytes + a->starts[k], b->bytes + b->starts[k], a->lens[k]) != 0)
            return false;
    return true;
}

/* Stores a new set; false when it was seen before or the budget of sets is spent. */
static bool remember(complexity *c, const uint32_t *set, size_t n)
{
    uint32_t *key = c->scratch + 3 * c->width;
    memcpy(key, set, n * sizeof *set);
    for (size_t i = 1; i < n; i++) /* insertion sort: n is at most 11 */
        for (size_t j = i; j > 0 && key[j - 1] > key[j]; j--) {
            uint32_t t = key[j];
            key[j] = key[j - 1];
            key[j - 1] = t;
        }
    for (size_t i = n; i < c->width; i++)
        key[i] = UINT32_MAX;
    uint64_t hash = 1469598103934665603u;
    for (size_t i = 0; i < c->width; i++)
        hash = (hash ^ key[i]) * 1099511628211u;
    for (size_t slot = hash & c->table_mask;; slot = (slot + 1) & c->table_mask) {
        uint32_t entry = c->table[slot];
        if (entry == 0) {
            if (c->set_count == c->set_cap)
                return false;
            memcpy(c->sets + c->set_count * c->width, key, c->width * sizeof *key);
            c->table[slot] = (uint32_t)++c->set_count;
            return true;
        }
        if (memcmp(c->sets + (entry - 1) * c->width, key, c->width * sizeof *key) == 0)
            return false;
    }
}

size_t ep_glob_complexity(const ep_glob *const *globs, size_t count, size_t limit)
{
    if (limit > EP_GLOB_COMPLEXITY_LIMIT)
        limit = EP_GLOB_COMPLEXITY_LIMIT;
    size_t total = 0;
    for (size_t g = 0; g < count; g++) {
        size_t literal = 0;
        for (size_t k = 0; k < globs[g]->segments; k++)
            literal += globs[g]->lens[k];
        total += literal + globs[g]->segments - 1 + 3; /* quotes and the end */
    }
    complexity c = {.width = limit + 1 + 4 * count};
    /* Budgets that keep the work linear in the pattern: a couple of sets per position, and a
     * bounded number of position steps overall. Running out means "not proven too complex". */
    c.set_cap = 2 * total + 16;
    size_t table_size = 1;
    while (table_size < 2 * c.set_cap)
        table_size <<= 1;
    c.table_mask = table_size - 1;
    size_t budget = 256 * total + 4096;
    c.positions = malloc(sizeof *c.positions * (total ? total : 1));
    c.sets = malloc(sizeof *c.sets * c.width * c.set_cap);
    c.table = calloc(table_size, sizeof *c.table);
    c.scratch = malloc(sizeof *c.scratch * 4 * c.width);
    size_t worst = 0;
    if (!c.positions || !c.sets || !c.table || !c.scratch)
        goto done;

    bool alphabet[256] = {false};
    uint32_t *set = c.scratch;
    size_t n = 0;
    for (size_t g = 0; g < count; g++) {
        const ep_glob *glob = globs[g];
        /* The same wildcard twice is one pattern (EventBridge keeps a set). */
        bool duplicate = false;
        for (size_t h = 0; h < g && !duplicate; h++)
            duplicate = same_glob(globs[h], glob);
        if (duplicate)
            continue;
        size_t first = c.count;
        c.positions[c.count++] = (position){'"', 0, false};
        for (size_t k = 0; k < glob->segments; k++) {
            /* A star at the very end has matched whatever follows: not a partial match. */
            bool final_star = k == glob->segments - 1 && glob->lens[k] == 0;
            if (k > 0)
                c.positions[c.count++] = (position){-1, 0, !final_star};
            for (size_t i = 0; i < glob->lens[k]; i++) {
                unsigned char b = (unsigned char)glob->bytes[glob->starts[k] + i];
                c.positions[c.count++] = (position){b, 0, true};
                alphabet[b] = true;
            }
        }
        c.positions[c.count++] = (position){'"', 0, false};
        c.positions[c.count++] = (position){-2, 0, false};
        for (size_t p = first; p + 1 < c.count; p++)
            c.positions[p].next = (uint32_t)(p + 1);
        if (!add_closure(&c, set, &n, (uint32_t)first)) {
            worst = limit + 1;
            goto done;
        }
    }
    alphabet['"'] = true;
    /* One representative byte for all bytes no literal uses. */
    int other = -1;
    for (int b = 1; b < 256 && other < 0; b++)
        if (!alphabet[b])
            other = b;
    if (other >= 0)
        alphabet[other] = true;

    worst = live(&c, set, n);
    remember(&c, set, n);
    for (size_t next_set = 0; next_set < c.set_count && worst <= limit; next_set++) {
        uint32_t *from = c.scratch;
        memcpy(from, c.sets + next_set * c.width, c.width * sizeof *from);
        size_t from_n = 0;
        while (from_n < c.width && from[from_n] != UINT32_MAX)
            from_n++;
        for (int b = 0; b < 256 && worst <= limit; b++) {
            if (!alphabet[b])
                continue;
            if (budget < from_n)
                goto done;
            budget -= from_n;
            uint32_t *to = c.scratch + c.width;
            size_t to_n = 0;
            bool fits = true;
            for (size_t i = 0; i < from_n && fits; i++) {
                const position *p = &c.positions[from[i]];
                if (p->byte == -1)
                    fits = add_closure(&c, to, &to_n, from[i]);
                else if (p->byte == b)
                    fits = add_closure(&c, to, &to_n, p->next);
            }
            if (!fits) {
                worst = limit + 1;
                break;
            }
            size_t alive = live(&c, to, to_n);
            if (alive > worst)
                worst = alive;
            if (to_n)
                remember(&c, to, to_n);
        }
    }
done:
    free(c.positions);
    free(c.sets);
    free(c.table);
    free(c.scratch);
    return worst;
}
