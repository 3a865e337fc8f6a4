/* EventBridge API pieces: entry sizing and batching limits as AWS counts them, the PutEvents body,
 * the per-entry answer and its classification, whole-call errors, ListRules paging. */
#include "check.h"

#include "processors/aws/eventbridge_api.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void test_entry_size_counts_utf8_bytes_and_time(void)
{
    const char *resources[] = {"arn:aws:ec2:eu-west-1:123456789012:instance/i-1", "r\xc3\xa9"};
    eventbridge_entry entry = {.source = "https://vc.lab/sdk",            /* 18 */
                               .detail_type = "VmPoweredOnEvent",         /* 16 */
                               .detail = "{\"n\":\"\xc3\xa9t\xc3\xa9\"}", /* 13 bytes, 11 chars */
                               .resources = resources,
                               .resource_count = 2};
    size_t without_time = 18 + 16 + 13 + strlen(resources[0]) + 3;
    CHECK(eventbridge_entry_size(&entry) == without_time);
    entry.has_time = true;
    entry.time = 1700000000;
    CHECK(eventbridge_entry_size(&entry) == without_time + 14);
    /* The bus name is not counted. */
    entry.event_bus_name = "a-very-long-bus-name-that-does-not-count";
    CHECK(eventbridge_entry_size(&entry) == without_time + 14);
}

static void test_batch_take_limits(void)
{
    size_t sizes[12];
    for (size_t i = 0; i < 12; i++)
        sizes[i] = 100;
    CHECK(eventbridge_batch_take(sizes, 12) == 10);
    CHECK(eventbridge_batch_take(sizes, 3) == 3);
    CHECK(eventbridge_batch_take(sizes, 0) == 0);
    /* Exactly 256 KiB together fits; one byte more does not. */
    size_t exact[] = {EVENTBRIDGE_MAX_CALL_BYTES - 1000, 1000, 1};
    CHECK(eventbridge_batch_take(exact, 3) == 2);
    size_t whole[] = {EVENTBRIDGE_MAX_CALL_BYTES, 1};
    CHECK(eventbridge_batch_take(whole, 2) == 1);
    size_t too_big[] = {EVENTBRIDGE_MAX_CALL_BYTES + 1, 10};
    CHECK(eventbridge_batch_take(too_big, 2) == 0);
    size_t later_big[] = {10, EVENTBRIDGE_MAX_CALL_BYTES, 10};
    CHECK(eventbridge_batch_take(later_big, 3) == 1);
}

static void test_put_events_body(void)
{
    const char *resources[] = {"arn:aws:ec2:eu-west-1:123456789012:instance/i-1"};
    eventbridge_entry entries[2] = {
        {.source = "https://vc.lab/sdk",
         .detail_type = "VmPoweredOnEvent",
         .detail = "{\"id\":\"42\",\"data\":{\"quote\":\"\\\"x\\\"\"}}",
         .has_time = true,
         .time = 1700000000.5,
         .event_bus_name = "veba-bus"},
        {.source = "webhook",
         .detail_type = "com.example.thing",
         .detail = "{}",
         .resources = resources,
         .resource_count = 1},
    };
    char err[256] = "";
    size_t len = 0;
    char *body = eventbridge_put_events_body(entries, 2, &len, err, sizeof err);
    CHECK(body != NULL);
    CHECK(body && len == strlen(body));
    cJSON *root = body ? cJSON_Parse(body) : NULL;
    const cJSON *array = cJSON_GetObjectItem(root, "Entries");
    CHECK(cJSON_GetArraySize(array) == 2);
    const cJSON *first = cJSON_GetArrayItem(array, 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "Source")), "https://vc.lab/sdk");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "DetailType")), "VmPoweredOnEvent");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "Detail")), entries[0].detail);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "EventBusName")), "veba-bus");
    CHECK(cJSON_GetObjectItem(first, "Time") &&
          cJSON_GetObjectItem(first, "Time")->valuedouble == 1700000000.5);
    CHECK(cJSON_GetObjectItem(first, "Resources") == NULL);
    const cJSON *second = cJSON_GetArrayItem(array, 1);
    CHECK(cJSON_GetObjectItem(second, "Time") == NULL);
    CHECK(cJSON_GetObjectItem(second, "EventBusName") == NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(second, "Resources"), 0)),
              resources[0]);
    cJSON_Delete(root);
    free(body);
}

