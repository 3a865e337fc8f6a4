/* `event-router test-pattern PATTERN.json [EVENT.json ...]`: an EventBridge event pattern tried
 * on sample events, one line per event: match, or no match and the first field that failed. */
#ifndef EVENT_ROUTER_TEST_PATTERN_H
#define EVENT_ROUTER_TEST_PATTERN_H

int test_pattern_main(int argc, char **argv);

#endif
