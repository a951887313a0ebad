/*
 * Session records and the events that concern a session. Owns the
 * h2lua_session records; the protocol state is the protocol's.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "trace.h"
#include "util.h"

h2lua_config *h2lua_config_new(void) {
  h2lua_config *cfg = calloc(1, sizeof(*cfg));
  if (cfg == NULL) return NULL;
  if (nghttp2_option_new(&cfg->opt) != 0) {
    free(cfg);
    return NULL;
  }
  cfg->refs = 1;
  return cfg;
}

void h2lua_config_unref(h2lua_config *cfg) {
  if (cfg == NULL || --cfg->refs > 0) return;
  nghttp2_option_del(cfg->opt);
  free(cfg);
}

h2lua_session *h2lua_session_new(h2lua_rt *rt, int is_client,
                                 h2lua_config *cfg, const h2lua_limits *limits) {
  h2lua_session *se = calloc(1, sizeof(*se));
  if (se == NULL) return NULL;
  h2lua_handle_init(&se->h, rt, &h2lua_session_vt, 1);
  se->is_client = is_client;
  se->peer_push = 1;
  se->fast_ref = LUA_NOREF;
  if (cfg) {
    cfg->refs++;
    se->cfg = cfg;
  }
  se->limits = *limits;
  se->start_time = h2lua_now();
  se->refd = 1;
  rt->refs++;
  rt->n_sessions++;
  return se;
}

void h2lua_session_attach(h2lua_session *se, h2lua_conn *c) {
  se->conn = c;
  se->tls = c->tls;
  se->local = c->local;
  se->remote = c->remote;
}

h2lua_stream *h2lua_session_stream(h2lua_session *se, int32_t id) {
  return h2lua_stream_new(se->h.rt, se, &se->home, id);
}

void h2lua_session_teardown(h2lua_session *se, uint32_t code, int graceful) {
  h2lua_rt *rt = se->h.rt;
  if (se->torn_down) return;
  se->torn_down = 1;
  for (h2lua_stream *st = se->home.streams; st; st = st->next)
    if (!st->closed) h2lua_stream_closed(st, code);
  if (se->proto && se->proto->teardown) se->proto->teardown(se);
  se->proto = NULL;
  if (se->conn) {
    h2lua_conn_close(se->conn, graceful);
    se->conn = NULL;
  }
  if (se->refd) rt->refs--;
  se->refd = 0;
  h2lua_queue_final(rt, H2LUA_EV_SESSION_CLOSE, &se->h);
}

static void session_free(h2lua_session *se) {
  h2lua_rt *rt = se->h.rt;
  h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
  while (se->home.streams) {
    h2lua_stream *st = se->home.streams;
    if (rt->closing) h2lua_stream_free(st);
    else h2lua_stream_detach(st);
  }
  h2lua_handle_unlist(&se->h);
  if (se->fast_ref != LUA_NOREF && !rt->closing)
    luaL_unref(rt->main, LUA_REGISTRYINDEX, se->fast_ref);
  h2lua_handle_release(&se->h);
  h2lua_config_unref(se->cfg);
  rt->n_sessions--;
  free(se);
}

/* ---- connection callbacks ---- */

void h2lua_session_on_input(void *owner, h2lua_conn *c) {
  h2lua_session *se = owner;
  if (se->proto) se->proto->input(se);
  else evbuffer_drain(h2lua_conn_input(c), evbuffer_get_length(h2lua_conn_input(c)));
  h2lua_mark_dirty(&se->h);
}

void h2lua_session_on_writable(void *owner, h2lua_conn *c) {
  h2lua_session *se = owner;
  h2lua_mark_dirty(&se->h);
}

void h2lua_session_on_closed(void *owner, h2lua_conn *c, int kind, int err,
                             const char *why) {
  h2lua_session *se = owner;
  h2lua_rt *rt = se->h.rt;
  se->conn = NULL; /* it frees itself */
  if (kind == H2LUA_CONN_CONNECT) {
    h2lua_event *ev = h2lua_queue(rt, H2LUA_EV_CONNECT_ERROR, &se->h);
    if (ev) {
      ev->u.error.err = err;
      h2lua_event_data(ev, why, strlen(why));
    }
  } else if (kind == H2LUA_CONN_HANDSHAKE && se->cfg && se->cfg->server) {
    h2lua_event *ev = h2lua_queue(rt, H2LUA_EV_TLS_ERROR, se->cfg->server);
    if (ev) {
      memcpy(ev->u.peer.host, se->remote.host, sizeof(ev->u.peer.host));
      ev->u.peer.port = se->remote.port;
      h2lua_event_data(ev, why, strlen(why));
    }
  }
  else if (kind == H2LUA_CONN_ERROR && err > 0) {
    /* the socket failed (ECONNRESET, EPIPE): the session's error, as Node */
    h2lua_event *ev = h2lua_queue(rt, H2LUA_EV_SESSION_ERROR, &se->h);
    if (ev) ev->u.error.err = err;
  }
  h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
}

