/* `event-router test-script SCRIPT [EVENT.json ...]`: runs one script through the real Lua runtime
 * against sample events and prints, per event, one JSON line with what the script did. */
#ifndef EVENT_ROUTER_TEST_SCRIPT_H
#define EVENT_ROUTER_TEST_SCRIPT_H

int test_script_main(int argc, char **argv);

#endif
