/* Where a processor's AWS credentials come from, kept fresh on the engine's libuv loop.
 *
 * Static: the keys of `auth: {type: aws_access_key}` (never expire).
 * Chain (`auth: {type: aws_iam_role}` or no auth), as AWS's SDKs look, first configured wins:
 *   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *   2. shared credentials file: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile
 *      AWS_PROFILE or "default" (when the file has that profile);
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (AWS_ROLE_SESSION_NAME) ->
 *      STS AssumeRoleWithWebIdentity (how EKS pods get roles);
 *   4. ECS container endpoint: AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI (on
 *      169.254.170.2), with AWS_CONTAINER_AUTHORIZATION_TOKEN or _TOKEN_FILE;
 *   5. EC2 instance metadata, IMDSv2 (token PUT, then the role's credentials), unless
 *      AWS_EC2_METADATA_DISABLED=true.
 * A configured source that fails is reported and retried; it does not fall through to a later one
 * (that would hide a broken role behind, say, the instance's role).
 *
 * Temporary credentials are fetched again `refresh_margin` before they expire; a failed refresh
 * keeps the current ones while they are valid and retries with backoff. Endpoints follow the
 * SDKs' overrides (AWS_ENDPOINT_URL_STS, AWS_EC2_METADATA_SERVICE_ENDPOINT) and the options
 * below, which tests use. Secrets are registered with the log's mask when they arrive; messages
 * name key ids, roles and URLs, never a secret. */
#ifndef EVENT_ROUTER_AWS_CREDENTIALS_PROVIDER_H
#define EVENT_ROUTER_AWS_CREDENTIALS_PROVIDER_H

#include "http/http_client.h"
#include "processors/aws/aws_credentials.h"

#include <uv.h>

typedef struct aws_credentials_provider aws_credentials_provider;

typedef struct aws_credentials_options {
    const char *region;            /* for the regional STS endpoint; NULL: sts.amazonaws.com */
    const char *sts_endpoint;      /* overrides AWS_ENDPOINT_URL_STS and the default */
    const char *imds_endpoint;     /* overrides AWS_EC2_METADATA_SERVICE_ENDPOINT and the default */
    const char *ecs_host;          /* base of _RELATIVE_URI; NULL: http://169.254.170.2 */
    double refresh_margin_seconds; /* 0: 300 (five minutes, as the SDKs) */
    long timeout_ms;               /* per metadata/STS request; 0: 5000 */
    /* Seconds since the epoch; NULL: the wall clock. Expirations are wall-clock times. */
    double (*clock)(void *clock_user);
    void *clock_user;
} aws_credentials_options;

/* The keys of aws_access_key (copied; session_token may be NULL). */
aws_credentials_provider *aws_credentials_provider_new_static(uv_loop_t *loop,
                                                              const char *access_key_id,
                                                              const char *secret_access_key,
                                                              const char *session_token);
/* The chain; options may be NULL. http is the engine's client and must outlive the provider. */
aws_credentials_provider *
aws_credentials_provider_new_chain(uv_loop_t *loop, http_client *http,
                                   const aws_credentials_options *options);

/* Credentials valid now (and not within the margin of expiry... or, during a refresh, still
 * valid), or NULL. Valid until the next return to the loop. */
const aws_credentials *aws_credentials_provider_current(aws_credentials_provider *provider);

/* Delivers credentials (or an error naming the source, never a secret) to done, exactly once and
 * never from inside this call; starts a fetch when nothing valid is held. */
typedef void (*aws_credentials_done_fn)(void *user, const aws_credentials *credentials,
                                        const char *error);
int aws_credentials_provider_get(aws_credentials_provider *provider, aws_credentials_done_fn done,
                                 void *user);

/* How many fetches completed successfully, and the last error (NULL when the last fetch worked).
 * For tests, /stats and messages. */
unsigned long aws_credentials_provider_fetches(const aws_credentials_provider *provider);
const char *aws_credentials_provider_last_error(const aws_credentials_provider *provider);

/* Waiting callers get the error "credentials provider closed"; the handles close and the memory
 * is freed once the loop has run their close callbacks and any request in flight has ended. */
void aws_credentials_provider_close(aws_credentials_provider *provider);

#endif
