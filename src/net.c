/*
 * h2lua.net sockets and servers. Owns the h2lua_socket and
 * h2lua_netserver records (freed after their final event, or at
 * lua_close).
 */
#include "net.h"

#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <event2/dns.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "conn.h"
#include "tls.h"

#define SOCK_MAX_BUFFERED (64 * 1024) /* unread input before reading pauses */

static const h2lua_handle_vt socket_vt, netserver_vt;
static void sock_free(h2lua_socket *so);

/* an error event's code: the reason is in so->why */
#define H2LUA_NET_TLS_FAILED (-3)

static void sock_close(h2lua_socket *so) {
  if (so->bev == NULL) return;
  bufferevent_free(so->bev);
  so->bev = NULL;
  if (so->refd) so->h.rt->refs--;
  so->refd = 0;
}

/* The socket is done: its final event carries whether an error ended it
   (-2: handed over to a session, not for Lua). What arrived before stays
   readable until Lua had that event. */
static void finish(h2lua_socket *so, int err) {
  if (so->bev) bufferevent_disable(so->bev, EV_READ | EV_WRITE);
  if (so->refd) so->h.rt->refs--;
  so->refd = 0;
  so->ended = 1;
  h2lua_event *ev = h2lua_queue_final(so->h.rt, H2LUA_EV_NET_CLOSE, &so->h);
  if (ev) ev->u.error.err = err;
  else sock_close(so);
}

SSL *h2lua_net_ssl(h2lua_socket *so) {
  return so->tls && so->bev ? bufferevent_openssl_get_ssl(so->bev) : NULL;
}

/* FIN once the output is out (after TLS's close_notify on a TLS socket:
   the peer can tell the end from a cut). */
static void half_close(h2lua_socket *so) {
  SSL *ssl = h2lua_net_ssl(so);
  if (ssl) SSL_shutdown(ssl);
  shutdown(bufferevent_getfd(so->bev), SHUT_WR);
}

static void on_read(struct bufferevent *bev, void *arg) {
  h2lua_socket *so = arg;
  if (evbuffer_get_length(bufferevent_get_input(bev)) >= SOCK_MAX_BUFFERED) {
    so->paused = 1; /* nobody reads: TCP pushes back on the peer */
    bufferevent_disable(bev, EV_READ);
  }
  if (!so->data_notified) {
    so->data_notified = 1;
    h2lua_queue(so->h.rt, H2LUA_EV_NET_DATA, &so->h);
  }
  h2lua_pump(so->h.rt);
}

static void on_write(struct bufferevent *bev, void *arg) {
  h2lua_socket *so = arg;
  if (so->ended && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
    half_close(so);
    if (so->remote_ended && !so->h.final) finish(so, 0);
  }
  if (so->want_drain) {
    so->want_drain = 0;
    h2lua_queue(so->h.rt, H2LUA_EV_NET_DRAIN, &so->h);
  }
  h2lua_pump(so->h.rt);
}

static void on_event(struct bufferevent *bev, short events, void *arg) {
  h2lua_socket *so = arg;
  h2lua_rt *rt = so->h.rt;
  if (events & BEV_EVENT_CONNECTED) {
    so->connected = 1;
    int one = 1;
    setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    h2lua_queue(rt, H2LUA_EV_NET_CONNECT, &so->h);
  } else if ((events & BEV_EVENT_EOF) && !(so->tls && !so->connected)) {
    /* what 'end' listeners write still goes out (Node's echo answers
       there): the socket closes once Lua ended its side too (h2lua.net
       ends it after 'end', as Node without allowHalfOpen) */
    so->remote_ended = 1;
    h2lua_queue(rt, H2LUA_EV_NET_END, &so->h);
    if (so->ended && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
      finish(so, 0);
  } else if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
    int dns = bufferevent_socket_get_dns_error(bev);
    int err = dns ? -1 : EVUTIL_SOCKET_ERROR();
    if (so->tls && !so->connected && !dns) {
      /* the connect or the handshake failed: a refused socket, a
         certificate, a protocol (conn.c tells sessions the same way) */
      if (err == 0 || (events & BEV_EVENT_ERROR)) {
        h2lua_tls_describe_failure(bev, 1, so->why, sizeof(so->why));
        if (strncmp(so->why, "ERR_SSL_HANDSHAKE", 17) != 0 || err == 0) err = H2LUA_NET_TLS_FAILED;
      }
    }
    if (err == 0) err = EIO;
    h2lua_event *ev = h2lua_queue(rt, H2LUA_EV_NET_ERROR, &so->h);
    if (ev) ev->u.error.err = err;
    finish(so, err);
  }
  h2lua_pump(rt);
}

