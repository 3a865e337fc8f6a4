/* The readers of what AWS answers (processors/aws/): STS AssumeRoleWithWebIdentity (XML), the ECS
 * container endpoint's and IMDS's credentials (JSON), a shared credentials file (INI), ISO 8601
 * expirations, and EventBridge's PutEvents, error and ListRules answers (JSON). Every reader gets
 * the same bytes. Beyond not crashing: credentials that parse have both keys; a PutEvents answer
 * that parses accounts for every entry and its failed count matches the entries that failed; a
 * refusal comes with a reason. */
#include "fuzz_support.h"

#include "log.h"
#include "processors/aws/aws_credentials.h"
#include "processors/aws/eventbridge_api.h"

#include <libxml/parser.h>

static void silence(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_LEVEL_ERROR);
    xmlSetGenericErrorFunc(NULL, silence);
    return 0;
}

static void check_credentials(int rc, aws_credentials *credentials, const char *err)
{
    if (rc == 0)
        FUZZ_ASSERT(credentials->access_key_id && *credentials->access_key_id &&
                    credentials->secret_access_key && *credentials->secret_access_key);
    else
        FUZZ_ASSERT(rc == 1 || err[0] != '\0');
    aws_credentials_clear(credentials);
}

static void check_put_events(const char *body, size_t len, size_t sent)
{
    eventbridge_entry_result results[10];
    size_t failed = 0;
    char err[256] = "";
    if (eventbridge_parse_put_events(body, len, sent, results, &failed, err, sizeof err) != 0) {
        FUZZ_ASSERT(err[0] != '\0');
        return;
    }
    FUZZ_ASSERT(failed <= sent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char *text = fuzz_strndup(data, size);
    char err[512];
    aws_credentials credentials = {0};

    err[0] = '\0';
    check_credentials(aws_parse_sts_web_identity(body, size, &credentials, err, sizeof err),
                      &credentials, err);
    err[0] = '\0';
    check_credentials(aws_parse_credentials_json(body, size, "ECS container endpoint", &credentials,
                                                 err, sizeof err),
                      &credentials, err);
    const char *profiles[] = {"default", "prod"};
    for (size_t i = 0; i < 2; i++) {
        err[0] = '\0';
        check_credentials(aws_parse_shared_credentials(text, profiles[i], "credentials",
                                                       &credentials, err, sizeof err),
                          &credentials, err);
    }
    double seconds;
    aws_parse_iso8601(text, &seconds);

    check_put_events(body, size, 1);
    check_put_events(body, size, 3);
    check_put_events(body, size, 10);
    char code[64], message[256];
    eventbridge_parse_error(body, size, code, sizeof code, message, sizeof message);
    eventbridge_classify_call(400, code);

    eventbridge_rule_page page = {0};
    err[0] = '\0';
    if (eventbridge_parse_list_rules(body, size, &page, err, sizeof err) == 0) {
        for (size_t i = 0; i < page.count; i++)
            FUZZ_ASSERT(page.rules[i].name && page.rules[i].arn);
        if (page.count)
            FUZZ_ASSERT(eventbridge_rule_find(&page, page.rules[0].arn) == &page.rules[0] ||
                        strcmp(eventbridge_rule_find(&page, page.rules[0].arn)->arn,
                               page.rules[0].arn) == 0);
    } else {
        FUZZ_ASSERT(err[0] != '\0');
    }
    eventbridge_rule_page_free(&page);
    free(text);
    /* Every reader registers the secrets it returns; forget them so the list does not grow. */
    log_forget_secrets();
    return 0;
}
