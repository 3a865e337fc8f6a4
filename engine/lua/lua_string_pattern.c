#include "lua/lua_string_pattern.h"

#include "lua/lua_sandbox.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stddef.h>
#include <string.h>

#define PATTERN_ESCAPE '%'
#define PATTERN_SPECIALS "^$*+?.([%-"
#define PATTERN_MAX_CAPTURES 32
#define PATTERN_MAX_DEPTH 200 /* recursion of the matcher, as Lua's MAXCCALLS */
#define PATTERN_CHARGE_STEPS 1024
#define CAPTURE_UNFINISHED (-1)
#define CAPTURE_POSITION (-2)

typedef struct match_state {
    const char *src_init, *src_end, *p_end;
    lua_State *L;
    int depth_left;
    long steps; /* not yet charged */
    unsigned char level;
    struct {
        const char *init;
        ptrdiff_t len;
    } capture[PATTERN_MAX_CAPTURES];
} match_state;

static void count_step(match_state *ms)
{
    if (++ms->steps >= PATTERN_CHARGE_STEPS) {
        long steps = ms->steps;
        ms->steps = 0;
        lua_sandbox_charge(ms->L, steps);
    }
}

static void charge_rest(match_state *ms)
{
    long steps = ms->steps;
    ms->steps = 0;
    if (steps)
        lua_sandbox_charge(ms->L, steps);
}

static const char *match(match_state *ms, const char *s, const char *p);

static int check_capture(match_state *ms, int l)
{
    l -= '1';
    if (l < 0 || l >= ms->level || ms->capture[l].len == CAPTURE_UNFINISHED)
        return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    return l;
}

static int capture_to_close(match_state *ms)
{
    int level = ms->level;
    for (level--; level >= 0; level--)
        if (ms->capture[level].len == CAPTURE_UNFINISHED)
            return level;
    return luaL_error(ms->L, "invalid pattern capture");
}

static const char *class_end(match_state *ms, const char *p)
{
    switch (*p++) {
    case PATTERN_ESCAPE:
        if (p == ms->p_end)
            luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    case '[':
        if (*p == '^')
            p++;
        do {
            if (p == ms->p_end)
                luaL_error(ms->L, "malformed pattern (missing ']')");
            if (*(p++) == PATTERN_ESCAPE && p < ms->p_end)
                p++;
        } while (*p != ']');
        return p + 1;
    default:
        return p;
    }
}

static int match_class(int c, int cl)
{
    int res;
    switch (tolower(cl)) {
    case 'a':
        res = isalpha(c);
        break;
    case 'c':
        res = iscntrl(c);
        break;
    case 'd':
        res = isdigit(c);
        break;
    case 'g':
        res = isgraph(c);
        break;
    case 'l':
        res = islower(c);
        break;
    case 'p':
        res = ispunct(c);
        break;
    case 's':
        res = isspace(c);
        break;
    case 'u':
        res = isupper(c);
        break;
    case 'w':
        res = isalnum(c);
        break;
    case 'x':
        res = isxdigit(c);
        break;
    default:
        return cl == c;
    }
    if (isupper(cl))
        res = !res;
    return res;
}

static int match_bracket_class(int c, const char *p, const char *ec)
{
    int sig = 1;
    if (*(p + 1) == '^') {
        sig = 0;
        p++;
    }
    while (++p < ec) {
        if (*p == PATTERN_ESCAPE) {
            p++;
            if (match_class(c, (unsigned char)*p))
                return sig;
        } else if (*(p + 1) == '-' && p + 2 < ec) {
            p += 2;
            if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p)
                return sig;
        } else if ((unsigned char)*p == c) {
            return sig;
        }
    }
    return !sig;
}

static int single_match(match_state *ms, const char *s, const char *p, const char *ep)
{
    if (s >= ms->src_end)
        return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.':
        return 1;
    case PATTERN_ESCAPE:
        return match_class(c, (unsigned char)*(p + 1));
    case '[':
        return match_bracket_class(c, p, ep - 1);
    default:
        return (unsigned char)*p == c;
    }
}

