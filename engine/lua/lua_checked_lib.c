#include "lua/lua_checked_lib.h"

#include "lua/lua_string_pattern.h"
#include "lua/lua_sandbox.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* --- string.rep --- */

static int checked_rep(lua_State *L)
{
    size_t len = 0, sep_len = 0;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &sep_len);
    if (n <= 0 || len + sep_len == 0) { /* nothing to build, however large n is */
        lua_pushliteral(L, "");
        return 1;
    }
    /* total = len * n + sep_len * (n - 1), refused before it can overflow or allocate */
    size_t unit = len + sep_len;
    if ((lua_Unsigned)n > SIZE_MAX / unit || unit * (size_t)n - sep_len > (size_t)INT32_MAX * 8)
        return luaL_error(L, "string.rep: resulting string too large");
    size_t total = unit * (size_t)n - sep_len;
    lua_sandbox_reserve(L, total);
    lua_sandbox_charge(L, (long)((size_t)n / 8)); /* the bytes are charged as allocated */
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, total);
    for (lua_Integer i = 0; i < n; i++) {
        memcpy(p, s, len);
        p += len;
        if (sep_len && i + 1 < n) {
            memcpy(p, sep, sep_len);
            p += sep_len;
        }
    }
    luaL_pushresultsize(&b, total);
    return 1;
}

/* --- table functions: the same contracts as Lua 5.4's ltablib.c, with the work charged --- */

static lua_Integer checked_len(lua_State *L, int idx)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    return luaL_len(L, idx);
}

/* Elements from first to last, as a charge that cannot overflow. */
static long element_count(lua_Integer first, lua_Integer last)
{
    if (last < first)
        return 0;
    lua_Unsigned n = (lua_Unsigned)last - (lua_Unsigned)first + 1u;
    return n > (lua_Unsigned)LONG_MAX ? LONG_MAX : (long)n;
}

static int checked_insert(lua_State *L)
{
    lua_Integer end = checked_len(L, 1);
    end = (lua_Integer)((lua_Unsigned)end + 1u); /* first empty element */
    lua_Integer pos;
    switch (lua_gettop(L)) {
    case 2:
        pos = end;
        break;
    case 3:
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)end, 2, "position out of bounds");
        lua_sandbox_charge(L, element_count(pos, end));
        for (lua_Integer i = end; i > pos; i--) {
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i);
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos);
    return 0;
}

static int checked_remove(lua_State *L)
{
    lua_Integer size = checked_len(L, 1);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    if (pos != size)
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
    lua_sandbox_charge(L, element_count(pos, size));
    lua_geti(L, 1, pos);
    for (; pos < size; pos++) {
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

static int checked_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    lua_Integer t = luaL_checkinteger(L, 4);
    int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, tt, LUA_TTABLE);
    if (e >= f) {
        luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
        lua_Integer n = e - f + 1;
        luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
        lua_sandbox_charge(L, element_count(f, e));
        if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
            for (lua_Integer i = 0; i < n; i++) {
                lua_geti(L, 1, f + i);
                lua_seti(L, tt, t + i);
            }
        } else {
            for (lua_Integer i = n - 1; i >= 0; i--) {
                lua_geti(L, 1, f + i);
                lua_seti(L, tt, t + i);
            }
        }
    }
    lua_pushvalue(L, tt);
    return 1;
}

static int checked_concat(lua_State *L)
{
    lua_Integer last = checked_len(L, 1);
    size_t sep_len = 0;
    const char *sep = luaL_optlstring(L, 2, "", &sep_len);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    last = luaL_optinteger(L, 4, last);
    lua_sandbox_charge(L, element_count(i, last));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (; i <= last; i++) {
        lua_geti(L, 1, i);
        if (!lua_isstring(L, -1))
            return luaL_error(L, "invalid value (at index %I) in table for 'concat'",
                              (lua_Integer)i);
        luaL_addvalue(&b);
        if (i == last)
            break;
        luaL_addlstring(&b, sep, sep_len);
    }
    luaL_pushresult(&b);
    return 1;
}

static int checked_unpack(lua_State *L)
{
    lua_Integer i = luaL_optinteger(L, 2, 1);
    lua_Integer e = lua_isnoneornil(L, 3) ? luaL_len(L, 1) : luaL_checkinteger(L, 3);
    if (i > e)
        return 0;
    lua_Unsigned n = (lua_Unsigned)e - (lua_Unsigned)i;
    if (n >= (lua_Unsigned)INT_MAX || !lua_checkstack(L, (int)(++n)))
        return luaL_error(L, "too many results to unpack");
    lua_sandbox_charge(L, (long)n);
    for (; i < e; i++)
        lua_geti(L, 1, i);
    lua_geti(L, 1, e);
    return (int)n;
}

