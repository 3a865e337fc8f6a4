/* The standard functions whose work is not made of VM instructions, replaced in the sandbox by
 * versions that charge that work to the script's budget (lua_sandbox_charge) or refuse it up
 * front, and the functions that would let a script run code outside the budget.
 *
 * - string.rep: the result size is checked against the memory limit before anything is built,
 *   and the copies are charged; an empty result costs nothing whatever the count.
 * - table.concat, insert, remove, move, unpack: each element they touch is charged (a __len or
 *   __index can make a small table look 2^62 long); table.sort: each comparison is charged.
 * - string.find, match, gmatch, gsub: a matcher of our own that counts its backtracking steps
 *   (lua_string_pattern.c); Lua's own has a recursion limit but no step limit.
 * - xpcall: the script's message handler never runs for a kill. Lua calls a message handler for
 *   an error raised by the count hook while hooks are still off, so a handler that loops would
 *   never be stopped.
 * - coroutine.resume and coroutine.wrap: each resume charges the instructions a coroutine's own
 *   hook cannot see (lua_sandbox_arm_coroutine), so a loop of short coroutines is counted.
 * - coroutine.close and coroutine.wrap: a coroutine that died of an error is not "reset", so its
 *   pending to-be-closed variables are not closed; Lua would run those __close methods with the
 *   hooks of a thread that a kill left switched off. */
#ifndef EVENT_ROUTER_LUA_CHECKED_LIB_H
#define EVENT_ROUTER_LUA_CHECKED_LIB_H

#include <lua.h>

/* Replaces the functions in the template of allowed globals at index template_index (its string,
 * table and coroutine tables are the libraries' own, so methods on strings get them too). */
void lua_checked_lib_install(lua_State *L, int template_index);

#endif
