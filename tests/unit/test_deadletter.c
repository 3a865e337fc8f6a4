/* Dead-letter lines: always one valid JSON object of valid UTF-8, whatever bytes the event held,
 * with the exact event kept in event_base64 when it was not UTF-8; files are private (0600). */
#include "check.h"
#include "deadletter.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static event *make_event(const char *subject, const char *data, size_t data_len)
{
    event *ev = event_new();
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", "dl-1");
    event_set_attribute(ev, "source", "/test");
    event_set_attribute(ev, "type", "test");
    event_set_attribute(ev, "subject", subject);
    if (data)
        event_set_data(ev, data, data_len, false);
    return ev;
}

static void test_utf8_validator(void)
{
    CHECK(deadletter_utf8_valid("plain", 5));
    CHECK(deadletter_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
    CHECK(!deadletter_utf8_valid("\xff", 1));
    CHECK(!deadletter_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    CHECK(!deadletter_utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
    CHECK(!deadletter_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!deadletter_utf8_valid("\xe2\x82", 2));         /* cut short */
}

static void test_invalid_utf8_becomes_a_valid_line_with_the_exact_event(void)
{
    event *ev = make_event("vm-\xff\xfe-1", NULL, 0);
    char *line = deadletter_format_line("p", ev, 2, "HTTP 400 \xc3");
    CHECK(line != NULL);
    CHECK(deadletter_utf8_valid(line, strlen(line)));
    cJSON *json = cJSON_Parse(line);
    CHECK(json != NULL);
    const cJSON *encoded = cJSON_GetObjectItemCaseSensitive(json, "event_base64");
    CHECK(cJSON_IsString(encoded));
    CHECK_CONTAINS(line, "vm-\xef\xbf\xbd\xef\xbf\xbd-1");
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(json, "event")));
    /* The base64 holds the original bytes. */
    CHECK_CONTAINS(encoded ? encoded->valuestring : NULL, "dm0t//4tMS");
    cJSON_Delete(json);
    free(line);
    event_unref(ev);
}

static void test_valid_event_line_has_no_base64(void)
{
    event *ev = make_event("vm-1", "\x01\x02", 2);
    char *line = deadletter_format_line("p", ev, 1, "gone");
    CHECK(line && !strstr(line, "event_base64"));
    CHECK_CONTAINS(line, "\"data_base64\"");
    free(line);
    event_unref(ev);
}

static void test_file_is_private(void)
{
    char dir[] = "/tmp/er-deadletter-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[256];
    deadletter *dl = deadletter_open(dir, err, sizeof err);
    event *ev = make_event("vm-1", NULL, 0);
    umask(022);
    CHECK(deadletter_write(dl, "p", ev, 1, "x"));
    char path[128];
    snprintf(path, sizeof path, "%s/p.jsonl", dir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* A failing write (fds exhausted, disk full) is reported, never counted as written. */
    unlink(path);
    CHECK(symlink("/dev/full", path) == 0);
    CHECK(!deadletter_write(dl, "p", ev, 1, "x"));
    CHECK(deadletter_write_failures(dl) == 1);
    unlink(path);
    rmdir(dir);
    deadletter_close(dl);
    event_unref(ev);
}

int main(void)
{
    RUN_TEST(test_utf8_validator);
    RUN_TEST(test_invalid_utf8_becomes_a_valid_line_with_the_exact_event);
    RUN_TEST(test_valid_event_line_has_no_base64);
    RUN_TEST(test_file_is_private);
    return CHECK_DONE();
}
