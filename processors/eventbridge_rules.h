/* The EventBridge rules an aws_event_bridge processor sends for (VEBA's ruleARN, our rules: [...]),
 * compiled once per ListRules pass. Pure: no I/O; the processor reads ListRules and hands the
 * rules it found here.
 *
 * An event is sent when any rule's EventPattern matches it as EventBridge will see the entry:
 * the envelope (source, detail-type, account and region from the rule's ARN, time, resources)
 * with the CloudEvent as detail (event_view_eventbridge), so the local verdict is AWS's. */
#ifndef EVENT_ROUTER_PROCESSOR_EVENTBRIDGE_RULES_H
#define EVENT_ROUTER_PROCESSOR_EVENTBRIDGE_RULES_H

#include "event.h"
#include "processors/aws/eventbridge_api.h"

#include <stddef.h>

typedef struct eventbridge_rule_set eventbridge_rule_set;

/* Builds the set for the configured arns[0..count); found[i] is the ListRules rule whose Arn is
 * arns[i], or NULL when ListRules did not list it. Refuses (NULL, reason naming the rule ARN in
 * err) a rule not found, one without an EventPattern (a schedule rule: no PutEvents entry ever
 * reaches it), a pattern over EventBridge's 2048 characters, or one the pattern engine refuses. */
eventbridge_rule_set *eventbridge_rule_set_build(const char *const *arns, size_t count,
                                                 const eventbridge_rule *const *found, char *err,
                                                 size_t err_cap);
void eventbridge_rule_set_free(eventbridge_rule_set *set);
size_t eventbridge_rule_set_count(const eventbridge_rule_set *set);
const char *eventbridge_rule_set_arn(const eventbridge_rule_set *set, size_t index);

/* The index of the first rule whose pattern matches ev sent with this DetailType and
 * Resources, or -1. Allocates nothing. */
int eventbridge_rule_set_match(const eventbridge_rule_set *set, const event *ev,
                               const char *detail_type, const char *const *resources,
                               size_t resource_count);

#endif
