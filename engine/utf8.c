#include "utf8.h"

#include <stdlib.h>
#include <string.h>

size_t utf8_sequence_length(const unsigned char *p, size_t left)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xc2 && p[0] <= 0xdf   ? 2
                 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
                 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                                : 0;
    if (len == 0 || len > left)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    return len;
}

bool utf8_valid(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    for (size_t at = 0; at < len;) {
        size_t n = utf8_sequence_length(p + at, len - at);
        if (n == 0)
            return false;
        at += n;
    }
    return true;
}

char *utf8_replace_invalid(const char *text, size_t len)
{
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)text;
    for (size_t at = 0; at < len;) {
        size_t n = utf8_sequence_length(p + at, len - at);
        if (n == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            at++;
            continue;
        }
        memcpy(out + o, p + at, n);
        o += n;
        at += n;
    }
    out[o] = '\0';
    return out;
}

static int repair_string(char **slot)
{
    if (!*slot || utf8_valid(*slot, strlen(*slot)))
        return 0;
    char *fixed = utf8_replace_invalid(*slot, strlen(*slot));
    if (!fixed)
        return -1;
    free(*slot);
    *slot = fixed;
    return 1;
}

int utf8_repair_json(cJSON *item)
{
    int repaired = 0;
    for (; item; item = item->next) {
        int a = (item->type & cJSON_StringIsConst) ? 0 : repair_string(&item->string);
        int b = cJSON_IsString(item) ? repair_string(&item->valuestring) : 0;
        int c = item->child ? utf8_repair_json(item->child) : 0;
        if (a < 0 || b < 0 || c < 0)
            return -1;
        repaired += a + b + c;
    }
    return repaired;
}
