/* Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), which
 * every CloudEvents string attribute and every JSON text must be. Used at intake (to refuse or
 * repair what is not) and by the dead-letter writer (to keep its lines valid). */
#ifndef EVENT_ROUTER_UTF8_H
#define EVENT_ROUTER_UTF8_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* The length of the UTF-8 sequence at p (left bytes available), or 0 when it is not one. */
size_t utf8_sequence_length(const unsigned char *p, size_t left);
bool utf8_valid(const char *text, size_t len);
/* A malloc'd NUL-terminated copy where each byte that is not part of valid UTF-8 became U+FFFD;
 * NULL when out of memory. */
char *utf8_replace_invalid(const char *text, size_t len);

/* Repairs a JSON tree in place: every string value and member name that is not valid UTF-8 has
 * its bad bytes replaced by U+FFFD. Returns how many strings were repaired, or -1 when out of
 * memory. For sources that cannot refuse what they read (a polled API): the event is kept, and
 * stays deliverable to a strict receiver. */
int utf8_repair_json(cJSON *item);

#endif
