#include "check.h"
#include "event.h"

#include <stdlib.h>

static event *valid_event(void)
{
    event *ev = event_new();
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", "42");
    event_set_attribute(ev, "source", "/vcenter");
    event_set_attribute(ev, "type", "com.vmware.event.router/event");
    return ev;
}

static void test_required_attributes(void)
{
    char reason[256];
    event *ev = valid_event();
    CHECK(event_validate(ev, reason, sizeof reason));
    event_set_attribute(ev, "source", NULL);
    CHECK(!event_validate(ev, reason, sizeof reason));
    CHECK_CONTAINS(reason, "'source'");
    event_set_attribute(ev, "source", "");
    CHECK(!event_validate(ev, reason, sizeof reason));
    event_unref(ev);
}

static void test_specversion_and_time(void)
{
    char reason[256];
    event *ev = valid_event();
    event_set_attribute(ev, "specversion", "0.3");
    CHECK(!event_validate(ev, reason, sizeof reason));
    CHECK_CONTAINS(reason, "specversion");
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "time", "2026-11-25T18:00:00.123Z");
    CHECK(event_validate(ev, reason, sizeof reason));
    event_set_attribute(ev, "time", "2026-11-25T18:00:00+01:00");
    CHECK(event_validate(ev, reason, sizeof reason));
    event_set_attribute(ev, "time", "yesterday");
    CHECK(!event_validate(ev, reason, sizeof reason));
    CHECK_CONTAINS(reason, "time");
    event_set_attribute(ev, "time", "2026-13-25T18:00:00Z");
    CHECK(!event_validate(ev, reason, sizeof reason));
    event_unref(ev);
}

static void test_extensions(void)
{
    event *ev = valid_event();
    CHECK(event_set_attribute(ev, "vsphereapiversion", "8.0.2"));
    CHECK_STR(event_get_attribute(ev, "vsphereapiversion"), "8.0.2");
    CHECK(event_set_attribute(ev, "vsphereapiversion", "7.0"));
    CHECK_STR(event_get_attribute(ev, "vsphereapiversion"), "7.0");
    CHECK(ev->extension_count == 1);
    CHECK(!event_set_attribute(ev, "Bad-Name", "x"));
    CHECK(event_set_attribute(ev, "vsphereapiversion", NULL));
    CHECK(event_get_attribute(ev, "vsphereapiversion") == NULL);
    event_unref(ev);
}

static void test_structured_round_trip(void)
{
    char reason[256];
    event *ev = valid_event();
    event_set_attribute(ev, "subject", "VmPoweredOnEvent");
    event_set_attribute(ev, "datacontenttype", "application/json");
    const char *data = "{\"Key\":7,\"Vm\":{\"Type\":\"VirtualMachine\",\"Value\":\"vm-1\"}}";
    CHECK(event_set_data(ev, data, strlen(data), true));
    cJSON *json = event_to_json(ev);
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(json, "data")));
    event *back = event_from_json(json, reason, sizeof reason);
    CHECK(back != NULL);
    if (back) {
        CHECK_STR(back->subject, "VmPoweredOnEvent");
        CHECK(back->data_json != NULL);
        CHECK(cJSON_GetObjectItem(back->data_json, "Key")->valueint == 7);
        event_unref(back);
    }
    cJSON_Delete(json);
    event_unref(ev);
}

static void test_binary_data_uses_base64(void)
{
    char reason[256];
    event *ev = valid_event();
    event_set_attribute(ev, "datacontenttype", "application/octet-stream");
    const unsigned char bytes[] = {0, 1, 2, 255, 'a'};
    CHECK(event_set_data(ev, bytes, sizeof bytes, false));
    cJSON *json = event_to_json(ev);
    CHECK(cJSON_GetObjectItem(json, "data") == NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(json, "data_base64")), "AAEC/2E=");
    event *back = event_from_json(json, reason, sizeof reason);
    CHECK(back && back->data_len == sizeof bytes && memcmp(back->data, bytes, sizeof bytes) == 0);
    event_unref(back);
    cJSON_Delete(json);
    event_unref(ev);
}

static void test_invalid_json_data_is_refused(void)
{
    event *ev = valid_event();
    CHECK(!event_set_data(ev, "{\"a\":", 5, true));
    CHECK(!event_set_data(ev, "{} x", 4, true));
    CHECK(ev->data == NULL);
    CHECK(event_content_type_is_json("application/json; charset=utf-8"));
    CHECK(event_content_type_is_json("application/vnd.foo+json"));
    CHECK(!event_content_type_is_json("text/plain"));
    event_unref(ev);
}

int main(void)
{
    RUN_TEST(test_required_attributes);
    RUN_TEST(test_specversion_and_time);
    RUN_TEST(test_extensions);
    RUN_TEST(test_structured_round_trip);
    RUN_TEST(test_binary_data_uses_base64);
    RUN_TEST(test_invalid_json_data_is_refused);
    return CHECK_DONE();
}
