#include "lua/lua_event.h"

#include "json_integer.h"
#include "utf8.h"

#include <lauxlib.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Registry keys: the addresses of these are unique and no script can forge them. */
static const char array_metatable_key = 0;
static const char event_metatable_key = 0;
static const char reusable_table_key = 0;
/* An array: 1..CONTEXT_COUNT the attribute names, then the value last pushed for each. */
static const char attribute_cache_key = 0;
/* json.null: a light userdata nothing else in the sandbox can produce. */
static const char json_null = 0;

/* As deep as the intake's JSON parser accepts (cJSON's CJSON_NESTING_LIMIT), so any event that
 * arrived can be read and written back by a script; deeper than that (or a cycle) is refused. */
#define MAX_JSON_DEPTH CJSON_NESTING_LIMIT

static const char *const context_names[] = {"specversion", "id",   "source",          "type",
                                            "subject",     "time", "datacontenttype", "dataschema"};
#define CONTEXT_COUNT 8
#define REQUIRED_COUNT 4 /* the first four */

/* Straight to the fields: event_get_attribute's name search is the hot spot of a trivial script. */
static const size_t context_offsets[CONTEXT_COUNT] = {
    offsetof(event, specversion),     offsetof(event, id),
    offsetof(event, source),          offsetof(event, type),
    offsetof(event, subject),         offsetof(event, time),
    offsetof(event, datacontenttype), offsetof(event, dataschema)};

static const char *context_value(const event *ev, size_t i)
{
    return *(char *const *)((const char *)ev + context_offsets[i]);
}

void lua_json_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&json_null);
}

bool lua_json_is_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &json_null;
}

void lua_json_mark_array(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_metatable_key);
    lua_setmetatable(L, idx);
}

bool lua_json_is_marked_array(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return false;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_metatable_key);
    bool marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return marked;
}

void lua_json_push(lua_State *L, const cJSON *json)
{
    luaL_checkstack(L, 4, "JSON nested too deeply");
    if (!json || cJSON_IsNull(json)) {
        lua_json_push_null(L);
    } else if (cJSON_IsBool(json)) {
        lua_pushboolean(L, cJSON_IsTrue(json));
    } else if (cJSON_IsNumber(json)) {
        double d = json->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsString(json)) {
        lua_pushstring(L, json->valuestring);
    } else if (cJSON_IsRaw(json)) { /* an exact number written by number_to_json */
        if (!json->valuestring || !lua_stringtonumber(L, json->valuestring))
            lua_pushnil(L);
    } else if (cJSON_IsArray(json)) {
        lua_createtable(L, cJSON_GetArraySize(json), 0);
        lua_Integer i = 1;
        for (const cJSON *item = json->child; item; item = item->next) {
            lua_json_push(L, item);
            lua_rawseti(L, -2, i++);
        }
        lua_json_mark_array(L, -1);
    } else if (cJSON_IsObject(json)) {
        lua_createtable(L, 0, cJSON_GetArraySize(json));
        for (const cJSON *item = json->child; item; item = item->next) {
            lua_pushstring(L, item->string);
            lua_json_push(L, item);
            lua_rawset(L, -3);
        }
    } else {
        lua_pushnil(L);
    }
}

typedef struct keyed_item {
    const char *key;
    int order; /* position in the reference object, or INT_MAX-ish for new keys */
    cJSON *item;
} keyed_item;

