/*
 * The runtime of one lua_State: the event base, the event queue that
 * carries what libevent and nghttp2 report, the pump that delivers it to
 * Lua and then flushes what Lua gave to send, the generic handle every
 * object embeds, the boxes Lua holds, and the pool of coroutines handlers
 * run in.
 *
 * Lifetime rules (the whole engine follows them):
 *  1. C owns every protocol object. Lua holds a box {magic, pointer}; C sets
 *     the pointer to NULL when it frees the object, and every binding checks.
 *  2. While an object can still report events, C holds a registry reference
 *     to its Lua object (handle.ref), dropped once its final event (stream
 *     close, session close, socket close) has been delivered.
 *  3. No Lua runs inside an nghttp2 or libevent callback: they queue events;
 *     h2lua_pump() delivers them (under lua_pcall) once the callback's work
 *     is done, then flushes every handle marked dirty.
 *  4. Nothing is queued for a handle after its final event; since the queue
 *     is FIFO, an event's handle always outlives the event.
 *  5. Liveness (does the loop keep running) is rt->refs, apart from the
 *     references that keep objects alive.
 */
#ifndef H2LUA_RUNTIME_H
#define H2LUA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "events.h"
#include "guard.h"
#include "keys.h"

typedef struct h2lua_rt h2lua_rt;
typedef struct h2lua_handle h2lua_handle;
typedef struct h2lua_event h2lua_event;
/* the objects events speak of (defined by the layers above) */
typedef struct h2lua_session h2lua_session;
typedef struct h2lua_stream h2lua_stream;
typedef struct h2lua_socket h2lua_socket;

/* A payload the event owns (malloc'd, freed after delivery). */
typedef struct h2lua_blob {
  char *p;
  size_t len;
} h2lua_blob;

struct h2lua_event {
  int type;          /* H2LUA_EV_* */
  h2lua_handle *h;   /* the target; NULL for loop events */
  h2lua_blob data;   /* see the event's entry in events.h */
  union {
    struct { int signo; } signal;
    struct { h2lua_session *se; int http1; } session;
    struct { int err; } error;
    struct { char host[64]; int port; } peer;
    struct { const char *name; void *ctx; } sni;
    struct { uint32_t code; int32_t last_id; } goaway;
    struct { uint8_t payload[8]; } ping;
    struct { h2lua_stream *st; int frame_type, code; int32_t stream_id; }
        frame_error;
    struct { int32_t id; } refused;
    struct { h2lua_stream *st; int32_t id, parent; int weight, exclusive; } priority;
    struct { int32_t stream_id; size_t origin_len; } altsvc;
    struct { size_t n; } origin;
    struct { h2lua_stream *st; size_t npairs; int32_t parent; int end; }
        stream;
    struct { size_t npairs; int end; } headers;
    struct { uint32_t code; } close;
    struct { h2lua_socket *so; } accept;
  } u;
};

/* What each kind of object does for the runtime. */
typedef struct h2lua_handle_vt {
  const char *name;
  /* Pushes the fields of |ev| after the target object; returns how many,
     or -1 to skip the event. Runs protected. */
  int (*push)(h2lua_handle *h, const h2lua_event *ev, lua_State *L);
  /* Optional: delivers |ev| itself (fast paths) and returns 1, or returns
  0 for the dispatcher to get it. Runs protected. */
  int (*deliver)(h2lua_handle *h, h2lua_event *ev, lua_State *L);
  /* Optional: the dispatcher's result is on top of the stack. */
  void (*result)(h2lua_handle *h, h2lua_event *ev, lua_State *L);
  /* After delivery, whether Lua raised or not: releases what |ev| held,
     frees the object after its final event. Must not call Lua. */
  void (*delivered)(h2lua_handle *h, h2lua_event *ev);
  /* The handle was marked dirty: send what Lua gave it. */
  void (*flush)(h2lua_handle *h);
  /* At lua_close: free the object without calling Lua. */
  void (*close)(h2lua_handle *h);
} h2lua_handle_vt;

