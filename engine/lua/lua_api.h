/* The `er` library scripts see: log, json, state, counter, time, monotonic, route, pattern,
 * script.
 * The contract is docs/lua-api.md. */
#ifndef EVENT_ROUTER_LUA_API_H
#define EVENT_ROUTER_LUA_API_H

#include <lua.h>
#include <stddef.h>

#define LUA_API_MAX_COUNTERS 64

typedef struct lua_api_counter {
    char *name;
    double value;
} lua_api_counter;

/* What er.counter counts into. Owned by the script chain; its address must not move. */
typedef struct lua_api_script {
    char *name;                  /* file name */
    struct lua_api_script *self; /* points at itself: the er.counter target of a script */
    lua_api_counter counters[LUA_API_MAX_COUNTERS];
    size_t counter_count;
} lua_api_script;

/* Pushes a new `er` table. er.counter counts into *target at call time (so a lib/ module's
 * er.counter can count for whichever script is running); er.script is script_name; er.state is a
 * fresh table. May raise (memory): call in protected mode. */
void lua_api_push_er(lua_State *L, lua_api_script *const *target, const char *script_name);

void lua_api_script_free_counters(lua_api_script *script);

/* A lua_CFunction for a protected push of C-owned text: argument 1 is a light userdata pointing
 * at a NUL-terminated string, which the caller frees after the call whatever its status. */
int lua_api_push_owned_text(lua_State *L);

#endif
