/* Checkpoint file round trip and atomicity, and the contiguous advance of the tracker when events
 * finish out of order. */
#include "check.h"
#include "sources/vcenter/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char temp_dir[256];

static void make_temp_dir(void)
{
    snprintf(temp_dir, sizeof temp_dir, "/tmp/test_checkpoint.XXXXXX");
    CHECK(mkdtemp(temp_dir) != NULL);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR)
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_save_and_load_round_trip_with_router_field_names(void)
{
    make_temp_dir();
    char dir[512], path[1024], err[256];
    snprintf(dir, sizeof dir, "%s/nested/checkpoints", temp_dir); /* created on demand */
    CHECK(checkpoint_path(dir, "vcenter.example.com", path, sizeof path));
    CHECK_CONTAINS(path, "/cp-vcenter.example.com.json");

    checkpoint_record loaded;
    CHECK(checkpoint_load(path, &loaded, err, sizeof err) == 0); /* absent */

    checkpoint_record record = {0};
    snprintf(record.vcenter, sizeof record.vcenter, "vcenter.example.com");
    snprintf(record.last_event_uuid, sizeof record.last_event_uuid, "5f1c-uuid");
    record.last_event_key = 4242;
    snprintf(record.last_event_type, sizeof record.last_event_type, "VmPoweredOffEvent");
    snprintf(record.last_event_key_timestamp, sizeof record.last_event_key_timestamp,
             "2026-11-25T18:24:16.947122128Z");
    CHECK(checkpoint_save(path, &record, err, sizeof err) == 0);
    CHECK(count_files(dir) == 1); /* no temp file left behind */

    /* The file uses the VMware Event Router's field names. */
    FILE *f = fopen(path, "r");
    char text[2048] = "";
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    cJSON *json = cJSON_Parse(text);
    CHECK(json != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(json, "vCenter")), "vcenter.example.com");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(json, "lastEventUUID")), "5f1c-uuid");
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(json, "lastEventKey")) == 4242);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(json, "lastEventType")),
              "VmPoweredOffEvent");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(json, "lastEventKeyTimestamp")),
              "2026-11-25T18:24:16.947122128Z");
    double created = 0;
    CHECK(checkpoint_parse_time(cJSON_GetStringValue(cJSON_GetObjectItem(json, "createdTimestamp")),
                                &created));
    CHECK(created > (double)time(NULL) - 60 && created < (double)time(NULL) + 60);
    cJSON_Delete(json);

    CHECK(checkpoint_load(path, &loaded, err, sizeof err) == 1);
    CHECK(loaded.last_event_key == 4242);
    CHECK_STR(loaded.last_event_uuid, "5f1c-uuid");
    CHECK_STR(loaded.vcenter, "vcenter.example.com");

    /* A second save replaces the file whole. */
    record.last_event_key = 4243;
    CHECK(checkpoint_save(path, &record, err, sizeof err) == 0);
    CHECK(checkpoint_load(path, &loaded, err, sizeof err) == 1);
    CHECK(loaded.last_event_key == 4243);
    CHECK(count_files(dir) == 1);

    /* A corrupt file is an error, not a silent restart from nothing. */
    f = fopen(path, "w");
    fputs("{\"lastEvent", f);
    fclose(f);
    CHECK(checkpoint_load(path, &loaded, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "not a valid checkpoint");

    /* A Go-written checkpoint of the router loads. */
    f = fopen(path, "w");
    fputs("{\"vCenter\":\"vc01\",\"lastEventUUID\":\"a-b\",\"lastEventKey\":77,\"lastEventType\":"
          "\"UserLoginSessionEvent\",\"lastEventKeyTimestamp\":\"2021-03-01T10:00:00.5+01:00\","
          "\"createdTimestamp\":\"2021-03-01T10:00:01Z\"}",
          f);
    fclose(f);
    CHECK(checkpoint_load(path, &loaded, err, sizeof err) == 1);
    CHECK(loaded.last_event_key == 77);
    double ts = 0;
    CHECK(checkpoint_parse_time(loaded.last_event_key_timestamp, &ts));
    CHECK(ts > 1614589200.4 && ts < 1614589200.6); /* 09:00:00.5Z */
    remove_tree(temp_dir);
}

