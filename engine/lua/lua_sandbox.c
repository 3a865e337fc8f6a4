#include "lua/lua_sandbox.h"

#include "log.h"

#include "lua/lua_checked_lib.h"

#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The count hook fires every HOOK_STEP instructions; the budget (instructions and wall time) is
 * checked at that granularity, which keeps the hook's cost negligible. */
#define HOOK_STEP 1000
/* Bytes the message handler may use above the ceiling so it can still format the error. */
#define HANDLER_HEADROOM ((size_t)64 << 10)
#define MINIMUM_MEMORY_LIMIT ((size_t)1 << 20)

typedef enum { KILL_NONE, KILL_INSTRUCTIONS, KILL_TIME, KILL_MEMORY } kill_reason;

struct lua_sandbox {
    lua_State *L;
    size_t memory_used;
    size_t memory_limit;
    long instruction_limit;
    long instructions_used; /* VM instructions plus the work charged by the checked C functions */
    long time_limit_ms;
    long next_time_check; /* instructions_used at which the clock is read next */
    bool clock_started;   /* call_started is set: the first budget check of the call was made */
    struct timespec call_started;
    kill_reason killed;
    char kill_where[160]; /* "file:line:" of the innermost Lua frame when the kill happened */
    bool in_handler;
    char *lib_dir;
    int template_ref; /* registry: the allowed globals, copied into every environment */
    int modules_ref;  /* registry: require's cache, module name -> value */
    lua_sandbox_env_fn module_env_fn;
    void *module_env_user;
};

static void budget_hook(lua_State *L, lua_Debug *ar);

/* Building a large value (string.upper of a long string, a concatenation, a table) is one
 * instruction whatever its size: every 64 bytes allocated count as one instruction, and when that
 * crosses a budget check point the hook is armed for the next instruction, so a loop of such
 * instructions is checked between two of them rather than every HOOK_STEP. (lua_sethook may be
 * called anywhere, even asynchronously.) Out of line: the allocator's fast path only adds. */
static void __attribute__((noinline)) allocation_crossed_check(lua_sandbox *sb)
{
    if (sb->L && sb->killed == KILL_NONE)
        lua_sethook(sb->L, budget_hook, LUA_MASKCOUNT, 1);
}

/* The memory ceiling. Shrinking and freeing never fail (Lua requires it); growth past the ceiling
 * is refused and remembered, so the count hook can keep failing a script that swallows the
 * "not enough memory" error with pcall. */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    lua_sandbox *sb = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        sb->memory_used -= old;
        return NULL;
    }
    if (nsize <= old) { /* shrinking: never fails, as far as Lua is concerned */
        void *shrunk = realloc(ptr, nsize);
        if (!shrunk)
            return NULL;
        sb->memory_used -= old - nsize;
        return shrunk;
    }
    size_t growth = nsize - old;
    size_t limit = sb->memory_limit + (sb->in_handler ? HANDLER_HEADROOM : 0);
    if (sb->memory_used + growth > limit) {
        if (sb->killed == KILL_NONE && sb->L) {
            sb->killed = KILL_MEMORY;
            /* lua_sethook is safe at any point (it is documented as signal-safe): from the next
             * instruction on, the hook keeps failing whatever caught the memory error. */
            lua_sethook(sb->L, budget_hook, LUA_MASKCOUNT, 1);
        }
        return NULL;
    }
    void *grown = realloc(ptr, nsize);
    if (!grown)
        return NULL;
    sb->memory_used += growth;
    sb->instructions_used += (long)(growth >> 6);
    if (sb->instructions_used >= sb->next_time_check)
        allocation_crossed_check(sb);
    return grown;
}

static lua_sandbox *sandbox_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static long elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Remembers where the script was (the innermost Lua frame) without allocating: the message of
 * a kill names that line even when the script swallowed the error and returned. */
