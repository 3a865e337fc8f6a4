/* The awsEventBridge block of an aws_event_bridge processor. VEBA's keys keep their meaning
 * (region, eventBus, ruleARN, auth: aws_access_key | aws_iam_role); `auth` may be left out for
 * the default credential chain. Our extensions: endpoint, rules, ruleRefresh, batch {maxEntries,
 * maxDelay}, rateLimit, resources, and sessionToken / secretKeyFile / ${ENV} in awsAccessKeyAuth.
 */
#include "config/config_sections.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_RULE_REFRESH_SECONDS 300.0
#define DEFAULT_BATCH_MAX_ENTRIES 10
#define DEFAULT_BATCH_MAX_DELAY_SECONDS 0.02
/* What the processor's rule matching looks at (EVENT_VIEW_MAX_RESOURCES in event_view.h). */
#define MAX_RESOURCES 16

static void error_at_value(config_checker *ck, const ynode *parent, const char *path,
                           const char *key, const char *fmt, const char *detail)
{
    const ynode *value = check_value(ck, parent, path, key, false);
    char field[256];
    check_path(field, sizeof field, path, key);
    check_error_at(ck, value ? value->line : parent->line, value ? value->col : parent->col, field,
                   fmt, detail);
}

/* "us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1": lower-case words and a number. */
static bool is_region(const char *text)
{
    size_t dashes = 0, len = strlen(text);
    if (len < 4 || len > 30 || !islower((unsigned char)text[0]) ||
        !isdigit((unsigned char)text[len - 1]))
        return false;
    for (const char *c = text; *c; c++) {
        if (*c == '-') {
            if (c[1] == '-' || c[1] == '\0')
                return false;
            dashes++;
        } else if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c)) {
            return false;
        }
    }
    return dashes >= 2;
}

/* Splits "arn:partition:service:region:account:resource" into its six fields (in place). */
static bool split_arn(char *arn, char *fields[6])
{
    if (strncmp(arn, "arn:", 4) != 0)
        return false;
    char *p = arn;
    for (int i = 0; i < 5; i++) {
        fields[i] = p;
        p = strchr(p, ':');
        if (!p)
            return false;
        *p++ = '\0';
    }
    fields[5] = p;
    return true;
}

static bool all_digits(const char *text)
{
    if (!*text)
        return false;
    for (; *text; text++)
        if (!isdigit((unsigned char)*text))
            return false;
    return true;
}

/* A rule ARN: arn:<partition>:events:<region>:<account>:rule/[<bus>/]<name>. Reports what is
 * wrong with it, and a region other than the processor's (PutEvents and ListRules go to one
 * region: a rule elsewhere would never be found). */
static bool check_rule_arn(config_checker *ck, const ynode *value, const char *field,
                           const char *arn, const char *region)
{
    char *copy = strdup(arn);
    char *f[6];
    bool ok = copy && split_arn(copy, f) && *f[1] && strcmp(f[2], "events") == 0 && *f[3] &&
              all_digits(f[4]) && strncmp(f[5], "rule/", 5) == 0 && f[5][5] &&
              f[5][strlen(f[5]) - 1] != '/';
    if (!ok)
        check_error_at(ck, value->line, value->col, field,
                       "expected an EventBridge rule ARN "
                       "(arn:aws:events:<region>:<account>:rule/[<bus>/]<name>), got '%.120s'",
                       arn);
    else if (region && strcmp(f[3], region) != 0) {
        check_error_at(ck, value->line, value->col, field,
                       "the rule is in region '%.40s' but region is '%.40s'", f[3], region);
        ok = false;
    }
    free(copy);
    return ok;
}

static void add_rule(config_eventbridge *out, const char *arn)
{
    for (size_t i = 0; i < out->rule_count; i++)
        if (strcmp(out->rule_arns[i], arn) == 0)
            return;
    char **grown = realloc(out->rule_arns, (out->rule_count + 1) * sizeof *grown);
    if (!grown)
        return;
    out->rule_arns = grown;
    out->rule_arns[out->rule_count] = strdup(arn);
    if (out->rule_arns[out->rule_count])
        out->rule_count++;
}

static void read_rules(config_checker *ck, const ynode *settings, const char *path,
                       config_eventbridge *out)
{
    char field[256];
    char *rule_arn = NULL;
    bool has_rules = check_value(ck, settings, path, "rules", false) != NULL;
    /* VEBA requires ruleARN; with our rules: list it may be left out. */
    if (check_string(ck, settings, path, "ruleARN", !has_rules, &rule_arn)) {
        check_path(field, sizeof field, path, "ruleARN");
        if (check_rule_arn(ck, check_value(ck, settings, path, "ruleARN", false), field, rule_arn,
                           out->region))
            add_rule(out, rule_arn);
    }
    free(rule_arn);
    const ynode *rules = check_seq(ck, settings, path, "rules", false);
    if (!rules)
        return;
    if (rules->item_count == 0) {
        check_path(field, sizeof field, path, "rules");
        check_error_at(ck, rules->line, rules->col, field, "must list at least one rule ARN");
    }
    for (size_t i = 0; i < rules->item_count; i++) {
        const ynode *item = rules->items[i];
        snprintf(field, sizeof field, "%s.rules[%zu]", path, i);
        if (item->kind != YNODE_SCALAR || item->is_null)
            check_error_at(ck, item->line, item->col, field, "expected a rule ARN");
        else if (check_rule_arn(ck, item, field, item->scalar, out->region))
            add_rule(out, item->scalar);
    }
}