static void test_save_fails_cleanly_in_unwritable_place(void)
{
    char err[256] = "";
    checkpoint_record record = {0};
    CHECK(checkpoint_save("/proc/definitely/not/here/cp-x.json", &record, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "cannot");
}

/* A file larger than a checkpoint can be is refused by name, not truncated and then taken for a
 * damaged one; a parent that cannot be a directory is named as the step that failed. */
static void test_load_and_save_errors_name_the_file(void)
{
    make_temp_dir();
    char path[1024], err[512] = "";
    snprintf(path, sizeof path, "%s/cp-big.json", temp_dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    for (int i = 0; f && i < 64 * 1024 + 1; i++)
        fputc(' ', f);
    if (f)
        fclose(f);
    checkpoint_record loaded;
    CHECK(checkpoint_load(path, &loaded, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "cannot read checkpoint");
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, "larger than 65536 bytes");

    char below_a_file[1100];
    snprintf(below_a_file, sizeof below_a_file, "%s/sub/cp-x.json", path);
    checkpoint_record record = {0};
    CHECK(checkpoint_save(below_a_file, &record, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "cannot create the directory of checkpoint");
    CHECK_CONTAINS(err, below_a_file);
    remove_tree(temp_dir);
}

static void test_tracker_advances_only_contiguously(void)
{
    checkpoint_tracker *t = checkpoint_tracker_new(100);
    CHECK(checkpoint_tracker_committed(t) == 100);
    checkpoint_record record = {0};
    CHECK(!checkpoint_tracker_fill(t, &record));
    CHECK(checkpoint_tracker_pushed(t, 101, "u101", "A", "2026-01-01T00:00:01Z"));
    CHECK(checkpoint_tracker_pushed(t, 105, "u105", "B", "2026-01-01T00:00:05Z"));
    CHECK(checkpoint_tracker_pushed(t, 107, "u107", "C", "2026-01-01T00:00:07Z"));
    CHECK(!checkpoint_tracker_pushed(t, 107, "dup", "C", NULL)); /* never twice */
    CHECK(!checkpoint_tracker_pushed(t, 90, "old", "C", NULL));

    /* 105 finishes first: 101 is still in flight, so nothing moves. */
    CHECK(!checkpoint_tracker_done(t, 105));
    CHECK(checkpoint_tracker_committed(t) == 100);
    /* 101 finishes: 101 and 105 are both done. */
    CHECK(checkpoint_tracker_done(t, 101));
    CHECK(checkpoint_tracker_committed(t) == 105);
    CHECK(checkpoint_tracker_fill(t, &record));
    CHECK(record.last_event_key == 105);
    CHECK_STR(record.last_event_uuid, "u105");
    CHECK_STR(record.last_event_type, "B");
    CHECK_STR(record.last_event_key_timestamp, "2026-01-01T00:00:05Z");
    CHECK(checkpoint_tracker_pending(t) == 1);
    CHECK(!checkpoint_tracker_done(t, 999)); /* unknown key: ignored */
    CHECK(checkpoint_tracker_done(t, 107));
    CHECK(checkpoint_tracker_committed(t) == 107);
    CHECK(checkpoint_tracker_pending(t) == 0);
    checkpoint_tracker_free(t);
}

static void test_tracker_many_out_of_order(void)
{
    /* Enough to wrap and grow the ring; done in a scrambled order. */
    checkpoint_tracker *t = checkpoint_tracker_new(0);
    enum { N = 1000 };
    for (int64_t k = 1; k <= N; k++)
        CHECK(checkpoint_tracker_pushed(t, k * 2, "u", "T", NULL));
    int64_t expected_committed = 0;
    bool all_ok = true;
    for (int i = 0; i < N; i++) {
        int64_t k = ((int64_t)((i * 7919) % N) + 1) * 2; /* a permutation of 2..2N */
        checkpoint_tracker_done(t, k);
        /* committed is the largest c such that every key <= c is done */
        while (expected_committed < 2 * N) {
            bool done_next = false;
            for (int j = 0; j <= i; j++)
                if (((int64_t)((j * 7919) % N) + 1) * 2 == expected_committed + 2)
                    done_next = true;
            if (!done_next)
                break;
            expected_committed += 2;
        }
        if (checkpoint_tracker_committed(t) != expected_committed)
            all_ok = false;
    }
    CHECK(all_ok);
    CHECK(checkpoint_tracker_committed(t) == 2 * N);
    CHECK(checkpoint_tracker_pending(t) == 0);
    checkpoint_tracker_free(t);
}

static void test_time_format_and_parse(void)
{
    char text[64];
    checkpoint_format_time(1764095089, 123456789, text, sizeof text);
    CHECK_STR(text, "2025-11-25T18:24:49.123456789Z");
    double s = 0;
    CHECK(checkpoint_parse_time(text, &s));
    CHECK(s > 1764095089.12 && s < 1764095089.13);
    CHECK(!checkpoint_parse_time("yesterday", &s));
    CHECK(!checkpoint_parse_time("2025-11-25T18:24:49", &s)); /* no zone */
}

int main(void)
{
    RUN_TEST(test_save_and_load_round_trip_with_router_field_names);
    RUN_TEST(test_save_fails_cleanly_in_unwritable_place);
    RUN_TEST(test_load_and_save_errors_name_the_file);
    RUN_TEST(test_tracker_advances_only_contiguously);
    RUN_TEST(test_tracker_many_out_of_order);
    RUN_TEST(test_time_format_and_parse);
    return CHECK_DONE();
}