static const char *match_balance(match_state *ms, const char *s, const char *p)
{
    if (p >= ms->p_end - 1)
        luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    if (*s != *p)
        return NULL;
    int b = *p, e = *(p + 1), open = 1;
    while (++s < ms->src_end) {
        count_step(ms);
        if (*s == e) {
            if (--open == 0)
                return s + 1;
        } else if (*s == b) {
            open++;
        }
    }
    return NULL;
}

static const char *max_expand(match_state *ms, const char *s, const char *p, const char *ep)
{
    ptrdiff_t i = 0;
    while (single_match(ms, s + i, p, ep)) {
        count_step(ms);
        i++;
    }
    for (; i >= 0; i--) { /* match() counts each try */
        const char *res = match(ms, s + i, ep + 1);
        if (res)
            return res;
    }
    return NULL;
}

static const char *min_expand(match_state *ms, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *res = match(ms, s, ep + 1);
        if (res)
            return res;
        if (!single_match(ms, s, p, ep))
            return NULL;
        s++;
    }
}

static const char *start_capture(match_state *ms, const char *s, const char *p, int what)
{
    int level = ms->level;
    if (level >= PATTERN_MAX_CAPTURES)
        luaL_error(ms->L, "too many captures");
    ms->capture[level].init = s;
    ms->capture[level].len = what;
    ms->level = (unsigned char)(level + 1);
    const char *res = match(ms, s, p);
    if (!res)
        ms->level--;
    return res;
}

static const char *end_capture(match_state *ms, const char *s, const char *p)
{
    int l = capture_to_close(ms);
    ms->capture[l].len = s - ms->capture[l].init;
    const char *res = match(ms, s, p);
    if (!res)
        ms->capture[l].len = CAPTURE_UNFINISHED;
    return res;
}

static const char *match_capture(match_state *ms, const char *s, int l)
{
    l = check_capture(ms, l);
    size_t len = (size_t)ms->capture[l].len;
    if ((size_t)(ms->src_end - s) >= len && memcmp(ms->capture[l].init, s, len) == 0)
        return s + len;
    return NULL;
}

static const char *match(match_state *ms, const char *s, const char *p)
{
    if (ms->depth_left-- == 0)
        luaL_error(ms->L, "pattern too complex");
again:
    count_step(ms);
    if (p != ms->p_end) {
        switch (*p) {
        case '(':
            if (*(p + 1) == ')')
                s = start_capture(ms, s, p + 2, CAPTURE_POSITION);
            else
                s = start_capture(ms, s, p + 1, CAPTURE_UNFINISHED);
            break;
        case ')':
            s = end_capture(ms, s, p + 1);
            break;
        case '$':
            if (p + 1 != ms->p_end)
                goto single;
            s = s == ms->src_end ? s : NULL;
            break;
        case PATTERN_ESCAPE:
            switch (*(p + 1)) {
            case 'b':
                s = match_balance(ms, s, p + 2);
                if (s) {
                    p += 4;
                    goto again;
                }
                break;
            case 'f': {
                p += 2;
                if (*p != '[')
                    luaL_error(ms->L, "missing '[' after '%%f' in pattern");
                const char *ep = class_end(ms, p);
                char previous = s == ms->src_init ? '\0' : *(s - 1);
                char current = s < ms->src_end ? *s : '\0';
                if (!match_bracket_class((unsigned char)previous, p, ep - 1) &&
                    match_bracket_class((unsigned char)current, p, ep - 1)) {
                    p = ep;
                    goto again;
                }
                s = NULL;
                break;
            }
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9':
                s = match_capture(ms, s, (unsigned char)*(p + 1));
                if (s) {
                    p += 2;
                    goto again;
                }
                break;
            default:
                goto single;
            }
            break;
        default:
        single : {
            const char *ep = class_end(ms, p);
            if (!single_match(ms, s, p, ep)) {
                if (*ep == '*' || *ep == '?' || *ep == '-') {
                    p = ep + 1;
                    goto again;
                }
                s = NULL;
            } else {
                switch (*ep) {
                case '?': {
                    const char *res = match(ms, s + 1, ep + 1);
                    if (res) {
                        s = res;
                    } else {
                        p = ep + 1;
                        goto again;
                    }
                    break;
                }
                case '+':
                    s = max_expand(ms, s + 1, p, ep);
                    break;
                case '*':
                    s = max_expand(ms, s, p, ep);
                    break;
                case '-':
                    s = min_expand(ms, s, p, ep);
                    break;
                default:
                    s++;
                    p = ep;
                    goto again;
                }
            }
            break;
        }
        }
    }
    ms->depth_left++;
    return s;
}

