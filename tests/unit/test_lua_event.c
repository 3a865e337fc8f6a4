/* JSON <-> Lua values and the lazy event table. */
#include "check.h"
#include "lua/lua_api.h"
#include "lua/lua_event.h"
#include "lua/lua_sandbox.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>

static lua_event_view view;

/* Parses text, pushes it to Lua, converts it back (with the parsed JSON as the order reference
 * when keep_order) and returns the compact text (caller frees). */
static char *round_trip(lua_State *L, const char *text, bool keep_order)
{
    cJSON *json = cJSON_Parse(text);
    CHECK(json != NULL);
    lua_json_push(L, json);
    char err[256] = "";
    cJSON *back = lua_json_from_lua(L, -1, keep_order ? json : NULL, err, sizeof err);
    lua_pop(L, 1);
    cJSON_Delete(json);
    if (!back) {
        fprintf(stderr, "  conversion failed: %s\n", err);
        return strdup("");
    }
    char *out = cJSON_PrintUnformatted(back);
    cJSON_Delete(back);
    return out;
}

static void check_round_trip(lua_State *L, const char *text, bool keep_order, const char *want)
{
    char *got = round_trip(L, text, keep_order);
    CHECK_STR(got, want);
    free(got);
}

static void test_json_values(void)
{
    lua_State *L = luaL_newstate();
    lua_event_setup(L, &view);
    check_round_trip(L, "[]", false, "[]");
    check_round_trip(L, "{}", false, "{}");
    check_round_trip(L, "[[],{},[[]]]", false, "[[],{},[[]]]");
    check_round_trip(L, "null", false, "null");
    check_round_trip(L, "[null,null,1]", false, "[null,null,1]");
    check_round_trip(L, "{\"a\":null}", false, "{\"a\":null}");
    check_round_trip(L, "1234567890123", false, "1234567890123");
    check_round_trip(L, "[2.5,-0.125,1e+300,true,false]", false, "[2.5,-0.125,1e+300,true,false]");
    check_round_trip(L, "\"caf\\u00e9 \\\"q\\\"\"", false, "\"caf\xc3\xa9 \\\"q\\\"\"");
    /* Without a reference keys are sorted; with one, its order is kept. */
    check_round_trip(L, "{\"z\":1,\"a\":{\"y\":2,\"b\":3}}", false,
                     "{\"a\":{\"b\":3,\"y\":2},\"z\":1}");
    check_round_trip(L, "{\"z\":1,\"a\":{\"y\":2,\"b\":3}}", true,
                     "{\"z\":1,\"a\":{\"y\":2,\"b\":3}}");
    lua_close(L);
}

