/* The awsEventBridge block: VEBA's keys unchanged, auth optional (the default chain), our
 * extensions, file:line:col errors, secrets never in messages, and a whole VEBA file accepted. */
#include "check.h"
#include "config_processor_read.h"

#include "config/config_sections.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static const char veba[] =
    "type: aws_event_bridge\n"
    "name: veba-demo-aws-eventbridge\n"
    "awsEventBridge:\n"
    "  eventBus: default\n"
    "  region: us-west-1\n"
    "  ruleARN: arn:aws:events:us-west-1:1234567890:rule/vmware-event-router\n"
    "  auth:\n"
    "    type: aws_access_key\n"
    "    awsAccessKeyAuth:\n"
    "      accessKey: ABCDEFGHIJK\n"
    "      secretKey: ZYXWVUTSRQPO\n";

static void test_veba_block_reads_unchanged(void)
{
    config_processor p;
    config_errors errors = {0};
    read_processor(veba, &p, &errors);
    CHECK(errors.count == 0);
    config_eventbridge *eb = &p.eventbridge;
    CHECK(p.kind == PROCESSOR_EVENTBRIDGE);
    CHECK_STR(eb->region, "us-west-1");
    CHECK_STR(eb->event_bus, "default");
    CHECK(eb->rule_count == 1);
    CHECK_STR(eb->rule_count ? eb->rule_arns[0] : NULL,
              "arn:aws:events:us-west-1:1234567890:rule/vmware-event-router");
    CHECK(eb->auth.type == AUTH_AWS_ACCESS_KEY);
    CHECK_STR(eb->auth.access_key, "ABCDEFGHIJK");
    CHECK_STR(eb->auth.secret_key, "ZYXWVUTSRQPO");
    CHECK(eb->auth.session_token == NULL);
    CHECK(eb->endpoint == NULL);
    CHECK(eb->rule_refresh_seconds == 300);
    CHECK(eb->batch_max_entries == 10);
    CHECK(eb->batch_max_delay_seconds == 0.02);
    CHECK(eb->rate_limit == 0);
    char masked[64];
    log_mask_secrets("ZYXWVUTSRQPO", masked, sizeof masked);
    CHECK_STR(masked, "*****");
    config_processor_clear(&p);
    config_errors_free(&errors);
}

static void test_iam_role_and_no_auth(void)
{
    const char *role = "type: aws_event_bridge\nname: eb\nawsEventBridge:\n"
                       "  region: eu-central-1\n"
                       "  eventBus: arn:aws:events:eu-central-1:123456789012:event-bus/veba\n"
                       "  ruleARN: arn:aws:events:eu-central-1:123456789012:rule/veba/vm-power\n"
                       "  auth: {type: aws_iam_role}\n";
    config_processor p;
    config_errors errors = {0};
    read_processor(role, &p, &errors);
    CHECK(errors.count == 0);
    CHECK(p.eventbridge.auth.type == AUTH_AWS_IAM_ROLE);
    CHECK_STR(p.eventbridge.event_bus, "arn:aws:events:eu-central-1:123456789012:event-bus/veba");
    config_processor_clear(&p);
    config_errors_free(&errors);

    /* VEBA crashes without auth; here it means the default credential chain. */
    const char *none = "type: aws_event_bridge\nname: eb\nawsEventBridge:\n"
                       "  region: eu-central-1\n  eventBus: default\n"
                       "  ruleARN: arn:aws:events:eu-central-1:123456789012:rule/r\n";
    read_processor(none, &p, &errors);
    CHECK(errors.count == 0);
    CHECK(p.eventbridge.auth.type == AUTH_NONE);
    config_processor_clear(&p);
    config_errors_free(&errors);
}

