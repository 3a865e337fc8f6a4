#include "lua/script_chain.h"

#include "log.h"
#include "lua/lua_api.h"
#include "lua/lua_event.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum { ON_ERROR_DEADLETTER, ON_ERROR_PASS, ON_ERROR_DROP } on_error_policy;

typedef struct chain_script {
    lua_api_script api; /* name and counters; first, so &api is the script */
    int process_ref;    /* registry ref of process() */
    on_error_policy on_error;
    uint64_t errors;
} chain_script;

struct script_chain {
    lua_sandbox *sandbox;
    chain_script *scripts;
    size_t count;
    lua_api_script *current; /* the running script: where a lib/ module's er.counter counts */
    lua_event_view view;
    char *dir; /* the folder, for the "file" part of paths */
};

enum { OUTCOME_UNCHANGED = 0, OUTCOME_CHANGED = 1, OUTCOME_DROP = 2 };

static bool script_file_is_wanted(const char *name)
{
    size_t len = strlen(name);
    if (name[0] == '_' || name[0] == '.' || len <= 4 || strcmp(name + len - 4, ".lua") != 0)
        return false;
    return !(len >= 13 && strcmp(name + len - 13, ".disabled.lua") == 0);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The wanted regular files of dir, sorted bytewise (not by locale). */
static char **list_scripts(const char *dir, size_t *count, char *err, size_t err_cap)
{
    DIR *folder = opendir(dir);
    if (!folder) {
        snprintf(err, err_cap, "%s: cannot open the scripts folder", dir);
        return NULL;
    }
    size_t n = 0, allocated = 16;
    char **names = malloc(allocated * sizeof *names);
    struct dirent *entry;
    while (names && (entry = readdir(folder))) {
        if (!script_file_is_wanted(entry->d_name))
            continue;
        char path[4096];
        struct stat info;
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        if (stat(path, &info) != 0 || !S_ISREG(info.st_mode))
            continue;
        if (n == allocated) {
            char **grown = realloc(names, 2 * allocated * sizeof *names);
            if (!grown)
                break;
            names = grown;
            allocated *= 2;
        }
        if (!(names[n] = strdup(entry->d_name)))
            break;
        n++;
    }
    closedir(folder);
    if (!names) {
        snprintf(err, err_cap, "%s: out of memory", dir);
        return NULL;
    }
    qsort(names, n, sizeof *names, compare_names);
    *count = n;
    return names;
}

static void add_module_er(lua_State *L, const char *module_name, void *user)
{
    script_chain *chain = user;
    lua_api_push_er(L, &chain->current, module_name);
    lua_setfield(L, -2, "er");
}

/* In protected mode: builds the script's environment, runs its chunk, and takes process() and
 * on_error from it. Argument 1: the chain; the script is chain->current. */
static int load_script_protected(lua_State *L)
{
    script_chain *chain = lua_touserdata(L, 1);
    chain_script *script = (chain_script *)chain->current;
    lua_sandbox_push_env(chain->sandbox);
    int env = lua_gettop(L);
    lua_api_push_er(L, &script->api.self, script->api.name);
    lua_setfield(L, env, "er");

    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", chain->dir, script->api.name);
    lua_pushvalue(L, env);
    if (!lua_sandbox_load_file(chain->sandbox, path, script->api.name, err, sizeof err))
        return luaL_error(L, "%s", err);
    lua_call(L, 0, 0);

    lua_getfield(L, env, "process");
    if (!lua_isfunction(L, -1))
        return luaL_error(L, "does not define a global function process(event)");
    script->process_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_getfield(L, env, "on_error");
    const char *policy = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (lua_isnil(L, -1) || (policy && strcmp(policy, "deadletter") == 0))
        script->on_error = ON_ERROR_DEADLETTER;
    else if (policy && strcmp(policy, "pass") == 0)
        script->on_error = ON_ERROR_PASS;
    else if (policy && strcmp(policy, "drop") == 0)
        script->on_error = ON_ERROR_DROP;
    else
        return luaL_error(L, "on_error must be \"deadletter\", \"pass\" or \"drop\"");
    return 0;
}

script_chain *script_chain_load(const char *dir, const script_limits *limits, char *err,
                                size_t err_cap)
{
    size_t count = 0;
    char **names = list_scripts(dir, &count, err, err_cap);
    if (!names)
        return NULL;
    script_chain *chain = calloc(1, sizeof *chain);
    char lib_dir[4096];
    snprintf(lib_dir, sizeof lib_dir, "%s/lib", dir);
    if (!chain || !(chain->dir = strdup(dir)) ||
        !(chain->scripts = calloc(count ? count : 1, sizeof *chain->scripts)) ||
        !(chain->sandbox = lua_sandbox_new(limits, lib_dir))) {
        snprintf(err, err_cap, "%s: out of memory", dir);
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
        script_chain_free(chain);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        chain->scripts[i].api.name = names[i]; /* the chain owns the names from here */
        chain->scripts[i].api.self = &chain->scripts[i].api;
        chain->scripts[i].process_ref = LUA_NOREF;
    }
    chain->count = count;
    free(names);

    lua_State *L = lua_sandbox_state(chain->sandbox);
    lua_sandbox_set_module_env_fn(chain->sandbox, add_module_er, chain);
    lua_event_setup(L, &chain->view);
    for (size_t i = 0; i < count; i++) {
        chain->current = &chain->scripts[i].api;
        lua_pushcfunction(L, load_script_protected);
        lua_pushlightuserdata(L, chain);
        if (!lua_sandbox_call(chain->sandbox, 1, 0, chain->scripts[i].api.name, err, err_cap)) {
            script_chain_free(chain);
            return NULL;
        }
    }
    chain->current = NULL;
    return chain;
}

/* In protected mode: one script on the view's event. Returns an OUTCOME_* on the stack. */
static int run_script_protected(lua_State *L)
{
    script_chain *chain = lua_touserdata(L, 1);
    chain_script *script = (chain_script *)chain->current;
    lua_rawgeti(L, LUA_REGISTRYINDEX, script->process_ref);
    lua_event_push(L, &chain->view);
    int table = lua_gettop(L);
    lua_pushvalue(L, table);
    lua_insert(L, table - 1);
    lua_call(L, 1, 1);
    /* A limit hit during process() fails the script even when it caught the error and returned
     * normally (pcall, coroutine.resume): its changes are then never applied. */
    if (lua_sandbox_was_killed(chain->sandbox))
        lua_sandbox_check(L);
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
        lua_pushinteger(L, OUTCOME_DROP);
        return 1;
    }
    lua_pop(L, 1);
    char err[400];
    int changed = lua_event_apply(L, -1, &chain->view, err, sizeof err);
    if (changed < 0)
        return luaL_error(L, "invalid change to the event: %s", err);
    lua_pushinteger(L, changed ? OUTCOME_CHANGED : OUTCOME_UNCHANGED);
    return 1;
}

