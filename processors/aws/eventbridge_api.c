/* EventBridge JSON 1.1 bodies and answers. */
#include "processors/aws/eventbridge_api.h"

#include "log.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t text_bytes(const char *text)
{
    return text ? strlen(text) : 0;
}

size_t eventbridge_entry_size(const eventbridge_entry *entry)
{
    size_t size = entry->has_time ? EVENTBRIDGE_TIME_BYTES : 0;
    size += text_bytes(entry->source) + text_bytes(entry->detail_type) + text_bytes(entry->detail);
    for (size_t i = 0; i < entry->resource_count; i++)
        size += text_bytes(entry->resources[i]);
    return size;
}

size_t eventbridge_batch_take(const size_t *sizes, size_t count)
{
    size_t taken = 0, bytes = 0;
    while (taken < count && taken < EVENTBRIDGE_MAX_ENTRIES &&
           sizes[taken] <= EVENTBRIDGE_MAX_CALL_BYTES - bytes) {
        bytes += sizes[taken];
        taken++;
    }
    return taken;
}

static cJSON *entry_json(const eventbridge_entry *entry)
{
    cJSON *object = cJSON_CreateObject();
    if (!object)
        return NULL;
    bool ok = cJSON_AddStringToObject(object, "Source", entry->source) &&
              cJSON_AddStringToObject(object, "DetailType", entry->detail_type) &&
              cJSON_AddStringToObject(object, "Detail", entry->detail);
    if (ok && entry->event_bus_name)
        ok = cJSON_AddStringToObject(object, "EventBusName", entry->event_bus_name) != NULL;
    /* JSON 1.1 sends a timestamp as seconds since the epoch. */
    if (ok && entry->has_time)
        ok = cJSON_AddNumberToObject(object, "Time", entry->time) != NULL;
    if (ok && entry->resource_count > 0) {
        cJSON *resources = cJSON_AddArrayToObject(object, "Resources");
        ok = resources != NULL;
        for (size_t i = 0; ok && i < entry->resource_count; i++) {
            cJSON *item = cJSON_CreateString(entry->resources[i]);
            ok = item && cJSON_AddItemToArray(resources, item);
        }
    }
    if (!ok) {
        cJSON_Delete(object);
        return NULL;
    }
    return object;
}

char *eventbridge_put_events_body(const eventbridge_entry *entries, size_t count, size_t *len,
                                  char *err, size_t err_cap)
{
    if (count == 0 || count > EVENTBRIDGE_MAX_ENTRIES) {
        format_message(err, err_cap, "PutEvents takes 1 to %d entries, not %zu",
                       EVENTBRIDGE_MAX_ENTRIES, count);
        return NULL;
    }
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (!entries[i].source || !entries[i].detail_type || !entries[i].detail) {
            format_message(err, err_cap, "entry %zu has no %s", i,
                           !entries[i].source        ? "Source"
                           : !entries[i].detail_type ? "DetailType"
                                                     : "Detail");
            return NULL;
        }
        total += eventbridge_entry_size(&entries[i]);
    }
    if (total > EVENTBRIDGE_MAX_CALL_BYTES) {
        format_message(err, err_cap, "entries of %zu bytes exceed PutEvents' %d bytes per call",
                       total, EVENTBRIDGE_MAX_CALL_BYTES);
        return NULL;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *array = root ? cJSON_AddArrayToObject(root, "Entries") : NULL;
    bool ok = array != NULL;
    for (size_t i = 0; ok && i < count; i++) {
        cJSON *item = entry_json(&entries[i]);
        ok = item && cJSON_AddItemToArray(array, item);
    }
    char *body = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!body) {
        format_message(err, err_cap, "out of memory building a PutEvents body");
        return NULL;
    }
    if (len)
        *len = strlen(body);
    return body;
}

bool eventbridge_entry_error_is_retryable(const char *error_code)
{
    return error_code && (strcmp(error_code, "InternalFailure") == 0 ||
                          strcmp(error_code, "ThrottlingException") == 0);
}

static void copy_string(char *out, size_t cap, const cJSON *item)
{
    const char *text = cJSON_GetStringValue(item);
    format_message(out, cap, "%s", text ? text : "");
}

