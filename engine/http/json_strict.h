/* A strict RFC 8259 JSON checker. cJSON, which builds our trees, is lenient: it takes NUL and
 * control bytes as whitespace, numbers with leading zeros, and more, so data declared JSON could
 * be accepted here and refused by a strict sink later. This checker decides whether bytes are one
 * JSON text exactly as the RFC's grammar says (UTF-8, RFC 8259 section 8.1), and why not. It
 * builds nothing and allocates nothing. */
#ifndef EVENT_ROUTER_JSON_STRICT_H
#define EVENT_ROUTER_JSON_STRICT_H

#include <stdbool.h>
#include <stddef.h>

/* Deeper nesting is refused; the same limit as cJSON's, so whatever passes here cJSON can build. */
#define JSON_STRICT_MAX_DEPTH 1000

/* True when text[0..len) is exactly one JSON value with optional whitespace (space, tab, LF, CR)
 * around it. Otherwise false, and reason gets "at byte N: <problem>" (N counted from 0). */
bool json_strict_check(const char *text, size_t len, char *reason, size_t reason_cap);

#endif
