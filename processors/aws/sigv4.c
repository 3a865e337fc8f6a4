/* AWS Signature Version 4: the four steps and the chain that runs them for one request. */
#include "processors/aws/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char hex_digits[] = "0123456789abcdef";

void sigv4_text_free(sigv4_text *text)
{
    free(text->data);
    memset(text, 0, sizeof *text);
}

static void text_append(sigv4_text *text, const char *data, size_t len)
{
    if (text->failed)
        return;
    if (text->len + len + 1 > text->cap) {
        size_t cap = text->cap ? text->cap : 256;
        while (cap < text->len + len + 1)
            cap *= 2;
        char *grown = realloc(text->data, cap);
        if (!grown) {
            text->failed = true;
            return;
        }
        text->data = grown;
        text->cap = cap;
    }
    memcpy(text->data + text->len, data, len);
    text->len += len;
    text->data[text->len] = '\0';
}

static void text_puts(sigv4_text *text, const char *s)
{
    text_append(text, s, strlen(s));
}

static void text_putc(sigv4_text *text, char c)
{
    text_append(text, &c, 1);
}

/* Empties text for reuse, keeping its memory. */
static void text_reset(sigv4_text *text)
{
    text->len = 0;
    text->failed = false;
    if (text->data)
        text->data[0] = '\0';
}

static void hex_encode(const unsigned char *bytes, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[bytes[i] >> 4];
        out[2 * i + 1] = hex_digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_SHA256_HEX_SIZE])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(data, len, digest);
    hex_encode(digest, sizeof digest, out);
}

void sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_SIZE])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, SIGV4_AMZ_DATE_SIZE, "%Y%m%dT%H%M%SZ", &tm);
}

