/* The engine: builds the pipeline from a config and runs it on one libuv loop.
 *
 *   sources -> queue -> (scripts, later) -> route -> dispatcher per processor -> ack/nack
 *           -> source.event_done (checkpoints)
 *
 * The engine takes events off the queue only while fewer than max_pending are in delivery, so a
 * slow target fills the queue, and a full queue pushes back on the sources. */
#ifndef EVENT_ROUTER_ENGINE_H
#define EVENT_ROUTER_ENGINE_H

#include "config.h"
#include "metrics.h"

#include <stdbool.h>
#include <uv.h>

typedef struct engine engine;

/* Creates and starts everything the config names (sources, processors, metrics server). Returns
 * NULL with a reason in err; nothing is left running then. */
engine *engine_start(uv_loop_t *loop, const config *cfg, char *err, size_t err_cap);

/* Graceful shutdown: stop intake, deliver what is queued and in flight for up to
 * deadline_seconds, dead-letter whatever is still undelivered then, close every handle. The
 * engine frees itself; stopped(user) runs last. Calling it twice is harmless. */
void engine_shutdown(engine *e, double deadline_seconds, void (*stopped)(void *user), void *user);

/* Reload: re-reads the config file and the scripts it names, compiles them into a fresh Lua state
 * and swaps it in between two events. On any failure the running scripts stay and err says why
 * ("file:line: message"). Only the scripts section is taken from the new config: sources and
 * processors need a restart (a warning says so when they changed). Returns 0 on success. */
int engine_reload(engine *e, char *err, size_t err_cap);

/* fn runs when a part of the engine meets a problem that retrying cannot fix (the reason is
 * already logged); the owner then shuts the engine down and exits with a failure status. */
void engine_set_fatal_handler(engine *e, void (*fn)(void *user, const char *reason), void *user);

bool engine_ready(const engine *e);
metrics *engine_metrics(engine *e);

#endif
