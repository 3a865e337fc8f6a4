#include "lua/lua_api.h"

#include "log.h"
#include "lua/lua_event.h"
#include "lua/lua_pattern.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* er.log.<level>(fmt, ...): string.format, then one log line with the caller's file:line. The
 * level check comes first so a disabled debug line costs no formatting. */
static int api_log(lua_State *L)
{
    log_level level = (log_level)lua_tointeger(L, lua_upvalueindex(1));
    if (level < log_get_level())
        return 0;
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(2)); /* string.format */
    lua_insert(L, 1);
    lua_call(L, n, 1);
    luaL_where(L, 1);
    log_write(level, "script", "%s %s", lua_tostring(L, -1), lua_tostring(L, -2));
    return 0;
}

static int api_counter(lua_State *L)
{
    lua_api_script *const *target = lua_touserdata(L, lua_upvalueindex(1));
    size_t len = 0;
    const char *name = luaL_checklstring(L, 1, &len);
    lua_Number increment = luaL_optnumber(L, 2, 1);
    luaL_argcheck(L, len > 0 && len <= 100 && strlen(name) == len, 1,
                  "a counter name is 1 to 100 characters");
    /* A Prometheus counter only goes up and is a number: NaN, infinities and negative steps would
     * make /metrics invalid or the counter go backwards. */
    luaL_argcheck(L, isfinite(increment) && increment >= 0, 2,
                  "a counter increment is a finite number >= 0");
    lua_api_script *script = *target;
    if (!script)
        return luaL_error(L, "er.counter: no script is running");
    for (size_t i = 0; i < script->counter_count; i++) {
        if (strcmp(script->counters[i].name, name) == 0) {
            if (!isfinite(script->counters[i].value + increment))
                return luaL_error(L, "er.counter: '%s' would overflow", name);
            script->counters[i].value += increment;
            return 0;
        }
    }
    if (script->counter_count == LUA_API_MAX_COUNTERS)
        return luaL_error(L, "er.counter: at most %d counters per script", LUA_API_MAX_COUNTERS);
    char *copy = strdup(name);
    if (!copy)
        return luaL_error(L, "er.counter: out of memory");
    script->counters[script->counter_count++] = (lua_api_counter){copy, increment};
    return 0;
}

static double clock_seconds(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int api_time(lua_State *L)
{
    lua_pushnumber(L, clock_seconds(CLOCK_REALTIME));
    return 1;
}

static int api_monotonic(lua_State *L)
{
    lua_pushnumber(L, clock_seconds(CLOCK_MONOTONIC));
    return 1;
}

/* er.route(event, name, ...): appends to event.routes, creating it. */
static int api_route(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = lua_gettop(L);
    for (int i = 2; i <= n; i++) {
        luaL_checkstring(L, i);
        luaL_argcheck(L, lua_type(L, i) == LUA_TSTRING && lua_rawlen(L, i) > 0, i,
                      "a processor name");
        luaL_argcheck(L, strlen(lua_tostring(L, i)) == lua_rawlen(L, i), i,
                      "a processor name cannot contain a NUL byte");
    }
    lua_pushliteral(L, "routes");
    lua_rawget(L, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, n - 1, 0); /* sized for the names: the stores below do not grow it */
        lua_json_mark_array(L, -1);
        lua_pushliteral(L, "routes");
        lua_pushvalue(L, -2);
        lua_rawset(L, 1);
    }
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_Integer length = (lua_Integer)lua_rawlen(L, -1);
    for (int i = 2; i <= n; i++) {
        lua_pushvalue(L, i);
        lua_rawseti(L, -2, ++length);
    }
    return 0;
}

static int push_json_unprotected(lua_State *L)
{
    lua_json_push(L, lua_touserdata(L, 1));
    return 1;
}

int lua_api_push_owned_text(lua_State *L)
{
    lua_pushstring(L, lua_touserdata(L, 1));
    return 1;
}

/* Runs push(L) on a C-owned pointer under pcall so a memory error cannot leak it. */
static void push_then_free(lua_State *L, lua_CFunction push, void *owned, void (*release)(void *))
{
    lua_pushcfunction(L, push);
    lua_pushlightuserdata(L, owned);
    int status = lua_pcall(L, 1, 1, 0);
    release(owned);
    if (status != LUA_OK)
        lua_error(L);
}

static void release_json(void *json)
{
    cJSON_Delete(json);
}

static int api_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    char reason[256];
    cJSON *json = lua_json_from_lua(L, 1, NULL, reason, sizeof reason);
    if (!json)
        return luaL_error(L, "er.json.encode: %s", reason);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text)
        return luaL_error(L, "er.json.encode: out of memory");
    push_then_free(L, lua_api_push_owned_text, text, free);
    return 1;
}

static int api_json_decode(lua_State *L)
{
    size_t len = 0;
    const char *text = luaL_checklstring(L, 1, &len);
    cJSON *json = cJSON_ParseWithLength(text, len);
    if (!json)
        return luaL_error(L, "er.json.decode: invalid JSON");
    push_then_free(L, push_json_unprotected, json, release_json);
    return 1;
}

static int api_json_array(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_json_mark_array(L, 1);
    return 1;
}

static void push_log_table(lua_State *L)
{
    static const struct {
        const char *name;
        log_level level;
    } levels[] = {{"debug", LOG_LEVEL_DEBUG},
                  {"info", LOG_LEVEL_INFO},
                  {"warn", LOG_LEVEL_WARN},
                  {"error", LOG_LEVEL_ERROR}};
    lua_newtable(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, LUA_STRLIBNAME);
    lua_getfield(L, -1, "format");
    int format = lua_gettop(L);
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        lua_pushinteger(L, levels[i].level);
        lua_pushvalue(L, format);
        lua_pushcclosure(L, api_log, 2);
        lua_setfield(L, format - 3, levels[i].name);
    }
    lua_pop(L, 3);
}

void lua_api_push_er(lua_State *L, lua_api_script *const *target, const char *script_name)
{
    lua_newtable(L);
    push_log_table(L);
    lua_setfield(L, -2, "log");

    lua_newtable(L);
    lua_pushcfunction(L, api_json_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, api_json_decode);
    lua_setfield(L, -2, "decode");
    lua_pushcfunction(L, api_json_array);
    lua_setfield(L, -2, "array");
    lua_json_push_null(L);
    lua_setfield(L, -2, "null");
    lua_setfield(L, -2, "json");

    lua_newtable(L);
    lua_setfield(L, -2, "state");
    lua_pushlightuserdata(L, (void *)target);
    lua_pushcclosure(L, api_counter, 1);
    lua_setfield(L, -2, "counter");
    lua_pushcfunction(L, api_time);
    lua_setfield(L, -2, "time");
    lua_pushcfunction(L, api_monotonic);
    lua_setfield(L, -2, "monotonic");
    lua_pushcfunction(L, api_route);
    lua_setfield(L, -2, "route");
    lua_pattern_push_constructor(L);
    lua_setfield(L, -2, "pattern");
    lua_pushstring(L, script_name);
    lua_setfield(L, -2, "script");
}

void lua_api_script_free_counters(lua_api_script *script)
{
    for (size_t i = 0; i < script->counter_count; i++)
        free(script->counters[i].name);
    script->counter_count = 0;
}