static int keyed_item_compare(const void *a, const void *b)
{
    const keyed_item *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int reference_position(const cJSON *reference, const char *key)
{
    int position = 0;
    if (cJSON_IsObject(reference))
        for (const cJSON *item = reference->child; item; item = item->next, position++)
            if (item->string && strcmp(item->string, key) == 0)
                return position;
    return 1 << 30;
}

static const cJSON *reference_child(const cJSON *reference, const char *key)
{
    return cJSON_IsObject(reference) ? cJSON_GetObjectItemCaseSensitive(reference, key) : NULL;
}

static cJSON *to_json(lua_State *L, int idx, const cJSON *reference, int depth, char *err,
                      size_t cap);

static cJSON *array_to_json(lua_State *L, int idx, lua_Integer n, const cJSON *reference, int depth,
                            char *err, size_t cap)
{
    cJSON *array = cJSON_CreateArray();
    const cJSON *ref_item = cJSON_IsArray(reference) ? reference->child : NULL;
    for (lua_Integer i = 1; array && i <= n; i++) {
        lua_rawgeti(L, idx, i);
        cJSON *item = lua_isnil(L, -1) ? cJSON_CreateNull()
                                       : to_json(L, lua_gettop(L), ref_item, depth + 1, err, cap);
        lua_pop(L, 1);
        if (!item) {
            cJSON_Delete(array);
            return NULL;
        }
        cJSON_AddItemToArray(array, item);
        ref_item = ref_item ? ref_item->next : NULL;
    }
    if (!array)
        snprintf(err, cap, "out of memory");
    return array;
}

static cJSON *object_to_json(lua_State *L, int idx, const cJSON *reference, int depth, char *err,
                             size_t cap)
{
    size_t count = 0, allocated = 8;
    keyed_item *items = malloc(allocated * sizeof *items);
    if (!items) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    bool failed = false;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            snprintf(err, cap, "a table with %s keys is neither a JSON array nor an object",
                     luaL_typename(L, -2));
            lua_pop(L, 2);
            failed = true;
            break;
        }
        size_t key_len = 0;
        const char *key = lua_tolstring(L, -2, &key_len);
        /* Checked here, where the script is named, rather than by a strict receiver later. */
        if (strlen(key) != key_len || !utf8_valid(key, key_len)) {
            snprintf(err, cap, "a JSON member name is not valid UTF-8 text");
            lua_pop(L, 2);
            failed = true;
            break;
        }
        if (count == allocated) {
            keyed_item *grown = realloc(items, 2 * allocated * sizeof *items);
            if (!grown) {
                snprintf(err, cap, "out of memory");
                lua_pop(L, 2);
                failed = true;
                break;
            }
            items = grown;
            allocated *= 2;
        }
        cJSON *item =
            to_json(L, lua_gettop(L), reference_child(reference, key), depth + 1, err, cap);
        lua_pop(L, 1);
        if (!item) {
            lua_pop(L, 1);
            failed = true;
            break;
        }
        items[count++] = (keyed_item){key, reference_position(reference, key), item};
    }
    cJSON *object = failed ? NULL : cJSON_CreateObject();
    if (object) {
        qsort(items, count, sizeof *items, keyed_item_compare);
        for (size_t i = 0; i < count; i++) {
            cJSON_AddItemToObject(object, items[i].key, items[i].item);
            items[i].item = NULL;
        }
    } else if (!failed) {
        snprintf(err, cap, "out of memory");
    }
    for (size_t i = 0; i < count; i++)
        cJSON_Delete(items[i].item);
    free(items);
    return object;
}

/* A sequence 1..n with nothing else; 0 when the table has any other key or is empty. */
static lua_Integer sequence_length(lua_State *L, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), keys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return 0;
        }
        keys++;
    }
    return keys == n ? n : 0;
}

/* cJSON prints numbers with 15 significant digits when its loose comparison calls that close
 * enough, which would turn 1234567890123456789 or 0.1 + 0.2 into a different number. Numbers that
 * need more digits are stored as raw JSON text printed exactly. */
static cJSON *number_to_json(lua_State *L, int idx, char *err, size_t cap)
{
    char text[40];
    if (lua_isinteger(L, idx)) {
        return json_int64((int64_t)lua_tointeger(L, idx));
    }
    double d = lua_tonumber(L, idx);
    if (!isfinite(d)) {
        snprintf(err, cap, "cannot encode NaN or infinity as JSON");
        return NULL;
    }
    snprintf(text, sizeof text, "%.15g", d);
    if (strtod(text, NULL) == d)
        return cJSON_CreateNumber(d);
    snprintf(text, sizeof text, "%.17g", d);
    return cJSON_CreateRaw(text);
}

