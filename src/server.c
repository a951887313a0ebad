/*
 * Servers. Owns the h2lua_server records, their listeners, contexts and
 * configuration (shared, refcounted, with the sessions they accept).
 */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "h1.h"
#include "h2.h"

static const h2lua_handle_vt server_vt;

/* How long the listener rests when accept() has no descriptor to give. */
#define ACCEPT_BACKOFF_MS 100

static void queue_session(h2lua_session *se, int type, int http1) {
  h2lua_handle *sv = se->cfg->server;
  h2lua_event *ev = sv ? h2lua_queue(se->h.rt, type, sv) : NULL;
  if (ev == NULL) { /* the server is gone: nobody would see this session */
    h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
    return;
  }
  ev->u.session.se = se;
  ev->u.session.http1 = http1;
}

/* The connection decided its protocol: start it. */
static void on_open(void *owner, h2lua_conn *c, int proto) {
  h2lua_session *se = owner;
  h2lua_config *cfg = se->cfg;
  h2lua_session_attach(se, c); /* the addresses are known now */
  if (proto == H2LUA_PROTO_H2) {
    if (h2lua_h2_start(se, cfg->opt, cfg->settings, cfg->nsettings) != 0) {
      h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR, 0);
      return;
    }
    queue_session(se, H2LUA_EV_SESSION, 0);
  } else if (proto == H2LUA_PROTO_H1) {
    if (h2lua_h1_start(se) != 0) {
      h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR, 0);
      return;
    }
    queue_session(se, H2LUA_EV_SESSION, 1);
  } else {
    /* TLS is up but speaks neither: 'unknownProtocol' decides */
    queue_session(se, H2LUA_EV_UNKNOWN_PROTOCOL, 0);
  }
}

static const h2lua_conn_cbs conn_cbs = {
    .open = on_open,
    .input = h2lua_session_on_input,
    .writable = h2lua_session_on_writable,
    .closed = h2lua_session_on_closed,
    .timeout = h2lua_session_on_timeout,
};

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *addr, int socklen, void *arg) {
  h2lua_server *sv = arg;
  h2lua_rt *rt = sv->h.rt;
  h2lua_session *se = h2lua_session_new(rt, 0, sv->cfg, &sv->cfg->limits);
  if (se == NULL) {
    evutil_closesocket(fd);
    return;
  }
  SSL *ssl = NULL;
  if (sv->tls && (ssl = h2lua_tls_server_ssl(sv->tls, sv->cfg->allow_http1)) == NULL) {
    evutil_closesocket(fd);
    h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
    h2lua_pump(rt);
    return;
  }
  h2lua_conn *c = h2lua_conn_accept(rt, fd, ssl, ssl == NULL, &conn_cbs, se);
  if (c == NULL) {
    h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
  } else {
    h2lua_session_attach(se, c);
  }
  h2lua_pump(rt);
}

static void resume_accept(evutil_socket_t fd, short what, void *arg) {
  h2lua_server *sv = arg;
  if (sv->lev) evconnlistener_enable(sv->lev);
}

/* accept() failed: reported. Out of descriptors (or of memory for one),
   the connection stays in the backlog and the listener would wake for it
   again at once, a busy loop: it rests ACCEPT_BACKOFF_MS instead, and the
   backlog waits (as nghttpd does). */
static void on_accept_error(struct evconnlistener *lev, void *arg) {
  h2lua_server *sv = arg;
  int err = EVUTIL_SOCKET_ERROR();
  if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
    if (sv->backoff == NULL)
      sv->backoff = evtimer_new(sv->h.rt->base, resume_accept, sv);
    if (sv->backoff) {
      struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
      evconnlistener_disable(lev);
      evtimer_add(sv->backoff, &tv);
    }
  }
  h2lua_event *ev = h2lua_queue(sv->h.rt, H2LUA_EV_SERVER_ERROR, &sv->h);
  if (ev) ev->u.error.err = err;
  h2lua_pump(sv->h.rt);
}

/* SNICallback: the one place Lua runs inside OpenSSL, with a plain
   protected call (no coroutine: the handshake cannot wait). */
static SSL_CTX *ask_lua(void *ud, SSL *ssl, const char *name) {
  h2lua_server *sv = ud;
  if (!sv->sni_callback) return NULL;
  h2lua_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = H2LUA_EV_SNI;
  ev.h = &sv->h;
  ev.u.sni.name = name;
  ev.u.sni.ctx = NULL;
  h2lua_deliver_now(sv->h.rt, &ev);
  return ev.u.sni.ctx; /* the result hook leaves the answer there */
}

