/*
 * Plain TCP sockets for Lua (h2lua.net): connecting, listening, bytes both
 * ways with backpressure, and handing a connected socket over to an
 * HTTP/2 client session (http2.connect's createConnection). Owns the
 * h2lua_socket records and the listeners of net servers.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#define SOCK_MAX_BUFFERED (64 * 1024) /* unread input before reading pauses */
#define MAGIC_SOCKET 0x534b
#define MAGIC_NETSERVER 0x4e53

struct h2lua_socket {
  h2lua_rt *rt;
  struct bufferevent *bev; /* NULL once closed or handed over */
  h2lua_box *box;
  int lua_ref;
  int refd, connected, paused, data_notified, want_drain, ended;
  int close_queued;        /* destroy() queued the 'close' */
};

typedef struct {
  h2lua_rt *rt;
  struct evconnlistener *lev;
  h2lua_box *box;
  int lua_ref, refd;
} h2lua_netserver;

enum { EVS_CONNECT = 1, EVS_DATA, EVS_END, EVS_DRAIN, EVS_CLOSE, EVS_ERROR,
       EVS_ACCEPT };

/* Socket events go to Lua straight from these libevent callbacks: no
   nghttp2 frame is on the stack here, and the pump runs after. */
static void call_lua(h2lua_rt *rt, int ref, int what, h2lua_socket *so,
                     int arg, const char *msg) {
  lua_State *L = rt->L;
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->handler_ref);
  lua_pushinteger(L, H2LUA_EV_NET);
  lua_pushinteger(L, what);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  int nargs = 3;
  if (what == EVS_ACCEPT) {
    so->box = h2lua_box_new(L, MAGIC_SOCKET, so);
    nargs++;
  }
  lua_pushinteger(L, arg);
  lua_pushstring(L, msg ? msg : "");
  nargs += 2;
  if (lua_pcall(L, nargs, 1, 0) == LUA_OK && what == EVS_ACCEPT &&
      lua_istable(L, -1)) {
    lua_pushvalue(L, -1);
    so->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_settop(L, top);
}

static void sock_close(h2lua_socket *so) {
  if (so->bev == NULL) return;
  bufferevent_free(so->bev);
  so->bev = NULL;
  if (so->refd) so->rt->refs--;
  so->refd = 0;
}

/* The record goes when Lua has seen 'close' (box cleared, ref dropped). */
static void sock_release(h2lua_socket *so) {
  h2lua_rt *rt = so->rt;
  int ref = so->lua_ref;
  if (so->box) so->box->p = NULL;
  free(so);
  if (!rt->closing && ref != LUA_NOREF) luaL_unref(rt->L, LUA_REGISTRYINDEX, ref);
}

static void finish_close(h2lua_socket *so, int err) {
  h2lua_rt *rt = so->rt;
  sock_close(so);
  if (err) call_lua(rt, so->lua_ref, EVS_ERROR, so, err, h2lua_errno_name(err));
  call_lua(rt, so->lua_ref, EVS_CLOSE, so, err != 0, NULL);
  sock_release(so);
  h2lua_pump(rt);
}

static void on_sock_read(struct bufferevent *bev, void *arg) {
  h2lua_socket *so = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  if (evbuffer_get_length(in) >= SOCK_MAX_BUFFERED) {
    so->paused = 1; /* nobody reads: TCP pushes back on the peer */
    bufferevent_disable(bev, EV_READ);
  }
  if (!so->data_notified) {
    so->data_notified = 1;
    call_lua(so->rt, so->lua_ref, EVS_DATA, so, 0, NULL);
    h2lua_pump(so->rt);
  }
}

static void on_sock_write(struct bufferevent *bev, void *arg) {
  h2lua_socket *so = arg;
  if (so->ended && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
    shutdown(bufferevent_getfd(bev), SHUT_WR);
  if (so->want_drain) {
    so->want_drain = 0;
    call_lua(so->rt, so->lua_ref, EVS_DRAIN, so, 0, NULL);
    h2lua_pump(so->rt);
  }
}

static void on_sock_event(struct bufferevent *bev, short events, void *arg) {
  h2lua_socket *so = arg;
  if (events & BEV_EVENT_CONNECTED) {
    so->connected = 1;
    int one = 1;
    setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
               sizeof(one));
    call_lua(so->rt, so->lua_ref, EVS_CONNECT, so, 0, NULL);
    h2lua_pump(so->rt);
    return;
  }
  if (events & BEV_EVENT_EOF) {
    call_lua(so->rt, so->lua_ref, EVS_END, so, 0, NULL);
    if (so->close_queued) { /* an 'end' listener destroyed it */
      h2lua_pump(so->rt);
      return;
    }
    finish_close(so, 0);
    return;
  }
  if (events & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
    int dns = bufferevent_socket_get_dns_error(bev);
    int err = dns ? -1 : EVUTIL_SOCKET_ERROR();
    finish_close(so, err ? err : EIO);
  }
}

