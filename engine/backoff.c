#include "backoff.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double backoff_delay_seconds(int attempt, double initial, double max, double random01)
{
    if (attempt < 1)
        attempt = 1;
    /* Past ~60 doublings the cap always wins; stop before pow() overflows to inf. */
    double ceiling = attempt > 60 ? max : initial * pow(2.0, attempt - 1);
    if (ceiling > max)
        ceiling = max;
    if (random01 < 0)
        random01 = 0;
    if (random01 >= 1)
        random01 = 0.999999;
    return ceiling * random01;
}

double backoff_reconnect_delay_seconds(int failures, double initial, double max, double random01)
{
    double ceiling = initial * pow(2.0, failures < 16 ? failures : 16);
    if (ceiling > max)
        ceiling = max;
    return ceiling * (0.5 + 0.5 * random01);
}

double backoff_parse_retry_after(const char *value, time_t now)
{
    if (!value)
        return -1;
    while (isspace((unsigned char)*value))
        value++;
    if (isdigit((unsigned char)*value)) {
        char *end;
        double seconds = strtod(value, &end);
        while (isspace((unsigned char)*end))
            end++;
        return *end == '\0' ? seconds : -1;
    }
    /* HTTP-date, IMF-fixdate form: "Sun, 06 Nov 1994 08:49:37 GMT". */
    struct tm tm = {0};
    const char *rest = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!rest)
        return -1;
    time_t when = timegm(&tm);
    double delay = difftime(when, now);
    return delay > 0 ? delay : 0;
}
