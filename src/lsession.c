/*
 * Bindings of sessions (Http2Session, server and client side).
 */
#include "bind.h"
#include "h1.h"
#include "h2.h"
#include "trace.h"

static h2lua_session *any_session(lua_State *L) {
  return h2lua_check_box(L, 1, H2LUA_MAGIC_SESSION, "session");
}

/* An HTTP/2 session Lua may act on, or NULL. */
static nghttp2_session *live_ngh(lua_State *L, h2lua_session **out) {
  h2lua_session *se = any_session(L);
  nghttp2_session *ngh = se && !se->torn_down ? h2lua_h2_ngh(se) : NULL;
  if (out) *out = ngh ? se : NULL;
  return ngh;
}

static int push_rv(lua_State *L, h2lua_session *se, int rv) {
  if (se) h2lua_mark_dirty(&se->h);
  lua_pushinteger(L, rv);
  return 1;
}

/* core.session_goaway(box, code, last_id, opaque) -> bool */
static int lsession_goaway(lua_State *L) {
  h2lua_session *se;
  nghttp2_session *ngh = live_ngh(L, &se);
  uint32_t code = (uint32_t)luaL_optinteger(L, 2, NGHTTP2_NO_ERROR);
  size_t olen = 0;
  const char *opaque = luaL_optlstring(L, 4, NULL, &olen);
  if (ngh == NULL) return 0;
  /* Node.js: a last stream id of 0 (its default) or less means the last
     stream processed */
  lua_Integer want = luaL_optinteger(L, 3, 0);
  int32_t last = want <= 0 ? nghttp2_session_get_last_proc_stream_id(ngh)
                           : (int32_t)want;
  int rv = nghttp2_submit_goaway(ngh, NGHTTP2_FLAG_NONE, last, code,
                                 (const uint8_t *)opaque, olen);
  h2lua_mark_dirty(&se->h);
  lua_pushboolean(L, rv == 0);
  return 1;
}

/* core.session_next_stream_id(box, id) -> bool: the id of the next
   stream this session opens (nghttp2 refuses one below the next id, of
   the wrong parity, or past 2^31-1) */
static int lsession_next_stream_id(lua_State *L) {
  h2lua_session *se;
  nghttp2_session *ngh = live_ngh(L, &se);
  lua_Integer id = luaL_checkinteger(L, 2);
  if (ngh == NULL || id <= 0 || id > INT32_MAX) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_pushboolean(L, nghttp2_session_set_next_stream_id(ngh, (int32_t)id) == 0);
  return 1;
}

/* core.session_close(box[, h1_only]) -> true for HTTP/1.1: GOAWAY(NO_ERROR),
   then the session ends once its streams are done; an HTTP/1.1 session
   ends once idle. With |h1_only|, HTTP/2 sessions are left alone. */
static int lsession_close(lua_State *L) {
  h2lua_session *se;
  int h1_only = lua_toboolean(L, 2);
  if (!h1_only && live_ngh(L, &se)) {
    h2lua_h2_close(se);
  } else if ((se = any_session(L)) && !se->torn_down && se->proto == &h2lua_h1_proto) {
    h2lua_h1_close(se); /* HTTP/1.1: closes once idle */
    lua_pushboolean(L, 1);
    return 1;
  }
  return 0;
}

/* core.session_destroy(box, code) -> nil: GOAWAY(code) written first,
   then the session ends now */
static int lsession_destroy(lua_State *L) {
  h2lua_session *se = any_session(L);
  uint32_t code = (uint32_t)luaL_optinteger(L, 2, NGHTTP2_NO_ERROR);
  if (se == NULL || se->torn_down) return 0;
  if (h2lua_h2_ngh(se)) h2lua_h2_destroy(se, code);
  else h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
  return 0;
}

/* core.session_refuse(box, text) -> nil: a connection no protocol took
   gets |text| written, then closes gracefully (the peer reads it) */
static int lsession_refuse(lua_State *L) {
  h2lua_session *se = any_session(L);
  size_t n;
  const char *text = luaL_checklstring(L, 2, &n);
  if (se == NULL || se->torn_down || se->proto != NULL) return 0;
  if (se->conn) h2lua_conn_write(se->conn, text, n);
  h2lua_session_teardown(se, NGHTTP2_CANCEL, 1);
  return 0;
}

/* core.session_streams(box) -> a sequence of the Lua objects of the
   session's streams not closed yet */
static int lsession_streams(lua_State *L) {
  h2lua_session *se = any_session(L);
  lua_newtable(L);
  if (se == NULL) return 1;
  lua_Integer n = 0;
  for (h2lua_stream *st = se->home.streams; st; st = st->next)
    if (!st->closed && h2lua_handle_push(L, &st->h)) lua_rawseti(L, -2, ++n);
  return 1;
}

