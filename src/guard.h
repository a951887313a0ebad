/*
 * Guards on the Lua code the loop runs, so that one faulty callback cannot
 * take the process with it:
 *  - a CPU budget per run of a callback (one resume of its coroutine, until
 *    it returns or waits): a run past it is stopped by an error raised
 *    from a count hook (ERR_H2LUA_CPU_BUDGET); the hook is set only when a
 *    run is over budget (a profiling timer, ITIMER_PROF, ticks while the
 *    process uses CPU), so code under budget runs without any hook;
 *  - SIGINT/SIGTERM acted on while Lua spins: the run in progress is
 *    stopped (ERR_H2LUA_INTERRUPTED) if it has not returned within about
 *    10^7 instructions, so the loop gets back to the signal;
 *  - a memory limit of the Lua state: an allocation of a callback's that
 *    would pass it fails (a Lua memory error in that callback, not in the
 *    engine's own code); after a memory error the state is collected and
 *    freed memory given back to the system.
 * The timer and the signal handlers are process-wide: they watch the
 * runtime that ran its loop or turned signals on last.
 */
#ifndef H2LUA_GUARD_H
#define H2LUA_GUARD_H

#include <lua.h>

/* The guard's side of a runtime (embedded in it as rt->guard), read by
   the signal handlers: the coroutine being resumed and its run (every
   resume is a new run), the run to stop and why, the memory limit lifted,
   the limiting allocator. */
typedef struct h2lua_guard {
  lua_State *L; /* the thread the loop runs Lua on */
  lua_State *volatile active;
  volatile unsigned active_run;
  /* the run of the main thread's Lua (the dispatcher, SNICallback) while
     no coroutine is active; 0 outside deliveries */
  volatile unsigned main_run;
  volatile unsigned stop_run;
  volatile int stop_why;
  volatile int running; /* inside the loop */
  lua_State *killed;    /* the coroutine the stop hook made yield */
  int unlimited;
  int stopped_ref; /* Lua's maker of the stop error (LUA_NOREF: a string) */
  void *limiter;
} h2lua_guard;

/* What stopped a run: the argument of the error maker (stopped_ref). */
enum { H2LUA_STOP_BUDGET = 1, H2LUA_STOP_SIGNAL };

/* The CPU budget of one run, ms of CPU time; 0 turns it off. */
void h2lua_guard_set_budget(h2lua_guard *g, double ms);
double h2lua_guard_budget(const h2lua_guard *g);
/* The loop starts (1) running Lua on |L|, or returns (0) to |L|: the
   budget's timer runs meanwhile. */
void h2lua_guard_loop(h2lua_guard *g, lua_State *L, int running);
/* SIGINT/SIGTERM also stop Lua code that keeps running (after the loop's
   own handlers were installed, on; before they are removed, off). */
void h2lua_guard_signals(h2lua_guard *g, int on);

/* The memory limit of |L|'s state in bytes; 0 removes it. 0, or -1 when
   out of memory. */
int h2lua_guard_set_memory(lua_State *L, h2lua_guard *g, size_t limit);
/* The limit (0: none) and the bytes the state holds (when limited: the
   allocator's count, else Lua's own). */
size_t h2lua_guard_memory_limit(const h2lua_guard *g);
size_t h2lua_guard_memory_used(lua_State *L, const h2lua_guard *g);

/* A resume of |co| whose run was marked to stop returned: the stop hook
   goes (a user's debug.sethook stays). */
void h2lua_guard_unhook(lua_State *co);
/* A resume of |co| yielded because the stop hook killed its run: the
   stop error goes on |co|'s stack and the run counts as failed (returns
   the status to treat it with). */
int h2lua_guard_killed(lua_State *L, h2lua_guard *g, lua_State *co, int nres);
/* After a memory error (the failed coroutine closed): a full collection,
   then freed memory goes back to the system. */
void h2lua_guard_reclaim(lua_State *L, h2lua_guard *g);

/* At lua_close: the timer and handlers go, the state's allocator is
   restored. */
void h2lua_guard_close(lua_State *L, h2lua_guard *g);

#endif
