/*
 * The program's own Lua modules, loaded from the bytecode the build
 * compiled (`luac5.4`) when it is not older than the source beside it, so
 * start-up does not parse 150 KB of Lua each time. Program-only, like
 * alloc.c: the engine module (h2lua_core) knows nothing of it.
 */
#ifndef H2LUA_BYTECODE_H
#define H2LUA_BYTECODE_H

#include <lua.h>

/* Puts a searcher before Lua's own one in package.searchers that looks for
   module sources under |srcdir| and their bytecode under |bcdir| (the same
   relative path, ".luac" for ".lua"); either pair may be NULL. Modules
   found in neither are left to the other searchers. */
void h2lua_bytecode_searcher(lua_State *L, const char *srcdir, const char *bcdir,
                             const char *srcdir2, const char *bcdir2);

#endif
