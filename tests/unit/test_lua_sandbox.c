/* The sandbox: every escape hatch we know of must fail, every limit must stop the script, and the
 * state must keep working after each. */
#include "check.h"
#include "lua/lua_sandbox.h"

#include <lualib.h>
#include <stdlib.h>

static char lib_dir[4096];

/* Runs code in a fresh environment of sb; results stay on the stack when ok. */
static bool run_in(lua_sandbox *sb, const char *code, int nresults, char *err, size_t cap)
{
    lua_sandbox_push_env(sb);
    if (!lua_sandbox_load(sb, code, strlen(code), "t.lua", err, cap))
        return false;
    return lua_sandbox_call(sb, 0, nresults, "t.lua", err, cap);
}

/* Code that must fail; err receives the reason. */
static bool fails(lua_sandbox *sb, const char *code, char *err, size_t cap)
{
    return !run_in(sb, code, 0, err, cap);
}

/* Code that must return true. */
static bool holds(lua_sandbox *sb, const char *code)
{
    char err[512] = "";
    if (!run_in(sb, code, 1, err, sizeof err)) {
        fprintf(stderr, "  unexpected error: %s\n", err);
        return false;
    }
    lua_State *L = lua_sandbox_state(sb);
    bool value = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!value)
        fprintf(stderr, "  false: %s\n", code);
    return value;
}

static lua_sandbox *new_sandbox(long instructions, size_t memory)
{
    script_limits limits = {instructions, memory, 0};
    return lua_sandbox_new(&limits, lib_dir);
}

static void test_no_io_os_package_debug(void)
{
    lua_sandbox *sb = new_sandbox(0, 0);
    char err[512];
    CHECK(holds(sb, "return io == nil and package == nil and debug == nil"));
    CHECK(fails(sb, "io.open('/etc/passwd')", err, sizeof err));
    CHECK_CONTAINS(err, "t.lua:1:");
    CHECK(fails(sb, "os.execute('touch /tmp/er-sandbox-escape')", err, sizeof err));
    CHECK(fails(sb, "return os.getenv('HOME')", err, sizeof err));
    CHECK(fails(sb, "os.remove('/tmp/x')", err, sizeof err));
    CHECK(fails(sb, "os.exit(1)", err, sizeof err));
    CHECK(fails(sb, "package.loadlib('libc.so.6', 'system')", err, sizeof err));
    CHECK(fails(sb, "debug.getregistry()", err, sizeof err));
    CHECK(fails(sb, "dofile('/etc/passwd')", err, sizeof err));
    CHECK(fails(sb, "loadfile('/etc/passwd')", err, sizeof err));
    CHECK(holds(sb, "return type(os.time()) == 'number' and type(os.clock()) == 'number' and "
                    "type(os.date('%Y')) == 'string'"));
    lua_sandbox_free(sb);
}

static void test_require_only_lib_modules(void)
{
    lua_sandbox *sb = new_sandbox(0, 0);
    char err[512];
    CHECK(holds(sb, "return require('good').answer == 42"));
    CHECK(holds(sb, "return require('good') == require('good')")); /* cached */
    CHECK(fails(sb, "require('../secret')", err, sizeof err));
    CHECK_CONTAINS(err, "not a lib/ module name");
    CHECK(fails(sb, "require('..secret')", err, sizeof err));
    CHECK(fails(sb, "require('/etc/passwd')", err, sizeof err));
    CHECK(fails(sb, "require('lib/../../secret')", err, sizeof err));
    CHECK(fails(sb, "require('secret')", err, sizeof err)); /* exists, but outside lib/ */
    CHECK_CONTAINS(err, "cannot read");
    CHECK(fails(sb, "require('good\\0')", err, sizeof err));
    CHECK(fails(sb, "require('io')", err, sizeof err)); /* no standard modules either */
    lua_sandbox_free(sb);
}

