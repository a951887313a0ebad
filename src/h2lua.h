/*
 * The embedding API of h2lua: everything a host program needs to run the
 * engine inside its own lua_State.
 */
#ifndef H2LUA_H
#define H2LUA_H

#include <lua.h>

/* Opens the engine as the module table "h2lua_core" (one per lua_State):
   pushes the table and returns 1. Its runtime is freed by lua_close(). */
int luaopen_h2lua_core(lua_State *L);

#endif
