/* What the fuzz targets share: a copy of the input with a NUL after it (most parsers take C
 * strings), an input split into HTTP-like header lines and a body, and a check that aborts with a
 * message (libFuzzer reports an abort as a crash and saves the input). Header-only: each target is
 * one file. */
#ifndef EVENT_ROUTER_FUZZ_SUPPORT_H
#define EVENT_ROUTER_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant the code promises; a broken one is a finding like a crash. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The input as a C string (an input NUL ends the string early, as it would for the parser). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_ASSERT(text);
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

#define FUZZ_MAX_HEADERS 64

/* "name: value" lines (LF or CRLF), an empty line, then the body: the layout of the seed files of
 * the HTTP-facing targets. Names are lower-cased, as the HTTP server hands them over. Lines
 * without a colon are skipped. The strings point into storage, which the caller frees. */
typedef struct fuzz_headers {
    char *storage;
    const char *names[FUZZ_MAX_HEADERS];
    const char *values[FUZZ_MAX_HEADERS];
    size_t count;
    const char *body;
    size_t body_len;
} fuzz_headers;

static inline void fuzz_split_headers(const uint8_t *data, size_t size, fuzz_headers *out)
{
    memset(out, 0, sizeof *out);
    out->storage = malloc(size + 1);
    FUZZ_ASSERT(out->storage);
    memcpy(out->storage, data, size);
    out->storage[size] = '\0';
    char *p = out->storage, *end = out->storage + size;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *next = eol ? eol + 1 : end;
        char *line_end = eol ? eol : end;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        if (line_end == p) {
            p = next; /* the empty line: the body follows */
            break;
        }
        *line_end = '\0';
        char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && out->count < FUZZ_MAX_HEADERS) {
            *colon = '\0';
            for (char *c = p; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            out->names[out->count] = p;
            out->values[out->count] = value;
            out->count++;
        }
        p = next;
    }
    out->body = p < end ? p : "";
    out->body_len = p < end ? (size_t)(end - p) : 0;
}

#endif
