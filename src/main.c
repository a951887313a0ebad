/*
 * The h2lua program: a Lua 5.4 state with the engine preloaded, running a
 * script the way node does (main chunk in a coroutine, then the event loop
 * until nothing referenced is left). The policy lives in lua/h2lua/main.lua;
 * this file sets up paths, `arg` and the exit status.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "bytecode.h"
#include "h2lua.h"

#ifndef PACKAGE_VERSION
#include "config.h"
#endif

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s [options] [script [args]]\n"
          "  -e CODE   run CODE (then the event loop)\n"
          "  --max-memory SIZE  the Lua state's memory limit (bytes, or with\n"
          "            k, m, g); a callback that passes it fails (default: none)\n"
          "  --cpu-budget MS    the CPU time one run of a callback may take\n"
          "            (default 10000; 0: no limit)\n"
          "  -v        print the version and exit\n"
          "  -h        print this help and exit\n"
          "With no script and no -e, reads the script from standard input.\n",
          prog);
}

/* When the program runs from its build tree, the Lua sources next to it
   come first; the installed modules come after (and LUA_PATH still rules
   the rest of package.path). */
static void set_paths(lua_State *L) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  int in_build = 0;
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    in_build = strcmp(exe, H2LUA_BUILDDIR) == 0;
  }
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  const char *cur = lua_tostring(L, -1);
  if (in_build)
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s/?/init.lua;%s",
                    H2LUA_SRCLUADIR, H2LUA_SRCLUADIR, H2LUA_LUADIR,
                    H2LUA_LUADIR, cur ? cur : "");
  else
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", H2LUA_LUADIR,
                    H2LUA_LUADIR, cur ? cur : "");
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
  if (in_build)
    h2lua_bytecode_searcher(L, H2LUA_SRCLUADIR, H2LUA_BUILDDIR "/luac",
                            H2LUA_LUADIR, H2LUA_LUADIR);
  else
    h2lua_bytecode_searcher(L, H2LUA_LUADIR, H2LUA_LUADIR, NULL, NULL);
}

/* A size with an optional k, m or g suffix; -1 when malformed. */
static double parse_size(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || v < 0) return -1;
  if (*end == 'k' || *end == 'K') v *= 1024, end++;
  else if (*end == 'm' || *end == 'M') v *= 1024 * 1024, end++;
  else if (*end == 'g' || *end == 'G') v *= 1024.0 * 1024 * 1024, end++;
  return *end ? -1 : v;
}

/* After a memory error the runtime calls this (registry "h2lua.trim"):
   the allocator gives back the chunks it no longer uses. */
static int trim(lua_State *L) {
  h2lua_alloc_trim(lua_touserdata(L, lua_upvalueindex(1)));
  return 0;
}

