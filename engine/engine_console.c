/* What the debugging console sees of the engine and what it may do to it: the backend of
 * engine/console.h, built on the engine's own parts (metrics, dispatchers, scripts, dead-letter
 * files). Everything runs on the loop thread, between two events. */
#include "engine_internal.h"

#include "log.h"
#include "lua_api.h"
#include "lua_event.h"
#include "test_script.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *print_and_free(cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    return text;
}

static char *backend_stats(void *user)
{
    return metrics_render_stats(((engine *)user)->metrics);
}

static char *backend_sources(void *user)
{
    engine *e = user;
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < e->source_count; i++) {
        engine_source *s = &e->sources[i];
        const provider_stats *stats = e->metrics->providers[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", s->config->name);
        cJSON_AddStringToObject(item, "type", s->type->name);
        cJSON_AddStringToObject(item, "address", stats->address ? stats->address : "");
        const char *state = !s->state                                     ? "stopped"
                            : s->paused                                   ? "paused"
                            : s->type->ready && !s->type->ready(s->state) ? "not ready"
                                                                          : "running";
        cJSON_AddStringToObject(item, "state", state);
        cJSON_AddNumberToObject(item, "events_total", (double)stats->events_total);
        cJSON_AddNumberToObject(item, "events_err", (double)stats->events_err);
        cJSON_AddItemToArray(list, item);
    }
    return print_and_free(list);
}

static char *backend_processors(void *user)
{
    engine *e = user;
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < e->processor_count; i++) {
        engine_processor *p = &e->processors[i];
        const processor_stats *stats = p->stats;
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", e->config->processors[i].name);
        cJSON_AddStringToObject(item, "type", p->type->name);
        cJSON_AddNumberToObject(item, "in_flight", (double)stats->in_flight);
        cJSON_AddNumberToObject(item, "pending",
                                p->dispatcher ? (double)dispatcher_pending(p->dispatcher) : 0);
        cJSON_AddNumberToObject(item, "retries", (double)stats->retries);
        cJSON_AddNumberToObject(item, "delivered", (double)stats->delivered);
        cJSON_AddNumberToObject(item, "failed", (double)stats->failed);
        cJSON_AddStringToObject(item, "last_error", p->last_error);
        cJSON_AddItemToArray(list, item);
    }
    return print_and_free(list);
}

