/*
 * Connections: the bufferevent under every session. Owns the bufferevent
 * and its timers; after h2lua_conn_close it owns itself until the last
 * bytes are out (listed in the runtime so lua_close frees it too).
 */
#include "conn.h"

#include <errno.h>
#include <netdb.h>
#include <event2/dns.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "supervisor.h"
#include "tls.h"

#define READ_HIGH_WATERMARK (256 * 1024) /* unread input before TCP pushes back */
#define CLOSE_LINGER_MS 3000             /* a closing connection waits this long */
#define CLOSE_DISCARD_MAX (4 * 1024 * 1024) /* and drops at most this much */

static void conn_free(h2lua_conn *c);
static void close_now_or_later(h2lua_conn *c, int graceful);

/* Owner callbacks run with |busy| raised: a close they ask for happens
   once they return, so |c| stays valid inside each libevent callback. */
static int enter(h2lua_conn *c) { return c->busy++; }
static int leave(h2lua_conn *c) {
  if (--c->busy == 0 && c->doomed) {
    close_now_or_later(c, c->doomed == 1);
    return -1;
  }
  return c->owner ? 0 : -1;
}

static void touch(h2lua_conn *c) {
  if (c->timeout_ms > 0) c->last_activity = h2lua_now();
}

static void set_nodelay(struct bufferevent *bev) {
  int one = 1;
  evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void addresses(h2lua_conn *c) {
  h2lua_addr_of(bufferevent_getfd(c->bev), &c->local, &c->remote);
}

/* Tells the owner, then frees: the end of a connection the peer ended. */
static void report_closed(h2lua_conn *c, int kind, int err, const char *why) {
  h2lua_rt *rt = c->rt;
  void *owner = c->owner;
  c->owner = NULL;
  enter(c); /* a close from inside the callback only detaches */
  if (owner && c->cb->closed) c->cb->closed(owner, c, kind, err, why);
  c->busy--;
  conn_free(c);
  h2lua_pump(rt);
}

static void on_read(struct bufferevent *bev, void *arg) {
  h2lua_conn *c = arg;
  h2lua_rt *rt = c->rt;
  touch(c);
  enter(c);
  if (c->sniff) {
    /* h2c with prior knowledge starts with the preface; anything else is
       HTTP/1.1 (which may ask to upgrade) */
    static const char preface[] = NGHTTP2_CLIENT_MAGIC;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in), cmp = n < 24 ? n : 24;
    const char *p = (const char *)evbuffer_pullup(in, (ssize_t)cmp);
    int h2 = memcmp(p, preface, cmp) == 0;
    if (h2 && n < 24) { /* wait for more */
      leave(c);
      return;
    }
    c->sniff = 0;
    if (c->owner) c->cb->open(c->owner, c, h2 ? H2LUA_PROTO_H2 : H2LUA_PROTO_H1);
  }
  if (c->owner && !c->doomed) c->cb->input(c->owner, c);
  leave(c);
  h2lua_pump(rt);
}

static void on_write(struct bufferevent *bev, void *arg) {
  h2lua_conn *c = arg;
  h2lua_rt *rt = c->rt;
  enter(c);
  if (c->owner && c->cb->writable) c->cb->writable(c->owner, c);
  leave(c);
  h2lua_pump(rt);
}

