/* Regression tests for what the fuzz targets (tests/fuzz/) found: one test per finding, named
 * after it, with the smallest input that showed it. The crashing inputs themselves are in the
 * targets' seed corpora (tests/fuzz/corpus/<target>/finding-*), so the fuzz run replays them
 * too. */
#include "check.h"
#include "http/cloudevents_http.h"
#include "sources/horizon/horizon_checkpoint.h"
#include "sources/horizon/horizon_event.h"
#include "sources/vcenter/checkpoint.h"
#include "sources/vcenter/vcenter_convert.h"

#include <libxml/parser.h>
#include <stdlib.h>
#include <unistd.h>

static char reason[256];

static int decode(const char *const *names, const char *const *values, size_t n, const char *body,
                  size_t body_len, event ***events, size_t *count)
{
    http_request request = {.method = "POST",
                            .path = "/",
                            .query = "",
                            .header_names = names,
                            .header_values = values,
                            .header_count = n,
                            .body = body,
                            .body_len = body_len};
    reason[0] = '\0';
    return cloudevents_http_decode(&request, events, count, reason, sizeof reason);
}

static int decode_structured(const char *json, event ***events, size_t *count)
{
    const char *names[] = {"content-type"}, *values[] = {"application/cloudevents+json"};
    return decode(names, values, 1, json, strlen(json), events, count);
}

/* What the router sends for ev (binary or structured mode) must decode again at a receiver like
 * our own webhook. Returns the decoded event (caller unrefs) or NULL. */
static event *round_trip(const event *ev, bool structured)
{
    cloudevents_http_message message = {0};
    if (cloudevents_http_encode(ev, structured, &message) != 0)
        return NULL;
    const char *names[32], *values[32];
    for (size_t i = 0; i < message.header_count && i < 32; i++) {
        names[i] = message.headers[i].name;
        values[i] = message.headers[i].value;
    }
    event **events = NULL;
    size_t count = 0;
    int rc = decode(names, values, message.header_count, message.body, message.body_len, &events,
                    &count);
    cloudevents_http_message_free(&message);
    if (rc != 0) {
        fprintf(stderr, "  re-decoding failed: %s\n", reason);
        return NULL;
    }
    event *again = events[0];
    free(events);
    return again;
}

/* fuzz_cloudevents_decode: structured mode took an extension name of any length, binary mode
 * refused names over 63 characters, so the default (binary) forwarding of such an event failed
 * at the next receiver. */
static void test_long_extension_name_survives_binary_mode(void)
{
    char name[101], json[512];
    memset(name, 'x', 100);
    name[100] = '\0';
    snprintf(json, sizeof json,
             "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"%s\":\"v\"}",
             name);
    event **events = NULL;
    size_t count = 0;
    CHECK(decode_structured(json, &events, &count) == 0);
    if (count != 1)
        return;
    event *again = round_trip(events[0], false);
    CHECK(again != NULL);
    CHECK_STR(again ? event_get_attribute(again, name) : NULL, "v");
    event_unref(again);
    event_unref(events[0]);
    free(events);
}

/* fuzz_cloudevents_decode: in binary mode a ce-datacontenttype header (instead of Content-Type)
 * declared application/json, but the body was not checked as JSON; forwarded, it became an
 * application/json body that is not JSON. Now the header's type is checked like Content-Type. */
static void test_ce_datacontenttype_header_is_checked(void)
{
    const char *names[] = {"ce-specversion", "ce-id", "ce-source", "ce-type", "ce-datacontenttype"};
    const char *values[] = {"1.0", "1", "/s", "t", "application/json"};
    event **events = NULL;
    size_t count = 0;
    const char *not_json = "{\"Key\":42,\"x\" on}";
    CHECK(decode(names, values, 5, not_json, strlen(not_json), &events, &count) == -1);
    CHECK_CONTAINS(reason, "not valid JSON");

    const char *json = "{\"Key\":42}";
    CHECK(decode(names, values, 5, json, strlen(json), &events, &count) == 0);
    if (count == 1) {
        CHECK(events[0]->data_json != NULL);
        event *again = round_trip(events[0], false);
        CHECK(again != NULL);
        event_unref(again);
        event_unref(events[0]);
        free(events);
    }
}

/* fuzz_deadletter (replay) and fuzz_cloudevents_decode: data_base64 whose bytes are not JSON,
 * under a JSON datacontenttype, was accepted; forwarded in binary mode it became an
 * application/json body that is not JSON, which receivers refuse. */