static char *backend_scripts(void *user)
{
    engine *e = user;
    const metrics *m = e->metrics;
    cJSON *root = cJSON_CreateObject();
    if (e->config->scripts_dir)
        cJSON_AddStringToObject(root, "dir", e->config->scripts_dir);
    else
        cJSON_AddNullToObject(root, "dir");
    cJSON *list = cJSON_AddArrayToObject(root, "scripts");
    for (size_t i = 0; e->scripts && i < script_chain_count(e->scripts); i++) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", script_chain_name(e->scripts, i));
        cJSON_AddNumberToObject(item, "errors", (double)script_chain_errors(e->scripts, i));
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
    engine *e = user;
    const config *cfg = e->config;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "path", cfg->path ? cfg->path : "");
    cJSON_AddStringToObject(root, "name", cfg->name ? cfg->name : "");
    cJSON *providers = cJSON_AddArrayToObject(root, "eventProviders");
    for (size_t i = 0; i < cfg->provider_count; i++) {
        const config_provider *p = &cfg->providers[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", p->name);
        bool webhook = p->kind == PROVIDER_WEBHOOK;
        cJSON_AddStringToObject(item, "type", webhook ? "webhook" : "vcenter");
        cJSON_AddStringToObject(item, "address",
                                webhook ? p->webhook.bind_address : p->vcenter.address);
        if (webhook)
            cJSON_AddStringToObject(item, "path", p->webhook.path);
        const config_auth *auth = webhook ? &p->webhook.auth : &p->vcenter.auth;
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
    return engine_reload(user, err, err_cap);
}

static int backend_pause(void *user, const char *name, bool pause, char *err, size_t err_cap)
{
    engine *e = user;
    for (size_t i = 0; i < e->source_count; i++) {
        engine_source *s = &e->sources[i];
        if (strcmp(s->config->name, name) != 0)
            continue;
        if (!s->type->pause || !s->state) {
            snprintf(err, err_cap, "source '%s' cannot be paused", name);
            return -1;
        }
        s->type->pause(s->state, pause);
        s->paused = pause;
        log_info("console", "source %s %s", name, pause ? "paused" : "resumed");
        return 0;
    }
    snprintf(err, err_cap, "no source named '%s'", name);
    return -1;
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
    engine *e = user;
    if (e->shutting_down) {
        snprintf(err, err_cap, "the engine is shutting down");
        return -1;
    }
    engine_processor *target = NULL;
    if (processor && !(target = engine_find_processor(e, processor))) {
        snprintf(err, err_cap, "no processor named '%s'", processor);
        return -1;
    }
    event *ev = event_from_text(event_json, err, err_cap);
    if (!ev)
        return -1;
    ev->received_ns = uv_hrtime();
    /* The engine takes our reference, as it does for an event taken off the queue. */
    if (target)
        engine_dispatch_to(e, target, ev);
    else
        engine_dispatch(e, ev);
    return 0;
}

static char *backend_test_script(void *user, const char *script, const char *event_json, char *err,
                                 size_t err_cap)
{
    engine *e = user;
    if (!e->config->scripts_dir) {
        snprintf(err, err_cap, "no scripts folder is configured");
        return NULL;
    }
    if (strchr(script, '/') || script[0] == '.') {
        snprintf(err, err_cap, "name a script of %s by its file name", e->config->scripts_dir);
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", e->config->scripts_dir, script);
    return test_script_run_json(path, event_json, err, err_cap);
}

static const char *backend_deadletter_dir(void *user)
{
    engine *e = user;
    return deadletter_dir(e->deadletter);
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
    engine *e = user;
    if (!e->console_lua) {
        script_limits limits = {.instruction_limit = e->config->script_instruction_limit,
                                .memory_limit = e->config->script_memory_limit};
        e->console_lua = lua_sandbox_new(&limits, NULL);
        if (!e->console_lua) {
            snprintf(err, err_cap, "out of memory");
            return NULL;
        }
    }
    lua_State *L = lua_sandbox_state(e->console_lua);
    int top = lua_gettop(L);
    lua_sandbox_push_env(e->console_lua);
    static lua_api_script console_script = {.name = "console"};
    static lua_api_script *const console_target = &console_script;
    lua_api_push_er(L, &console_target, "console");
    lua_setfield(L, -2, "er");
    push_json_text(L, backend_config(e));
    lua_setfield(L, -2, "config");
    push_json_text(L, backend_stats(e));
    lua_setfield(L, -2, "stats");
    push_json_text(L, e->console ? console_recent_json(e->console, 100) : NULL);
    lua_setfield(L, -2, "recent");
    if (!lua_sandbox_load(e->console_lua, chunk, strlen(chunk), "console", err, err_cap)) {
        lua_settop(L, top);
        return NULL;
    }
    if (!lua_sandbox_call(e->console_lua, 0, LUA_MULTRET, "console", err, err_cap)) {
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

int engine_console_start(engine *e, char *err, size_t err_cap)
{
    if (!e->config->console_enabled)
        return 0;
    console_backend backend = {
        .engine = e,
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
    };
    console_options options = {.socket_path = e->config->console_socket,
                               .tcp_address = e->config->console_tcp_address,
                               .tcp_token = e->config->console_token};
    e->console = console_start(e->loop, &options, &backend, err, err_cap);
    return e->console ? 0 : -1;
}

void engine_console_close(engine *e)
{
    if (e->console)
        console_close(e->console);
    e->console = NULL;
    lua_sandbox_free(e->console_lua);
    e->console_lua = NULL;
}