script_verdict script_chain_run(script_chain *chain, event *ev, script_result *result)
{
    memset(result, 0, sizeof *result);
    result->verdict = SCRIPT_KEEP;
    lua_State *L = lua_sandbox_state(chain->sandbox);
    chain->view.ev = ev;
    for (size_t i = 0; i < chain->count && result->verdict == SCRIPT_KEEP; i++) {
        chain_script *script = &chain->scripts[i];
        chain->current = &script->api;
        lua_pushcfunction(L, run_script_protected);
        lua_pushlightuserdata(L, chain);
        char err[sizeof result->error];
        bool ok = lua_sandbox_call(chain->sandbox, 1, 1, script->api.name, err, sizeof err);
        if (ok) {
            lua_Integer outcome = lua_tointeger(L, -1);
            lua_pop(L, 1);
            if (outcome == OUTCOME_DROP)
                result->verdict = SCRIPT_DROP;
            else if (outcome == OUTCOME_CHANGED && i < 32)
                result->changed_mask |= 1u << i;
            continue;
        }
        script->errors++;
        memcpy(result->error, err, sizeof result->error);
        result->error_script = script->api.name;
        log_warn("script", "%s", err);
        if (script->on_error == ON_ERROR_DEADLETTER)
            result->verdict = SCRIPT_DEADLETTER;
        else if (script->on_error == ON_ERROR_DROP)
            result->verdict = SCRIPT_DROP;
    }
    result->routes = chain->view.routes;
    result->route_count = chain->view.route_count;
    chain->view.routes = NULL;
    chain->view.route_count = 0;
    lua_event_view_finish(L, &chain->view);
    chain->current = NULL;
    return result->verdict;
}

void script_result_clear(script_result *result)
{
    for (size_t i = 0; i < result->route_count; i++)
        free(result->routes[i]);
    free(result->routes);
    result->routes = NULL;
    result->route_count = 0;
}

size_t script_chain_count(const script_chain *chain)
{
    return chain->count;
}

const char *script_chain_name(const script_chain *chain, size_t index)
{
    return index < chain->count ? chain->scripts[index].api.name : NULL;
}

void script_chain_each_counter(const script_chain *chain, script_counter_fn fn, void *user)
{
    for (size_t i = 0; i < chain->count; i++) {
        const lua_api_script *api = &chain->scripts[i].api;
        for (size_t j = 0; j < api->counter_count; j++)
            fn(user, api->name, api->counters[j].name, api->counters[j].value);
    }
}

uint64_t script_chain_errors(const script_chain *chain, size_t index)
{
    return index < chain->count ? chain->scripts[index].errors : 0;
}

size_t script_chain_memory_used(const script_chain *chain)
{
    return lua_sandbox_memory_used(chain->sandbox);
}

void script_chain_free(script_chain *chain)
{
    if (!chain)
        return;
    lua_sandbox_free(chain->sandbox);
    for (size_t i = 0; i < chain->count; i++) {
        lua_api_script_free_counters(&chain->scripts[i].api);
        free(chain->scripts[i].api.name);
    }
    free(chain->scripts);
    lua_event_view_clear_routes(&chain->view);
    free(chain->dir);
    free(chain);
}
