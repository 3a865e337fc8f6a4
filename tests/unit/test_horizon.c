/* The Horizon source's pure parts: audit event -> CloudEvent in both formats, the fields it
 * orders by, the checkpoint file round trip, and the tracker that advances only over events that
 * are done, keeping every id of the committed millisecond. */
#include "check.h"
#include "sources/horizon/horizon_api.h"
#include "sources/horizon/horizon_checkpoint.h"
#include "sources/horizon/horizon_event.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One event of VEBA's testdata/audit_events.golden. */
static const char golden_event[] =
    "{\"id\":98562,\"user_id\":\"S-1-5-21-4442515-1634369418-872054540-500\","
    "\"type\":\"VLSI_USERLOGGEDIN\",\"severity\":\"AUDIT_SUCCESS\",\"module\":\"Vlsi\","
    "\"machine_dns_name\":\"Horizon-01.corp.local\",\"time\":1627369939490,"
    "\"message\":\"User corp\\\\administrator has logged in to View Administrator\"}";

static void test_convert_router_format(void)
{
    cJSON *object = cJSON_Parse(golden_event);
    char reason[256] = "";
    event *ev = horizon_event_convert(object, HORIZON_FORMAT_ROUTER,
                                      "https://api.myhorizon.corp.local", reason, sizeof reason);
    CHECK(ev != NULL);
    if (ev) {
        CHECK_STR(ev->specversion, "1.0");
        CHECK_STR(ev->id, "98562");
        CHECK_STR(ev->type, "com.vmware.event.router/horizon.vlsi_userloggedin.v0");
        CHECK_STR(ev->subject, "VLSI_USERLOGGEDIN");
        CHECK_STR(ev->source, "https://api.myhorizon.corp.local");
        CHECK_STR(ev->time, "2021-07-27T07:12:19.490Z");
        CHECK_STR(ev->datacontenttype, "application/json");
        CHECK(cJSON_Compare(ev->data_json, object, 1));
        CHECK(event_validate(ev, reason, sizeof reason));
        event_unref(ev);
    }
    ev = horizon_event_convert(object, HORIZON_FORMAT_SOURCES_KNATIVE, "https://h", reason,
                               sizeof reason);
    CHECK(ev != NULL);
    if (ev) {
        CHECK_STR(ev->type, "com.vmware.horizon.vlsi_userloggedin.v0");
        CHECK_STR(ev->subject, "VLSI_USERLOGGEDIN");
        event_unref(ev);
    }
    cJSON_Delete(object);
}

/* Regression (issue 11): Horizon strings that are not UTF-8 (cJSON passes any bytes through)
 * made an event whose structured encoding a strict receiver refuses. A polled source cannot
 * refuse it: the bad bytes become U+FFFD, in the data (names and values) and the type. */
static void test_convert_repairs_invalid_utf8(void)
{
    cJSON *object = cJSON_Parse("{\"id\":7,\"type\":\"VLSI_\xff\",\"time\":1627369939490,"
                                "\"message\":\"caf\xc3\",\"k\xfe\":[\"\xed\xa0\x80\"]}");
    char reason[256] = "";
    event *ev =
        horizon_event_convert(object, HORIZON_FORMAT_ROUTER, "https://h", reason, sizeof reason);
    CHECK(ev != NULL);
    if (ev) {
        CHECK_STR(ev->subject, "VLSI_\xef\xbf\xbd");
        CHECK(utf8_valid(ev->type, strlen(ev->type)));
        CHECK(utf8_valid((const char *)ev->data, ev->data_len));
        CHECK_CONTAINS((const char *)ev->data, "\"message\":\"caf\xef\xbf\xbd\"");
        CHECK_CONTAINS((const char *)ev->data,
                       "\"k\xef\xbf\xbd\":[\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"]");
        event_unref(ev);
    }
    cJSON_Delete(object);
}

/* Regression: an exp claim of 1e300 made (uint64_t)(lifetime * 1000.0) undefined behaviour
 * (UBSan: "outside the range of representable values"). Clamped to a year. Payloads are
 * base64url of {"exp":1e300,"iat":0}, {"exp":3600,"iat":0}, {"exp":-5,"iat":0}. */