static void test_extensions(void)
{
    setenv("TEST_EB_SESSION_TOKEN", "session-token-from-env", 1);
    const char *yaml = "type: aws_event_bridge\nname: eb\nawsEventBridge:\n"
                       "  region: us-east-1\n  eventBus: veba\n"
                       "  ruleARN: arn:aws:events:us-east-1:123456789012:rule/veba/a\n"
                       "  rules:\n"
                       "    - arn:aws:events:us-east-1:123456789012:rule/veba/b\n"
                       "    - arn:aws:events:us-east-1:123456789012:rule/veba/a\n"
                       "  endpoint: http://127.0.0.1:4010\n"
                       "  ruleRefresh: 1m30s\n"
                       "  batch: {maxEntries: 5, maxDelay: 50ms}\n"
                       "  rateLimit: 200\n"
                       "  auth:\n    type: aws_access_key\n"
                       "    awsAccessKeyAuth:\n      accessKey: ASIAEXAMPLE\n"
                       "      secretKey: ext-secret-value\n"
                       "      sessionToken: ${TEST_EB_SESSION_TOKEN}\n";
    config_processor p;
    config_errors errors = {0};
    read_processor(yaml, &p, &errors);
    CHECK(errors.count == 0);
    config_eventbridge *eb = &p.eventbridge;
    CHECK(eb->rule_count == 2); /* the repeated ARN counts once */
    CHECK_STR(eb->rule_count > 1 ? eb->rule_arns[1] : NULL,
              "arn:aws:events:us-east-1:123456789012:rule/veba/b");
    CHECK_STR(eb->endpoint, "http://127.0.0.1:4010");
    CHECK(eb->rule_refresh_seconds == 90);
    CHECK(eb->batch_max_entries == 5);
    CHECK(eb->batch_max_delay_seconds == 0.05);
    CHECK(eb->rate_limit == 200);
    CHECK_STR(eb->auth.session_token, "session-token-from-env");
    char masked[64];
    log_mask_secrets("session-token-from-env", masked, sizeof masked);
    CHECK_STR(masked, "*****");
    config_processor_clear(&p);
    config_errors_free(&errors);

    /* rules: without ruleARN is enough. */
    const char *only_rules = "type: aws_event_bridge\nname: eb\nawsEventBridge:\n"
                             "  region: us-east-1\n  eventBus: veba\n"
                             "  rules: [arn:aws:events:us-east-1:123456789012:rule/veba/b]\n";
    read_processor(only_rules, &p, &errors);
    CHECK(errors.count == 0);
    CHECK(p.eventbridge.rule_count == 1);
    config_processor_clear(&p);
    config_errors_free(&errors);
}

static void test_resources(void)
{
    const char *yaml = "type: aws_event_bridge\nname: eb\nawsEventBridge:\n"
                       "  region: us-east-1\n  eventBus: veba\n"
                       "  rules: [arn:aws:events:us-east-1:123456789012:rule/veba/b]\n"
                       "  resources:\n"
                       "    - arn:aws:ec2:us-east-1:123456789012:instance/i-0abc\n"
                       "    - arn:vmware:vcenter::vc01:datacenter/dc-2\n";
    config_processor p;
    config_errors errors = {0};
    read_processor(yaml, &p, &errors);
    CHECK(errors.count == 0);
    CHECK(p.eventbridge.resource_count == 2);
    CHECK_STR(p.eventbridge.resource_count == 2 ? p.eventbridge.resources[1] : NULL,
              "arn:vmware:vcenter::vc01:datacenter/dc-2");
    config_processor_clear(&p);
    config_errors_free(&errors);

    const char *bad = "type: aws_event_bridge\nname: eb\nawsEventBridge:\n"
                      "  region: us-east-1\n  eventBus: veba\n"
                      "  rules: [arn:aws:events:us-east-1:123456789012:rule/veba/b]\n"
                      "  resources: [i-0abc]\n"; /* line 7 */
    read_processor(bad, &p, &errors);
    CHECK(has_error(&errors, "p.yaml:7:15: eventProcessor.awsEventBridge.resources[0]: expected an "
                             "ARN (arn:<partition>:<service>:...), got 'i-0abc'"));
    config_processor_clear(&p);
    config_errors_free(&errors);
}