/* The comparison table.sort calls: two units per comparison (a comparison and the two element
 * reads around it), then the script's function (upvalue 1) or "<". */
static int charged_less(lua_State *L)
{
    lua_sandbox_charge(L, 2);
    if (lua_isnil(L, lua_upvalueindex(1))) {
        lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

/* table.sort(t [, comp]): Lua's own sort (upvalue 1), always given a charged comparison. */
static int checked_sort(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_pushcclosure(L, charged_less, 1); /* takes the comparison (or nil) as its upvalue */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 0);
    return 0;
}

/* --- utf8.len: reads the whole string without building anything --- */

static int checked_utf8_len(lua_State *L)
{
    size_t len = 0;
    luaL_checklstring(L, 1, &len);
    lua_sandbox_charge(L, (long)(len / 2)); /* it decodes each character: about 2 bytes a unit */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* --- xpcall --- */

/* The message handler xpcall installs: the script's handler (upvalue 1) for its own errors,
 * never for a kill (see the header). */
static int guarded_handler(lua_State *L)
{
    if (lua_sandbox_is_killed(L))
        return 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int finish_xpcall(lua_State *L, int status, lua_KContext extra)
{
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

/* xpcall(f, msgh, ...) as Lua's own (lbaselib.c), with msgh behind guarded_handler. */
static int checked_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, guarded_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_xpcall);
    return finish_xpcall(L, status, 2);
}

/* --- coroutine.close and coroutine.wrap --- */

static bool died_of_error(lua_State *co)
{
    int status = lua_status(co);
    return status != LUA_OK && status != LUA_YIELD;
}

static int checked_close(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    if (died_of_error(co)) { /* as Lua answers, without closing what the error left open */
        lua_pushboolean(L, 0);
        if (lua_gettop(co) > 0 && lua_checkstack(co, 1)) {
            lua_pushvalue(co, -1);
            lua_xmove(co, L, 1);
        } else {
            lua_pushliteral(L, "cannot close a coroutine that died of an error");
        }
        return 2;
    }
    lua_pushvalue(L, lua_upvalueindex(1)); /* Lua's own close, for the other states */
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* Lua's auxresume (lcorolib.c) with the budget armed in the coroutine: moves narg arguments to
 * co and resumes it; returns the number of results moved back, or -1 with the error on top. */
static int resume_charged(lua_State *L, lua_State *co, int narg)
{
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_sandbox_arm_coroutine(L, co);
    lua_xmove(L, co, narg);
    int nres = 0;
    int status = lua_resume(co, L, narg, &nres);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1); /* the error object; a dead coroutine is left as it is */
    return -1;
}

static int checked_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int r = resume_charged(L, co, lua_gettop(L) - 1);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

static int wrapped_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int r = resume_charged(L, co, lua_gettop(L));
    if (r >= 0)
        return r;
    int status = lua_status(co);
    if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int checked_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, wrapped_resume, 1);
    return 1;
}

static void replace_field(lua_State *L, int table, const char *name, lua_CFunction fn,
                          bool original_as_upvalue)
{
    if (original_as_upvalue) {
        lua_getfield(L, table, name);
        lua_pushcclosure(L, fn, 1);
    } else {
        lua_pushcfunction(L, fn);
    }
    lua_setfield(L, table, name);
}

void lua_checked_lib_install(lua_State *L, int template_index)
{
    int template = lua_absindex(L, template_index);
    replace_field(L, template, "xpcall", checked_xpcall, false);

    lua_getfield(L, template, "string");
    int string = lua_gettop(L);
    replace_field(L, string, "rep", checked_rep, false);
    lua_string_pattern_install(L, string);
    lua_pop(L, 1);

    lua_getfield(L, template, "table");
    int table = lua_gettop(L);
    replace_field(L, table, "insert", checked_insert, false);
    replace_field(L, table, "remove", checked_remove, false);
    replace_field(L, table, "move", checked_move, false);
    replace_field(L, table, "concat", checked_concat, false);
    replace_field(L, table, "unpack", checked_unpack, false);
    replace_field(L, table, "sort", checked_sort, true);
    lua_pop(L, 1);

    lua_getfield(L, template, "utf8");
    replace_field(L, lua_gettop(L), "len", checked_utf8_len, true);
    lua_pop(L, 1);

    lua_getfield(L, template, "coroutine");
    int coroutine = lua_gettop(L);
    replace_field(L, coroutine, "resume", checked_resume, false);
    replace_field(L, coroutine, "close", checked_close, true);
    replace_field(L, coroutine, "wrap", checked_wrap, false);
    lua_pop(L, 1);
}
