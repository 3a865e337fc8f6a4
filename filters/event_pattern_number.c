/* Numbers in patterns. EventBridge compares numbers as IEEE doubles (so 300, 300.0 and 3e2 are
 * one value) and refuses, in numeric and anything-but, a number the double does not hold
 * exactly ("Cannot compare number"): event-ruler checks that the shortest decimal form of the
 * double has the same value as the text. */
#include "event_pattern_internal.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t ep_number_key(double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    /* Positive numbers: set the sign bit so they sort above every negative one; negative
     * numbers: flip all bits so larger magnitudes sort lower. */
    return (bits >> 63) ? ~bits : bits | (UINT64_C(1) << 63);
}

/* The process may run under any LC_NUMERIC; JSON numbers always use '.'. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* A decimal number reduced to significant digits and the power of ten of the first one, so two
 * spellings of one value compare equal ("300" and "3.0e2": digits "3", exponent 2). */
typedef struct decimal {
    bool negative, zero;
    char digits[800];
    size_t count;
    long exponent;
} decimal;

static bool decimal_read(const char *text, decimal *d)
{
    memset(d, 0, sizeof *d);
    const char *p = text;
    if (*p == '-' || *p == '+') {
        d->negative = *p == '-';
        p++;
    }
    long point = 0; /* digits before the decimal point */
    bool seen_point = false, leading = true;
    for (; *p && *p != 'e' && *p != 'E'; p++) {
        if (*p == '.') {
            seen_point = true;
            continue;
        }
        if (*p < '0' || *p > '9')
            return false;
        if (leading && *p == '0') {
            if (seen_point)
                point--;
            continue;
        }
        leading = false;
        if (!seen_point)
            point++;
        if (d->count >= sizeof d->digits)
            return false;
        d->digits[d->count++] = *p;
    }
    long exp10 = 0;
    if (*p == 'e' || *p == 'E') {
        char *end;
        exp10 = strtol(p + 1, &end, 10);
        if (*end)
            return false;
    }
    while (d->count && d->digits[d->count - 1] == '0')
        d->count--;
    d->zero = d->count == 0;
    d->exponent = point - 1 + exp10;
    return true;
}

static bool decimal_equal(const decimal *a, const decimal *b)
{
    if (a->zero || b->zero)
        return a->zero && b->zero;
    return a->negative == b->negative && a->exponent == b->exponent && a->count == b->count &&
           memcmp(a->digits, b->digits, a->count) == 0;
}

bool ep_number_parse(const char *text, double *value, bool *comparable)
{
    pthread_once(&c_locale_once, make_c_locale);
    locale_t previous = c_locale ? uselocale(c_locale) : (locale_t)0;
    char *end;
    double v = strtod(text, &end);
    bool ok = end != text && *end == '\0';
    *value = v;
    *comparable = false;
    if (ok && isfinite(v)) {
        /* The shortest decimal that reads back as the same double, like Java's
         * Double.toString. */
        char shortest[40];
        for (int precision = 1; precision <= 17; precision++) {
            snprintf(shortest, sizeof shortest, "%.*e", precision - 1, v);
            if (strtod(shortest, NULL) == v)
                break;
        }
        decimal written, held;
        *comparable = decimal_read(text, &written) && decimal_read(shortest, &held) &&
                      decimal_equal(&written, &held);
    }
    if (c_locale)
        uselocale(previous);
    return ok;
}
