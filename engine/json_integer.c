#include "json_integer.h"

#include <inttypes.h>
#include <stdio.h>

cJSON *json_int64(int64_t value)
{
    /* Up to 15 digits cJSON's own printing is exact; beyond, the digits go in as they are. */
    if (value > -1000000000000000LL && value < 1000000000000000LL)
        return cJSON_CreateNumber((double)value);
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRId64, value);
    return cJSON_CreateRaw(digits);
}