static void remember_kill_position(lua_sandbox *sb, lua_State *L)
{
    lua_Debug ar;
    sb->kill_where[0] = '\0';
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            snprintf(sb->kill_where, sizeof sb->kill_where, "%s:%d:", ar.short_src, ar.currentline);
            return;
        }
    }
}

static const char *kill_message(const lua_sandbox *sb, char *out, size_t cap)
{
    if (sb->killed == KILL_TIME)
        snprintf(out, cap, "time limit exceeded (%ld ms)", sb->time_limit_ms);
    else if (sb->killed == KILL_MEMORY)
        snprintf(out, cap, "memory limit exceeded (%zu bytes)", sb->memory_limit);
    else
        snprintf(out, cap, "instruction limit exceeded (%ld instructions)", sb->instruction_limit);
    return out;
}

/* Raises the kill in L. From here on every hook call (one per instruction, in this thread and
 * in the main one) raises it again, so neither pcall nor a coroutine can swallow it for long.
 * The message is a literal pushed with lua_pushstring: when memory is what ran out, pushing it
 * fails with Lua's own preallocated "not enough memory", which is just as final. */
static int raise_kill(lua_State *L, lua_sandbox *sb)
{
    if (!sb->kill_where[0])
        remember_kill_position(sb, L);
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    if (L != sb->L)
        lua_sethook(sb->L, budget_hook, LUA_MASKCOUNT, 1);
    char msg[96];
    lua_pushstring(L, kill_message(sb, msg, sizeof msg));
    return lua_error(L);
}

/* Checks the budget: called by the hook every HOOK_STEP instructions and by the checked C
 * functions for the work they do (lua_sandbox_charge). */
static bool budget_exceeded(lua_sandbox *sb)
{
    if (sb->killed != KILL_NONE)
        return true;
    if (sb->instructions_used > sb->instruction_limit) {
        sb->killed = KILL_INSTRUCTIONS;
    } else if (sb->instructions_used >= sb->next_time_check) {
        sb->next_time_check = sb->instructions_used + HOOK_STEP;
        if (!sb->clock_started) { /* see lua_sandbox_call */
            clock_gettime(CLOCK_MONOTONIC, &sb->call_started);
            sb->clock_started = true;
        } else if (elapsed_ms(&sb->call_started) >= sb->time_limit_ms) {
            sb->killed = KILL_TIME;
        }
    }
    return sb->killed != KILL_NONE;
}

/* The count hook. Once a limit is hit it fires on every instruction and raises again, so a
 * script's own pcall cannot swallow the kill: the error keeps coming until it leaves the
 * script. Lua runs a hook with hooks off, and a message handler called for an error raised here
 * would run with hooks off as well: that is why xpcall is replaced (lua_checked_lib.c) by one
 * that never runs a script's handler for a kill. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sandbox *sb = sandbox_of(L);
    if (sb->killed == KILL_NONE) {
        sb->instructions_used += lua_gethookcount(L);
        if (!budget_exceeded(sb)) {
            if (L == sb->L && lua_gethookcount(L) != HOOK_STEP) /* armed by charge_allocation */
                lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_STEP);
            return;
        }
    }
    raise_kill(L, sb);
}

void lua_sandbox_charge(lua_State *L, long units)
{
    lua_sandbox *sb = sandbox_of(L);
    if (units < 0 || units > sb->instruction_limit)
        units = sb->instruction_limit + 1;
    sb->instructions_used += units;
    if (budget_exceeded(sb))
        raise_kill(L, sb);
}

void lua_sandbox_reserve(lua_State *L, size_t bytes)
{
    lua_sandbox *sb = sandbox_of(L);
    if (bytes > sb->memory_limit || sb->memory_used > sb->memory_limit - bytes) {
        if (sb->killed == KILL_NONE)
            sb->killed = KILL_MEMORY;
        raise_kill(L, sb);
    }
}

/* A coroutine's hook counter starts afresh at each resume and is lost when it yields or ends:
 * the instructions since its last hook call would never be counted. So a coroutine's hook fires
 * every COROUTINE_HOOK_STEP instructions, and each resume is charged that much up front: an
 * upper bound of what its hook will not see. */
