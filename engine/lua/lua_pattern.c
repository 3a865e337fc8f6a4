#include "lua/lua_pattern.h"

#include "event.h"
#include "filters/event_pattern.h"
#include "log.h"
#include "lua/lua_event.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define PATTERN_METATABLE "er.pattern"

/* Patterns in scripts are for filters a human writes; this keeps one from eating the state. */
#define PATTERN_MAX_BYTES (64 * 1024)

/* The userdata: the pattern, then padding as big as the pattern's own memory, so the state's
 * memory limit counts it (the pattern itself lives outside Lua's allocator). */
typedef struct pattern_box {
    event_pattern *pattern;
} pattern_box;

static int pattern_gc(lua_State *L)
{
    pattern_box *box = luaL_checkudata(L, 1, PATTERN_METATABLE);
    event_pattern_free(box->pattern);
    box->pattern = NULL;
    return 0;
}

/* The event as structured JSON, as processors' filters see it: attributes and extensions at the
 * top, JSON data under "data". A table that is not an event converts as it is. NULL with a reason
 * (never raises once the lazy fields are read). */
static cJSON *event_json(lua_State *L, int idx, char *err, size_t cap)
{
    bool is_event = lua_event_is_event_table(L, idx);
    if (is_event) {
        /* data and extensions are decoded on first read: read them so they are in the table. */
        lua_getfield(L, idx, "data");
        lua_getfield(L, idx, "extensions");
        lua_pop(L, 2);
    }
    cJSON *json = lua_json_from_lua(L, idx, NULL, err, cap);
    if (!json || !is_event || !cJSON_IsObject(json))
        return json;
    cJSON_DeleteItemFromObjectCaseSensitive(json, "routes");
    cJSON *extensions = cJSON_DetachItemFromObjectCaseSensitive(json, "extensions");
    if (cJSON_IsObject(extensions)) {
        for (cJSON *ext = extensions->child; ext;) {
            cJSON *next = ext->next;
            cJSON_AddItemToObject(json, ext->string, cJSON_DetachItemViaPointer(extensions, ext));
            ext = next;
        }
    }
    cJSON_Delete(extensions);
    const char *content_type =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "datacontenttype"));
    if (!event_content_type_is_json(content_type))
        cJSON_DeleteItemFromObjectCaseSensitive(json, "data");
    return json;
}

/* p:match(event) -> boolean; p:explain(event) -> true, or false and why. */
static int pattern_check(lua_State *L, bool explain)
{
    pattern_box *box = luaL_checkudata(L, 1, PATTERN_METATABLE);
    luaL_argcheck(L, box->pattern != NULL, 1, "a pattern that was freed");
    luaL_checktype(L, 2, LUA_TTABLE);
    char err[256];
    cJSON *json = event_json(L, 2, err, sizeof err);
    if (!json)
        return luaL_error(L, "er.pattern: the event cannot be read as JSON: %s", err);
    char why[512] = "";
    bool matched = explain ? event_pattern_explain(box->pattern, json, why, sizeof why)
                           : event_pattern_match(box->pattern, json);
    cJSON_Delete(json);
    lua_pushboolean(L, matched);
    if (!explain || matched)
        return 1;
    lua_pushstring(L, why);
    return 2;
}

static int pattern_match(lua_State *L)
{
    return pattern_check(L, false);
}

static int pattern_explain(lua_State *L)
{
    return pattern_check(L, true);
}

static int box_unprotected(lua_State *L)
{
    event_pattern *pattern = lua_touserdata(L, 1);
    pattern_box *box = lua_newuserdatauv(L, sizeof *box + event_pattern_memory(pattern), 0);
    box->pattern = NULL;
    luaL_setmetatable(L, PATTERN_METATABLE);
    box->pattern = pattern; /* from here on, the userdata's __gc frees it */
    return 1;
}

/* er.pattern(text | table): compiles once; a bad pattern is an error at the caller's file:line. */
static int pattern_new(lua_State *L)
{
    char err[256];
    cJSON *table_json = NULL;
    size_t len = 0;
    const char *text;
    char *owned_text = NULL;
    if (lua_type(L, 1) == LUA_TTABLE) {
        table_json = lua_json_from_lua(L, 1, NULL, err, sizeof err);
        if (!table_json)
            return luaL_error(L, "er.pattern: %s", err);
        owned_text = cJSON_PrintUnformatted(table_json);
        cJSON_Delete(table_json);
        if (!owned_text)
            return luaL_error(L, "er.pattern: out of memory");
        text = owned_text;
        len = strlen(text);
    } else {
        text = luaL_checklstring(L, 1, &len);
    }
    if (len > PATTERN_MAX_BYTES) {
        free(owned_text);
        return luaL_error(L, "er.pattern: the pattern is %zu bytes; at most %d", len,
                          PATTERN_MAX_BYTES);
    }
    event_pattern_error error;
    event_pattern *pattern = event_pattern_compile(text, len, NULL, &error);
    free(owned_text);
    if (!pattern) {
        char reason[700];
        event_pattern_error_format(&error, reason, sizeof reason);
        return luaL_error(L, "er.pattern: %s (line %d, column %d of the pattern)", reason,
                          error.line, error.col);
    }
    if (event_pattern_warning_count(pattern)) {
        luaL_where(L, 1);
        for (size_t i = 0; i < event_pattern_warning_count(pattern); i++)
            log_warn("script", "%s er.pattern: %s", lua_tostring(L, -1),
                     event_pattern_warning(pattern, i));
        lua_pop(L, 1);
    }
    /* The box is allocated under pcall: a memory error must not leak the compiled pattern. */
    lua_pushcfunction(L, box_unprotected);
    lua_pushlightuserdata(L, pattern);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        event_pattern_free(pattern);
        return lua_error(L);
    }
    return 1;
}

void lua_pattern_push_constructor(lua_State *L)
{
    if (luaL_newmetatable(L, PATTERN_METATABLE)) {
        lua_pushcfunction(L, pattern_gc);
        lua_setfield(L, -2, "__gc");
        lua_createtable(L, 0, 2);
        lua_pushcfunction(L, pattern_match);
        lua_setfield(L, -2, "match");
        lua_pushcfunction(L, pattern_explain);
        lua_setfield(L, -2, "explain");
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "er.pattern");
        lua_setfield(L, -2, "__metatable"); /* scripts cannot reach or change it */
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, pattern_new);
}
