/* The script chain on real folders: the fixture chain in tests/scripts, and small folders written
 * per test into a temporary directory. */
#include "check.h"
#include "lua/script_chain.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char fixtures[4096];

static event *new_event(const char *type, const char *data)
{
    event *ev = event_new();
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", "42");
    event_set_attribute(ev, "source", "/vcenter");
    event_set_attribute(ev, "type", type);
    event_set_attribute(ev, "subject", "VmPoweredOnEvent");
    if (data)
        event_set_data(ev, data, strlen(data), true);
    return ev;
}

static const char *data_text(const event *ev)
{
    return ev->data ? (const char *)ev->data : "";
}

/* A temporary scripts folder; files are written with write_script. */
static void make_folder(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/er-chain-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

static void write_script(const char *dir, const char *name, const char *code)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen(path, "w");
    CHECK(file != NULL);
    if (file) {
        fputs(code, file);
        fclose(file);
    }
}

static void remove_folder(const char *dir)
{
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    CHECK(system(command) == 0);
}

static script_chain *load_fixture(const char *name)
{
    char dir[4200], err[512] = "";
    snprintf(dir, sizeof dir, "%s/%s", fixtures, name);
    script_chain *chain = script_chain_load(dir, NULL, err, sizeof err);
    if (!chain)
        fprintf(stderr, "  load failed: %s\n", err);
    return chain;
}

static void test_load_order_and_skipped_files(void)
{
    script_chain *chain = load_fixture("chain");
    CHECK(chain != NULL);
    if (!chain)
        return;
    CHECK(script_chain_count(chain) == 3);
    CHECK_STR(script_chain_name(chain, 0), "10-filter.lua");
    CHECK_STR(script_chain_name(chain, 1), "20-transform.lua");
    CHECK_STR(script_chain_name(chain, 2), "30-route.lua");
    CHECK(script_chain_name(chain, 3) == NULL);
    script_chain_free(chain);
}

static void test_filter_drops(void)
{
    script_chain *chain = load_fixture("chain");
    if (!chain)
        return;
    event *ev = new_event("noise", NULL);
    script_result result;
    CHECK(script_chain_run(chain, ev, &result) == SCRIPT_DROP);
    CHECK(result.verdict == SCRIPT_DROP);
    CHECK_STR(result.error, "");
    CHECK(result.error_script == NULL);
    CHECK(result.changed_mask == 0);
    script_result_clear(&result);
    event_unref(ev);
    script_chain_free(chain);
}

static void test_transform_and_route(void)
{
    script_chain *chain = load_fixture("chain");
    if (!chain)
        return;
    event *ev = new_event("transform", "{\"count\": 1, \"keep\": [], \"n\": null}");
    event_set_attribute(ev, "dropme", "x");
    event_set_attribute(ev, "other", "y");
    script_result result;
    CHECK(script_chain_run(chain, ev, &result) == SCRIPT_KEEP);
    CHECK_STR(result.error, "");
    CHECK_STR(event_get_attribute(ev, "subject"), "changed-VmPoweredOnEvent");
    CHECK_STR(event_get_attribute(ev, "enriched"), "enriched-1");
    CHECK(event_get_attribute(ev, "dropme") == NULL);
    CHECK_STR(event_get_attribute(ev, "other"), "y");
    /* Changed data keeps the original key order; new keys follow. */
    CHECK_STR(data_text(ev), "{\"count\":2,\"keep\":[],\"n\":null,\"calls\":1}");
    CHECK(result.route_count == 2);
    if (result.route_count == 2) {
        CHECK_STR(result.routes[0], "knative-a");
        CHECK_STR(result.routes[1], "knative-b");
    }
    CHECK(result.changed_mask == 0x6); /* 20-transform changed it, 30-route routed it */
    script_result_clear(&result);
    event_unref(ev);

    /* er.state survives between events. */
    ev = new_event("transform", "{\"count\": 10}");
    CHECK(script_chain_run(chain, ev, &result) == SCRIPT_KEEP);
    CHECK_STR(data_text(ev), "{\"count\":11,\"calls\":2}");
    script_result_clear(&result);
    event_unref(ev);
    script_chain_free(chain);
}