static cJSON *to_json(lua_State *L, int idx, const cJSON *reference, int depth, char *err,
                      size_t cap)
{
    if (depth > MAX_JSON_DEPTH || !lua_checkstack(L, 6)) {
        snprintf(err, cap, "value nested too deeply (a cycle?)");
        return NULL;
    }
    cJSON *out = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        out = cJSON_CreateNull();
        break;
    case LUA_TBOOLEAN:
        out = cJSON_CreateBool(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        out = number_to_json(L, idx, err, cap);
        if (!out)
            return NULL;
        break;
    case LUA_TSTRING: {
        size_t len = 0;
        const char *s = lua_tolstring(L, idx, &len);
        if (strlen(s) != len) {
            snprintf(err, cap, "cannot encode a string with a NUL byte as JSON");
            return NULL;
        }
        if (!utf8_valid(s, len)) {
            snprintf(err, cap, "cannot encode a string that is not valid UTF-8 as JSON");
            return NULL;
        }
        out = cJSON_CreateString(s);
        break;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_json_is_null(L, idx)) {
            out = cJSON_CreateNull();
            break;
        }
        snprintf(err, cap, "cannot encode a userdata value as JSON");
        return NULL;
    case LUA_TTABLE: {
        if (lua_json_is_marked_array(L, idx))
            return array_to_json(L, idx, (lua_Integer)lua_rawlen(L, idx), reference, depth, err,
                                 cap);
        lua_Integer n = sequence_length(L, idx);
        if (n > 0)
            return array_to_json(L, idx, n, reference, depth, err, cap);
        return object_to_json(L, idx, reference, depth, err, cap);
    }
    default:
        snprintf(err, cap, "cannot encode a %s value as JSON", luaL_typename(L, idx));
        return NULL;
    }
    if (!out)
        snprintf(err, cap, "out of memory");
    return out;
}

cJSON *lua_json_from_lua(lua_State *L, int idx, const cJSON *reference, char *err, size_t err_cap)
{
    int top = lua_gettop(L);
    cJSON *json = to_json(L, lua_absindex(L, idx), reference, 0, err, err_cap);
    lua_settop(L, top);
    return json;
}

/* --- the event table --- */

static lua_event_view *view_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static void push_extensions(lua_State *L, const event *ev)
{
    lua_createtable(L, 0, (int)ev->extension_count);
    for (size_t i = 0; i < ev->extension_count; i++) {
        lua_pushstring(L, ev->extensions[i].value);
        lua_setfield(L, -2, ev->extensions[i].name);
    }
}

static void push_data(lua_State *L, const event *ev)
{
    if (ev->data_json)
        lua_json_push(L, ev->data_json);
    else if (ev->data_len > 0)
        lua_pushlstring(L, (const char *)ev->data, ev->data_len);
    else
        lua_pushnil(L);
}

/* Builds data and extensions on first read and stores them raw, so later reads are plain. */
static int event_index(lua_State *L)
{
    lua_event_view *view = view_of(L);
    if (lua_topointer(L, 1) != view->table || !view->ev)
        return luaL_error(L, "this event table is no longer live (kept after process returned?)");
    const char *key = lua_tostring(L, 2);
    if (!key || lua_type(L, 2) != LUA_TSTRING)
        return 0;
    if (strcmp(key, "data") == 0) {
        push_data(L, view->ev);
        view->data_touched = true;
    } else if (strcmp(key, "extensions") == 0) {
        push_extensions(L, view->ev);
        view->extensions_touched = true;
    } else {
        return 0;
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

static int event_newindex(lua_State *L)
{
    lua_event_view *view = view_of(L);
    if (lua_topointer(L, 1) != view->table || !view->ev)
        return luaL_error(L, "this event table is no longer live (kept after process returned?)");
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *key = lua_tostring(L, 2);
        if (strcmp(key, "data") == 0)
            view->data_touched = true;
        else if (strcmp(key, "extensions") == 0)
            view->extensions_touched = true;
    }
    lua_rawset(L, 1);
    return 0;
}

bool lua_event_is_event_table(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return false;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &event_metatable_key);
    bool is_event = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return is_event;
}

void lua_event_setup(lua_State *L, lua_event_view *view)
{
    lua_newtable(L);
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_metatable_key);

    lua_newtable(L);
    lua_pushlightuserdata(L, view);
    lua_pushcclosure(L, event_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushlightuserdata(L, view);
    lua_pushcclosure(L, event_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "event");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &event_metatable_key);

    /* Sized up front so storing a value later never allocates. */
    lua_createtable(L, 2 * CONTEXT_COUNT, 0);
    for (size_t i = 0; i < CONTEXT_COUNT; i++) {
        lua_pushstring(L, context_names[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, (lua_Integer)(CONTEXT_COUNT + i) + 1);
    }
    lua_rawsetp(L, LUA_REGISTRYINDEX, &attribute_cache_key);
    for (size_t i = 0; i < CONTEXT_COUNT; i++)
        view->cached[i] = view->pushed[i] = NULL;
}

