/* er.pattern(text): an EventBridge event pattern (filters/event_pattern.h) compiled once, with
 * p:match(event) and p:explain(event). The contract is docs/lua-api.md. */
#ifndef EVENT_ROUTER_LUA_PATTERN_H
#define EVENT_ROUTER_LUA_PATTERN_H

#include <lua.h>

/* Pushes the er.pattern function (and makes the matchers' metatable, once per state). May raise
 * (memory): call in protected mode. */
void lua_pattern_push_constructor(lua_State *L);

#endif