static void test_untouched_data_is_byte_identical(void)
{
    static const char *const payloads[] = {
        "{ \"b\": null, \"a\": [], \"n\": 1234567890123, \"f\": 1.50, \"o\": {} }",
        "[1, 2.0, null, {\"x\": []}]",
        "{\"n\":1234567890123,\"z\":{\"y\":[1,2.5,null]},\"e\":\"\\u00e9\"}",
    };
    script_chain *chain = load_fixture("chain");
    if (!chain)
        return;
    for (size_t i = 0; i < 3; i++) {
        /* "other": 30-route reads event.data (and routes when it has n), changes nothing in it */
        event *ev = new_event("other", payloads[i]);
        script_result result;
        CHECK(script_chain_run(chain, ev, &result) == SCRIPT_KEEP);
        CHECK_STR(data_text(ev), payloads[i]);
        CHECK(ev->data_len == strlen(payloads[i]));
        CHECK((result.changed_mask & 0x3) == 0);
        script_result_clear(&result);
        event_unref(ev);
    }
    script_chain_free(chain);
}

static void collect(void *user, const char *script, const char *name, double value)
{
    double *values = user;
    CHECK_STR(script, "10-filter.lua");
    if (strcmp(name, "dropped") == 0)
        values[0] = value;
    else if (strcmp(name, "seen") == 0)
        values[1] = value;
}

static void test_counters_and_errors(void)
{
    script_chain *chain = load_fixture("chain");
    if (!chain)
        return;
    script_result result;
    const char *types[] = {"noise", "noise", "a"};
    for (size_t i = 0; i < 3; i++) {
        event *ev = new_event(types[i], NULL);
        script_chain_run(chain, ev, &result);
        script_result_clear(&result);
        event_unref(ev);
    }
    double seen[2] = {0, 0}; /* dropped, seen */
    script_chain_each_counter(chain, collect, seen);
    CHECK(seen[0] == 2);
    CHECK(seen[1] == 1);
    CHECK(script_chain_errors(chain, 0) == 0);
    script_chain_free(chain);
}

