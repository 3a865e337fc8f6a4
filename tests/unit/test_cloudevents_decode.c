#include "check.h"
#include "http/cloudevents_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Builds an http_request from "name: value" pairs (names lower-cased, as the server gives them). */
typedef struct fake_request {
    const char *names[16];
    const char *values[16];
    http_request request;
} fake_request;

static const http_request *make_request(fake_request *f, const char *const *headers,
                                        const char *body)
{
    size_t n = 0;
    for (; headers && headers[2 * n]; n++) {
        f->names[n] = headers[2 * n];
        f->values[n] = headers[2 * n + 1];
    }
    f->request = (http_request){.method = "POST",
                                .path = "/webhook",
                                .query = "",
                                .header_names = f->names,
                                .header_values = f->values,
                                .header_count = n,
                                .body = body ? body : "",
                                .body_len = body ? strlen(body) : 0};
    return &f->request;
}

static char reason[256];

static int decode(const char *const *headers, const char *body, event ***events, size_t *count)
{
    fake_request f;
    reason[0] = '\0';
    return cloudevents_http_decode(make_request(&f, headers, body), events, count, reason,
                                   sizeof reason);
}

static void free_events(event **events, size_t count)
{
    for (size_t i = 0; i < count; i++)
        event_unref(events[i]);
    free(events);
}

static void test_binary_mode(void)
{
    const char *headers[] = {"ce-specversion",
                             "1.0",
                             "ce-id",
                             "42",
                             "ce-source",
                             "/vcenter",
                             "ce-type",
                             "com.vmware.event.router/event",
                             "ce-subject",
                             "VmPoweredOnEvent",
                             "ce-time",
                             "2026-01-02T03:04:05.123Z",
                             "ce-myextension",
                             "hello%20world%22%25%C3%A9",
                             "content-type",
                             "application/json; charset=utf-8",
                             "x-other",
                             "ignored",
                             NULL};
    event **events;
    size_t count;
    CHECK(decode(headers, "{\"vm\": \"web-01\"}", &events, &count) == 0);
    CHECK(count == 1);
    if (count != 1)
        return;
    event *ev = events[0];
    CHECK_STR(ev->specversion, "1.0");
    CHECK_STR(ev->id, "42");
    CHECK_STR(ev->source, "/vcenter");
    CHECK_STR(ev->type, "com.vmware.event.router/event");
    CHECK_STR(ev->subject, "VmPoweredOnEvent");
    CHECK_STR(ev->time, "2026-01-02T03:04:05.123Z");
    CHECK_STR(ev->datacontenttype, "application/json; charset=utf-8");
    CHECK_STR(event_get_attribute(ev, "myextension"), "hello world\"%\xC3\xA9");
    CHECK(event_get_attribute(ev, "x-other") == NULL);
    CHECK(ev->data_json != NULL);
    CHECK_STR(cJSON_GetObjectItem(ev->data_json, "vm")->valuestring, "web-01");
    CHECK(ev->data_len == strlen("{\"vm\": \"web-01\"}"));
    free_events(events, count);
}

static void test_binary_mode_data_kinds(void)
{
    event **events;
    size_t count;
    /* Non-JSON data is kept as bytes, not parsed. */
    const char *text[] = {"ce-specversion", "1.0", "ce-id",        "1",          "ce-source", "s",
                          "ce-type",        "t",   "content-type", "text/plain", NULL};
    CHECK(decode(text, "not json", &events, &count) == 0);
    if (count == 1) {
        CHECK(events[0]->data_json == NULL);
        CHECK(events[0]->data_len == 8 && memcmp(events[0]->data, "not json", 8) == 0);
        free_events(events, count);
    }
    /* No content type and no body: no data, no datacontenttype. */
    const char *bare[] = {"ce-specversion", "1.0", "ce-id", "1", "ce-source", "s",
                          "ce-type",        "t",   NULL};
    CHECK(decode(bare, NULL, &events, &count) == 0);
    if (count == 1) {
        CHECK(events[0]->data == NULL && events[0]->data_len == 0);
        CHECK(events[0]->datacontenttype == NULL);
        free_events(events, count);
    }
    /* Declared JSON that is not JSON is refused. */
    const char *json[] = {
        "ce-specversion",   "1.0", "ce-id", "1", "ce-source", "s", "ce-type", "t", "content-type",
        "application/json", NULL};
    CHECK(decode(json, "{broken", &events, &count) == -1);
    CHECK_CONTAINS(reason, "not valid JSON");
    CHECK(events == NULL && count == 0);
}