/* resources: [ARN, ...], the Resources of every entry (rules may match on them). */
static void read_resources(config_checker *ck, const ynode *settings, const char *path,
                           config_eventbridge *out)
{
    char field[256];
    const ynode *resources = check_seq(ck, settings, path, "resources", false);
    if (!resources)
        return;
    if (resources->item_count > MAX_RESOURCES) {
        check_path(field, sizeof field, path, "resources");
        check_error_at(ck, resources->line, resources->col, field, "at most %d ARNs, got %zu",
                       MAX_RESOURCES, resources->item_count);
        return;
    }
    out->resources = calloc(resources->item_count ? resources->item_count : 1, sizeof(char *));
    for (size_t i = 0; out->resources && i < resources->item_count; i++) {
        const ynode *item = resources->items[i];
        snprintf(field, sizeof field, "%s.resources[%zu]", path, i);
        if (item->kind != YNODE_SCALAR || item->is_null || strncmp(item->scalar, "arn:", 4) != 0 ||
            strlen(item->scalar) > 1600)
            check_error_at(ck, item->line, item->col, field,
                           "expected an ARN (arn:<partition>:<service>:...), got '%.120s'",
                           item->kind == YNODE_SCALAR && !item->is_null ? item->scalar : "");
        else if ((out->resources[out->resource_count] = strdup(item->scalar)))
            out->resource_count++;
    }
}

static void read_batch(config_checker *ck, const ynode *settings, const char *path,
                       config_eventbridge *out)
{
    char batch_path[256];
    check_path(batch_path, sizeof batch_path, path, "batch");
    const ynode *batch = check_map(ck, settings, path, "batch", false);
    if (!batch)
        return;
    check_known_keys(ck, batch, batch_path, (const char *const[]){"maxEntries", "maxDelay", NULL});
    check_int(ck, batch, batch_path, "maxEntries", 1, 10, &out->batch_max_entries);
    check_duration(ck, batch, batch_path, "maxDelay", &out->batch_max_delay_seconds);
}

void config_read_eventbridge(config_checker *ck, const ynode *settings, const char *path,
                             config_eventbridge *out)
{
    out->rule_refresh_seconds = DEFAULT_RULE_REFRESH_SECONDS;
    out->batch_max_entries = DEFAULT_BATCH_MAX_ENTRIES;
    out->batch_max_delay_seconds = DEFAULT_BATCH_MAX_DELAY_SECONDS;
    check_known_keys(ck, settings, path,
                     (const char *const[]){"region", "eventBus", "ruleARN", "auth", "endpoint",
                                           "rules", "ruleRefresh", "batch", "rateLimit",
                                           "resources", NULL});
    if (check_string(ck, settings, path, "region", true, &out->region) && !is_region(out->region)) {
        error_at_value(ck, settings, path, "region",
                       "expected an AWS region such as us-east-1, got '%.40s'", out->region);
        free(out->region);
        out->region = NULL;
    }
    if (check_string(ck, settings, path, "eventBus", true, &out->event_bus) &&
        strncmp(out->event_bus, "arn:", 4) == 0) {
        char *copy = strdup(out->event_bus);
        char *f[6];
        if (!copy || !split_arn(copy, f) || strcmp(f[2], "events") != 0 ||
            strncmp(f[5], "event-bus/", 10) != 0 || !f[5][10])
            error_at_value(ck, settings, path, "eventBus",
                           "expected a bus name or an event bus ARN "
                           "(arn:aws:events:<region>:<account>:event-bus/<name>), got '%.120s'",
                           out->event_bus);
        free(copy);
    }
    read_rules(ck, settings, path, out);
    if (check_string(ck, settings, path, "endpoint", false, &out->endpoint))
        config_check_http_url(ck, settings, path, "endpoint", out->endpoint);
    check_duration(ck, settings, path, "ruleRefresh", &out->rule_refresh_seconds);
    read_batch(ck, settings, path, out);
    check_int(ck, settings, path, "rateLimit", 1, 1000000, &out->rate_limit);
    read_resources(ck, settings, path, out);
    config_read_auth(ck, settings, path, (1u << AUTH_AWS_ACCESS_KEY) | (1u << AUTH_AWS_IAM_ROLE),
                     &out->auth);
}

void config_eventbridge_clear(config_eventbridge *eventbridge)
{
    free(eventbridge->region);
    free(eventbridge->event_bus);
    for (size_t i = 0; i < eventbridge->rule_count; i++)
        free(eventbridge->rule_arns[i]);
    free(eventbridge->rule_arns);
    for (size_t i = 0; i < eventbridge->resource_count; i++)
        free(eventbridge->resources[i]);
    free(eventbridge->resources);
    config_auth_clear(&eventbridge->auth);
    free(eventbridge->endpoint);
    memset(eventbridge, 0, sizeof *eventbridge);
}