static ptrdiff_t get_one_capture(match_state *ms, int i, const char *s, const char *e,
                                 const char **cap)
{
    if (i >= ms->level) {
        if (i != 0)
            luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        *cap = s;
        return e - s;
    }
    ptrdiff_t len = ms->capture[i].len;
    *cap = ms->capture[i].init;
    if (len == CAPTURE_UNFINISHED)
        luaL_error(ms->L, "unfinished capture");
    else if (len == CAPTURE_POSITION)
        lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
    return len;
}

static void push_one_capture(match_state *ms, int i, const char *s, const char *e)
{
    const char *cap;
    ptrdiff_t len = get_one_capture(ms, i, s, e, &cap);
    if (len != CAPTURE_POSITION)
        lua_pushlstring(ms->L, cap, (size_t)len);
}

static int push_captures(match_state *ms, const char *s, const char *e)
{
    int levels = (ms->level == 0 && s) ? 1 : ms->level;
    luaL_checkstack(ms->L, levels, "too many captures");
    for (int i = 0; i < levels; i++)
        push_one_capture(ms, i, s, e);
    return levels;
}

static int has_no_specials(const char *p, size_t len)
{
    size_t upto = 0;
    do {
        if (strpbrk(p + upto, PATTERN_SPECIALS))
            return 0;
        upto += strlen(p + upto) + 1; /* a pattern may hold NULs */
    } while (upto <= len);
    return 1;
}

static void prepare_state(match_state *ms, lua_State *L, const char *s, size_t ls, const char *p,
                          size_t lp)
{
    ms->L = L;
    ms->src_init = s;
    ms->src_end = s + ls;
    ms->p_end = p + lp;
    ms->steps = 0;
}

static void reprepare_state(match_state *ms)
{
    ms->level = 0;
    ms->depth_left = PATTERN_MAX_DEPTH;
}

static size_t relative_start(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static int find_or_match(lua_State *L, int find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = relative_start(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || has_no_specials(p, lp))) {
        lua_sandbox_charge(L, (long)((ls - init) / 64 + 1));
        const char *found = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
        if (found) {
            lua_pushinteger(L, (found - s) + 1);
            lua_pushinteger(L, (lua_Integer)((size_t)(found - s) + lp));
            return 2;
        }
        luaL_pushfail(L);
        return 1;
    }
    match_state ms;
    const char *s1 = s + init;
    int anchor = *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    prepare_state(&ms, L, s, ls, p, lp);
    do {
        reprepare_state(&ms);
        const char *res = match(&ms, s1, p);
        if (res) {
            charge_rest(&ms);
            if (find) {
                lua_pushinteger(L, (s1 - s) + 1);
                lua_pushinteger(L, res - s);
                return push_captures(&ms, NULL, 0) + 2;
            }
            return push_captures(&ms, s1, res);
        }
    } while (s1++ < ms.src_end && !anchor);
    charge_rest(&ms);
    luaL_pushfail(L);
    return 1;
}

static int pattern_find(lua_State *L)
{
    return find_or_match(L, 1);
}