int eventbridge_parse_put_events(const char *body, size_t len, size_t sent,
                                 eventbridge_entry_result *results, size_t *failed, char *err,
                                 size_t err_cap)
{
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        format_message(err, err_cap, "the PutEvents answer is not a JSON object");
        goto out;
    }
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "Entries");
    const cJSON *failed_count = cJSON_GetObjectItemCaseSensitive(root, "FailedEntryCount");
    if (!cJSON_IsArray(entries) || (size_t)cJSON_GetArraySize(entries) != sent) {
        format_message(err, err_cap, "the PutEvents answer has %d entries for %zu sent",
                       cJSON_IsArray(entries) ? cJSON_GetArraySize(entries) : -1, sent);
        goto out;
    }
    double reported = cJSON_IsNumber(failed_count) ? failed_count->valuedouble : -1;
    if (!(reported >= 0 && reported <= (double)sent && floor(reported) == reported)) {
        format_message(err, err_cap, "the PutEvents answer has no valid FailedEntryCount");
        goto out;
    }
    size_t errors = 0, index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, entries)
    {
        eventbridge_entry_result *result = &results[index++];
        memset(result, 0, sizeof *result);
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(item, "ErrorCode");
        const cJSON *event_id = cJSON_GetObjectItemCaseSensitive(item, "EventId");
        const char *code_text = cJSON_GetStringValue(code);
        if (code_text && *code_text) {
            errors++;
            copy_string(result->error_code, sizeof result->error_code, code);
            copy_string(result->error_message, sizeof result->error_message,
                        cJSON_GetObjectItemCaseSensitive(item, "ErrorMessage"));
            result->status = eventbridge_entry_error_is_retryable(code_text)
                                 ? EVENTBRIDGE_ENTRY_RETRY
                                 : EVENTBRIDGE_ENTRY_FAILED;
        } else if (cJSON_GetStringValue(event_id) && *cJSON_GetStringValue(event_id)) {
            copy_string(result->event_id, sizeof result->event_id, event_id);
            result->status = EVENTBRIDGE_ENTRY_OK;
        } else {
            format_message(result->error_code, sizeof result->error_code, "MissingEventId");
            format_message(result->error_message, sizeof result->error_message,
                           "the answer has neither EventId nor ErrorCode for this entry");
            result->status = EVENTBRIDGE_ENTRY_RETRY;
        }
    }
    if ((size_t)reported != errors) {
        format_message(err, err_cap,
                       "the PutEvents answer says FailedEntryCount %zu but %zu entries carry an "
                       "ErrorCode",
                       (size_t)reported, errors);
        goto out;
    }
    if (failed)
        *failed = errors;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

void eventbridge_parse_error(const char *body, size_t len, char *code, size_t code_cap,
                             char *message, size_t message_cap)
{
    format_message(code, code_cap, "%s", "");
    format_message(message, message_cap, "%s", "");
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return;
    }
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "__type"));
    if (!type)
        type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "code"));
    if (type) {
        const char *hash = strrchr(type, '#');
        format_message(code, code_cap, "%s", hash ? hash + 1 : type);
    }
    /* AWS spells it "message" or "Message" depending on the service generation. */
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "message"));
    if (!text)
        text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "Message"));
    if (text)
        format_message(message, message_cap, "%s", text);
    cJSON_Delete(root);
}

bool eventbridge_is_throttling(const char *error_code)
{
    return error_code &&
           (strcmp(error_code, "ThrottlingException") == 0 ||
            strcmp(error_code, "Throttling") == 0 || strcmp(error_code, "TooManyRequests") == 0 ||
            strcmp(error_code, "TooManyRequestsException") == 0 ||
            strcmp(error_code, "RequestLimitExceeded") == 0);
}