static h2lua_socket *sock_new(h2lua_rt *rt, struct bufferevent *bev) {
  h2lua_socket *so = calloc(1, sizeof(*so));
  if (so == NULL) return NULL;
  so->rt = rt;
  so->bev = bev;
  so->lua_ref = LUA_NOREF;
  so->refd = 1;
  rt->refs++;
  bufferevent_setcb(bev, on_sock_read, on_sock_write, on_sock_event, so);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  return so;
}

static h2lua_socket *check_sock(lua_State *L) {
  return h2lua_check_box(L, 1, MAGIC_SOCKET, "socket");
}

/* core.net_connect(obj, host, port) -> box */
static int lnet_connect(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *host = luaL_checkstring(L, 2);
  int port = (int)luaL_checkinteger(L, 3);
  if (rt->dns == NULL) {
    rt->dns = evdns_base_new(rt->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (rt->dns == NULL) rt->dns = evdns_base_new(rt->base, 0);
  }
  struct bufferevent *bev =
      bufferevent_socket_new(rt->base, -1, BEV_OPT_CLOSE_ON_FREE);
  h2lua_socket *so = bev ? sock_new(rt, bev) : NULL;
  if (so == NULL) return luaL_error(L, "out of memory");
  lua_pushvalue(L, 1);
  so->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  so->box = h2lua_box_new(L, MAGIC_SOCKET, so);
  if (bufferevent_socket_connect_hostname(bev, rt->dns, AF_UNSPEC, host,
                                          port) != 0) {
    /* reported from the loop, like any failed connect */
    bufferevent_trigger_event(bev, BEV_EVENT_ERROR, BEV_OPT_DEFER_CALLBACKS);
  }
  return 1;
}

/* core.net_write(box, data, want_drain) -> buffered bytes | false */
static int lnet_write(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  if (so == NULL || so->bev == NULL || so->ended) {
    lua_pushboolean(L, 0);
    return 1;
  }
  bufferevent_write(so->bev, data, len);
  if (lua_toboolean(L, 3)) so->want_drain = 1;
  lua_pushinteger(L,
                  (lua_Integer)evbuffer_get_length(bufferevent_get_output(so->bev)));
  return 1;
}

/* core.net_end(box) -> nil: FIN once the output is written */
static int lnet_end(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  if (so == NULL || so->bev == NULL || so->ended) return 0;
  so->ended = 1;
  if (so->connected &&
      evbuffer_get_length(bufferevent_get_output(so->bev)) == 0)
    shutdown(bufferevent_getfd(so->bev), SHUT_WR);
  return 0;
}

/* core.net_read(box) -> string | nil: what has arrived */
static int lnet_read(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  if (so == NULL || so->bev == NULL) return 0;
  struct evbuffer *in = bufferevent_get_input(so->bev);
  size_t len = evbuffer_get_length(in);
  so->data_notified = 0;
  if (so->paused) {
    so->paused = 0;
    bufferevent_enable(so->bev, EV_READ);
  }
  if (len == 0) return 0;
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, len);
  evbuffer_remove(in, p, len);
  luaL_pushresultsize(&b, len);
  return 1;
}

/* core.net_destroy(box) -> nil: closes now ('close' follows) */
static int lnet_destroy(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  if (so == NULL || so->bev == NULL || so->close_queued) return 0;
  so->close_queued = 1;
  sock_close(so);
  /* 'close' from the loop, not from inside this call */
  h2lua_queue(so->rt, H2LUA_EV_NET_CLOSED, NULL, NULL, NULL, 0, 0);
  so->rt->ev[so->rt->ev_len - 1].data = (char *)so;
  return 0;
}

/* Delivers the deferred 'close' of a destroyed socket (from the pump). */
void h2lua_net_closed(h2lua_rt *rt, void *p) {
  h2lua_socket *so = p;
  call_lua(rt, so->lua_ref, EVS_CLOSE, so, 0, NULL);
  sock_release(so);
}

/* core.net_info(box) -> remoteAddress, remotePort, localAddress, localPort */
static int lnet_info(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  if (so == NULL || so->bev == NULL) return 0;
  h2lua_session tmp;
  memset(&tmp, 0, sizeof(tmp));
  h2lua_session_addresses(&tmp, bufferevent_getfd(so->bev));
  lua_pushstring(L, tmp.remote_addr);
  lua_pushinteger(L, tmp.remote_port);
  lua_pushstring(L, tmp.local_addr);
  lua_pushinteger(L, tmp.local_port);
  return 4;
}

