/*
 * Guards: the CPU budget, signals while Lua spins, the memory limit. Owns
 * the profiling timer, the SIGPROF/SIGINT/SIGTERM handlers it installs and
 * the limiting allocator.
 *
 * Signal handlers only read the guard state's active/active_run (volatile,
 * written around every resume) and set a hook with lua_sethook, which is
 * safe from a signal handler (lua.c stops scripts on SIGINT the same way).
 */
#include "guard.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <lauxlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#define SIGNAL_GRACE_COUNT 10000000 /* instructions a run may finish in */
#define AGAIN_COUNT 1000            /* a stopped run that caught the error */

static h2lua_guard *volatile watched;
static double budget_ms = 10000; /* h2lua's default (docs/api.md) */
static double tick_ms;
static unsigned seen_run, seen_ticks;
static int prof_on, prof_saved, signals_on;
static volatile sig_atomic_t terminating;
static struct sigaction prev_prof, prev_int, prev_term;

/* ---- stopping a run ---- */

static void on_hook(lua_State *L, lua_Debug *ar);

/* From a signal handler: |co|'s run |run| is to be stopped. */
static void stop_run(h2lua_guard *g, lua_State *co, unsigned run, int why,
                     int count) {
  g->stop_run = run;
  g->stop_why = why;
  lua_sethook(co, on_hook, LUA_MASKCOUNT, count);
}

/* Pushes the error a stopped run fails with. */
static void push_stop_error(lua_State *L, h2lua_guard *g, int why) {
  if (g->stopped_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, g->stopped_ref);
    lua_pushinteger(L, why);
    lua_pushnumber(L, budget_ms);
    lua_call(L, 2, 1);
  } else {
    lua_pushstring(L, why == H2LUA_STOP_BUDGET ? "stopped: over the CPU budget"
                                               : "stopped by a signal");
  }
}

/* Stops the run marked: the coroutine yields from here, and its resumer
   (runtime.c) takes that as the run's failure and closes it, so no pcall
   of the callback's can catch it. Where it cannot yield (inside a C call
   such as table.sort), an error is raised instead, again every few
   instructions while the run goes on. A hook left on a coroutine that
   since went back to the pool just goes. */
static void on_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  h2lua_guard *g = watched;
  int main_thread = g && g->active == NULL && L == g->L &&
                    g->main_run == g->stop_run;
  if (g == NULL ||
      (!main_thread && (g->active != L || g->active_run != g->stop_run))) {
    lua_sethook(L, NULL, 0, 0);
    return;
  }
  if (lua_isyieldable(L)) {
    lua_sethook(L, NULL, 0, 0);
    g->killed = L;
    lua_yield(L, 0);
    return;
  }
  lua_sethook(L, on_hook, LUA_MASKCOUNT, AGAIN_COUNT);
  push_stop_error(L, g, g->stop_why);
  lua_error(L);
}

void h2lua_guard_unhook(lua_State *co) {
  if (lua_gethook(co) == on_hook) lua_sethook(co, NULL, 0, 0);
}

int h2lua_guard_killed(lua_State *L, h2lua_guard *g, lua_State *co, int nres) {
  g->killed = NULL;
  lua_pop(co, nres);
  push_stop_error(L, g, g->stop_why);
  lua_xmove(L, co, 1);
  return LUA_ERRRUN;
}

/* ---- the CPU budget ---- */

/* Every tick_ms of the process's CPU time: a run seen at two ticks in a
   row has run (at least) the ticks between them. */
static void on_prof(int sig) {
  (void)sig;
  if (!prof_on) return;
  int saved = errno;
  h2lua_guard *g = watched;
  if (g && g->running) {
    lua_State *co = g->active;
    unsigned run = g->active_run;
    if (co == NULL && g->main_run != 0) { /* the main thread's Lua */
      co = g->L;
      run = g->main_run;
    }
    if (co == NULL) {
      seen_ticks = 0;
    } else if (run != seen_run) {
      seen_run = run;
      seen_ticks = 0;
    } else {
      seen_ticks++;
      if (budget_ms > 0 && seen_ticks * tick_ms >= budget_ms)
        stop_run(g, co, run, H2LUA_STOP_BUDGET, 1);
      else if (terminating) /* shutting down: no run may hold the loop */
        stop_run(g, co, run, H2LUA_STOP_SIGNAL, 1);
    }
  }
  errno = saved;
}

static void prof_timer(int on) {
  struct itimerval it;
  memset(&it, 0, sizeof(it));
  if (on) {
    long us = (long)(tick_ms * 1000);
    it.it_interval.tv_sec = it.it_value.tv_sec = us / 1000000;
    it.it_interval.tv_usec = it.it_value.tv_usec = us % 1000000;
  }
  setitimer(ITIMER_PROF, &it, NULL);
}

static void prof_start(void) {
  if (prof_on || budget_ms <= 0) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_prof;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGPROF, &sa, prof_saved ? NULL : &prev_prof) != 0) return;
  prof_saved = 1;
  seen_ticks = 0;
  prof_on = 1;
  prof_timer(1);
}

static void prof_stop(void) {
  if (!prof_on) return;
  prof_timer(0);
  prof_on = 0;
  /* a tick already raised can still arrive after the timer is disarmed
     (valgrind delivers signals late): under the default disposition it
     would end the process, so our handler, idle now, stays in place */
  if (prev_prof.sa_handler != SIG_DFL || (prev_prof.sa_flags & SA_SIGINFO))
    sigaction(SIGPROF, &prev_prof, NULL);
}