static void test_no_bytecode(void)
{
    /* A real binary chunk, made outside the sandbox. */
    lua_State *plain = luaL_newstate();
    luaL_openlibs(plain);
    luaL_dostring(plain, "return string.dump(function() return 'escaped' end)");
    size_t len = 0;
    const char *bytecode = lua_tolstring(plain, -1, &len);
    CHECK(bytecode && len > 4 && bytecode[0] == '\x1b');

    lua_sandbox *sb = new_sandbox(0, 0);
    lua_State *L = lua_sandbox_state(sb);
    char err[512];
    CHECK(holds(sb, "return string.dump == nil and ('').dump == nil"));
    lua_sandbox_push_env(sb);
    lua_pushlstring(L, bytecode, len);
    lua_setfield(L, -2, "chunk");
    const char *code = "local f, e = load(chunk); return f == nil and e:find('binary') ~= nil";
    CHECK(lua_sandbox_load(sb, code, strlen(code), "t.lua", err, sizeof err));
    CHECK(lua_sandbox_call(sb, 0, 1, "t.lua", err, sizeof err));
    CHECK(lua_toboolean(L, -1));
    lua_pop(L, 1);
    lua_sandbox_push_env(sb);
    CHECK(!lua_sandbox_load(sb, bytecode, len, "bin.lua", err, sizeof err)); /* env popped */
    CHECK_CONTAINS(err, "binary");
    CHECK(lua_gettop(L) == 0);
    CHECK(holds(sb, "return load('return io')() == nil")); /* load sees the caller's env */
    CHECK(holds(sb, "x = 5; return load('return x')() == 5"));
    CHECK(holds(sb, "return load('return x', 'c', 't', {x = 7})() == 7"));
    CHECK(fails(sb, "load(function() return nil end)", err, sizeof err));
    CHECK_CONTAINS(err, "text only");
    lua_sandbox_free(sb);
    lua_close(plain);
}

static void test_no_way_to_shared_globals(void)
{
    lua_sandbox *sb = new_sandbox(0, 0);
    char err[512];
    CHECK(holds(sb, "return type(getmetatable('')) ~= 'table'"));
    CHECK(holds(sb, "return getmetatable('').__index == nil"));
    CHECK(fails(sb, "getmetatable('').__index.os.execute('true')", err, sizeof err));
    CHECK(fails(sb, "setmetatable('', {})", err, sizeof err));
    CHECK(holds(sb, "return _G == _ENV and rawget(_G, 'io') == nil and "
                    "rawget(_G, 'package') == nil and rawget(_G, 'debug') == nil and "
                    "rawget(_G, 'dofile') == nil and rawget(_G, '_LOADED') == nil"));
    CHECK(holds(sb, "for k, v in pairs(_G) do if k == 'io' or k == 'debug' or "
                    "k == 'package' or k == 'loadfile' then return false end end return true"));
    /* Globals, library tables and the shared string table: none leak between environments. */
    CHECK(holds(sb, "leak = 1; string.leak = 2; string.upper = nil; math.pi = 3; return true"));
    CHECK(holds(sb, "return leak == nil and string.leak == nil and ('x'):upper() == 'X' and "
                    "string.upper('y') == 'Y' and math.pi > 3.14"));
    CHECK(fails(sb, "('').leak = 1", err, sizeof err));
    /* No finalizers: they would run later, inside someone else's call. */
    CHECK(
        fails(sb, "setmetatable({}, {__gc = function() while true do end end})", err, sizeof err));
    CHECK_CONTAINS(err, "__gc");
    CHECK(holds(sb, "local t = setmetatable({}, {__index = {a = 1}}) return t.a == 1"));
    lua_sandbox_free(sb);
}

static void test_collectgarbage_count_only(void)
{
    lua_sandbox *sb = new_sandbox(0, 0);
    char err[512];
    CHECK(holds(sb, "return collectgarbage('count') > 0"));
    CHECK(fails(sb, "collectgarbage('stop')", err, sizeof err));
    CHECK_CONTAINS(err, "not allowed");
    CHECK(fails(sb, "collectgarbage()", err, sizeof err));
    CHECK(fails(sb, "collectgarbage('generational')", err, sizeof err));
    lua_sandbox_free(sb);
}

/* Each limit: the script fails with file:line and the reason, then ordinary code runs fine. */
static void check_killed(lua_sandbox *sb, const char *code, const char *reason)
{
    char err[512] = "";
    CHECK(fails(sb, code, err, sizeof err));
    CHECK_CONTAINS(err, "t.lua");
    if (!strstr(err, reason))
        fprintf(stderr, "  code: %s\n", code);
    CHECK_CONTAINS(err, reason);
    CHECK(lua_gettop(lua_sandbox_state(sb)) == 0);
    CHECK(holds(sb, "local s = 0; for i = 1, 1000 do s = s + i end; "
                    "return s == 500500 and #string.rep('x', 1000) == 1000"));
}

