/* Building blocks of the RouterConfig validator: look a key up in a YAML mapping, check its
 * shape, convert it, and on any problem add one "file:line:col: field.path: message" error and
 * carry on, so one run reports everything. Messages quote keys, types and file names, never
 * the values of secret fields. */
#ifndef EVENT_ROUTER_CONFIG_CHECK_H
#define EVENT_ROUTER_CONFIG_CHECK_H

#include "config/config.h"
#include "config/config_yaml.h"

typedef struct config_checker {
    const char *file;
    config_errors *errors;
} config_checker;

/* "parent.key", or key alone when parent is empty. */
void check_path(char *out, size_t cap, const char *parent, const char *key);
void check_error_at(config_checker *ck, int line, int col, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Reports each key of map that is not in allowed (a NULL-terminated list). */
void check_known_keys(config_checker *ck, const ynode *map, const char *path,
                      const char *const *allowed);

/* The value of parent[key] when it is present and not null; NULL otherwise. When it is missing
 * and required, reports "is required" at the parent mapping's position. */
const ynode *check_value(config_checker *ck, const ynode *parent, const char *path, const char *key,
                         bool required);
/* Like check_value, but also reports a value that is not a mapping (resp. sequence). */
const ynode *check_map(config_checker *ck, const ynode *parent, const char *path, const char *key,
                       bool required);
const ynode *check_seq(config_checker *ck, const ynode *parent, const char *path, const char *key,
                       bool required);

/* Each returns true when the key was present and valid, with *out set (a string replaces and frees
 * the old *out); false when absent (out untouched) or invalid (reported). */
bool check_string(config_checker *ck, const ynode *parent, const char *path, const char *key,
                  bool required, char **out);
bool check_bool(config_checker *ck, const ynode *parent, const char *path, const char *key,
                bool *out);
bool check_int(config_checker *ck, const ynode *parent, const char *path, const char *key, long min,
               long max, int *out);
bool check_size(config_checker *ck, const ynode *parent, const char *path, const char *key,
                size_t *out);
/* Durations must be > 0. */
bool check_duration(config_checker *ck, const ynode *parent, const char *path, const char *key,
                    double *out);
/* The same, 0 allowed (a pace that can be turned off). */
bool check_duration_or_zero(config_checker *ck, const ynode *parent, const char *path,
                            const char *key, double *out);
bool check_host_port(config_checker *ck, const ynode *parent, const char *path, const char *key,
                     bool required, char **out);

/* A secret: "key: value", "key: ${ENV_NAME}" (the environment variable's value) or
 * "keyFile: PATH" (the file's content without its trailing newline). Every resolved secret is
 * registered with the logger's mask. Reports when both or (if required) neither form is given. */
bool check_secret(config_checker *ck, const ynode *parent, const char *path, const char *key,
                  bool required, char **out);

#endif
