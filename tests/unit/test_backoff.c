#include "backoff.h"
#include "check.h"

#include <math.h>

static void test_exponential_growth_is_capped(void)
{
    /* With random01 just below 1, the delay is the ceiling itself. */
    double near_one = 0.999999;
    CHECK(fabs(backoff_delay_seconds(1, 0.5, 30, near_one) - 0.5) < 1e-3);
    CHECK(fabs(backoff_delay_seconds(2, 0.5, 30, near_one) - 1.0) < 1e-3);
    CHECK(fabs(backoff_delay_seconds(4, 0.5, 30, near_one) - 4.0) < 1e-3);
    CHECK(fabs(backoff_delay_seconds(10, 0.5, 30, near_one) - 30.0) < 1e-3);
    CHECK(fabs(backoff_delay_seconds(1000, 0.5, 30, near_one) - 30.0) < 1e-3);
}

static void test_full_jitter_spans_zero_to_ceiling(void)
{
    CHECK(backoff_delay_seconds(3, 0.5, 30, 0.0) == 0.0);
    CHECK(fabs(backoff_delay_seconds(3, 0.5, 30, 0.5) - 1.0) < 1e-9);
}

/* The sources' reconnects: 0.5 s doubling per failure in a row, capped, never below half. */
static void test_reconnect_delay_keeps_the_lower_half(void)
{
    CHECK(fabs(backoff_reconnect_delay_seconds(0, 0.5, 30, 0.0) - 0.25) < 1e-9);
    CHECK(fabs(backoff_reconnect_delay_seconds(0, 0.5, 30, 0.999999) - 0.5) < 1e-6);
    CHECK(fabs(backoff_reconnect_delay_seconds(3, 0.5, 30, 0.0) - 2.0) < 1e-9);
    CHECK(fabs(backoff_reconnect_delay_seconds(3, 0.5, 30, 0.5) - 3.0) < 1e-9);
    CHECK(fabs(backoff_reconnect_delay_seconds(10, 0.5, 30, 0.0) - 15.0) < 1e-9);
    CHECK(fabs(backoff_reconnect_delay_seconds(10, 0.5, 10, 0.999999) - 10.0) < 1e-4);
    CHECK(fabs(backoff_reconnect_delay_seconds(100000, 0.5, 30, 0.0) - 15.0) < 1e-9);
}

static void test_retry_after_forms(void)
{
    time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    CHECK(backoff_parse_retry_after("120", now) == 120);
    CHECK(backoff_parse_retry_after(" 3 ", now) == 3);
    CHECK(backoff_parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now) == 60);
    CHECK(backoff_parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now) == 0);
    CHECK(backoff_parse_retry_after("soon", now) == -1);
    CHECK(backoff_parse_retry_after("12abc", now) == -1);
    CHECK(backoff_parse_retry_after(NULL, now) == -1);
}

int main(void)
{
    RUN_TEST(test_exponential_growth_is_capped);
    RUN_TEST(test_full_jitter_spans_zero_to_ceiling);
    RUN_TEST(test_reconnect_delay_keeps_the_lower_half);
    RUN_TEST(test_retry_after_forms);
    return CHECK_DONE();
}