static void test_instruction_limit(void)
{
    lua_sandbox *sb = new_sandbox(100000, 0);
    check_killed(sb, "while true do end", "instruction limit");
    check_killed(sb, "while true do pcall(function() while true do end end) end",
                 "instruction limit");
    check_killed(sb, "for i = 1, 10 do pcall(function() while true do end end) end",
                 "instruction limit");
    check_killed(sb, "local co = coroutine.wrap(function() while true do end end); co()",
                 "instruction limit");
    check_killed(sb,
                 "while true do local co = coroutine.create(function() for i = 1, 900 do end "
                 "end); coroutine.resume(co) end",
                 "instruction limit");
    check_killed(sb,
                 "local ok = xpcall(function() while true do end end, function() end) "
                 "while not ok do end",
                 "instruction limit");
    char err[512];
    CHECK(fails(sb, "while true do end", err, sizeof err));
    CHECK_CONTAINS(err, "t.lua:1: instruction limit exceeded");
    lua_sandbox_free(sb);
}

/* The wall clock stops what the instruction count does not see as slow: here a budget of a
 * billion instructions, so only the clock can end these. */
static void test_time_limit(void)
{
    script_limits limits = {1000000000L, 0, 50};
    lua_sandbox *sb = lua_sandbox_new(&limits, lib_dir);
    char err[512];
    CHECK(fails(sb, "while true do end", err, sizeof err));
    CHECK_STR(err, "t.lua:1: time limit exceeded (50 ms)");
    CHECK(
        fails(sb, "local t = {}\nwhile true do pcall(table.sort, {3, 2, 1}) end", err, sizeof err));
    CHECK_CONTAINS(err, "t.lua:2: time limit exceeded");
    CHECK(fails(sb, "while true do pcall(function() while true do end end) end", err, sizeof err));
    CHECK_CONTAINS(err, "time limit exceeded");
    CHECK(holds(sb, "return #string.rep('x', 1000) == 1000"));
    lua_sandbox_free(sb);
}

static void test_memory_limit(void)
{
    lua_sandbox *sb = new_sandbox(100000000, 4 << 20);
    check_killed(sb, "local s = string.rep('x', 1 << 30)", "memory limit");
    check_killed(sb, "while true do pcall(string.rep, 'x', 1 << 30) end", "memory limit");
    check_killed(sb, "local s = 'xxxxxxxxxxxxxxxx' while true do s = s .. s end", "memory limit");
    check_killed(sb, "local ok = pcall(string.rep, 'x', 1 << 30) return ok", "memory limit");
    check_killed(sb, "local t = {} for i = 1, 1e9 do t[i] = {i} end", "memory limit");
    check_killed(sb, "local t = {} while true do pcall(function() t[#t + 1] = {} end) end",
                 "memory limit");
    CHECK(lua_sandbox_memory_used(sb) < (size_t)(2 << 20));
    lua_sandbox_free(sb);
}

static void test_stack_overflow(void)
{
    lua_sandbox *sb = new_sandbox(0, 0);
    char err[512];
    CHECK(fails(sb, "local function f(n) return 1 + f(n + 1) end f(1)", err, sizeof err));
    CHECK_CONTAINS(err, "t.lua:");
    CHECK(fails(sb, "local function f() return string.gsub('x', 'x', f) end f()", err, sizeof err));
    CHECK(holds(sb, "local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end "
                    "return f(1000) == 1000"));
    lua_sandbox_free(sb);
}

static void test_error_positions(void)
{
    lua_sandbox *sb = new_sandbox(0, 0);
    char err[512];
    CHECK(fails(sb, "local a = 1\nerror('boom')", err, sizeof err));
    CHECK_STR(err, "t.lua:2: boom");
    CHECK(fails(sb, "local a = 1\n\nerror('flat', 0)", err, sizeof err));
    CHECK_STR(err, "t.lua:3: flat");
    CHECK(fails(sb, "\nstring.rep()", err, sizeof err));
    CHECK_CONTAINS(err, "t.lua:2: bad argument #1 to 'rep'");
    CHECK(fails(sb, "error({})", err, sizeof err));
    CHECK_CONTAINS(err, "t.lua:1: (error object is a table value)");
    CHECK(!run_in(sb, "x = = 1", 0, err, sizeof err));
    CHECK_CONTAINS(err, "t.lua:1:");
    lua_sandbox_free(sb);
}

int main(void)
{
    const char *root = getenv("EVENT_ROUTER_SOURCE_DIR");
    snprintf(lib_dir, sizeof lib_dir, "%s/tests/scripts/sandbox/lib", root ? root : ".");
    RUN_TEST(test_no_io_os_package_debug);
    RUN_TEST(test_require_only_lib_modules);
    RUN_TEST(test_no_bytecode);
    RUN_TEST(test_no_way_to_shared_globals);
    RUN_TEST(test_collectgarbage_count_only);
    RUN_TEST(test_instruction_limit);
    RUN_TEST(test_time_limit);
    RUN_TEST(test_memory_limit);
    RUN_TEST(test_stack_overflow);
    RUN_TEST(test_error_positions);
    return CHECK_DONE();
}
