/* Events per second through the Lua script chain, and the cost per script (CPU time of this
 * process, so a busy machine does not inflate it); then hostile scripts (one event in 100 runs a
 * trick that never ends): how long each takes to be stopped (wall clock) and the rate of the
 * benign events around them.
 * Usage: bench_lua_chain [events [scenario]]   (default 200000; writes its scripts to a temporary
 * folder; scenario 4 is the hostile one) */
#include "lua/script_chain.h"

#include <lauxlib.h>
#include <lualib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct scenario {
    const char *title;
    const char *files[3][2]; /* name, code */
} scenario;

static const scenario scenarios[] = {
    {"1 trivial script (per-script overhead)", {{"10-noop.lua", "function process(e) end"}}},
    {"filter + transform + route (attributes only)",
     {{"10-filter.lua", "function process(e) if e.type == 'noise' then return false end end"},
      {"20-transform.lua",
       "function process(e) e.subject = 'vm-' .. e.id; e.extensions.region = 'eu' end"},
      {"30-route.lua", "function process(e) if e.type == 'com.vmware.vm.powered-on' then "
                       "er.route(e, 'knative-a') end end"}}},
    {"filter reads data + transform + route",
     {{"10-filter.lua", "function process(e) if e.data.cpu < 2 then return false end end"},
      {"20-transform.lua",
       "function process(e) e.subject = 'vm-' .. e.id; e.extensions.region = 'eu' end"},
      {"30-route.lua", "function process(e) if e.type == 'com.vmware.vm.powered-on' then "
                       "er.route(e, 'knative-a') end end"}}},
    {"filter + transform changes data + route",
     {{"10-filter.lua", "function process(e) if e.type == 'noise' then return false end end"},
      {"20-transform.lua", "function process(e) e.data.cpu = e.data.cpu + 1 end"},
      {"30-route.lua", "function process(e) if e.type == 'com.vmware.vm.powered-on' then "
                       "er.route(e, 'knative-a') end end"}}},
};

static const char data[] = "{\"vm\":\"vm-42\",\"host\":\"esx-01.lab\",\"cpu\":4,\"memoryMB\":8192,"
                           "\"tags\":[\"prod\",\"web\"],\"folder\":null}";

static event *new_event(size_t i)
{
    char id[32];
    snprintf(id, sizeof id, "%zu", i);
    event *ev = event_new();
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", id);
    event_set_attribute(ev, "source", "https://vcenter.lab/sdk");
    event_set_attribute(ev, "type", "com.vmware.vm.powered-on");
    event_set_attribute(ev, "subject", "VmPoweredOnEvent");
    event_set_attribute(ev, "time", "2026-11-25T18:00:00Z");
    event_set_attribute(ev, "datacontenttype", "application/json");
    event_set_attribute(ev, "vsphereapiversion", "8.0.2");
    event_set_data(ev, data, strlen(data), true);
    return ev;
}

static double wall_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int run_scenario(const scenario *s, size_t count)
{
    char dir[] = "/tmp/er-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    size_t scripts = 0;
    for (; scripts < 3 && s->files[scripts][0]; scripts++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, s->files[scripts][0]);
        FILE *file = fopen(path, "w");
        if (!file)
            return 1;
        fputs(s->files[scripts][1], file);
        fclose(file);
    }
    char err[512];
    script_chain *chain = script_chain_load(dir, NULL, err, sizeof err);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0 || !chain) {
        fprintf(stderr, "load failed: %s\n", err);
        return 1;
    }
    event **events = malloc(count * sizeof *events);
    for (size_t i = 0; i < count; i++)
        events[i] = new_event(i);
    size_t kept = 0;
    double start = now_seconds();
    for (size_t i = 0; i < count; i++) {
        script_result result;
        kept += script_chain_run(chain, events[i], &result) == SCRIPT_KEEP;
        script_result_clear(&result);
    }
    double elapsed = now_seconds() - start;
    for (size_t i = 0; i < count; i++)
        event_unref(events[i]);
    free(events);
    printf("%-48s %9.0f events/s  %6.2f us/event  %6.2f us/script  (kept %zu, Lua %zu KiB)\n",
           s->title, (double)count / elapsed, elapsed / (double)count * 1e6,
           elapsed / (double)count * 1e6 / (double)scripts, kept,
           script_chain_memory_used(chain) / 1024);
    script_chain_free(chain);
    return 0;
}