#define COROUTINE_HOOK_STEP 100

void lua_sandbox_arm_coroutine(lua_State *L, lua_State *co)
{
    lua_sandbox *sb = sandbox_of(L);
    lua_sandbox_charge(L, COROUTINE_HOOK_STEP);
    if (co != sb->L) /* resuming the main thread fails anyway; its hook stays as it is */
        lua_sethook(co, budget_hook, LUA_MASKCOUNT, COROUTINE_HOOK_STEP);
}

bool lua_sandbox_is_killed(lua_State *L)
{
    return sandbox_of(L)->killed != KILL_NONE;
}

bool lua_sandbox_was_killed(const lua_sandbox *sb)
{
    return sb->killed != KILL_NONE;
}

void lua_sandbox_check(lua_State *L)
{
    lua_sandbox *sb = sandbox_of(L);
    if (sb->killed != KILL_NONE)
        raise_kill(L, sb);
}

static bool message_has_position(const char *msg)
{
    const char *colon = strchr(msg, ':');
    if (!colon || colon == msg || memchr(msg, '\n', (size_t)(colon - msg)))
        return false;
    const char *p = colon + 1;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == ':';
}

/* Gives every error "file:line: " of the innermost Lua frame when the raiser did not (errors
 * raised by C functions, error(msg, 0), limit kills). */
static int message_handler(lua_State *L)
{
    lua_sandbox *sb = sandbox_of(L);
    sb->in_handler = true;
    if (sb->killed != KILL_NONE) { /* the kill's own message, at the line the kill happened */
        char msg[96];
        if (sb->kill_where[0])
            lua_pushfstring(L, "%s %s", sb->kill_where, kill_message(sb, msg, sizeof msg));
        else
            lua_pushstring(L, kill_message(sb, msg, sizeof msg));
        return 1;
    }
    const char *msg = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
    if (!msg) {
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        lua_replace(L, 1);
    }
    if (message_has_position(msg))
        return 1;
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
            return 1;
        }
    }
    return 1;
}

bool lua_sandbox_call(lua_sandbox *sb, int nargs, int nresults, const char *fallback_name,
                      char *err, size_t err_cap)
{
    lua_State *L = sb->L;
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);
    /* A kill (or a memory error outside any call) leaves the hook firing on every instruction:
     * back to the normal step for this call. */
    if (sb->killed != KILL_NONE || lua_gethookcount(L) != HOOK_STEP)
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_STEP);
    sb->instructions_used = 0;
    sb->killed = KILL_NONE;
    sb->kill_where[0] = '\0';
    /* The clock starts at the first budget check (after HOOK_STEP instructions, or the first
     * charged C function or large allocation), not here: most calls end before it and never read
     * the clock. What runs before that first check is bounded (fewer than HOOK_STEP instructions
     * and C calls that are not charged, each of bounded work). */
    sb->next_time_check = HOOK_STEP;
    sb->clock_started = false;
    int status = lua_pcall(L, nargs, nresults, base);
    sb->in_handler = false;
    kill_reason killed = sb->killed;
    if (killed != KILL_NONE)
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_STEP);
    if (status == LUA_OK && killed == KILL_NONE) {
        lua_remove(L, base);
        return true;
    }
    char kill_text[96];
    if (killed != KILL_NONE) { /* whatever the script made of the kill, report the kill */
        lua_settop(L, base);
        kill_message(sb, kill_text, sizeof kill_text);
        if (sb->kill_where[0])
            snprintf(err, err_cap, "%s %s", sb->kill_where, kill_text);
        else
            snprintf(err, err_cap, "%s: %s", fallback_name, kill_text);
        lua_settop(L, base - 1);
        lua_gc(L, LUA_GCCOLLECT);
        sb->killed = KILL_NONE;
        return false;
    }
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (status == LUA_ERRMEM)
        snprintf(err, err_cap, "%s: memory limit exceeded (%zu bytes)", fallback_name,
                 sb->memory_limit);
    else if (msg && message_has_position(msg))
        snprintf(err, err_cap, "%s", msg);
    else
        snprintf(err, err_cap, "%s: %s", fallback_name, msg ? msg : "error");
    lua_settop(L, base - 1);
    return false;
}

