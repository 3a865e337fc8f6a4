#include "config/config_check.h"
#include "config/config_scalar.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Secret files are passwords and keys, not documents; a larger file is a mistake in the path. */
#define SECRET_FILE_MAX 65536

void check_path(char *out, size_t cap, const char *parent, const char *key)
{
    if (parent && *parent)
        snprintf(out, cap, "%s.%s", parent, key);
    else
        snprintf(out, cap, "%s", key);
}

void check_error_at(config_checker *ck, int line, int col, const char *field, const char *fmt, ...)
{
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    config_errors_add(ck->errors, ck->file, line, col, field, "%s", message);
}

void check_known_keys(config_checker *ck, const ynode *map, const char *path,
                      const char *const *allowed)
{
    if (!map || map->kind != YNODE_MAP)
        return;
    for (size_t i = 0; i < map->pair_count; i++) {
        const ynode_pair *pair = &map->pairs[i];
        bool known = false;
        for (const char *const *name = allowed; *name && !known; name++)
            known = strcmp(*name, pair->key) == 0;
        if (!known) {
            char field[256];
            check_path(field, sizeof field, path, pair->key);
            check_error_at(ck, pair->key_line, pair->key_col, field, "unknown key '%.100s'",
                           pair->key);
        }
    }
}

const ynode *check_value(config_checker *ck, const ynode *parent, const char *path, const char *key,
                         bool required)
{
    if (!parent || parent->kind != YNODE_MAP)
        return NULL;
    const ynode_pair *pair = ynode_find(parent, key);
    if (pair && !(pair->value->kind == YNODE_SCALAR && pair->value->is_null))
        return pair->value;
    if (required) {
        char field[256];
        check_path(field, sizeof field, path, key);
        if (pair)
            check_error_at(ck, pair->key_line, pair->key_col, field, "must not be empty");
        else
            check_error_at(ck, parent->line, parent->col, field, "is required");
    }
    return NULL;
}

static const char *kind_name(ynode_kind kind)
{
    return kind == YNODE_MAP ? "a mapping" : kind == YNODE_SEQ ? "a list" : "a single value";
}

static const ynode *check_kind(config_checker *ck, const ynode *parent, const char *path,
                               const char *key, bool required, ynode_kind kind)
{
    const ynode *value = check_value(ck, parent, path, key, required);
    if (!value || value->kind == kind)
        return value;
    char field[256];
    check_path(field, sizeof field, path, key);
    check_error_at(ck, value->line, value->col, field, "expected %s, got %s", kind_name(kind),
                   kind_name(value->kind));
    return NULL;
}

const ynode *check_map(config_checker *ck, const ynode *parent, const char *path, const char *key,
                       bool required)
{
    return check_kind(ck, parent, path, key, required, YNODE_MAP);
}

const ynode *check_seq(config_checker *ck, const ynode *parent, const char *path, const char *key,
                       bool required)
{
    return check_kind(ck, parent, path, key, required, YNODE_SEQ);
}

static bool replace_string(char **out, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return false;
    free(*out);
    *out = copy;
    return true;
}

bool check_string(config_checker *ck, const ynode *parent, const char *path, const char *key,
                  bool required, char **out)
{
    const ynode *value = check_kind(ck, parent, path, key, required, YNODE_SCALAR);
    return value && replace_string(out, value->scalar);
}

/* A scalar that must parse; reports "expected <what>, got '<text>'" otherwise. Only used for
 * fields that are never secrets, so quoting the text is safe and helpful. */
static const ynode *check_scalar_form(config_checker *ck, const ynode *parent, const char *path,
                                      const char *key, bool parsed, const ynode *value,
                                      const char *expected)
{
    (void)parent;
    if (!value || parsed)
        return value;
    char field[256];
    check_path(field, sizeof field, path, key);
    check_error_at(ck, value->line, value->col, field, "expected %s, got '%.60s'", expected,
                   value->scalar);
    return NULL;
}

