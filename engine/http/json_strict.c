#include "http/json_strict.h"

#include <stdio.h>

/* Iterative, with the open containers kept in a fixed array: a hostile depth costs no stack. */
typedef struct json_cursor {
    const unsigned char *start, *p, *end;
    const char *problem; /* set on the first failure */
    unsigned char byte;  /* the byte the problem is about, for the message */
    size_t depth;
    unsigned char open[JSON_STRICT_MAX_DEPTH]; /* '{' or '[' */
} json_cursor;

static bool fail(json_cursor *c, const char *problem)
{
    c->problem = problem;
    c->byte = c->p < c->end ? *c->p : 0;
    return false;
}

static void skip_whitespace(json_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool is_digit(unsigned char b)
{
    return b >= '0' && b <= '9';
}

static bool is_hex(unsigned char b)
{
    return is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

static bool at(const json_cursor *c, size_t ahead, unsigned char lo, unsigned char hi)
{
    return c->p + ahead < c->end && c->p[ahead] >= lo && c->p[ahead] <= hi;
}

/* One UTF-8 sequence starting at a byte >= 0x80 (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF). */
static bool utf8_sequence(json_cursor *c)
{
    unsigned char b = *c->p;
    size_t tail;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (b >= 0xc2 && b <= 0xdf) {
        tail = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
        tail = 2;
        if (b == 0xe0)
            lo = 0xa0;
        else if (b == 0xed)
            hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        tail = 3;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f;
    } else {
        return fail(c, "invalid UTF-8 byte in a string");
    }
    if (!at(c, 1, lo, hi))
        return fail(c, "invalid UTF-8 sequence in a string");
    for (size_t k = 2; k <= tail; k++)
        if (!at(c, k, 0x80, 0xbf))
            return fail(c, "invalid UTF-8 sequence in a string");
    c->p += tail + 1;
    return true;
}

/* Bytes a string may hold as they are: printable ASCII other than '"' and '\\'. Most of a JSON
 * text is such runs, so they are skipped in a tight loop. */
static bool is_plain_string_byte(unsigned char b)
{
    return b >= 0x20 && b < 0x80 && b != '"' && b != '\\';
}

static bool string_value(json_cursor *c)
{
    c->p++; /* the opening quote */
    while (c->p < c->end) {
        while (c->p < c->end && is_plain_string_byte(*c->p))
            c->p++;
        if (c->p == c->end)
            break;
        unsigned char b = *c->p;
        if (b == '"') {
            c->p++;
            return true;
        }
        if (b == '\0')
            return fail(c, "NUL byte in a string (write it as \\u0000)");
        if (b < 0x20)
            return fail(c, "unescaped control byte in a string");
        if (b >= 0x80) {
            if (!utf8_sequence(c))
                return false;
            continue;
        }
        if (b != '\\') {
            c->p++;
            continue;
        }
        c->p++;
        if (c->p == c->end)
            break;
        switch (*c->p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            c->p++;
            break;
        case 'u':
            for (size_t k = 1; k <= 4; k++)
                if (c->p + k >= c->end || !is_hex(c->p[k]))
                    return fail(c, "\\u not followed by four hex digits");
            c->p += 5;
            break;
        default:
            return fail(c, "invalid escape in a string");
        }
    }
    return fail(c, "unterminated string");
}

static bool number_value(json_cursor *c)
{
    if (*c->p == '-')
        c->p++;
    if (c->p == c->end || !is_digit(*c->p))
        return fail(c, "'-' not followed by a digit");
    if (*c->p == '0') {
        c->p++;
        if (c->p < c->end && is_digit(*c->p))
            return fail(c, "leading zero in a number");
    } else {
        while (c->p < c->end && is_digit(*c->p))
            c->p++;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (c->p == c->end || !is_digit(*c->p))
            return fail(c, "no digit after the decimal point");
        while (c->p < c->end && is_digit(*c->p))
            c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (c->p == c->end || !is_digit(*c->p))
            return fail(c, "no digit in the exponent");
        while (c->p < c->end && is_digit(*c->p))
            c->p++;
    }
    return true;
}

static bool literal_value(json_cursor *c, const char *word, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (c->p + k >= c->end || c->p[k] != (unsigned char)word[k])
            return fail(c, "invalid literal (expected true, false or null)");
    c->p += len;
    return true;
}

/* The message for a byte where a value, or a key, was expected. */
static bool unexpected(json_cursor *c, const char *what)
{
    if (c->p == c->end)
        return fail(c, what);
    unsigned char b = *c->p;
    if (b == '\0')
        return fail(c, "NUL byte (not whitespace in JSON)");
    if (b < 0x20 || b == 0x7f)
        return fail(c, "control byte (not whitespace in JSON)");
    if (b == '\'')
        return fail(c, "single quotes (JSON strings use double quotes)");
    return fail(c, what);
}

static bool scalar_value(json_cursor *c)
{
    switch (*c->p) {
    case '"':
        return string_value(c);
    case 't':
        return literal_value(c, "true", 4);
    case 'f':
        return literal_value(c, "false", 5);
    case 'n':
        return literal_value(c, "null", 4);
    default:
        if (*c->p == '-' || is_digit(*c->p))
            return number_value(c);
        return unexpected(c, "expected a value");
    }
}

/* An object member's key and colon; leaves the cursor at its value. */
static bool member_key(json_cursor *c)
{
    skip_whitespace(c);
    if (c->p == c->end || *c->p != '"')
        return unexpected(c, "expected a string key");
    if (!string_value(c))
        return false;
    skip_whitespace(c);
    if (c->p == c->end || *c->p != ':')
        return unexpected(c, "expected ':' after a key");
    c->p++;
    return true;
}

static bool check_text(json_cursor *c)
{
    if (c->end - c->p >= 3 && c->p[0] == 0xef && c->p[1] == 0xbb && c->p[2] == 0xbf)
        return fail(c, "byte order mark before the JSON text");
    for (;;) {
        /* A value. */
        skip_whitespace(c);
        if (c->p == c->end)
            return fail(c, c->depth ? "unexpected end of the text" : "empty text");
        if (*c->p == '{' || *c->p == '[') {
            if (c->depth == JSON_STRICT_MAX_DEPTH)
                return fail(c, "nested too deeply");
            unsigned char open = *c->p++;
            c->open[c->depth++] = open;
            skip_whitespace(c);
            if (c->p < c->end && *c->p == (open == '{' ? '}' : ']')) {
                c->p++;
                c->depth--;
            } else if (open == '{' && !member_key(c)) {
                return false;
            } else {
                continue; /* the first value inside */
            }
        } else if (!scalar_value(c)) {
            return false;
        }
        /* After a value: close containers or go on to the next element. */
        for (;;) {
            skip_whitespace(c);
            if (c->depth == 0) {
                if (c->p != c->end)
                    return unexpected(c, "more after the JSON value");
                return true;
            }
            unsigned char open = c->open[c->depth - 1];
            unsigned char close = open == '{' ? '}' : ']';
            if (c->p < c->end && *c->p == close) {
                c->p++;
                c->depth--;
                continue;
            }
            if (c->p == c->end || *c->p != ',')
                return unexpected(c, open == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
            c->p++;
            skip_whitespace(c);
            if (c->p < c->end && *c->p == close)
                return fail(c, "trailing comma");
            if (open == '{' && !member_key(c))
                return false;
            break; /* the next value */
        }
    }
}

bool json_strict_check(const char *text, size_t len, char *reason, size_t reason_cap)
{
    json_cursor cursor;
    json_cursor *c = &cursor;
    c->start = c->p = (const unsigned char *)text;
    c->end = c->start + len;
    c->problem = NULL;
    c->depth = 0;
    if (check_text(c))
        return true;
    size_t offset = (size_t)(c->p - c->start);
    unsigned char b = c->byte;
    if (c->p == c->end)
        snprintf(reason, reason_cap, "at byte %zu (the end): %s", offset, c->problem);
    else if (b >= 0x20 && b < 0x7f)
        snprintf(reason, reason_cap, "at byte %zu ('%c'): %s", offset, b, c->problem);
    else
        snprintf(reason, reason_cap, "at byte %zu (0x%02x): %s", offset, b, c->problem);
    return false;
}