void h2lua_guard_set_budget(h2lua_guard *g, double ms) {
  budget_ms = ms > 0 ? ms : 0;
  tick_ms = budget_ms / 10;
  if (tick_ms < 10) tick_ms = 10;
  if (tick_ms > 1000) tick_ms = 1000;
  if (prof_on) prof_stop();
  if (g->running && budget_ms > 0) {
    watched = g;
    prof_start();
  }
}

double h2lua_guard_budget(const h2lua_guard *g) {
  (void)g;
  return budget_ms;
}

void h2lua_guard_loop(h2lua_guard *g, lua_State *L, int running) {
  g->L = L;
  g->running = running;
  if (running) {
    watched = g;
    if (tick_ms == 0) h2lua_guard_set_budget(g, budget_ms);
    prof_start();
  } else if (watched == g) {
    prof_stop();
  }
}

/* ---- signals ---- */

static void chain(const struct sigaction *prev, int sig, siginfo_t *info,
                  void *ctx) {
  if (prev->sa_flags & SA_SIGINFO) {
    if (prev->sa_sigaction) prev->sa_sigaction(sig, info, ctx);
  } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN &&
             prev->sa_handler != NULL) {
    prev->sa_handler(sig);
  }
}

/* Ahead of the loop's own handler (which only queues the signal for the
   loop): a run still going after the grace is stopped. */
static void on_term(int sig, siginfo_t *info, void *ctx) {
  int saved = errno;
  terminating = 1;
  h2lua_guard *g = watched;
  if (g) {
    lua_State *co = g->active;
    if (co) stop_run(g, co, g->active_run, H2LUA_STOP_SIGNAL, SIGNAL_GRACE_COUNT);
    else if (g->main_run)
      stop_run(g, g->L, g->main_run, H2LUA_STOP_SIGNAL, SIGNAL_GRACE_COUNT);
  }
  chain(sig == SIGINT ? &prev_int : &prev_term, sig, info, ctx);
  errno = saved;
}

void h2lua_guard_signals(h2lua_guard *g, int on) {
  if (on == signals_on) return;
  if (on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_term;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, &prev_int) != 0) return;
    if (sigaction(SIGTERM, &sa, &prev_term) != 0) {
      sigaction(SIGINT, &prev_int, NULL);
      return;
    }
    watched = g;
  } else {
    sigaction(SIGINT, &prev_int, NULL);
    sigaction(SIGTERM, &prev_term, NULL);
  }
  signals_on = on;
}

/* ---- the memory limit ---- */

typedef struct limiter {
  lua_Alloc f; /* the state's own allocator, which does the work */
  void *ud;
  size_t used, limit;
  h2lua_guard *g;
} limiter;

/* Only a callback's growth can fail: the engine's own Lua (events,
   dispatch, error handling) always gets its memory. */
static void *limited(void *ud, void *ptr, size_t osize, size_t nsize) {
  limiter *m = ud;
  size_t old = ptr ? osize : 0;
  if (nsize > old && m->used + (nsize - old) > m->limit && m->g->active &&
      !m->g->unlimited)
    return NULL;
  void *p = m->f(m->ud, ptr, osize, nsize);
  if (p != NULL || nsize == 0) m->used = m->used - old + nsize;
  return p;
}

static size_t lua_bytes(lua_State *L) {
  return (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
}

int h2lua_guard_set_memory(lua_State *L, h2lua_guard *g, size_t limit) {
  limiter *m = g->limiter;
  if (limit == 0) {
    if (m) {
      lua_setallocf(L, m->f, m->ud);
      free(m);
      g->limiter = NULL;
    }
    return 0;
  }
  if (m == NULL) {
    m = calloc(1, sizeof(*m));
    if (m == NULL) return -1;
    m->f = lua_getallocf(L, &m->ud);
    m->used = lua_bytes(L);
    m->g = g;
    lua_setallocf(L, limited, m);
    g->limiter = m;
  }
  m->limit = limit;
  return 0;
}

size_t h2lua_guard_memory_limit(const h2lua_guard *g) {
  const limiter *m = g->limiter;
  return m ? m->limit : 0;
}

size_t h2lua_guard_memory_used(lua_State *L, const h2lua_guard *g) {
  const limiter *m = g->limiter;
  return m ? m->used : lua_bytes(L);
}

void h2lua_guard_reclaim(lua_State *L, h2lua_guard *g) {
  g->unlimited++;
  lua_gc(L, LUA_GCCOLLECT, 0);
  /* the h2lua program's allocator keeps freed blocks: it gives back what
     it can (registered by main.c) */
  if (lua_getfield(L, LUA_REGISTRYINDEX, "h2lua.trim") == LUA_TFUNCTION)
    lua_call(L, 0, 0);
  else
    lua_pop(L, 1);
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  g->unlimited--;
}

void h2lua_guard_close(lua_State *L, h2lua_guard *g) {
  if (watched == g) {
    prof_stop();
    if (signals_on) h2lua_guard_signals(g, 0);
    watched = NULL;
  }
  h2lua_guard_set_memory(L, g, 0);
}