void lua_event_push(lua_State *L, lua_event_view *view)
{
    if (view->table_reusable) {
        view->table_reusable = false; /* until this script, too, leaves it as the event is */
        lua_rawgetp(L, LUA_REGISTRYINDEX, &reusable_table_key);
        return;
    }
    const event *ev = view->ev;
    lua_createtable(L, 0, 12);
    int table = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &attribute_cache_key);
    int cache = table + 1;
    for (size_t i = 0; i < CONTEXT_COUNT; i++) {
        const char *value = context_value(ev, i);
        view->pushed[i] = NULL;
        if (!value)
            continue;
        lua_rawgeti(L, cache, (lua_Integer)i + 1);
        lua_Integer slot = (lua_Integer)(CONTEXT_COUNT + i) + 1;
        if (view->cached[i] && strcmp(view->cached[i], value) == 0) {
            lua_rawgeti(L, cache, slot);
        } else {
            const char *pushed = lua_pushstring(L, value);
            lua_pushvalue(L, -1);
            lua_rawseti(L, cache, slot);
            view->cached[i] = pushed;
        }
        view->pushed[i] = view->cached[i];
        lua_rawset(L, table);
    }
    lua_settop(L, table);
    if (view->routes) {
        lua_createtable(L, (int)view->route_count, 0);
        for (size_t i = 0; i < view->route_count; i++) {
            lua_pushstring(L, view->routes[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_json_mark_array(L, -1);
        lua_setfield(L, -2, "routes");
    }
    /* The metatable goes on last so the stores above stay raw and cheap. */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &event_metatable_key);
    lua_setmetatable(L, -2);
    view->table = lua_topointer(L, -1);
    view->data_touched = false;
    view->extensions_touched = false;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &reusable_table_key);
}

void lua_event_view_finish(lua_State *L, lua_event_view *view)
{
    (void)L; /* the last table stays referenced: the next event's equal strings (source, type,
                specversion...) are then found interned instead of created again */
    view->table_reusable = false;
    view->table = NULL;
    view->ev = NULL;
}

void lua_event_view_clear_routes(lua_event_view *view)
{
    for (size_t i = 0; i < view->route_count; i++)
        free(view->routes[i]);
    free(view->routes);
    view->routes = NULL;
    view->route_count = 0;
}

/* --- applying a script's changes --- */

typedef struct extension_change {
    const char *name;
    const char *value; /* NULL removes */
} extension_change;

typedef struct pending_changes {
    const char *context[CONTEXT_COUNT]; /* the table's values (NULL = absent) */
    bool untouched[CONTEXT_COUNT];      /* the very string pushed: equal to the event's value */
    extension_change *extensions;       /* the full new set when extensions_replace */
    extension_change few_extensions[8]; /* extensions points here until more are needed */
    size_t extension_count;
    bool extensions_replace;
    enum { DATA_KEEP, DATA_REMOVE, DATA_RAW, DATA_JSON } data_action;
    const char *data_raw;
    size_t data_raw_len;
    cJSON *data_json;
    bool routes_replace;
    char **routes;
    size_t route_count;
} pending_changes;

static void pending_free(pending_changes *p)
{
    if (p->extensions != p->few_extensions)
        free(p->extensions);
    cJSON_Delete(p->data_json);
    for (size_t i = 0; i < p->route_count; i++)
        free(p->routes[i]);
    free(p->routes);
}

static bool extension_name_is_valid(const char *name)
{
    if (!*name || strcmp(name, "data") == 0)
        return false;
    for (size_t i = 0; i < CONTEXT_COUNT; i++)
        if (strcmp(name, context_names[i]) == 0)
            return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

static bool collect_extensions(lua_State *L, int idx, pending_changes *p, char *err, size_t cap)
{
    p->extensions_replace = true;
    if (lua_isnil(L, idx))
        return true;
    if (!lua_istable(L, idx)) {
        snprintf(err, cap, "event.extensions must be a table of strings");
        return false;
    }
    size_t allocated = sizeof p->few_extensions / sizeof p->few_extensions[0];
    p->extensions = p->few_extensions;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING || !extension_name_is_valid(lua_tostring(L, -2))) {
            snprintf(err, cap, "event.extensions: invalid extension name (a-z, 0-9 only)");
            lua_pop(L, 2);
            return false;
        }
        if (lua_type(L, -1) != LUA_TSTRING) {
            snprintf(err, cap, "event.extensions.%.40s must be a string", lua_tostring(L, -2));
            lua_pop(L, 2);
            return false;
        }
        if (strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1)) {
            snprintf(err, cap, "event.extensions.%.40s contains a NUL byte", lua_tostring(L, -2));
            lua_pop(L, 2);
            return false;
        }
        if (!utf8_valid(lua_tostring(L, -1), lua_rawlen(L, -1))) {
            snprintf(err, cap, "event.extensions.%.40s is not valid UTF-8", lua_tostring(L, -2));
            lua_pop(L, 2);
            return false;
        }
        if (p->extension_count == allocated) {
            extension_change *grown = malloc(2 * allocated * sizeof *grown);
            if (!grown) {
                snprintf(err, cap, "out of memory");
                lua_pop(L, 2);
                return false;
            }
            memcpy(grown, p->extensions, allocated * sizeof *grown);
            if (p->extensions != p->few_extensions)
                free(p->extensions);
            p->extensions = grown;
            allocated *= 2;
        }
        p->extensions[p->extension_count++] =
            (extension_change){lua_tostring(L, -2), lua_tostring(L, -1)};
        lua_pop(L, 1);
    }
    return true;
}