/* h2lua_core.limits{...} with the command line's limits. */
static int set_limits(lua_State *L, double max_memory, double cpu_budget) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "h2lua_core");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) return -1;
  lua_getfield(L, -1, "limits");
  lua_createtable(L, 0, 2);
  if (max_memory >= 0) {
    lua_pushnumber(L, max_memory);
    lua_setfield(L, -2, "maxMemory");
  }
  if (cpu_budget >= 0) {
    lua_pushnumber(L, cpu_budget);
    lua_setfield(L, -2, "cpuBudget");
  }
  int rv = lua_pcall(L, 1, 0, 0) == LUA_OK ? 0 : -1;
  lua_pop(L, 1);
  return rv;
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)",
                                         luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Runs h2lua.main(mode, what, ...) protected; returns the exit status. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_h2lua_core);
  lua_setfield(L, -2, "h2lua_core");
  lua_pop(L, 1);
  set_paths(L);
  void *ud;
  lua_getallocf(L, &ud);
  if (lua_getallocf(L, NULL) == h2lua_alloc_fn) {
    lua_pushlightuserdata(L, ud);
    lua_pushcclosure(L, trim, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "h2lua.trim");
  }

  const char *mode = "file", *what = NULL;
  double max_memory = -1, cpu_budget = -1;
  int first = 1;
  while (first < argc && argv[first][0] == '-' && argv[first][1]) {
    if ((strcmp(argv[first], "--max-memory") == 0 ||
         strcmp(argv[first], "--cpu-budget") == 0) && first + 1 < argc) {
      int mem = argv[first][2] == 'm';
      double v = parse_size(argv[first + 1]);
      if (v < 0 || (!mem && strpbrk(argv[first + 1], "kKmMgG"))) {
        fprintf(stderr, "h2lua: %s: not a %s: %s\n", argv[first],
                mem ? "size" : "number of ms", argv[first + 1]);
        lua_pushinteger(L, 2);
        return 1;
      }
      if (mem) max_memory = v;
      else cpu_budget = v;
      first += 2;
      continue;
    }
    if (strcmp(argv[first], "-v") == 0) {
      printf("h2lua %s (%s)\n", PACKAGE_VERSION, LUA_RELEASE);
      lua_pushinteger(L, 0);
      return 1;
    } else if (strcmp(argv[first], "-h") == 0) {
      usage(stdout, argv[0]);
      lua_pushinteger(L, 0);
      return 1;
    } else if (strcmp(argv[first], "-e") == 0 && first + 1 < argc) {
      mode = "code";
      what = argv[first + 1];
      first += 2;
      break;
    } else if (strcmp(argv[first], "--") == 0) {
      first++;
      break;
    } else {
      usage(stderr, argv[0]);
      lua_pushinteger(L, 2);
      return 1;
    }
  }
  if ((max_memory >= 0 || cpu_budget >= 0) &&
      set_limits(L, max_memory, cpu_budget) != 0) {
    fprintf(stderr, "h2lua: %s\n", lua_tostring(L, -1));
    lua_pushinteger(L, 1);
    return 1;
  }
  if (what == NULL) {
    if (first < argc) what = argv[first];
    else mode = "stdin";
  } else {
    first--; /* the script name slot: arg[0] is "-e" */
  }
  /* arg as lua.c builds it: script at 0, its arguments from 1 */
  int script = first < argc ? first : argc - 1;
  lua_createtable(L, argc - script, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");

  lua_pushcfunction(L, msghandler);
  int mh = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "h2lua.main");
  if (lua_pcall(L, 1, 1, mh) != LUA_OK) {
    fprintf(stderr, "h2lua: %s\n", lua_tostring(L, -1));
    lua_pushinteger(L, 1);
    return 1;
  }
  lua_pushstring(L, mode);
  if (what) lua_pushstring(L, what);
  else lua_pushnil(L);
  int nargs = 2;
  for (int i = script + 1; i < argc; i++, nargs++) lua_pushstring(L, argv[i]);
  if (lua_pcall(L, nargs, 1, mh) != LUA_OK) {
    fprintf(stderr, "h2lua: %s\n", lua_tostring(L, -1));
    lua_pushinteger(L, 1);
    return 1;
  }
  return 1;
}

static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "h2lua: PANIC: unprotected error in call to Lua API (%s)\n",
          msg ? msg : "error object is not a string");
  return 0; /* then abort() */
}

int main(int argc, char **argv) {
  h2lua_alloc *alloc = h2lua_alloc_new();
  lua_State *L = alloc ? lua_newstate(h2lua_alloc_fn, alloc) : NULL;
  if (L) lua_atpanic(L, panic);
  if (L == NULL) {
    fprintf(stderr, "h2lua: cannot create a Lua state\n");
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = 1;
  if (lua_pcall(L, 2, 1, 0) == LUA_OK) {
    status = (int)lua_tointeger(L, -1);
  } else {
    fprintf(stderr, "h2lua: %s\n", lua_tostring(L, -1));
  }
  fflush(stdout);
  lua_close(L);
  h2lua_alloc_free(alloc);
  return status;
}
