#include "http/basic_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CREDENTIALS 1024

static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with optional padding and trailing blanks; false when malformed or too long. */
static bool base64_decode(const char *text, unsigned char *out, size_t cap, size_t *out_len)
{
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == ' ')
        len--;
    while (len > 0 && text[len - 1] == '=')
        len--;
    if (len == 0 || len % 4 == 1)
        return false;
    uint32_t bits = 0;
    int bit_count = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value(text[i]);
        if (v < 0)
            return false;
        bits = (bits << 6) | (uint32_t)v;
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            if (n == cap)
                return false;
            out[n++] = (unsigned char)(bits >> bit_count);
        }
    }
    *out_len = n;
    return true;
}

static bool sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int out_len = 0;
    return EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) == 1 && out_len == 32;
}

bool basic_auth_init(basic_auth *auth, const char *username, const char *password)
{
    memset(auth, 0, sizeof *auth);
    size_t user_len = strlen(username), password_len = strlen(password);
    char *joined = malloc(user_len + 1 + password_len);
    if (!joined)
        return false;
    memcpy(joined, username, user_len);
    joined[user_len] = ':';
    memcpy(joined + user_len + 1, password, password_len);
    bool ok = sha256(joined, user_len + 1 + password_len, auth->digest);
    OPENSSL_cleanse(joined, user_len + 1 + password_len);
    free(joined);
    auth->required = ok;
    return ok;
}

bool basic_auth_allows(const basic_auth *auth, const http_request *request)
{
    if (!auth->required)
        return true;
    const char *header = http_request_header(request, "authorization");
    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return false;
    const char *encoded = header + 6;
    while (*encoded == ' ')
        encoded++;
    unsigned char decoded[MAX_CREDENTIALS];
    size_t decoded_len;
    if (!base64_decode(encoded, decoded, sizeof decoded, &decoded_len))
        return false;
    unsigned char got[32];
    bool ok = sha256(decoded, decoded_len, got) && CRYPTO_memcmp(got, auth->digest, 32) == 0;
    OPENSSL_cleanse(decoded, sizeof decoded);
    return ok;
}