/* One trick per line, run by every 100th event; the others are benign. */
static const struct {
    const char *title, *trick;
} hostile_tricks[] = {
    {"hostile: while true do end", "while true do end"},
    {"hostile: xpcall with a looping handler", "xpcall(error, function() while true do end end)"},
    {"hostile: pattern backtracking", "local x = ('a'):rep(100):find(('a*'):rep(12) .. 'b')"},
    {"hostile: table.move over 2^62", "table.move({}, 1, 1 << 62, 1, {})"},
    {"hostile: caught kills in a loop",
     "while true do pcall(function() while true do end end) end"},
    {"hostile: 1 MiB string.upper per instruction",
     "local s = ('x'):rep(1 << 20) while true do local u = s:upper() end"},
    {"hostile: utf8.len of 1 MiB per instruction",
     "local s = ('x'):rep(1 << 20) while true do local n = utf8.len(s) end"},
};

static int run_hostile(size_t count)
{
    for (size_t t = 0; t < sizeof hostile_tricks / sizeof hostile_tricks[0]; t++) {
        char dir[] = "/tmp/er-bench-XXXXXX", path[256], code[512];
        if (!mkdtemp(dir))
            return 1;
        snprintf(path, sizeof path, "%s/10-hostile.lua", dir);
        snprintf(code, sizeof code,
                 "function process(e) if e.id:sub(-2) == '00' then %s end "
                 "e.extensions.region = 'eu' end",
                 hostile_tricks[t].trick);
        FILE *file = fopen(path, "w");
        if (!file)
            return 1;
        fputs(code, file);
        fclose(file);
        char err[512], command[128];
        script_chain *chain = script_chain_load(dir, NULL, err, sizeof err);
        snprintf(command, sizeof command, "rm -rf '%s'", dir);
        if (system(command) != 0 || !chain) {
            fprintf(stderr, "load failed: %s\n", err);
            return 1;
        }
        size_t stopped = 0, kept = 0;
        double worst_stop = 0, total_stop = 0, benign_time = 0, stop_cpu = 0;
        for (size_t i = 0; i < count; i++) {
            event *ev = new_event(i);
            script_result result;
            double start = wall_seconds(), start_cpu = now_seconds();
            script_verdict verdict = script_chain_run(chain, ev, &result);
            double took = wall_seconds() - start;
            if (verdict == SCRIPT_DEADLETTER) {
                stop_cpu += now_seconds() - start_cpu;
                stopped++;
                total_stop += took;
                worst_stop = took > worst_stop ? took : worst_stop;
            } else {
                kept += verdict == SCRIPT_KEEP;
                benign_time += took;
            }
            script_result_clear(&result);
            event_unref(ev);
        }
        printf("%-48s stopped %zu in %6.2f ms wall, %6.2f ms CPU (worst %6.2f ms wall); "
               "benign %7.0f events/s (kept %zu)\n",
               hostile_tricks[t].title, stopped, stopped ? total_stop / (double)stopped * 1e3 : 0,
               stopped ? stop_cpu / (double)stopped * 1e3 : 0, worst_stop * 1e3,
               benign_time > 0 ? (double)kept / benign_time : 0, kept);
        script_chain_free(chain);
    }
    return 0;
}

/* The machine's speed, to read the numbers above against: a bare pcall of an empty Lua function. */
static void run_baseline(size_t count)
{
    lua_State *L = luaL_newstate();
    luaL_dostring(L, "function f(e) end");
    lua_getglobal(L, "f");
    double start = now_seconds();
    for (size_t i = 0; i < count; i++) {
        lua_pushvalue(L, -1);
        lua_newtable(L);
        lua_pcall(L, 1, 0, 0);
    }
    double elapsed = now_seconds() - start;
    printf("%-48s %9.0f calls/s   %6.2f us/call\n", "baseline: lua_pcall(f, {}) in a bare state",
           (double)count / elapsed, elapsed / (double)count * 1e6);
    lua_close(L);
}

int main(int argc, char **argv)
{
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    int only = argc > 2 ? atoi(argv[2]) : -1; /* one scenario, for profiling */
    if (only < 0)
        run_baseline(count * 5);
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if ((only < 0 || (size_t)only == i) && run_scenario(&scenarios[i], count) != 0)
            return 1;
    size_t hostile_scenario = sizeof scenarios / sizeof scenarios[0];
    if ((only < 0 || (size_t)only == hostile_scenario) && run_hostile(count / 20) != 0)
        return 1;
    return 0;
}