bool lua_sandbox_load(lua_sandbox *sb, const char *text, size_t len, const char *name, char *err,
                      size_t err_cap)
{
    lua_State *L = sb->L;
    char chunkname[256];
    snprintf(chunkname, sizeof chunkname, "=%s", name);
    if (luaL_loadbufferx(L, text, len, chunkname, "t") != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        snprintf(err, err_cap, "%s", msg ? msg : "cannot load");
        lua_pop(L, 2);
        return false;
    }
    lua_pushvalue(L, -2);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    lua_remove(L, -2);
    return true;
}

bool lua_sandbox_load_file(lua_sandbox *sb, const char *path, const char *name, char *err,
                           size_t err_cap)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    long size = -1;
    if (file && fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 &&
        fseek(file, 0, SEEK_SET) == 0 && (text = malloc((size_t)size + 1)) &&
        fread(text, 1, (size_t)size, file) == (size_t)size) {
        fclose(file);
        bool ok = lua_sandbox_load(sb, text, (size_t)size, name, err, err_cap);
        free(text);
        return ok;
    }
    if (file)
        fclose(file);
    free(text);
    snprintf(err, err_cap, "%s: cannot read %s", name, path);
    lua_pop(sb->L, 1);
    return false;
}

/* load(text [, chunkname [, mode [, env]]]): text only, whatever mode says; without env the
 * chunk gets the environment of the script that called load, never the real globals. */
static int sandbox_load(lua_State *L)
{
    size_t len = 0;
    const char *text = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
    if (!text)
        return luaL_argerror(L, 1, "string expected (load accepts text only)");
    const char *chunkname = luaL_optstring(L, 2, "=(load)");
    int env = lua_isnone(L, 4) ? lua_upvalueindex(1) : 4;
    if (luaL_loadbufferx(L, text, len, chunkname, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushvalue(L, env);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return 1;
}

static int sandbox_collectgarbage(lua_State *L)
{
    const char *option = luaL_optstring(L, 1, "collect");
    if (strcmp(option, "count") != 0)
        return luaL_error(L, "collectgarbage('%s') is not allowed (only 'count')", option);
    int kb = lua_gc(L, LUA_GCCOUNT), bytes = lua_gc(L, LUA_GCCOUNTB);
    lua_pushnumber(L, (lua_Number)kb + (lua_Number)bytes / 1024.0);
    return 1;
}

static int sandbox_print(lua_State *L)
{
    int n = lua_gettop(L); /* before luaL_buffinit, which pushes a placeholder of its own */
    luaL_Buffer line;
    luaL_buffinit(L, &line);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&line, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&line);
    }
    luaL_pushresult(&line);
    luaL_where(L, 1);
    log_info("script", "%s%s", lua_tostring(L, -1), lua_tostring(L, -2));
    return 0;
}

/* setmetatable without __gc: a finalizer would run whenever the collector gets to it - inside
 * another script's call, under its budget, or while the engine itself allocates. (Lua marks an
 * object for finalization only when __gc is present at setmetatable time, so checking here is
 * enough.) */
