#include "processors/eventbridge_rules.h"

#include "event_view.h"
#include "filters/event_pattern.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

typedef struct compiled_rule {
    char *arn;
    char *account; /* the ARN's fields EventBridge puts in the envelope */
    char *region;
    event_pattern *pattern;
} compiled_rule;

struct eventbridge_rule_set {
    compiled_rule *rules;
    size_t count;
};

/* arn:partition:events:region:account:rule/... -> its region and account (copies). */
static bool arn_region_account(const char *arn, char **region, char **account)
{
    const char *field[6];
    const char *p = arn;
    for (int i = 0; i < 5; i++) {
        field[i] = p;
        p = strchr(p, ':');
        if (!p)
            return false;
        p++;
    }
    field[5] = p;
    *region = strndup(field[3], (size_t)(field[4] - field[3] - 1));
    *account = strndup(field[4], (size_t)(field[5] - field[4] - 1));
    return *region && *account;
}

void eventbridge_rule_set_free(eventbridge_rule_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++) {
        free(set->rules[i].arn);
        free(set->rules[i].account);
        free(set->rules[i].region);
        event_pattern_free(set->rules[i].pattern);
    }
    free(set->rules);
    free(set);
}

eventbridge_rule_set *eventbridge_rule_set_build(const char *const *arns, size_t count,
                                                 const eventbridge_rule *const *found, char *err,
                                                 size_t err_cap)
{
    eventbridge_rule_set *set = calloc(1, sizeof *set);
    if (!set || !(set->rules = calloc(count ? count : 1, sizeof *set->rules))) {
        free(set);
        format_message(err, err_cap, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        const eventbridge_rule *rule = found[i];
        if (!rule) {
            format_message(err, err_cap, "rule %s: not on the bus (ListRules does not list it)",
                           arns[i]);
            goto refused;
        }
        if (!rule->event_pattern || !*rule->event_pattern) {
            format_message(err, err_cap,
                           "rule %s has no EventPattern (a schedule rule): no event can match it",
                           arns[i]);
            goto refused;
        }
        compiled_rule *c = &set->rules[set->count];
        if (!(c->arn = strdup(arns[i])) || !arn_region_account(arns[i], &c->region, &c->account)) {
            set->count++;
            format_message(err, err_cap, "rule %s: out of memory or not an ARN", arns[i]);
            goto refused;
        }
        set->count++;
        event_pattern_options options = {.max_chars = EVENT_PATTERN_AWS_MAX_CHARS};
        event_pattern_error error;
        c->pattern = event_pattern_compile(rule->event_pattern, strlen(rule->event_pattern),
                                           &options, &error);
        if (!c->pattern) {
            char why[600];
            format_message(err, err_cap, "rule %s: EventPattern refused: %s", arns[i],
                           event_pattern_error_format(&error, why, sizeof why));
            goto refused;
        }
        for (size_t w = 0; w < event_pattern_warning_count(c->pattern); w++)
            log_warn("eventbridge", "rule %s: %s", arns[i], event_pattern_warning(c->pattern, w));
    }
    return set;
refused:
    eventbridge_rule_set_free(set);
    return NULL;
}

size_t eventbridge_rule_set_count(const eventbridge_rule_set *set)
{
    return set ? set->count : 0;
}

const char *eventbridge_rule_set_arn(const eventbridge_rule_set *set, size_t index)
{
    return index < set->count ? set->rules[index].arn : NULL;
}

int eventbridge_rule_set_match(const eventbridge_rule_set *set, const event *ev,
                               const char *detail_type, const char *const *resources,
                               size_t resource_count)
{
    for (size_t i = 0; i < set->count; i++) {
        const compiled_rule *rule = &set->rules[i];
        eventbridge_fields fields = {.account = rule->account,
                                     .region = rule->region,
                                     .detail_type = detail_type,
                                     .resources = resources,
                                     .resource_count = resource_count};
        eventbridge_view view;
        if (event_pattern_match(rule->pattern, event_view_eventbridge(&view, ev, &fields)))
            return (int)i;
    }
    return -1;
}