bool check_bool(config_checker *ck, const ynode *parent, const char *path, const char *key,
                bool *out)
{
    const ynode *value = check_kind(ck, parent, path, key, false, YNODE_SCALAR);
    bool parsed = false;
    bool result = value && (parsed = config_parse_bool(value->scalar, out));
    check_scalar_form(ck, parent, path, key, parsed, value, "true or false");
    return result;
}

bool check_int(config_checker *ck, const ynode *parent, const char *path, const char *key, long min,
               long max, int *out)
{
    const ynode *value = check_kind(ck, parent, path, key, false, YNODE_SCALAR);
    long number = 0;
    bool parsed = value && config_parse_long(value->scalar, min, max, &number);
    char expected[96];
    snprintf(expected, sizeof expected, "an integer from %ld to %ld", min, max);
    check_scalar_form(ck, parent, path, key, parsed, value, expected);
    if (parsed)
        *out = (int)number;
    return parsed;
}

bool check_size(config_checker *ck, const ynode *parent, const char *path, const char *key,
                size_t *out)
{
    const ynode *value = check_kind(ck, parent, path, key, false, YNODE_SCALAR);
    size_t bytes = 0;
    bool parsed = value && config_parse_size(value->scalar, &bytes) && bytes > 0;
    check_scalar_form(ck, parent, path, key, parsed, value,
                      "a positive size such as 1048576, 512KiB or 4MiB");
    if (parsed)
        *out = bytes;
    return parsed;
}

bool check_duration(config_checker *ck, const ynode *parent, const char *path, const char *key,
                    double *out)
{
    const ynode *value = check_kind(ck, parent, path, key, false, YNODE_SCALAR);
    double seconds = 0;
    bool parsed = value && config_parse_duration(value->scalar, &seconds) && seconds > 0;
    check_scalar_form(ck, parent, path, key, parsed, value,
                      "a positive duration such as 250ms, 5s, 1m or a number of seconds");
    if (parsed)
        *out = seconds;
    return parsed;
}

bool check_duration_or_zero(config_checker *ck, const ynode *parent, const char *path,
                            const char *key, double *out)
{
    const ynode *value = check_kind(ck, parent, path, key, false, YNODE_SCALAR);
    double seconds = -1;
    bool parsed = value && config_parse_duration(value->scalar, &seconds) && seconds >= 0;
    check_scalar_form(ck, parent, path, key, parsed, value,
                      "a duration such as 0, 2ms or 1s (0 or more)");
    if (parsed)
        *out = seconds;
    return parsed;
}

bool check_host_port(config_checker *ck, const ynode *parent, const char *path, const char *key,
                     bool required, char **out)
{
    const ynode *value = check_kind(ck, parent, path, key, required, YNODE_SCALAR);
    bool parsed = value && config_is_host_port(value->scalar);
    check_scalar_form(ck, parent, path, key, parsed, value, "host:port");
    return parsed && replace_string(out, value->scalar);
}

/* Reads a secret file; NULL with a reason in why on failure. Strips one trailing newline (LF or
 * CRLF), the one editors and `echo` add. Only a regular file is read: opening a FIFO for reading
 * blocks until a writer comes (check-config would hang), and a device may never end. The open is
 * non-blocking for that reason, and the type is checked on the opened descriptor, not the path. */
