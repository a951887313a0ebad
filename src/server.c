/*
 * Servers. Owns the h2lua_server records, their listeners, contexts and
 * configuration (shared, refcounted, with the sessions they accept).
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "h1.h"
#include "h2.h"
#include "trace.h"

static const h2lua_handle_vt server_vt;
static void recheck_closing(h2lua_config *cfg);

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
  recheck_closing(se->cfg); /* a closed server waiting for this one */
}

/* ---- the server's timeouts ----

   One deadline per connection: before the protocol is known, the TLS
   handshake or the first bytes; after, it is re-armed at each expiry for
   the earliest moment something could be overdue given what it sees (the
   preface, a header block begun at se->hb_since, no open stream), so no
   request pays for a timer. An idle session is noticed at the first check
   that finds it so: at most min(headersTimeout, keepAliveTimeout) after
   its last stream closed. */

enum { WATCH_NONE, WATCH_PREFACE, WATCH_HEADERS, WATCH_IDLE };

static double earlier(double next, double ms) {
  return ms > 0 && (next <= 0 || ms < next) ? ms : next;
}

/* Which timeout ran out now (WATCH_*), else *next: ms to the next check. */
static int check_watch(h2lua_session *se, const h2lua_timeouts *t, double now,
                       double *next) {
  int h2 = h2lua_h2_ngh(se) != NULL;
  if (h2 != se->watch_h2) { /* upgraded from HTTP/1.1: the preface is due */
    se->watch_start = now;
    se->watch_h2 = h2;
  }
  *next = 0;
  int preface = h2 && se->frames_received == 0;
  if (preface && t->preface > 0) {
    double due = se->watch_start + t->preface;
    if (now >= due) return WATCH_PREFACE;
    *next = earlier(*next, due - now);
  }
  if (t->headers > 0) {
    if (se->hb_since > 0) {
      double due = se->hb_since + t->headers;
      if (now >= due) return WATCH_HEADERS;
      *next = earlier(*next, due - now);
    } else {
      *next = earlier(*next, t->headers); /* a block may begin any time */
    }
  }
  if (t->idle > 0) {
    if (se->home.nopen == 0 && se->hb_since == 0 && !preface) {
      if (se->idle_since == 0 || se->idle_count != se->home.stream_count) {
        se->idle_since = now; /* idle since the last check at least */
        se->idle_count = se->home.stream_count;
      }
      double due = se->idle_since + t->idle;
      if (now >= due) return WATCH_IDLE;
      *next = earlier(*next, due - now);
    } else {
      se->idle_since = 0;
      *next = earlier(*next, t->idle);
    }
  }
  return WATCH_NONE;
}

static const char h1_timeout_response[] =
    "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

static void on_deadline(void *owner, h2lua_conn *c) {
  h2lua_session *se = owner;
  h2lua_config *cfg = se->cfg;
  if (se->torn_down) return;
  if (se->proto == NULL) {
    h2lua_config *waiting = cfg->server ? cfg : NULL; /* the server holds it */
    /* no handshake or no first bytes in time: closed, nothing sent */
    if (c->tls && !c->connected && cfg->server) {
      static const char why[] = "ERR_TLS_HANDSHAKE_TIMEOUT TLS handshake timeout";
      h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_TLS_ERROR, cfg->server);
      if (ev) {
        memcpy(ev->u.peer.host, se->remote.host, sizeof(ev->u.peer.host));
        ev->u.peer.port = se->remote.port;
        h2lua_event_data(ev, why, sizeof(why) - 1);
      }
    }
    h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
    if (waiting) recheck_closing(waiting);
    return;
  }
  double next;
  int what = check_watch(se, &cfg->timeouts, h2lua_now(), &next);
  if (what == WATCH_NONE) {
    if (next > 0) h2lua_conn_deadline(c, next);
    return;
  }
  if (h2lua_h2_ngh(se)) { /* GOAWAY, then the connection closes */
    h2lua_h2_destroy(se, NGHTTP2_NO_ERROR);
    return;
  }
  if (what == WATCH_HEADERS && se->proto == &h2lua_h1_proto)
    h2lua_conn_write(c, h1_timeout_response, sizeof(h1_timeout_response) - 1);
  h2lua_session_teardown(se, NGHTTP2_CANCEL, 1);
}

