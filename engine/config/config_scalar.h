/* Pure parsers for the scalar forms the config accepts. No allocation, no I/O: each returns
 * false for text it does not accept, so the caller decides how to report it. */
#ifndef EVENT_ROUTER_CONFIG_SCALAR_H
#define EVENT_ROUTER_CONFIG_SCALAR_H

#include <stdbool.h>
#include <stddef.h>

/* true/false in YAML 1.1 spellings (also yes/no/on/off), as Go's yaml.v2 reads them. */
bool config_parse_bool(const char *text, bool *out);
/* A decimal integer within [min, max]. */
bool config_parse_long(const char *text, long min, long max, long *out);
/* "250ms", "5s", "1m", "1h", combinations like "1m30s", or a bare number of seconds. >= 0. */
bool config_parse_duration(const char *text, double *seconds);
/* A byte count: "4194304", "512KiB", "4MiB", "1GiB" (also B, KB/kB, MB, GB as powers of 1000). */
bool config_parse_size(const char *text, size_t *bytes);
/* "host:port", "[v6addr]:port" or ":port" with port 0-65535 (0 lets the system choose). */
bool config_is_host_port(const char *text);

#endif
