/* The event as a Lua table, and JSON <-> Lua values.
 *
 * A script gets a plain table holding the context attributes (and routes when set). `data` and
 * `extensions` are built only when the script first reads them (a metatable's __index), so a
 * filter that looks at `type` never pays for decoding the data; data that was never touched, or
 * that converts back to the same JSON, keeps its original bytes exactly. */
#ifndef EVENT_ROUTER_LUA_EVENT_H
#define EVENT_ROUTER_LUA_EVENT_H

#include "event.h"

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

/* One event passing through one Lua state. Owned by the caller (the script chain), and its address
 * must stay fixed: the table's metamethods find it through it. */
typedef struct lua_event_view {
    event *ev;          /* borrowed, modified in place by lua_event_apply */
    char **routes;      /* NULL = every processor; owned by the view */
    size_t route_count; /* entries in routes */
    const void *table;  /* the table of the running script; a kept copy of an old one is dead */
    bool data_touched;  /* the script read or assigned event.data */
    bool extensions_touched;
    /* The last script left the table exactly as the event is: the next script gets the same
     * table (with data already decoded) instead of a new one. */
    bool table_reusable;
    /* Per context attribute: the Lua string last pushed for it, kept alive in the registry so an
     * equal value on the next event is pushed without hashing or allocating (cached), and the
     * string in the current table when it was pushed fresh (pushed, NULL when absent or after a
     * change), so an untouched attribute is recognised by its address alone. */
    const char *cached[8];
    const char *pushed[8];
} lua_event_view;

/* Once per state: the event metatable (bound to view), the array metatable and json.null. */
void lua_event_setup(lua_State *L, lua_event_view *view);

/* Pushes the table for view->ev (the previous script's when it changed nothing). May raise a Lua
 * error: call in protected mode. */
void lua_event_push(lua_State *L, lua_event_view *view);
/* Ends the event: the table is released and dead for any script that kept it. Set view->ev
 * before the first lua_event_push of the next event. */
void lua_event_view_finish(lua_State *L, lua_event_view *view);

/* Validates the changes made to the table at idx and applies them all, or none, to view->ev and
 * view->routes. Returns 1 changed, 0 unchanged, -1 with a reason in err (nothing applied). Never
 * raises. */
int lua_event_apply(lua_State *L, int idx, lua_event_view *view, char *err, size_t err_cap);

void lua_event_view_clear_routes(lua_event_view *view);

/* True when the value at idx is an event table (the one process() gets). */
bool lua_event_is_event_table(lua_State *L, int idx);

/* JSON values in Lua: objects are tables, arrays are tables with the array metatable, null is
 * the light userdata lua_json_push_null pushes. */
void lua_json_push_null(lua_State *L);
bool lua_json_is_null(lua_State *L, int idx);
void lua_json_mark_array(lua_State *L, int idx);
bool lua_json_is_marked_array(lua_State *L, int idx);
/* Pushes json as a Lua value. May raise a Lua error (memory). */
void lua_json_push(lua_State *L, const cJSON *json);
/* Converts the value at idx. Keys of objects that exist in reference keep reference's order; new
 * keys follow in sorted order. A table is an array when marked, or when it is a non-empty
 * sequence 1..n; otherwise its keys must be strings. NULL with a reason on values JSON cannot hold
 * (functions, NaN, cycles). Never raises. */
cJSON *lua_json_from_lua(lua_State *L, int idx, const cJSON *reference, char *err, size_t err_cap);

#endif
