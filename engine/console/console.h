/* The debugging console: a Unix socket (and optional loopback TCP with a token) on which
 * `event-router console` clients talk to the running engine. The console knows nothing of the
 * engine's insides: it calls the backend below, and the engine feeds it one trace per event. */
#ifndef EVENT_ROUTER_CONSOLE_H
#define EVENT_ROUTER_CONSOLE_H

#include "event.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* What happened to one event on its way through the engine, step by step. */
typedef enum {
    TRACE_RECEIVED, /* from source `name` */
    TRACE_SCRIPT, /* script `name`: detail is "kept", "changed", "dropped", "error: file:line: msg"
                   */
    TRACE_ROUTED, /* detail: comma-separated processor names */
    TRACE_DELIVERED,  /* processor `name`, detail e.g. "HTTP 202 after 1 attempt(s)" */
    TRACE_DEADLETTER, /* processor `name` (or "script:<file>"), detail: the error */
    TRACE_FILTERED,   /* processor `name`'s filter did not match; detail: the field that failed */
} trace_step_kind;

typedef struct trace_step {
    trace_step_kind kind;
    const char *name;
    const char *detail;
    double at; /* seconds since the epoch */
} trace_step;

/* The engine side. Every function answers synchronously on the loop thread; strings returned are
 * malloc'd and owned by the caller. err gets a reason when a call fails (returns non-zero/NULL). */
typedef struct console_backend {
    void *engine;
    char *(*stats_json)(void *engine);   /* the /stats document */
    char *(*sources_json)(void *engine); /* [{name,type,address,state,events_total,events_err}] */
    /* {enabled, role: leader|standby, identity, holder, transitions}; role "leader" and no
     * identity without leaderElection (a single replica always streams). */
    char *(*leader_json)(void *engine);
    char *(*processors_json)(
        void *engine); /* [{name,type,in_flight,pending,retries,delivered,failed,last_error}] */
    char *(*scripts_json)(
        void *engine); /* {dir, scripts:[{name,errors}], reloads, last_reload, last_reload_error} */
    char *(*config_json)(void *engine); /* the config with secrets masked */
    int (*reload)(void *engine, char *err, size_t err_cap);
    int (*pause_source)(void *engine, const char *name, bool pause, char *err, size_t err_cap);
    /* Delivers a structured CloudEvent JSON again: to one processor, or to all when NULL. */
    int (*replay)(void *engine, const char *event_json, const char *processor, char *err,
                  size_t err_cap);
    /* Runs one script of the loaded chain (by file name) on an event without delivering it;
     * returns a JSON object {verdict, event, routes, error, logs}. */
    char *(*test_script)(void *engine, const char *script, const char *event_json, char *err,
                         size_t err_cap);
    const char *(*deadletter_dir)(void *engine);
    /* Runs a chunk of Lua in the console's own sandboxed state (same limits as scripts) with
     * read-only views `config`, `stats`, `recent`; returns printable text. */
    char *(*eval_lua)(void *engine, const char *chunk, char *err, size_t err_cap);
    /* Optional: runs once when the console no longer needs `engine` (when it frees itself, or
     * before console_start returns NULL), so the backend can free what it owns. */
    void (*release)(void *engine);
} console_backend;

typedef struct console console;

typedef struct console_options {
    const char *socket_path; /* NULL: $XDG_RUNTIME_DIR/event-router.sock, else
                                /tmp/event-router-<uid>.sock */
    const char *tcp_address; /* NULL: none; loopback host:port only */
    const char *tcp_token;   /* required with tcp_address */
    size_t recent_capacity;  /* events kept for `last` and `show` (default 1000) */
} console_options;

console *console_start(uv_loop_t *loop, const console_options *options,
                       const console_backend *backend, char *err, size_t err_cap);
/* One call per event when it enters the engine, then one per step; the console copies what it
 * keeps. Cheap when nobody is tailing: a ring insert. */
void console_trace_begin(console *c, const event *ev);
void console_trace_step(console *c, const event *ev, const trace_step *step);
void console_close(console *c);
/* The newest n events of the ring as a JSON array of their structured form (oldest first); for the
 * console's Lua `recent` view. Events whose JSON was truncated are left out. Caller frees. */
char *console_recent_json(const console *c, size_t n);

/* Diagnostics and tests: the bytes the console holds for clients that have not read them yet (the
 * sum of every client's unsent output), and the TCP port actually bound (useful with port 0; -1
 * without TCP). */
size_t console_buffered_bytes(const console *c);
int console_tcp_port(const console *c);

/* The client: `event-router console [--socket PATH] [--tcp HOST:PORT --token T]`. Interactive with
 * line editing when stdin is a terminal; otherwise reads commands from stdin, prints results on
 * stdout and returns non-zero when any command failed. */
int console_client_main(int argc, char **argv);

#endif
