/* string.find, string.match, string.gmatch and string.gsub with a step budget.
 *
 * The same pattern language and results as Lua 5.4's lstrlib.c (reimplemented here, the
 * algorithm is the same backtracking matcher), except that every step of the matcher (each
 * attempt at a pattern item, each character a quantifier or %b walks over) is counted and
 * charged to the script's instruction budget (lua_sandbox_charge) every PATTERN_CHARGE_STEPS
 * steps, so a pattern that backtracks exponentially is stopped like a loop is. A plain find
 * uses memmem (linear) and is charged by the bytes it searches. */
#ifndef EVENT_ROUTER_LUA_STRING_PATTERN_H
#define EVENT_ROUTER_LUA_STRING_PATTERN_H

#include <lua.h>

/* Sets find, match, gmatch and gsub in the table at string_index. */
void lua_string_pattern_install(lua_State *L, int string_index);

#endif
