/*
 * Bindings of streams (ServerHttp2Stream, ClientHttp2Stream, and the
 * HTTP/1.1 exchanges under the same API). respond and finish of the
 * common shape run here entirely; anything else goes to their Lua
 * versions, which keep Node's checks and errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <lualib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bind.h"
#include "h2.h"
#include "trace.h"

static h2lua_stream *any_stream(lua_State *L, int idx) {
  return h2lua_check_box(L, idx, H2LUA_MAGIC_STREAM, "stream");
}

/* A stream Lua may act on: its record exists, it is open and its session
   speaks a protocol. */
static h2lua_stream *live(h2lua_stream *st) {
  if (st == NULL || st->closed || st->se == NULL || st->se->torn_down ||
      st->se->proto == NULL)
    return NULL;
  return st;
}

static h2lua_stream *live_stream(lua_State *L) { return live(any_stream(L, 1)); }

static const h2lua_proto *proto_of(h2lua_stream *st) { return st->se->proto; }

/* ---- the stream object: a userdata whose fields are its box's ---- */

static h2lua_sbox *sbox_of(lua_State *L, int idx) {
  h2lua_box *b = lua_touserdata(L, idx);
  if (b == NULL || lua_rawlen(L, idx) != sizeof(h2lua_sbox) ||
      b->magic != H2LUA_MAGIC_STREAM)
    return NULL;
  return (h2lua_sbox *)b;
}

/* The fields the box keeps (readable and assignable as Lua fields). */
#define PROPS(P)                                                               \
  P(ID, "id") P(SESSION, "session") P(BOX, "_box") P(STATE, "state")           \
  P(PENDING, "pending") P(HEADERSSENT, "headersSent") P(CLOSED, "closed")      \
  P(DESTROYED, "destroyed") P(ABORTED, "aborted") P(RSTCODE, "rstCode")        \
  P(WENDED, "writableEnded") P(RENDED, "readableEnded")                        \
  P(ENDAFTER, "endAfterHeaders") P(REMOTE_ENDED, "_remote_ended")              \
  P(PUSHALLOWED, "pushAllowed") P(IMPLICIT, "_implicit_end")                   \
  P(EXPLICIT, "_explicit_end") P(HEAD, "_head") P(H1, "_h1")                   \
  P(HTTPVERSION, "_http_version") P(BUFFERSIZE, "bufferSize")                  \
  P(SENTHEADERS, "sentHeaders")

enum {
#define PROP_ENUM(id, s) PROP_##id,
  PROPS(PROP_ENUM)
#undef PROP_ENUM
  PROP_COUNT
};

/* Node's sentHeaders: a copy of the headers given, with :status and the
   date set; the fast path leaves it to the first read. */
static void push_sent(lua_State *L, h2lua_rt *rt, h2lua_sbox *sb, int ud) {
  if (!sb->sent_lazy) {
    lua_getiuservalue(L, ud, H2LUA_SUV_SENT);
    return;
  }
  lua_createtable(L, 0, 4);
  int copy = lua_gettop(L);
  if (lua_getiuservalue(L, ud, H2LUA_SUV_SENT) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, copy);
    }
  }
  lua_pop(L, 1);
  h2lua_pushkey(L, rt, H2LUA_K_STATUS);
  lua_pushinteger(L, sb->status);
  lua_rawset(L, copy);
  if (sb->date_len) {
    h2lua_pushkey(L, rt, H2LUA_K_DATE);
    lua_pushlstring(L, sb->date, sb->date_len);
    lua_rawset(L, copy);
  }
  lua_pushvalue(L, copy);
  lua_setiuservalue(L, ud, H2LUA_SUV_SENT);
  sb->sent_lazy = 0;
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* Node's stream.state: a fresh table of nghttp2's values ({} once closed;
   idle and zeros, as Node.js reports, while nghttp2 has not opened it). */
