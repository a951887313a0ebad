/*
 * The per-lua_State runtime: the event base, the event queue that carries
 * nghttp2/libevent reports to Lua, the pump that delivers them and then
 * flushes sessions, the Lua handle boxes, and the module entry point. The
 * runtime userdata is created first so that its __gc runs last at
 * lua_close(); it frees every remaining server, session and stream.
 */
#include "internal.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <event2/dns.h>

#include "h2lua.h"

static const char RT_KEY = 'r';

h2lua_rt *h2lua_rt_get(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

void h2lua_rt_addref(h2lua_rt *rt, int delta) { rt->refs += delta; }

static void queue_grow(h2lua_rt *rt) {
  if (rt->ev_head > 0 && rt->ev_head == rt->ev_len) {
    rt->ev_head = rt->ev_len = 0;
  }
  if (rt->ev_len < rt->ev_cap) return;
  size_t cap = rt->ev_cap ? rt->ev_cap * 2 : 64;
  h2lua_event *ev = realloc(rt->ev, cap * sizeof(*ev));
  if (ev == NULL) abort(); /* nothing sane to do without memory */
  rt->ev = ev;
  rt->ev_cap = cap;
}

void h2lua_queue(h2lua_rt *rt, int type, h2lua_server *sv, h2lua_session *se,
                 h2lua_stream *st, int64_t a, int64_t b) {
  if (rt->closing) return;
  queue_grow(rt);
  h2lua_event *ev = &rt->ev[rt->ev_len++];
  memset(ev, 0, sizeof(*ev));
  ev->type = type;
  ev->sv = sv;
  ev->se = se;
  ev->st = st;
  ev->a = a;
  ev->b = b;
}

void h2lua_queue_data(h2lua_rt *rt, int type, h2lua_session *se, int64_t a,
                      int64_t b, const uint8_t *data, size_t len) {
  if (rt->closing) return;
  h2lua_queue(rt, type, NULL, se, NULL, a, b);
  h2lua_event *ev = &rt->ev[rt->ev_len - 1];
  if (len > 0) {
    ev->data = malloc(len);
    if (ev->data == NULL) abort();
    memcpy(ev->data, data, len);
    ev->datalen = len;
  }
}

void h2lua_mark_dirty(h2lua_session *se) {
  h2lua_rt *rt = se->rt;
  if (se->dirty || se->torn_down) return;
  if (rt->ndirty == rt->dirty_cap) {
    size_t cap = rt->dirty_cap ? rt->dirty_cap * 2 : 16;
    h2lua_session **d = realloc(rt->dirty, cap * sizeof(*d));
    if (d == NULL) abort();
    rt->dirty = d;
    rt->dirty_cap = cap;
  }
  se->dirty = 1;
  rt->dirty[rt->ndirty++] = se;
}

void h2lua_push_ref(lua_State *L, int ref) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

h2lua_box *h2lua_box_new(lua_State *L, int magic, void *p) {
  h2lua_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
  b->magic = magic;
  b->p = p;
  return b;
}

/* Returns the object behind the box at |idx|, or NULL when it is gone.
   Raises only when |idx| is not a box of the right kind (a caller bug). */
void *h2lua_check_box(lua_State *L, int idx, int magic, const char *what) {
  h2lua_box *b = lua_touserdata(L, idx);
  if (b == NULL || lua_rawlen(L, idx) != sizeof(*b) || b->magic != magic)
    luaL_error(L, "bad argument #%d (%s handle expected)", idx, what);
  return b->p;
}

int h2lua_raise(lua_State *L, const char *code, const char *name,
                const char *fmt, ...) {
  va_list ap;
  lua_createtable(L, 0, 3);
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_setfield(L, -2, "message");
  return lua_error(L);
}

/* The Node.js code for an errno (-1: a name that did not resolve). */
const char *h2lua_errno_name(int e) {
  switch (e) {
  case -1: return "ENOTFOUND";
  case EADDRINUSE: return "EADDRINUSE";
  case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
  case EACCES: return "EACCES";
  case EINVAL: return "EINVAL";
  case EAFNOSUPPORT: return "EAFNOSUPPORT";
  case EMFILE: return "EMFILE";
  case ENFILE: return "ENFILE";
  case ECONNREFUSED: return "ECONNREFUSED";
  case ECONNRESET: return "ECONNRESET";
  case ETIMEDOUT: return "ETIMEDOUT";
  case EHOSTUNREACH: return "EHOSTUNREACH";
  case ENETUNREACH: return "ENETUNREACH";
  case EPIPE: return "EPIPE";
  default: return "EIO";
  }
}

/* Reads the (id, value) argument pairs from |first| on into |iv| (at most
   H2LUA_MAX_SETTINGS); returns how many. Only l* functions call it. */
size_t h2lua_check_settings(lua_State *L, int first,
                            nghttp2_settings_entry *iv) {
  int n = (lua_gettop(L) - first + 1) / 2;
  if (n < 0) n = 0;
  if (n > H2LUA_MAX_SETTINGS) n = H2LUA_MAX_SETTINGS;
  for (int i = 0; i < n; i++) {
    iv[i].settings_id = (int32_t)luaL_checkinteger(L, first + 2 * i);
    iv[i].value = (uint32_t)luaL_checkinteger(L, first + 1 + 2 * i);
  }
  return (size_t)n;
}

const char *h2lua_date(h2lua_rt *rt) {
  time_t now = time(NULL);
  if ((int64_t)now != rt->date_sec) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(rt->date, sizeof(rt->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    rt->date_sec = (int64_t)now;
  }
  return rt->date;
}

/* Delivery: push handler and arguments for one event, run it protected. */
static int push_obj(lua_State *L, int ref) {
  if (ref == LUA_NOREF || ref == LUA_REFNIL) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  return 1;
}

/* remote address, port, local address, port, family: 5 values */
static void push_addresses(lua_State *L, h2lua_session *se) {
  lua_pushstring(L, se->remote_addr);
  lua_pushinteger(L, se->remote_port);
  lua_pushstring(L, se->local_addr);
  lua_pushinteger(L, se->local_port);
  lua_pushinteger(L, se->family);
}

static void report(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "h2lua: error in dispatcher: %s\n",
          msg ? msg : "(error object is not a string)");
  lua_pop(L, 1);
}

static void deliver(h2lua_rt *rt, h2lua_event *ev) {
  lua_State *L = rt->L;
  int top = lua_gettop(L);
  int nargs = 1, want_ref = 0;
  h2lua_stream *st = ev->st;
  h2lua_session *se = ev->se;

  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->traceback_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->handler_ref);
  lua_pushinteger(L, ev->type);
  if (ev->type == H2LUA_EV_NET_CLOSED) { /* not a handler call */
    lua_settop(L, top);
    h2lua_net_closed(rt, ev->data);
    ev->data = NULL;
    return;
  }
  switch (ev->type) {
  case H2LUA_EV_TIMER:
  case H2LUA_EV_TICK:
    break;
  case H2LUA_EV_SIGNAL:
    lua_pushinteger(L, ev->a);
    nargs++;
    break;
  case H2LUA_EV_SESSION:
    if (!push_obj(L, ev->sv ? ev->sv->lua_ref : LUA_NOREF)) lua_pushnil(L);
    se->box = h2lua_box_new(L, H2LUA_MAGIC_SESSION, se);
    push_addresses(L, se);
    lua_pushboolean(L, ev->a == 1); /* HTTP/1.1 */
    nargs += 8;
    want_ref = 1;
    break;
  case H2LUA_EV_H1_REQUEST: {
    if (!push_obj(L, se->lua_ref) || st->se == NULL) goto skip;
    st->box = h2lua_box_new(L, H2LUA_MAGIC_STREAM, st);
    const char *p = ev->data, *end = ev->data + ev->datalen;
    lua_pushstring(L, p); /* method */
    p += strlen(p) + 1;
    lua_pushstring(L, p < end ? p : ""); /* url */
    p += strlen(p) + 1;
    lua_createtable(L, (int)ev->b * 2, 0);
    for (lua_Integer i = 1; p < end; i++) {
      lua_pushstring(L, p);
      lua_rawseti(L, -2, i);
      p += strlen(p) + 1;
    }
    lua_pushinteger(L, ev->c);
    lua_pushinteger(L, ev->a);
    lua_pushinteger(L, st->id);
    nargs += 8;
    want_ref = 1;
    break;
  }
  case H2LUA_EV_H1_TRAILERS: {
    if (!push_obj(L, st->lua_ref)) goto skip;
    const char *p = ev->data, *end = ev->data + ev->datalen;
    lua_createtable(L, (int)ev->b * 2, 0);
    for (lua_Integer i = 1; p < end && *p; i++) {
      lua_pushstring(L, p);
      lua_rawseti(L, -2, i);
      p += strlen(p) + 1;
      lua_pushstring(L, p < end ? p : "");
      lua_rawseti(L, -2, ++i);
      p += strlen(p) + 1;
    }
    nargs += 2;
    break;
  }
  case H2LUA_EV_H1_UPGRADED:
    if (!push_obj(L, se->lua_ref)) goto skip;
    nargs++;
    break;
  case H2LUA_EV_STREAM:
    if (!push_obj(L, se->lua_ref) || st->se == NULL) goto skip;
    st->box = h2lua_box_new(L, H2LUA_MAGIC_STREAM, st);
    h2lua_push_headers(L, rt, st, (size_t)ev->b);
    lua_pushboolean(L, (int)ev->a);
    lua_pushinteger(L, st->id);
    lua_pushinteger(L, ev->c);
    nargs += 7; /* session, box, headers, raw, endStream, id, parent id */
    want_ref = 1;
    break;
  case H2LUA_EV_TRAILERS:
    if (!push_obj(L, st->lua_ref)) goto skip;
    h2lua_push_headers(L, rt, st, (size_t)ev->b);
    nargs += 3;
    break;
  case H2LUA_EV_HEADERS:
    if (!push_obj(L, st->lua_ref)) goto skip;
    h2lua_push_headers(L, rt, st, (size_t)ev->b);
    lua_pushboolean(L, (int)ev->a);
    nargs += 4;
    break;
  case H2LUA_EV_CONNECT:
    if (!push_obj(L, se->lua_ref)) goto skip;
    push_addresses(L, se);
    nargs += 6;
    break;
  case H2LUA_EV_UNKNOWN_PROTOCOL:
    if (!push_obj(L, ev->sv ? ev->sv->lua_ref : LUA_NOREF)) goto skip;
    se->box = h2lua_box_new(L, H2LUA_MAGIC_SESSION, se);
    push_addresses(L, se);
    nargs += 7;
    want_ref = 1;
    break;
  case H2LUA_EV_TLS_ERROR:
    if (!push_obj(L, ev->sv ? ev->sv->lua_ref : LUA_NOREF)) goto skip;
    lua_pushlstring(L, ev->data ? ev->data : "", ev->datalen);
    lua_pushstring(L, se->remote_addr);
    lua_pushinteger(L, se->remote_port);
    nargs += 4;
    break;
  case H2LUA_EV_ALTSVC:
    if (!push_obj(L, se->lua_ref)) goto skip;
    lua_pushinteger(L, ev->a);
    lua_pushlstring(L, ev->data, (size_t)ev->b); /* origin */
    lua_pushlstring(L, ev->data + ev->b + 1, ev->datalen - (size_t)ev->b - 1);
    nargs += 4;
    break;
  case H2LUA_EV_ORIGIN:
    if (!push_obj(L, se->lua_ref)) goto skip;
    lua_createtable(L, (int)ev->a, 0);
    for (size_t off = 0, i = 1; off < ev->datalen; i++) {
      size_t len = strlen(ev->data + off);
      lua_pushlstring(L, ev->data + off, len);
      lua_rawseti(L, -2, (lua_Integer)i);
      off += len + 1;
    }
    nargs += 2;
    break;
  case H2LUA_EV_CONNECT_ERROR:
    if (!push_obj(L, se->lua_ref)) goto skip;
    lua_pushinteger(L, ev->a);
    lua_pushlstring(L, ev->data ? ev->data : "", ev->datalen);
    nargs += 3;
    break;
  case H2LUA_EV_DATA:
    st->data_notified = 0;
    /* fall through */
  case H2LUA_EV_END:
  case H2LUA_EV_DRAIN:
  case H2LUA_EV_WANT_TRAILERS:
    if (!push_obj(L, st->lua_ref)) goto skip;
    nargs++;
    break;
  case H2LUA_EV_STREAM_CLOSE:
    if (!push_obj(L, st->lua_ref)) goto skip;
    lua_pushinteger(L, ev->a);
    nargs += 2;
    break;
  case H2LUA_EV_SESSION_CLOSE:
  case H2LUA_EV_REMOTE_SETTINGS:
  case H2LUA_EV_SETTINGS_ACK:
    if (!push_obj(L, se->lua_ref)) goto skip;
    nargs++;
    break;
  case H2LUA_EV_SESSION_ERROR:
    if (!push_obj(L, se->lua_ref)) goto skip;
    lua_pushinteger(L, ev->a);
    lua_pushstring(L, nghttp2_strerror((int)ev->a));
    nargs += 3;
    break;
  case H2LUA_EV_FRAME_ERROR:
    if (!push_obj(L, se->lua_ref)) goto skip;
    if (!st || !push_obj(L, st->lua_ref)) lua_pushnil(L);
    lua_pushinteger(L, ev->a);
    lua_pushinteger(L, ev->b);
    lua_pushinteger(L, (lua_Integer)ev->datalen);
    ev->datalen = 0;
    nargs += 5;
    break;
  case H2LUA_EV_SESSION_TIMEOUT:
    if (!push_obj(L, se->lua_ref)) goto skip;
    nargs++;
    break;
  case H2LUA_EV_STREAM_REFUSED:
    if (!push_obj(L, se->lua_ref)) goto skip;
    lua_pushinteger(L, ev->a);
    nargs += 2;
    break;
  case H2LUA_EV_GOAWAY:
    if (!push_obj(L, se->lua_ref)) goto skip;
    lua_pushinteger(L, ev->a);
    lua_pushinteger(L, ev->b);
    lua_pushlstring(L, ev->data ? ev->data : "", ev->datalen);
    nargs += 4;
    break;
  case H2LUA_EV_PING:
  case H2LUA_EV_PING_ACK:
    if (!push_obj(L, se->lua_ref)) goto skip;
    lua_pushlstring(L, ev->data ? ev->data : "", ev->datalen);
    nargs += 2;
    break;
  case H2LUA_EV_SERVER_ERROR:
    if (!push_obj(L, ev->sv->lua_ref)) goto skip;
    lua_pushinteger(L, ev->a);
    nargs += 2;
    break;
  default:
    goto skip;
  }
  if (lua_pcall(L, nargs, 1, top + 1) != LUA_OK) {
    report(L);
  } else if (want_ref && lua_istable(L, -1)) {
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (ev->type == H2LUA_EV_SESSION ||
        ev->type == H2LUA_EV_UNKNOWN_PROTOCOL) {
      se->lua_ref = ref;
      se->lua_known = 1;
    } else {
      st->lua_ref = ref;
    }
  }
  lua_settop(L, top);
  goto after;
skip:
  lua_settop(L, top);
after:
  if (ev->type == H2LUA_EV_STREAM || ev->type == H2LUA_EV_TRAILERS ||
      ev->type == H2LUA_EV_HEADERS)
    h2lua_stream_consume_headers(st, (size_t)ev->b);
  if (ev->type == H2LUA_EV_STREAM_CLOSE) h2lua_stream_free(st);
  else if (ev->type == H2LUA_EV_SESSION_CLOSE) h2lua_session_free(se);
  free(ev->data);
}

