/* Retry timing: capped exponential backoff with full jitter (deliveries) or half jitter (the
 * sources' reconnects), and Retry-After parsing. */
#ifndef EVENT_ROUTER_BACKOFF_H
#define EVENT_ROUTER_BACKOFF_H

#include <stdint.h>
#include <time.h>

/* Delay before retry number attempt (1 = first retry): uniform in [0, min(max,
 * initial*2^(attempt-1))]. random01 is a number in [0,1) supplied by the caller, so tests can pin
 * it. */
double backoff_delay_seconds(int attempt, double initial, double max, double random01);

/* Delay before a source reconnects after failures in a row (0 for the first): uniform in
 * [ceiling/2, ceiling), ceiling = min(max, initial*2^failures) with at most 16 doublings. The lower
 * half is kept so that a source never reconnects at once to a server that just failed it. */
double backoff_reconnect_delay_seconds(int failures, double initial, double max, double random01);

/* Parses a Retry-After value, either delta-seconds or an HTTP-date, relative to now. Returns the
 * delay in seconds (>= 0), or -1 when the value is unusable. */
double backoff_parse_retry_after(const char *value, time_t now);

#endif
