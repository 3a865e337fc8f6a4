/* The engine: builds the pipeline from a config and runs it on one libuv loop.
 *
 *   sources -> queue -> scripts -> route -> dispatcher per processor -> ack/nack
 *           -> source.event_done (checkpoints)
 *
 * The engine takes events off the queue only while fewer than max_pending are in delivery, so a
 * slow target fills the queue, and a full queue pushes back on the sources. */
#ifndef EVENT_ROUTER_ENGINE_H
#define EVENT_ROUTER_ENGINE_H

#include "config/config.h"
#include "event.h"
#include "metrics/metrics.h"

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

/* What the debugging console (or a test) may see of a running engine and do to it: on the loop
 * thread only, between two events. Strings belong to the engine and live as long as it does. */
typedef struct console console;
typedef struct script_chain script_chain;

typedef struct engine_source_info {
    const char *name;
    const char *type;
    const char *state; /* running, paused, not ready, stopped */
    const provider_stats *stats;
} engine_source_info;

typedef struct engine_processor_info {
    const char *name;
    const char *type;
    const processor_stats *stats;
    size_t pending;         /* accepted by its dispatcher and not yet finished */
    const char *last_error; /* of the last event it dead-lettered; "" when none */
    const struct processor_type *processor_type; /* for its optional describe() */
    const void *processor_state;
} engine_processor_info;

const config *engine_config(const engine *e);
size_t engine_source_count(const engine *e);
bool engine_source_at(const engine *e, size_t i, engine_source_info *out);
int engine_pause_source(engine *e, const char *name, bool pause, char *err, size_t err_cap);
size_t engine_processor_count(const engine *e);
bool engine_processor_at(const engine *e, size_t i, engine_processor_info *out);
const script_chain *engine_scripts(const engine *e); /* NULL: no scripts configured */
const char *engine_deadletter_dir(const engine *e);

/* Delivers ev again: through the scripts to every route when processor is NULL, else straight
 * to that processor (the scripts ran when it first passed). Takes over the caller's reference on
 * success; on failure (unknown processor, shutting down) the caller keeps it. */
int engine_replay(engine *e, event *ev, const char *processor, char *err, size_t err_cap);

/* Tracing into a console (console/console.h): the engine reports every event's path to c and
 * closes it at shutdown. Its backend (console/console_backend.h) calls this. */
void engine_attach_console(engine *e, console *c);

#endif
