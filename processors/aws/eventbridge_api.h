/* Amazon EventBridge's JSON 1.1 API, the parts the processor uses: PutEvents (request body, entry
 * sizing, batching limits, the per-entry answer) and ListRules (request body with paging, the
 * answer), plus the error answer AWS sends for a whole call. Pure: no I/O, no clock; the
 * processor signs and sends what these build and hands back what came in.
 *
 * Facts from AWS's PutEvents reference: at most 10 entries per call; at most 256 KiB per call,
 * where an entry counts 14 bytes for Time (when set) plus the UTF-8 lengths of Source,
 * DetailType, Detail and every Resources string. A call answers 200 with FailedEntryCount and one
 * result per entry in order: EventId, or ErrorCode and ErrorMessage. */
#ifndef EVENT_ROUTER_AWS_EVENTBRIDGE_API_H
#define EVENT_ROUTER_AWS_EVENTBRIDGE_API_H

#include <stdbool.h>
#include <stddef.h>

#define EVENTBRIDGE_MAX_ENTRIES 10
#define EVENTBRIDGE_MAX_CALL_BYTES (256 * 1024)
#define EVENTBRIDGE_TIME_BYTES 14
#define EVENTBRIDGE_LIST_RULES_LIMIT 50

#define EVENTBRIDGE_TARGET_PUT_EVENTS "AWSEvents.PutEvents"
#define EVENTBRIDGE_TARGET_LIST_RULES "AWSEvents.ListRules"
#define EVENTBRIDGE_CONTENT_TYPE "application/x-amz-json-1.1"

typedef struct eventbridge_entry {
    const char *source;
    const char *detail_type;
    const char *detail; /* a JSON object as text */
    const char *const *resources;
    size_t resource_count;
    bool has_time;
    double time;                /* seconds since the epoch, when has_time */
    const char *event_bus_name; /* a name or a bus ARN; NULL: the default bus */
} eventbridge_entry;

/* The entry's size as AWS counts it against the 256 KiB limit. */
size_t eventbridge_entry_size(const eventbridge_entry *entry);

/* How many of the leading entries (their AWS sizes in sizes[]) go into the next call: at most
 * 10 and at most 256 KiB together. 0 when sizes[0] alone is over the limit: that entry can never
 * be sent and must be dead-lettered. */
size_t eventbridge_batch_take(const size_t *sizes, size_t count);

/* The PutEvents body for entries[0..count) ({"Entries":[...]}), malloc'd and NUL-terminated.
 * Refuses (NULL, reason in err) 0 or more than 10 entries, more than 256 KiB, or a missing
 * Source, DetailType or Detail. */
char *eventbridge_put_events_body(const eventbridge_entry *entries, size_t count, size_t *len,
                                  char *err, size_t err_cap);

typedef enum {
    EVENTBRIDGE_ENTRY_OK = 0, /* accepted, event_id set */
    EVENTBRIDGE_ENTRY_RETRY,  /* InternalFailure, ThrottlingException: send this entry again */
    EVENTBRIDGE_ENTRY_FAILED, /* any other error code: it will never be accepted as it is */
} eventbridge_entry_status;

typedef struct eventbridge_entry_result {
    eventbridge_entry_status status;
    char event_id[80];
    char error_code[64];
    char error_message[256];
} eventbridge_entry_result;

/* Whether a per-entry ErrorCode is worth retrying (InternalFailure, ThrottlingException). */
bool eventbridge_entry_error_is_retryable(const char *error_code);

/* Reads a PutEvents 200 answer for a call of sent entries into results[0..sent). *failed gets
 * FailedEntryCount. Returns 0, or -1 with a reason in err when the answer is not a PutEvents
 * answer for that many entries (not JSON, Entries missing or of another length, FailedEntryCount
 * missing or not the number of entries with an ErrorCode): then nothing is known about any entry
 * and the caller retries the whole call. An entry with neither EventId nor ErrorCode counts as
 * RETRY (error code "MissingEventId"), so it is not taken as delivered. */
int eventbridge_parse_put_events(const char *body, size_t len, size_t sent,
                                 eventbridge_entry_result *results, size_t *failed, char *err,
                                 size_t err_cap);

/* The error answer of a whole call ({"__type":"...#ThrottlingException","message":"..."}):
 * the code without its namespace and the message (either may come back empty). */
void eventbridge_parse_error(const char *body, size_t len, char *code, size_t code_cap,
                             char *message, size_t message_cap);

typedef enum {
    EVENTBRIDGE_CALL_OK = 0,
    EVENTBRIDGE_CALL_RETRY,  /* transport error, 408, 429, 5xx, throttling, expired token */
    EVENTBRIDGE_CALL_FAILED, /* other 4xx: bad key, wrong signature, access denied, bad request */
} eventbridge_call_status;

/* Classifies a whole call by HTTP status (0 for no answer) and the error code of its answer. */
eventbridge_call_status eventbridge_classify_call(long http_status, const char *error_code);
/* Whether error_code says the caller is being throttled (so it should also slow down). */
bool eventbridge_is_throttling(const char *error_code);

/* The ListRules body: {"EventBusName":bus,"Limit":50[,"NextToken":next]}. bus may be NULL
 * (the default bus), next NULL for the first page. malloc'd; NULL when out of memory. */
char *eventbridge_list_rules_body(const char *event_bus_name, const char *next_token, size_t *len);

typedef struct eventbridge_rule {
    char *name;
    char *arn;
    char *event_pattern; /* NULL for a schedule rule */
    char *state;         /* "ENABLED", "DISABLED", ... */
    char *event_bus_name;
} eventbridge_rule;

typedef struct eventbridge_rule_page {
    eventbridge_rule *rules;
    size_t count;
    char *next_token; /* NULL on the last page */
} eventbridge_rule_page;

/* Reads a ListRules answer into page (free with eventbridge_rule_page_free). Returns 0, or -1
 * with a reason in err (and page empty). A rule without Name or Arn is refused. */
int eventbridge_parse_list_rules(const char *body, size_t len, eventbridge_rule_page *page,
                                 char *err, size_t err_cap);
void eventbridge_rule_page_free(eventbridge_rule_page *page);
/* The rule of page whose Arn is arn, or NULL. */
const eventbridge_rule *eventbridge_rule_find(const eventbridge_rule_page *page, const char *arn);

#endif
