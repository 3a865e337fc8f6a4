/* What the debugging console sees of the engine and what it may do to it: the backend of
 * console/console.h, built on the engine's public API only (engine.h). Everything runs on the
 * loop thread, between two events. */
#include "console/console_backend.h"

#include "console/console.h"
#include "deadletter.h"
#include "engine.h"
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
        if (p->knative.uri)
            cJSON_AddStringToObject(item, "uri", p->knative.uri);
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

/* Pushes a JSON document as a Lua value (read-only by convention: a copy, changes go nowhere). */
static void push_json_text(lua_State *L, char *text)
{
    cJSON *parsed = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (parsed)
        lua_json_push(L, parsed);
    else
        lua_pushnil(L);
    cJSON_Delete(parsed);
}

/* Console Lua: its own sandboxed state, under the same limits as the scripts, with copies of
 * config, stats and the recent events, and the scripts' `er` library. */
static char *backend_eval_lua(void *user, const char *chunk, char *err, size_t err_cap)
{
    backend_state *b = user;
    const config *cfg = engine_config(b->engine);
    if (!b->lua) {
        script_limits limits = {.instruction_limit = cfg->script_instruction_limit,
                                .memory_limit = cfg->script_memory_limit};
        b->lua = lua_sandbox_new(&limits, NULL);
        if (!b->lua) {
            snprintf(err, err_cap, "out of memory");
            return NULL;
        }
    }
    lua_State *L = lua_sandbox_state(b->lua);
    int top = lua_gettop(L);
    lua_sandbox_push_env(b->lua);
    static lua_api_script console_script = {.name = "console"};
    static lua_api_script *const console_target = &console_script;
    lua_api_push_er(L, &console_target, "console");
    lua_setfield(L, -2, "er");
    push_json_text(L, backend_config(b));
    lua_setfield(L, -2, "config");
    push_json_text(L, backend_stats(b));
    lua_setfield(L, -2, "stats");
    push_json_text(L, b->console ? console_recent_json(b->console, 100) : NULL);
    lua_setfield(L, -2, "recent");
    if (!lua_sandbox_load(b->lua, chunk, strlen(chunk), "console", err, err_cap)) {
        lua_settop(L, top);
        return NULL;
    }
    if (!lua_sandbox_call(b->lua, 0, LUA_MULTRET, "console", err, err_cap)) {
        lua_settop(L, top);
        return NULL;
    }
    /* Print each result as JSON when it converts, else as Lua's tostring. */
    size_t cap = 4096, len = 0;
    char *out = calloc(1, cap);
    for (int i = top + 1; out && i <= lua_gettop(L); i++) {
        char reason[128];
        cJSON *json = lua_json_from_lua(L, i, NULL, reason, sizeof reason);
        char *text = json ? cJSON_PrintUnformatted(json) : strdup(luaL_tolstring(L, i, NULL));
        cJSON_Delete(json);
        size_t need = len + (text ? strlen(text) : 0) + 2;
        if (need > cap) {
            char *grown = realloc(out, need * 2);
            if (!grown) {
                free(text);
                break;
            }
            out = grown;
            cap = need * 2;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i > top + 1 ? "\t" : "",
                                text ? text : "");
        free(text);
    }
    lua_settop(L, top);
    lua_api_script_free_counters(&console_script);
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
