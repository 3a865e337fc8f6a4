/* Case-insensitive comparison the way event-ruler does it: at each position of the pattern the
 * event may have the pattern character's lower-case or its upper-case form (Unicode simple case
 * mapping), compared code point by code point. */
#include "event_pattern_internal.h"

#include <locale.h>
#include <pthread.h>
#include <wctype.h>

static locale_t utf8_locale;
static pthread_once_t utf8_locale_once = PTHREAD_ONCE_INIT;

static void make_utf8_locale(void)
{
    /* C.UTF-8 ships with glibc; without it only ASCII letters fold (see fold_case). */
    utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static void fold_case(uint32_t cp, uint32_t *lower, uint32_t *upper)
{
    if (cp < 0x80) {
        *lower = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        *upper = cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
        return;
    }
    pthread_once(&utf8_locale_once, make_utf8_locale);
    if (!utf8_locale || cp > 0x10FFFF) {
        *lower = *upper = cp;
        return;
    }
    *lower = (uint32_t)towlower_l((wint_t)cp, utf8_locale);
    *upper = (uint32_t)towupper_l((wint_t)cp, utf8_locale);
}

/* Invalid bytes decode to 0x110000 + byte: never a real code point, so they only ever equal the
 * same invalid byte. */
uint32_t ep_utf8_next(const char *text, size_t len, size_t *pos)
{
    const unsigned char *p = (const unsigned char *)text + *pos;
    size_t avail = len - *pos;
    unsigned char c = p[0];
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
        *pos += 1;
        return c;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    }
    if (n == 0 || avail < n) {
        *pos += 1;
        return 0x110000u + c;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *pos += 1;
            return 0x110000u + c;
        }
        cp = cp << 6 | (p[i] & 0x3F);
    }
    *pos += n;
    return cp;
}

size_t ep_utf8_count(const char *text, size_t len)
{
    size_t count = 0, pos = 0;
    while (pos < len) {
        ep_utf8_next(text, len, &pos);
        count++;
    }
    return count;
}

bool ep_fold_compile(ep_arena *arena, const char *text, size_t len, ep_folded *out)
{
    size_t count = ep_utf8_count(text, len);
    uint32_t *lower = ep_arena_alloc(arena, sizeof *lower * (count ? count : 1));
    uint32_t *upper = ep_arena_alloc(arena, sizeof *upper * (count ? count : 1));
    if (!lower || !upper)
        return false;
    size_t pos = 0;
    for (size_t i = 0; i < count; i++)
        fold_case(ep_utf8_next(text, len, &pos), &lower[i], &upper[i]);
    out->lower = lower;
    out->upper = upper;
    out->count = count;
    return true;
}

/* whole: text must be exactly the pattern; otherwise text must start with it. */
bool ep_fold_equals(const ep_folded *pattern, const char *text, size_t len, bool whole)
{
    size_t pos = 0;
    for (size_t i = 0; i < pattern->count; i++) {
        if (pos >= len)
            return false;
        uint32_t cp = ep_utf8_next(text, len, &pos);
        if (cp != pattern->lower[i] && cp != pattern->upper[i])
            return false;
    }
    return !whole || pos == len;
}

bool ep_fold_has_suffix(const ep_folded *pattern, const char *text, size_t len)
{
    /* Step back over as many code points as the pattern has, then compare forwards. */
    size_t start = len;
    for (size_t i = 0; i < pattern->count; i++) {
        if (start == 0)
            return false;
        size_t back = start - 1;
        size_t limit = start >= 4 ? start - 4 : 0;
        while (back > limit && ((unsigned char)text[back] & 0xC0) == 0x80)
            back--;
        /* Only a lead byte that really starts a sequence ending at start counts as one code
         * point; otherwise the last byte is a code point of its own (an invalid byte). */
        size_t probe = back;
        ep_utf8_next(text, len, &probe);
        start = probe == start ? back : start - 1;
    }
    return ep_fold_equals(pattern, text + start, len - start, true);
}
