/* A strict JSON reader (RFC 8259) for pattern text. cJSON would do for the structure, but the
 * compiler needs what cJSON drops: numbers as written (EventBridge refuses numbers a double
 * cannot hold exactly), duplicate keys in order (the last one wins), and where each value starts
 * so every error can point at it. */
#include "event_pattern_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct reader {
    ep_arena *arena;
    const char *text;
    size_t len, pos;
    char *message;
    size_t cap;
    size_t error_offset;
    bool failed;
} reader;

static bool fail(reader *r, size_t at, const char *what)
{
    if (!r->failed) {
        r->failed = true;
        r->error_offset = at;
        snprintf(r->message, r->cap, "invalid JSON: %s", what);
    }
    return false;
}

static void skip_space(reader *r)
{
    while (r->pos < r->len) {
        char c = r->text[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        r->pos++;
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex4(reader *r, size_t at, unsigned *out)
{
    if (r->len - at < 4)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = hex_value(r->text[at + i]);
        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0. Overlong forms, surrogates and code
 * points above U+10FFFF are invalid. */
static size_t utf8_sequence(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Reads a string at r->pos (the opening quote); the unescaped bytes go to the arena. */
static bool read_string(reader *r, const char **out, size_t *out_len)
{
    size_t start = r->pos++;
    /* The unescaped form is never longer than the escaped one. */
    size_t end = r->pos;
    while (end < r->len && r->text[end] != '"') {
        if (r->text[end] == '\\')
            end++;
        end++;
    }
    if (end >= r->len)
        return fail(r, start, "unterminated string");
    char *buf = ep_arena_alloc(r->arena, end - r->pos + 1);
    if (!buf)
        return fail(r, start, "out of memory");
    size_t n = 0;
    while (r->pos < end) {
        unsigned char c = (unsigned char)r->text[r->pos];
        if (c < 0x20)
            return fail(r, r->pos, "control character in a string (escape it)");
        if (c != '\\') {
            size_t seq = utf8_sequence((const unsigned char *)r->text + r->pos, end - r->pos);
            if (!seq)
                return fail(r, r->pos, "invalid UTF-8 in a string");
            memcpy(buf + n, r->text + r->pos, seq);
            n += seq;
            r->pos += seq;
            continue;
        }
        size_t esc = r->pos;
        char e = r->text[r->pos + 1];
        r->pos += 2;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            buf[n++] = e;
            break;
        case 'b':
            buf[n++] = '\b';
            break;
        case 'f':
            buf[n++] = '\f';
            break;
        case 'n':
            buf[n++] = '\n';
            break;
        case 'r':
            buf[n++] = '\r';
            break;
        case 't':
            buf[n++] = '\t';
            break;
        case 'u': {
            unsigned cp;
            if (!read_hex4(r, r->pos, &cp))
                return fail(r, esc, "\\u needs four hex digits");
            r->pos += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned low;
                if (r->pos + 1 < end && r->text[r->pos] == '\\' && r->text[r->pos + 1] == 'u' &&
                    read_hex4(r, r->pos + 2, &low) && low >= 0xDC00 && low <= 0xDFFF) {
                    r->pos += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else {
                    return fail(r, esc, "unpaired UTF-16 surrogate in \\u escape");
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(r, esc, "unpaired UTF-16 surrogate in \\u escape");
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default:
            return fail(r, esc, "unknown escape in a string");
        }
    }
    r->pos = end + 1;
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool read_number(reader *r, epj_node *node)
{
    size_t start = r->pos;
    const char *t = r->text;
    if (r->pos < r->len && t[r->pos] == '-')
        r->pos++;
    if (r->pos >= r->len || !is_digit(t[r->pos]))
        return fail(r, start, "a number needs digits");
    if (t[r->pos] == '0') {
        r->pos++;
        if (r->pos < r->len && is_digit(t[r->pos]))
            return fail(r, start, "leading zero in a number");
    } else {
        while (r->pos < r->len && is_digit(t[r->pos]))
            r->pos++;
    }
    if (r->pos < r->len && t[r->pos] == '.') {
        r->pos++;
        if (r->pos >= r->len || !is_digit(t[r->pos]))
            return fail(r, start, "a fraction needs digits");
        while (r->pos < r->len && is_digit(t[r->pos]))
            r->pos++;
    }
    if (r->pos < r->len && (t[r->pos] == 'e' || t[r->pos] == 'E')) {
        r->pos++;
        if (r->pos < r->len && (t[r->pos] == '+' || t[r->pos] == '-'))
            r->pos++;
        if (r->pos >= r->len || !is_digit(t[r->pos]))
            return fail(r, start, "an exponent needs digits");
        while (r->pos < r->len && is_digit(t[r->pos]))
            r->pos++;
    }
    node->kind = EPJ_NUMBER;
    node->len = r->pos - start;
    node->text = ep_arena_strndup(r->arena, t + start, node->len);
    return node->text ? true : fail(r, start, "out of memory");
}

static bool read_literal(reader *r, const char *word, epj_kind kind, epj_node *node)
{
    size_t n = strlen(word);
    if (r->len - r->pos < n || memcmp(r->text + r->pos, word, n) != 0)
        return fail(r, r->pos, "unexpected character");
    r->pos += n;
    node->kind = kind;
    return true;
}

static epj_node *read_value(reader *r, int depth);

static void append(epj_node *parent, epj_node **tail, epj_node *child)
{
    if (*tail)
        (*tail)->next = child;
    else
        parent->first = child;
    *tail = child;
    parent->count++;
}

static bool read_array(reader *r, epj_node *node, int depth)
{
    node->kind = EPJ_ARRAY;
    r->pos++;
    skip_space(r);
    if (r->pos < r->len && r->text[r->pos] == ']') {
        r->pos++;
        return true;
    }
    epj_node *tail = NULL;
    for (;;) {
        epj_node *item = read_value(r, depth + 1);
        if (!item)
            return false;
        append(node, &tail, item);
        skip_space(r);
        if (r->pos < r->len && r->text[r->pos] == ',') {
            r->pos++;
            continue;
        }
        if (r->pos < r->len && r->text[r->pos] == ']') {
            r->pos++;
            return true;
        }
        return fail(r, r->pos, "expected ',' or ']' in an array");
    }
}

static bool read_object(reader *r, epj_node *node, int depth)
{
    node->kind = EPJ_OBJECT;
    r->pos++;
    skip_space(r);
    if (r->pos < r->len && r->text[r->pos] == '}') {
        r->pos++;
        return true;
    }
    epj_node *tail = NULL;
    for (;;) {
        skip_space(r);
        if (r->pos >= r->len || r->text[r->pos] != '"')
            return fail(r, r->pos, "expected a quoted key in an object");
        size_t key_offset = r->pos;
        const char *key;
        size_t key_len;
        if (!read_string(r, &key, &key_len))
            return false;
        skip_space(r);
        if (r->pos >= r->len || r->text[r->pos] != ':')
            return fail(r, r->pos, "expected ':' after a key");
        r->pos++;
        epj_node *value = read_value(r, depth + 1);
        if (!value)
            return false;
        value->key = key;
        value->key_len = key_len;
        value->key_offset = key_offset;
        append(node, &tail, value);
        skip_space(r);
        if (r->pos < r->len && r->text[r->pos] == ',') {
            r->pos++;
            continue;
        }
        if (r->pos < r->len && r->text[r->pos] == '}') {
            r->pos++;
            return true;
        }
        return fail(r, r->pos, "expected ',' or '}' in an object");
    }
}

static epj_node *read_value(reader *r, int depth)
{
    skip_space(r);
    if (depth > EPJ_MAX_DEPTH) {
        fail(r, r->pos, "nested deeper than 64 levels");
        return NULL;
    }
    if (r->pos >= r->len) {
        fail(r, r->pos, "unexpected end of text");
        return NULL;
    }
    epj_node *node = ep_arena_alloc(r->arena, sizeof *node);
    if (!node) {
        fail(r, r->pos, "out of memory");
        return NULL;
    }
    node->offset = r->pos;
    bool ok;
    switch (r->text[r->pos]) {
    case '{':
        ok = read_object(r, node, depth);
        break;
    case '[':
        ok = read_array(r, node, depth);
        break;
    case '"':
        node->kind = EPJ_STRING;
        ok = read_string(r, &node->text, &node->len);
        break;
    case 't':
        ok = read_literal(r, "true", EPJ_TRUE, node);
        break;
    case 'f':
        ok = read_literal(r, "false", EPJ_FALSE, node);
        break;
    case 'n':
        ok = read_literal(r, "null", EPJ_NULL, node);
        break;
    default:
        if (r->text[r->pos] == '-' || is_digit(r->text[r->pos]))
            ok = read_number(r, node);
        else
            ok = fail(r, r->pos, "unexpected character");
        break;
    }
    return ok ? node : NULL;
}

epj_node *epj_parse(ep_arena *arena, const char *text, size_t len, char *message, size_t cap,
                    size_t *error_offset)
{
    reader r = {.arena = arena, .text = text, .len = len, .message = message, .cap = cap};
    epj_node *root = read_value(&r, 0);
    if (root) {
        skip_space(&r);
        if (r.pos != r.len) {
            fail(&r, r.pos, "text after the end of the pattern");
            root = NULL;
        }
    }
    if (!root)
        *error_offset = r.error_offset;
    return root;
}
