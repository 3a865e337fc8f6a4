/* The Lua sandbox: one lua_State with a memory ceiling, an instruction budget, and environments
 * that expose only the allowed libraries (see docs/lua-api.md).
 *
 * Every piece of Lua code - a script's top-level chunk, its process(), a lib/ module - runs in a
 * table of its own (_ENV), so a global set by one script is never seen by another. The real
 * global table and the registry are unreachable from Lua: there is no debug library, no package
 * library, string's metatable is protected, and load() accepts text only. */
#ifndef EVENT_ROUTER_LUA_SANDBOX_H
#define EVENT_ROUTER_LUA_SANDBOX_H

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct script_limits {
    long instruction_limit; /* VM instructions per call into a script; 0 = default */
    size_t memory_limit;    /* bytes for the whole Lua state; 0 = default */
    long time_limit_ms;     /* wall-clock ms per call into a script; 0 = the default: 1 ms per
                               10,000 instructions of instruction_limit, at least 250 ms */
} script_limits;

#define SCRIPT_DEFAULT_INSTRUCTION_LIMIT 1000000L
#define SCRIPT_DEFAULT_TIME_LIMIT_MS 250L
#define SCRIPT_DEFAULT_MEMORY_LIMIT ((size_t)32 << 20)

typedef struct lua_sandbox lua_sandbox;

/* Called with a fresh module environment on top of the stack, before a lib/ module runs, so the
 * owner can add its own globals (the er library). */
typedef void (*lua_sandbox_env_fn)(lua_State *L, const char *module_name, void *user);

/* lib_dir may be NULL (require then always fails). NULL on out of memory. */
lua_sandbox *lua_sandbox_new(const script_limits *limits, const char *lib_dir);
void lua_sandbox_free(lua_sandbox *sb);
lua_State *lua_sandbox_state(const lua_sandbox *sb);
void lua_sandbox_set_module_env_fn(lua_sandbox *sb, lua_sandbox_env_fn fn, void *user);

/* Pushes a new environment table: the allowed standard functions and private copies of the
 * library tables (so changing string.x in one script cannot affect another). */
void lua_sandbox_push_env(lua_sandbox *sb);

/* Compiles text (text only, never bytecode) with chunkname shown as "name" in errors, and makes
 * the table on top of the stack its _ENV (the table is popped). On success pushes the function;
 * on failure writes "name:line: message" and pushes nothing. */
bool lua_sandbox_load(lua_sandbox *sb, const char *text, size_t len, const char *name, char *err,
                      size_t err_cap);

/* Reads and compiles a file as lua_sandbox_load does; the env table on top is popped either way. */
bool lua_sandbox_load_file(lua_sandbox *sb, const char *path, const char *name, char *err,
                           size_t err_cap);

/* Calls the function below its nargs arguments in protected mode with a fresh instruction budget.
 * On failure writes "file:line: message" (fallback_name replaces the file when no Lua frame is
 * known, e.g. for memory errors) and leaves nothing on the stack; after an instruction or memory
 * limit error the state is collected so the next call starts clean. */
bool lua_sandbox_call(lua_sandbox *sb, int nargs, int nresults, const char *fallback_name,
                      char *err, size_t err_cap);

size_t lua_sandbox_memory_used(const lua_sandbox *sb);

/* The budget as C code sees it (for the checked library functions, lua_checked_lib.c, and the
 * engine's own C functions called from scripts):
 * - lua_sandbox_charge counts work a C function is about to do (elements moved, pattern steps)
 *   against the instruction budget, and raises the kill when the budget or the wall-clock limit
 *   is exceeded;
 * - lua_sandbox_reserve raises the memory kill when bytes more would not fit under the memory
 *   limit (before building a result of known size);
 * - lua_sandbox_arm_coroutine is called before each lua_resume of co by L: it charges the
 *   instructions co's hook cannot see and sets co's hook;
 * - lua_sandbox_is_killed says whether a limit was hit during the current call, even if the
 *   script caught the error;
 * - lua_sandbox_check raises the kill again if so (called before applying a script's result, so a
 *   swallowed kill cannot return normally). */
void lua_sandbox_charge(lua_State *L, long units);
void lua_sandbox_reserve(lua_State *L, size_t bytes);
void lua_sandbox_arm_coroutine(lua_State *L, lua_State *co);
bool lua_sandbox_is_killed(lua_State *L);
bool lua_sandbox_was_killed(const lua_sandbox *sb); /* the same, from the sandbox */
void lua_sandbox_check(lua_State *L);

#endif