static char *read_secret_file(const char *file_path, char *why, size_t why_cap)
{
    int fd = open(file_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(why, why_cap, "cannot read '%.200s': %s", file_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_cap, "'%.200s' is not a regular file (it is a %s)", file_path,
                 S_ISFIFO(st.st_mode)   ? "FIFO"
                 : S_ISDIR(st.st_mode)  ? "directory"
                 : S_ISSOCK(st.st_mode) ? "socket"
                                        : "device");
        close(fd);
        return NULL;
    }
    if (st.st_size > SECRET_FILE_MAX) {
        snprintf(why, why_cap, "'%.200s' is larger than %d bytes", file_path, SECRET_FILE_MAX);
        close(fd);
        return NULL;
    }
    FILE *file = fdopen(fd, "rb");
    if (!file) {
        snprintf(why, why_cap, "cannot read '%.200s': %s", file_path, strerror(errno));
        close(fd);
        return NULL;
    }
    char *text = malloc(SECRET_FILE_MAX + 1);
    size_t len = text ? fread(text, 1, SECRET_FILE_MAX + 1, file) : 0;
    bool read_error = !text || ferror(file);
    fclose(file);
    if (read_error || len > SECRET_FILE_MAX) {
        snprintf(why, why_cap, "cannot read '%.200s': %s", file_path,
                 !text        ? "out of memory"
                 : read_error ? "read error"
                              : "file too large");
        free(text);
        return NULL;
    }
    if (len > 0 && text[len - 1] == '\n')
        len--;
    if (len > 0 && text[len - 1] == '\r')
        len--;
    text[len] = '\0';
    return text;
}

/* "${NAME}" as the whole value names an environment variable; copies NAME into name. */
static bool env_reference(const char *text, char *name, size_t cap)
{
    size_t len = strlen(text);
    if (len < 4 || strncmp(text, "${", 2) != 0 || text[len - 1] != '}' || len - 3 >= cap)
        return false;
    memcpy(name, text + 2, len - 3);
    name[len - 3] = '\0';
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
           len - 3;
}

static char *resolve_secret(config_checker *ck, const ynode *value, const char *field)
{
    char name[128];
    if (!env_reference(value->scalar, name, sizeof name))
        return strdup(value->scalar);
    const char *env = getenv(name);
    if (!env || !*env) {
        check_error_at(ck, value->line, value->col, field, "environment variable '%s' is %s", name,
                       env ? "empty" : "not set");
        return NULL;
    }
    return strdup(env);
}

bool check_secret(config_checker *ck, const ynode *parent, const char *path, const char *key,
                  bool required, char **out)
{
    char file_key[64], field[256], file_field[256];
    snprintf(file_key, sizeof file_key, "%sFile", key);
    check_path(field, sizeof field, path, key);
    check_path(file_field, sizeof file_field, path, file_key);

    const ynode *inline_value = check_kind(ck, parent, path, key, false, YNODE_SCALAR);
    const ynode *file_value = check_kind(ck, parent, path, file_key, false, YNODE_SCALAR);
    const ynode_pair *inline_pair = ynode_find(parent, key);
    const ynode_pair *file_pair = ynode_find(parent, file_key);
    if (inline_pair && file_pair) {
        check_error_at(ck, file_pair->key_line, file_pair->key_col, file_field,
                       "set either '%s' or '%s', not both", key, file_key);
        return false;
    }
    if (!inline_pair && !file_pair) {
        if (required && parent && parent->kind == YNODE_MAP)
            check_error_at(ck, parent->line, parent->col, field, "is required (or '%s')", file_key);
        return false;
    }
    if (!inline_value && !file_value) {
        if (required && (inline_pair ? inline_pair : file_pair)->value->is_null) {
            const ynode_pair *pair = inline_pair ? inline_pair : file_pair;
            check_error_at(ck, pair->key_line, pair->key_col, inline_pair ? field : file_field,
                           "must not be empty");
        }
        return false;
    }

    char *secret;
    if (inline_value) {
        secret = resolve_secret(ck, inline_value, field);
    } else {
        char why[300];
        secret = read_secret_file(file_value->scalar, why, sizeof why);
        if (!secret)
            check_error_at(ck, file_value->line, file_value->col, file_field, "%s", why);
        else if (!*secret)
            check_error_at(ck, file_value->line, file_value->col, file_field, "'%.200s' is empty",
                           file_value->scalar);
    }
    if (!secret)
        return false;
    if (!*secret) {
        if (inline_value)
            check_error_at(ck, inline_value->line, inline_value->col, field, "must not be empty");
        free(secret);
        return false;
    }
    log_register_secret(secret);
    free(*out);
    *out = secret;
    return true;
}
