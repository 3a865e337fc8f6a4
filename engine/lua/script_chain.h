/* The script chain: every script of the scripts folder in one fresh sandboxed Lua state, run in
 * file-name order on each event (source -> queue -> scripts -> router).
 *
 * Files starting with '_' or ending in ".disabled.lua" are skipped; lib/ holds modules for
 * require. Single-threaded: a chain runs one event at a time on the loop thread. */
#ifndef EVENT_ROUTER_SCRIPT_CHAIN_H
#define EVENT_ROUTER_SCRIPT_CHAIN_H

#include "event.h"
#include "lua/lua_sandbox.h" /* script_limits */

#include <stddef.h>
#include <stdint.h>

typedef struct script_chain script_chain;

/* Compiles every script of dir in file-name order into a fresh Lua state, runs each top-level
 * chunk and checks it defines process(). NULL with "file:line: message" in err on any failure. */
script_chain *script_chain_load(const char *dir, const script_limits *limits, char *err,
                                size_t err_cap);
size_t script_chain_count(const script_chain *chain);
const char *script_chain_name(const script_chain *chain, size_t index); /* file name */

typedef enum { SCRIPT_KEEP, SCRIPT_DROP, SCRIPT_DEADLETTER } script_verdict;

typedef struct script_result {
    script_verdict verdict;
    char **routes;
    size_t route_count;       /* routes NULL = all processors; owned by the result */
    char error[512];          /* "file:line: message" of the last script error, "" if none */
    const char *error_script; /* name of the script that failed, or NULL */
    unsigned changed_mask;    /* bit i set when script i changed the event (for the console) */
} script_result;

/* Runs ev through every script in order; ev is modified in place. A script returning false drops
 * the event and ends the chain; a script error follows that script's on_error. */
script_verdict script_chain_run(script_chain *chain, event *ev, script_result *result);
void script_result_clear(script_result *result);

/* Per-script counters and error counts, for /metrics: */
typedef void (*script_counter_fn)(void *user, const char *script, const char *name, double value);
void script_chain_each_counter(const script_chain *chain, script_counter_fn fn, void *user);
uint64_t script_chain_errors(const script_chain *chain, size_t index);
void script_chain_free(script_chain *chain);

/* Bytes the chain's Lua state holds now (for diagnostics). */
size_t script_chain_memory_used(const script_chain *chain);

#endif
