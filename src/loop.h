/*
 * The event loop: run until stopped or idle, the one timer behind Lua's
 * timer heap, immediates, and SIGINT/SIGTERM as events.
 */
#ifndef H2LUA_LOOP_H
#define H2LUA_LOOP_H

#include "runtime.h"

/* Runs the loop on |L| (the calling thread) until h2lua_loop_stop or until
   nothing referenced is left. Returns 0, or -1 when already running. */
int h2lua_loop_run(h2lua_rt *rt, lua_State *L);
/* The running loop returns after the current turn. */
void h2lua_loop_stop(h2lua_rt *rt);
/* Queues EV_TIMER after |ms| milliseconds; a negative |ms| disarms. */
void h2lua_loop_timer(h2lua_rt *rt, double ms);
/* Queues EV_TICK after this turn's I/O (Node's check phase). */
void h2lua_loop_want_tick(h2lua_rt *rt);
/* Whether SIGINT/SIGTERM are delivered as EV_SIGNAL (they never keep the
   loop alive by themselves). */
void h2lua_loop_signals(h2lua_rt *rt, int on);

#endif
