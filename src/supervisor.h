/*
 * Workers (`h2lua --workers N`): a supervising parent that forks N worker
 * processes and holds their listening sockets, and the worker's side of
 * that (asking the parent for a listening socket, telling it it is ready).
 * Calls nothing else of h2lua: the program calls the parent's side before
 * any engine exists, the engine calls the worker's side.
 */
#ifndef H2LUA_SUPERVISOR_H
#define H2LUA_SUPERVISOR_H

#include <stddef.h>

/* The number of workers "auto" stands for: the CPUs this process may run on. */
int h2lua_cpu_count(void);

/* Forks |n| workers and supervises them until they have all exited after
   SIGTERM/SIGINT. Returns -1 in each worker (which then runs the script
   as the program would), and in the parent the program's exit status. */
int h2lua_supervise(int n);

/* This process's worker number (1..N), or 0 when it is not a worker. */
int h2lua_worker_id(void);

/* In a worker: a listening socket for |host| (NULL: any), |port| from the
   parent, which keeps it across the worker's replacement (SO_REUSEPORT,
   one socket per worker slot). Returns the descriptor, or -1 with
   |errname| (a Node.js code) and |msg| set. */
int h2lua_worker_listen(const char *host, int port, int backlog,
                        const char **errname, char *msg, size_t msglen);

/* In a worker: tells the parent the script is loaded and listening (the
   worker it replaces may now drain). Once; no-op outside a worker. */
void h2lua_worker_ready(void);

/* In a worker: the control socket to watch (readable: call
   h2lua_worker_message), or -1 outside a worker. */
int h2lua_worker_ctl(void);

/* In a worker, without blocking: 'D' when the parent says this worker is
   replaced (stop accepting, let the open connections finish), 'T' when it
   says drain and exit (as SIGTERM, but once), 'K' when it says stop now,
   0 when the parent is gone,
   -1 when there is nothing to read. */
int h2lua_worker_message(void);

#endif
