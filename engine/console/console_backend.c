/* What the debugging console sees of the engine and what it may do to it: the backend of
 * console/console.h, built on the engine's public API only (engine.h). Everything runs on the
 * loop thread, between two events. */
#include "console/console_backend.h"

#include "console/console.h"
#include "deadletter.h"
#include "engine.h"
#include "http/url_userinfo.h"
#include "log.h"
#include "processors/processor.h"
#include "lua/lua_sandbox.h"
#include "lua/script_chain.h"
#include "lua/lua_api.h"
#include "lua/lua_event.h"
#include "lua/test_script.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Owned by the console: freed by backend_release when the console frees itself. */
typedef struct backend_state {
    engine *engine;
    console *console;
    lua_sandbox *lua; /* the console's own Lua state, made on first use */
} backend_state;

static char *print_and_free(cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    return text;
}

static char *backend_stats(void *user)
{
    return metrics_render_stats(engine_metrics(((backend_state *)user)->engine));
}

static char *backend_sources(void *user)
{
    const engine *e = ((backend_state *)user)->engine;
    cJSON *list = cJSON_CreateArray();
    engine_source_info s;
    for (size_t i = 0; engine_source_at(e, i, &s); i++) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", s.name);
        cJSON_AddStringToObject(item, "type", s.type);
        cJSON_AddStringToObject(item, "address", s.stats->address ? s.stats->address : "");
        cJSON_AddStringToObject(item, "state", s.state);
        cJSON_AddNumberToObject(item, "events_total", (double)s.stats->events_total);
        cJSON_AddNumberToObject(item, "events_err", (double)s.stats->events_err);
        cJSON_AddItemToArray(list, item);
    }
    return print_and_free(list);
}

static char *backend_leader(void *user)
{
    metrics *m = engine_metrics(((backend_state *)user)->engine);
    metrics_leader_sample leader = {.leading = true};
    if (m->leader_samples)
        m->leader_samples(m->leader_samples_user, &leader);
    cJSON *object = cJSON_CreateObject();
    cJSON_AddBoolToObject(object, "enabled", m->leader_samples != NULL);
    cJSON_AddStringToObject(object, "role", leader.leading ? "leader" : "standby");
    cJSON_AddStringToObject(object, "identity", leader.identity ? leader.identity : "");
    cJSON_AddStringToObject(object, "holder", leader.holder ? leader.holder : "");
    cJSON_AddNumberToObject(object, "transitions", (double)leader.transitions);
    return print_and_free(object);
}

static char *backend_processors(void *user)
{
    const engine *e = ((backend_state *)user)->engine;
    cJSON *list = cJSON_CreateArray();
    engine_processor_info p;
    for (size_t i = 0; engine_processor_at(e, i, &p); i++) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", p.name);
        cJSON_AddStringToObject(item, "type", p.type);
        cJSON_AddNumberToObject(item, "in_flight", (double)p.stats->in_flight);
        cJSON_AddNumberToObject(item, "pending", (double)p.pending);
        cJSON_AddNumberToObject(item, "retries", (double)p.stats->retries);
        cJSON_AddNumberToObject(item, "delivered", (double)p.stats->delivered);
        cJSON_AddNumberToObject(item, "failed", (double)p.stats->failed);
        cJSON_AddStringToObject(item, "last_error", p.last_error);
        if (p.processor_type->describe && p.processor_state) {
            cJSON *detail = p.processor_type->describe(p.processor_state);
            if (detail)
                cJSON_AddItemToObject(item, "detail", detail);
        }
        cJSON_AddItemToArray(list, item);
    }
    return print_and_free(list);
}

static char *backend_scripts(void *user)
{
    engine *e = ((backend_state *)user)->engine;
    const metrics *m = engine_metrics(e);
    const config *cfg = engine_config(e);
    const script_chain *scripts = engine_scripts(e);
    cJSON *root = cJSON_CreateObject();
    if (cfg->scripts_dir)
        cJSON_AddStringToObject(root, "dir", cfg->scripts_dir);
    else
        cJSON_AddNullToObject(root, "dir");
    cJSON *list = cJSON_AddArrayToObject(root, "scripts");
    for (size_t i = 0; scripts && i < script_chain_count(scripts); i++) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", script_chain_name(scripts, i));
        cJSON_AddNumberToObject(item, "errors", (double)script_chain_errors(scripts, i));
        cJSON_AddItemToArray(list, item);
    }
    cJSON_AddNumberToObject(root, "reloads", (double)m->reloads_total);
    if (m->last_reload) {
        char stamp[32];
        struct tm utc;
        gmtime_r(&m->last_reload, &utc);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
        cJSON_AddStringToObject(root, "last_reload", stamp);
    } else {
        cJSON_AddNullToObject(root, "last_reload");
    }
    cJSON_AddStringToObject(root, "last_reload_error", m->last_reload_error);
    return print_and_free(root);
}