eventbridge_call_status eventbridge_classify_call(long http_status, const char *error_code)
{
    if (http_status >= 200 && http_status < 300)
        return EVENTBRIDGE_CALL_OK;
    if (http_status == 0 || http_status == 408 || http_status == 429 || http_status >= 500)
        return EVENTBRIDGE_CALL_RETRY;
    /* A 400 that only says "not now": throttled, a passing internal failure, or temporary
     * credentials that expired in flight (the next attempt signs with refreshed ones). */
    if (eventbridge_is_throttling(error_code) ||
        (error_code && (strcmp(error_code, "InternalFailure") == 0 ||
                        strcmp(error_code, "ServiceUnavailable") == 0 ||
                        strcmp(error_code, "ExpiredTokenException") == 0 ||
                        strcmp(error_code, "RequestExpired") == 0)))
        return EVENTBRIDGE_CALL_RETRY;
    return EVENTBRIDGE_CALL_FAILED;
}

char *eventbridge_list_rules_body(const char *event_bus_name, const char *next_token, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && event_bus_name)
        ok = cJSON_AddStringToObject(root, "EventBusName", event_bus_name) != NULL;
    if (ok)
        ok = cJSON_AddNumberToObject(root, "Limit", EVENTBRIDGE_LIST_RULES_LIMIT) != NULL;
    if (ok && next_token)
        ok = cJSON_AddStringToObject(root, "NextToken", next_token) != NULL;
    char *body = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (body && len)
        *len = strlen(body);
    return body;
}

static char *dup_string(const cJSON *object, const char *key)
{
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(object, key));
    return text ? strdup(text) : NULL;
}

static void rule_clear(eventbridge_rule *rule)
{
    free(rule->name);
    free(rule->arn);
    free(rule->event_pattern);
    free(rule->state);
    free(rule->event_bus_name);
    memset(rule, 0, sizeof *rule);
}

void eventbridge_rule_page_free(eventbridge_rule_page *page)
{
    for (size_t i = 0; i < page->count; i++)
        rule_clear(&page->rules[i]);
    free(page->rules);
    free(page->next_token);
    memset(page, 0, sizeof *page);
}

int eventbridge_parse_list_rules(const char *body, size_t len, eventbridge_rule_page *page,
                                 char *err, size_t err_cap)
{
    memset(page, 0, sizeof *page);
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        format_message(err, err_cap, "the ListRules answer is not a JSON object");
        goto out;
    }
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "Rules");
    if (rules && !cJSON_IsArray(rules) && !cJSON_IsNull(rules)) {
        format_message(err, err_cap, "the ListRules answer's Rules is not an array");
        goto out;
    }
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(root, "NextToken");
    if (next && !cJSON_IsString(next) && !cJSON_IsNull(next)) {
        format_message(err, err_cap, "the ListRules answer's NextToken is not a string");
        goto out;
    }
    size_t count = cJSON_IsArray(rules) ? (size_t)cJSON_GetArraySize(rules) : 0;
    if (count > 0) {
        page->rules = calloc(count, sizeof *page->rules);
        if (!page->rules) {
            format_message(err, err_cap, "out of memory reading ListRules");
            goto out;
        }
    }
    const cJSON *item;
    size_t index = 0;
    cJSON_ArrayForEach(item, rules)
    {
        eventbridge_rule *rule = &page->rules[index];
        rule->name = dup_string(item, "Name");
        rule->arn = dup_string(item, "Arn");
        rule->event_pattern = dup_string(item, "EventPattern");
        rule->state = dup_string(item, "State");
        rule->event_bus_name = dup_string(item, "EventBusName");
        page->count = ++index;
        if (!rule->name || !rule->arn) {
            format_message(err, err_cap, "rule %zu of the ListRules answer has no %s", index - 1,
                           !rule->name ? "Name" : "Arn");
            goto out;
        }
    }
    const char *token = cJSON_GetStringValue(next);
    if (token && *token && !(page->next_token = strdup(token))) {
        format_message(err, err_cap, "out of memory reading ListRules");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        eventbridge_rule_page_free(page);
    cJSON_Delete(root);
    return rc;
}

const eventbridge_rule *eventbridge_rule_find(const eventbridge_rule_page *page, const char *arn)
{
    for (size_t i = 0; arn && i < page->count; i++)
        if (strcmp(page->rules[i].arn, arn) == 0)
            return &page->rules[i];
    return NULL;
}
