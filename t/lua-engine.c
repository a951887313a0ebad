/*
 * A plain Lua 5.4 interpreter with the engine linked in (preloaded as
 * h2lua_core): how the busted suite runs on a sanitizer build (make
 * check-asan), since an instrumented h2lua_core.so cannot be loaded into
 * the stock, uninstrumented lua5.4. Unlike the h2lua program, it runs the
 * script on the main thread with no loop after it, as lua5.4 does.
 *   lua-engine SCRIPT [ARGS]
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>

#include "h2lua.h"

static int traceback(lua_State *L) {
  luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SCRIPT [ARGS]\n", argv[0]);
    return 2;
  }
  lua_State *L = luaL_newstate();
  if (L == NULL) return 1;
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_h2lua_core);
  lua_setfield(L, -2, "h2lua_core");
  lua_pop(L, 1);
  lua_createtable(L, argc, 1); /* arg: the script at 0, its arguments from 1 */
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  lua_pushcfunction(L, traceback);
  int status = luaL_loadfile(L, argv[1]);
  if (status == LUA_OK) {
    for (int i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
    status = lua_pcall(L, argc - 2, 0, 1);
  }
  if (status != LUA_OK) fprintf(stderr, "lua-engine: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return status == LUA_OK ? 0 : 1;
}