static int pattern_match(lua_State *L)
{
    return find_or_match(L, 0);
}

typedef struct gmatch_state {
    const char *src, *p, *last_match;
    match_state ms;
} gmatch_state;

static int gmatch_next(lua_State *L)
{
    gmatch_state *gm = lua_touserdata(L, lua_upvalueindex(3));
    gm->ms.L = L;
    for (const char *src = gm->src; src <= gm->ms.src_end; src++) {
        reprepare_state(&gm->ms);
        const char *e = match(&gm->ms, src, gm->p);
        if (e && e != gm->last_match) {
            gm->src = gm->last_match = e;
            charge_rest(&gm->ms);
            return push_captures(&gm->ms, src, e);
        }
    }
    charge_rest(&gm->ms);
    return 0;
}

static int pattern_gmatch(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = relative_start(luaL_optinteger(L, 3, 1), ls) - 1;
    lua_settop(L, 2); /* the strings stay alive as upvalues of the iterator */
    gmatch_state *gm = lua_newuserdatauv(L, sizeof *gm, 0);
    if (init > ls)
        init = ls + 1;
    prepare_state(&gm->ms, L, s, ls, p, lp);
    gm->src = s + init;
    gm->p = p;
    gm->last_match = NULL;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

static void add_replacement_string(match_state *ms, luaL_Buffer *b, const char *s, const char *e)
{
    size_t l;
    lua_State *L = ms->L;
    const char *news = lua_tolstring(L, 3, &l);
    const char *p;
    while ((p = memchr(news, PATTERN_ESCAPE, l)) != NULL) {
        luaL_addlstring(b, news, (size_t)(p - news));
        p++;
        if (*p == PATTERN_ESCAPE) {
            luaL_addchar(b, *p);
        } else if (*p == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)*p)) {
            const char *cap;
            ptrdiff_t len = get_one_capture(ms, *p - '1', s, e, &cap);
            if (len == CAPTURE_POSITION)
                luaL_addvalue(b);
            else
                luaL_addlstring(b, cap, (size_t)len);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", PATTERN_ESCAPE);
        }
        l -= (size_t)(p + 1 - news);
        news = p + 1;
    }
    luaL_addlstring(b, news, l);
}

static int add_replacement(match_state *ms, luaL_Buffer *b, const char *s, const char *e, int tr)
{
    lua_State *L = ms->L;
    switch (tr) {
    case LUA_TFUNCTION: {
        lua_pushvalue(L, 3);
        int n = push_captures(ms, s, e);
        lua_call(L, n, 1);
        break;
    }
    case LUA_TTABLE:
        push_one_capture(ms, 0, s, e);
        lua_gettable(L, 3);
        break;
    default:
        add_replacement_string(ms, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

static int pattern_gsub(lua_State *L)
{
    size_t srcl, lp;
    const char *src = luaL_checklstring(L, 1, &srcl);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *last_match = NULL;
    int tr = lua_type(L, 3);
    lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1);
    int anchor = *p == '^';
    lua_Integer n = 0;
    int changed = 0;
    luaL_argexpected(
        L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
        "string/function/table");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (anchor) {
        p++;
        lp--;
    }
    match_state ms;
    prepare_state(&ms, L, src, srcl, p, lp);
    while (n < max_s) {
        reprepare_state(&ms);
        const char *e = match(&ms, src, p);
        if (e && e != last_match) {
            n++;
            changed = add_replacement(&ms, &b, src, e, tr) | changed;
            src = last_match = e;
        } else if (src < ms.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    charge_rest(&ms);
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void lua_string_pattern_install(lua_State *L, int string_index)
{
    int string = lua_absindex(L, string_index);
    static const luaL_Reg functions[] = {{"find", pattern_find},
                                         {"match", pattern_match},
                                         {"gmatch", pattern_gmatch},
                                         {"gsub", pattern_gsub},
                                         {NULL, NULL}};
    for (const luaL_Reg *f = functions; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, string, f->name);
    }
}