static h2lua_socket *sock_new(h2lua_rt *rt, struct bufferevent *bev) {
  h2lua_socket *so = calloc(1, sizeof(*so));
  if (so == NULL) return NULL;
  h2lua_handle_init(&so->h, rt, &socket_vt, 1);
  so->bev = bev;
  so->refd = 1;
  rt->refs++;
  rt->n_sockets++;
  bufferevent_setcb(bev, on_read, on_write, on_event, so);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  return so;
}

h2lua_socket *h2lua_net_connect(h2lua_rt *rt, const char *host, int port) {
  struct bufferevent *bev = bufferevent_socket_new(rt->base, -1, BEV_OPT_CLOSE_ON_FREE);
  if (bev == NULL) return NULL;
  h2lua_socket *so = sock_new(rt, bev);
  if (so == NULL) {
    bufferevent_free(bev);
    return NULL;
  }
  int rv;
  if (host[0] == '/') { /* a UNIX domain socket's path */
    struct sockaddr_un un;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    size_t n = strlen(host);
    if (n >= sizeof(un.sun_path)) n = sizeof(un.sun_path) - 1; /* then ENOENT */
    memcpy(un.sun_path, host, n);
    rv = bufferevent_socket_connect(bev, (struct sockaddr *)&un, (int)sizeof(un));
  } else {
    rv = bufferevent_socket_connect_hostname(bev, h2lua_conn_dns(rt), AF_UNSPEC,
                                             host, port);
  }
  if (rv != 0)
    /* reported from the loop, like any failed connect */
    bufferevent_trigger_event(bev, BEV_EVENT_ERROR, BEV_OPT_DEFER_CALLBACKS);
  return so;
}

h2lua_socket *h2lua_net_connect_tls(h2lua_rt *rt, const char *host, int port,
                                    SSL *ssl) {
  struct bufferevent *bev = bufferevent_openssl_socket_new(
      rt->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
  if (bev == NULL) {
    SSL_free(ssl);
    return NULL;
  }
  /* peers that close without close_notify are common: an end, as TCP's */
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF); /* OpenSSL 3 calls it an error */
#endif
  h2lua_socket *so = sock_new(rt, bev);
  if (so == NULL) {
    bufferevent_free(bev);
    return NULL;
  }
  so->tls = 1;
  if (bufferevent_socket_connect_hostname(bev, h2lua_conn_dns(rt), AF_UNSPEC,
                                          host, port) != 0)
    bufferevent_trigger_event(bev, BEV_EVENT_ERROR, BEV_OPT_DEFER_CALLBACKS);
  return so;
}

int h2lua_net_pair(h2lua_rt *rt, SSL *ssl, h2lua_socket **near,
                   h2lua_socket **far) {
  *near = *far = NULL;
  int fds[2];
  /* a kernel socket pair rather than a bufferevent pair: every path that
     uses the descriptor (half-close, TLS, the graceful close of conn.c)
     works on it unchanged */
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    if (ssl) SSL_free(ssl);
    return -1;
  }
  struct bufferevent *a =
      ssl ? bufferevent_openssl_socket_new(rt->base, fds[0], ssl, BUFFEREVENT_SSL_CONNECTING,
                                           BEV_OPT_CLOSE_ON_FREE)
          : bufferevent_socket_new(rt->base, fds[0], BEV_OPT_CLOSE_ON_FREE);
  struct bufferevent *b = bufferevent_socket_new(rt->base, fds[1], BEV_OPT_CLOSE_ON_FREE);
  if (a == NULL || b == NULL) {
    if (a) bufferevent_free(a);
    else {
      if (ssl) SSL_free(ssl);
      close(fds[0]);
    }
    if (b) bufferevent_free(b);
    else close(fds[1]);
    return -1;
  }
  if (ssl) {
    bufferevent_openssl_set_allow_dirty_shutdown(a, 1);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
  }
  *near = sock_new(rt, a);
  *far = *near ? sock_new(rt, b) : NULL;
  if (*far == NULL) {
    if (*near) sock_free(*near);
    else bufferevent_free(a);
    bufferevent_free(b);
    *near = NULL;
    return -1;
  }
  (*near)->tls = ssl != NULL;
  (*near)->connected = ssl == NULL; /* TLS: 'connect' once its handshake is done */
  (*far)->connected = 1;
  return 0;
}