static bool collect_routes(lua_State *L, int idx, const lua_event_view *view, pending_changes *p,
                           char *err, size_t cap)
{
    if (lua_isnil(L, idx)) {
        p->routes_replace = view->routes != NULL;
        return true;
    }
    if (!lua_istable(L, idx)) {
        snprintf(err, cap, "event.routes must be nil or an array of processor names");
        return false;
    }
    size_t n = lua_rawlen(L, idx);
    bool same = view->routes && n == view->route_count;
    p->routes = calloc(n ? n : 1, sizeof *p->routes);
    if (!p->routes) {
        snprintf(err, cap, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (!name || !*name) {
            lua_pop(L, 1);
            snprintf(err, cap, "event.routes[%zu] must be a processor name", i + 1);
            return false;
        }
        if (strlen(name) != lua_rawlen(L, -1)) {
            lua_pop(L, 1);
            snprintf(err, cap, "event.routes[%zu] contains a NUL byte", i + 1);
            return false;
        }
        p->routes[i] = strdup(name);
        lua_pop(L, 1);
        if (!p->routes[i]) {
            snprintf(err, cap, "out of memory");
            return false;
        }
        p->route_count = i + 1;
        same = same && strcmp(name, view->routes[i]) == 0;
    }
    p->routes_replace = !same;
    return true;
}

static bool bytes_equal(const event *ev, const char *bytes, size_t len)
{
    return ev->data_len == len && (len == 0 || memcmp(ev->data, bytes, len) == 0);
}

/* True when the Lua value at idx would encode to the same JSON as json: the common case of a
 * script that only reads data, answered without building anything. False means "maybe
 * different"; the caller then converts and compares properly. */
static bool lua_matches_json(lua_State *L, int idx, const cJSON *json, int depth)
{
    if (depth > MAX_JSON_DEPTH || !lua_checkstack(L, 4))
        return false;
    switch (lua_type(L, idx)) {
    case LUA_TLIGHTUSERDATA:
        return lua_json_is_null(L, idx) && cJSON_IsNull(json);
    case LUA_TBOOLEAN:
        return cJSON_IsBool(json) && lua_toboolean(L, idx) == cJSON_IsTrue(json);
    case LUA_TNUMBER:
        if (!cJSON_IsNumber(json))
            return false;
        if (lua_isinteger(L, idx))
            return fabs(json->valuedouble) < 1e15 &&
                   (double)lua_tointeger(L, idx) == json->valuedouble;
        return lua_tonumber(L, idx) == json->valuedouble;
    case LUA_TSTRING: {
        size_t len = 0;
        const char *s = lua_tolstring(L, idx, &len);
        return cJSON_IsString(json) && strlen(json->valuestring) == len &&
               memcmp(s, json->valuestring, len) == 0;
    }
    case LUA_TTABLE:
        break;
    default:
        return false;
    }
    bool marked = lua_json_is_marked_array(L, idx);
    if (cJSON_IsArray(json)) {
        if (!marked || lua_rawlen(L, idx) != (size_t)cJSON_GetArraySize(json))
            return false;
        lua_Integer i = 1;
        for (const cJSON *item = json->child; item; item = item->next, i++) {
            lua_rawgeti(L, idx, i);
            bool same = lua_matches_json(L, lua_gettop(L), item, depth + 1);
            lua_pop(L, 1);
            if (!same)
                return false;
        }
        return true;
    }
    if (!cJSON_IsObject(json) || marked)
        return false;
    int keys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const cJSON *item = lua_type(L, -2) == LUA_TSTRING
                                ? cJSON_GetObjectItemCaseSensitive(json, lua_tostring(L, -2))
                                : NULL;
        if (!item || !lua_matches_json(L, lua_gettop(L), item, depth + 1)) {
            lua_pop(L, 2);
            return false;
        }
        lua_pop(L, 1);
        keys++;
    }
    return keys == cJSON_GetArraySize(json);
}