/* Names, addresses and settings; never a password, key or token. */
static char *backend_config(void *user)
{
    const config *cfg = engine_config(((backend_state *)user)->engine);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "path", cfg->path ? cfg->path : "");
    cJSON_AddStringToObject(root, "name", cfg->name ? cfg->name : "");
    cJSON *providers = cJSON_AddArrayToObject(root, "eventProviders");
    for (size_t i = 0; i < cfg->provider_count; i++) {
        const config_provider *p = &cfg->providers[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", p->name);
        bool webhook = p->kind == PROVIDER_WEBHOOK;
        cJSON_AddStringToObject(item, "type", config_provider_type_name(p->kind));
        cJSON_AddStringToObject(item, "address", config_provider_address(p));
        if (webhook)
            cJSON_AddStringToObject(item, "path", p->webhook.path);
        const config_auth *auth = config_provider_auth(p);
        if (auth->username)
            cJSON_AddStringToObject(item, "username", auth->username);
        cJSON_AddItemToArray(providers, item);
    }
    cJSON *processors = cJSON_AddArrayToObject(root, "eventProcessors");
    for (size_t i = 0; i < cfg->processor_count; i++) {
        const config_processor *p = &cfg->processors[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", p->name);
        cJSON_AddStringToObject(item, "type", "knative");
        cJSON_AddStringToObject(item, "encoding", p->knative.structured ? "structured" : "binary");
        if (p->knative.uri) {
            char *uri = url_without_userinfo(p->knative.uri);
            cJSON_AddStringToObject(item, "uri", uri ? uri : "");
            free(uri);
        }
        cJSON_AddItemToArray(processors, item);
    }
    cJSON_AddStringToObject(root, "deadLetterDir", cfg->deadletter_dir ? cfg->deadletter_dir : "");
    if (cfg->scripts_dir)
        cJSON_AddStringToObject(root, "scriptsDir", cfg->scripts_dir);
    cJSON *delivery = cJSON_AddObjectToObject(root, "delivery");
    cJSON_AddNumberToObject(delivery, "timeoutSeconds", cfg->delivery.timeout_seconds);
    cJSON_AddNumberToObject(delivery, "retries", cfg->delivery.retries);
    cJSON_AddNumberToObject(delivery, "maxInFlight", cfg->delivery.max_in_flight);
    cJSON_AddNumberToObject(root, "queueCapacity", (double)cfg->queue_capacity);
    return print_and_free(root);
}

static int backend_reload(void *user, char *err, size_t err_cap)
{
    return engine_reload(((backend_state *)user)->engine, err, err_cap);
}

static int backend_pause(void *user, const char *name, bool pause, char *err, size_t err_cap)
{
    return engine_pause_source(((backend_state *)user)->engine, name, pause, err, err_cap);
}

static event *event_from_text(const char *event_json, char *err, size_t err_cap)
{
    cJSON *parsed = cJSON_Parse(event_json);
    if (!parsed) {
        snprintf(err, err_cap, "not valid JSON");
        return NULL;
    }
    char reason[256];
    event *ev = event_from_json(parsed, reason, sizeof reason);
    cJSON_Delete(parsed);
    if (!ev)
        snprintf(err, err_cap, "not a valid CloudEvent: %s", reason);
    return ev;
}

static int backend_replay(void *user, const char *event_json, const char *processor, char *err,
                          size_t err_cap)
{
    event *ev = event_from_text(event_json, err, err_cap);
    if (!ev)
        return -1;
    ev->received_ns = uv_hrtime();
    if (engine_replay(((backend_state *)user)->engine, ev, processor, err, err_cap) != 0) {
        event_unref(ev);
        return -1;
    }
    return 0;
}

static char *backend_test_script(void *user, const char *script, const char *event_json, char *err,
                                 size_t err_cap)
{
    const config *cfg = engine_config(((backend_state *)user)->engine);
    if (!cfg->scripts_dir) {
        snprintf(err, err_cap, "no scripts folder is configured");
        return NULL;
    }
    if (strchr(script, '/') || script[0] == '.') {
        snprintf(err, err_cap, "name a script of %s by its file name", cfg->scripts_dir);
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", cfg->scripts_dir, script);
    return test_script_run_json(path, event_json, err, err_cap);
}

static const char *backend_deadletter_dir(void *user)
{
    return engine_deadletter_dir(((backend_state *)user)->engine);
}

/* The most a console command may print through print() and its results together. */
#define CONSOLE_LUA_OUTPUT_LIMIT ((size_t)1 << 20)

/* er.counter in the console counts here, and the counts are dropped after each command. */
static lua_api_script console_script = {.name = "console"};
static lua_api_script *const console_target = &console_script;

/* One console evaluation: the documents it sees (malloc'd JSON texts, owned by the caller so a Lua
 * error cannot leak them) and the chunk. */
typedef struct console_eval {
    lua_sandbox *sandbox;
    const char *chunk;
    char *config_text, *stats_text, *recent_text;
} console_eval;

/* Pushes a JSON document as a Lua value (a copy: changes go nowhere). May raise (memory): the
 * parsed tree is freed by a protected push. */
static int push_json_unprotected(lua_State *L)
{
    lua_json_push(L, lua_touserdata(L, 1));
    return 1;
}

static void push_json_text(lua_State *L, const char *text)
{
    cJSON *parsed = text ? cJSON_Parse(text) : NULL;
    if (!parsed) {
        lua_pushnil(L);
        return;
    }
    lua_pushcfunction(L, push_json_unprotected);
    lua_pushlightuserdata(L, parsed);
    int status = lua_pcall(L, 1, 1, 0);
    cJSON_Delete(parsed);
    if (status != LUA_OK)
        lua_error(L);
}

/* Appends text to the output table (upvalue-free helper: the table is at out). */
static void output_append(lua_State *L, int out, int text)
{
    lua_getfield(L, out, "n");
    lua_Integer n = lua_tointeger(L, -1) + 1;
    lua_pop(L, 1);
    lua_getfield(L, out, "bytes");
    size_t bytes = (size_t)lua_tointeger(L, -1) + lua_rawlen(L, text) + 1;
    lua_pop(L, 1);
    if (bytes > CONSOLE_LUA_OUTPUT_LIMIT)
        luaL_error(L, "console output is limited to %d bytes", (int)CONSOLE_LUA_OUTPUT_LIMIT);
    lua_pushvalue(L, text);
    lua_rawseti(L, out, n);
    lua_pushinteger(L, n);
    lua_setfield(L, out, "n");
    lua_pushinteger(L, (lua_Integer)bytes);
    lua_setfield(L, out, "bytes");
}

/* print(...) in the console: one line to the client (upvalue 1 is the output table). */
static int console_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer line;
    luaL_buffinit(L, &line);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&line, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&line);
    }
    luaL_pushresult(&line);
    output_append(L, lua_upvalueindex(1), lua_gettop(L));
    return 0;
}

