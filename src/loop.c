/*
 * The event loop. Owns rt->timer, the signal events (freed by the
 * runtime's __gc).
 */
#include "loop.h"

#include <math.h>
#include <signal.h>

#include "guard.h"

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  h2lua_rt *rt = arg;
  h2lua_queue(rt, H2LUA_EV_TIMER, NULL);
  h2lua_pump(rt);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  h2lua_rt *rt = arg;
  h2lua_event *ev = h2lua_queue(rt, H2LUA_EV_SIGNAL, NULL);
  if (ev) ev->u.signal.signo = (int)sig;
  h2lua_pump(rt);
}

int h2lua_loop_run(h2lua_rt *rt, lua_State *L) {
  if (rt->running) return -1;
  lua_State *saved = rt->L;
  rt->L = L;
  rt->running = 1;
  rt->stopped = 0;
  h2lua_guard_loop(&rt->guard, L, 1);
  while (!rt->stopped) {
    h2lua_pump(rt);
    if (rt->want_tick) {
      rt->want_tick = 0;
      h2lua_queue(rt, H2LUA_EV_TICK, NULL);
      h2lua_pump(rt);
    }
    if (rt->stopped || (rt->refs <= 0 && !rt->want_tick)) break;
    if (event_base_loop(rt->base, rt->want_tick ? EVLOOP_NONBLOCK
                                                : EVLOOP_ONCE) < 0)
      break;
  }
  rt->running = 0;
  rt->L = saved;
  h2lua_guard_loop(&rt->guard, saved, 0);
  return 0;
}

void h2lua_loop_stop(h2lua_rt *rt) {
  rt->stopped = 1;
  event_base_loopbreak(rt->base);
}

void h2lua_loop_timer(h2lua_rt *rt, double ms) {
  if (rt->timer == NULL) rt->timer = evtimer_new(rt->base, on_timer, rt);
  if (ms < 0) {
    evtimer_del(rt->timer);
    return;
  }
  struct timeval tv;
  tv.tv_sec = (time_t)(ms / 1000);
  tv.tv_usec = (suseconds_t)(fmod(ms, 1000.0) * 1000.0);
  evtimer_add(rt->timer, &tv);
}

void h2lua_loop_want_tick(h2lua_rt *rt) {
  rt->want_tick = 1;
  if (rt->running) event_base_loopbreak(rt->base);
}

void h2lua_loop_signals(h2lua_rt *rt, int on) {
  if (rt->sigint == NULL) {
    rt->sigint = evsignal_new(rt->base, SIGINT, on_signal, rt);
    rt->sigterm = evsignal_new(rt->base, SIGTERM, on_signal, rt);
  }
  if (on) {
    evsignal_add(rt->sigint, NULL);
    evsignal_add(rt->sigterm, NULL);
    h2lua_guard_signals(&rt->guard, 1); /* in front of libevent's handlers */
  } else {
    h2lua_guard_signals(&rt->guard, 0);
    evsignal_del(rt->sigint);
    evsignal_del(rt->sigterm);
  }
}
