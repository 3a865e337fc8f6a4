/* An integer as a JSON number that reads back as the same integer. cJSON prints a number with 15
 * significant digits when that reads back "close enough" (within a relative DBL_EPSILON), so an
 * integer of 16 digits (a checkpoint key or id from 10^15 on) could be written as 6.25e+15 and
 * read back as another one. */
#ifndef EVENT_ROUTER_JSON_INTEGER_H
#define EVENT_ROUTER_JSON_INTEGER_H

#include <cjson/cJSON.h>
#include <stdint.h>

/* A number item for value, written with every digit; NULL when out of memory. */
cJSON *json_int64(int64_t value);

#endif
