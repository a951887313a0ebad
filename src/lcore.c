/*
 * The module h2lua_core: the runtime's and the loop's functions, the
 * event list as core.EV, and luaopen, which builds the module table from
 * every binding file's list.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bind.h"
#include "guard.h"
#include "h2lua.h"
#include "headers.h"
#include "loop.h"
#include "supervisor.h"
#include "util.h"

static const char RT_KEY = 'r';

/* core.init{dispatch=, traceback=, drain=, failed=, stream_entry=,
   single=, sensitive=, respond=, finish=, headers_mt=, stopped=} -> nil: the Lua
   values the engine calls or builds with (those given are replaced) */
static int lcore_init(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  static const struct { const char *k; size_t off; } fields[] = {
      {"dispatch", offsetof(h2lua_rt, dispatch_ref)},
      {"traceback", offsetof(h2lua_rt, traceback_ref)},
      {"drain", offsetof(h2lua_rt, drain_ref)},
      {"failed", offsetof(h2lua_rt, failed_ref)},
      {"stream_entry", offsetof(h2lua_rt, stream_entry_ref)},
      {"single", offsetof(h2lua_rt, single_ref)},
      {"sensitive", offsetof(h2lua_rt, sensitive_ref)},
      {"respond", offsetof(h2lua_rt, respond_ref)},
      {"finish", offsetof(h2lua_rt, finish_ref)},
      {"headers_mt", offsetof(h2lua_rt, headers_mt_ref)},
      {"stopped", offsetof(h2lua_rt, guard.stopped_ref)},
  };
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    if (lua_getfield(L, 1, fields[i].k) == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    int *ref = (int *)((char *)rt + fields[i].off);
    luaL_unref(L, LUA_REGISTRYINDEX, *ref);
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

/* core.stats() -> {servers=, sessions=, streams=, sockets=, refs=,
   closing=} */
static int lcore_stats(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, rt->n_lingering);
  lua_setfield(L, -2, "closing");
  lua_pushinteger(L, rt->n_servers);
  lua_setfield(L, -2, "servers");
  lua_pushinteger(L, rt->n_sessions);
  lua_setfield(L, -2, "sessions");
  lua_pushinteger(L, rt->n_streams);
  lua_setfield(L, -2, "streams");
  lua_pushinteger(L, rt->n_sockets);
  lua_setfield(L, -2, "sockets");
  lua_pushinteger(L, rt->refs);
  lua_setfield(L, -2, "refs");
  return 1;
}

/* core.date() -> the current IMF-fixdate, cached per second */
static int lcore_date(lua_State *L) {
  size_t len;
  const char *d = h2lua_date(&len);
  lua_pushlstring(L, d, len);
  return 1;
}

/* core.strerror(nghttp2_code) -> string */
static int lcore_strerror(lua_State *L) {
  lua_pushstring(L, nghttp2_strerror((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* core.spawn(fn, owner, ...) -> nil: fn(...) in a pooled coroutine, now,
   until it returns or waits */
static int lcore_spawn(lua_State *L) {
  luaL_checkany(L, 1);
  if (lua_gettop(L) < 2) lua_settop(L, 2); /* no owner */
  h2lua_spawn(L, h2lua_rt_get(L), lua_gettop(L) - 2);
  return 0;
}

/* core.resume(co, ...) -> nil: a waiting coroutine goes on */
static int lcore_resume(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTHREAD);
  h2lua_resume(L, h2lua_rt_get(L), 1, lua_gettop(L) - 1);
  return 0;
}

/* core.wakes() -> nil: run Lua's wake queue after this event */
static int lcore_wakes(lua_State *L) {
  h2lua_rt_get(L)->drain_wanted = 1;
  return 0;
}

/* core.observe(on) -> nil: every stream's close reaches Lua (metrics) */
static int lcore_observe(lua_State *L) {
  h2lua_rt_get(L)->observe = lua_toboolean(L, 1);
  return 0;
}

/* core.listeners_changed() -> nil: every session's direct 'stream'
   listener (core.session_fast) is void from now on */
static int lcore_listeners_changed(lua_State *L) {
  h2lua_rt_get(L)->listen_gen++;
  return 0;
}

/* core.run() -> nil; raises when already running */
/* The supervisor's word to a worker, as EV_SIGNAL: -1 for "replaced",
   -2 for "drain", -3 for "stop now" (h2lua.lua), SIGTERM when the
   supervisor is gone. A
   once-event: the base frees it if it never fires. */
static void on_supervisor(evutil_socket_t fd, short what, void *arg) {
  h2lua_rt *rt = arg;
  (void)what;
  int m = h2lua_worker_message();
  if (m == 'D' || m == 'T' || m == 'K' || m == 0) {
    h2lua_event *ev = h2lua_queue(rt, H2LUA_EV_SIGNAL, NULL);
    if (ev) ev->u.signal.signo = m == 0 ? SIGTERM : m == 'D' ? -1 : m == 'T' ? -2 : -3;
  }
  if (m != 0) event_base_once(rt->base, fd, EV_READ, on_supervisor, rt, NULL);
  h2lua_pump(rt);
}

static int lcore_run(lua_State *L) {
  static int watching;
  if (h2lua_worker_ctl() >= 0 && !watching) {
    h2lua_rt *rt = h2lua_rt_get(L);
    watching = event_base_once(rt->base, h2lua_worker_ctl(), EV_READ,
                               on_supervisor, rt, NULL) == 0;
  }
  h2lua_worker_ready(); /* the script ran: a worker it replaces may drain */
  if (h2lua_loop_run(h2lua_rt_get(L), L) != 0)
    return luaL_error(L, "h2lua.run: the loop is already running");
  return 0;
}

/* core.stop() -> nil: the running loop returns after the current turn */
static int lcore_stop(lua_State *L) {
  h2lua_loop_stop(h2lua_rt_get(L));
  return 0;
}

/* core.now() -> milliseconds of a monotonic clock (float) */
static int lcore_now(lua_State *L) {
  lua_pushnumber(L, h2lua_now());
  return 1;
}

/* core.walltime() -> seconds since the epoch, with the fraction (the
   access log's timestamps; now() is monotonic) */
static int lcore_walltime(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + ts.tv_nsec / 1e9);
  return 1;
}

/* core.headers_pending(v) -> boolean: whether v is a request's headers
   table not filled yet (its raw fields are not all there) */
static int lcore_headers_pending(lua_State *L) {
  lua_pushboolean(L, h2lua_headers_pending(L, 1));
  return 1;
}

/* core.timer_arm(ms) -> nil: EV_TIMER after ms; a negative ms disarms */
static int lcore_timer_arm(lua_State *L) {
  h2lua_loop_timer(h2lua_rt_get(L), luaL_checknumber(L, 1));
  return 0;
}

/* core.want_tick() -> nil: EV_TICK after this turn's I/O */
static int lcore_want_tick(lua_State *L) {
  h2lua_loop_want_tick(h2lua_rt_get(L));
  return 0;
}

/* core.ref(delta) -> refs: Lua's share of the liveness count (timers) */
static int lcore_ref(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  rt->refs += (int)luaL_checkinteger(L, 1);
  lua_pushinteger(L, rt->refs);
  return 1;
}

/* core.signals(on) -> nil: SIGINT/SIGTERM as EV_SIGNAL */
static int lcore_signals(lua_State *L) {
  h2lua_loop_signals(h2lua_rt_get(L), lua_toboolean(L, 1));
  return 0;
}

/* core.limits([{cpuBudget=ms, maxMemory=bytes}]) -> {cpuBudget=, maxMemory=,
   memoryUsed=}: sets the guards given (0: off), returns them all */
static int lcore_limits(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  if (lua_istable(L, 1)) {
    if (lua_getfield(L, 1, "cpuBudget") != LUA_TNIL) {
      lua_Number ms = luaL_checknumber(L, -1);
      luaL_argcheck(L, ms >= 0, 1, "cpuBudget is >= 0");
      h2lua_guard_set_budget(&rt->guard, ms);
    }
    if (lua_getfield(L, 1, "maxMemory") != LUA_TNIL) {
      lua_Number n = luaL_checknumber(L, -1);
      luaL_argcheck(L, n >= 0, 1, "maxMemory is >= 0");
      if (h2lua_guard_set_memory(L, &rt->guard, n >= (lua_Number)SIZE_MAX ? SIZE_MAX : (size_t)n) != 0)
        return luaL_error(L, "out of memory");
    }
    lua_pop(L, 2);
  }
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, h2lua_guard_budget(&rt->guard));
  lua_setfield(L, -2, "cpuBudget");
  lua_pushinteger(L, (lua_Integer)h2lua_guard_memory_limit(&rt->guard));
  lua_setfield(L, -2, "maxMemory");
  lua_pushinteger(L, (lua_Integer)h2lua_guard_memory_used(L, &rt->guard));
  lua_setfield(L, -2, "memoryUsed");
  return 1;
}

/* core.worker() -> worker id (0: not a worker), pid, number of CPUs */
static int lcore_worker(lua_State *L) {
  lua_pushinteger(L, h2lua_worker_id());
  lua_pushinteger(L, (lua_Integer)getpid());
  lua_pushinteger(L, h2lua_cpu_count());
  return 3;
}

/* core.cluster_start(n) -> only returns an error: the h2lua program
   becomes `h2lua --workers n` with the same arguments (execv, same pid) */
static int lcore_cluster_start(lua_State *L) {
  int n = (int)luaL_checkinteger(L, 1);
#ifdef H2LUA_PROGRAM
  char buf[65536];
  FILE *f = fopen("/proc/self/cmdline", "rb");
  size_t len = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
  if (f) fclose(f);
  if (len == 0 || len == sizeof(buf) - 1)
    return luaL_error(L, "cannot read /proc/self/cmdline");
  buf[len] = 0;
  int argc = 0;
  for (size_t i = 0; i < len; i += strlen(buf + i) + 1) argc++;
  char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(argc + 3), 0);
  char num[16];
  snprintf(num, sizeof(num), "%d", n);
  int j = 0;
  for (size_t i = 0; i < len; i += strlen(buf + i) + 1) {
    argv[j++] = buf + i;
    if (j == 1) {
      argv[j++] = "--workers";
      argv[j++] = num;
    }
  }
  argv[j] = NULL;
  fflush(NULL);
  execv("/proc/self/exe", argv);
  return luaL_error(L, "execv: %s", strerror(errno));
#else
  (void)n;
  return luaL_error(L, "h2lua.cluster.start needs the h2lua program");
#endif
}

static const luaL_Reg core_funcs[] = {
    {"init", lcore_init},           {"stats", lcore_stats},
    {"date", lcore_date},           {"strerror", lcore_strerror},
    {"spawn", lcore_spawn},         {"resume", lcore_resume},
    {"wakes", lcore_wakes}, {"observe", lcore_observe},
    {"run", lcore_run},             {"stop", lcore_stop},
    {"now", lcore_now},             {"timer_arm", lcore_timer_arm},
    {"want_tick", lcore_want_tick}, {"ref", lcore_ref},
    {"signals", lcore_signals},     {"listeners_changed", lcore_listeners_changed},
    {"limits", lcore_limits},
    {"worker", lcore_worker},       {"cluster_start", lcore_cluster_start},
    {"walltime", lcore_walltime}, {"headers_pending", lcore_headers_pending},
    {NULL, NULL},
};

static void push_events(lua_State *L) {
  static const char *names[] = {
      NULL,
#define H2LUA_EV_NAME(name) #name,
      H2LUA_EVENTS(H2LUA_EV_NAME)
#undef H2LUA_EV_NAME
  };
  lua_createtable(L, 0, H2LUA_EV_COUNT);
  for (int i = 1; i < H2LUA_EV_COUNT; i++) {
    lua_pushinteger(L, i);
    lua_setfield(L, -2, names[i]);
  }
}

int luaopen_h2lua_core(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &RT_KEY);
  if (!lua_isnil(L, -1)) {
    lua_getiuservalue(L, -1, 1);
    return 1;
  }
  lua_pop(L, 1);
  /* a peer that closes while we write must not kill the process (Node
     ignores SIGPIPE too); writes then fail with EPIPE */
  signal(SIGPIPE, SIG_IGN);
  h2lua_rt *rt = h2lua_rt_new(L);
  if (rt == NULL) return luaL_error(L, "h2lua: event_base_new failed");
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &RT_KEY);

  lua_newtable(L);
  const luaL_Reg *lists[] = {core_funcs,          h2lua_server_funcs,
                             h2lua_session_funcs, h2lua_stream_funcs,
                             h2lua_client_funcs,  h2lua_net_funcs,
                             h2lua_tls_funcs,
                             h2lua_compress_funcs, h2lua_file_funcs};
  for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
    lua_pushlightuserdata(L, rt);
    luaL_setfuncs(L, lists[i], 1);
  }
  push_events(L);
  lua_setfield(L, -2, "EV");
  lua_pushlightuserdata(L, h2lua_done_marker());
  lua_setfield(L, -2, "DONE");
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->ours_ref);
  lua_setfield(L, -2, "OURS"); /* the coroutines the engine runs (weak) */
  h2lua_stream_open(L, rt);
  h2lua_tls_open(L, rt);
  h2lua_compress_open(L);
  /* the runtime userdata's user value keeps the module table */
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, -3, 1);
  lua_remove(L, -2);
  return 1;
}