void h2lua_session_on_timeout(void *owner, h2lua_conn *c) {
  h2lua_session *se = owner;
  h2lua_queue(se->h.rt, H2LUA_EV_TIMEOUT, &se->h);
}

/* ---- delivery ---- */

static const struct { const char *name; int id; int boolean; } setting_ids[H2LUA_NSETTINGS] = {
    {"headerTableSize", NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 0},
    {"enablePush", NGHTTP2_SETTINGS_ENABLE_PUSH, 1},
    {"initialWindowSize", NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0},
    {"maxFrameSize", NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 0},
    {"maxConcurrentStreams", NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0},
    {"maxHeaderListSize", NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 0},
    {"enableConnectProtocol", NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
};

void h2lua_settings_get(nghttp2_session *n, int remote, uint32_t v[H2LUA_NSETTINGS]) {
  for (size_t i = 0; i < H2LUA_NSETTINGS; i++)
    v[i] = remote ? nghttp2_session_get_remote_settings(n, (nghttp2_settings_id)setting_ids[i].id)
                  : nghttp2_session_get_local_settings(n, (nghttp2_settings_id)setting_ids[i].id);
}

void h2lua_settings_push(lua_State *L, const uint32_t v[H2LUA_NSETTINGS]) {
  lua_createtable(L, 0, H2LUA_NSETTINGS + 1);
  for (size_t i = 0; i < H2LUA_NSETTINGS; i++) {
    if (setting_ids[i].boolean) lua_pushboolean(L, v[i] != 0);
    else lua_pushinteger(L, (lua_Integer)v[i]);
    lua_setfield(L, -2, setting_ids[i].name);
    if (setting_ids[i].id == NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE) {
      lua_pushinteger(L, (lua_Integer)v[i]);
      lua_setfield(L, -2, "maxHeaderSize");
    }
  }
}

void h2lua_session_push_addresses(lua_State *L, const h2lua_session *se) {
  lua_pushstring(L, se->remote.host);
  lua_pushinteger(L, se->remote.port);
  lua_pushstring(L, se->local.host);
  lua_pushinteger(L, se->local.port);
  lua_pushinteger(L, se->remote.family ? se->remote.family : se->local.family);
}

static int session_push(h2lua_handle *h, const h2lua_event *ev, lua_State *L) {
  h2lua_session *se = (h2lua_session *)h;
  const h2lua_blob *d = &ev->data;
  switch (ev->type) {
  case H2LUA_EV_SESSION_ERROR: /* code, message[, errno name] */
    lua_pushinteger(L, ev->u.error.err);
    if (ev->u.error.err > 0) {
      lua_pushstring(L, strerror(ev->u.error.err));
      lua_pushstring(L, h2lua_errno_name(ev->u.error.err));
      return 3;
    }
    lua_pushstring(L, nghttp2_strerror(ev->u.error.err == H2LUA_ERR_TOO_MANY_INVALID_FRAMES
                                           ? NGHTTP2_ERR_CALLBACK_FAILURE
                                           : ev->u.error.err));
    return 2;
  case H2LUA_EV_GOAWAY:
    lua_pushinteger(L, ev->u.goaway.code);
    lua_pushinteger(L, ev->u.goaway.last_id);
    lua_pushlstring(L, d->p ? d->p : "", d->len);
    return 3;
  case H2LUA_EV_REMOTE_SETTINGS:
  case H2LUA_EV_SETTINGS_ACK: /* the settings as that frame left them */
    if (d->p == NULL || d->len != sizeof(uint32_t) * H2LUA_NSETTINGS) return 0;
    h2lua_settings_push(L, (const uint32_t *)(const void *)d->p);
    return 1;
  case H2LUA_EV_PING:
  case H2LUA_EV_PING_ACK:
    lua_pushlstring(L, (const char *)ev->u.ping.payload, 8);
    return 1;
  case H2LUA_EV_FRAME_ERROR:
    if (!ev->u.frame_error.st || !h2lua_handle_push(L, &ev->u.frame_error.st->h))
      lua_pushnil(L);
    lua_pushinteger(L, ev->u.frame_error.frame_type);
    lua_pushinteger(L, ev->u.frame_error.code);
    lua_pushinteger(L, ev->u.frame_error.stream_id);
    return 4;
  case H2LUA_EV_PRIORITY:
    if (!ev->u.priority.st || !h2lua_handle_push(L, &ev->u.priority.st->h))
      lua_pushnil(L);
    lua_pushinteger(L, ev->u.priority.id);
    lua_pushinteger(L, ev->u.priority.parent);
    lua_pushinteger(L, ev->u.priority.weight);
    lua_pushboolean(L, ev->u.priority.exclusive);
    return 5;
  case H2LUA_EV_STREAM_REFUSED:
    lua_pushinteger(L, ev->u.refused.id);
    return 1;
  case H2LUA_EV_CONNECT:
    h2lua_session_push_addresses(L, se);
    return 5;
  case H2LUA_EV_CONNECT_ERROR:
    lua_pushinteger(L, ev->u.error.err);
    lua_pushlstring(L, d->p ? d->p : "", d->len);
    return 2;
  case H2LUA_EV_ALTSVC:
    lua_pushinteger(L, ev->u.altsvc.stream_id);
    lua_pushlstring(L, d->p, ev->u.altsvc.origin_len);
    lua_pushlstring(L, d->p + ev->u.altsvc.origin_len + 1,
                    d->len - ev->u.altsvc.origin_len - 1);
    return 3;
  case H2LUA_EV_ORIGIN:
    lua_createtable(L, (int)ev->u.origin.n, 0);
    for (size_t off = 0, i = 1; off < d->len; i++) {
      size_t len = strlen(d->p + off);
      lua_pushlstring(L, d->p + off, len);
      lua_rawseti(L, -2, (lua_Integer)i);
      off += len + 1;
    }
    return 1;
  case H2LUA_EV_FRAME: /* queued early: dropped if nobody listened since */
    if (!(se->trace & H2LUA_TRACE_EVENT)) return -1;
    return h2lua_trace_push(L, d) ? 1 : -1;
  case H2LUA_EV_STREAM: { /* a client: a promised stream */
    h2lua_stream *st = ev->u.stream.st;
    h2lua_stream_object(L, h->rt, st, lua_gettop(L)); /* the session is on top */
    h2lua_push_headers(L, h->rt, &st->hdrs, ev->u.stream.npairs, 1);
    lua_pushboolean(L, ev->u.stream.end);
    lua_pushinteger(L, st->id);
    lua_pushinteger(L, ev->u.stream.parent);
    return 6;
  }
  default:
    return 0;
  }
}

/* The request's headers table, then its rawHeaders or nil. */
static void push_request_headers(lua_State *L, h2lua_session *se,
                                 h2lua_stream *st, const h2lua_event *ev) {
  if (se->want_raw) {
    h2lua_push_headers(L, se->h.rt, &st->hdrs, ev->u.stream.npairs, 1);
  } else {
    h2lua_push_request_headers(L, se->h.rt, &st->hdrs, ev->u.stream.npairs);
    lua_pushnil(L);
  }
}

/* A new request goes straight to a pooled coroutine running Lua's stream
   entry with the stream object made here: no dispatcher, no scheduler
   layers. */
static int session_deliver(h2lua_handle *h, h2lua_event *ev, lua_State *L) {
  h2lua_session *se = (h2lua_session *)h;
  h2lua_rt *rt = h->rt;
  if (ev->type != H2LUA_EV_STREAM || se->is_client) return 0;
  h2lua_stream *st = ev->u.stream.st;
  if (!h2lua_handle_push(L, h)) return 1;
  int session = lua_gettop(L);
  int fast = se->fast_ref != LUA_NOREF && se->fast_gen == rt->listen_gen && !st->http1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, fast ? se->fast_ref : rt->stream_entry_ref);
  h2lua_sbox *sb = h2lua_stream_object(L, rt, st, session);
  sb->end_after_headers = sb->remote_ended = ev->u.stream.end != 0;
  st->push_allowed = !st->http1 && se->peer_push && !se->closing;
  sb->push_allowed = st->push_allowed;
  /* stack: entry, the stream (the owner: errors answer on it) */
  if (fast) { /* listener(stream, headers, flags, raw) */
    lua_pushvalue(L, -1);
    push_request_headers(L, se, st, ev);
    lua_pushinteger(L, NGHTTP2_FLAG_END_HEADERS |
                           (ev->u.stream.end ? NGHTTP2_FLAG_END_STREAM : 0));
    lua_insert(L, -2);
    h2lua_spawn(L, rt, 4);
    return 1;
  }
  lua_pushvalue(L, session);
  lua_pushvalue(L, -2);
  push_request_headers(L, se, st, ev);
  lua_pushboolean(L, ev->u.stream.end);
  lua_pushboolean(L, st->http1 != 0);
  /* stream_entry(session, stream, headers, raw, end, http1) */
  h2lua_spawn(L, rt, 6);
  return 1;
}

static void session_delivered(h2lua_handle *h, h2lua_event *ev) {
  if (ev->type == H2LUA_EV_STREAM) {
    h2lua_stream *st = ev->u.stream.st;
    h2lua_hblock_consume(&st->hdrs, ev->u.stream.npairs);
    st->block_start = st->block_start > ev->u.stream.npairs
                          ? st->block_start - ev->u.stream.npairs : 0;
  } else if (ev->type == H2LUA_EV_SESSION_CLOSE) {
    session_free((h2lua_session *)h);
  }
}

static void session_flush(h2lua_handle *h) {
  h2lua_session *se = (h2lua_session *)h;
  if (!se->torn_down && se->proto) se->proto->flush(se);
}

static void session_close(h2lua_handle *h) {
  session_free((h2lua_session *)h);
}

const h2lua_handle_vt h2lua_session_vt = {
    .name = "session",
    .push = session_push,
    .deliver = session_deliver,
    .delivered = session_delivered,
    .flush = session_flush,
    .close = session_close,
};