static void push_state(lua_State *L, h2lua_stream *st) {
  nghttp2_session *n = st ? h2lua_h2_ngh(st->se) : NULL;
  nghttp2_stream *ns = n && st->id > 0 ? nghttp2_session_find_stream(n, st->id) : NULL;
  lua_createtable(L, 0, 6);
  if (ns == NULL) {
    if (n == NULL) return;
    set_int(L, "state", NGHTTP2_STREAM_STATE_IDLE);
    lua_pushstring(L, "idle");
    lua_setfield(L, -2, "stateName");
    static const char *const zero[] = {"weight", "sumDependencyWeight", "localClose",
                                       "remoteClose", "localWindowSize"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) set_int(L, zero[i], 0);
    return;
  }
  set_int(L, "state", nghttp2_stream_get_state(ns));
  lua_pushstring(L, h2lua_trace_state_name(nghttp2_stream_get_state(ns)));
  lua_setfield(L, -2, "stateName"); /* beyond Node */
  set_int(L, "weight", nghttp2_stream_get_weight(ns));
  set_int(L, "sumDependencyWeight", nghttp2_stream_get_sum_dependency_weight(ns));
  set_int(L, "localClose", nghttp2_session_get_stream_local_close(n, st->id));
  set_int(L, "remoteClose", nghttp2_session_get_stream_remote_close(n, st->id));
  set_int(L, "localWindowSize", nghttp2_session_get_stream_local_window_size(n, st->id));
}

static int push_prop(lua_State *L, h2lua_rt *rt, h2lua_sbox *sb, int id) {
  h2lua_stream *st = sb->b.p;
  switch (id) {
  case PROP_ID:
    if (!sb->has_id) return 0;
    lua_pushinteger(L, sb->id);
    return 1;
  case PROP_SESSION: lua_getiuservalue(L, 1, H2LUA_SUV_SESSION); return 1;
  case PROP_BOX: lua_pushvalue(L, 1); return 1;
  case PROP_STATE: push_state(L, live(st)); return 1;
  case PROP_PENDING: lua_pushboolean(L, !sb->has_id); return 1;
  case PROP_HEADERSSENT: lua_pushboolean(L, sb->headers_sent); return 1;
  case PROP_CLOSED: lua_pushboolean(L, sb->closed); return 1;
  case PROP_DESTROYED: lua_pushboolean(L, sb->destroyed); return 1;
  case PROP_ABORTED: lua_pushboolean(L, sb->aborted); return 1;
  case PROP_RSTCODE:
    if (!sb->has_rst) return 0;
    lua_pushinteger(L, sb->rst_code);
    return 1;
  case PROP_WENDED: lua_pushboolean(L, sb->writable_ended); return 1;
  case PROP_RENDED: lua_pushboolean(L, sb->readable_ended); return 1;
  case PROP_ENDAFTER: lua_pushboolean(L, sb->end_after_headers); return 1;
  case PROP_REMOTE_ENDED: lua_pushboolean(L, sb->remote_ended); return 1;
  case PROP_PUSHALLOWED:
    lua_pushboolean(L, sb->push_allowed && live(st) && st->se->peer_push &&
                           !st->se->closing);
    return 1;
  case PROP_IMPLICIT: lua_pushboolean(L, sb->implicit_end); return 1;
  case PROP_EXPLICIT: lua_pushboolean(L, sb->explicit_end); return 1;
  case PROP_HEAD: lua_pushboolean(L, sb->head); return 1;
  case PROP_H1: lua_pushboolean(L, sb->http1 != 0); return 1;
  case PROP_HTTPVERSION:
    if (!sb->http1) return 0;
    lua_pushstring(L, sb->http1 == 10 ? "1.0" : "1.1");
    return 1;
  case PROP_BUFFERSIZE:
    lua_pushinteger(L, st ? (lua_Integer)h2lua_stream_out_len(st) : 0);
    return 1;
  case PROP_SENTHEADERS: push_sent(L, rt, sb, 1); return 1;
  default: return 0;
  }
}

/* stream[k]: a method, a field of the box, a Lua-only field, a default
   (upvalues: methods, props, defaults). */
static int stream_index(lua_State *L) {
  /* __index: always (object, key) */
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  h2lua_sbox *sb = lua_touserdata(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) == LUA_TNUMBER) {
    int id = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return push_prop(L, (h2lua_rt *)lua_touserdata(L, lua_upvalueindex(4)), sb, id);
  }
  lua_pop(L, 1);
  if (lua_getiuservalue(L, 1, H2LUA_SUV_LUA) == LUA_TTABLE) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL) return 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(3));
  return 1;
}

static int to_flag(lua_State *L) { return lua_toboolean(L, 3); }

/* stream[k] = v: the box's fields go to the box, anything else to the
   object's table of Lua-only fields (made on first use). */