/* core.session_ref(box, on) -> nil */
static int lsession_ref(lua_State *L) {
  h2lua_session *se = any_session(L);
  int on = lua_toboolean(L, 2);
  if (se && !se->torn_down && on != se->refd) {
    se->h.rt->refs += on ? 1 : -1;
    se->refd = on;
  }
  return 0;
}

/* core.session_alive(box) -> bool: an HTTP/2 session still up */
static int lsession_alive(lua_State *L) {
  lua_pushboolean(L, live_ngh(L, NULL) != NULL);
  return 1;
}

/* core.session_trace(box, on) -> nil: whether frames become 'frame' events */
static int lsession_trace(lua_State *L) {
  h2lua_session *se = any_session(L);
  if (se) se->trace = (se->trace & ~H2LUA_TRACE_EVENT) |
                      (lua_toboolean(L, 2) ? H2LUA_TRACE_EVENT : 0);
  return 0;
}

/* core.session_want_raw(box, on) -> nil: whether 'stream' gets rawHeaders */
static int lsession_want_raw(lua_State *L) {
  h2lua_session *se = any_session(L);
  if (se) se->want_raw = lua_toboolean(L, 2);
  return 0;
}

/* core.session_fast(box, fn|nil) -> nil: |fn| takes this session's
   requests directly (stream, headers, flags, raw) until listeners change
   (core.listeners_changed) */
static int lsession_fast(lua_State *L) {
  h2lua_session *se = any_session(L);
  if (se == NULL) return 0;
  h2lua_rt *rt = se->h.rt;
  if (se->fast_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, se->fast_ref);
  se->fast_ref = LUA_NOREF;
  if (lua_isfunction(L, 2)) {
    lua_settop(L, 2);
    se->fast_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    se->fast_gen = rt->listen_gen;
  }
  return 0;
}

/* core.session_settings(box, id1, v1, ...) -> 0 | nghttp2 error */
static int lsession_settings(lua_State *L) {
  h2lua_session *se;
  nghttp2_session *ngh = live_ngh(L, &se);
  nghttp2_settings_entry iv[H2LUA_MAX_SETTINGS];
  size_t n = h2lua_check_settings(L, 2, iv);
  if (ngh == NULL) return push_rv(L, NULL, NGHTTP2_ERR_INVALID_STATE);
  int rv = nghttp2_submit_settings(ngh, NGHTTP2_FLAG_NONE, iv, n);
  if (rv == 0) h2lua_settings_limits(iv, n, &se->limits);
  return push_rv(L, se, rv);
}