static void test_binary_mode_validation_reasons(void)
{
    event **events;
    size_t count;
    const char *missing_id[] = {"ce-specversion", "1.0", "ce-source", "s", "ce-type", "t", NULL};
    CHECK(decode(missing_id, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "'id'");
    CHECK_CONTAINS(reason, "missing");

    const char *missing_source[] = {"ce-specversion", "1.0", "ce-id", "1", "ce-type", "t", NULL};
    CHECK(decode(missing_source, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "'source'");

    const char *missing_type[] = {"ce-specversion", "1.0", "ce-id", "1", "ce-source", "s", NULL};
    CHECK(decode(missing_type, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "'type'");

    const char *empty_id[] = {"ce-specversion", "1.0", "ce-id", "", "ce-source", "s",
                              "ce-type",        "t",   NULL};
    CHECK(decode(empty_id, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "'id'");

    const char *old_version[] = {"ce-specversion", "0.3", "ce-id", "1", "ce-source", "s",
                                 "ce-type",        "t",   NULL};
    CHECK(decode(old_version, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "specversion");

    const char *bad_time[] = {"ce-specversion", "1.0", "ce-id",   "1",         "ce-source", "s",
                              "ce-type",        "t",   "ce-time", "yesterday", NULL};
    CHECK(decode(bad_time, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "'time'");

    const char *bad_name[] = {"ce-specversion", "1.0", "ce-id",     "1", "ce-source", "s",
                              "ce-type",        "t",   "ce-my_ext", "x", NULL};
    CHECK(decode(bad_name, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "ce-my_ext");

    const char *bad_percent[] = {"ce-specversion", "1.0", "ce-id", "1%2", "ce-source", "s",
                                 "ce-type",        "t",   NULL};
    CHECK(decode(bad_percent, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "percent-encoding");
    CHECK_CONTAINS(reason, "ce-id");

    const char *nul_percent[] = {"ce-specversion", "1.0", "ce-id", "a%00b", "ce-source", "s",
                                 "ce-type",        "t",   NULL};
    CHECK(decode(nul_percent, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "percent-encoding");
}

/* Regression (issue 11): data declared JSON is held to RFC 8259, not cJSON's leniency (NUL or
 * control bytes as whitespace, leading zeros), and the reason says what and where. */
static void test_strict_json_data(void)
{
    event **events;
    size_t count;
    const char *json[] = {"ce-specversion",
                          "1.0",
                          "ce-id",
                          "1",
                          "ce-source",
                          "s",
                          "ce-type",
                          "t",
                          "content-type",
                          "application/vnd.vmware+json; charset=utf-8",
                          NULL};
    fake_request f;
    const http_request *request = make_request(&f, json, NULL);
    f.request.body = "{\"a\":\0 1}";
    f.request.body_len = 9;
    CHECK(cloudevents_http_decode(request, &events, &count, reason, sizeof reason) == -1);
    CHECK_CONTAINS(reason, "data is not valid JSON (RFC 8259) at byte 5 (0x00): NUL byte");
    CHECK(decode(json, "{\"a\":\x01 1}", &events, &count) == -1);
    CHECK_CONTAINS(reason, "control byte");
    CHECK(decode(json, "{\"a\": 012}", &events, &count) == -1);
    CHECK_CONTAINS(reason, "leading zero");
    CHECK(decode(json, "{\"a\": 12} ", &events, &count) == 0);
    if (count == 1)
        free_events(events, count);

    /* Without a declared type, lenient JSON is kept as bytes, not parsed. */
    const char *untyped[] = {"ce-specversion", "1.0", "ce-id", "1", "ce-source", "s",
                             "ce-type",        "t",   NULL};
    CHECK(decode(untyped, "[012]", &events, &count) == 0);
    if (count == 1) {
        CHECK(events[0]->data_json == NULL);
        free_events(events, count);
    }

    /* Structured and batched bodies are JSON too. */
    const char *structured[] = {"content-type", "application/cloudevents+json", NULL};
    CHECK(decode(structured,
                 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
                 "\"data\":007}",
                 &events, &count) == -1);
    CHECK_CONTAINS(reason, "structured event body is not valid JSON (RFC 8259) at byte");
    CHECK_CONTAINS(reason, "leading zero");
    const char *batch[] = {"content-type", "application/cloudevents-batch+json", NULL};
    CHECK(decode(batch, "[{\"specversion\":\"1.0\"},]", &events, &count) == -1);
    CHECK_CONTAINS(reason,
                   "batch body is not valid JSON (RFC 8259) at byte 23 (']'): trailing comma");
}

/* Regression (issue 11): bytes that are not UTF-8 in an attribute were accepted at intake and
 * refused later by the strict JSON encoder (structured mode) or a strict receiver. They are
 * refused here, naming the header; data under a non-JSON type is opaque bytes and stays accepted,
 * and structured mode carries it as data_base64, which decodes back byte for byte. */
static void test_invalid_utf8_at_intake(void)
{
    event **events;
    size_t count;
    const char *subject_encoded[] = {"ce-specversion", "1.0",    "ce-id",   "1",
                                     "ce-source",      "s",      "ce-type", "t",
                                     "ce-subject",     "caf%FF", NULL};
    CHECK(decode(subject_encoded, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "header 'ce-subject': the value is not valid UTF-8");
    const char *extension_raw[] = {"ce-specversion", "1.0",       "ce-id",   "1",
                                   "ce-source",      "s",         "ce-type", "t",
                                   "ce-vmname",      "\xc0\xafx", NULL};
    CHECK(decode(extension_raw, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "header 'ce-vmname': the value is not valid UTF-8");
    const char *good[] = {"ce-specversion", "1.0", "ce-id",      "1",         "ce-source", "s",
                          "ce-type",        "t",   "ce-subject", "caf%C3%A9", NULL};
    CHECK(decode(good, NULL, &events, &count) == 0);
    if (count == 1)
        free_events(events, count);

    /* JSON data with a bad byte inside a string: refused, naming the data. */
    const char *json[] = {
        "ce-specversion",   "1.0", "ce-id", "1", "ce-source", "s", "ce-type", "t", "content-type",
        "application/json", NULL};
    CHECK(decode(json, "{\"a\":\"\xff\"}", &events, &count) == -1);
    CHECK_CONTAINS(reason, "data is not valid JSON (RFC 8259) at byte 6");
    CHECK_CONTAINS(reason, "UTF-8");

    /* Text that is not UTF-8 is opaque bytes: accepted, and carried as data_base64. */
    const char *text[] = {"ce-specversion", "1.0", "ce-id",        "t1",         "ce-source", "s",
                          "ce-type",        "t",   "content-type", "text/plain", NULL};
    CHECK(decode(text, "caf\xff", &events, &count) == 0);
    if (count != 1)
        return;
    cloudevents_http_message message = {0};
    CHECK(cloudevents_http_encode(events[0], true, &message) == 0);
    CHECK_CONTAINS(message.body, "\"data_base64\":\"Y2Fm/w==\"");
    const char *structured[] = {"content-type", "application/cloudevents+json", NULL};
    event **again;
    size_t again_count;
    char body[512];
    snprintf(body, sizeof body, "%.*s", (int)message.body_len, message.body);
    CHECK(decode(structured, body, &again, &again_count) == 0);
    if (again_count == 1) {
        CHECK(again[0]->data_len == 4 && memcmp(again[0]->data, "caf\xff", 4) == 0);
        free_events(again, again_count);
    }
    cloudevents_http_message_free(&message);
    free_events(events, count);
}

/* Regression (issue 11): a second ce-id (any ce- attribute, or Content-Type) was taken, the last
 * one winning; it is refused naming the header. */
static void test_duplicate_attribute_headers(void)
{
    event **events;
    size_t count;
    const char *twice[] = {"ce-specversion", "1.0", "ce-id", "1", "ce-source", "s",
                           "ce-type",        "t",   "ce-id", "2", NULL};
    CHECK(decode(twice, NULL, &events, &count) == -1);
    CHECK_CONTAINS(reason, "header 'ce-id' is given more than once");
    const char *types[] = {"ce-specversion",
                           "1.0",
                           "ce-id",
                           "1",
                           "ce-source",
                           "s",
                           "ce-type",
                           "t",
                           "content-type",
                           "text/plain",
                           "content-type",
                           "application/json",
                           NULL};
    CHECK(decode(types, "x", &events, &count) == -1);
    CHECK_CONTAINS(reason, "header 'content-type' is given more than once");
    const char *structured[] = {
        "content-type", "application/cloudevents+json", "ce-id", "1", "ce-id", "2", NULL};
    CHECK(decode(structured, "{}", &events, &count) == -1);
    CHECK_CONTAINS(reason, "'ce-id'");
}

static void test_structured_mode(void)
{
    const char *headers[] = {"content-type", "application/cloudevents+json; charset=UTF-8", NULL};
    event **events;
    size_t count;
    CHECK(decode(headers,
                 "{\"specversion\":\"1.0\",\"id\":\"7\",\"source\":\"/s\",\"type\":\"t\","
                 "\"datacontenttype\":\"application/json\",\"data\":{\"a\":1},\"ext\":\"x\"}",
                 &events, &count) == 0);
    CHECK(count == 1);
    if (count == 1) {
        CHECK_STR(events[0]->id, "7");
        CHECK_STR(events[0]->datacontenttype, "application/json");
        CHECK_STR(event_get_attribute(events[0], "ext"), "x");
        CHECK(cJSON_GetObjectItem(events[0]->data_json, "a")->valueint == 1);
        free_events(events, count);
    }
    /* ce- headers do not override the structured body. */
    const char *mixed[] = {"content-type", "application/cloudevents+json", "ce-id", "header", NULL};
    CHECK(decode(mixed,
                 "{\"specversion\":\"1.0\",\"id\":\"body\",\"source\":\"/s\",\"type\":\"t\"}",
                 &events, &count) == 0);
    if (count == 1) {
        CHECK_STR(events[0]->id, "body");
        free_events(events, count);
    }
    CHECK(decode(headers, "{\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"}", &events,
                 &count) == -1);
    CHECK_CONTAINS(reason, "'id'");
    CHECK(decode(headers, "{\"specversion\":\"1.0\",", &events, &count) == -1);
    CHECK_CONTAINS(reason, "not valid JSON");
    CHECK(decode(headers, "[1]", &events, &count) == -1);
    CHECK_CONTAINS(reason, "object");
    const char *avro[] = {"content-type", "application/cloudevents+avro", NULL};
    CHECK(decode(avro, "x", &events, &count) == -1);
    CHECK_CONTAINS(reason, "unsupported event format");
}

static void test_batched_mode(void)
{
    const char *headers[] = {"content-type", "application/cloudevents-batch+json", NULL};
    event **events;
    size_t count;
    CHECK(decode(headers,
                 "[{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"},"
                 " {\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"/s\",\"type\":\"t\","
                 "\"data_base64\":\"AAEC\"}]",
                 &events, &count) == 0);
    CHECK(count == 2);
    if (count == 2) {
        CHECK_STR(events[0]->id, "1");
        CHECK_STR(events[1]->id, "2");
        CHECK(events[1]->data_len == 3 && events[1]->data[2] == 2);
        free_events(events, count);
    }
    CHECK(decode(headers, "[]", &events, &count) == 0);
    CHECK(count == 0);
    free(events);

    const char *bad = "[{\"specversion\":\"1.0\",\"id\":\"0\",\"source\":\"/s\",\"type\":\"t\"},"
                      " {\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"},"
                      " {\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"/s\",\"type\":\"t\"},"
                      " {\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"}]";
    CHECK(decode(headers, bad, &events, &count) == -1);
    CHECK_CONTAINS(reason, "event [3]: required attribute 'id' is missing");
    CHECK(events == NULL && count == 0);

    CHECK(decode(headers, "{\"specversion\":\"1.0\"}", &events, &count) == -1);
    CHECK_CONTAINS(reason, "array");
    CHECK(decode(headers, "[1]", &events, &count) == -1);
    CHECK_CONTAINS(reason, "event [0]");
    CHECK(decode(headers, "[", &events, &count) == -1);
    CHECK_CONTAINS(reason, "not valid JSON");
}

static void test_not_a_cloudevent(void)
{
    const char *plain[] = {"content-type", "application/json", NULL};
    event **events;
    size_t count;
    CHECK(decode(plain, "{\"id\":\"1\"}", &events, &count) == -1);
    CHECK(strncmp(reason, "not a CloudEvent: ", 18) == 0);
    CHECK(decode(NULL, NULL, &events, &count) == -1);
    CHECK(strncmp(reason, "not a CloudEvent: ", 18) == 0);
}

int main(void)
{
    RUN_TEST(test_binary_mode);
    RUN_TEST(test_binary_mode_data_kinds);
    RUN_TEST(test_binary_mode_validation_reasons);
    RUN_TEST(test_strict_json_data);
    RUN_TEST(test_invalid_utf8_at_intake);
    RUN_TEST(test_duplicate_attribute_headers);
    RUN_TEST(test_structured_mode);
    RUN_TEST(test_batched_mode);
    RUN_TEST(test_not_a_cloudevent);
    return CHECK_DONE();
}
