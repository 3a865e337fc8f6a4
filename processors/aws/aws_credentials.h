/* AWS credentials and the pure readers of the places they come from: the shared credentials
 * file, STS's AssumeRoleWithWebIdentity answer (XML), and the JSON the ECS container endpoint and
 * EC2 instance metadata (IMDS) serve. No I/O here; aws_credentials_provider.h fetches. Every
 * reader registers the secrets it returns with the log's mask before returning them. */
#ifndef EVENT_ROUTER_AWS_CREDENTIALS_H
#define EVENT_ROUTER_AWS_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct aws_credentials {
    char *access_key_id;     /* not secret: errors name it */
    char *secret_access_key; /* secret */
    char *session_token;     /* secret; NULL for long-term keys */
    double expiration;       /* seconds since the epoch; 0: does not expire */
    const char *source;      /* "environment", "shared credentials file", ... (static text) */
} aws_credentials;

void aws_credentials_clear(aws_credentials *credentials);
/* A deep copy of src into dst (dst cleared first). Returns 0, or -1 when out of memory. */
int aws_credentials_copy(aws_credentials *dst, const aws_credentials *src);
/* Builds credentials from the three strings (copied; session_token may be NULL or "") and
 * registers the secrets with the log's mask. -1 when a key is missing or out of memory. */
int aws_credentials_set(aws_credentials *out, const char *access_key_id,
                        const char *secret_access_key, const char *session_token, double expiration,
                        const char *source);

/* "2014-10-24T23:00:23Z", with optional fractional seconds and a Z or +hh:mm / -hh:mm offset,
 * into seconds since the epoch. false for anything else. */
bool aws_parse_iso8601(const char *text, double *out);

/* The [profile] of a shared credentials file (INI: aws_access_key_id, aws_secret_access_key,
 * aws_session_token; '#' and ';' comments). Returns 0; 1 when the profile is not in the file;
 * -1 with a reason in err (naming the line) when the profile is there but incomplete. */
int aws_parse_shared_credentials(const char *text, const char *profile, const char *file_name,
                                 aws_credentials *out, char *err, size_t err_cap);

/* STS AssumeRoleWithWebIdentity: a 200 answer's Credentials, or for an ErrorResponse its
 * Code and Message in err. Returns 0 or -1. */
int aws_parse_sts_web_identity(const char *body, size_t len, aws_credentials *out, char *err,
                               size_t err_cap);

/* The JSON of the ECS container endpoint ({AccessKeyId, SecretAccessKey, Token, Expiration}) or
 * of IMDS's security-credentials/<role> (the same plus Code, which must be "Success" when
 * present). source names it in messages and in out. Returns 0 or -1. */
int aws_parse_credentials_json(const char *body, size_t len, const char *source,
                               aws_credentials *out, char *err, size_t err_cap);

#endif
