/* The logger writes to stderr; each test points stderr at a temporary file and reads back what
 * was written. */
#include "check.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char captured[16384];
static int saved_stderr = -1;
static FILE *capture_file;

static void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(capture_file), STDERR_FILENO);
}

/* Restores stderr and returns everything written since capture_begin. */
static const char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    rewind(capture_file);
    size_t n = fread(captured, 1, sizeof captured - 1, capture_file);
    captured[n] = '\0';
    fclose(capture_file);
    return captured;
}

static void reset_logger(void)
{
    log_set_level(LOG_LEVEL_INFO);
    log_set_json(false);
    log_forget_secrets();
}

static size_t count_lines(const char *text)
{
    size_t lines = 0;
    for (; *text; text++)
        lines += *text == '\n';
    return lines;
}

static void test_level_filter(void)
{
    reset_logger();
    log_set_level(LOG_LEVEL_WARN);
    CHECK(log_get_level() == LOG_LEVEL_WARN);
    capture_begin();
    log_debug("test", "debug %d", 1);
    log_info("test", "info %d", 2);
    log_warn("test", "warn %d", 3);
    log_error("test", "error %d", 4);
    const char *out = capture_end();
    CHECK(count_lines(out) == 2);
    CHECK(strstr(out, "debug 1") == NULL);
    CHECK(strstr(out, "info 2") == NULL);
    CHECK_CONTAINS(out, "warn 3");
    CHECK_CONTAINS(out, "error 4");

    log_set_level(LOG_LEVEL_DEBUG);
    capture_begin();
    log_debug("test", "now visible");
    out = capture_end();
    CHECK_CONTAINS(out, "debug [test] now visible\n");
    reset_logger();
}

static void test_human_line_layout(void)
{
    reset_logger();
    capture_begin();
    log_warn("router", "queue at %d%%", 90);
    log_info(NULL, "no component");
    const char *out = capture_end();
    /* "2026-11-25T18:00:00.123Z warn  [router] queue at 90%" */
    struct tm parsed = {0};
    const char *rest = strptime(out, "%Y-%m-%dT%H:%M:%S", &parsed);
    CHECK(rest != NULL && rest[0] == '.' && rest[4] == 'Z');
    CHECK_CONTAINS(out, " warn  [router] queue at 90%\n");
    CHECK_CONTAINS(out, " info  [-] no component\n");
}

static void test_json_lines(void)
{
    reset_logger();
    log_set_json(true);
    capture_begin();
    log_error("webhook", "bad \"event\"\nsecond line");
    log_info(NULL, "plain");
    const char *out = capture_end();
    CHECK(count_lines(out) == 2);

    char first[4096];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(out, "\n"), out);
    cJSON *line = cJSON_Parse(first);
    CHECK(cJSON_IsObject(line));
    CHECK(cJSON_GetArraySize(line) == 4);
    const char *time_text = cJSON_GetStringValue(cJSON_GetObjectItem(line, "time"));
    struct tm parsed = {0};
    const char *rest = time_text ? strptime(time_text, "%Y-%m-%dT%H:%M:%S", &parsed) : NULL;
    CHECK(rest != NULL && strlen(rest) == 5 && rest[0] == '.' && rest[4] == 'Z');
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(line, "level")), "error");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(line, "component")), "webhook");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(line, "msg")), "bad \"event\"\nsecond line");
    cJSON_Delete(line);

    cJSON *second = cJSON_Parse(out + strcspn(out, "\n") + 1);
    CHECK(cJSON_IsObject(second));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(second, "component")), "");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(second, "level")), "info");
    cJSON_Delete(second);
    reset_logger();
}

static void test_secrets_are_masked_in_both_modes(void)
{
    reset_logger();
    log_register_secret("hunter2-pass");
    log_register_secret("tok-XYZ");
    log_register_secret("hunter2-pass"); /* twice is harmless */

    capture_begin();
    log_error("knative", "POST https://admin:hunter2-pass@broker/ failed; tok-XYZtok-XYZ echoed");
    const char *out = capture_end();
    CHECK(strstr(out, "hunter2") == NULL);
    CHECK(strstr(out, "tok-XYZ") == NULL);
    CHECK_CONTAINS(out, "https://admin:*****@broker/ failed; ********** echoed");

    log_set_json(true);
    capture_begin();
    log_warn("knative", "password=%s", "hunter2-pass");
    out = capture_end();
    CHECK(strstr(out, "hunter2") == NULL);
    cJSON *line = cJSON_Parse(out);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(line, "msg")), "password=*****");
    cJSON_Delete(line);

    /* forgotten secrets are shown again (a reload dropped them) */
    log_forget_secrets();
    log_set_json(false);
    capture_begin();
    log_info("x", "hunter2-pass");
    out = capture_end();
    CHECK_CONTAINS(out, "hunter2-pass");
    reset_logger();
}

static void test_mask_secrets_edges(void)
{
    reset_logger();
    char out[64];
    log_register_secret("ab"); /* too short to mask */
    log_register_secret(NULL);
    log_mask_secrets("abc ab", out, sizeof out);
    CHECK_STR(out, "abc ab");

    log_register_secret("secret");
    log_mask_secrets("a secret b", out, sizeof out);
    CHECK_STR(out, "a ***** b");
    /* output is cut to the buffer and stays terminated */
    log_mask_secrets("a secret b", out, 5);
    CHECK_STR(out, "a **");
    log_mask_secrets("secre", out, sizeof out);
    CHECK_STR(out, "secre");
    reset_logger();
}

static void test_level_names(void)
{
    log_level level = LOG_LEVEL_ERROR;
    CHECK(log_parse_level("debug", &level) && level == LOG_LEVEL_DEBUG);
    CHECK(log_parse_level("warning", &level) && level == LOG_LEVEL_WARN);
    CHECK(log_parse_level("warn", &level) && level == LOG_LEVEL_WARN);
    CHECK(log_parse_level("error", &level) && level == LOG_LEVEL_ERROR);
    CHECK(!log_parse_level("verbose", &level) && level == LOG_LEVEL_ERROR);
    CHECK(!log_parse_level(NULL, &level));
    CHECK_STR(log_level_name(LOG_LEVEL_INFO), "info");
    CHECK_STR(log_level_name(LOG_LEVEL_WARN), "warn");
}

int main(void)
{
    RUN_TEST(test_level_filter);
    RUN_TEST(test_human_line_layout);
    RUN_TEST(test_json_lines);
    RUN_TEST(test_secrets_are_masked_in_both_modes);
    RUN_TEST(test_mask_secrets_edges);
    RUN_TEST(test_level_names);
    return CHECK_DONE();
}
