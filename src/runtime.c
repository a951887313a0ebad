/*
 * The runtime: event queue, pump, protected delivery, handles and boxes,
 * the coroutine pool. The runtime userdata is created first in luaopen so
 * that its __gc runs last at lua_close(); it closes every handle still
 * listed, without calling Lua.
 */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"
#include "guard.h"


/* What a worker yields when its function returned: it is idle again. */
static const char DONE = 'd';

h2lua_rt *h2lua_rt_get(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

/* ---- handles ---- */

void h2lua_handle_init(h2lua_handle *h, h2lua_rt *rt,
                       const h2lua_handle_vt *vt, int listed) {
  memset(h, 0, sizeof(*h));
  h->vt = vt;
  h->rt = rt;
  h->ref = LUA_NOREF;
  if (listed) {
    h->listed = 1;
    h->next = rt->handles;
    if (rt->handles) rt->handles->prev = h;
    rt->handles = h;
  }
}

void h2lua_handle_unlist(h2lua_handle *h) {
  h2lua_rt *rt = h->rt;
  if (h->listed) {
    if (h->prev) h->prev->next = h->next;
    else rt->handles = h->next;
    if (h->next) h->next->prev = h->prev;
    h->next = h->prev = NULL;
    h->listed = 0;
  }
  if (h->dirty) {
    for (size_t i = 0; i < rt->ndirty; i++)
      if (rt->dirty[i] == h) rt->dirty[i] = NULL;
    h->dirty = 0;
  }
}

int h2lua_anchor(lua_State *L, h2lua_rt *rt) {
  if (rt->nfree_refs == 0) return luaL_ref(L, LUA_REGISTRYINDEX);
  int ref = rt->free_refs[--rt->nfree_refs];
  lua_rawseti(L, LUA_REGISTRYINDEX, ref);
  return ref;
}

void h2lua_handle_release(h2lua_handle *h) {
  if (h->box) h->box->p = NULL;
  h->box = NULL;
  h2lua_rt *rt = h->rt;
  /* at lua_close the registry is going away with everything in it */
  if (h->ref != LUA_NOREF && !rt->closing) {
    /* the slot keeps a false (never nil: luaL_ref takes the registry's
       length for new slots) and waits in free_refs for h2lua_anchor */
    lua_pushboolean(rt->main, 0);
    lua_rawseti(rt->main, LUA_REGISTRYINDEX, h->ref);
    if (rt->nfree_refs == rt->free_refs_cap) {
      size_t cap = rt->free_refs_cap ? rt->free_refs_cap * 2 : 64;
      int *f = realloc(rt->free_refs, cap * sizeof(*f));
      if (f) {
        rt->free_refs = f;
        rt->free_refs_cap = cap;
      }
    }
    if (rt->nfree_refs < rt->free_refs_cap) rt->free_refs[rt->nfree_refs++] = h->ref;
    else luaL_unref(rt->main, LUA_REGISTRYINDEX, h->ref);
  }
  h->ref = LUA_NOREF;
}

int h2lua_handle_push(lua_State *L, const h2lua_handle *h) {
  if (h == NULL || h->ref == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
  return 1;
}

void h2lua_handle_adopt(lua_State *L, h2lua_handle *h, int idx) {
  if (!lua_istable(L, idx) || h->ref != LUA_NOREF) return;
  lua_pushvalue(L, idx);
  h->ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void h2lua_mark_dirty(h2lua_handle *h) {
  h2lua_rt *rt = h->rt;
  if (h->dirty || rt->closing) return;
  if (rt->ndirty == rt->dirty_cap) {
    size_t cap = rt->dirty_cap ? rt->dirty_cap * 2 : 16;
    h2lua_handle **d = realloc(rt->dirty, cap * sizeof(*d));
    if (d == NULL) abort(); /* nothing sane to do without memory */
    rt->dirty = d;
    rt->dirty_cap = cap;
  }
  h->dirty = 1;
  rt->dirty[rt->ndirty++] = h;
}

/* ---- the queue ---- */

h2lua_event *h2lua_queue(h2lua_rt *rt, int type, h2lua_handle *h) {
  if (rt->closing || (h && h->final)) return NULL;
  if (rt->ev_head > 0 && rt->ev_head == rt->ev_len) rt->ev_head = rt->ev_len = 0;
  if (rt->ev_len == rt->ev_cap) {
    size_t cap = rt->ev_cap ? rt->ev_cap * 2 : 64;
    h2lua_event *ev = realloc(rt->ev, cap * sizeof(*ev));
    if (ev == NULL) abort();
    rt->ev = ev;
    rt->ev_cap = cap;
  }
  h2lua_event *ev = &rt->ev[rt->ev_len++];
  memset(ev, 0, sizeof(*ev));
  ev->type = type;
  ev->h = h;
  return ev;
}

h2lua_event *h2lua_queue_final(h2lua_rt *rt, int type, h2lua_handle *h) {
  h2lua_event *ev = h2lua_queue(rt, type, h);
  if (ev) h->final = 1;
  return ev;
}

char *h2lua_event_alloc(h2lua_event *ev, size_t len) {
  free(ev->data.p);
  ev->data.p = malloc(len + 1);
  ev->data.len = 0;
  if (ev->data.p == NULL) return NULL;
  ev->data.p[len] = 0;
  ev->data.len = len;
  return ev->data.p;
}

int h2lua_event_data(h2lua_event *ev, const void *p, size_t len) {
  char *d = h2lua_event_alloc(ev, len);
  if (d == NULL) return -1;
  if (len) memcpy(d, p, len);
  return 0;
}

/* ---- delivery ---- */

static void report(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "h2lua: error in dispatcher: %s\n",
          msg ? msg : "(error object is not a string)");
  lua_pop(L, 1);
}

/* One event to Lua: the target's own deliverer, or the dispatcher with
   (type, object, fields...). May raise (callers are protected). */
static void deliver_one(lua_State *L, h2lua_rt *rt, h2lua_event *ev) {
  h2lua_handle *h = ev->h;
  int top = lua_gettop(L);
  if (h && h->vt->deliver && h->vt->deliver(h, ev, L)) {
    lua_settop(L, top);
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->dispatch_ref);
  lua_pushinteger(L, ev->type);
  int nargs = 1;
  if (h) {
    if (!h2lua_handle_push(L, h)) goto skip;
    int n = h->vt->push(h, ev, L);
    if (n < 0) goto skip;
    nargs += 1 + n;
  } else if (ev->type == H2LUA_EV_SIGNAL) {
    lua_pushinteger(L, ev->u.signal.signo);
    nargs++;
  }
  lua_call(L, nargs, 1);
  if (h && h->vt->result) h->vt->result(h, ev, L);
skip:
  lua_settop(L, top);
}

static void finish_current(h2lua_rt *rt) {
  if (!rt->cur_live) return;
  rt->cur_live = 0;
  h2lua_event *ev = &rt->cur;
  if (ev->h && ev->h->vt->delivered) ev->h->vt->delivered(ev->h, ev);
  free(ev->data.p);
  ev->data.p = NULL;
}

/* Lua's wake queue: coroutines woken during the last event run now. */
static void run_drain(lua_State *L, h2lua_rt *rt) {
  rt->drain_wanted = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->drain_ref);
  lua_call(L, 0, 0);
}

/* Delivers queued events one after the other inside one protected call
   (a pcall per event costs more than the event); an error ends the batch
   and the pump starts another. */
static int deliver_batch(lua_State *L) {
  h2lua_rt *rt = lua_touserdata(L, 1);
  while (rt->ev_head < rt->ev_len && !rt->closing) {
    rt->cur = rt->ev[rt->ev_head++];
    rt->cur_live = 1;
    rt->guard.main_run = ++rt->runs; /* each event a run for the CPU budget */
    deliver_one(L, rt, &rt->cur);
    finish_current(rt);
    if (rt->drain_wanted) run_drain(L, rt);
  }
  rt->guard.main_run = ++rt->runs;
  if (rt->drain_wanted && !rt->closing) run_drain(L, rt);
  return 0;
}

static void deliver_all(h2lua_rt *rt) {
  lua_State *L = rt->L;
  while ((rt->ev_head < rt->ev_len || rt->drain_wanted) && !rt->closing) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->traceback_ref);
    lua_pushcfunction(L, deliver_batch);
    lua_pushlightuserdata(L, rt);
    if (lua_pcall(L, 1, 0, -3) != LUA_OK) {
      report(L);
      finish_current(rt);
    }
    rt->guard.main_run = 0;
    h2lua_guard_unhook(L);
    lua_pop(L, 1);
  }
  if (rt->ev_head == rt->ev_len) rt->ev_head = rt->ev_len = 0;
}