static bool collect_data(lua_State *L, int idx, const event *ev, const char *content_type,
                         pending_changes *p, char *err, size_t cap)
{
    if (lua_isnil(L, idx)) {
        p->data_action = ev->data_len > 0 || ev->data_json ? DATA_REMOVE : DATA_KEEP;
        return true;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len = 0;
        const char *bytes = lua_tolstring(L, idx, &len);
        if (!ev->data_json && bytes_equal(ev, bytes, len))
            return true;
        if (!event_content_type_is_json(content_type)) {
            p->data_action = DATA_RAW;
            p->data_raw = bytes;
            p->data_raw_len = len;
            return true;
        }
    }
    if (ev->data_json && lua_matches_json(L, idx, ev->data_json, 0))
        return true;
    char reason[256];
    p->data_json = lua_json_from_lua(L, idx, ev->data_json, reason, sizeof reason);
    if (!p->data_json) {
        snprintf(err, cap, "event.data: %s", reason);
        return false;
    }
    if (ev->data_json && cJSON_Compare(p->data_json, ev->data_json, true)) {
        cJSON_Delete(p->data_json);
        p->data_json = NULL;
        return true;
    }
    p->data_action = DATA_JSON;
    return true;
}

static int context_index(const char *key, size_t len)
{
    static const unsigned char lengths[CONTEXT_COUNT] = {11, 2, 6, 4, 7, 4, 15, 10};
    for (int i = 0; i < CONTEXT_COUNT; i++)
        if (len == lengths[i] && memcmp(key, context_names[i], len) == 0)
            return i;
    return -1;
}

/* Reads the table in one lua_next pass (no allocation in Lua, so nothing can raise), keeping
 * data, extensions and routes in stack slots for after the pass. */
static bool collect_changes(lua_State *L, int table, const lua_event_view *view, pending_changes *p,
                            char *err, size_t cap)
{
    int slot_data = lua_gettop(L) + 1, slot_extensions = slot_data + 1, slot_routes = slot_data + 2;
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushnil(L);
    while (lua_next(L, table)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            snprintf(err, cap, "the event table has a non-string key");
            return false;
        }
        size_t key_len = 0;
        const char *key = lua_tolstring(L, -2, &key_len);
        int context = context_index(key, key_len);
        if (context >= 0) {
            if (lua_type(L, -1) != LUA_TSTRING) {
                snprintf(err, cap, "event.%s must be a string or nil, not %s", key,
                         luaL_typename(L, -1));
                return false;
            }
            size_t len = 0;
            p->context[context] = lua_tolstring(L, -1, &len);
            if (p->context[context] == view->pushed[context]) {
                p->untouched[context] = true;
            } else if (strlen(p->context[context]) != len) {
                snprintf(err, cap, "event.%s contains a NUL byte", key);
                return false;
            } else if (!utf8_valid(p->context[context], len)) {
                snprintf(err, cap, "event.%s is not valid UTF-8", key);
                return false;
            }
        } else if (strcmp(key, "data") == 0) {
            lua_copy(L, -1, slot_data);
        } else if (strcmp(key, "extensions") == 0) {
            lua_copy(L, -1, slot_extensions);
        } else if (strcmp(key, "routes") == 0) {
            lua_copy(L, -1, slot_routes);
        } else {
            snprintf(err, cap,
                     "event.%.40s is not a CloudEvents attribute (extensions go in "
                     "event.extensions)",
                     key);
            return false;
        }
        lua_pop(L, 1);
    }
    for (int i = 0; i < REQUIRED_COUNT; i++) {
        if (!p->context[i] || !*p->context[i]) {
            snprintf(err, cap, "event.%s is required and cannot be removed or empty",
                     context_names[i]);
            return false;
        }
    }
    if (view->extensions_touched && !collect_extensions(L, slot_extensions, p, err, cap))
        return false;
    if (!collect_routes(L, slot_routes, view, p, err, cap))
        return false;
    if (view->data_touched && !collect_data(L, slot_data, view->ev, p->context[6], p, err, cap))
        return false;
    return true;
}