static void test_jwt_lifetime_clamped(void)
{
    CHECK(horizon_jwt_lifetime_ms("h.eyJleHAiOjFlMzAwLCJpYXQiOjB9.s") ==
          (uint64_t)365 * 24 * 60 * 60 * 1000);
    CHECK(horizon_jwt_lifetime_ms("h.eyJleHAiOjM2MDAsImlhdCI6MH0.s") == 3600u * 1000);
    CHECK(horizon_jwt_lifetime_ms("h.eyJleHAiOi01LCJpYXQiOjB9.s") == 0);
    CHECK(horizon_jwt_lifetime_ms("not-a-jwt") == 0);
}

static void test_fields_refused_with_reason(void)
{
    const struct {
        const char *json;
        const char *reason;
    } cases[] = {
        {"[1]", "not a JSON object"},
        {"{\"time\":1,\"type\":\"X\"}", "field id: missing or not an integer"},
        {"{\"id\":1.5,\"time\":1,\"type\":\"X\"}", "field id: missing or not an integer"},
        {"{\"id\":7,\"time\":\"yesterday\",\"type\":\"X\"}",
         "event 7: field time: missing or not an integer"},
        {"{\"id\":7,\"time\":5}", "event 7: field type: missing or not a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *object = cJSON_Parse(cases[i].json);
        char reason[256] = "";
        event *ev = horizon_event_convert(object, HORIZON_FORMAT_ROUTER, "https://h", reason,
                                          sizeof reason);
        CHECK(ev == NULL);
        CHECK_STR(reason, cases[i].reason);
        cJSON_Delete(object);
    }
}

static void test_time_format(void)
{
    char out[64];
    horizon_format_time_ms(0, out, sizeof out);
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
    horizon_format_time_ms(1627369939733, out, sizeof out);
    CHECK_STR(out, "2021-07-27T07:12:19.733Z");
    horizon_format_time_ms(-1, out, sizeof out);
    CHECK_STR(out, "1969-12-31T23:59:59.999Z");
}

static void test_url_encode(void)
{
    char out[256];
    CHECK(horizon_url_encode("{\"type\":\"Between\",\"fromValue\":1}", out, sizeof out));
    CHECK_STR(out, "%7B%22type%22%3A%22Between%22%2C%22fromValue%22%3A1%7D");
    CHECK(!horizon_url_encode("{{{{", out, 12)); /* 12 bytes: "%7B%7B%7B%7B" needs 13 */
}

static void test_checkpoint_round_trip(void)
{
    char dir[] = "/tmp/test_horizon.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[512];
    CHECK(horizon_checkpoint_path(dir, "api.myhorizon.corp.local", path, sizeof path));
    CHECK_CONTAINS(path, "/cp-horizon-api.myhorizon.corp.local.json");

    horizon_checkpoint cp = {0}, loaded = {0};
    char err[512] = "";
    CHECK(horizon_checkpoint_load(path, &loaded, err, sizeof err) == 0); /* no file yet */
    snprintf(cp.horizon, sizeof cp.horizon, "api.myhorizon.corp.local");
    cp.last_time_ms = 1627368903620;
    horizon_id_set_add(&cp.last_ids, 98558);
    horizon_id_set_add(&cp.last_ids, 98560);
    cp.last_id = 98560;
    snprintf(cp.last_type, sizeof cp.last_type, "BROKER_DAILY_MAX_NU_USERS");
    CHECK(horizon_checkpoint_save(path, &cp, err, sizeof err) == 0);
    CHECK(horizon_checkpoint_load(path, &loaded, err, sizeof err) == 1);
    CHECK(loaded.last_time_ms == 1627368903620);
    CHECK(loaded.last_ids.count == 2 && horizon_id_set_has(&loaded.last_ids, 98558) &&
          horizon_id_set_has(&loaded.last_ids, 98560));
    CHECK(loaded.last_id == 98560);
    CHECK_STR(loaded.last_type, "BROKER_DAILY_MAX_NU_USERS");
    CHECK_STR(loaded.horizon, "api.myhorizon.corp.local");
    horizon_checkpoint_free(&loaded);

    /* A vCenter checkpoint (or anything else) is refused, naming the file and the field. */
    FILE *f = fopen(path, "w");
    fputs("{\"lastEventKey\": 12}", f);
    fclose(f);
    CHECK(horizon_checkpoint_load(path, &loaded, err, sizeof err) == -1);
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, "lastEventTime: missing or not an integer");
    f = fopen(path, "w");
    fputs("{\"lastEventTime\": 12, \"lastEventIds\": [1, \"x\"]}", f);
    fclose(f);
    CHECK(horizon_checkpoint_load(path, &loaded, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "lastEventIds: not a list of integers");
    /* Fuzz finding: a lastEventTime far past 2^53 went to int64_t (undefined behaviour). */
    f = fopen(path, "w");
    fputs("{\"lastEventTime\": 1e300, \"lastEventIds\": [1]}", f);
    fclose(f);
    CHECK(horizon_checkpoint_load(path, &loaded, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "lastEventTime: missing or not an integer");
    f = fopen(path, "w");
    fputs("{\"lastEventTime\": 12, \"lastEventIds\": [-1e30]}", f);
    fclose(f);
    CHECK(horizon_checkpoint_load(path, &loaded, err, sizeof err) == -1);

    horizon_checkpoint_free(&cp);
    unlink(path);
    rmdir(dir);
}

static void test_tracker_contiguous_and_same_millisecond(void)
{
    horizon_tracker *t = horizon_tracker_new(NULL);
    horizon_checkpoint cp = {0};
    CHECK(!horizon_tracker_fill(t, &cp)); /* nothing committed */
    horizon_tracker_pushed(t, 1, 100, 11, "A");
    horizon_tracker_pushed(t, 2, 100, 12, "B");
    horizon_tracker_pushed(t, 3, 200, 5, "C"); /* a lower id later in time */
    horizon_tracker_pushed(t, 4, 200, 9, "D");
    CHECK(!horizon_tracker_done(t, 2)); /* 1 is still in flight */
    CHECK(!horizon_tracker_fill(t, &cp));
    CHECK(horizon_tracker_done(t, 1));
    CHECK(horizon_tracker_fill(t, &cp));
    CHECK(cp.last_time_ms == 100 && cp.last_id == 12);
    CHECK(cp.last_ids.count == 2 && horizon_id_set_has(&cp.last_ids, 11));
    CHECK(!horizon_tracker_done(t, 4));
    CHECK(horizon_tracker_pending(t) == 2);
    CHECK(horizon_tracker_done(t, 3));
    CHECK(horizon_tracker_fill(t, &cp));
    CHECK(cp.last_time_ms == 200 && cp.last_id == 9);
    CHECK(cp.last_ids.count == 2 && horizon_id_set_has(&cp.last_ids, 5) &&
          !horizon_id_set_has(&cp.last_ids, 11));
    CHECK_STR(cp.last_type, "D");
    CHECK(!horizon_tracker_done(t, 99)); /* unknown */
    horizon_tracker_free(t);

    /* Resumed at a checkpoint: more events of its millisecond join its ids, not replace them. */
    horizon_checkpoint start = {.last_time_ms = 200};
    horizon_id_set_add(&start.last_ids, 5);
    horizon_id_set_add(&start.last_ids, 9);
    t = horizon_tracker_new(&start);
    horizon_tracker_pushed(t, 1, 200, 10, "E");
    CHECK(horizon_tracker_done(t, 1));
    CHECK(horizon_tracker_fill(t, &cp));
    CHECK(cp.last_ids.count == 3 && horizon_id_set_has(&cp.last_ids, 5) &&
          horizon_id_set_has(&cp.last_ids, 9) && horizon_id_set_has(&cp.last_ids, 10));
    horizon_tracker_free(t);
    horizon_checkpoint_free(&start);

    /* Many pending: the ring grows and wraps. */
    t = horizon_tracker_new(NULL);
    for (uint64_t i = 1; i <= 1000; i++)
        horizon_tracker_pushed(t, i, (int64_t)i / 3, (int64_t)i, "X");
    for (uint64_t i = 1000; i >= 2; i--)
        horizon_tracker_done(t, i);
    CHECK(horizon_tracker_pending(t) == 1000);
    CHECK(horizon_tracker_done(t, 1));
    CHECK(horizon_tracker_pending(t) == 0);
    CHECK(horizon_tracker_fill(t, &cp));
    CHECK(cp.last_id == 1000 && cp.last_time_ms == 333 && cp.last_ids.count == 2);
    horizon_tracker_free(t);
    horizon_checkpoint_free(&cp);
}

int main(void)
{
    RUN_TEST(test_convert_router_format);
    RUN_TEST(test_convert_repairs_invalid_utf8);
    RUN_TEST(test_jwt_lifetime_clamped);
    RUN_TEST(test_fields_refused_with_reason);
    RUN_TEST(test_time_format);
    RUN_TEST(test_url_encode);
    RUN_TEST(test_checkpoint_round_trip);
    RUN_TEST(test_tracker_contiguous_and_same_millisecond);
    return CHECK_DONE();
}