void h2lua_pump(h2lua_rt *rt) {
  if (rt->pumping || rt->closing) return;
  rt->pumping = 1;
  for (;;) {
    deliver_all(rt);
    if (rt->ndirty == 0 || rt->closing) break;
    /* flushing can queue events (a stream closes as its last frame goes) */
    for (size_t i = 0; i < rt->ndirty; i++) {
      h2lua_handle *h = rt->dirty[i];
      if (h == NULL) continue;
      rt->dirty[i] = NULL;
      h->dirty = 0;
      h->vt->flush(h);
    }
    rt->ndirty = 0;
    if (rt->ev_head == rt->ev_len && !rt->drain_wanted) break;
  }
  rt->pumping = 0;
}

static int deliver_now(lua_State *L) {
  h2lua_rt *rt = lua_touserdata(L, 1);
  deliver_one(L, rt, lua_touserdata(L, 2));
  return 0;
}

void h2lua_deliver_now(h2lua_rt *rt, h2lua_event *ev) {
  lua_State *L = rt->L;
  if (rt->closing) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->traceback_ref);
  lua_pushcfunction(L, deliver_now);
  lua_pushlightuserdata(L, rt);
  lua_pushlightuserdata(L, ev);
  unsigned prev = rt->guard.main_run;
  rt->guard.main_run = ++rt->runs;
  if (lua_pcall(L, 2, 0, -4) != LUA_OK) report(L);
  rt->guard.main_run = prev;
  h2lua_guard_unhook(L);
  lua_pop(L, 1);
  free(ev->data.p);
  ev->data.p = NULL;
}

