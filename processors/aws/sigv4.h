/* AWS Signature Version 4 (AWS4-HMAC-SHA256), header form, as four pure steps named after AWS's
 * own: canonical request, string to sign, signing key, authorization header. No clock, no
 * environment, no I/O: the time and the credentials are inputs, so the official test suite and
 * our callers drive exactly the same code. sigv4_sign() chains the four for one request.
 *
 * It lives beside the AWS processor rather than in engine/http: only AWS endpoints speak it, and
 * it needs nothing from the engine except the http_header pair. */
#ifndef EVENT_ROUTER_AWS_SIGV4_H
#define EVENT_ROUTER_AWS_SIGV4_H

#include "http/http_client.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SIGV4_SHA256_HEX_SIZE 65 /* 64 hex digits and a NUL */
#define SIGV4_AMZ_DATE_SIZE 17   /* "20150830T123600Z" and a NUL */
#define SIGV4_KEY_SIZE 32

/* A growable NUL-terminated text owned by its holder (sigv4_text_free). A failed allocation
 * sets failed and keeps the text as it was; the steps then return -1. */
typedef struct sigv4_text {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} sigv4_text;

void sigv4_text_free(sigv4_text *text);

typedef struct sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key; /* secret */
    const char *session_token;     /* secret; NULL for long-term keys */
} sigv4_credentials;

typedef struct sigv4_request {
    const char *method;
    const char *path;           /* as the application means it, not percent-encoded ("/a b/") */
    const char *query;          /* what follows '?', may be percent-encoded; NULL or "" for none */
    const http_header *headers; /* every header to sign, names in any case (host included) */
    size_t header_count;
    const char *payload_hash; /* hex SHA-256 of the body */
    bool normalize_path;      /* remove "." and ".." segments and empty ones (all but S3) */
} sigv4_request;

/* "20150830T123600Z" for t (UTC). */
void sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_SIZE]);
/* Lower-case hex SHA-256 of data. */
void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_SHA256_HEX_SIZE]);
/* "20150830/us-east-1/service/aws4_request" into out; -1 when it does not fit. */
int sigv4_credential_scope(const char *amz_date, const char *region, const char *service, char *out,
                           size_t cap);

/* Step 1. The canonical request (method, URI, query, headers, signed headers, payload hash) into
 * canonical, and the signed-header list ("host;x-amz-date") into signed_headers. Both are
 * replaced. Returns 0, or -1 when out of memory. */
int sigv4_canonical_request(const sigv4_request *request, sigv4_text *canonical,
                            sigv4_text *signed_headers);

/* Step 2. "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of canonical>" into out. */
int sigv4_string_to_sign(const char *amz_date, const char *scope, const sigv4_text *canonical,
                         sigv4_text *out);

/* Step 3. HMAC chain "AWS4"+secret -> date (YYYYMMDD) -> region -> service -> "aws4_request".
 * The key is as secret as the secret it came from. Returns 0, or -1 on a crypto failure. */
int sigv4_signing_key(const char *secret_access_key, const char *date8, const char *region,
                      const char *service, unsigned char key[SIGV4_KEY_SIZE]);

/* Step 4. Signs string_to_sign with key and writes the Authorization header's value:
 * "AWS4-HMAC-SHA256 Credential=<id>/<scope>, SignedHeaders=<list>, Signature=<hex>". */
int sigv4_authorization_header(const char *access_key_id, const char *scope,
                               const sigv4_text *signed_headers,
                               const unsigned char key[SIGV4_KEY_SIZE],
                               const sigv4_text *string_to_sign, sigv4_text *out);

/* What sigv4_sign needs beyond the request itself. */
typedef struct sigv4_context {
    sigv4_credentials credentials;
    const char *region;
    const char *service;
    time_t now;
    bool add_content_sha256;     /* also send and sign x-amz-content-sha256 (S3 style) */
    bool unsigned_session_token; /* send x-amz-security-token but leave it out of the signature
                                    (the few services that want it added after signing) */
} sigv4_context;

/* A signer keeps its buffers and the last signing key (valid for one day, region, service and
 * secret) between requests, so signing a stream of requests allocates nothing and derives the
 * key once a day. Zero-initialise; sigv4_signer_free when done. */
typedef struct sigv4_signer {
    sigv4_text canonical;
    sigv4_text signed_headers;
    sigv4_text string_to_sign;
    sigv4_text authorization;
    char amz_date[SIGV4_AMZ_DATE_SIZE];
    char payload_hash[SIGV4_SHA256_HEX_SIZE];
    /* The headers the caller must add to the request it sends: x-amz-date, then
     * x-amz-security-token when there is one, x-amz-content-sha256 when asked, Authorization.
     * Valid until the next sigv4_sign or sigv4_signer_free. */
    http_header added[4];
    size_t added_count;
    /* Key cache: what the key was derived for. secret_digest is a SHA-256 of the secret so the
     * secret itself is not kept here. */
    bool key_valid;
    unsigned char key[SIGV4_KEY_SIZE];
    char key_date8[9];
    char key_region[64];
    char key_service[64];
    unsigned char key_secret_digest[32];
} sigv4_signer;

/* Signs request (its payload_hash is ignored: it is computed from body) and fills signer->added.
 * The canonical request and the string to sign stay readable in the signer for tests and
 * debugging (they hold no secret; with a signed session token the canonical request does).
 * Returns 0, or -1 with nothing added (out of memory, region/service too long). */
int sigv4_sign(sigv4_signer *signer, const sigv4_context *context, const sigv4_request *request,
               const void *body, size_t body_len);
void sigv4_signer_free(sigv4_signer *signer);

#endif