/* As event_set_attribute does for a context attribute, without looking its name up: on out of
 * memory the old value stays. */
static void replace_context_value(event *ev, size_t i, const char *value)
{
    char **slot = (char **)((char *)ev + context_offsets[i]);
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return;
    free(*slot);
    *slot = copy;
}

static bool strings_differ(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* event_get_attribute without trying the context names first (an extension is never one). */
static const char *extension_value(const event *ev, const char *name)
{
    for (size_t i = 0; i < ev->extension_count; i++)
        if (strcmp(ev->extensions[i].name, name) == 0)
            return ev->extensions[i].value;
    return NULL;
}

static bool apply_extensions(event *ev, const pending_changes *p)
{
    bool changed = false;
    for (size_t i = 0; i < ev->extension_count;) {
        bool kept = false;
        for (size_t j = 0; j < p->extension_count && !kept; j++)
            kept = strcmp(ev->extensions[i].name, p->extensions[j].name) == 0;
        if (kept) {
            i++;
            continue;
        }
        event_set_attribute(ev, ev->extensions[i].name, NULL); /* moves the last one to i */
        changed = true;
    }
    for (size_t j = 0; j < p->extension_count; j++) {
        if (strings_differ(extension_value(ev, p->extensions[j].name), p->extensions[j].value)) {
            event_set_attribute(ev, p->extensions[j].name, p->extensions[j].value);
            changed = true;
        }
    }
    return changed;
}

int lua_event_apply(lua_State *L, int idx, lua_event_view *view, char *err, size_t err_cap)
{
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    pending_changes p;
    memset(&p, 0, sizeof p);
    if (!lua_checkstack(L, 12)) {
        snprintf(err, err_cap, "out of stack space");
        return -1;
    }
    bool ok = collect_changes(L, idx, view, &p, err, err_cap);
    if (!ok) {
        lua_settop(L, top);
        pending_free(&p);
        return -1;
    }
    event *ev = view->ev;
    bool changed = false;
    for (size_t i = 0; i < CONTEXT_COUNT; i++) {
        if (!p.untouched[i] && strings_differ(context_value(ev, i), p.context[i])) {
            replace_context_value(ev, i, p.context[i]);
            changed = true;
        }
    }
    if (p.extensions_replace)
        changed = apply_extensions(ev, &p) || changed;
    if (p.data_action == DATA_REMOVE) {
        event_set_data(ev, NULL, 0, false);
        changed = true;
    } else if (p.data_action == DATA_RAW) {
        event_set_data(ev, p.data_raw, p.data_raw_len, false);
        changed = true;
    } else if (p.data_action == DATA_JSON) {
        event_set_data_json(ev, p.data_json);
        p.data_json = NULL;
        changed = true;
    }
    if (p.routes_replace) {
        lua_event_view_clear_routes(view);
        if (lua_istable(L, top + 3)) { /* routes = {} means "no processor", kept as an array */
            view->routes = p.routes;
            view->route_count = p.route_count;
            p.routes = NULL;
            p.route_count = 0;
        }
        changed = true;
    }
    /* After a change the table already is the changed event, unless it holds values apply does
     * not carry over as they are (data converted to JSON, routes copied) or skipped (data or
     * extensions stored raw without being read): then the next script needs a fresh one. */
    bool same_as_fresh = !p.routes_replace && !view->data_touched && lua_isnil(L, top + 1) &&
                         (view->extensions_touched || lua_isnil(L, top + 2));
    if (changed) {
        for (size_t i = 0; i < CONTEXT_COUNT; i++)
            if (!p.untouched[i])
                view->pushed[i] = NULL; /* the event moved on: compare by content from here */
        if (same_as_fresh && view->extensions_touched) {
            /* as a fresh table would, build extensions again on first read (the key is in the
             * table, so neither the string nor the store allocates) */
            if (!lua_isnil(L, top + 2)) {
                lua_pushliteral(L, "extensions");
                lua_pushnil(L);
                lua_rawset(L, idx);
            }
            view->extensions_touched = false;
        }
    }
    lua_settop(L, top);
    pending_free(&p);
    view->table_reusable = !changed || same_as_fresh;
    return changed ? 1 : 0;
}
