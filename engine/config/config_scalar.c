#include "config/config_scalar.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool config_parse_bool(const char *text, bool *out)
{
    static const char *const truthy[] = {"true", "True", "TRUE", "yes", "Yes",
                                         "YES",  "on",   "On",   "ON"};
    static const char *const falsy[] = {"false", "False", "FALSE", "no", "No",
                                        "NO",    "off",   "Off",   "OFF"};
    for (size_t i = 0; i < sizeof truthy / sizeof *truthy; i++) {
        if (strcmp(text, truthy[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(text, falsy[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

bool config_parse_long(const char *text, long min, long max, long *out)
{
    if (!*text || isspace((unsigned char)*text))
        return false;
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || value < min || value > max)
        return false;
    *out = value;
    return true;
}

/* Reads an unsigned decimal number (digits with an optional fraction) without locale effects. */
static bool read_number(const char **cursor, double *out)
{
    const char *p = *cursor;
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
        return false;
    double value = 0;
    while (isdigit((unsigned char)*p))
        value = value * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        double scale = 0.1;
        while (isdigit((unsigned char)*p)) {
            value += (*p++ - '0') * scale;
            scale /= 10;
        }
    }
    *cursor = p;
    *out = value;
    return true;
}

bool config_parse_duration(const char *text, double *seconds)
{
    static const struct {
        const char *suffix;
        double seconds;
    } units[] = {{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}};
    const char *p = text;
    double number;
    if (!read_number(&p, &number))
        return false;
    if (*p == '\0') { /* a bare number means seconds */
        *seconds = number;
        return true;
    }
    double total = 0;
    for (;;) {
        size_t matched = 0;
        double scale = 0;
        for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
            size_t len = strlen(units[i].suffix);
            if (strncmp(p, units[i].suffix, len) == 0 && !isalpha((unsigned char)p[len])) {
                matched = len;
                scale = units[i].seconds;
                break;
            }
        }
        if (!matched)
            return false;
        total += number * scale;
        p += matched;
        if (*p == '\0')
            break;
        if (!read_number(&p, &number))
            return false;
    }
    if (!isfinite(total))
        return false;
    *seconds = total;
    return true;
}

bool config_parse_size(const char *text, size_t *bytes)
{
    static const struct {
        const char *suffix;
        double multiplier;
    } units[] = {{"", 1},      {"B", 1},     {"KiB", 1024}, {"MiB", 1048576}, {"GiB", 1073741824.0},
                 {"KB", 1000}, {"kB", 1000}, {"MB", 1e6},   {"GB", 1e9}};
    const char *p = text;
    double number;
    if (!read_number(&p, &number))
        return false;
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            double value = number * units[i].multiplier;
            if (value > (double)(SIZE_MAX / 2))
                return false;
            *bytes = (size_t)value;
            return true;
        }
    }
    return false;
}

bool config_is_host_port(const char *text)
{
    const char *colon;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close == text + 1 || close[1] != ':')
            return false;
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || memchr(text, ':', (size_t)(colon - text)))
            return false; /* a bare IPv6 address needs brackets */
        for (const char *c = text; c < colon; c++)
            if (isspace((unsigned char)*c) || *c == '/')
                return false;
    }
    long port;
    for (const char *c = colon + 1; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    return config_parse_long(colon + 1, 0, 65535, &port);
}