static void on_event(struct bufferevent *bev, short events, void *arg) {
  h2lua_conn *c = arg;
  if (events & BEV_EVENT_CONNECTED) {
    c->connected = 1;
    set_nodelay(bev);
    addresses(c);
    int proto = H2LUA_PROTO_H2;
    if (c->tls) {
      char alpn[32];
      SSL *ssl = bufferevent_openssl_get_ssl(bev);
      h2lua_tls_alpn(ssl, alpn, sizeof(alpn));
      proto = strcmp(alpn, "h2") == 0         ? H2LUA_PROTO_H2
              : strcmp(alpn, "http/1.1") == 0 ? H2LUA_PROTO_H1
              : h2lua_tls_http1_fallback(ssl) ? H2LUA_PROTO_H1
                                              : H2LUA_PROTO_NONE;
      if (c->is_client && proto != H2LUA_PROTO_H2) {
        report_closed(c, H2LUA_CONN_CONNECT, 0,
                      "ERR_HTTP2_ERROR the server did not agree on h2 (ALPN)");
        return;
      }
    }
    h2lua_rt *rt = c->rt;
    enter(c);
    if (c->owner) c->cb->open(c->owner, c, proto);
    leave(c);
    h2lua_pump(rt);
    return;
  }
  if (!(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) return;
  char buf[512];
  if (c->is_client && !c->connected) {
    /* the connect failed: say why (errno, the resolver, or TLS) */
    int dns = bufferevent_socket_get_dns_error(bev);
    if (!dns) dns = c->lookup_error;
    int err = c->bind_errno ? c->bind_errno : EVUTIL_SOCKET_ERROR();
    if (c->tls && !dns && (err == 0 || (events & BEV_EVENT_ERROR))) {
      h2lua_tls_describe_failure(bev, 1, buf, sizeof(buf));
      if (strncmp(buf, "ERR_SSL_HANDSHAKE", 17) == 0 && err)
        snprintf(buf, sizeof(buf), "%s %s", h2lua_errno_name(err), strerror(err));
    } else {
      if (err == 0) err = ECONNREFUSED;
      snprintf(buf, sizeof(buf), "%s %s", h2lua_errno_name(dns ? -1 : err),
               dns ? evutil_gai_strerror(dns) : strerror(err));
    }
    report_closed(c, H2LUA_CONN_CONNECT, dns ? dns : err, buf);
    return;
  }
  if (c->tls && !c->is_client && !c->connected) {
    h2lua_tls_describe_failure(bev, 0, buf, sizeof(buf));
    report_closed(c, H2LUA_CONN_HANDSHAKE, 0, buf);
    return;
  }
  report_closed(c, (events & BEV_EVENT_EOF) ? H2LUA_CONN_EOF : H2LUA_CONN_ERROR,
                EVUTIL_SOCKET_ERROR(), NULL);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  h2lua_conn *c = arg;
  h2lua_rt *rt = c->rt;
  double left = c->timeout_ms - (h2lua_now() - c->last_activity);
  if (left <= 0) {
    c->last_activity = h2lua_now();
    left = c->timeout_ms;
    enter(c);
    if (c->owner && c->cb->timeout) c->cb->timeout(c->owner, c);
    if (leave(c) != 0) {
      h2lua_pump(rt);
      return;
    }
  }
  if (c->timer && c->timeout_ms > 0) {
    struct timeval tv = {(time_t)(left / 1000),
                         (suseconds_t)((left - (double)(time_t)(left / 1000) * 1000) * 1000)};
    evtimer_add(c->timer, &tv);
  }
  h2lua_pump(rt);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
  h2lua_conn *c = arg;
  h2lua_rt *rt = c->rt;
  enter(c);
  if (c->owner && c->cb->deadline) c->cb->deadline(c->owner, c);
  leave(c);
  h2lua_pump(rt);
}

static struct timeval tv_of(double ms) {
  struct timeval tv = {(time_t)(ms / 1000),
                       (suseconds_t)((ms - (double)(time_t)(ms / 1000) * 1000) * 1000)};
  return tv;
}

void h2lua_conn_deadline(h2lua_conn *c, double ms) {
  if (ms <= 0) {
    if (c->deadline) evtimer_del(c->deadline);
    return;
  }
  if (c->deadline == NULL) c->deadline = evtimer_new(c->rt->base, on_deadline, c);
  if (c->deadline == NULL) return;
  struct timeval tv = tv_of(ms);
  evtimer_add(c->deadline, &tv);
}

/* ---- after the owner let go ---- */

static void orphan_close(evutil_socket_t fd, short what, void *arg) {
  conn_free(arg);
}

static void orphan_read(struct bufferevent *bev, void *arg) {
  h2lua_conn *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  c->discarded += evbuffer_get_length(in);
  evbuffer_drain(in, evbuffer_get_length(in));
  if (c->discarded > CLOSE_DISCARD_MAX) conn_free(c);
}

static void orphan_write(struct bufferevent *bev, void *arg) {
  /* the TLS bufferevent runs this callback deferred, so it may report an
     earlier drain after the last frames (a GOAWAY) were queued: only an
     empty output means everything is out (records go whole to the socket) */
  if (evbuffer_get_length(bufferevent_get_output(bev)) > 0) return;
  /* our side is done, the peer's FIN (or the timer) ends it; over TLS a
     close_notify first, or the peer sees a truncation ("unexpected eof").
     With everything else out, the alert goes straight to the socket. */
  h2lua_conn *c = arg;
  SSL *ssl = c->tls ? bufferevent_openssl_get_ssl(bev) : NULL;
  if (ssl && SSL_is_init_finished(ssl) &&
      !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
    SSL_shutdown(ssl);
    ERR_clear_error(); /* a full socket buffer: the alert is lost, no more */
  }
  evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd >= 0) shutdown(fd, SHUT_WR);
}

