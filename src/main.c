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
#include "supervisor.h"

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
          "  --trace   print every HTTP/2 frame sent and received on stderr\n"
          "            (as H2LUA_TRACE=1 does)\n"
          "  --workers N|auto   fork N worker processes (auto: one per CPU)\n"
          "            under a supervisor; SIGHUP replaces them with new code\n"
          "  --check SCRIPT     load and compile SCRIPT without running it:\n"
          "            exit 0, or 1 with the error\n"
          "  --access-log FILE  one JSON line per request of every server to\n"
          "            FILE (appended; - for standard output; docs/logging.md)\n"
          "  --log-level LEVEL  the runtime's messages on stderr: error, warn,\n"
          "            info (default) or debug\n"
          "  -v, --version      print the version and exit\n"
          "  -h, --help         print this help and exit\n"
          "  --        the end of the options\n"
          "The script is a file, or - (or nothing, without -e) for standard\n"
          "input; the arguments after it are its arg[1..] and its `...`.\n"
          "SIGINT/SIGTERM drain the servers (a second one stops at once).\n"
          "Exit status: 0; 1 when an error ends the program (the main chunk,\n"
          "a timer's callback, an 'error' event nobody listens to); 2 for a\n"
          "bad command line.\n",
          prog);
}

/* When the program runs from its build tree, the Lua sources next to it
   come first; the installed modules come after (and LUA_PATH still rules
   the rest of package.path). */
static void set_paths(lua_State *L) {
  char exe[4096] = "/nonexistent"; /* the program's directory, when known */
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
    /* then the tree the program sits in (BINDIR/../share/lua/5.4): a
       LuaRocks tree moves what was installed under the configured
       directory there */
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/../share/lua/5.4/?.lua;%s",
                    H2LUA_LUADIR, H2LUA_LUADIR, exe, cur ? cur : "");
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
  if (in_build) {
    h2lua_bytecode_searcher(L, H2LUA_SRCLUADIR, H2LUA_BUILDDIR "/luac",
                            H2LUA_LUADIR, H2LUA_LUADIR);
  } else {
    lua_pushfstring(L, "%s/../share/lua/5.4", exe);
    h2lua_bytecode_searcher(L, H2LUA_LUADIR, H2LUA_LUADIR, lua_tostring(L, -1),
                            lua_tostring(L, -1));
    lua_pop(L, 1); /* the searcher keeps its own copy (checked below) */
  }
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

/* require(module)[fn](arg): 0, or -1 with the message printed (the
   function raised, or returned nil and a message). */
static int call_module(lua_State *L, const char *module, const char *fn,
                       const char *arg, const char *option) {
  int top = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  int rv = -1;
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    lua_getfield(L, -1, fn);
    lua_pushstring(L, arg);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) lua_settop(L, top + 2);
    else if (!lua_isnil(L, -2) || lua_isnil(L, -1)) rv = 0;
  }
  if (rv != 0) {
    const char *msg = luaL_tolstring(L, -1, NULL);
    fprintf(stderr, "h2lua: %s: %s\n", option, msg);
  }
  lua_settop(L, top);
  return rv;
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
  const char *access_log = NULL, *log_level = NULL;
  int first = 1, workers = 0;
  while (first < argc && argv[first][0] == '-' && argv[first][1]) {
    if (strcmp(argv[first], "--access-log") == 0 && first + 1 < argc) {
      access_log = argv[first + 1];
      first += 2;
      continue;
    }
    if (strcmp(argv[first], "--log-level") == 0 && first + 1 < argc) {
      log_level = argv[first + 1];
      first += 2;
      continue;
    }
    if (strcmp(argv[first], "--check") == 0 && first + 1 < argc) {
      mode = "check";
      what = argv[first + 1];
      first += 2;
      break;
    }
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
    if (strcmp(argv[first], "--trace") == 0) {
      /* the engine reads it when a session starts; a value already set
         (H2LUA_TRACE=color) is kept */
      const char *t = getenv("H2LUA_TRACE");
      if (t == NULL || *t == 0 || strcmp(t, "0") == 0) setenv("H2LUA_TRACE", "1", 1);
      first++;
      continue;
    }
    if (strcmp(argv[first], "--workers") == 0 && first + 1 < argc) {
      char *end;
      const char *v = argv[first + 1];
      workers = strcmp(v, "auto") == 0 ? h2lua_cpu_count() : (int)strtol(v, &end, 10);
      if (strcmp(v, "auto") != 0 && (*end || end == v || workers < 1)) {
        fprintf(stderr, "h2lua: --workers: not a number of workers: %s\n", v);
        lua_pushinteger(L, 2);
        return 1;
      }
      first += 2;
      continue;
    }
    if (strcmp(argv[first], "-v") == 0 || strcmp(argv[first], "--version") == 0) {
      printf("h2lua %s (%s)\n", PACKAGE_VERSION, LUA_RELEASE);
      lua_pushinteger(L, 0);
      return 1;
    } else if (strcmp(argv[first], "-h") == 0 || strcmp(argv[first], "--help") == 0) {
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
  /* the supervisor forks before the engine exists: each worker makes its
     own loop and loads the script itself */
  if (workers > 0) {
    if (what == NULL && first >= argc) {
      fprintf(stderr, "h2lua: --workers needs a script file or -e\n");
      lua_pushinteger(L, 2);
      return 1;
    }
    int status = h2lua_supervise(workers);
    if (status >= 0) {
      lua_pushinteger(L, status);
      return 1;
    }
  }
  if ((max_memory >= 0 || cpu_budget >= 0) &&
      set_limits(L, max_memory, cpu_budget) != 0) {
    fprintf(stderr, "h2lua: %s\n", lua_tostring(L, -1));
    lua_pushinteger(L, 1);
    return 1;
  }
  if (log_level && call_module(L, "h2lua.log", "setLevel", log_level,
                               "--log-level") != 0) {
    lua_pushinteger(L, 2);
    return 1;
  }
  if (access_log && call_module(L, "http2.accesslog", "set_default",
                                access_log, "--access-log") != 0) {
    lua_pushinteger(L, 1);
    return 1;
  }
  if (what == NULL) {
    if (first < argc) what = argv[first];
    else mode = "stdin";
  } else if (strcmp(mode, "check") != 0) {
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
  /* print()'s lines reach a pipe or a file as they are written, as
     Node's console.log: supervisors, log collectors and tests read them
     while the program runs */
  setvbuf(stdout, NULL, _IOLBF, 0);
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