static int stream_newindex(lua_State *L) {
  lua_settop(L, 3);
  h2lua_sbox *sb = lua_touserdata(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TNUMBER) {
    int id = (int)lua_tointeger(L, -1);
    switch (id) {
    case PROP_ID:
      sb->has_id = !lua_isnil(L, 3);
      sb->id = (int32_t)lua_tointeger(L, 3);
      return 0;
    case PROP_SESSION: lua_pushvalue(L, 3); lua_setiuservalue(L, 1, H2LUA_SUV_SESSION); return 0;
    case PROP_HEADERSSENT: sb->headers_sent = to_flag(L); return 0;
    case PROP_CLOSED: sb->closed = to_flag(L); return 0;
    case PROP_DESTROYED: sb->destroyed = to_flag(L); return 0;
    case PROP_ABORTED: sb->aborted = to_flag(L); return 0;
    case PROP_RSTCODE:
      sb->has_rst = !lua_isnil(L, 3) && lua_toboolean(L, 3);
      sb->rst_code = (uint32_t)lua_tointeger(L, 3);
      return 0;
    case PROP_WENDED: sb->writable_ended = to_flag(L); return 0;
    case PROP_RENDED: sb->readable_ended = to_flag(L); return 0;
    case PROP_ENDAFTER: sb->end_after_headers = to_flag(L); return 0;
    case PROP_REMOTE_ENDED: sb->remote_ended = to_flag(L); return 0;
    case PROP_PUSHALLOWED: sb->push_allowed = to_flag(L); return 0;
    case PROP_IMPLICIT: sb->implicit_end = to_flag(L); return 0;
    case PROP_EXPLICIT: sb->explicit_end = to_flag(L); return 0;
    case PROP_HEAD: sb->head = to_flag(L); return 0;
    case PROP_H1: sb->http1 = to_flag(L) ? (sb->http1 ? sb->http1 : 11) : 0; return 0;
    case PROP_HTTPVERSION:
      if (lua_type(L, 3) == LUA_TSTRING)
        sb->http1 = strcmp(lua_tostring(L, 3), "1.0") == 0 ? 10 : 11;
      return 0;
    case PROP_SENTHEADERS:
      sb->sent_lazy = 0;
      lua_pushvalue(L, 3);
      lua_setiuservalue(L, 1, H2LUA_SUV_SENT);
      return 0;
    default: /* _box, state, pending, bufferSize: computed */
      return 0;
    }
  }
  lua_pop(L, 1);
  if (lua_getiuservalue(L, 1, H2LUA_SUV_LUA) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, H2LUA_SUV_LUA);
  }
  lua_insert(L, 2);
  lua_rawset(L, 2);
  return 0;
}

/* core.stream_class(methods, defaults, tostring[, default]) -> a
   metatable of stream objects; the one new objects get unless |default|
   is false (client streams get theirs from Lua) */
static int lstream_class(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  static const char *const names[] = {
#define PROP_NAME(id, s) s,
      PROPS(PROP_NAME)
#undef PROP_NAME
  };
  lua_createtable(L, 0, PROP_COUNT);
  int props = lua_gettop(L);
  for (int i = 0; i < PROP_COUNT; i++) {
    lua_pushinteger(L, i);
    lua_setfield(L, props, names[i]);
  }
  lua_createtable(L, 0, 5);
  int mt = lua_gettop(L);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, props);
  lua_pushvalue(L, 2);
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, stream_index, 4);
  lua_setfield(L, mt, "__index");
  lua_pushvalue(L, props);
  lua_pushcclosure(L, stream_newindex, 1);
  lua_setfield(L, mt, "__newindex");
  if (!lua_isnoneornil(L, 3)) {
    lua_pushvalue(L, 3);
    lua_setfield(L, mt, "__tostring");
  }
  lua_pushliteral(L, "h2lua.Stream");
  lua_setfield(L, mt, "__name");
  if (lua_isnoneornil(L, 4) || lua_toboolean(L, 4)) {
    lua_pushvalue(L, mt);
    luaL_unref(L, LUA_REGISTRYINDEX, rt->stream_mt_ref);
    rt->stream_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_settop(L, mt);
  return 1;
}

/* core.stream_new(session) -> a stream object with no stream yet (a
   client request, a push: core.request/core.push give it one) */
static int lstream_new(lua_State *L) {
  luaL_checkany(L, 1);
  h2lua_stream_object(L, h2lua_rt_get(L), NULL, 1);
  return 1;
}

/* ---- the common path, called as methods ---- */