h2lua_socket *h2lua_net_open_read(h2lua_rt *rt, const char *path, int *err) {
  /* non-blocking: a FIFO's open must not wait for its writer in the loop */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return NULL;
  }
  struct bufferevent *bev = bufferevent_socket_new(rt->base, fd, BEV_OPT_CLOSE_ON_FREE);
  h2lua_socket *so = bev ? sock_new(rt, bev) : NULL;
  if (so == NULL) {
    if (bev) bufferevent_free(bev);
    else close(fd);
    *err = ENOMEM;
    return NULL;
  }
  bufferevent_disable(bev, EV_WRITE);
  so->connected = 1;
  return so;
}

long h2lua_net_write(h2lua_socket *so, const void *p, size_t len, int drain) {
  if (so->bev == NULL || so->ended || so->h.final) return -1;
  if (len) bufferevent_write(so->bev, p, len);
  if (drain) so->want_drain = 1;
  return (long)evbuffer_get_length(bufferevent_get_output(so->bev));
}

void h2lua_net_end(h2lua_socket *so) {
  if (so->bev == NULL || so->ended) return;
  so->ended = 1;
  if (so->connected && evbuffer_get_length(bufferevent_get_output(so->bev)) == 0) {
    half_close(so);
    if (so->remote_ended && !so->h.final) finish(so, 0);
  }
}

void h2lua_net_destroy(h2lua_socket *so) {
  if (so->h.final) return;
  finish(so, 0);
}

struct evbuffer *h2lua_net_input(h2lua_socket *so) {
  if (so->bev == NULL) return NULL;
  so->data_notified = 0;
  if (so->paused && !so->h.final) {
    so->paused = 0;
    bufferevent_enable(so->bev, EV_READ);
  }
  return bufferevent_get_input(so->bev);
}

struct bufferevent *h2lua_net_take(h2lua_socket *so) {
  struct bufferevent *bev = so->bev;
  if (bev == NULL || so->h.final) return NULL;
  so->bev = NULL;
  if (so->refd) so->h.rt->refs--;
  so->refd = 0;
  h2lua_handle_release(&so->h);
  finish(so, -2);
  return bev;
}

void h2lua_net_ref(h2lua_socket *so, int on) {
  if (so->bev && on != so->refd) {
    so->h.rt->refs += on ? 1 : -1;
    so->refd = on;
  }
}

static void sock_free(h2lua_socket *so) {
  sock_close(so);
  h2lua_handle_unlist(&so->h);
  h2lua_handle_release(&so->h);
  so->h.rt->n_sockets--;
  free(so);
}

static int socket_push(h2lua_handle *h, const h2lua_event *ev, lua_State *L) {
  h2lua_socket *so = (h2lua_socket *)h;
  switch (ev->type) {
  case H2LUA_EV_NET_DATA:
    so->data_notified = 0;
    return 0;
  case H2LUA_EV_NET_ERROR:
    if (ev->u.error.err == H2LUA_NET_TLS_FAILED) lua_pushstring(L, so->why);
    else lua_pushstring(L, h2lua_errno_name(ev->u.error.err));
    return 1;
  case H2LUA_EV_NET_CLOSE:
    if (ev->u.error.err == -2) return -1;
    lua_pushboolean(L, ev->u.error.err != 0);
    return 1;
  default:
    return 0;
  }
}

