/* IP addresses and CIDR blocks, read the way EventBridge reads them: a value is an address only
 * when it is shaped like one (digits.digits.digits.digits, or hex digits and colons with at
 * least one colon) and then parses as one; IPv4-mapped IPv6 addresses count as IPv4. */
#include "event_pattern_internal.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex_or_colon(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':';
}

static bool shaped_like_ipv4(const char *t, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || t[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        while (i < len && is_digit(t[i]))
            i++;
        if (i == start)
            return false;
    }
    return i == len;
}

static bool shaped_like_ipv6(const char *t, size_t len)
{
    bool colon = false;
    for (size_t i = 0; i < len; i++) {
        if (!is_hex_or_colon(t[i]))
            return false;
        colon = colon || t[i] == ':';
    }
    return colon;
}

static int parse_ipv4(const char *t, size_t len, unsigned char out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0)
            i++; /* the dot, checked by shaped_like_ipv4 */
        size_t start = i;
        unsigned value = 0;
        while (i < len && is_digit(t[i])) {
            value = value * 10 + (unsigned)(t[i] - '0');
            if (value > 255)
                return -1;
            i++;
        }
        /* Java refuses "010.0.0.1" (octal or decimal?) as ambiguous. */
        if (i - start > 1 && t[start] == '0')
            return -1;
        out[part] = (unsigned char)value;
    }
    return 4;
}

int ep_ip_parse(const char *text, size_t len, unsigned char out[16])
{
    if (shaped_like_ipv4(text, len))
        return parse_ipv4(text, len, out);
    if (!shaped_like_ipv6(text, len))
        return 0;
    char copy[INET6_ADDRSTRLEN + 1];
    if (len >= sizeof copy)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    unsigned char v6[16];
    if (inet_pton(AF_INET6, copy, v6) != 1)
        return -1;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(v6, mapped, sizeof mapped) == 0) {
        memcpy(out, v6 + 12, 4);
        return 4;
    }
    memcpy(out, v6, 16);
    return 16;
}

/* Java's Integer.parseInt: an optional sign and decimal digits that fit an int. */
static bool parse_java_int(const char *t, size_t len, long *out)
{
    size_t i = 0;
    bool negative = false;
    if (i < len && (t[i] == '+' || t[i] == '-')) {
        negative = t[i] == '-';
        i++;
    }
    if (i == len)
        return false;
    long value = 0;
    for (; i < len; i++) {
        if (!is_digit(t[i]))
            return false;
        value = value * 10 + (t[i] - '0');
        if (value > (long)INT_MAX + 1)
            return false;
    }
    value = negative ? -value : value;
    if (value > INT_MAX)
        return false;
    *out = value;
    return true;
}

bool ep_cidr_parse(const char *text, size_t len, unsigned char low[16], unsigned char high[16],
                   int *bytes, char *message, size_t cap)
{
    /* Java's String.split("/") drops trailing empty parts, so "10.0.0.0/8/" has two parts. */
    size_t end = len;
    while (end > 0 && text[end - 1] == '/')
        end--;
    size_t slashes = 0, slash = 0;
    for (size_t i = 0; i < end; i++) {
        if (text[i] == '/') {
            slashes++;
            slash = i;
        }
    }
    if (slashes != 1) {
        snprintf(message, cap, "Malformed CIDR, one '/' required");
        return false;
    }
    long mask;
    if (!parse_java_int(text + slash + 1, end - slash - 1, &mask)) {
        snprintf(message, cap, "Malformed CIDR, mask bits must be an integer");
        return false;
    }
    if (mask < 0) {
        snprintf(message, cap, "Malformed CIDR, mask bits must not be negative");
        return false;
    }
    unsigned char base[16];
    int n = ep_ip_parse(text, slash, base);
    if (n == 0) {
        snprintf(message, cap, "Nonstandard IP address: %.*s", (int)slash, text);
        return false;
    }
    if (n < 0) {
        snprintf(message, cap, "Invalid IP address: %.*s", (int)slash, text);
        return false;
    }
    if (n == 4 && mask > 31) {
        snprintf(message, cap, "IPv4 mask bits must be < 32");
        return false;
    }
    if (n == 16 && mask > 127) {
        snprintf(message, cap, "IPv6 mask bits must be < 128");
        return false;
    }
    for (int i = 0; i < n; i++) {
        long fixed = mask - 8L * i; /* bits of this byte that the mask keeps */
        unsigned char keep = fixed >= 8   ? 0xFF
                             : fixed <= 0 ? 0x00
                                          : (unsigned char)(0xFF << (8 - fixed));
        low[i] = base[i] & keep;
        high[i] = base[i] | (unsigned char)~keep;
    }
    *bytes = n;
    return true;
}