/* core.net_nodelay(box, on) / core.net_ref(box, on) */
static int lnet_nodelay(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  int on = lua_toboolean(L, 2);
  if (so && so->bev)
    setsockopt(bufferevent_getfd(so->bev), IPPROTO_TCP, TCP_NODELAY, &on,
               sizeof(on));
  return 0;
}

static int lnet_ref(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  int on = lua_toboolean(L, 2);
  if (so && so->bev && on != so->refd) {
    so->rt->refs += on ? 1 : -1;
    so->refd = on;
  }
  return 0;
}

/* core.net_take(box) -> the socket's bufferevent handed to the caller (an
   HTTP/2 client session): the socket reads as closed afterwards. */
struct bufferevent *h2lua_net_take(lua_State *L, int idx) {
  h2lua_socket *so = h2lua_check_box(L, idx, MAGIC_SOCKET, "socket");
  if (so == NULL || so->bev == NULL) return NULL;
  struct bufferevent *bev = so->bev;
  so->bev = NULL;
  if (so->refd) so->rt->refs--;
  so->refd = 0;
  if (so->box) so->box->p = NULL;
  so->box = NULL;
  /* the record itself goes with its Lua object */
  luaL_unref(L, LUA_REGISTRYINDEX, so->lua_ref);
  free(so);
  return bev;
}

int h2lua_net_connected(lua_State *L, int idx) {
  h2lua_socket *so = h2lua_check_box(L, idx, MAGIC_SOCKET, "socket");
  return so && so->connected;
}

static void on_net_accept(struct evconnlistener *lev, evutil_socket_t fd,
                          struct sockaddr *addr, int socklen, void *arg) {
  h2lua_netserver *ns = arg;
  evutil_make_socket_nonblocking(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct bufferevent *bev =
      bufferevent_socket_new(ns->rt->base, fd, BEV_OPT_CLOSE_ON_FREE);
  h2lua_socket *so = bev ? sock_new(ns->rt, bev) : NULL;
  if (so == NULL) {
    if (bev) bufferevent_free(bev);
    else evutil_closesocket(fd);
    return;
  }
  so->connected = 1;
  call_lua(ns->rt, ns->lua_ref, EVS_ACCEPT, so, 0, NULL);
  h2lua_pump(ns->rt);
}

/* core.net_listen(obj, host, port, backlog) -> box, port, address, family |
   nil, code, message */
static int lnet_listen(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *host = luaL_optstring(L, 2, NULL);
  int port = (int)luaL_checkinteger(L, 3);
  int backlog = (int)luaL_optinteger(L, 4, 511);
  h2lua_netserver *ns = calloc(1, sizeof(*ns));
  if (ns == NULL) return luaL_error(L, "out of memory");
  ns->rt = rt;
  const char *errname = NULL;
  char msg[256];
  ns->lev = h2lua_listen_on(rt, host, port, backlog, on_net_accept, ns,
                            &errname, msg, sizeof(msg));
  if (ns->lev == NULL) {
    free(ns);
    lua_pushnil(L);
    lua_pushstring(L, errname);
    lua_pushstring(L, msg);
    return 3;
  }
  ns->refd = 1;
  rt->refs++;
  lua_pushvalue(L, 1);
  ns->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ns->box = h2lua_box_new(L, MAGIC_NETSERVER, ns);
  h2lua_session tmp;
  memset(&tmp, 0, sizeof(tmp));
  h2lua_session_addresses(&tmp, evconnlistener_get_fd(ns->lev));
  lua_pushinteger(L, tmp.local_port);
  lua_pushstring(L, tmp.local_addr);
  return 3;
}

/* core.net_server_close(box) -> nil */
static int lnet_server_close(lua_State *L) {
  h2lua_netserver *ns = h2lua_check_box(L, 1, MAGIC_NETSERVER, "net server");
  if (ns == NULL) return 0;
  evconnlistener_free(ns->lev);
  if (ns->refd) ns->rt->refs--;
  ns->box->p = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, ns->lua_ref);
  free(ns);
  return 0;
}

const luaL_Reg h2lua_tcp_funcs[] = {
    {"net_connect", lnet_connect},
    {"net_write", lnet_write},
    {"net_end", lnet_end},
    {"net_read", lnet_read},
    {"net_destroy", lnet_destroy},
    {"net_info", lnet_info},
    {"net_nodelay", lnet_nodelay},
    {"net_ref", lnet_ref},
    {"net_listen", lnet_listen},
    {"net_server_close", lnet_server_close},
    {NULL, NULL},
};
