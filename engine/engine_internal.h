/* The engine's insides, shared by engine.c (the pipeline) and engine_console.c (what the
 * debugging console sees and does). Nothing else includes this. */
#ifndef EVENT_ROUTER_ENGINE_INTERNAL_H
#define EVENT_ROUTER_ENGINE_INTERNAL_H

#include "console.h"
#include "deadletter.h"
#include "dispatcher.h"
#include "engine.h"
#include "event_queue.h"
#include "http_client.h"
#include "lua_sandbox.h"
#include "metrics_server.h"
#include "processor.h"
#include "script_chain.h"
#include "source.h"

typedef struct engine_source {
    const source_type *type;
    void *state;
    const config_provider *config;
    bool paused; /* from the console */
} engine_source;

typedef struct engine_processor {
    const processor_type *type;
    void *state;
    dispatcher *dispatcher;
    engine *owner;
    processor_stats *stats;
    char last_error[256]; /* of the last event it dead-lettered, for the console */
} engine_processor;

struct engine {
    uv_loop_t *loop;
    const config *config;
    metrics *metrics;
    event_queue queue;
    http_client *http;
    deadletter *deadletter;
    metrics_server *metrics_server;
    engine_source *sources;
    size_t source_count;
    engine_processor *processors;
    size_t processor_count;
    processor_services processor_services;
    script_chain *scripts;    /* NULL: no scripts, every event goes to every processor */
    console *console;         /* NULL: no console */
    lua_sandbox *console_lua; /* the console's own Lua state, made on first use */

    uv_idle_t drain; /* runs the queue -> dispatchers step outside the sources' callbacks */
    bool drain_active;
    size_t in_delivery; /* events taken off the queue and not yet finished everywhere */
    size_t max_in_delivery;

    bool shutting_down;
    bool closing_handles;
    uv_timer_t shutdown_timer;
    size_t handles_open;
    size_t dispatchers_open;
    void (*stopped)(void *user);
    void *stopped_user;
    void (*on_fatal)(void *user, const char *reason);
    void *on_fatal_user;
};

/* source -> scripts -> route -> dispatchers, for an event taken off the queue (or replayed).
 * Takes over the caller's reference to ev. */
void engine_dispatch(engine *e, event *ev);
/* Straight to one processor, skipping the scripts (replay of a dead-lettered delivery). */
void engine_dispatch_to(engine *e, engine_processor *p, event *ev);
engine_processor *engine_find_processor(engine *e, const char *name);

/* The console: started when the config asks for one (engine_console.c). */
int engine_console_start(engine *e, char *err, size_t err_cap);
void engine_console_close(engine *e);

#endif
