/* `event-router test-script SCRIPT [EVENT.json ...]`: runs one script through the real Lua runtime
 * against sample events and prints, per event, one JSON line with what the script did. */
#ifndef EVENT_ROUTER_TEST_SCRIPT_H
#define EVENT_ROUTER_TEST_SCRIPT_H

#include <stddef.h>

int test_script_main(int argc, char **argv);

/* Runs the script file on one structured CloudEvent (JSON text) and returns the result object
 * test-script prints ({input_id, verdict, changed, event, routes, error, logs}); NULL with a reason
 * when the script does not load or the event is not valid. For the console's `test`. */
char *test_script_run_json(const char *script_path, const char *event_json, char *err,
                           size_t err_cap);

#endif