/* A result as the console shows it: JSON when it converts, else Lua's tostring (which may run a
 * __tostring metamethod: in protected mode, under the budget, like everything here). */
static void push_result_text(lua_State *L, int idx)
{
    char reason[128];
    cJSON *json = lua_json_from_lua(L, idx, NULL, reason, sizeof reason);
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!json) {
        luaL_tolstring(L, idx, NULL);
        return;
    }
    if (!text)
        luaL_error(L, "out of memory");
    lua_pushcfunction(L, lua_api_push_owned_text);
    lua_pushlightuserdata(L, text);
    int status = lua_pcall(L, 1, 1, 0);
    free(text);
    if (status != LUA_OK)
        lua_error(L);
}

/* The whole evaluation, in protected mode under the console sandbox's budget: its environment
 * (er, config, stats, recent, a print that writes to the client), the chunk, and the text of its
 * output. Returns that text as a string. */
static int eval_protected(lua_State *L)
{
    console_eval *e = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_newtable(L); /* 1: the output: printed lines, then the results */
    lua_sandbox_push_env(e->sandbox);
    int env = lua_gettop(L);
    lua_api_push_er(L, &console_target, "console");
    lua_setfield(L, env, "er");
    push_json_text(L, e->config_text);
    lua_setfield(L, env, "config");
    push_json_text(L, e->stats_text);
    lua_setfield(L, env, "stats");
    push_json_text(L, e->recent_text);
    lua_setfield(L, env, "recent");
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, console_print, 1);
    lua_setfield(L, env, "print");
    char err[512];
    if (!lua_sandbox_load(e->sandbox, e->chunk, strlen(e->chunk), "console", err, sizeof err))
        return luaL_error(L, "%s", err); /* the env table was popped */
    lua_call(L, 0, LUA_MULTRET);
    int results = lua_gettop(L);
    luaL_checkstack(L, 4, "too many results");
    if (results > 1) {
        luaL_Buffer line;
        luaL_buffinit(L, &line);
        for (int i = 2; i <= results; i++) {
            if (i > 2)
                luaL_addchar(&line, '\t');
            push_result_text(L, i);
            luaL_addvalue(&line);
        }
        luaL_pushresult(&line);
        output_append(L, 1, lua_gettop(L));
        lua_pop(L, 1);
    }
    lua_settop(L, 1);
    luaL_Buffer all;
    luaL_buffinit(L, &all);
    lua_Integer n = (lua_getfield(L, 1, "n"), lua_tointeger(L, -1));
    lua_pop(L, 1);
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&all, '\n');
        lua_rawgeti(L, 1, i);
        luaL_addvalue(&all);
    }
    luaL_pushresult(&all);
    return 1;
}

