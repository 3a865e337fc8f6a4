/* Userinfo removal. See url_userinfo.h for the contract. */
#include "http/url_userinfo.h"

#include <stdlib.h>
#include <string.h>

char *url_without_userinfo(const char *url)
{
    const char *scheme_end = strstr(url, "://");
    const char *authority = scheme_end ? scheme_end + 3 : url;
    size_t authority_len = strcspn(authority, "/?#");
    const char *at = NULL;
    for (const char *p = authority; p < authority + authority_len; p++)
        if (*p == '@')
            at = p;
    if (!at)
        return strdup(url);
    size_t prefix = (size_t)(authority - url);
    char *copy = malloc(strlen(url) + 1);
    if (copy) {
        memcpy(copy, url, prefix);
        strcpy(copy + prefix, at + 1);
    }
    return copy;
}