static h2lua_stream *stream_of_self(lua_State *L, h2lua_sbox **sbp) {
  h2lua_sbox *sb = sbox_of(L, 1);
  *sbp = sb;
  return sb ? live(sb->b.p) : NULL;
}

static int call_lua(lua_State *L, int ref, int nargs) {
  lua_settop(L, nargs);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_insert(L, 1);
  lua_call(L, nargs, LUA_MULTRET);
  return lua_gettop(L);
}

/* stream:respond([headers][, options]) -> nil. Plain headers and no
   options: checked, sent and recorded (headersSent, sentHeaders) here. */
static int lstream_respond_method(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  int nargs = lua_gettop(L);
  if (nargs > 3) nargs = 3;
  h2lua_sbox *sb;
  h2lua_stream *st;
  nghttp2_nv *nva;
  size_t n;
  int status, dated;
  if ((nargs >= 3 && !lua_isnil(L, 3)) || (st = stream_of_self(L, &sb)) == NULL ||
      st->responded || sb->headers_sent)
    return call_lua(L, rt->respond_ref, nargs);
  lua_settop(L, 2);
  int t = lua_type(L, 2);
  if ((t != LUA_TNIL && t != LUA_TTABLE) ||
      !h2lua_nv_fast_response(L, rt, 2, 1, &nva, &n, &status, &dated))
    return call_lua(L, rt->respond_ref, nargs);
  int end = status == 204 || status == 205 || status == 304 || st->head_request ||
            sb->head; /* a HEAD push: Lua sets the box's flag */
  if (proto_of(st)->respond(st, nva, n, end) != 0)
    return call_lua(L, rt->respond_ref, nargs);
  /* sentHeaders: copied from the headers given when first read */
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 1, H2LUA_SUV_SENT);
  if (dated) { /* the date field is the last one */
    size_t dl = nva[n - 1].valuelen < sizeof(sb->date) ? nva[n - 1].valuelen : sizeof(sb->date);
    memcpy(sb->date, nva[n - 1].value, dl);
    sb->date_len = (uint8_t)dl;
  }
  sb->status = status;
  sb->sent_lazy = 1;
  sb->headers_sent = 1;
  if (end) sb->writable_ended = sb->implicit_end = 1;
  return 0;
}

/* stream:finish([data][, cb]) -> stream. A responded stream ending with a
   string (or nothing), no callback: done here. */
static int lstream_finish_method(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  int nargs = lua_gettop(L);
  h2lua_sbox *sb;
  h2lua_stream *st;
  int t = lua_type(L, 2);
  if (nargs > 3 || (nargs == 3 && !lua_isnil(L, 3)) ||
      (t != LUA_TNONE && t != LUA_TNIL && t != LUA_TSTRING) ||
      (st = stream_of_self(L, &sb)) == NULL || !st->responded || st->out_eof ||
      st->want_trailers || sb->writable_ended)
    return call_lua(L, rt->finish_ref, nargs);
  if (t == LUA_TSTRING) {
    size_t len;
    const char *data = lua_tolstring(L, 2, &len);
    if (proto_of(st)->write(st, data, len, -1, 0) != 0)
      return luaL_error(L, "out of memory");
  }
  st->out_eof = 1;
  proto_of(st)->resume(st);
  sb->writable_ended = sb->explicit_end = 1;
  lua_settop(L, 1);
  return 1;
}

/* ---- the rest, called by stream.lua ---- */

/* core.respond(box, endStream, waitForTrailers, sensitive, n1, v1, ...)
   -> true | false (stream gone) | nil, nghttp2 error. Lua validated the
   headers; they are copied. */