static void test_lua_tables_to_json(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_event_setup(L, &view);
    static const struct {
        const char *code;
        const char *json; /* NULL: must fail with error containing `error` */
        const char *error;
    } cases[] = {
        {"return {1, 2, 3}", "[1,2,3]", NULL},
        {"return {}", "{}", NULL},
        {"return {a = {}, b = {1}}", "{\"a\":{},\"b\":[1]}", NULL},
        {"return 3.0", "3", NULL},
        {"return 0.1 + 0.2", "0.30000000000000004", NULL},
        {"return 1234567890123456789", "1234567890123456789", NULL},
        {"return -1234567890123", "-1234567890123", NULL},
        {"return math.maxinteger // 1024", "9007199254740991", NULL},
        {"return {[1] = 1, [3] = 3}", NULL, "neither a JSON array nor an object"},
        {"return {1, x = 1}", NULL, "neither a JSON array nor an object"},
        {"return print", NULL, "cannot encode a function"},
        {"return 0/0", NULL, "NaN"},
        {"return 1/0", NULL, "NaN or infinity"},
        {"local t = {} t[1] = t return t", NULL, "nested too deeply"},
        {"return 'a\\0b'", NULL, "NUL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(luaL_dostring(L, cases[i].code) == LUA_OK);
        char err[256] = "";
        cJSON *json = lua_json_from_lua(L, -1, NULL, err, sizeof err);
        lua_pop(L, 1);
        if (cases[i].json) {
            char *text = json ? cJSON_PrintUnformatted(json) : NULL;
            CHECK_STR(text, cases[i].json);
            free(text);
        } else {
            CHECK(json == NULL);
            CHECK_CONTAINS(err, cases[i].error);
        }
        cJSON_Delete(json);
        CHECK(lua_gettop(L) == 0);
    }
    lua_close(L);
}

/* er.json inside the sandbox. */
static void test_er_json(void)
{
    lua_sandbox *sb = lua_sandbox_new(NULL, NULL);
    lua_State *L = lua_sandbox_state(sb);
    lua_event_setup(L, &view);
    lua_api_script script = {.name = "t.lua"};
    script.self = &script;
    lua_sandbox_push_env(sb);
    lua_api_push_er(L, &script.self, "t.lua");
    lua_setfield(L, -2, "er");
    const char *code = "local j = er.json\n"
                       "assert(j.encode(j.decode('[]')) == '[]')\n"
                       "assert(j.encode(j.decode('{\"a\":[]}')) == '{\"a\":[]}')\n"
                       "assert(j.encode({a = j.null}) == '{\"a\":null}')\n"
                       "assert(j.decode('null') == j.null)\n"
                       "assert(j.decode('[1,null]')[2] == j.null)\n"
                       "assert(j.encode(j.array({})) == '[]')\n"
                       "assert(j.decode('1234567890123') == 1234567890123)\n"
                       "assert(math.type(j.decode('7')) == 'integer')\n"
                       "assert(not pcall(j.decode, '{bad'))\n"
                       "assert(not pcall(j.encode, {f = print}))\n"
                       "assert(not pcall(setmetatable, j.decode('[]'), {}))\n"
                       "er.counter('hits'); er.counter('hits', 2)\n"
                       "assert(type(er.time()) == 'number' and er.time() > 1.7e9)\n"
                       "assert(er.monotonic() <= er.monotonic())\n"
                       "assert(er.script == 't.lua')\n"
                       "er.log.debug('not shown %d', 1)\n"
                       "return true\n";
    char err[512] = "";
    CHECK(lua_sandbox_load(sb, code, strlen(code), "t.lua", err, sizeof err));
    CHECK(lua_sandbox_call(sb, 0, 1, "t.lua", err, sizeof err));
    CHECK_STR(err, "");
    CHECK(script.counter_count == 1);
    if (script.counter_count == 1) {
        CHECK_STR(script.counters[0].name, "hits");
        CHECK(script.counters[0].value == 3);
    }
    lua_api_script_free_counters(&script);
    lua_sandbox_free(sb);
}

static event *new_event(const char *data)
{
    event *ev = event_new();
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", "1");
    event_set_attribute(ev, "source", "/s");
    event_set_attribute(ev, "type", "t");
    event_set_attribute(ev, "color", "red");
    event_set_data(ev, data, strlen(data), true);
    return ev;
}

static void test_lazy_event_table(void)
{
    lua_State *L = luaL_newstate();
    lua_event_setup(L, &view);
    event *ev = new_event("{\"b\": 1, \"a\": [] }");
    view.ev = ev;
    lua_event_push(L, &view);
    /* Nothing built yet beyond the attributes. */
    lua_pushliteral(L, "data");
    CHECK(lua_rawget(L, -2) == LUA_TNIL);
    lua_pop(L, 1);
    CHECK(!view.data_touched && !view.extensions_touched);
    lua_getfield(L, -1, "type");
    CHECK_STR(lua_tostring(L, -1), "t");
    lua_pop(L, 1);
    char err[256] = "";
    CHECK(lua_event_apply(L, -1, &view, err, sizeof err) == 0);
    /* Reading data builds it once; an unchanged read is no change and keeps the bytes. */
    lua_getfield(L, -1, "data");
    CHECK(lua_istable(L, -1));
    CHECK(lua_json_is_marked_array(L, -1) == false);
    lua_getfield(L, -1, "a");
    CHECK(lua_json_is_marked_array(L, -1));
    lua_pop(L, 2);
    CHECK(view.data_touched);
    lua_getfield(L, -1, "extensions");
    lua_getfield(L, -1, "color");
    CHECK_STR(lua_tostring(L, -1), "red");
    lua_pop(L, 2);
    CHECK(lua_event_apply(L, -1, &view, err, sizeof err) == 0);
    CHECK_STR((const char *)ev->data, "{\"b\": 1, \"a\": [] }");
    CHECK_STR(event_get_attribute(ev, "color"), "red");
    lua_pop(L, 1);
    CHECK(lua_gettop(L) == 0);
    lua_event_view_finish(L, &view);
    CHECK(view.ev == NULL && view.table == NULL);
    event_unref(ev);
    lua_close(L);
}

int main(void)
{
    RUN_TEST(test_json_values);
    RUN_TEST(test_lua_tables_to_json);
    RUN_TEST(test_er_json);
    RUN_TEST(test_lazy_event_table);
    return CHECK_DONE();
}
