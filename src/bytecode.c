#include "bytecode.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Upvalues: srcdir, bcdir, srcdir2, bcdir2 (strings or nil). */
static int search(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  char rel[512];
  size_t n = strlen(name);
  if (n + 12 > sizeof(rel)) return 0;
  for (size_t i = 0; i <= n; i++) rel[i] = name[i] == '.' ? '/' : name[i];
  for (int pair = 0; pair < 2; pair++) {
    const char *src = lua_tostring(L, lua_upvalueindex(2 * pair + 1));
    const char *bc = lua_tostring(L, lua_upvalueindex(2 * pair + 2));
    if (src == NULL) continue;
    char srcpath[1024], bcpath[1024];
    struct stat s, b;
    snprintf(srcpath, sizeof(srcpath), "%s/%s.lua", src, rel);
    if (stat(srcpath, &s) != 0) continue;
    const char *path = srcpath;
    if (bc) {
      snprintf(bcpath, sizeof(bcpath), "%s/%s.luac", bc, rel);
      /* a source edited after the build wins over its stale bytecode */
      if (stat(bcpath, &b) == 0 &&
          (b.st_mtim.tv_sec > s.st_mtim.tv_sec ||
           (b.st_mtim.tv_sec == s.st_mtim.tv_sec && b.st_mtim.tv_nsec >= s.st_mtim.tv_nsec)))
        path = bcpath;
    }
    if (luaL_loadfilex(L, path, path == bcpath ? "b" : "t") != LUA_OK) {
      if (path == bcpath) { /* unreadable bytecode: the source then */
        lua_pop(L, 1);
        path = srcpath;
        if (luaL_loadfilex(L, srcpath, "t") == LUA_OK) goto loaded;
      }
      return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s",
                        name, path, lua_tostring(L, -1));
    }
  loaded:
    lua_pushstring(L, srcpath); /* the loader's second argument, as Lua's */
    return 2;
  }
  return 0; /* not ours: the next searcher says "no file ..." */
}

void h2lua_bytecode_searcher(lua_State *L, const char *srcdir, const char *bcdir,
                             const char *srcdir2, const char *bcdir2) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  lua_Integer len = (lua_Integer)luaL_len(L, -1);
  for (lua_Integer i = len; i >= 2; i--) { /* make room at 2 */
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  const char *dirs[4] = {srcdir, bcdir, srcdir2, bcdir2};
  for (int i = 0; i < 4; i++) {
    if (dirs[i]) lua_pushstring(L, dirs[i]);
    else lua_pushnil(L);
  }
  lua_pushcclosure(L, search, 4);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}
