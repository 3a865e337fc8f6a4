/* libFuzzer target: the credential answers the router reads from the network or disk. The first
 * byte picks the reader: 0 the STS AssumeRoleWithWebIdentity answer (XML), 1 the ECS / IMDS
 * credentials JSON, 2 a shared credentials file (profile "default"); the rest is the input. */
#include "log.h"
#include "processors/aws/aws_credentials.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    aws_credentials credentials;
    char err[256];
    int rc;
    if (data[0] % 3 == 0) {
        rc = aws_parse_sts_web_identity(body, len, &credentials, err, sizeof err);
    } else if (data[0] % 3 == 1) {
        rc = aws_parse_credentials_json(body, len, "IMDS", &credentials, err, sizeof err);
    } else {
        char *text = strndup(body, len);
        if (!text)
            return 0;
        rc = aws_parse_shared_credentials(text, "default", "credentials", &credentials, err,
                                          sizeof err);
        free(text);
    }
    /* Accepted credentials always have both keys, and the secret is masked from then on. */
    if (rc == 0) {
        if (!credentials.access_key_id || !*credentials.access_key_id ||
            !credentials.secret_access_key || !*credentials.secret_access_key)
            __builtin_trap();
        if (strlen(credentials.secret_access_key) >= 3) {
            char masked[64];
            log_mask_secrets(credentials.secret_access_key, masked, sizeof masked);
            if (strstr(masked, credentials.secret_access_key))
                __builtin_trap();
        }
        aws_credentials_clear(&credentials);
    }
    log_forget_secrets();
    return 0;
}