/* ---- coroutines ---- */

/* The pool: up to H2LUA_POOL_MAX coroutines anchored for good in the pool
   table (slot i), their lua_States in rt->slots, the idle ones' slots on
   rt->free_slots; a coroutine's slot (or -1) is in its extra space. An
   idle one is taken and resumed with no Lua stack work; one that waits
   keeps its slot until it finishes. Past H2LUA_POOL_MAX, coroutines are made
   for one use and collected. */
static int slot_of(lua_State *co) { return *(int *)lua_getextraspace(co); }

/* The body of every pooled coroutine, in C: it takes (fn, owner, args...)
   from a resume, calls fn(args...) with the owner kept in the bottom slot
   (where settle finds it when fn raises), then yields DONE and takes the
   next. No pcall: an error kills the coroutine. In C rather than Lua, no
   vararg frame and no tail call per callback. */
static int worker_next(lua_State *co, int status, lua_KContext ctx);

static int worker_done(lua_State *co, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lua_settop(co, 0);
  lua_pushlightuserdata(co, (void *)&DONE);
  return lua_yieldk(co, 1, 0, worker_next);
}

static int worker_next(lua_State *co, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  /* fn, owner, args... -> owner, fn, args... */
  lua_pushvalue(co, 1);
  lua_pushvalue(co, 2);
  lua_replace(co, 1);
  lua_replace(co, 2);
  lua_callk(co, lua_gettop(co) - 2, 0, 0, worker_done);
  return worker_done(co, LUA_OK, 0);
}

static int worker_start(lua_State *co) { return worker_next(co, LUA_OK, 0); }

/* What a coroutine's resume ended in: idle (back to the pool), waiting
   (someone holds it and wakes it), or dead by an error outside the
   worker's own protection. */
