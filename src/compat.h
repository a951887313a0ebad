/*
 * Version shims: the engine is written against libnghttp2 1.52 and Lua 5.4.4
 * names; newer releases renamed a few calls.
 */
#ifndef H2LUA_COMPAT_H
#define H2LUA_COMPAT_H

/* configure's findings (HAVE_LUA_CLOSETHREAD): every unit that includes
   this header sees them, not only main.c */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <lua.h>

#if LUA_VERSION_NUM < 504
#error "h2lua needs Lua 5.4"
#endif

/* lua_closethread replaced lua_resetthread in 5.4.6. */
#if defined(HAVE_LUA_CLOSETHREAD)
#define h2lua_closethread(L, from) lua_closethread((L), (from))
#else
#define h2lua_closethread(L, from) lua_resetthread(L)
#endif

#endif