/* Console Lua: its own sandboxed state, under the same limits as the scripts, with copies of
 * config, stats and the recent events, and the scripts' `er` library. Every Lua step runs inside
 * one protected call: an error (a __tostring that fails, memory, a limit) is an error line to the
 * client, never an abort. */
static char *backend_eval_lua(void *user, const char *chunk, char *err, size_t err_cap)
{
    backend_state *b = user;
    const config *cfg = engine_config(b->engine);
    if (!b->lua) {
        script_limits limits = {.instruction_limit = cfg->script_instruction_limit,
                                .memory_limit = cfg->script_memory_limit,
                                .time_limit_ms = cfg->script_time_limit_ms};
        b->lua = lua_sandbox_new(&limits, NULL);
        if (!b->lua) {
            snprintf(err, err_cap, "out of memory");
            return NULL;
        }
    }
    lua_State *L = lua_sandbox_state(b->lua);
    int top = lua_gettop(L);
    console_eval e = {.sandbox = b->lua,
                      .chunk = chunk,
                      .config_text = backend_config(b),
                      .stats_text = backend_stats(b),
                      .recent_text = b->console ? console_recent_json(b->console, 100) : NULL};
    lua_pushcfunction(L, eval_protected);
    lua_pushlightuserdata(L, &e);
    bool ok = lua_sandbox_call(b->lua, 1, 1, "console", err, err_cap);
    free(e.config_text);
    free(e.stats_text);
    free(e.recent_text);
    lua_api_script_free_counters(&console_script);
    char *out = NULL;
    if (ok) {
        size_t len = 0;
        const char *text = lua_tolstring(L, -1, &len);
        out = malloc(len + 1);
        if (out) {
            memcpy(out, text, len);
            out[len] = '\0';
        } else {
            snprintf(err, err_cap, "out of memory");
        }
    }
    lua_settop(L, top);
    return out;
}

static void backend_release(void *user)
{
    backend_state *b = user;
    lua_sandbox_free(b->lua);
    free(b);
}

int console_backend_start(engine *e, uv_loop_t *loop, char *err, size_t err_cap)
{
    const config *cfg = engine_config(e);
    if (!cfg->console_enabled)
        return 0;
    backend_state *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    b->engine = e;
    console_backend backend = {
        .engine = b,
        .stats_json = backend_stats,
        .sources_json = backend_sources,
        .leader_json = backend_leader,
        .processors_json = backend_processors,
        .scripts_json = backend_scripts,
        .config_json = backend_config,
        .reload = backend_reload,
        .pause_source = backend_pause,
        .replay = backend_replay,
        .test_script = backend_test_script,
        .deadletter_dir = backend_deadletter_dir,
        .eval_lua = backend_eval_lua,
        .release = backend_release,
    };
    console_options options = {.socket_path = cfg->console_socket,
                               .tcp_address = cfg->console_tcp_address,
                               .tcp_token = cfg->console_token};
    b->console = console_start(loop, &options, &backend, err, err_cap);
    if (!b->console)
        return -1; /* console_start released b through backend_release */
    engine_attach_console(e, b->console);
    return 0;
}