static void orphan_event(struct bufferevent *bev, short events, void *arg) {
  if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
    conn_free(arg);
}

static void orphan_gc(h2lua_handle *h) { conn_free((h2lua_conn *)h); }

static const h2lua_handle_vt orphan_vt = {
    .name = "connection",
    .close = orphan_gc,
};

void h2lua_conn_close(h2lua_conn *c, int graceful) {
  c->owner = NULL;
  if (c->busy) {
    if (!c->doomed || !graceful) c->doomed = graceful ? 1 : 2;
    return;
  }
  close_now_or_later(c, graceful);
}

static void close_now_or_later(h2lua_conn *c, int graceful) {
  c->doomed = 0;
  if (c->h.listed) return; /* lingering already */
  if (c->timer) {
    event_free(c->timer);
    c->timer = NULL;
  }
  if (c->deadline) {
    event_free(c->deadline);
    c->deadline = NULL;
  }
  if (!graceful || c->bev == NULL || c->rt->closing) {
    conn_free(c);
    return;
  }
  h2lua_handle_init(&c->h, c->rt, &orphan_vt, 1);
  /* it keeps the loop (and the process) up until its bytes are out */
  c->rt->n_lingering++;
  c->rt->refs++;
  bufferevent_setcb(c->bev, orphan_read, orphan_write, orphan_event, c);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  c->close_timer = evtimer_new(c->rt->base, orphan_close, c);
  struct timeval tv = {CLOSE_LINGER_MS / 1000, (CLOSE_LINGER_MS % 1000) * 1000};
  if (c->close_timer) evtimer_add(c->close_timer, &tv);
  if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
    orphan_write(c->bev, c);
}

static void conn_free(h2lua_conn *c) {
  if (c->h.listed) {
    h2lua_handle_unlist(&c->h);
    c->rt->n_lingering--;
    c->rt->refs--;
  }
  if (c->lookup) evdns_getaddrinfo_cancel(c->lookup); /* its callback ignores a cancel */
  if (c->timer) event_free(c->timer);
  if (c->deadline) event_free(c->deadline);
  if (c->close_timer) event_free(c->close_timer);
  if (c->bev) bufferevent_free(c->bev);
  free(c);
}

/* ---- making connections ---- */

static h2lua_conn *conn_new(h2lua_rt *rt, struct bufferevent *bev,
                            const h2lua_conn_cbs *cb, void *owner) {
  h2lua_conn *c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->rt = rt;
  c->bev = bev;
  c->cb = cb;
  c->owner = owner;
  bufferevent_setcb(bev, on_read, on_write, on_event, c);
  bufferevent_setwatermark(bev, EV_READ, 0, READ_HIGH_WATERMARK);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  return c;
}

