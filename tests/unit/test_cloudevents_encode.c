/* CloudEvents HTTP binding, outgoing side: binary headers and structured bodies. */
#include "check.h"
#include "http/cloudevents_http.h"

#include <stdlib.h>

static const char *header(const cloudevents_http_message *m, const char *name)
{
    const char *found = NULL;
    int matches = 0;
    for (size_t i = 0; i < m->header_count; i++) {
        if (strcmp(m->headers[i].name, name) == 0) {
            found = m->headers[i].value;
            matches++;
        }
    }
    return matches == 1 ? found : NULL;
}

static event *sample_event(void)
{
    event *ev = event_new();
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", "evt-1");
    event_set_attribute(ev, "source", "/vcenter/host 1");
    event_set_attribute(ev, "type", "com.vmware.event.router/event");
    event_set_attribute(ev, "subject", "VmPoweredOnEvent");
    event_set_attribute(ev, "time", "2024-01-02T03:04:05Z");
    event_set_attribute(ev, "dataschema", "https://example.com/schema");
    event_set_attribute(ev, "vsphereapiversion", "8.0.2");
    event_set_attribute(ev, "note", "say \"h\u00e9\" 100%\n");
    return ev;
}

static void test_binary_headers_and_json_body(void)
{
    event *ev = sample_event();
    CHECK(event_set_data(ev, "{\"vm\":\"web-01\"}", 15, true));
    cloudevents_http_message m;
    CHECK(cloudevents_http_encode(ev, false, &m) == 0);
    CHECK_STR(header(&m, "ce-specversion"), "1.0");
    CHECK_STR(header(&m, "ce-id"), "evt-1");
    CHECK_STR(header(&m, "ce-source"), "/vcenter/host%201");
    CHECK_STR(header(&m, "ce-type"), "com.vmware.event.router/event");
    CHECK_STR(header(&m, "ce-subject"), "VmPoweredOnEvent");
    CHECK_STR(header(&m, "ce-time"), "2024-01-02T03:04:05Z");
    CHECK_STR(header(&m, "ce-dataschema"), "https://example.com/schema");
    CHECK_STR(header(&m, "ce-vsphereapiversion"), "8.0.2");
    /* UTF-8 bytes of e-acute are C3 A9; the newline is 0A. */
    CHECK_STR(header(&m, "ce-note"), "say%20%22h%C3%A9%22%20100%25%0A");
    CHECK_STR(header(&m, "Content-Type"), "application/json");
    CHECK(header(&m, "ce-datacontenttype") == NULL);
    CHECK(m.header_count == 10);
    CHECK(m.body_len == 15);
    CHECK(memcmp(m.body, "{\"vm\":\"web-01\"}", 15) == 0);
    cloudevents_http_message_free(&m);
    event_unref(ev);
}

static void test_binary_explicit_content_type_and_binary_data(void)
{
    event *ev = sample_event();
    event_set_attribute(ev, "datacontenttype", "application/octet-stream");
    const unsigned char bytes[] = {0x00, 0xff, 0x10, 0x7f};
    CHECK(event_set_data(ev, bytes, sizeof bytes, false));
    cloudevents_http_message m;
    CHECK(cloudevents_http_encode(ev, false, &m) == 0);
    CHECK_STR(header(&m, "Content-Type"), "application/octet-stream");
    CHECK(m.body_len == sizeof bytes && memcmp(m.body, bytes, sizeof bytes) == 0);
    cloudevents_http_message_free(&m);
    event_unref(ev);
}

static void test_binary_without_data(void)
{
    event *ev = event_new();
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", "2");
    event_set_attribute(ev, "source", "s");
    event_set_attribute(ev, "type", "t");
    cloudevents_http_message m;
    CHECK(cloudevents_http_encode(ev, false, &m) == 0);
    CHECK(m.header_count == 4);
    CHECK(header(&m, "Content-Type") == NULL);
    CHECK(header(&m, "ce-subject") == NULL);
    CHECK(m.body_len == 0);
    cloudevents_http_message_free(&m);
    event_unref(ev);
}

static void test_structured_round_trip(void)
{
    event *ev = sample_event();
    CHECK(event_set_data(ev, "{\"vm\":\"web-01\",\"n\":[1,2]}", 25, true));
    cloudevents_http_message m;
    CHECK(cloudevents_http_encode(ev, true, &m) == 0);
    CHECK(m.header_count == 1);
    CHECK_STR(header(&m, "Content-Type"), "application/cloudevents+json; charset=utf-8");
    CHECK(m.body_len == strlen(m.body));
    cJSON *json = cJSON_ParseWithLength(m.body, m.body_len);
    CHECK(json != NULL);
    char reason[128] = "";
    event *back = json ? event_from_json(json, reason, sizeof reason) : NULL;
    CHECK(back != NULL);
    if (back) {
        CHECK_STR(back->id, "evt-1");
        CHECK_STR(back->source, "/vcenter/host 1");
        CHECK_STR(back->subject, "VmPoweredOnEvent");
        CHECK_STR(event_get_attribute(back, "note"), "say \"h\u00e9\" 100%\n");
        CHECK_STR(event_get_attribute(back, "vsphereapiversion"), "8.0.2");
        CHECK(back->data_json != NULL);
        CHECK(cJSON_Compare(back->data_json, ev->data_json, true));
        event_unref(back);
    }
    cJSON_Delete(json);
    cloudevents_http_message_free(&m);
    event_unref(ev);
}

static void test_structured_binary_data_as_base64(void)
{
    event *ev = sample_event();
    event_set_attribute(ev, "datacontenttype", "application/octet-stream");
    const unsigned char bytes[] = {1, 2, 3, 0, 250};
    CHECK(event_set_data(ev, bytes, sizeof bytes, false));
    cloudevents_http_message m;
    CHECK(cloudevents_http_encode(ev, true, &m) == 0);
    CHECK_CONTAINS(m.body, "\"data_base64\":\"AQIDAPo=\"");
    cJSON *json = cJSON_Parse(m.body);
    char reason[128];
    event *back = event_from_json(json, reason, sizeof reason);
    CHECK(back && back->data_len == sizeof bytes && memcmp(back->data, bytes, sizeof bytes) == 0);
    if (back)
        event_unref(back);
    cJSON_Delete(json);
    cloudevents_http_message_free(&m);
    event_unref(ev);
}

int main(void)
{
    RUN_TEST(test_binary_headers_and_json_body);
    RUN_TEST(test_binary_explicit_content_type_and_binary_data);
    RUN_TEST(test_binary_without_data);
    RUN_TEST(test_structured_round_trip);
    RUN_TEST(test_structured_binary_data_as_base64);
    return CHECK_DONE();
}