static void test_base64_data_declared_json_must_be_json(void)
{
    event **events = NULL;
    size_t count = 0;
    CHECK(
        decode_structured("{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
                          "\"datacontenttype\":\"application/json\",\"data_base64\":\"AAEC\"}",
                          &events, &count) == -1);
    CHECK_CONTAINS(reason, "'data_base64' is not JSON");
    CHECK_CONTAINS(reason, "application/json");

    /* Base64 of {"a":1} under a JSON type is fine, and forwards in both modes. */
    CHECK(decode_structured(
              "{\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"/s\",\"type\":\"t\","
              "\"datacontenttype\":\"application/json\",\"data_base64\":\"eyJhIjoxfQ==\"}",
              &events, &count) == 0);
    if (count == 1) {
        event *binary = round_trip(events[0], false), *structured = round_trip(events[0], true);
        CHECK(binary != NULL && structured != NULL);
        event_unref(binary);
        event_unref(structured);
        event_unref(events[0]);
        free(events);
    }
    /* Non-JSON bytes without a JSON type stay accepted. */
    CHECK(
        decode_structured("{\"specversion\":\"1.0\",\"id\":\"3\",\"source\":\"/s\",\"type\":\"t\","
                          "\"datacontenttype\":\"application/octet-stream\",\"data_base64\":"
                          "\"AAEC\"}",
                          &events, &count) == 0);
    if (count == 1) {
        event_unref(events[0]);
        free(events);
    }
}

static event *convert(vcenter_event_format format, const char *xml)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "event.xml", NULL, XML_PARSE_NONET);
    CHECK(doc != NULL);
    if (!doc)
        return NULL;
    vcenter_convert_context ctx = {.format = format, .source_url = "https://vc/sdk"};
    event *ev = vcenter_event_convert(&ctx, xmlDocGetRootElement(doc), NULL, reason, sizeof reason);
    xmlFreeDoc(doc);
    return ev;
}

#define VIM_OPEN                                                                                   \
    "<returnval xmlns=\"urn:vim25\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "

/* fuzz_vcenter_convert and fuzz_vcenter_soap: a createdTime that is not RFC 3339 (month 81)
 * became the CloudEvent's 'time', so the event was invalid and every receiver refused it. Now
 * 'time' is left out and the data keeps what vCenter sent. */
static void test_created_time_not_rfc3339_leaves_time_out(void)
{
    event *ev = convert(VCENTER_FORMAT_ROUTER,
                        VIM_OPEN "xsi:type=\"UserLoginSessionEvent\"><key>26</key><chainId>26"
                                 "</chainId><createdTime>2026-81-25T18:29:59.31Z</createdTime>"
                                 "<userName>user</userName></returnval>");
    CHECK(ev != NULL);
    if (!ev)
        return;
    char why[256];
    CHECK(event_validate(ev, why, sizeof why));
    CHECK(ev->time == NULL);
    CHECK_CONTAINS((const char *)ev->data, "\"CreatedTime\":\"2026-81-25T18:29:59.31Z\"");
    event *again = round_trip(ev, false);
    CHECK(again != NULL);
    event_unref(again);
    event_unref(ev);

    ev = convert(VCENTER_FORMAT_ROUTER,
                 VIM_OPEN "xsi:type=\"UserLoginSessionEvent\"><key>27</key><chainId>27</chainId>"
                          "<createdTime>2026-11-25T18:29:59.31Z</createdTime></returnval>");
    CHECK_STR(ev ? ev->time : NULL, "2026-11-25T18:29:59.31Z");
    event_unref(ev);
}

/* fuzz_vcenter_convert: an xsi:type of "prefix:" (no local name) gave an empty class name, so
 * the event had an empty 'subject' (router format) and was invalid. Now it is refused with a
 * reason, like an element without xsi:type. */
static void test_empty_xsi_type_is_refused(void)
{
    const vcenter_event_format formats[] = {VCENTER_FORMAT_ROUTER, VCENTER_FORMAT_SOURCES_KNATIVE};
    for (size_t i = 0; i < 2; i++) {
        event *ev = convert(formats[i], VIM_OPEN "xsi:type=\"DvsPort\t\tCCCn:\"><key>28</key>"
                                                 "<changeTag>s2654</changeTag></returnval>");
        CHECK(ev == NULL);
        CHECK_CONTAINS(reason, "empty xsi:type");
        event_unref(ev);
    }
}

/* fuzz_checkpoint: a lastEventKey outside int64 (1e300, or 88 digits) was converted to int64_t,
 * which is undefined (UBSan stopped there); a restart then resumed from an arbitrary key. A key
 * past 2^53 read back as another integer after a save (cJSON keeps doubles). Now both files are
 * refused with a reason, as any other invalid checkpoint. */
