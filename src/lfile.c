/*
 * File-system bindings the static file server needs beyond Lua's io:
 * the canonical path of a file, to refuse whatever leaves the root.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "util.h"

/* core.realpath(path) -> the absolute path with every symlink, "." and
   ".." resolved | nil, errname, message (ENOENT, ENOTDIR, ELOOP, ...) */
static int lfile_realpath(lua_State *L) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  if (strlen(path) != len) { /* a NUL inside: no such name can exist */
    lua_pushnil(L);
    lua_pushstring(L, "EINVAL");
    lua_pushstring(L, strerror(EINVAL));
    return 3;
  }
  char real[PATH_MAX];
  if (realpath(path, real) == NULL) {
    int err = errno;
    lua_pushnil(L);
    lua_pushstring(L, h2lua_errno_name(err));
    lua_pushstring(L, strerror(err));
    return 3;
  }
  lua_pushstring(L, real);
  return 1;
}

const luaL_Reg h2lua_file_funcs[] = {
    {"realpath", lfile_realpath},
    {NULL, NULL},
};