static int lstream_respond(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  int end = lua_toboolean(L, 2);
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  nghttp2_nv *nva;
  size_t n;
  h2lua_check_nv(L, 5, 4, &nva, &n);
  st->want_trailers = lua_toboolean(L, 3);
  int rv = proto_of(st)->respond(st, nva, n, end);
  if (rv != 0) {
    lua_pushnil(L);
    lua_pushinteger(L, rv);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* A header block other than the response's: a 1xx or the trailers. */
static int send_block(lua_State *L,
                      int (*send)(h2lua_stream *, const nghttp2_nv *, size_t)) {
  h2lua_stream *st = live_stream(L);
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  nghttp2_nv *nva;
  size_t n;
  h2lua_check_nv(L, 3, 2, &nva, &n);
  lua_pushboolean(L, send(st, nva, n) == 0);
  return 1;
}

/* core.info(box, sensitive, n1, v1, ...) -> bool: a 1xx block */
static int lstream_info(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  return send_block(L, st ? proto_of(st)->info : NULL);
}

/* core.trailers(box, sensitive, n1, v1, ...) -> bool */
static int lstream_trailers(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  return send_block(L, st ? proto_of(st)->trailers : NULL);
}

/* core.write(box, data, want_drain) -> buffered bytes | false (gone) */
static int lstream_write(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  if (st == NULL || st->out_eof) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (len && proto_of(st)->write(st, data, len, -1, 0) != 0)
    return luaL_error(L, "out of memory");
  if (lua_toboolean(L, 3)) st->want_drain = 1;
  proto_of(st)->resume(st);
  size_t buffered = h2lua_stream_out_len(st);
  if (buffered) st->lua_bufsize = 1;
  lua_pushinteger(L, (lua_Integer)buffered);
  return 1;
}

/* core.finish(box[, data][, want_trailers]) -> bool: the last bytes;
   END_STREAM follows, or 'wantTrailers' when |want_trailers| */
static int lstream_finish(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  size_t len = 0;
  const char *data = luaL_optlstring(L, 2, NULL, &len);
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (lua_toboolean(L, 3)) st->want_trailers = 1;
  if (len && proto_of(st)->write(st, data, len, -1, 0) != 0)
    return luaL_error(L, "out of memory");
  st->out_eof = 1;
  proto_of(st)->resume(st);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.want_drain(box) -> nil: EV_DRAIN once the output is empty */
static int lstream_want_drain(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  if (st == NULL) return 0;
  st->want_drain = 1;
  h2lua_stream_maybe_drain(st);
  return 0;
}

/* core.read(box) -> string | nil: every body byte received so far; the
   peer may send as much again */
static int lstream_read(lua_State *L) {
  h2lua_stream *st = any_stream(L, 1);
  if (st == NULL) return 0;
  st->data_notified = 0;
  st->lua_read = st->watched = 1; /* unread bytes at close go to Lua */
  size_t len = evbuffer_get_length(st->in);
  if (len == 0) return 0;
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, len);
  h2lua_stream_in_take(st, p, len);
  luaL_pushresultsize(&b, len);
  if (live(st)) proto_of(st)->consumed(st, len);
  return 1;
}

/* core.rst(box, code) -> bool: RST_STREAM(code) (HTTP/1.1: closes) */
static int lstream_rst(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  uint32_t code = (uint32_t)luaL_optinteger(L, 2, NGHTTP2_NO_ERROR);
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_pushboolean(L, proto_of(st)->reset(st, code) == 0);
  return 1;
}

/* core.buffered(box) -> bytes waiting in the outgoing buffer */
static int lstream_buffered(lua_State *L) {
  h2lua_stream *st = any_stream(L, 1);
  lua_pushinteger(L, st ? (lua_Integer)h2lua_stream_out_len(st) : 0);
  return 1;
}

/* core.stream_alive(box) -> bool */
static int lstream_alive(lua_State *L) {
  lua_pushboolean(L, live_stream(L) != NULL);
  return 1;
}

/* core.watch(box) -> nil: Lua waits for something at close (a listener,
   a waiter, a callback), so the close reaches it as an event */
static int lstream_watch(lua_State *L) {
  h2lua_stream *st = any_stream(L, 1);
  if (st) st->watched = 1;
  return 0;
}

/* core.reading(box) -> nil: Lua reads the body (it flows): the client may
   send it whole after the response, as Node lets a resumed stream */
static int lstream_reading(lua_State *L) {
  h2lua_stream *st = any_stream(L, 1);
  if (st) st->lua_read = st->watched = 1;
  return 0;
}

/* core.stream_authority(box) -> the request's :authority (or Host) | nil */
static int lstream_authority(lua_State *L) {
  h2lua_stream *st = any_stream(L, 1);
  if (st == NULL || st->authority[0] == 0) return 0;
  lua_pushstring(L, st->authority);
  return 1;
}

/* core.want_trailers(box) -> nil: the body ends without END_STREAM and
   'wantTrailers' follows */
static int lstream_want_trailers(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  if (st) st->want_trailers = 1;
  return 0;
}

/* core.stream_priority(box, parent, weight, exclusive) -> 0 | error */
static int lstream_priority(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  int32_t parent = (int32_t)luaL_checkinteger(L, 2);
  int32_t weight = (int32_t)luaL_checkinteger(L, 3);
  int exclusive = lua_toboolean(L, 4);
  nghttp2_session *ngh = st ? h2lua_h2_ngh(st->se) : NULL;
  if (ngh == NULL) {
    lua_pushinteger(L, NGHTTP2_ERR_INVALID_STATE);
    return 1;
  }
  nghttp2_priority_spec spec;
  nghttp2_priority_spec_init(&spec, parent, weight, exclusive);
  int rv = nghttp2_submit_priority(ngh, NGHTTP2_FLAG_NONE, st->id, &spec);
  h2lua_mark_dirty(&st->se->h);
  lua_pushinteger(L, rv);
  return 1;
}

/* core.stream_metrics(box) -> the 'Http2Stream' performance entry's raw
   numbers (times on the monotonic clock, 0 when it did not happen) */
static int lstream_metrics(lua_State *L) {
  h2lua_stream *st = any_stream(L, 1);
  if (st == NULL) return 0;
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, (lua_Integer)st->bytes_read);
  lua_setfield(L, -2, "bytesRead");
  lua_pushinteger(L, (lua_Integer)st->bytes_written);
  lua_setfield(L, -2, "bytesWritten");
  lua_pushnumber(L, st->start_time);
  lua_setfield(L, -2, "startTime");
  lua_pushnumber(L, st->first_header);
  lua_setfield(L, -2, "firstHeader");
  lua_pushnumber(L, st->first_byte);
  lua_setfield(L, -2, "firstByte");
  lua_pushnumber(L, st->first_byte_sent);
  lua_setfield(L, -2, "firstByteSent");
  return 1;
}

/* Gives the stream object at |obj| (from core.stream_new) its record |st|
   and returns the stream's id. */
static int attach(lua_State *L, h2lua_stream *st, int obj) {
  h2lua_sbox *sb = sbox_of(L, obj);
  if (sb == NULL) return luaL_argerror(L, obj, "stream object expected");
  sb->b.p = st;
  st->h.box = &sb->b;
  sb->id = st->id;
  sb->has_id = 1;
  lua_pushvalue(L, obj);
  st->h.ref = luaL_ref(L, LUA_REGISTRYINDEX);
  st->watched = 1;
  lua_pushinteger(L, st->id);
  return 1;
}

/* core.push(parent, stream, endStream, sensitive, n1, v1, ...) -> id |
   nil, nghttp2 error: a PUSH_PROMISE on the parent and the record of the
   promised stream (|stream| from core.stream_new) */
static int lstream_push(lua_State *L) {
  h2lua_stream *parent = live_stream(L);
  luaL_checktype(L, 2, LUA_TUSERDATA);
  int end = lua_toboolean(L, 3);
  if (parent == NULL || h2lua_h2_ngh(parent->se) == NULL) {
    lua_pushnil(L);
    lua_pushinteger(L, NGHTTP2_ERR_STREAM_CLOSED);
    return 2;
  }
  nghttp2_nv *nva;
  size_t n;
  h2lua_check_nv(L, 5, 4, &nva, &n);
  h2lua_stream *st = h2lua_session_stream(parent->se, 0);
  if (st == NULL) return luaL_error(L, "out of memory");
  int32_t id = h2lua_h2_push(parent, st, nva, n);
  if (id < 0) {
    h2lua_stream_free(st);
    lua_pushnil(L);
    lua_pushinteger(L, id);
    return 2;
  }
  if (end) st->out_eof = 1;
  h2lua_stream_opened(st);
  return attach(L, st, 2);
}

/* core.request(session_box, stream, endStream, sensitive, parent, weight,
   exclusive, waitForTrailers, n1, v1, ...) -> id | nil, nghttp2 error
   (|stream| from core.stream_new) */
static int lstream_request(lua_State *L) {
  h2lua_session *se = h2lua_check_box(L, 1, H2LUA_MAGIC_SESSION, "session");
  luaL_checktype(L, 2, LUA_TUSERDATA);
  int end = lua_toboolean(L, 3);
  int32_t parent = (int32_t)luaL_optinteger(L, 5, 0);
  int32_t weight = (int32_t)luaL_optinteger(L, 6, NGHTTP2_DEFAULT_WEIGHT);
  int exclusive = lua_toboolean(L, 7);
  int trailers = lua_toboolean(L, 8);
  if (se == NULL || se->torn_down || h2lua_h2_ngh(se) == NULL) {
    lua_pushnil(L);
    lua_pushinteger(L, NGHTTP2_ERR_INVALID_STATE);
    return 2;
  }
  nghttp2_nv *nva;
  size_t nnv;
  h2lua_check_nv(L, 9, 4, &nva, &nnv);
  h2lua_stream *st = h2lua_session_stream(se, 0);
  if (st == NULL) return luaL_error(L, "out of memory");
  nghttp2_priority_spec spec;
  nghttp2_priority_spec_init(&spec, parent, weight, exclusive);
  int32_t id = h2lua_h2_request(se, st, &spec, nva, nnv, end);
  if (id < 0) {
    h2lua_stream_free(st);
    lua_pushnil(L);
    lua_pushinteger(L, id);
    return 2;
  }
  st->want_trailers = trailers;
  st->lua_read = 1; /* a response body read after the close stays readable */
  h2lua_stream_opened(st);
  return attach(L, st, 2);
}

/* core.file_stat(path | file | fd) -> size, mtime (s), is_regular, is_dir |
   nil, errname, message */
static int lstream_file_stat(lua_State *L) {
  struct stat sb;
  int rv;
  luaL_Stream *f = luaL_testudata(L, 1, LUA_FILEHANDLE);
  if (f) rv = (f->closef == NULL) ? (errno = EBADF, -1) : fstat(fileno(f->f), &sb);
  else if (lua_isinteger(L, 1)) rv = fstat((int)lua_tointeger(L, 1), &sb);
  else rv = stat(luaL_checkstring(L, 1), &sb);
  if (rv != 0) {
    int err = errno;
    lua_pushnil(L);
    lua_pushstring(L, h2lua_errno_name(err));
    lua_pushstring(L, strerror(err));
    return 3;
  }
  lua_pushinteger(L, (lua_Integer)sb.st_size);
  lua_pushinteger(L, (lua_Integer)sb.st_mtime);
  lua_pushboolean(L, S_ISREG(sb.st_mode));
  lua_pushboolean(L, S_ISDIR(sb.st_mode));
  return 4;
}

/* core.add_file(box, path | file | fd, offset, length) -> true | nil,
   errname: queues |length| bytes of the file as the body (a given
   descriptor is duplicated, not taken) */
static int lstream_add_file(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  lua_Integer offset = luaL_checkinteger(L, 3);
  lua_Integer length = luaL_checkinteger(L, 4);
  if (st == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, "ERR_HTTP2_INVALID_STREAM");
    return 2;
  }
  int fd;
  luaL_Stream *f = luaL_testudata(L, 2, LUA_FILEHANDLE);
  if (f) fd = f->closef ? dup(fileno(f->f)) : -1;
  else if (lua_isinteger(L, 2)) fd = dup((int)lua_tointeger(L, 2));
  else fd = open(luaL_checkstring(L, 2), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    lua_pushnil(L);
    lua_pushstring(L, h2lua_errno_name(errno));
    return 2;
  }
  if (length <= 0) {
    close(fd);
  } else if (proto_of(st)->write(st, NULL, (size_t)length, fd, offset) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, "EIO");
    return 2;
  }
  proto_of(st)->resume(st);
  lua_pushboolean(L, 1);
  return 1;
}

void h2lua_stream_open(lua_State *L, h2lua_rt *rt) {}

const luaL_Reg h2lua_stream_funcs[] = {
    {"stream_respond_method", lstream_respond_method},
    {"stream_finish_method", lstream_finish_method},
    {"respond", lstream_respond},
    {"info", lstream_info},
    {"trailers", lstream_trailers},
    {"write", lstream_write},
    {"finish", lstream_finish},
    {"want_drain", lstream_want_drain},
    {"read", lstream_read},
    {"rst", lstream_rst},
    {"buffered", lstream_buffered},
    {"stream_alive", lstream_alive},
    {"watch", lstream_watch},
    {"reading", lstream_reading},
    {"stream_class", lstream_class},
    {"stream_new", lstream_new},
    {"want_trailers", lstream_want_trailers},
    {"stream_authority", lstream_authority},
    {"stream_priority", lstream_priority},
    {"stream_metrics", lstream_metrics},
    {"push", lstream_push},
    {"request", lstream_request},
    {"file_stat", lstream_file_stat},
    {"add_file", lstream_add_file},
    {NULL, NULL},
};
