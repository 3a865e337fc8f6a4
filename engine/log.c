#include "log.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static log_level current_level = LOG_LEVEL_INFO;
static bool json_output;
static log_capture_fn capture;
static void *capture_user;
static char **secrets;
static size_t secret_count;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level level)
{
    current_level = level;
}

log_level log_get_level(void)
{
    return current_level;
}

void log_set_json(bool json)
{
    json_output = json;
}

const char *log_level_name(log_level level)
{
    return level >= LOG_LEVEL_DEBUG && level <= LOG_LEVEL_ERROR ? level_names[level] : "info";
}

bool log_parse_level(const char *name, log_level *out)
{
    if (!name)
        return false;
    for (int i = LOG_LEVEL_DEBUG; i <= LOG_LEVEL_ERROR; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level)i;
            return true;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return true;
    }
    return false;
}

void log_register_secret(const char *secret)
{
    if (!secret || strlen(secret) < 3)
        return;
    for (size_t i = 0; i < secret_count; i++)
        if (strcmp(secrets[i], secret) == 0)
            return;
    char **grown = realloc(secrets, (secret_count + 1) * sizeof *secrets);
    if (!grown)
        return;
    secrets = grown;
    secrets[secret_count] = strdup(secret);
    if (secrets[secret_count])
        secret_count++;
}

void log_forget_secrets(void)
{
    for (size_t i = 0; i < secret_count; i++)
        free(secrets[i]);
    free(secrets);
    secrets = NULL;
    secret_count = 0;
}

void log_mask_secrets(const char *text, char *out, size_t cap)
{
    if (cap == 0)
        return;
    size_t used = 0;
    while (*text && used + 1 < cap) {
        size_t matched = 0;
        for (size_t i = 0; i < secret_count; i++) {
            size_t len = strlen(secrets[i]);
            if (strncmp(text, secrets[i], len) == 0) {
                matched = len;
                break;
            }
        }
        if (matched) {
            const char *mask = "*****";
            for (const char *m = mask; *m && used + 1 < cap; m++)
                out[used++] = *m;
            text += matched;
        } else {
            out[used++] = *text++;
        }
    }
    out[used] = '\0';
}

void log_set_capture(log_capture_fn fn, void *user)
{
    capture = fn;
    capture_user = user;
}

void log_write(log_level level, const char *component, const char *fmt, ...)
{
    if (level < current_level)
        return;
    char raw[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(raw, sizeof raw, fmt, args);
    va_end(args);
    char message[2048];
    log_mask_secrets(raw, message, sizeof message);
    if (capture) {
        capture(capture_user, level, component, message);
        return;
    }

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm utc;
    gmtime_r(&now.tv_sec, &utc);
    char stamp[40];
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", now.tv_nsec / 1000000);

    if (json_output) {
        cJSON *line = cJSON_CreateObject();
        cJSON_AddStringToObject(line, "time", stamp);
        cJSON_AddStringToObject(line, "level", log_level_name(level));
        cJSON_AddStringToObject(line, "component", component ? component : "");
        cJSON_AddStringToObject(line, "msg", message);
        char *text = cJSON_PrintUnformatted(line);
        if (text)
            fprintf(stderr, "%s\n", text);
        free(text);
        cJSON_Delete(line);
    } else {
        fprintf(stderr, "%s %-5s [%s] %s\n", stamp, log_level_name(level),
                component ? component : "-", message);
    }
}

void format_message(char *out, size_t cap, const char *fmt, ...)
{
    if (!out || cap == 0)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(out, cap, fmt, args);
    va_end(args);
}