/* The Lua handle: a full userdata holding one pointer, NULL once freed. */
enum {
  H2LUA_MAGIC_SERVER = 0x5356,
  H2LUA_MAGIC_SESSION = 0x5345,
  H2LUA_MAGIC_STREAM = 0x5354,
  H2LUA_MAGIC_SOCKET = 0x534b,
  H2LUA_MAGIC_NETSERVER = 0x4e53,
};
typedef struct h2lua_box {
  int magic;
  void *p;
} h2lua_box;

struct h2lua_handle {
  const h2lua_handle_vt *vt;
  h2lua_rt *rt;
  h2lua_box *box;    /* Lua's box, NULL until it has one */
  int ref;           /* registry reference to the Lua object */
  unsigned dirty : 1, final : 1, listed : 1;
  h2lua_handle *next, *prev; /* rt->handles, when listed */
};

struct h2lua_rt {
  lua_State *L;     /* the thread callbacks run on: the caller of run() */
  lua_State *main;
  struct event_base *base;
  int refs;         /* liveness: servers, sessions, sockets, Lua timers */
  int running, stopped, closing, pumping, drain_wanted, observe;
  /* Lua values the engine calls or builds with (registry references) */
  int dispatch_ref, traceback_ref, drain_ref, failed_ref, pool_ref,
      ours_ref;
  /* bumped by Lua whenever a 'stream' or 'request' listener comes or goes:
     a session's direct listener (h2lua_session.fast_ref) holds only for
     the generation it was set in */
  unsigned listen_gen;
  /* registry slots given back by released handles, for h2lua_anchor:
     cheaper than luaL_ref/luaL_unref for every stream */
  int *free_refs;
  size_t nfree_refs, free_refs_cap;
  int stream_entry_ref, single_ref, sensitive_ref,
      stream_mt_ref, respond_ref, finish_ref, headers_mt_ref,
      lazy_headers_mt_ref; /* headers.c's, made on first use */
  unsigned runs; /* runs started: each resume, each delivery on rt->L */
  h2lua_guard guard; /* what guard.c watches */
  /* the coroutine pool (runtime.c) */
#define H2LUA_POOL_MAX 256
  lua_State *slots[H2LUA_POOL_MAX];
  int free_slots[H2LUA_POOL_MAX];
  char slot_fresh[H2LUA_POOL_MAX];
  int nslots, nfree;
  int key_ref[H2LUA_K_COUNT]; /* the interned field names (keys.h) */
  /* the event queue (FIFO) and the event being delivered */
  h2lua_event *ev;
  size_t ev_head, ev_len, ev_cap;
  h2lua_event cur;
  int cur_live;
  /* handles to flush after delivery */
  h2lua_handle **dirty;
  size_t ndirty, dirty_cap;
  h2lua_handle *handles; /* top-level objects, closed at lua_close */
  /* what the layers above keep per runtime, freed at lua_close */
  void *dns;          /* conn.c: the resolver */
  void *stream_pool;  /* stream.c: recycled stream records */
  void *strcache;     /* headers.c: Lua strings of common fields */
  void *static_strings; /* headers.c: those of nghttp2's static table */
  int nstream_pool;
  void (*finalizers[8])(h2lua_rt *rt);
  int nfinalizers;
  /* loop.c */
  struct event *timer, *tick, *sigint, *sigterm;
  int want_tick;
  /* counters for leak checks */
  int n_servers, n_sessions, n_streams, n_sockets;
  int n_lingering; /* conn.c: closed connections still sending their last bytes */
};

/* The runtime of the binding being called (its upvalue 1). */
h2lua_rt *h2lua_rt_get(lua_State *L);

/* Sets up |h| for |rt|; |listed| puts it on the list closed at lua_close. */
void h2lua_handle_init(h2lua_handle *h, h2lua_rt *rt,
                       const h2lua_handle_vt *vt, int listed);