static int sandbox_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static bool module_name_is_allowed(const char *name, size_t len)
{
    if (len == 0 || len > 64 || name[0] == '.' || name[len - 1] == '.' || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static const char loading_sentinel = 0;

/* require "name": <lib_dir>/name.lua (dots become directories), in its own environment, run
 * once per state; the value it returns (or true) is cached. */
static int sandbox_require(lua_State *L)
{
    lua_sandbox *sb = sandbox_of(L);
    size_t len = 0;
    const char *name = luaL_checklstring(L, 1, &len);
    if (!module_name_is_allowed(name, len) || strlen(name) != len)
        return luaL_error(L, "require: '%s' is not a lib/ module name", name);
    if (!sb->lib_dir)
        return luaL_error(L, "require: no lib/ folder");
    lua_rawgeti(L, LUA_REGISTRYINDEX, sb->modules_ref);
    int cache = lua_gettop(L);
    lua_getfield(L, cache, name);
    if (lua_touserdata(L, -1) == &loading_sentinel)
        return luaL_error(L, "require: module '%s' requires itself", name);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    char relative[80], path[4096], chunkname[96];
    snprintf(relative, sizeof relative, "%s", name);
    for (char *p = relative; *p; p++)
        if (*p == '.')
            *p = '/';
    snprintf(path, sizeof path, "%s/%s.lua", sb->lib_dir, relative);
    snprintf(chunkname, sizeof chunkname, "lib/%s.lua", relative);
    lua_pushlightuserdata(L, (void *)&loading_sentinel);
    lua_setfield(L, cache, name);

    lua_sandbox_push_env(sb);
    if (sb->module_env_fn)
        sb->module_env_fn(L, chunkname, sb->module_env_user);
    char err[512];
    if (!lua_sandbox_load_file(sb, path, chunkname, err, sizeof err)) {
        lua_pushnil(L);
        lua_setfield(L, cache, name);
        return luaL_error(L, "require '%s': %s", name, err);
    }
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        lua_pushnil(L);
        lua_setfield(L, cache, name);
        return lua_error(L);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, cache, name);
    return 1;
}

static void copy_fields(lua_State *L, int from, int to, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        lua_getfield(L, from, names[i]);
        lua_setfield(L, to, names[i]);
    }
}

/* Builds the template of allowed globals from the opened libraries. */
static void build_template(lua_State *L)
{
    static const char *const base_names[] = {"assert",   "error",        "ipairs",   "next",
                                             "pairs",    "pcall",        "rawequal", "rawget",
                                             "rawlen",   "rawset",       "select",   "setmetatable",
                                             "tonumber", "tostring",     "type",     "xpcall",
                                             "_VERSION", "getmetatable", NULL};
    static const char *const os_names[] = {"time", "clock", "date", NULL};
    static const struct {
        const char *name;
        lua_CFunction open;
    } libraries[] = {
        {LUA_STRLIBNAME, luaopen_string},   {LUA_TABLIBNAME, luaopen_table},
        {LUA_MATHLIBNAME, luaopen_math},    {LUA_UTF8LIBNAME, luaopen_utf8},
        {LUA_COLIBNAME, luaopen_coroutine},
    };
    lua_newtable(L);
    int template = lua_gettop(L);
    luaL_requiref(L, "_G", luaopen_base, 0);
    copy_fields(L, -1, template, base_names);
    lua_pop(L, 1);
    for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++) {
        luaL_requiref(L, libraries[i].name, libraries[i].open, 0);
        lua_setfield(L, template, libraries[i].name);
    }
    lua_getfield(L, template, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump"); /* bytecode out means bytecode in: no */
    lua_pop(L, 1);
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_newtable(L);
    copy_fields(L, -2, lua_gettop(L), os_names);
    lua_setfield(L, template, LUA_OSLIBNAME);
    lua_pop(L, 1);
    lua_getfield(L, template, "setmetatable");
    lua_pushcclosure(L, sandbox_setmetatable, 1);
    lua_setfield(L, template, "setmetatable");
    lua_pushcfunction(L, sandbox_collectgarbage);
    lua_setfield(L, template, "collectgarbage");
    lua_pushcfunction(L, sandbox_print);
    lua_setfield(L, template, "print");
    lua_pushcfunction(L, sandbox_require);
    lua_setfield(L, template, "require");
    lua_checked_lib_install(L, template);

    /* getmetatable("") would otherwise hand out the one string table every script shares. */
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_pushliteral(L, "string");
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void lua_sandbox_push_env(lua_sandbox *sb)
{
    lua_State *L = sb->L;
    lua_newtable(L);
    int env = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sb->template_ref);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_newtable(L);
            lua_pushnil(L);
            while (lua_next(L, -3)) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, -4);
            }
            lua_remove(L, -2);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, env);
    }
    lua_pop(L, 1);
    lua_pushvalue(L, env);
    lua_pushcclosure(L, sandbox_load, 1);
    lua_setfield(L, env, "load");
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
}