/* core.session_ping(box, payload8) -> 0 | nghttp2 error */
static int lsession_ping(lua_State *L) {
  h2lua_session *se;
  nghttp2_session *ngh = live_ngh(L, &se);
  size_t len;
  const char *payload = luaL_checklstring(L, 2, &len);
  if (ngh == NULL || len != 8) return push_rv(L, NULL, NGHTTP2_ERR_INVALID_STATE);
  return push_rv(L, se, nghttp2_submit_ping(ngh, NGHTTP2_FLAG_NONE, (const uint8_t *)payload));
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* core.session_state(box) -> table of Node's session.state fields | nil */
static int lsession_state(lua_State *L) {
  nghttp2_session *n = live_ngh(L, NULL);
  if (n == NULL) return 0;
  lua_createtable(L, 0, 9);
  set_int(L, "effectiveLocalWindowSize", nghttp2_session_get_effective_local_window_size(n));
  set_int(L, "effectiveRecvDataLength", nghttp2_session_get_effective_recv_data_length(n));
  set_int(L, "nextStreamID", nghttp2_session_get_next_stream_id(n));
  set_int(L, "localWindowSize", nghttp2_session_get_local_window_size(n));
  set_int(L, "lastProcStreamID", nghttp2_session_get_last_proc_stream_id(n));
  set_int(L, "remoteWindowSize", nghttp2_session_get_remote_window_size(n));
  set_int(L, "outboundQueueSize", (lua_Integer)nghttp2_session_get_outbound_queue_size(n));
  set_int(L, "deflateDynamicTableSize",
          (lua_Integer)nghttp2_session_get_hd_deflate_dynamic_table_size(n));
  set_int(L, "inflateDynamicTableSize",
          (lua_Integer)nghttp2_session_get_hd_inflate_dynamic_table_size(n));
  return 1;
}

/* core.session_get_settings(box, remote) -> the seven settings in effect
   (local: acknowledged by the peer), with maxHeaderSize | nil */
static int lsession_get_settings(lua_State *L) {
  nghttp2_session *n = live_ngh(L, NULL);
  int remote = lua_toboolean(L, 2);
  if (n == NULL) return 0;
  uint32_t v[H2LUA_NSETTINGS];
  h2lua_settings_get(n, remote, v);
  h2lua_settings_push(L, v);
  return 1;
}

/* core.session_window(box, size) -> 0 | nghttp2 error: the connection's
   local window */
static int lsession_window(lua_State *L) {
  h2lua_session *se;
  nghttp2_session *ngh = live_ngh(L, &se);
  int32_t size = (int32_t)luaL_checkinteger(L, 2);
  if (ngh == NULL) return push_rv(L, NULL, NGHTTP2_ERR_INVALID_STATE);
  return push_rv(L, se, nghttp2_session_set_local_window_size(ngh, NGHTTP2_FLAG_NONE, 0, size));
}

/* core.session_timeout(box, ms) -> nil: 'timeout' after ms without bytes
   in or out; 0 turns it off */
static int lsession_timeout(lua_State *L) {
  h2lua_session *se = any_session(L);
  lua_Number ms = luaL_checknumber(L, 2);
  if (se && !se->torn_down && se->conn) h2lua_conn_set_timeout(se->conn, ms);
  return 0;
}

/* core.session_metrics(box) -> the counters of the 'Http2Session'
   performance entry */
static int lsession_metrics(lua_State *L) {
  h2lua_session *se = any_session(L);
  if (se == NULL) return 0;
  lua_createtable(L, 0, 8);
  set_int(L, "bytesRead", (lua_Integer)se->bytes_read);
  set_int(L, "bytesWritten", (lua_Integer)se->bytes_written);
  set_int(L, "framesReceived", (lua_Integer)se->frames_received);
  set_int(L, "framesSent", (lua_Integer)se->frames_sent);
  set_int(L, "maxConcurrentStreams", se->home.max_concurrent);
  set_int(L, "streamCount", se->home.stream_count);
  lua_pushnumber(L, se->start_time);
  lua_setfield(L, -2, "startTime");
  return 1;
}

/* core.session_altsvc(box, stream_id, origin, value) -> 0 | error */
static int lsession_altsvc(lua_State *L) {
  h2lua_session *se;
  nghttp2_session *ngh = live_ngh(L, &se);
  int32_t id = (int32_t)luaL_checkinteger(L, 2);
  size_t olen, vlen;
  const char *origin = luaL_checklstring(L, 3, &olen);
  const char *value = luaL_checklstring(L, 4, &vlen);
  if (ngh == NULL) return push_rv(L, NULL, NGHTTP2_ERR_INVALID_STATE);
  return push_rv(L, se, nghttp2_submit_altsvc(ngh, NGHTTP2_FLAG_NONE, id,
                                              (const uint8_t *)origin, olen,
                                              (const uint8_t *)value, vlen));
}

/* core.session_origin(box, origin1, ...) -> 0 | error: an ORIGIN frame */
static int lsession_origin(lua_State *L) {
  h2lua_session *se;
  nghttp2_session *ngh = live_ngh(L, &se);
  int n = lua_gettop(L) - 1;
  nghttp2_origin_entry ov[64];
  if (n > 64) n = 64;
  for (int i = 0; i < n; i++) {
    size_t len;
    ov[i].origin = (uint8_t *)luaL_checklstring(L, 2 + i, &len);
    ov[i].origin_len = len;
  }
  if (ngh == NULL) return push_rv(L, NULL, NGHTTP2_ERR_INVALID_STATE);
  return push_rv(L, se, nghttp2_submit_origin(ngh, NGHTTP2_FLAG_NONE, ov, (size_t)n));
}

const luaL_Reg h2lua_session_funcs[] = {
    {"session_altsvc", lsession_altsvc},
    {"session_origin", lsession_origin},
    {"session_settings", lsession_settings},
    {"session_ping", lsession_ping},
    {"session_state", lsession_state},
    {"session_get_settings", lsession_get_settings},
    {"session_window", lsession_window},
    {"session_timeout", lsession_timeout},
    {"session_metrics", lsession_metrics},
    {"session_goaway", lsession_goaway},
    {"session_next_stream_id", lsession_next_stream_id},
    {"session_close", lsession_close},
    {"session_destroy", lsession_destroy},
    {"session_ref", lsession_ref},
    {"session_streams", lsession_streams},
    {"session_refuse", lsession_refuse},
    {"session_alive", lsession_alive},
    {"session_want_raw", lsession_want_raw},
    {"session_trace", lsession_trace},
    {"session_fast", lsession_fast},
    {NULL, NULL},
};