static void test_load_failures(void)
{
    char err[512] = "";
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/syntax_error", fixtures);
    CHECK(script_chain_load(dir, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "20-broken.lua:3:");
    snprintf(dir, sizeof dir, "%s/no_process", fixtures);
    CHECK(script_chain_load(dir, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "10-nothing.lua: does not define a global function process");
    CHECK(script_chain_load("/nonexistent/scripts", NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "/nonexistent/scripts");

    char tmp[64];
    make_folder(tmp, sizeof tmp);
    write_script(tmp, "10-top-error.lua", "function process() end\n\nerror('at load')\n");
    CHECK(script_chain_load(tmp, NULL, err, sizeof err) == NULL);
    CHECK_STR(err, "10-top-error.lua:3: at load");
    write_script(tmp, "10-top-error.lua", "function process() end\non_error = 'ignore'\n");
    CHECK(script_chain_load(tmp, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "10-top-error.lua: on_error must be");
    write_script(tmp, "10-top-error.lua", "while true do end\n");
    CHECK(script_chain_load(tmp, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "10-top-error.lua:1: instruction limit exceeded");
    remove_folder(tmp);

    make_folder(tmp, sizeof tmp);
    script_chain *empty = script_chain_load(tmp, NULL, err, sizeof err);
    CHECK(empty != NULL && script_chain_count(empty) == 0);
    if (empty) {
        event *ev = new_event("a", NULL);
        script_result result;
        CHECK(script_chain_run(empty, ev, &result) == SCRIPT_KEEP);
        CHECK(result.routes == NULL);
        script_result_clear(&result);
        event_unref(ev);
        script_chain_free(empty);
    }
    remove_folder(tmp);
}

/* A runtime error under each policy: the event is left as the script found it. */
static void test_error_policies(void)
{
    static const struct {
        const char *policy;
        script_verdict verdict;
        bool later_script_runs;
    } cases[] = {
        {"", SCRIPT_DEADLETTER, false},
        {"on_error = 'deadletter'\n", SCRIPT_DEADLETTER, false},
        {"on_error = 'pass'\n", SCRIPT_KEEP, true},
        {"on_error = 'drop'\n", SCRIPT_DROP, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char tmp[64], code[512], err[512];
        make_folder(tmp, sizeof tmp);
        snprintf(code, sizeof code,
                 "%sfunction process(event)\n    event.subject = 'half-done'\n"
                 "    error('kaput')\nend\n",
                 cases[i].policy);
        write_script(tmp, "10-bad.lua", code);
        write_script(tmp, "20-after.lua",
                     "function process(event) event.extensions.after = 'yes' end\n");
        script_chain *chain = script_chain_load(tmp, NULL, err, sizeof err);
        CHECK(chain != NULL);
        if (!chain) {
            remove_folder(tmp);
            continue;
        }
        event *ev = new_event("a", "{\"k\":1}");
        script_result result;
        CHECK(script_chain_run(chain, ev, &result) == cases[i].verdict);
        char expected[64];
        snprintf(expected, sizeof expected, "10-bad.lua:%d: kaput", *cases[i].policy ? 4 : 3);
        CHECK_STR(result.error, expected);
        CHECK_STR(result.error_script, "10-bad.lua");
        CHECK_STR(event_get_attribute(ev, "subject"), "VmPoweredOnEvent");
        CHECK((event_get_attribute(ev, "after") != NULL) == cases[i].later_script_runs);
        CHECK(script_chain_errors(chain, 0) == 1);
        CHECK(script_chain_errors(chain, 1) == 0);
        script_result_clear(&result);
        event_unref(ev);
        script_chain_free(chain);
        remove_folder(tmp);
    }
}

/* Runs one script on a fresh event; returns the verdict, error in err. */
static script_verdict run_one(const char *code, event *ev, char *err, size_t cap, unsigned *changed)
{
    char tmp[64], load_err[512] = "";
    make_folder(tmp, sizeof tmp);
    write_script(tmp, "10-s.lua", code);
    script_chain *chain = script_chain_load(tmp, NULL, load_err, sizeof load_err);
    remove_folder(tmp);
    if (!chain) {
        snprintf(err, cap, "load: %s", load_err);
        return SCRIPT_DEADLETTER;
    }
    script_result result;
    script_verdict verdict = script_chain_run(chain, ev, &result);
    snprintf(err, cap, "%s", result.error);
    if (changed)
        *changed = result.changed_mask;
    script_result_clear(&result);
    script_chain_free(chain);
    return verdict;
}

static void test_invalid_changes(void)
{
    static const struct {
        const char *code;
        const char *message;
    } cases[] = {
        {"function process(e) e.id = nil end", "event.id is required"},
        {"function process(e) e.source = '' end", "event.source is required"},
        {"function process(e) e.subject = 5 end", "event.subject must be a string or nil"},
        {"function process(e) e.Foo = 'x' end", "event.Foo is not a CloudEvents attribute"},
        {"function process(e) e.extensions['Bad-Name'] = 'x' end", "invalid extension name"},
        {"function process(e) e.extensions.n = 1 end", "event.extensions.n must be a string"},
        {"function process(e) e.data = {f = print} end", "cannot encode a function"},
        {"function process(e) local t = {} t.t = t e.data = t end", "nested too deeply"},
        {"function process(e) e.data = {1, x = 2} end", "neither a JSON array nor an object"},
        {"function process(e) e.data = 0/0 end", "NaN"},
        {"function process(e) e.routes = {'a', 5} end", "event.routes[2]"},
        {"function process(e) e.routes = 'a' end", "event.routes must be nil or an array"},
        {"function process(e) er.route(e, '') end", "10-s.lua:1: bad argument #2 to 'route'"},
        /* Bytes that are not UTF-8 are refused where the script set them, not by a strict
         * receiver at delivery (regression: they reached the processor). */
        {"function process(e) e.subject = 'vm\\xff' end", "event.subject is not valid UTF-8"},
        {"function process(e) e.extensions.tag = '\\xc3\\x28' end",
         "event.extensions.tag is not valid UTF-8"},
        {"function process(e) e.data = {name = 'a\\xed\\xa0\\x80'} end",
         "a string that is not valid UTF-8"},
        {"function process(e) e.data = {['k\\xfe'] = 1} end", "member name is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        event *ev = new_event("a", "{\"k\":1}");
        event_set_attribute(ev, "keep", "1");
        char err[512];
        CHECK(run_one(cases[i].code, ev, err, sizeof err, NULL) == SCRIPT_DEADLETTER);
        CHECK_CONTAINS(err, "10-s.lua");
        CHECK_CONTAINS(err, cases[i].message);
        CHECK_STR(event_get_attribute(ev, "id"), "42");
        CHECK_STR(event_get_attribute(ev, "subject"), "VmPoweredOnEvent");
        CHECK_STR(event_get_attribute(ev, "keep"), "1");
        CHECK_STR(data_text(ev), "{\"k\":1}");
        event_unref(ev);
    }
}

static void test_attribute_and_data_round_trip(void)
{
    event *ev = new_event("a", "{\"k\":1,\"list\":[1,2],\"big\":1234567890123}");
    event_set_attribute(ev, "ext1", "one");
    char err[512];
    unsigned changed = 0;
    CHECK(run_one("function process(e)\n"
                  "  e.subject = nil; e.time = '2026-11-25T18:00:00Z'\n"
                  "  e.dataschema = 'https://example.com/s'\n"
                  "  local ext = e.extensions; ext.ext2 = ext.ext1 .. '+two'; ext.ext1 = nil\n"
                  "  e.data.list[#e.data.list + 1] = er.json.null\n"
                  "  e.data.empty = er.json.array({}); e.data.obj = {}\n"
                  "  e.data.big = e.data.big + 1\n"
                  "end\n",
                  ev, err, sizeof err, &changed) == SCRIPT_KEEP);
    CHECK_STR(err, "");
    CHECK(changed == 1);
    CHECK(event_get_attribute(ev, "subject") == NULL);
    CHECK_STR(event_get_attribute(ev, "time"), "2026-11-25T18:00:00Z");
    CHECK_STR(event_get_attribute(ev, "dataschema"), "https://example.com/s");
    CHECK(event_get_attribute(ev, "ext1") == NULL);
    CHECK_STR(event_get_attribute(ev, "ext2"), "one+two");
    CHECK_STR(data_text(ev),
              "{\"k\":1,\"list\":[1,2,null],\"big\":1234567890124,\"empty\":[],\"obj\":{}}");
    CHECK(ev->data_json != NULL);
    event_unref(ev);

    /* Integers beyond double's 15 digits survive a change and a later script. */
    ev = new_event("a", "{\"k\":1}");
    char tmp[64], load_err[512];
    make_folder(tmp, sizeof tmp);
    write_script(tmp, "10-a.lua", "function process(e) e.data.k = 1234567890123456789 end");
    write_script(tmp, "20-b.lua", "function process(e) e.data.k = e.data.k + 1 end");
    script_chain *chain = script_chain_load(tmp, NULL, load_err, sizeof load_err);
    remove_folder(tmp);
    CHECK(chain != NULL);
    if (chain) {
        script_result result;
        CHECK(script_chain_run(chain, ev, &result) == SCRIPT_KEEP);
        CHECK_STR(data_text(ev), "{\"k\":1234567890123456790}");
        script_result_clear(&result);
        script_chain_free(chain);
    }
    event_unref(ev);

    /* Non-JSON data is a string; replacing it keeps it raw. */
    ev = new_event("a", NULL);
    event_set_attribute(ev, "datacontenttype", "text/plain");
    event_set_data(ev, "hello", 5, false);
    CHECK(run_one("function process(e) e.data = e.data .. ' world' end", ev, err, sizeof err,
                  &changed) == SCRIPT_KEEP);
    CHECK_STR(data_text(ev), "hello world");
    CHECK(ev->data_json == NULL);
    event_unref(ev);

    /* Removing data; a read that changes nothing is no change. */
    ev = new_event("a", "{\"k\":1}");
    CHECK(run_one("function process(e) local _ = e.data.k end", ev, err, sizeof err, &changed) ==
          SCRIPT_KEEP);
    CHECK(changed == 0);
    CHECK(run_one("function process(e) e.data = nil end", ev, err, sizeof err, &changed) ==
          SCRIPT_KEEP);
    CHECK(changed == 1);
    CHECK(ev->data == NULL && ev->data_len == 0 && ev->data_json == NULL);
    event_unref(ev);
}

static void test_routes(void)
{
    event *ev = new_event("a", NULL);
    char tmp[64], err[512];
    make_folder(tmp, sizeof tmp);
    write_script(tmp, "10-a.lua", "function process(e) er.route(e, 'p1') end");
    write_script(tmp, "20-b.lua",
                 "function process(e) assert(#e.routes == 1) er.route(e, 'p2', 'p3') end");
    write_script(tmp, "30-c.lua",
                 "function process(e) if e.type == 'none' then e.routes = {} "
                 "elseif e.type == 'all' then e.routes = nil end end");
    script_chain *chain = script_chain_load(tmp, NULL, err, sizeof err);
    remove_folder(tmp);
    CHECK(chain != NULL);
    if (!chain) {
        event_unref(ev);
        return;
    }
    script_result result;
    CHECK(script_chain_run(chain, ev, &result) == SCRIPT_KEEP);
    CHECK_STR(result.error, "");
    CHECK(result.route_count == 3);
    if (result.route_count == 3) {
        CHECK_STR(result.routes[0], "p1");
        CHECK_STR(result.routes[2], "p3");
    }
    CHECK(result.changed_mask == 0x3);
    script_result_clear(&result);
    event_set_attribute(ev, "type", "none");
    script_chain_run(chain, ev, &result);
    CHECK(result.routes != NULL && result.route_count == 0);
    script_result_clear(&result);
    event_set_attribute(ev, "type", "all");
    script_chain_run(chain, ev, &result);
    CHECK(result.routes == NULL);
    script_result_clear(&result);
    event_unref(ev);
    script_chain_free(chain);
}

/* Limits inside a chain: the event that trips them fails, the next one on the same chain runs. */
/* After a plain attribute change the next script gets the same (reused) event table: it must see
 * the change, a fresh extensions table, the same keys through pairs, and a value set back to the
 * original must still count as a change. */
static void test_reused_table_between_scripts(void)
{
    char tmp[64];
    make_folder(tmp, sizeof tmp);
    write_script(tmp, "10-rename.lua", "function process(e) e.subject = 'renamed' end\n");
    write_script(tmp, "20-look.lua",
                 "function process(e)\n"
                 "  local keys = 0\n"
                 "  for k in pairs(e) do keys = keys + 1 end\n"
                 "  e.extensions.seen = e.subject .. ':' .. keys\n"
                 "end\n");
    write_script(tmp, "30-back.lua", "function process(e) e.subject = 'VmPoweredOnEvent' end\n");
    char err[512] = "";
    script_chain *chain = script_chain_load(tmp, NULL, err, sizeof err);
    CHECK(chain != NULL);
    if (chain) {
        for (int round = 0; round < 3; round++) {
            event *ev = new_event("reuse", "{\"a\": 1}");
            script_result result;
            CHECK(script_chain_run(chain, ev, &result) == SCRIPT_KEEP);
            const char *seen = event_get_attribute(ev, "seen");
            CHECK(seen && strncmp(seen, "renamed:", 8) == 0);
            CHECK_STR(event_get_attribute(ev, "subject"), "VmPoweredOnEvent");
            CHECK(result.changed_mask == 0x7); /* setting the original value back is a change */
            script_result_clear(&result);
            event_unref(ev);
        }
        script_chain_free(chain);
    }
    remove_folder(tmp);
}

static void test_limits_keep_the_chain_working(void)
{
    char tmp[64], err[512];
    make_folder(tmp, sizeof tmp);
    write_script(tmp, "10-evil.lua",
                 "function process(e)\n"
                 "  if e.type == 'loop' then while true do end end\n"
                 "  if e.type == 'pcall' then while true do pcall(function() while true do end "
                 "end) end end\n"
                 "  if e.type == 'rep' then local s = string.rep('x', 1 << 30) end\n"
                 "  if e.type == 'table' then local t = {} for i = 1, 1e8 do t[i] = {} end end\n"
                 "  if e.type == 'deep' then local function f() return 1 + f() end f() end\n"
                 "  if e.type == 'keep' then er.state.kept = e end\n"
                 "  if e.type == 'stale' then return er.state.kept.data end\n"
                 "end\n");
    write_script(tmp, "20-mark.lua", "function process(e) e.extensions.marked = 'yes' end\n");
    script_limits limits = {10000000, 16 << 20, 60000};
    script_chain *chain = script_chain_load(tmp, &limits, err, sizeof err);
    remove_folder(tmp);
    CHECK(chain != NULL);
    if (!chain)
        return;
    static const struct {
        const char *type;
        const char *message;
    } cases[] = {
        {"loop", "10-evil.lua:2: instruction limit exceeded"},
        {"pcall", "10-evil.lua:3: instruction limit exceeded"},
        {"rep", "memory limit exceeded"},
        {"table", "memory limit exceeded"},
        {"deep", "10-evil.lua"}, /* stack overflow or memory, whichever comes first */
        {"stale", "no longer live"},
    };
    script_result result;
    event *keep = new_event("keep", NULL);
    CHECK(script_chain_run(chain, keep, &result) == SCRIPT_KEEP);
    script_result_clear(&result);
    event_unref(keep);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        event *ev = new_event(cases[i].type, "{\"a\":1}");
        CHECK(script_chain_run(chain, ev, &result) == SCRIPT_DEADLETTER);
        CHECK_CONTAINS(result.error, cases[i].message);
        CHECK_CONTAINS(result.error, "10-evil.lua");
        CHECK(event_get_attribute(ev, "marked") == NULL);
        script_result_clear(&result);
        event_unref(ev);

        ev = new_event("fine", NULL);
        CHECK(script_chain_run(chain, ev, &result) == SCRIPT_KEEP);
        CHECK_STR(result.error, "");
        CHECK_STR(event_get_attribute(ev, "marked"), "yes");
        script_result_clear(&result);
        event_unref(ev);
    }
    CHECK(script_chain_errors(chain, 0) == 6);
    script_chain_free(chain);
}

static void test_scripts_are_isolated(void)
{
    char tmp[64], err[512];
    make_folder(tmp, sizeof tmp);
    mkdir(strcat(strcpy(err, tmp), "/lib"), 0700);
    write_script(tmp, "lib/shared.lua", "local M = {hits = 0} return M");
    write_script(tmp, "10-a.lua",
                 "leaked = 'from a'; string.evil = true; er.state.mine = 'a'\n"
                 "local shared = require 'shared'\n"
                 "function process(e) shared.hits = shared.hits + 1; er.counter('n', 2) end\n");
    write_script(tmp, "20-b.lua",
                 "local shared = require 'shared'\n"
                 "function process(e)\n"
                 "  assert(leaked == nil, 'global leaked')\n"
                 "  assert(string.evil == nil, 'string table shared')\n"
                 "  assert(er.state.mine == nil, 'state shared')\n"
                 "  assert(er.script == '20-b.lua')\n"
                 "  e.extensions.hits = tostring(shared.hits)\n"
                 "end\n");
    script_chain *chain = script_chain_load(tmp, NULL, err, sizeof err);
    remove_folder(tmp);
    CHECK(chain != NULL);
    if (!chain) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    event *ev = new_event("a", NULL);
    script_result result;
    CHECK(script_chain_run(chain, ev, &result) == SCRIPT_KEEP);
    CHECK_STR(result.error, "");
    CHECK_STR(event_get_attribute(ev, "hits"), "1"); /* modules are shared, cached per state */
    script_result_clear(&result);
    event_unref(ev);
    script_chain_free(chain);
}

int main(void)
{
    const char *root = getenv("EVENT_ROUTER_SOURCE_DIR");
    snprintf(fixtures, sizeof fixtures, "%s/tests/scripts", root ? root : ".");
    RUN_TEST(test_load_order_and_skipped_files);
    RUN_TEST(test_filter_drops);
    RUN_TEST(test_transform_and_route);
    RUN_TEST(test_untouched_data_is_byte_identical);
    RUN_TEST(test_counters_and_errors);
    RUN_TEST(test_load_failures);
    RUN_TEST(test_error_policies);
    RUN_TEST(test_invalid_changes);
    RUN_TEST(test_attribute_and_data_round_trip);
    RUN_TEST(test_routes);
    RUN_TEST(test_reused_table_between_scripts);
    RUN_TEST(test_limits_keep_the_chain_working);
    RUN_TEST(test_scripts_are_isolated);
    return CHECK_DONE();
}