static void test_put_events_body_refusals(void)
{
    eventbridge_entry entries[11];
    for (size_t i = 0; i < 11; i++)
        entries[i] = (eventbridge_entry){.source = "s", .detail_type = "t", .detail = "{}"};
    char err[256] = "";
    CHECK(eventbridge_put_events_body(entries, 11, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "1 to 10 entries, not 11");
    CHECK(eventbridge_put_events_body(entries, 0, NULL, err, sizeof err) == NULL);
    char *body = eventbridge_put_events_body(entries, 10, NULL, err, sizeof err);
    CHECK(body != NULL);
    free(body);

    size_t big_len = EVENTBRIDGE_MAX_CALL_BYTES - 2; /* + "s" + "t": exactly the limit */
    char *big = malloc(big_len + 1);
    memset(big, 'x', big_len);
    big[big_len] = '\0';
    entries[0].detail = big;
    body = eventbridge_put_events_body(entries, 1, NULL, err, sizeof err);
    CHECK(body != NULL);
    free(body);
    CHECK(eventbridge_put_events_body(entries, 2, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "exceed PutEvents' 262144 bytes per call");
    free(big);

    entries[0].detail = NULL;
    CHECK(eventbridge_put_events_body(entries, 1, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "entry 0 has no Detail");
}

static int parse(const char *answer, size_t sent, eventbridge_entry_result *results, size_t *failed,
                 char *err)
{
    return eventbridge_parse_put_events(answer, strlen(answer), sent, results, failed, err, 256);
}

static void test_put_events_answer_per_entry(void)
{
    const char *answer =
        "{\"FailedEntryCount\":3,\"Entries\":["
        "{\"EventId\":\"11710aed-b79e-4468-a20b-bb3c0c3b4860\"},"
        "{\"ErrorCode\":\"InternalFailure\",\"ErrorMessage\":\"Internal Service Failure\"},"
        "{\"ErrorCode\":\"ThrottlingException\",\"ErrorMessage\":\"Rate exceeded\"},"
        "{\"ErrorCode\":\"MalformedDetail\",\"ErrorMessage\":\"Detail is malformed.\"},"
        "{\"EventId\":\"d804d26a-88db-4b66-9eaf-9a11c708ae82\"}]}";
    eventbridge_entry_result results[5];
    size_t failed = 99;
    char err[256] = "";
    CHECK(parse(answer, 5, results, &failed, err) == 0);
    CHECK(failed == 3);
    CHECK(results[0].status == EVENTBRIDGE_ENTRY_OK);
    CHECK_STR(results[0].event_id, "11710aed-b79e-4468-a20b-bb3c0c3b4860");
    CHECK(results[1].status == EVENTBRIDGE_ENTRY_RETRY);
    CHECK_STR(results[1].error_code, "InternalFailure");
    CHECK(results[2].status == EVENTBRIDGE_ENTRY_RETRY);
    CHECK_STR(results[2].error_message, "Rate exceeded");
    CHECK(results[3].status == EVENTBRIDGE_ENTRY_FAILED);
    CHECK_STR(results[3].error_code, "MalformedDetail");
    CHECK_STR(results[3].error_message, "Detail is malformed.");
    CHECK(results[4].status == EVENTBRIDGE_ENTRY_OK);

    CHECK(eventbridge_entry_error_is_retryable("InternalFailure"));
    CHECK(eventbridge_entry_error_is_retryable("ThrottlingException"));
    CHECK(!eventbridge_entry_error_is_retryable("InvalidArgument"));
    CHECK(!eventbridge_entry_error_is_retryable("AccessDeniedException"));
    CHECK(!eventbridge_entry_error_is_retryable("NotAuthorizedForSourceException"));
    CHECK(!eventbridge_entry_error_is_retryable(NULL));
}

static void test_put_events_answer_refusals(void)
{
    eventbridge_entry_result results[3];
    char err[256] = "";
    size_t failed;
    CHECK(parse("not json", 1, results, &failed, err) == -1);
    CHECK_CONTAINS(err, "not a JSON object");
    CHECK(parse("{\"FailedEntryCount\":0,\"Entries\":[{\"EventId\":\"a\"}]}", 2, results, &failed,
                err) == -1);
    CHECK_CONTAINS(err, "1 entries for 2 sent");
    CHECK(parse("{\"Entries\":[{\"EventId\":\"a\"}]}", 1, results, &failed, err) == -1);
    CHECK_CONTAINS(err, "no valid FailedEntryCount");
    CHECK(parse("{\"FailedEntryCount\":1.5,\"Entries\":[{\"EventId\":\"a\"}]}", 1, results, &failed,
                err) == -1);
    CHECK(parse("{\"FailedEntryCount\":0,\"Entries\":[{\"ErrorCode\":\"InternalFailure\"}]}", 1,
                results, &failed, err) == -1);
    CHECK_CONTAINS(err, "FailedEntryCount 0 but 1 entries carry an ErrorCode");
    /* Neither id nor error: not taken as delivered. */
    CHECK(parse("{\"FailedEntryCount\":0,\"Entries\":[{}]}", 1, results, &failed, err) == 0);
    CHECK(results[0].status == EVENTBRIDGE_ENTRY_RETRY);
    CHECK_STR(results[0].error_code, "MissingEventId");
    /* Lengths come from the caller, not from NUL: a truncated answer is refused. */
    const char *whole = "{\"FailedEntryCount\":0,\"Entries\":[{\"EventId\":\"a\"}]}";
    CHECK(eventbridge_parse_put_events(whole, strlen(whole) - 2, 1, results, &failed, err,
                                       sizeof err) == -1);
}

static void test_call_errors(void)
{
    char code[64], message[256];
    const char *throttled = "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}";
    eventbridge_parse_error(throttled, strlen(throttled), code, sizeof code, message,
                            sizeof message);
    CHECK_STR(code, "ThrottlingException");
    CHECK_STR(message, "Rate exceeded");
    const char *signature = "{\"__type\":\"com.amazon.coral.service#InvalidSignatureException\","
                            "\"Message\":\"The request signature we calculated does not match\"}";
    eventbridge_parse_error(signature, strlen(signature), code, sizeof code, message,
                            sizeof message);
    CHECK_STR(code, "InvalidSignatureException");
    CHECK_CONTAINS(message, "does not match");
    eventbridge_parse_error("<html>", 6, code, sizeof code, message, sizeof message);
    CHECK_STR(code, "");
    CHECK_STR(message, "");

    CHECK(eventbridge_classify_call(200, NULL) == EVENTBRIDGE_CALL_OK);
    CHECK(eventbridge_classify_call(0, NULL) == EVENTBRIDGE_CALL_RETRY);
    CHECK(eventbridge_classify_call(500, "InternalFailure") == EVENTBRIDGE_CALL_RETRY);
    CHECK(eventbridge_classify_call(503, "") == EVENTBRIDGE_CALL_RETRY);
    CHECK(eventbridge_classify_call(429, NULL) == EVENTBRIDGE_CALL_RETRY);
    CHECK(eventbridge_classify_call(400, "ThrottlingException") == EVENTBRIDGE_CALL_RETRY);
    CHECK(eventbridge_classify_call(400, "ExpiredTokenException") == EVENTBRIDGE_CALL_RETRY);
    CHECK(eventbridge_classify_call(400, "InvalidSignatureException") == EVENTBRIDGE_CALL_FAILED);
    CHECK(eventbridge_classify_call(400, "UnrecognizedClientException") == EVENTBRIDGE_CALL_FAILED);
    CHECK(eventbridge_classify_call(400, "AccessDeniedException") == EVENTBRIDGE_CALL_FAILED);
    CHECK(eventbridge_classify_call(413, NULL) == EVENTBRIDGE_CALL_FAILED);
    CHECK(eventbridge_is_throttling("ThrottlingException"));
    CHECK(!eventbridge_is_throttling("InternalFailure"));
}

static void test_list_rules_paging(void)
{
    size_t len;
    char *first = eventbridge_list_rules_body("veba-bus", NULL, &len);
    CHECK_STR(first, "{\"EventBusName\":\"veba-bus\",\"Limit\":50}");
    CHECK(first && len == strlen(first));
    free(first);
    char *next = eventbridge_list_rules_body("arn:aws:events:eu-west-1:123456789012:event-bus/veba",
                                             "tok\"en", NULL);
    CHECK_STR(next, "{\"EventBusName\":\"arn:aws:events:eu-west-1:123456789012:event-bus/veba\","
                    "\"Limit\":50,\"NextToken\":\"tok\\\"en\"}");
    free(next);
    char *default_bus = eventbridge_list_rules_body(NULL, NULL, NULL);
    CHECK_STR(default_bus, "{\"Limit\":50}");
    free(default_bus);

    const char *page_one =
        "{\"NextToken\":\"page-2\",\"Rules\":[{\"Name\":\"r1\","
        "\"Arn\":\"arn:aws:events:eu-west-1:123456789012:rule/veba/r1\",\"EventBusName\":\"veba\","
        "\"EventPattern\":\"{\\\"source\\\":[\\\"https://vc.lab/sdk\\\"]}\",\"State\":\"ENABLED\"},"
        "{\"Name\":\"nightly\",\"Arn\":\"arn:aws:events:eu-west-1:123456789012:rule/nightly\","
        "\"ScheduleExpression\":\"rate(1 day)\",\"State\":\"DISABLED\"}]}";
    eventbridge_rule_page page;
    char err[256] = "";
    CHECK(eventbridge_parse_list_rules(page_one, strlen(page_one), &page, err, sizeof err) == 0);
    CHECK(page.count == 2);
    CHECK_STR(page.next_token, "page-2");
    const eventbridge_rule *rule =
        eventbridge_rule_find(&page, "arn:aws:events:eu-west-1:123456789012:rule/veba/r1");
    CHECK(rule != NULL);
    CHECK_STR(rule ? rule->event_pattern : NULL, "{\"source\":[\"https://vc.lab/sdk\"]}");
    CHECK_STR(rule ? rule->state : NULL, "ENABLED");
    CHECK_STR(rule ? rule->event_bus_name : NULL, "veba");
    const eventbridge_rule *schedule =
        eventbridge_rule_find(&page, "arn:aws:events:eu-west-1:123456789012:rule/nightly");
    CHECK(schedule && schedule->event_pattern == NULL);
    CHECK(eventbridge_rule_find(&page, "arn:aws:events:eu-west-1:123456789012:rule/other") == NULL);
    eventbridge_rule_page_free(&page);

    const char *last = "{\"Rules\":[]}";
    CHECK(eventbridge_parse_list_rules(last, strlen(last), &page, err, sizeof err) == 0);
    CHECK(page.count == 0 && page.next_token == NULL);
    eventbridge_rule_page_free(&page);
    const char *empty_token = "{\"Rules\":[],\"NextToken\":\"\"}";
    CHECK(eventbridge_parse_list_rules(empty_token, strlen(empty_token), &page, err, sizeof err) ==
          0);
    CHECK(page.next_token == NULL);
    eventbridge_rule_page_free(&page);

    const char *no_arn = "{\"Rules\":[{\"Name\":\"r1\"}]}";
    CHECK(eventbridge_parse_list_rules(no_arn, strlen(no_arn), &page, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "rule 0 of the ListRules answer has no Arn");
    CHECK(page.count == 0 && page.rules == NULL);
    const char *bad_rules = "{\"Rules\":{}}";
    CHECK(eventbridge_parse_list_rules(bad_rules, strlen(bad_rules), &page, err, sizeof err) == -1);
    CHECK(eventbridge_parse_list_rules("[]", 2, &page, err, sizeof err) == -1);
}

int main(void)
{
    RUN_TEST(test_entry_size_counts_utf8_bytes_and_time);
    RUN_TEST(test_batch_take_limits);
    RUN_TEST(test_put_events_body);
    RUN_TEST(test_put_events_body_refusals);
    RUN_TEST(test_put_events_answer_per_entry);
    RUN_TEST(test_put_events_answer_refusals);
    RUN_TEST(test_call_errors);
    RUN_TEST(test_list_rules_paging);
    return CHECK_DONE();
}