/* Takes |h| off the runtime's lists (queue entries stay valid: rule 4). */
void h2lua_handle_unlist(h2lua_handle *h);
/* Pops the value on top of |L| into a registry slot and returns the slot
   (a released handle's slot if there is one). */
int h2lua_anchor(lua_State *L, h2lua_rt *rt);

/* Clears Lua's box and drops the reference; never calls Lua code. */
void h2lua_handle_release(h2lua_handle *h);
/* Pushes |h|'s Lua object; returns 0 (pushing nothing) when it has none. */
int h2lua_handle_push(lua_State *L, const h2lua_handle *h);
/* Keeps the Lua value at |idx| as |h|'s object (if it is a table). */
void h2lua_handle_adopt(lua_State *L, h2lua_handle *h, int idx);
/* Flush |h| after the current delivery. */
void h2lua_mark_dirty(h2lua_handle *h);

/* Appends an event for |h| (NULL: a loop event) and returns it for the
   caller to fill in; NULL when the runtime is closing or |h| had its final
   event already (then nothing must be filled in). */
h2lua_event *h2lua_queue(h2lua_rt *rt, int type, h2lua_handle *h);
/* The same for |h|'s final event: nothing can be queued for |h| after. */
h2lua_event *h2lua_queue_final(h2lua_rt *rt, int type, h2lua_handle *h);
/* Copies |len| bytes into the event's blob; returns 0, or -1 (no memory). */
int h2lua_event_data(h2lua_event *ev, const void *p, size_t len);
/* Makes the event's blob |len| bytes long (plus a NUL) for the caller to
   fill; NULL when out of memory. */
char *h2lua_event_alloc(h2lua_event *ev, size_t len);

/* Delivers every queued event, runs Lua's wake queue, flushes dirty
   handles, until none is left. Every libevent callback ends with it. */
void h2lua_pump(h2lua_rt *rt);
/* Delivers |ev| now, outside the queue (a callback that needs Lua's answer
   before it returns); the target's result hook reads the answer. */
void h2lua_deliver_now(h2lua_rt *rt, h2lua_event *ev);

/* Runs fn(...) in a pooled coroutine: the stack holds fn, owner and
   |nargs| arguments on top; they are popped. Call protected. */
void h2lua_spawn(lua_State *L, h2lua_rt *rt, int nargs);
/* Resumes the waiting coroutine at |co_idx| with the |nargs| values on
   top of the stack; puts it back in the pool when its function returned. */
void h2lua_resume(lua_State *L, h2lua_rt *rt, int co_idx, int nargs);

/* A box for |p| pushed on the stack, with the metatable of registry
   reference |mt_ref| when it is not LUA_NOREF. */
h2lua_box *h2lua_box_new(lua_State *L, int magic, void *p, int mt_ref);
/* The object behind the box at |idx| (NULL once freed), or NULL with
   *wrong set when the value is not a box of that kind. */
void *h2lua_box_get(lua_State *L, int idx, int magic, int *wrong);

/* The value a worker yields when its function returned (core.DONE). */
void *h2lua_done_marker(void);

/* Pushes the interned field name |k| (keys.h). */
static inline void h2lua_pushkey(lua_State *L, const h2lua_rt *rt, int k) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->key_ref[k]);
}
/* t[k] = true, for a table at absolute index |t| without __newindex. */
static inline void h2lua_set_true(lua_State *L, const h2lua_rt *rt, int t, int k) {
  h2lua_pushkey(L, rt, k);
  lua_pushboolean(L, 1);
  lua_rawset(L, t);
}

/* Registers a function run at lua_close after every handle is closed. */
void h2lua_rt_on_close(h2lua_rt *rt, void (*fn)(h2lua_rt *rt));
/* Creates the runtime userdata (pushed) for |L|; NULL when out of memory. */
h2lua_rt *h2lua_rt_new(lua_State *L);

#endif
