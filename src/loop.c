/*
 * The event loop: run/stop, liveness, the single timer behind the Lua timer
 * heap, immediates (ticks) and the SIGINT/SIGTERM watchers. Owns rt->timer
 * and the signal events (freed by the runtime's __gc).
 */
#include "internal.h"

#include <math.h>
#include <signal.h>
#include <time.h>

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  h2lua_rt *rt = arg;
  h2lua_queue(rt, H2LUA_EV_TIMER, NULL, NULL, NULL, 0, 0);
  h2lua_pump(rt);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  h2lua_rt *rt = arg;
  h2lua_queue(rt, H2LUA_EV_SIGNAL, NULL, NULL, NULL, sig, 0);
  h2lua_pump(rt);
}

/* Runs until stopped or until nothing referenced is left. Immediates run
   once per turn, after I/O, as Node's check phase does. */
int h2lua_loop_run(h2lua_rt *rt) {
  rt->running = 1;
  rt->stopped = 0;
  while (!rt->stopped) {
    h2lua_pump(rt);
    if (rt->want_tick) {
      rt->want_tick = 0;
      h2lua_queue(rt, H2LUA_EV_TICK, NULL, NULL, NULL, 0, 0);
      h2lua_pump(rt);
    }
    if (rt->stopped || (rt->refs <= 0 && !rt->want_tick)) break;
    if (event_base_loop(rt->base, rt->want_tick ? EVLOOP_NONBLOCK
                                                : EVLOOP_ONCE) < 0)
      break;
  }
  rt->running = 0;
  return 0;
}

/* core.run() -> nil; raises when already running */
static int lloop_run(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  if (rt->running) return luaL_error(L, "h2lua.run: the loop is already running");
  h2lua_loop_run(rt);
  return 0;
}

/* core.stop() -> nil: the running loop returns after the current turn */
static int lloop_stop(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  rt->stopped = 1;
  event_base_loopbreak(rt->base);
  return 0;
}

/* Milliseconds of a monotonic clock. */
double h2lua_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* core.now() -> milliseconds of a monotonic clock (float) */
static int lloop_now(lua_State *L) {
  lua_pushnumber(L, h2lua_now());
  return 1;
}

/* core.timer_arm(ms) -> nil: fire EV_TIMER after ms; a negative ms disarms */
static int lloop_timer_arm(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  lua_Number ms = luaL_checknumber(L, 1);
  if (rt->timer == NULL) rt->timer = evtimer_new(rt->base, on_timer, rt);
  if (ms < 0) {
    evtimer_del(rt->timer);
    return 0;
  }
  struct timeval tv;
  tv.tv_sec = (time_t)(ms / 1000);
  tv.tv_usec = (suseconds_t)(fmod(ms, 1000.0) * 1000.0);
  evtimer_add(rt->timer, &tv);
  return 0;
}

/* core.want_tick() -> nil: deliver EV_TICK after this turn's I/O */
static int lloop_want_tick(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  rt->want_tick = 1;
  if (rt->running) event_base_loopbreak(rt->base);
  return 0;
}

/* core.ref(delta) -> refs: Lua's share of the liveness count (timers) */
static int lloop_ref(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  rt->refs += (int)luaL_checkinteger(L, 1);
  lua_pushinteger(L, rt->refs);
  return 1;
}

/* core.signals(on) -> nil: deliver SIGINT/SIGTERM as EV_SIGNAL. Signal
   watchers never keep the loop alive by themselves. */
static int lloop_signals(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  int on = lua_toboolean(L, 1);
  if (rt->sigint == NULL) {
    rt->sigint = evsignal_new(rt->base, SIGINT, on_signal, rt);
    rt->sigterm = evsignal_new(rt->base, SIGTERM, on_signal, rt);
  }
  if (on) {
    evsignal_add(rt->sigint, NULL);
    evsignal_add(rt->sigterm, NULL);
  } else {
    evsignal_del(rt->sigint);
    evsignal_del(rt->sigterm);
  }
  return 0;
}

const luaL_Reg h2lua_loop_funcs[] = {
    {"run", lloop_run},
    {"stop", lloop_stop},
    {"now", lloop_now},
    {"timer_arm", lloop_timer_arm},
    {"want_tick", lloop_want_tick},
    {"ref", lloop_ref},
    {"signals", lloop_signals},
    {NULL, NULL},
};
