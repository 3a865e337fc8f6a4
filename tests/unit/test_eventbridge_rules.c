/* The EventBridge processor's rule set: rules found by ListRules compiled, refused with the rule's
 * ARN when missing, patternless, too long or invalid, and matched against the envelope AWS builds
 * (account and region from the rule's ARN, detail-type, the CloudEvent as detail). */
#include "check.h"
#include "event.h"
#include "processors/eventbridge_rules.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define RULE_A "arn:aws:events:us-west-1:123456789012:rule/power"
#define RULE_B "arn:aws:events:us-west-1:123456789012:rule/custom-bus/esx"

static event *vcenter_event(const char *subject, const char *host)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"https://vc/sdk\","
             "\"type\":\"com.vmware.event.router/event\",\"subject\":\"%s\","
             "\"datacontenttype\":\"application/json\",\"data\":{\"Host\":{\"Name\":\"%s\"}}}",
             subject, host);
    cJSON *json = cJSON_Parse(text);
    char reason[200];
    event *ev = event_from_json(json, reason, sizeof reason);
    cJSON_Delete(json);
    return ev;
}

static eventbridge_rule_set *build2(const char *pattern_a, const char *pattern_b, char *err,
                                    size_t cap)
{
    const char *arns[] = {RULE_A, RULE_B};
    eventbridge_rule a = {.arn = RULE_A, .event_pattern = (char *)pattern_a};
    eventbridge_rule b = {.arn = RULE_B, .event_pattern = (char *)pattern_b};
    const eventbridge_rule *found[] = {&a, pattern_b ? &b : NULL};
    return eventbridge_rule_set_build(arns, 2, found, err, cap);
}

static void test_match_any_rule_on_the_envelope(void)
{
    char err[600] = "";
    eventbridge_rule_set *set =
        build2("{\"detail-type\":[\"VmPoweredOffEvent\"],\"account\":[\"123456789012\"],"
               "\"region\":[\"us-west-1\"],\"source\":[{\"prefix\":\"https://\"}]}",
               "{\"detail\":{\"data\":{\"Host\":{\"Name\":[\"esx-3\"]}}}}", err, sizeof err);
    CHECK(set != NULL);
    if (!set) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(eventbridge_rule_set_count(set) == 2);
    CHECK_STR(eventbridge_rule_set_arn(set, 1), RULE_B);
    event *off = vcenter_event("VmPoweredOffEvent", "esx-1");
    event *on3 = vcenter_event("VmPoweredOnEvent", "esx-3");
    event *on1 = vcenter_event("VmPoweredOnEvent", "esx-1");
    CHECK(eventbridge_rule_set_match(set, off, "VmPoweredOffEvent", NULL, 0) == 0);
    CHECK(eventbridge_rule_set_match(set, on3, "VmPoweredOnEvent", NULL, 0) == 1);
    CHECK(eventbridge_rule_set_match(set, on1, "VmPoweredOnEvent", NULL, 0) == -1);
    /* detail-type is the entry's DetailType, not the subject. */
    CHECK(eventbridge_rule_set_match(set, off, "SomethingElse", NULL, 0) == -1);
    event_unref(off);
    event_unref(on3);
    event_unref(on1);
    eventbridge_rule_set_free(set);
}

static void test_account_and_region_come_from_the_rule(void)
{
    char err[600] = "";
    eventbridge_rule_set *set =
        build2("{\"account\":[\"999999999999\"]}", "{\"region\":[\"eu-west-1\"]}", err, sizeof err);
    CHECK(set != NULL);
    event *ev = vcenter_event("VmPoweredOffEvent", "esx-1");
    CHECK(set && eventbridge_rule_set_match(set, ev, "VmPoweredOffEvent", NULL, 0) == -1);
    event_unref(ev);
    eventbridge_rule_set_free(set);
}

static void test_refusals_name_the_rule(void)
{
    char err[600] = "";
    CHECK(build2("{\"source\":[\"a\"]}", NULL, err, sizeof err) == NULL);
    CHECK_STR(err, "rule " RULE_B ": not on the bus (ListRules does not list it)");
    CHECK(build2("{\"source\":[\"a\"]}", "", err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "rule " RULE_B " has no EventPattern (a schedule rule)");
    CHECK(build2("{\"source\":\"not-a-list\"}", "{\"source\":[\"a\"]}", err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "rule " RULE_A ": EventPattern refused: ");
    /* Exactly 2048 characters pass; 2049 are refused, as EventBridge does. */
    char pattern[2100];
    size_t fill = 2048 - strlen("{\"source\":[\"\"]}");
    snprintf(pattern, sizeof pattern, "{\"source\":[\"%0*d\"]}", (int)fill, 0);
    CHECK(strlen(pattern) == 2048);
    eventbridge_rule_set *set = build2(pattern, "{\"source\":[\"a\"]}", err, sizeof err);
    CHECK(set != NULL);
    eventbridge_rule_set_free(set);
    snprintf(pattern, sizeof pattern, "{\"source\":[\"%0*d\"]}", (int)fill + 1, 0);
    CHECK(build2(pattern, "{\"source\":[\"a\"]}", err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "rule " RULE_A ": EventPattern refused: Event pattern is 2049 characters "
                        "long; at most 2048 are allowed");
}

int main(void)
{
    RUN_TEST(test_match_any_rule_on_the_envelope);
    RUN_TEST(test_account_and_region_come_from_the_rule);
    RUN_TEST(test_refusals_name_the_rule);
    return CHECK_DONE();
}