/* The first deadline of an accepted connection, or of its protocol. */
static void watch(h2lua_session *se, h2lua_conn *c, double ms) {
  se->watch_start = h2lua_now();
  h2lua_conn_deadline(c, ms);
}

/* The connection decided its protocol: start it. */
static void on_open(void *owner, h2lua_conn *c, int proto) {
  h2lua_session *se = owner;
  h2lua_config *cfg = se->cfg;
  h2lua_session_attach(se, c); /* the addresses are known now */
  if (proto == H2LUA_PROTO_H2) {
    /* a 'session' listener may listen for 'frame': the first read's
       frames wait for it */
    if (cfg->session_listeners) se->trace |= H2LUA_TRACE_EARLY;
    if (h2lua_h2_start(se, cfg->opt, cfg->settings, cfg->nsettings) != 0) {
      h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR, 0);
      recheck_closing(cfg); /* the server's */
      return;
    }
    queue_session(se, H2LUA_EV_SESSION, 0);
  } else if (proto == H2LUA_PROTO_H1) {
    if (h2lua_h1_start(se) != 0) {
      h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR, 0);
      recheck_closing(cfg);
      return;
    }
    queue_session(se, H2LUA_EV_SESSION, 1);
  } else {
    /* TLS is up but speaks neither: 'unknownProtocol' decides (and
       unknownProtocolTimeout) */
    h2lua_conn_deadline(c, 0);
    queue_session(se, H2LUA_EV_UNKNOWN_PROTOCOL, 0);
    return;
  }
  if (se->torn_down) return;
  /* over TLS the preface (or the first request) counts from the
     handshake; in plaintext, from the accept */
  double next;
  if (c->tls) se->watch_start = h2lua_now();
  if (proto == H2LUA_PROTO_H1) se->hb_since = se->watch_start;
  se->watch_h2 = proto == H2LUA_PROTO_H2;
  check_watch(se, &cfg->timeouts, h2lua_now(), &next);
  h2lua_conn_deadline(c, next);
}

/* A connection that ends before saying its protocol may be the last one a
   closed server waits for. */
static void on_closed(void *owner, h2lua_conn *c, int kind, int err,
                      const char *why) {
  h2lua_session *se = owner;
  h2lua_config *waiting = se->proto == NULL && se->cfg && se->cfg->server ? se->cfg : NULL;
  h2lua_session_on_closed(owner, c, kind, err, why);
  if (waiting) recheck_closing(waiting);
}

static const h2lua_conn_cbs conn_cbs = {
    .open = on_open,
    .input = h2lua_session_on_input,
    .writable = h2lua_session_on_writable,
    .closed = on_closed,
    .timeout = h2lua_session_on_timeout,
    .deadline = on_deadline,
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
    watch(se, c, ssl ? sv->cfg->timeouts.handshake : sv->cfg->timeouts.preface);
  }
  h2lua_pump(rt);
}

/* A TLS server's given socket: its descriptor goes the way of an accepted
   one (the handshake, ALPN, SNI and the handshake timeout included). Only
   while nothing was read from it or waits to be written, which holds for
   a socket over a duplex (net.over) or one Lua has not read. */
static int adopt_tls(h2lua_server *sv, struct bufferevent *bev) {
  h2lua_rt *rt = sv->h.rt;
  evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd < 0 || evbuffer_get_length(bufferevent_get_input(bev)) > 0 ||
      evbuffer_get_length(bufferevent_get_output(bev)) > 0)
    return -1;
  h2lua_session *se = h2lua_session_new(rt, 0, sv->cfg, &sv->cfg->limits);
  if (se == NULL) return -1;
  SSL *ssl = h2lua_tls_server_ssl(sv->tls, sv->cfg->allow_http1);
  int nfd = ssl ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  if (nfd < 0) {
    if (ssl) SSL_free(ssl);
    h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
    return -1;
  }
  bufferevent_free(bev); /* its descriptor lives on in |nfd| */
  h2lua_conn *c = h2lua_conn_accept(rt, nfd, ssl, 0, &conn_cbs, se);
  if (c == NULL) {
    h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
  } else {
    h2lua_session_attach(se, c);
    watch(se, c, sv->cfg->timeouts.handshake);
  }
  h2lua_pump(rt);
  return 0;
}