static void test_errors_name_the_place(void)
{
    const char *yaml = "type: aws_event_bridge\nname: eb\nawsEventBridge:\n"
                       "  region: Frankfurt\n"                                         /* 4 */
                       "  eventBus: arn:aws:sqs:us-east-1:123456789012:queue\n"        /* 5 */
                       "  ruleARN: arn:aws:events:us-west-2:123456789012:rule/other\n" /* 6 */
                       "  rules: [not-an-arn, arn:aws:events:us-east-1:12ab:rule/x]\n" /* 7 */
                       "  endpoint: ftp://example\n"                                   /* 8 */
                       "  ruleRefresh: soon\n"                                         /* 9 */
                       "  batch: {maxEntries: 11, maxDelay: 20ms, size: 3}\n"          /* 10 */
                       "  rateLimit: 0\n"                                              /* 11 */
                       "  eventbus: typo\n"                                            /* 12 */
                       "  auth: {type: basic_auth, basicAuth: {username: u, password: p}}\n";
    config_processor p;
    config_errors errors = {0};
    read_processor(yaml, &p, &errors);
    CHECK(has_error(&errors, "p.yaml:4:11: eventProcessor.awsEventBridge.region: expected an AWS "
                             "region such as us-east-1, got 'Frankfurt'"));
    CHECK(has_error(&errors, "p.yaml:5:13: eventProcessor.awsEventBridge.eventBus: expected a bus "
                             "name or an event bus ARN"));
    CHECK(has_error(&errors, "p.yaml:7:11: eventProcessor.awsEventBridge.rules[0]: expected an "
                             "EventBridge rule ARN"));
    CHECK(has_error(&errors, "p.yaml:7:23: eventProcessor.awsEventBridge.rules[1]: expected an "
                             "EventBridge rule ARN"));
    CHECK(has_error(&errors, "p.yaml:8:13: eventProcessor.awsEventBridge.endpoint: expected an "
                             "http:// or https:// URL"));
    CHECK(has_error(&errors, "p.yaml:9:16: eventProcessor.awsEventBridge.ruleRefresh:"));
    CHECK(has_error(&errors, "p.yaml:10:23: eventProcessor.awsEventBridge.batch.maxEntries:"));
    CHECK(has_error(&errors,
                    "p.yaml:10:43: eventProcessor.awsEventBridge.batch.size: unknown key 'size'"));
    CHECK(has_error(&errors, "p.yaml:11:14: eventProcessor.awsEventBridge.rateLimit:"));
    CHECK(has_error(&errors,
                    "p.yaml:12:3: eventProcessor.awsEventBridge.eventbus: unknown key 'eventbus'"));
    CHECK(has_error(&errors, "eventProcessor.awsEventBridge.auth.type: auth type 'basic_auth' is "
                             "not accepted here (expected aws_access_key, aws_iam_role)"));
    /* Only the well-formed ruleARN is kept (with no valid region there is nothing to compare). */
    CHECK(p.eventbridge.rule_count == 1);
    config_processor_clear(&p);
    config_errors_free(&errors);

    /* The rule must be in the processor's region. */
    const char *other_region = "type: aws_event_bridge\nname: eb\nawsEventBridge:\n"
                               "  region: us-east-1\n  eventBus: default\n"
                               "  ruleARN: arn:aws:events:us-west-2:123456789012:rule/r\n";
    read_processor(other_region, &p, &errors);
    CHECK(has_error(&errors, "p.yaml:6:12: eventProcessor.awsEventBridge.ruleARN: the rule is in "
                             "region 'us-west-2' but region is 'us-east-1'"));
    config_processor_clear(&p);
    config_errors_free(&errors);

    const char *missing =
        "type: aws_event_bridge\nname: eb\nawsEventBridge:\n  region: us-east-1\n";
    read_processor(missing, &p, &errors);
    CHECK(has_error(&errors, "eventProcessor.awsEventBridge.eventBus: is required"));
    CHECK(has_error(&errors, "eventProcessor.awsEventBridge.ruleARN: is required"));
    config_processor_clear(&p);
    config_errors_free(&errors);
}

static void test_secrets_never_in_errors(void)
{
    const char *yaml = "type: aws_event_bridge\nname: eb\nawsEventBridge:\n"
                       "  region: us-east-1\n  eventBus: default\n"
                       "  ruleARN: arn:aws:events:us-east-1:123456789012:rule/r\n"
                       "  auth:\n    type: aws_access_key\n"
                       "    awsAccessKeyAuth:\n      accessKey: AKIAVISIBLE\n"
                       "      secretKey: hunter2-secret-key\n"
                       "      secretKeyFile: /nonexistent/hunter2\n"
                       "      sessionToken: [hunter2-token]\n";
    config_processor p;
    config_errors errors = {0};
    read_processor(yaml, &p, &errors);
    CHECK(errors.count >= 2);
    for (size_t i = 0; i < errors.count; i++) {
        CHECK(strstr(errors.messages[i], "hunter2-secret-key") == NULL);
        CHECK(strstr(errors.messages[i], "hunter2-token") == NULL);
    }
    CHECK(has_error(&errors, "set either 'secretKey' or 'secretKeyFile', not both"));
    config_processor_clear(&p);
    config_errors_free(&errors);
}

/* A whole file with the block loads. */
static void test_whole_config_loads(void)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "apiVersion: event-router.vmware.com/v1alpha1\nkind: RouterConfig\n"
             "metadata: {name: eb}\n"
             "eventProvider:\n  type: webhook\n  name: h\n"
             "  webhook: {bindAddress: '127.0.0.1:8080', path: /webhook}\n"
             "eventProcessor:\n%s",
             "  type: aws_event_bridge\n  name: eb\n  awsEventBridge:\n"
             "    region: us-east-1\n    eventBus: default\n"
             "    ruleARN: arn:aws:events:us-east-1:123456789012:rule/r\n");
    config_errors errors = {0};
    config *cfg = config_parse("c.yaml", yaml, strlen(yaml), &errors);
    CHECK(cfg != NULL);
    CHECK(errors.count == 0);
    CHECK(cfg && cfg->processor_count == 1 && cfg->processors[0].kind == PROCESSOR_EVENTBRIDGE);
    CHECK_STR(cfg ? cfg->processors[0].eventbridge.region : NULL, "us-east-1");
    config_free(cfg);
    config_errors_free(&errors);
}

int main(void)
{
    RUN_TEST(test_veba_block_reads_unchanged);
    RUN_TEST(test_iam_role_and_no_auth);
    RUN_TEST(test_extensions);
    RUN_TEST(test_resources);
    RUN_TEST(test_errors_name_the_place);
    RUN_TEST(test_secrets_never_in_errors);
    RUN_TEST(test_whole_config_loads);
    log_forget_secrets();
    return CHECK_DONE();
}
