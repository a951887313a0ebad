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

/* ---- the common path, called as methods ---- */

static h2lua_stream *stream_of_self(lua_State *L, h2lua_rt *rt) {
  if (lua_type(L, 1) != LUA_TTABLE) return NULL;
  h2lua_pushkey(L, rt, H2LUA_K_BOX);
  lua_rawget(L, 1);
  h2lua_box *b = lua_touserdata(L, -1);
  h2lua_stream *st = NULL;
  if (b && lua_rawlen(L, -1) == sizeof(*b) && b->magic == H2LUA_MAGIC_STREAM)
    st = b->p;
  lua_pop(L, 1);
  return live(st);
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
  h2lua_stream *st;
  nghttp2_nv *nva;
  size_t n;
  int status;
  if ((nargs >= 3 && !lua_isnil(L, 3)) || (st = stream_of_self(L, rt)) == NULL ||
      st->responded)
    return call_lua(L, rt->respond_ref, nargs);
  lua_settop(L, 2);
  int t = lua_type(L, 2);
  if ((t != LUA_TNIL && t != LUA_TTABLE) ||
      !h2lua_nv_fast_response(L, rt, 2, 1, &nva, &n, &status))
    return call_lua(L, rt->respond_ref, nargs);
  int end = status == 204 || status == 205 || status == 304 || st->head_request;
  if (proto_of(st)->respond(st, nva, n, end) != 0) {
    lua_settop(L, 2);
    return call_lua(L, rt->respond_ref, nargs);
  }
  h2lua_pushkey(L, rt, H2LUA_K_SENTHEADERS);
  lua_insert(L, -2);
  lua_rawset(L, 1);
  h2lua_set_true(L, rt, 1, H2LUA_K_HEADERSSENT);
  if (end) {
    h2lua_set_true(L, rt, 1, H2LUA_K_WRITABLEENDED);
    h2lua_set_true(L, rt, 1, H2LUA_K_IMPLICIT_END);
  }
  return 0;
}

/* stream:finish([data][, cb]) -> stream. A responded stream ending with a
   string (or nothing), no callback: done here. */
static int lstream_finish_method(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  int nargs = lua_gettop(L);
  h2lua_stream *st;
  int t = lua_type(L, 2);
  if (nargs > 3 || (nargs == 3 && !lua_isnil(L, 3)) ||
      (t != LUA_TNONE && t != LUA_TNIL && t != LUA_TSTRING) ||
      (st = stream_of_self(L, rt)) == NULL || !st->responded || st->out_eof ||
      st->want_trailers)
    return call_lua(L, rt->finish_ref, nargs);
  if (t == LUA_TSTRING) {
    size_t len;
    const char *data = lua_tolstring(L, 2, &len);
    if (proto_of(st)->write(st, data, len, -1, 0) != 0)
      return luaL_error(L, "out of memory");
  }
  st->out_eof = 1;
  proto_of(st)->resume(st);
  h2lua_set_true(L, rt, 1, H2LUA_K_WRITABLEENDED);
  h2lua_set_true(L, rt, 1, H2LUA_K_EXPLICIT_END);
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

/* core.info(box, sensitive, n1, v1, ...) -> bool: a 1xx block */
static int lstream_info(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  nghttp2_nv *nva;
  size_t n;
  h2lua_check_nv(L, 3, 2, &nva, &n);
  lua_pushboolean(L, proto_of(st)->info(st, nva, n) == 0);
  return 1;
}

/* core.trailers(box, sensitive, n1, v1, ...) -> bool */
static int lstream_trailers(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  nghttp2_nv *nva;
  size_t n;
  h2lua_check_nv(L, 3, 2, &nva, &n);
  lua_pushboolean(L, proto_of(st)->trailers(st, nva, n) == 0);
  return 1;
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
  size_t buffered = evbuffer_get_length(st->out);
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
  lua_pushinteger(L, st ? (lua_Integer)evbuffer_get_length(st->out) : 0);
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

/* core.adopt(box, stream) -> nil: |stream| is the Lua object of the
   engine-made stream behind |box| (its events go to it) */
static int lstream_adopt(lua_State *L) {
  h2lua_stream *st = any_stream(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (st) h2lua_handle_adopt(L, &st->h, 2);
  return 0;
}

/* core.object(box) -> the Lua object of the stream behind |box|, or nil */
static int lstream_object(lua_State *L) {
  h2lua_stream *st = any_stream(L, 1);
  return st ? h2lua_handle_push(L, &st->h) : 0;
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

/* Ties the Lua object at |obj| to |st| (a stream Lua made: a request, a
   push) and pushes the stream's box and id. */
static int attach(lua_State *L, h2lua_stream *st, int obj) {
  h2lua_rt *rt = st->h.rt;
  lua_pushvalue(L, obj);
  st->h.ref = luaL_ref(L, LUA_REGISTRYINDEX);
  st->h.box = h2lua_box_new(L, H2LUA_MAGIC_STREAM, st, rt->state_mt_ref);
  st->watched = 1;
  lua_pushinteger(L, st->id);
  return 2;
}

/* core.push(parent_box, stream_obj, endStream, sensitive, n1, v1, ...)
   -> box, id | nil, nghttp2 error: a PUSH_PROMISE on the parent and the
   record of the promised stream */
static int lstream_push(lua_State *L) {
  h2lua_stream *parent = live_stream(L);
  luaL_checktype(L, 2, LUA_TTABLE);
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

/* core.request(session_box, stream_obj, endStream, sensitive, parent,
   weight, exclusive, waitForTrailers, n1, v1, ...) -> box, id | nil,
   nghttp2 error */
static int lstream_request(lua_State *L) {
  h2lua_session *se = h2lua_check_box(L, 1, H2LUA_MAGIC_SESSION, "session");
  luaL_checktype(L, 2, LUA_TTABLE);
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

/* core.file_stat(path | file | fd) -> size, mtime (s), is_regular |
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
  return 3;
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

/* stream.state: the box is also a live view of Node's stream.state */
static int state_index(lua_State *L) {
  h2lua_box *b = lua_touserdata(L, 1);
  h2lua_stream *st = live(b ? b->p : NULL);
  nghttp2_session *n = st ? h2lua_h2_ngh(st->se) : NULL;
  nghttp2_stream *ns = n ? nghttp2_session_find_stream(n, st->id) : NULL;
  const char *k = lua_tostring(L, 2);
  if (ns == NULL || k == NULL) return 0;
  if (strcmp(k, "state") == 0) lua_pushinteger(L, nghttp2_stream_get_state(ns));
  else if (strcmp(k, "weight") == 0) lua_pushinteger(L, nghttp2_stream_get_weight(ns));
  else if (strcmp(k, "sumDependencyWeight") == 0)
    lua_pushinteger(L, nghttp2_stream_get_sum_dependency_weight(ns));
  else if (strcmp(k, "localClose") == 0)
    lua_pushinteger(L, nghttp2_session_get_stream_local_close(n, st->id));
  else if (strcmp(k, "remoteClose") == 0)
    lua_pushinteger(L, nghttp2_session_get_stream_remote_close(n, st->id));
  else if (strcmp(k, "localWindowSize") == 0)
    lua_pushinteger(L, nghttp2_session_get_stream_local_window_size(n, st->id));
  else return 0;
  return 1;
}

void h2lua_stream_open(lua_State *L, h2lua_rt *rt) {
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, state_index);
  lua_setfield(L, -2, "__index");
  lua_pushliteral(L, "h2lua.StreamState");
  lua_setfield(L, -2, "__name");
  rt->state_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

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
    {"adopt", lstream_adopt},
    {"object", lstream_object},
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