static void settle(lua_State *L, h2lua_rt *rt, lua_State *co, int status,
                   int nres) {
  int slot = slot_of(co);
  if (status == LUA_YIELD) {
    int idle = nres == 1 && lua_touserdata(co, -1) == (void *)&DONE;
    lua_pop(co, nres);
    if (idle && slot >= 0) rt->free_slots[rt->nfree++] = slot;
    return;
  }
  if (status != LUA_OK) {
    /* the callback raised: failed(owner, err, co), the owner being in
       the first slot of the coroutine's bottom frame (the worker's) */
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->failed_ref);
    lua_Debug ar;
    int level = 0;
    while (lua_getstack(co, level + 1, &ar)) level++;
    if (lua_getstack(co, level, &ar) && lua_getlocal(co, &ar, 1))
      lua_xmove(co, L, 1);
    else
      lua_pushnil(L);
    lua_pushvalue(co, -1);
    lua_xmove(co, L, 1);
    if (status == LUA_ERRMEM) {
      /* what the callback held goes first: the policy needs memory (a
         memory error gets no traceback) */
      h2lua_closethread(co, L);
      h2lua_guard_reclaim(L, &rt->guard);
      lua_pushnil(L);
    } else {
      lua_pushthread(co);
      lua_xmove(co, L, 1);
    }
    lua_pushboolean(L, status == LUA_ERRMEM);
    rt->guard.unlimited++; /* the owner's policy gets its memory */
    if (lua_pcall(L, 4, 0, 0) != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      fprintf(stderr, "h2lua: error in callback: %s\n", msg ? msg : "?");
    }
    rt->guard.unlimited--;
    lua_settop(L, top);
  }
  if (status != LUA_ERRMEM) h2lua_closethread(co, L);
  if (slot >= 0) { /* reset: it starts the worker afresh next time */
    rt->slot_fresh[slot] = 1;
    rt->free_slots[rt->nfree++] = slot;
  }
}

/* Resumes |co| as a run of its own: the guards (guard.c) see which
   coroutine runs, and a stop hook does not outlive the run. */
static int run(lua_State *L, h2lua_rt *rt, lua_State *co, int nargs,
               int *nres) {
  lua_State *prev = rt->guard.active;
  unsigned prev_run = rt->guard.active_run, id = ++rt->runs;
  rt->guard.active_run = id;
  rt->guard.active = co;
  int status = lua_resume(co, L, nargs, nres);
  rt->guard.active = prev;
  rt->guard.active_run = prev_run;
  /* (a stop hook set after this check goes by itself: the run is over) */
  if (rt->guard.stop_run == id) h2lua_guard_unhook(co);
  if (status == LUA_YIELD && rt->guard.killed == co)
    status = h2lua_guard_killed(L, &rt->guard, co, *nres);
  return status;
}

static lua_State *new_coroutine(lua_State *L, h2lua_rt *rt, int *anchored) {
  lua_State *co = lua_newthread(L);
  /* sched.current() knows it as one of ours (a weak set) */
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->ours_ref);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  int slot = -1;
  if (rt->nslots < H2LUA_POOL_MAX) {
    slot = rt->nslots++;
    rt->slots[slot] = co;
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->pool_ref);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, slot + 1);
    lua_pop(L, 2); /* anchored in the pool table now */
    *anchored = 1;
  } else {
    *anchored = 0; /* stays on the stack while it runs */
  }
  *(int *)lua_getextraspace(co) = slot;
  lua_pushcfunction(co, worker_start);
  return co;
}

void h2lua_spawn(lua_State *L, h2lua_rt *rt, int nargs) {
  lua_State *co;
  int anchored = 1;
  if (rt->nfree > 0) {
    int slot = rt->free_slots[--rt->nfree];
    co = rt->slots[slot];
    if (rt->slot_fresh[slot]) { /* reset after an error */
      rt->slot_fresh[slot] = 0;
      lua_pushcfunction(co, worker_start);
    }
  } else {
    co = new_coroutine(L, rt, &anchored);
    if (!anchored) lua_insert(L, -(nargs + 3)); /* below fn: kept alive */
  }
  lua_xmove(L, co, nargs + 2);
  int nres = 0;
  int status = run(L, rt, co, nargs + 2, &nres);
  settle(L, rt, co, status, nres);
  if (!anchored) lua_pop(L, 1);
}