int sigv4_credential_scope(const char *amz_date, const char *region, const char *service, char *out,
                           size_t cap)
{
    int n = snprintf(out, cap, "%.8s/%s/%s/aws4_request", amz_date, region, service);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---- step 1: canonical request ------------------------------------------------------------ */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* AWS's UriEncode: every byte but the unreserved ones as %XX (upper-case hex). */
static void uri_encode(sigv4_text *out, const char *data, size_t len, bool keep_slash)
{
    static const char upper[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            text_putc(out, (char)c);
        } else {
            char escaped[3] = {'%', upper[c >> 4], upper[c & 15]};
            text_append(out, escaped, 3);
        }
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A query component is percent-decoded first so that "%E1%88%B4" and the raw bytes sign alike. */
static void uri_reencode(sigv4_text *out, const char *data, size_t len)
{
    sigv4_text decoded = {0};
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (data[i] == '%' && i + 2 < len && (hi = hex_value(data[i + 1])) >= 0 &&
            (lo = hex_value(data[i + 2])) >= 0) {
            text_putc(&decoded, (char)(hi * 16 + lo));
            i += 2;
        } else {
            text_putc(&decoded, data[i]);
        }
    }
    if (decoded.failed)
        out->failed = true;
    else
        uri_encode(out, decoded.data ? decoded.data : "", decoded.len, false);
    sigv4_text_free(&decoded);
}

/* RFC 3986 dot-segment removal plus collapsing empty segments, as AWS normalizes non-S3 paths:
 * "//a/./b/../c/" -> "/a/c/". A path ending in a segment (not "." or "..") keeps no slash. */
static void canonical_path(sigv4_text *out, const char *path, bool normalize)
{
    if (!path || !*path)
        path = "/";
    if (!normalize) {
        uri_encode(out, path, strlen(path), true);
        return;
    }
    size_t len = strlen(path);
    /* Start offsets of the kept segments; a path cannot have more segments than bytes. */
    size_t *starts = malloc((len + 1) * sizeof *starts);
    size_t *lens = malloc((len + 1) * sizeof *lens);
    if (!starts || !lens) {
        free(starts);
        free(lens);
        out->failed = true;
        return;
    }
    size_t kept = 0;
    bool trailing_slash = false;
    for (size_t i = 0; i < len;) {
        while (i < len && path[i] == '/')
            i++;
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        size_t seg = i - start;
        if (seg == 0) { /* only at the end, after the slashes that end the path */
            trailing_slash = true;
            continue;
        }
        trailing_slash = i < len; /* a slash follows */
        if (seg == 1 && path[start] == '.') {
            trailing_slash = true;
        } else if (seg == 2 && path[start] == '.' && path[start + 1] == '.') {
            if (kept > 0)
                kept--;
            trailing_slash = true;
        } else {
            starts[kept] = start;
            lens[kept] = seg;
            kept++;
        }
    }
    text_putc(out, '/');
    for (size_t k = 0; k < kept; k++) {
        if (k > 0)
            text_putc(out, '/');
        uri_encode(out, path + starts[k], lens[k], false);
    }
    if (kept > 0 && trailing_slash)
        text_putc(out, '/');
    free(starts);
    free(lens);
}

typedef struct query_pair {
    sigv4_text key;
    sigv4_text value;
} query_pair;

static int compare_query_pairs(const void *a, const void *b)
{
    const query_pair *x = a, *y = b;
    int by_key = strcmp(x->key.data ? x->key.data : "", y->key.data ? y->key.data : "");
    if (by_key)
        return by_key;
    return strcmp(x->value.data ? x->value.data : "", y->value.data ? y->value.data : "");
}

/* Parameters sorted by encoded name, then value; "a" without '=' signs as "a=". */
static void canonical_query(sigv4_text *out, const char *query)
{
    if (!query || !*query)
        return;
    size_t count = 1;
    for (const char *p = query; *p; p++)
        count += *p == '&';
    query_pair *pairs = calloc(count, sizeof *pairs);
    if (!pairs) {
        out->failed = true;
        return;
    }
    size_t used = 0;
    for (const char *p = query; used < count;) {
        const char *end = strchr(p, '&');
        if (!end)
            end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (end > p) {
            query_pair *pair = &pairs[used++];
            uri_reencode(&pair->key, p, (size_t)((eq ? eq : end) - p));
            text_append(&pair->value, "", 0);
            if (eq)
                uri_reencode(&pair->value, eq + 1, (size_t)(end - eq - 1));
            if (pair->key.failed || pair->value.failed)
                out->failed = true;
        } else {
            count--;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    if (!out->failed) {
        qsort(pairs, used, sizeof *pairs, compare_query_pairs);
        for (size_t i = 0; i < used; i++) {
            if (i > 0)
                text_putc(out, '&');
            text_append(out, pairs[i].key.data, pairs[i].key.len);
            text_putc(out, '=');
            text_append(out, pairs[i].value.data, pairs[i].value.len);
        }
    }
    for (size_t i = 0; i < used; i++) {
        sigv4_text_free(&pairs[i].key);
        sigv4_text_free(&pairs[i].value);
    }
    free(pairs);
}

typedef struct header_ref {
    const http_header *header;
    size_t order; /* position in the request: values of one name join in this order */
} header_ref;

static int compare_header_refs(const void *a, const void *b)
{
    const header_ref *x = a, *y = b;
    int by_name = strcasecmp(x->header->name, y->header->name);
    if (by_name)
        return by_name;
    return x->order < y->order ? -1 : x->order > y->order;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trimmed, with every run of white space (folded lines included) as one space. */
static void canonical_header_value(sigv4_text *out, const char *value)
{
    while (*value && is_space(*value))
        value++;
    while (*value) {
        if (is_space(*value)) {
            while (*value && is_space(*value))
                value++;
            if (*value)
                text_putc(out, ' ');
            continue;
        }
        const char *run = value;
        while (*value && !is_space(*value))
            value++;
        text_append(out, run, (size_t)(value - run));
    }
}

static void lower_append(sigv4_text *out, const char *name)
{
    for (; *name; name++) {
        char c = *name;
        text_putc(out, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
    }
}

int sigv4_canonical_request(const sigv4_request *request, sigv4_text *canonical,
                            sigv4_text *signed_headers)
{
    text_reset(canonical);
    text_reset(signed_headers);
    text_puts(canonical, request->method);
    text_putc(canonical, '\n');
    canonical_path(canonical, request->path, request->normalize_path);
    text_putc(canonical, '\n');
    canonical_query(canonical, request->query);
    text_putc(canonical, '\n');

    header_ref small[16];
    header_ref *refs =
        request->header_count <= 16 ? small : malloc(request->header_count * sizeof *refs);
    if (!refs)
        return -1;
    for (size_t i = 0; i < request->header_count; i++)
        refs[i] = (header_ref){&request->headers[i], i};
    qsort(refs, request->header_count, sizeof *refs, compare_header_refs);
    for (size_t i = 0; i < request->header_count; i++) {
        bool same_name = i > 0 && strcasecmp(refs[i].header->name, refs[i - 1].header->name) == 0;
        if (same_name) {
            text_putc(canonical, ',');
        } else {
            if (i > 0) {
                text_putc(canonical, '\n');
                text_putc(signed_headers, ';');
            }
            lower_append(canonical, refs[i].header->name);
            lower_append(signed_headers, refs[i].header->name);
            text_putc(canonical, ':');
        }
        canonical_header_value(canonical, refs[i].header->value ? refs[i].header->value : "");
    }
    if (refs != small)
        free(refs);
    text_puts(canonical, "\n\n");
    text_append(canonical, signed_headers->data ? signed_headers->data : "", signed_headers->len);
    text_putc(canonical, '\n');
    text_puts(canonical, request->payload_hash);
    return canonical->failed || signed_headers->failed ? -1 : 0;
}

/* ---- step 2: string to sign --------------------------------------------------------------- */

int sigv4_string_to_sign(const char *amz_date, const char *scope, const sigv4_text *canonical,
                         sigv4_text *out)
{
    char hash[SIGV4_SHA256_HEX_SIZE];
    sigv4_sha256_hex(canonical->data ? canonical->data : "", canonical->len, hash);
    text_reset(out);
    text_puts(out, "AWS4-HMAC-SHA256\n");
    text_puts(out, amz_date);
    text_putc(out, '\n');
    text_puts(out, scope);
    text_putc(out, '\n');
    text_puts(out, hash);
    return out->failed ? -1 : 0;
}

/* ---- step 3: signing key ------------------------------------------------------------------ */

static int hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[SIGV4_KEY_SIZE])
{
    unsigned int out_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) ||
        out_len != SIGV4_KEY_SIZE)
        return -1;
    return 0;
}

int sigv4_signing_key(const char *secret_access_key, const char *date8, const char *region,
                      const char *service, unsigned char key[SIGV4_KEY_SIZE])
{
    size_t secret_len = strlen(secret_access_key);
    unsigned char *seed = malloc(secret_len + 4);
    if (!seed)
        return -1;
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret_access_key, secret_len);
    unsigned char k_date[SIGV4_KEY_SIZE], k_region[SIGV4_KEY_SIZE], k_service[SIGV4_KEY_SIZE];
    int rc = hmac_sha256(seed, secret_len + 4, date8, 8, k_date);
    rc = rc ? rc : hmac_sha256(k_date, sizeof k_date, region, strlen(region), k_region);
    rc = rc ? rc : hmac_sha256(k_region, sizeof k_region, service, strlen(service), k_service);
    rc = rc ? rc : hmac_sha256(k_service, sizeof k_service, "aws4_request", 12, key);
    OPENSSL_cleanse(seed, secret_len + 4);
    OPENSSL_cleanse(k_date, sizeof k_date);
    OPENSSL_cleanse(k_region, sizeof k_region);
    OPENSSL_cleanse(k_service, sizeof k_service);
    free(seed);
    return rc;
}

/* ---- step 4: authorization header --------------------------------------------------------- */

int sigv4_authorization_header(const char *access_key_id, const char *scope,
                               const sigv4_text *signed_headers,
                               const unsigned char key[SIGV4_KEY_SIZE],
                               const sigv4_text *string_to_sign, sigv4_text *out)
{
    unsigned char signature[SIGV4_KEY_SIZE];
    if (hmac_sha256(key, SIGV4_KEY_SIZE, string_to_sign->data ? string_to_sign->data : "",
                    string_to_sign->len, signature) != 0)
        return -1;
    char signature_hex[SIGV4_SHA256_HEX_SIZE];
    hex_encode(signature, sizeof signature, signature_hex);
    text_reset(out);
    text_puts(out, "AWS4-HMAC-SHA256 Credential=");
    text_puts(out, access_key_id);
    text_putc(out, '/');
    text_puts(out, scope);
    text_puts(out, ", SignedHeaders=");
    text_append(out, signed_headers->data ? signed_headers->data : "", signed_headers->len);
    text_puts(out, ", Signature=");
    text_puts(out, signature_hex);
    return out->failed ? -1 : 0;
}

/* ---- the chain ---------------------------------------------------------------------------- */

/* The cached key is reused only for the same day, region, service and secret. */
static int signer_key(sigv4_signer *signer, const sigv4_context *context)
{
    const char *secret = context->credentials.secret_access_key;
    unsigned char digest[32];
    SHA256((const unsigned char *)secret, strlen(secret), digest);
    if (signer->key_valid && strncmp(signer->key_date8, signer->amz_date, 8) == 0 &&
        strcmp(signer->key_region, context->region) == 0 &&
        strcmp(signer->key_service, context->service) == 0 &&
        CRYPTO_memcmp(signer->key_secret_digest, digest, sizeof digest) == 0)
        return 0;
    signer->key_valid = false;
    if (strlen(context->region) >= sizeof signer->key_region ||
        strlen(context->service) >= sizeof signer->key_service)
        return -1;
    if (sigv4_signing_key(secret, signer->amz_date, context->region, context->service,
                          signer->key) != 0)
        return -1;
    memcpy(signer->key_date8, signer->amz_date, 8);
    signer->key_date8[8] = '\0';
    strcpy(signer->key_region, context->region);
    strcpy(signer->key_service, context->service);
    memcpy(signer->key_secret_digest, digest, sizeof digest);
    signer->key_valid = true;
    return 0;
}

int sigv4_sign(sigv4_signer *signer, const sigv4_context *context, const sigv4_request *request,
               const void *body, size_t body_len)
{
    signer->added_count = 0;
    sigv4_amz_date(context->now, signer->amz_date);
    sigv4_sha256_hex(body ? body : "", body_len, signer->payload_hash);
    char scope[256];
    if (sigv4_credential_scope(signer->amz_date, context->region, context->service, scope,
                               sizeof scope) != 0)
        return -1;

    const char *token = context->credentials.session_token;
    bool has_token = token && *token;
    http_header extra[3];
    size_t extra_count = 0, added = 0;
    extra[extra_count++] = (http_header){"x-amz-date", signer->amz_date};
    if (has_token && !context->unsigned_session_token)
        extra[extra_count++] = (http_header){"x-amz-security-token", token};
    if (context->add_content_sha256)
        extra[extra_count++] = (http_header){"x-amz-content-sha256", signer->payload_hash};

    size_t total = request->header_count + extra_count;
    http_header small[24];
    http_header *all = total <= 24 ? small : malloc(total * sizeof *all);
    if (!all)
        return -1;
    if (request->header_count)
        memcpy(all, request->headers, request->header_count * sizeof *all);
    memcpy(all + request->header_count, extra, extra_count * sizeof *all);
    sigv4_request full = *request;
    full.headers = all;
    full.header_count = total;
    full.payload_hash = signer->payload_hash;

    int rc = sigv4_canonical_request(&full, &signer->canonical, &signer->signed_headers);
    if (all != small)
        free(all);
    rc = rc ? rc
            : sigv4_string_to_sign(signer->amz_date, scope, &signer->canonical,
                                   &signer->string_to_sign);
    rc = rc ? rc : signer_key(signer, context);
    rc = rc ? rc
            : sigv4_authorization_header(context->credentials.access_key_id, scope,
                                         &signer->signed_headers, signer->key,
                                         &signer->string_to_sign, &signer->authorization);
    if (rc != 0)
        return -1;
    signer->added[added++] = (http_header){"X-Amz-Date", signer->amz_date};
    if (has_token)
        signer->added[added++] = (http_header){"X-Amz-Security-Token", token};
    if (context->add_content_sha256)
        signer->added[added++] = (http_header){"x-amz-content-sha256", signer->payload_hash};
    signer->added[added++] = (http_header){"Authorization", signer->authorization.data};
    signer->added_count = added;
    return 0;
}

void sigv4_signer_free(sigv4_signer *signer)
{
    if (signer->canonical.data)
        OPENSSL_cleanse(signer->canonical.data, signer->canonical.cap);
    sigv4_text_free(&signer->canonical);
    sigv4_text_free(&signer->signed_headers);
    sigv4_text_free(&signer->string_to_sign);
    sigv4_text_free(&signer->authorization);
    OPENSSL_cleanse(signer->key, sizeof signer->key);
    memset(signer, 0, sizeof *signer);
}
