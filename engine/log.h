/* Logging: human-readable lines by default, JSON lines with -log-json.
 * Secrets registered with log_register_secret() are masked in every message, so a password that
 * slips into an error string (a URL with credentials, a server's echo) never reaches the log. */
#ifndef EVENT_ROUTER_LOG_H
#define EVENT_ROUTER_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
} log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
void log_set_json(bool json);
/* Parses "debug", "info", "warn"/"warning", "error"; false for anything else. */
bool log_parse_level(const char *name, log_level *out);
const char *log_level_name(log_level level);

/* Masks every later occurrence of secret (copied) in log output. Secrets shorter than 3 bytes are
 * ignored: masking them would garble ordinary text and hide nothing worth hiding. */
void log_register_secret(const char *secret);
void log_forget_secrets(void);
/* Copies text into out (size cap) with registered secrets replaced by "*****". */
void log_mask_secrets(const char *text, char *out, size_t cap);

/* Sends every message that passes the level filter to fn instead of stderr (NULL restores
 * stderr). For commands that report what scripts logged, like test-script. */
typedef void (*log_capture_fn)(void *user, log_level level, const char *component,
                               const char *message);
void log_set_capture(log_capture_fn fn, void *user);

void log_write(log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(component, ...)                                                                  \
    do {                                                                                           \
        if (log_get_level() <= LOG_LEVEL_DEBUG)                                                    \
            log_write(LOG_LEVEL_DEBUG, component, __VA_ARGS__);                                    \
    } while (0)
#define log_info(component, ...) log_write(LOG_LEVEL_INFO, component, __VA_ARGS__)
#define log_warn(component, ...) log_write(LOG_LEVEL_WARN, component, __VA_ARGS__)
#define log_error(component, ...) log_write(LOG_LEVEL_ERROR, component, __VA_ARGS__)

/* vsnprintf into a fixed buffer, for error and log messages that may be cut short on purpose
 * (the caller's buffer bounds them); does nothing without a buffer. */
void format_message(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