static void test_checkpoint_key_outside_int64_is_refused(void)
{
    char path[] = "/tmp/test_fuzz_findings_cp_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    const char *bad[] = {"{\"lastEventKey\":1e300}", "{\"lastEventKey\":-1e19}",
                         "{\"lastEventKey\":9223372036854775808}", "{\"lastEventKey\":7.5}",
                         /* past 2^53: read back as another integer than the one written */
                         "{\"lastEventKey\":0000000000746331336732224172}",
                         "{\"lastEventKey\":9007199254740994}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        checkpoint_record record;
        char err[512] = "";
        CHECK(checkpoint_load(path, &record, err, sizeof err) == -1);
        CHECK_CONTAINS(err, "lastEventKey");
        CHECK_CONTAINS(err, "not a 64-bit integer");
    }
    FILE *f = fopen(path, "w");
    fputs("{\"lastEventKey\":-9007199254740992}", f);
    fclose(f);
    checkpoint_record record;
    char err[512] = "";
    CHECK(checkpoint_load(path, &record, err, sizeof err) == 1);
    CHECK(record.last_event_key == -9007199254740992LL);
    unlink(path);
}

/* fuzz_horizon: an audit event whose time is past the year 9999 (1701700000000000 ms) became a
 * 'time' of "55894-09-22T20:26:40.000Z", so the CloudEvent was invalid and every receiver refused
 * it; a year below 1000 came out with three digits (strftime's %Y). Now 'time' is left out past
 * the years RFC 3339 writes, and years are always four digits. */
static void test_horizon_time_outside_rfc3339_years(void)
{
    cJSON *object = cJSON_Parse("{\"id\":2,\"type\":\"BROKER_USERLOGGEDOUT\","
                                "\"time\":1701700000000000}");
    event *ev =
        horizon_event_convert(object, HORIZON_FORMAT_ROUTER, "https://h", reason, sizeof reason);
    CHECK(ev != NULL);
    char why[256];
    CHECK(ev && event_validate(ev, why, sizeof why));
    CHECK(ev && ev->time == NULL);
    CHECK(ev &&
          cJSON_GetNumberValue(cJSON_GetObjectItem(ev->data_json, "time")) == 1701700000000000.0);
    event_unref(ev);
    cJSON_Delete(object);

    char out[64];
    horizon_format_time_ms(-30000000000000LL, out, sizeof out); /* 1019-05-04 */
    CHECK(event_time_is_rfc3339(out));
    horizon_format_time_ms(-60000000000000LL, out, sizeof out);
    CHECK_STR(out, "0068-09-03T13:20:00.000Z");
    horizon_format_time_ms(INT64_MIN, out, sizeof out);
    CHECK_STR(out, "");
    horizon_format_time_ms(1627369939490LL, out, sizeof out);
    CHECK_STR(out, "2021-07-27T07:12:19.490Z");
}

/* fuzz_k8s_objects: a checkpoint with lastEventKey 6249999999999999 (16 digits, below 2^53, so
 * accepted) was written back as 6.25e+15: cJSON prints 15 digits when they read back within a
 * relative DBL_EPSILON, and the next start resumed from 6250000000000000. Keys and ids are now
 * written with every digit (json_integer), in the vCenter and the Horizon checkpoint. */
static void test_sixteen_digit_checkpoint_key_reads_back_the_same(void)
{
    checkpoint_record record = {.last_event_key = 6249999999999999LL};
    char *text = checkpoint_render(&record);
    CHECK(text && strstr(text, "\"lastEventKey\":6249999999999999,"));
    checkpoint_record again;
    char err[512] = "";
    CHECK(text && checkpoint_parse(text, strlen(text), "test", &again, err, sizeof err) == 1);
    CHECK(again.last_event_key == 6249999999999999LL);
    free(text);

    char path[] = "/tmp/test_fuzz_findings_hz_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    horizon_checkpoint cp = {.last_time_ms = 1627369939490LL, .last_id = 8999999999999999LL};
    snprintf(cp.horizon, sizeof cp.horizon, "https://h");
    CHECK(horizon_checkpoint_save(path, &cp, err, sizeof err) == 0);
    horizon_checkpoint loaded = {0};
    CHECK(horizon_checkpoint_load(path, &loaded, err, sizeof err) == 1);
    CHECK(loaded.last_id == 8999999999999999LL);
    CHECK(loaded.last_time_ms == 1627369939490LL);
    horizon_checkpoint_free(&loaded);
    unlink(path);
}

int main(void)
{
    RUN_TEST(test_long_extension_name_survives_binary_mode);
    RUN_TEST(test_base64_data_declared_json_must_be_json);
    RUN_TEST(test_ce_datacontenttype_header_is_checked);
    RUN_TEST(test_created_time_not_rfc3339_leaves_time_out);
    RUN_TEST(test_empty_xsi_type_is_refused);
    RUN_TEST(test_checkpoint_key_outside_int64_is_refused);
    RUN_TEST(test_horizon_time_outside_rfc3339_years);
    RUN_TEST(test_sixteen_digit_checkpoint_key_reads_back_the_same);
    return CHECK_DONE();
}