h2lua_server *h2lua_server_listen(h2lua_rt *rt, const char *host, int port,
                                  int backlog, SSL_CTX *tls,
                                  const char **errname, char *msg,
                                  size_t msglen) {
  h2lua_server *sv = calloc(1, sizeof(*sv));
  if (sv == NULL) {
    *errname = "ENOMEM";
    snprintf(msg, msglen, "out of memory");
    return NULL;
  }
  sv->cfg = h2lua_config_new();
  if (sv->cfg == NULL) {
    free(sv);
    *errname = "ENOMEM";
    snprintf(msg, msglen, "out of memory");
    return NULL;
  }
  sv->lev = h2lua_listen_on(rt, host, port, backlog, on_accept, sv, errname,
                            msg, msglen);
  if (sv->lev == NULL) {
    h2lua_config_unref(sv->cfg);
    free(sv);
    return NULL;
  }
  h2lua_handle_init(&sv->h, rt, &server_vt, 1);
  evconnlistener_set_error_cb(sv->lev, on_accept_error);
  h2lua_config *cfg = sv->cfg;
  cfg->server = &sv->h;
  nghttp2_option_set_no_auto_window_update(cfg->opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(cfg->opt, 100);
  nghttp2_option_set_max_continuations(cfg->opt, H2LUA_MAX_CONTINUATIONS);
  /* Node.js's defaults */
  cfg->limits.max_header_pairs = 128;
  cfg->limits.max_header_list = H2LUA_MAX_HEADER_LIST;
  cfg->limits.max_h1_header = H2LUA_MAX_H1_HEADER;
  cfg->limits.max_session_memory = 10 * 1024 * 1024;
  cfg->limits.max_invalid_frames = 1000;
  cfg->limits.max_rejected_streams = 100;
  sv->sni.ask = ask_lua;
  sv->sni.ud = sv;
  if (tls) h2lua_server_set_context(sv, tls);
  sv->refd = 1;
  rt->refs++;
  rt->n_servers++;
  return sv;
}

void h2lua_server_set_context(h2lua_server *sv, SSL_CTX *ctx) {
  SSL_CTX_up_ref(ctx);
  if (sv->tls) {
    h2lua_tls_use_sni(sv->tls, NULL);
    SSL_CTX_free(sv->tls);
  }
  sv->tls = ctx;
  h2lua_tls_use_sni(ctx, &sv->sni);
}

void h2lua_server_close(h2lua_server *sv) {
  h2lua_rt *rt = sv->h.rt;
  if (sv->lev == NULL) return;
  evconnlistener_free(sv->lev);
  sv->lev = NULL;
  if (sv->backoff) evtimer_del(sv->backoff);
  if (sv->refd) rt->refs--;
  sv->refd = 0;
  sv->cfg->server = NULL;
  h2lua_handle_release(&sv->h);
  if (h2lua_queue_final(rt, H2LUA_EV_SERVER_CLOSE, &sv->h) == NULL) {
    /* nothing more can be queued (closing): no event refers to it */
  }
}

static void server_free(h2lua_server *sv) {
  h2lua_rt *rt = sv->h.rt;
  if (sv->lev) evconnlistener_free(sv->lev);
  sv->lev = NULL;
  if (sv->backoff) event_free(sv->backoff);
  sv->backoff = NULL;
  if (sv->refd) rt->refs--;
  sv->refd = 0;
  if (sv->tls) {
    h2lua_tls_use_sni(sv->tls, NULL);
    SSL_CTX_free(sv->tls);
  }
  h2lua_sni_free(&sv->sni);
  sv->cfg->server = NULL;
  h2lua_config_unref(sv->cfg);
  h2lua_handle_unlist(&sv->h);
  h2lua_handle_release(&sv->h);
  rt->n_servers--;
  free(sv);
}

/* ---- delivery ---- */

static int server_push(h2lua_handle *h, const h2lua_event *ev, lua_State *L) {
  switch (ev->type) {
  case H2LUA_EV_SESSION:
  case H2LUA_EV_UNKNOWN_PROTOCOL: {
    h2lua_session *se = ev->u.session.se;
    /* one already ended (a bad preface, answered at once) still comes to
       Lua: Node emits its 'session', its 'error' and its 'close' */
    if (se->torn_down && ev->type != H2LUA_EV_SESSION) return -1;
    se->h.box = h2lua_box_new(L, H2LUA_MAGIC_SESSION, se, LUA_NOREF);
    h2lua_session_push_addresses(L, se);
    lua_pushboolean(L, ev->u.session.http1);
    return 7;
  }
  case H2LUA_EV_TLS_ERROR:
    lua_pushlstring(L, ev->data.p ? ev->data.p : "", ev->data.len);
    lua_pushstring(L, ev->u.peer.host);
    lua_pushinteger(L, ev->u.peer.port);
    return 3;
  case H2LUA_EV_SERVER_ERROR:
    lua_pushinteger(L, ev->u.error.err);
    return 1;
  case H2LUA_EV_SNI:
    lua_pushstring(L, ev->u.sni.name);
    return 1;
  default:
    return -1; /* SERVER_CLOSE: not for Lua */
  }
}

static void server_result(h2lua_handle *h, h2lua_event *ev, lua_State *L) {
  if (ev->type == H2LUA_EV_SESSION || ev->type == H2LUA_EV_UNKNOWN_PROTOCOL) {
    h2lua_handle_adopt(L, &ev->u.session.se->h, -1);
  } else if (ev->type == H2LUA_EV_SNI) {
    h2lua_tls_box *b = luaL_testudata(L, -1, H2LUA_TLS_CONTEXT_MT);
    ev->u.sni.ctx = b ? b->ctx : NULL;
  }
}

static void server_delivered(h2lua_handle *h, h2lua_event *ev) {
  if (ev->type == H2LUA_EV_SESSION || ev->type == H2LUA_EV_UNKNOWN_PROTOCOL) {
    h2lua_session *se = ev->u.session.se;
    /* Lua did not take it (an error): nobody could answer its streams */
    if (se->h.ref == LUA_NOREF) h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
  } else if (ev->type == H2LUA_EV_SERVER_CLOSE) {
    server_free((h2lua_server *)h);
  }
}

static void server_flush(h2lua_handle *h) {}

static void server_gc(h2lua_handle *h) { server_free((h2lua_server *)h); }

static const h2lua_handle_vt server_vt = {
    .name = "server",
    .push = server_push,
    .result = server_result,
    .delivered = server_delivered,
    .flush = server_flush,
    .close = server_gc,
};