/* Delivers every queued event, then flushes the sessions Lua gave work to,
   until neither is left. Each libevent callback ends with it. */
void h2lua_pump(h2lua_rt *rt) {
  if (rt->pumping || rt->closing) return;
  rt->pumping = 1;
  for (;;) {
    while (rt->ev_head < rt->ev_len) {
      h2lua_event ev = rt->ev[rt->ev_head++];
      deliver(rt, &ev);
    }
    rt->ev_head = rt->ev_len = 0;
    if (rt->ndirty == 0) break;
    /* flushing can queue events (streams closing as they finish) */
    for (size_t i = 0; i < rt->ndirty; i++) {
      h2lua_session *se = rt->dirty[i];
      if (se == NULL) continue;
      se->dirty = 0;
      rt->dirty[i] = NULL;
      h2lua_session_flush(se);
    }
    rt->ndirty = 0;
    if (rt->ev_len == 0) break;
  }
  rt->pumping = 0;
}

/* ---- Lua functions of the runtime ---- */

/* core.init(dispatcher, traceback, single_value_names, sensitive_key, empty) */
static int lcore_init(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checkany(L, 4);
  luaL_checktype(L, 5, LUA_TTABLE);
  int *refs[] = {&rt->handler_ref, &rt->traceback_ref, &rt->single_ref,
                 &rt->sensitive_key_ref, &rt->empty_ref};
  for (int i = 4; i >= 0; i--) {
    luaL_unref(L, LUA_REGISTRYINDEX, *refs[i]);
    lua_settop(L, i + 1);
    *refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

/* core.stats() -> {servers=, sessions=, streams=, refs=} */
static int lcore_stats(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, rt->n_servers);
  lua_setfield(L, -2, "servers");
  lua_pushinteger(L, rt->n_sessions);
  lua_setfield(L, -2, "sessions");
  lua_pushinteger(L, rt->n_streams);
  lua_setfield(L, -2, "streams");
  lua_pushinteger(L, rt->refs);
  lua_setfield(L, -2, "refs");
  return 1;
}

/* core.date() -> the current IMF-fixdate, cached per second */
static int lcore_date(lua_State *L) {
  lua_pushstring(L, h2lua_date(h2lua_rt_get(L)));
  return 1;
}

/* core.strerror(nghttp2_code) -> string */
static int lcore_strerror(lua_State *L) {
  lua_pushstring(L, nghttp2_strerror((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* At lua_close(): free everything without calling into Lua. */
static int rt_gc(lua_State *L) {
  h2lua_rt *rt = lua_touserdata(L, 1);
  if (rt->base == NULL) return 0;
  rt->closing = 1;
  h2lua_server_close_all(rt);
  while (rt->sessions) {
    h2lua_session *se = rt->sessions;
    h2lua_session_teardown(se, NGHTTP2_CANCEL);
    while (se->streams) h2lua_stream_free(se->streams);
    h2lua_session_free(se);
  }
  h2lua_stream_pool_free(rt);
  for (size_t i = rt->ev_head; i < rt->ev_len; i++) free(rt->ev[i].data);
  free(rt->ev);
  free(rt->dirty);
  if (rt->dns) evdns_base_free(rt->dns, 0);
  if (rt->timer) event_free(rt->timer);
  if (rt->sigint) event_free(rt->sigint);
  if (rt->sigterm) event_free(rt->sigterm);
  event_base_free(rt->base);
  rt->base = NULL;
  return 0;
}

static const luaL_Reg core_funcs[] = {
    {"init", lcore_init},
    {"stats", lcore_stats},
    {"date", lcore_date},
    {"strerror", lcore_strerror},
    {NULL, NULL},
};

extern const luaL_Reg h2lua_loop_funcs[], h2lua_server_funcs[],
    h2lua_session_funcs[], h2lua_stream_funcs[], h2lua_client_funcs[],
    h2lua_tls_funcs[], h2lua_tcp_funcs[];

int luaopen_h2lua_core(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &RT_KEY);
  if (!lua_isnil(L, -1)) {
    lua_getiuservalue(L, -1, 1);
    return 1;
  }
  lua_pop(L, 1);
  h2lua_rt *rt = lua_newuserdatauv(L, sizeof(*rt), 1);
  memset(rt, 0, sizeof(*rt));
  rt->handler_ref = rt->traceback_ref = rt->single_ref = LUA_NOREF;
  rt->sensitive_key_ref = rt->empty_ref = LUA_NOREF;
  rt->date_sec = -1;
  /* a peer that closes while we write must not kill the process (Node
     ignores SIGPIPE too); writes then fail with EPIPE */
  signal(SIGPIPE, SIG_IGN);
  rt->base = event_base_new();
  if (rt->base == NULL) return luaL_error(L, "h2lua: event_base_new failed");
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  rt->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, rt_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushliteral(L, "h2lua.Runtime");
  lua_setfield(L, -2, "__name");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &RT_KEY);

  lua_newtable(L);
  const luaL_Reg *lists[] = {core_funcs,          h2lua_loop_funcs,
                             h2lua_server_funcs,  h2lua_session_funcs,
                             h2lua_stream_funcs,  h2lua_client_funcs,
                             h2lua_tls_funcs,     h2lua_tcp_funcs};
  for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
    lua_pushlightuserdata(L, rt);
    luaL_setfuncs(L, lists[i], 1);
  }
  h2lua_tls_open(L);
  /* The runtime userdata's user value keeps the module table. */
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, -3, 1);
  lua_remove(L, -2);
  return 1;
}