int h2lua_server_adopt(h2lua_server *sv, struct bufferevent *bev) {
  h2lua_rt *rt = sv->h.rt;
  if (sv->tls) return adopt_tls(sv, bev);
  h2lua_session *se = h2lua_session_new(rt, 0, sv->cfg, &sv->cfg->limits);
  if (se == NULL) return -1;
  h2lua_conn *c = h2lua_conn_adopt_accepted(rt, bev, 1, &conn_cbs, se);
  if (c == NULL) {
    h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
    return -1;
  }
  h2lua_session_attach(se, c);
  watch(se, c, sv->cfg->timeouts.preface);
  h2lua_pump(rt);
  return 0;
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
                                  int backlog, int flags, SSL_CTX *tls,
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
  sv->lev = h2lua_listen_on(rt, host, port, backlog, flags, on_accept, sv, errname,
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
  /* h2lua's own (docs/api.md) */
  cfg->timeouts.handshake = 10000;
  cfg->timeouts.preface = 10000;
  cfg->timeouts.headers = 20000;
  cfg->timeouts.idle = 120000;
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

/* Accepted connections that have not said their protocol yet (the first
   bytes, the TLS handshake): each is to become a session of |sv|. */
static int pending_sessions(h2lua_server *sv) {
  int n = 0;
  for (h2lua_handle *h = sv->h.rt->handles; h; h = h->next) {
    if (h->vt != &h2lua_session_vt) continue;
    h2lua_session *se = (h2lua_session *)h;
    if (se->cfg == sv->cfg && se->proto == NULL && !se->torn_down) n++;
  }
  return n;
}

#define CLOSE_POLL_MS 20 /* how often a closed server looks at them */

static void finish_close(h2lua_server *sv);

static void on_closing(evutil_socket_t fd, short what, void *arg) {
  h2lua_server *sv = arg;
  if (sv->cfg->server == NULL) return; /* finished already */
  if (pending_sessions(sv) > 0) {
    struct timeval tv = {0, CLOSE_POLL_MS * 1000};
    evtimer_add(sv->closing, &tv);
    return;
  }
  finish_close(sv);
  h2lua_pump(sv->h.rt);
}

/* |cfg|'s server, if it is closed and waiting for pending connections,
   looks again right after this callback (after the events queued now are
   delivered: its Lua object must still take them). */
static void recheck_closing(h2lua_config *cfg) {
  h2lua_server *sv = (h2lua_server *)cfg->server;
  if (sv == NULL || sv->closing == NULL || sv->lev != NULL) return;
  event_active(sv->closing, EV_TIMEOUT, 0);
}

void h2lua_server_close(h2lua_server *sv) {
  h2lua_rt *rt = sv->h.rt;
  if (sv->lev == NULL) return;
  evconnlistener_free(sv->lev);
  sv->lev = NULL;
  if (sv->backoff) evtimer_del(sv->backoff);
  if (sv->refd) rt->refs--;
  sv->refd = 0;
  /* A connection the kernel gave us is a client waiting for an answer:
     dropping it because its first bytes came after close() would fail a
     request a drain promised to serve. The sessions keep the loop up. */
  if (!rt->closing && pending_sessions(sv) > 0 &&
      (sv->closing = evtimer_new(rt->base, on_closing, sv)) != NULL) {
    struct timeval tv = {0, CLOSE_POLL_MS * 1000};
    evtimer_add(sv->closing, &tv);
    return;
  }
  finish_close(sv);
}

static void finish_close(h2lua_server *sv) {
  h2lua_rt *rt = sv->h.rt;
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
  if (sv->closing) event_free(sv->closing);
  sv->closing = NULL;
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
    lua_pushboolean(L, se->conn && se->conn->adopted);
    return 8;
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
    se->trace &= ~H2LUA_TRACE_EARLY;
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