h2lua_conn *h2lua_conn_accept(h2lua_rt *rt, evutil_socket_t fd, SSL *ssl,
                              int sniff, const h2lua_conn_cbs *cb,
                              void *owner) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  evutil_make_socket_nonblocking(fd);
  struct bufferevent *bev;
  if (ssl) {
    bev = bufferevent_openssl_socket_new(rt->base, fd, ssl,
                                         BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev) bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    else SSL_free(ssl);
  } else {
    bev = bufferevent_socket_new(rt->base, fd, BEV_OPT_CLOSE_ON_FREE);
  }
  if (bev == NULL) {
    evutil_closesocket(fd);
    return NULL;
  }
  h2lua_conn *c = conn_new(rt, bev, cb, owner);
  if (c == NULL) {
    bufferevent_free(bev); /* closes the socket (and frees the SSL) */
    return NULL;
  }
  c->tls = ssl != NULL;
  c->sniff = sniff && !ssl;
  c->connected = ssl == NULL;
  addresses(c);
  return c;
}

h2lua_conn *h2lua_conn_adopt_accepted(h2lua_rt *rt, struct bufferevent *bev,
                                      int sniff, const h2lua_conn_cbs *cb,
                                      void *owner) {
  h2lua_conn *c = conn_new(rt, bev, cb, owner);
  if (c == NULL) return NULL;
  c->sniff = sniff;
  c->connected = 1;
  c->adopted = 1;
  set_nodelay(bev);
  addresses(c);
  if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
    bufferevent_trigger(bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
  return c;
}

static void dns_free(h2lua_rt *rt) {
  if (rt->dns) evdns_base_free(rt->dns, 0);
  rt->dns = NULL;
}

static struct evdns_base *dns_of(h2lua_rt *rt) {
  if (rt->dns == NULL) {
    rt->dns = evdns_base_new(rt->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (rt->dns == NULL) rt->dns = evdns_base_new(rt->base, 0);
    h2lua_rt_on_close(rt, dns_free);
  }
  return rt->dns;
}

struct evdns_base *h2lua_conn_dns(h2lua_rt *rt) { return dns_of(rt); }

/* A client connection not yet connected: a bufferevent with no socket
   (plain, or TLS in the connecting state) under a new record. */
static h2lua_conn *client_conn_new(h2lua_rt *rt, SSL *ssl,
                                   const h2lua_conn_cbs *cb, void *owner) {
  struct bufferevent *bev;
  if (ssl) {
    bev = bufferevent_openssl_socket_new(rt->base, -1, ssl,
                                         BUFFEREVENT_SSL_CONNECTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev) bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  } else {
    bev = bufferevent_socket_new(rt->base, -1, BEV_OPT_CLOSE_ON_FREE);
  }
  if (bev == NULL) return NULL;
  h2lua_conn *c = conn_new(rt, bev, cb, owner);
  if (c == NULL) {
    bufferevent_free(bev);
    return NULL;
  }
  c->tls = ssl != NULL;
  c->is_client = 1;
  return c;
}

h2lua_conn *h2lua_conn_connect(h2lua_rt *rt, const char *host, int port,
                               SSL *ssl, const h2lua_conn_cbs *cb,
                               void *owner) {
  h2lua_conn *c = client_conn_new(rt, ssl, cb, owner);
  if (c == NULL) return NULL;
  if (bufferevent_socket_connect_hostname(c->bev, dns_of(rt), AF_UNSPEC, host,
                                          port) != 0) {
    /* refused at once (no socket, bad family): reported from the loop
       like any failed connect */
    bufferevent_trigger_event(c->bev, BEV_EVENT_ERROR, BEV_OPT_DEFER_CALLBACKS);
  }
  return c;
}

/* The lookup for h2lua_conn_connect_from is done: bind a socket of the
   family, then connect it (the bufferevent takes the socket). */
static void on_lookup(int result, struct evutil_addrinfo *res, void *arg) {
  if (result == EVUTIL_EAI_CANCEL) return; /* |c| is gone */
  h2lua_conn *c = arg;
  c->lookup = NULL;
  evutil_socket_t fd = -1;
  if (result != 0) {
    c->lookup_error = result;
  } else if ((fd = socket(res->ai_family, SOCK_STREAM, 0)) < 0 ||
             evutil_make_socket_nonblocking(fd) != 0 ||
             evutil_make_socket_closeonexec(fd) != 0 ||
             bind(fd, (struct sockaddr *)&c->bind_to, (socklen_t)c->bind_len) != 0) {
    c->bind_errno = errno ? errno : EINVAL;
    if (fd >= 0) evutil_closesocket(fd);
    fd = -1;
  } else {
    bufferevent_setfd(c->bev, fd);
    if (bufferevent_socket_connect(c->bev, res->ai_addr, (int)res->ai_addrlen) != 0 &&
        c->bind_errno == 0)
      c->bind_errno = errno ? errno : ECONNREFUSED;
    else
      fd = 0; /* connecting */
  }
  if (res) evutil_freeaddrinfo(res);
  if (fd < 0 || c->bind_errno)
    bufferevent_trigger_event(c->bev, BEV_EVENT_ERROR, BEV_OPT_DEFER_CALLBACKS);
}

h2lua_conn *h2lua_conn_connect_from(h2lua_rt *rt, const char *host, int port,
                                    const char *local, SSL *ssl,
                                    const h2lua_conn_cbs *cb, void *owner) {
  struct sockaddr_in a4;
  struct sockaddr_in6 a6;
  memset(&a4, 0, sizeof(a4));
  memset(&a6, 0, sizeof(a6));
  int family = AF_UNSPEC;
  if (inet_pton(AF_INET, local, &a4.sin_addr) == 1) family = AF_INET;
  else if (inet_pton(AF_INET6, local, &a6.sin6_addr) == 1) family = AF_INET6;
  h2lua_conn *c = client_conn_new(rt, ssl, cb, owner);
  if (c == NULL) return NULL;
  if (family == AF_INET) {
    a4.sin_family = AF_INET;
    memcpy(&c->bind_to, &a4, sizeof(a4));
    c->bind_len = (int)sizeof(a4);
  } else if (family == AF_INET6) {
    a6.sin6_family = AF_INET6;
    memcpy(&c->bind_to, &a6, sizeof(a6));
    c->bind_len = (int)sizeof(a6);
  } else {
    c->bind_errno = EINVAL;
    bufferevent_trigger_event(c->bev, BEV_EVENT_ERROR, BEV_OPT_DEFER_CALLBACKS);
    return c;
  }
  struct evutil_addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  char portstr[16];
  snprintf(portstr, sizeof(portstr), "%d", port);
  /* the callback may run before this returns (a literal, /etc/hosts) */
  c->lookup = (struct evdns_getaddrinfo_request *)1;
  struct evdns_getaddrinfo_request *r =
      evdns_getaddrinfo(dns_of(rt), host, portstr, &hints, on_lookup, c);
  if (c->lookup != NULL) c->lookup = r;
  return c;
}

h2lua_conn *h2lua_conn_adopt(h2lua_rt *rt, struct bufferevent *bev,
                             int connected, const h2lua_conn_cbs *cb,
                             void *owner) {
  h2lua_conn *c = conn_new(rt, bev, cb, owner);
  if (c == NULL) return NULL;
  c->is_client = 1;
  c->connected = connected;
  /* an h2lua.tls socket: ALPN is checked when its handshake ends */
  c->tls = h2lua_tls_loaded() && bufferevent_openssl_get_ssl(bev) != NULL;
  if (connected) addresses(c);
  return c;
}

/* ---- using them ---- */

struct evbuffer *h2lua_conn_input(h2lua_conn *c) {
  return bufferevent_get_input(c->bev);
}

size_t h2lua_conn_output_len(const h2lua_conn *c) {
  return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

int h2lua_conn_write(h2lua_conn *c, const void *p, size_t len) {
  if (c->bev == NULL) return -1;
  touch(c);
  return bufferevent_write(c->bev, p, len);
}

int h2lua_conn_write_buffer(h2lua_conn *c, struct evbuffer *buf) {
  if (c->bev == NULL) return -1;
  touch(c);
  return bufferevent_write_buffer(c->bev, buf);
}

void h2lua_conn_pause_read(h2lua_conn *c, int paused) {
  if (c->bev == NULL || c->read_paused == paused) return;
  c->read_paused = paused;
  if (paused) bufferevent_disable(c->bev, EV_READ);
  else bufferevent_enable(c->bev, EV_READ);
}

void h2lua_conn_set_timeout(h2lua_conn *c, double ms) {
  c->timeout_ms = ms;
  if (ms <= 0) {
    if (c->timer) evtimer_del(c->timer);
    return;
  }
  if (c->timer == NULL) c->timer = evtimer_new(c->rt->base, on_timer, c);
  if (c->timer == NULL) return;
  c->last_activity = h2lua_now();
  struct timeval tv = {(time_t)(ms / 1000),
                       (suseconds_t)((ms - (double)(time_t)(ms / 1000) * 1000) * 1000)};
  evtimer_add(c->timer, &tv);
}

SSL *h2lua_conn_ssl(const h2lua_conn *c) {
  return c->tls && c->bev ? bufferevent_openssl_get_ssl(c->bev) : NULL;
}

struct evconnlistener *h2lua_listen_on(h2lua_rt *rt, const char *host,
                                       int port, int backlog, int flags,
                                       evconnlistener_cb cb, void *arg,
                                       const char **errname, char *msg,
                                       size_t msglen) {
  if (host && host[0] == '/') { /* a UNIX domain socket's path */
    struct sockaddr_un un;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    if (strlen(host) >= sizeof(un.sun_path)) {
      *errname = "ENAMETOOLONG";
      snprintf(msg, msglen, "%s", strerror(ENAMETOOLONG));
      return NULL;
    }
    memcpy(un.sun_path, host, strlen(host) + 1);
    /* no LEV_OPT_REUSEABLE: a path in use is EADDRINUSE, as Node's */
    struct evconnlistener *lev = evconnlistener_new_bind(
        rt->base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        backlog, (struct sockaddr *)&un, (int)sizeof(un));
    if (lev == NULL) {
      int err = errno;
      *errname = h2lua_errno_name(err);
      snprintf(msg, msglen, "%s", strerror(err));
    }
    return lev;
  }
  if (h2lua_worker_id()) {
    int fd = h2lua_worker_listen(host, port, backlog, errname, msg, msglen);
    if (fd < 0) return NULL;
    evutil_make_socket_nonblocking(fd);
    struct evconnlistener *lev = evconnlistener_new(
        rt->base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (lev == NULL) {
      evutil_closesocket(fd);
      *errname = "ENOMEM";
      snprintf(msg, msglen, "out of memory");
    }
    return lev;
  }
  struct addrinfo *res, *ai;
  const char *why;
  if (h2lua_passive_addr(host, port, &res, &ai, &why) != 0) {
    *errname = "ENOTFOUND";
    snprintf(msg, msglen, "%s", why);
    return NULL;
  }
  struct evconnlistener *lev = evconnlistener_new_bind(
      rt->base, cb, arg,
      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
          (flags & H2LUA_LISTEN_REUSEPORT ? LEV_OPT_REUSEABLE_PORT : 0),
      backlog, ai->ai_addr, (int)ai->ai_addrlen);
  int err = errno;
  freeaddrinfo(res);
  if (lev == NULL) {
    *errname = h2lua_errno_name(err);
    snprintf(msg, msglen, "%s", strerror(err));
  }
  return lev;
}