static void socket_delivered(h2lua_handle *h, h2lua_event *ev) {
  if (ev->type == H2LUA_EV_NET_CLOSE) sock_free((h2lua_socket *)h);
}

static void no_flush(h2lua_handle *h) {}

static void socket_gc(h2lua_handle *h) { sock_free((h2lua_socket *)h); }

static const h2lua_handle_vt socket_vt = {
    .name = "socket",
    .push = socket_push,
    .delivered = socket_delivered,
    .flush = no_flush,
    .close = socket_gc,
};

/* ---- servers ---- */

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *addr, int socklen, void *arg) {
  h2lua_netserver *ns = arg;
  h2lua_rt *rt = ns->h.rt;
  evutil_make_socket_nonblocking(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct bufferevent *bev = bufferevent_socket_new(rt->base, fd, BEV_OPT_CLOSE_ON_FREE);
  h2lua_socket *so = bev ? sock_new(rt, bev) : NULL;
  if (so == NULL) {
    if (bev) bufferevent_free(bev);
    else evutil_closesocket(fd);
    return;
  }
  so->connected = 1;
  h2lua_event *ev = h2lua_queue(rt, H2LUA_EV_NET_ACCEPT, &ns->h);
  if (ev) ev->u.accept.so = so;
  else finish(so, -2);
  h2lua_pump(rt);
}

h2lua_netserver *h2lua_net_listen(h2lua_rt *rt, const char *host, int port,
                                  int backlog, const char **errname,
                                  char *msg, size_t msglen) {
  h2lua_netserver *ns = calloc(1, sizeof(*ns));
  if (ns == NULL) return NULL;
  ns->lev = h2lua_listen_on(rt, host, port, backlog, 0, on_accept, ns, errname,
                            msg, msglen);
  if (ns->lev == NULL) {
    free(ns);
    return NULL;
  }
  h2lua_handle_init(&ns->h, rt, &netserver_vt, 1);
  ns->refd = 1;
  rt->refs++;
  return ns;
}

void h2lua_net_server_close(h2lua_netserver *ns) {
  if (ns->lev == NULL) return;
  evconnlistener_free(ns->lev);
  ns->lev = NULL;
  if (ns->refd) ns->h.rt->refs--;
  ns->refd = 0;
  h2lua_handle_release(&ns->h);
  h2lua_queue_final(ns->h.rt, H2LUA_EV_NET_CLOSE, &ns->h);
}

static void netserver_free(h2lua_netserver *ns) {
  if (ns->lev) evconnlistener_free(ns->lev);
  if (ns->refd) ns->h.rt->refs--;
  h2lua_handle_unlist(&ns->h);
  h2lua_handle_release(&ns->h);
  free(ns);
}

static int netserver_push(h2lua_handle *h, const h2lua_event *ev, lua_State *L) {
  if (ev->type != H2LUA_EV_NET_ACCEPT) return -1;
  h2lua_socket *so = ev->u.accept.so;
  so->h.box = h2lua_box_new(L, H2LUA_MAGIC_SOCKET, so, LUA_NOREF);
  return 1;
}

static void netserver_result(h2lua_handle *h, h2lua_event *ev, lua_State *L) {
  if (ev->type == H2LUA_EV_NET_ACCEPT) h2lua_handle_adopt(L, &ev->u.accept.so->h, -1);
}

static void netserver_delivered(h2lua_handle *h, h2lua_event *ev) {
  if (ev->type == H2LUA_EV_NET_ACCEPT) {
    h2lua_socket *so = ev->u.accept.so;
    if (so->h.ref == LUA_NOREF && !so->h.final) finish(so, -2);
  } else if (ev->type == H2LUA_EV_NET_CLOSE) {
    netserver_free((h2lua_netserver *)h);
  }
}

static void netserver_gc(h2lua_handle *h) { netserver_free((h2lua_netserver *)h); }

static const h2lua_handle_vt netserver_vt = {
    .name = "net server",
    .push = netserver_push,
    .result = netserver_result,
    .delivered = netserver_delivered,
    .flush = no_flush,
    .close = netserver_gc,
};