void h2lua_resume(lua_State *L, h2lua_rt *rt, int co_idx, int nargs) {
  lua_State *co = lua_tothread(L, co_idx);
  if (co == NULL || lua_status(co) != LUA_YIELD) {
    lua_pop(L, nargs);
    return;
  }
  lua_xmove(L, co, nargs);
  int nres = 0;
  int status = run(L, rt, co, nargs, &nres);
  settle(L, rt, co, status, nres);
}

/* ---- boxes ---- */

h2lua_box *h2lua_box_new(lua_State *L, int magic, void *p, int mt_ref) {
  h2lua_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
  b->magic = magic;
  b->p = p;
  if (mt_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, mt_ref);
    lua_setmetatable(L, -2);
  }
  return b;
}

void *h2lua_box_get(lua_State *L, int idx, int magic, int *wrong) {
  h2lua_box *b = lua_touserdata(L, idx);
  if (b == NULL || lua_rawlen(L, idx) < sizeof(*b) || b->magic != magic) {
    *wrong = 1;
    return NULL;
  }
  *wrong = 0;
  return b->p;
}

/* ---- the runtime userdata ---- */

void h2lua_rt_on_close(h2lua_rt *rt, void (*fn)(h2lua_rt *rt)) {
  for (int i = 0; i < rt->nfinalizers; i++)
    if (rt->finalizers[i] == fn) return;
  if (rt->nfinalizers < (int)(sizeof(rt->finalizers) / sizeof(rt->finalizers[0])))
    rt->finalizers[rt->nfinalizers++] = fn;
}

/* At lua_close(): free everything without calling into Lua. */
static int rt_gc(lua_State *L) {
  h2lua_rt *rt = lua_touserdata(L, 1);
  if (rt->base == NULL) return 0;
  rt->closing = 1;
  while (rt->handles) {
    h2lua_handle *h = rt->handles;
    h->vt->close(h);
    if (rt->handles == h) h2lua_handle_unlist(h); /* a close that forgot */
  }
  for (int i = rt->nfinalizers - 1; i >= 0; i--) rt->finalizers[i](rt);
  for (size_t i = rt->ev_head; i < rt->ev_len; i++) free(rt->ev[i].data.p);
  free(rt->ev);
  free(rt->dirty);
  free(rt->free_refs);
  if (rt->timer) event_free(rt->timer);
  if (rt->tick) event_free(rt->tick);
  if (rt->sigint) event_free(rt->sigint);
  if (rt->sigterm) event_free(rt->sigterm);
  event_base_free(rt->base);
  rt->base = NULL;
  h2lua_guard_close(L, &rt->guard);
  h2lua_block_drain();
  return 0;
}

h2lua_rt *h2lua_rt_new(lua_State *L) {
  h2lua_rt *rt = lua_newuserdatauv(L, sizeof(*rt), 1);
  memset(rt, 0, sizeof(*rt));
  int *refs[] = {&rt->dispatch_ref,     &rt->traceback_ref, &rt->drain_ref,
                 &rt->pool_ref,      &rt->ours_ref,
                 &rt->stream_entry_ref, &rt->single_ref, &rt->failed_ref,
                 &rt->sensitive_ref,    &rt->stream_mt_ref,  &rt->respond_ref,
                 &rt->finish_ref,       &rt->headers_mt_ref, &rt->guard.stopped_ref,
                 &rt->lazy_headers_mt_ref};
  for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
    *refs[i] = LUA_NOREF;
  rt->base = event_base_new();
  if (rt->base == NULL) return NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  rt->main = rt->L = rt->guard.L = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, rt_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushliteral(L, "h2lua.Runtime");
  lua_setfield(L, -2, "__name");
  lua_setmetatable(L, -2);
  static const char *const keys[] = {
#define H2LUA_KEY_NAME(id, str) str,
      H2LUA_KEYS(H2LUA_KEY_NAME)
#undef H2LUA_KEY_NAME
  };
  for (int i = 0; i < H2LUA_K_COUNT; i++) {
    lua_pushstring(L, keys[i]);
    rt->key_ref[i] = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  /* the pool of idle coroutines and the weak set of ours */
  lua_newtable(L);
  rt->pool_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  rt->ours_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return rt;
}

void *h2lua_done_marker(void) { return (void *)&DONE; }