static int sandbox_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    log_error("lua", "unprotected Lua error: %s", msg ? msg : "?");
    abort();
}

static void sandbox_warn(void *ud, const char *msg, int tocont)
{
    (void)ud;
    (void)tocont;
    log_debug("lua", "warning: %s", msg);
}

lua_sandbox *lua_sandbox_new(const script_limits *limits, const char *lib_dir)
{
    lua_sandbox *sb = calloc(1, sizeof *sb);
    if (!sb)
        return NULL;
    sb->memory_limit =
        limits && limits->memory_limit ? limits->memory_limit : SCRIPT_DEFAULT_MEMORY_LIMIT;
    if (sb->memory_limit < MINIMUM_MEMORY_LIMIT)
        sb->memory_limit = MINIMUM_MEMORY_LIMIT;
    sb->instruction_limit = limits && limits->instruction_limit > 0
                                ? limits->instruction_limit
                                : SCRIPT_DEFAULT_INSTRUCTION_LIMIT;
    /* By default the wall clock only catches what the instruction count cannot see (time in C
     * code, slow instructions): 1 ms per 10,000 instructions of the budget (100 ns each), at
     * least SCRIPT_DEFAULT_TIME_LIMIT_MS: far more than a script within its budget needs, even
     * on a loaded machine or under a sanitizer. */
    long scaled_ms = sb->instruction_limit / 10000;
    if (limits && limits->time_limit_ms > 0)
        sb->time_limit_ms = limits->time_limit_ms;
    else
        sb->time_limit_ms =
            scaled_ms > SCRIPT_DEFAULT_TIME_LIMIT_MS ? scaled_ms : SCRIPT_DEFAULT_TIME_LIMIT_MS;
    if (lib_dir && !(sb->lib_dir = strdup(lib_dir))) {
        free(sb);
        return NULL;
    }
    sb->L = lua_newstate(sandbox_alloc, sb);
    if (!sb->L) {
        free(sb->lib_dir);
        free(sb);
        return NULL;
    }
    lua_atpanic(sb->L, sandbox_panic);
    lua_setwarnf(sb->L, sandbox_warn, NULL);
    build_template(sb->L);
    sb->template_ref = luaL_ref(sb->L, LUA_REGISTRYINDEX);
    lua_newtable(sb->L);
    sb->modules_ref = luaL_ref(sb->L, LUA_REGISTRYINDEX);
    lua_sethook(sb->L, budget_hook, LUA_MASKCOUNT, HOOK_STEP);
    /* Each event leaves a little short-lived garbage in a small heap: the incremental collector
     * would re-mark the whole heap every few events; young collections touch only the new. */
    lua_gc(sb->L, LUA_GCGEN, 0, 0);
    return sb;
}

void lua_sandbox_free(lua_sandbox *sb)
{
    if (!sb)
        return;
    lua_close(sb->L);
    free(sb->lib_dir);
    free(sb);
}

lua_State *lua_sandbox_state(const lua_sandbox *sb)
{
    return sb->L;
}

void lua_sandbox_set_module_env_fn(lua_sandbox *sb, lua_sandbox_env_fn fn, void *user)
{
    sb->module_env_fn = fn;
    sb->module_env_user = user;
}

size_t lua_sandbox_memory_used(const lua_sandbox *sb)
{
    return sb->memory_used;
}
