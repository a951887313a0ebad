/*
 * Bindings of h2lua.net sockets and servers.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "bind.h"
#include "net.h"

static h2lua_socket *check_sock(lua_State *L) {
  return h2lua_check_box(L, 1, H2LUA_MAGIC_SOCKET, "socket");
}

/* core.net_connect(obj, host, port) -> box */
static int lnet_connect(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *host = luaL_checkstring(L, 2);
  int port = (int)luaL_checkinteger(L, 3);
  h2lua_socket *so = h2lua_net_connect(rt, host, port);
  if (so == NULL) return luaL_error(L, "out of memory");
  lua_pushvalue(L, 1);
  so->h.ref = luaL_ref(L, LUA_REGISTRYINDEX);
  so->h.box = h2lua_box_new(L, H2LUA_MAGIC_SOCKET, so, LUA_NOREF);
  return 1;
}

/* core.net_open_read(obj, path) -> box | nil, errname */
static int lnet_open_read(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  int err = 0;
  h2lua_socket *so = h2lua_net_open_read(rt, luaL_checkstring(L, 2), &err);
  if (so == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, h2lua_errno_name(err));
    return 2;
  }
  lua_pushvalue(L, 1);
  so->h.ref = luaL_ref(L, LUA_REGISTRYINDEX);
  so->h.box = h2lua_box_new(L, H2LUA_MAGIC_SOCKET, so, LUA_NOREF);
  return 1;
}

/* core.net_write(box, data, want_drain) -> buffered bytes | false */
static int lnet_write(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  long n = so ? h2lua_net_write(so, data, len, lua_toboolean(L, 3)) : -1;
  if (n < 0) lua_pushboolean(L, 0);
  else lua_pushinteger(L, n);
  return 1;
}

/* core.net_end(box) -> nil: FIN once the output is written */
static int lnet_end(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  if (so) h2lua_net_end(so);
  return 0;
}

/* core.net_read(box) -> string | nil: what has arrived */
static int lnet_read(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  struct evbuffer *in = so ? h2lua_net_input(so) : NULL;
  size_t len = in ? evbuffer_get_length(in) : 0;
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
  if (so) h2lua_net_destroy(so);
  return 0;
}

/* core.net_info(box) -> remoteAddress, remotePort, localAddress, localPort */
static int lnet_info(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  if (so == NULL || so->bev == NULL) return 0;
  h2lua_addr local, remote;
  h2lua_addr_of(bufferevent_getfd(so->bev), &local, &remote);
  lua_pushstring(L, remote.host);
  lua_pushinteger(L, remote.port);
  lua_pushstring(L, local.host);
  lua_pushinteger(L, local.port);
  return 4;
}

/* core.net_nodelay(box, on) -> nil */
static int lnet_nodelay(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  int on = lua_toboolean(L, 2);
  if (so && so->bev)
    setsockopt(bufferevent_getfd(so->bev), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  return 0;
}

/* core.net_ref(box, on) -> nil */
static int lnet_ref(lua_State *L) {
  h2lua_socket *so = check_sock(L);
  if (so) h2lua_net_ref(so, lua_toboolean(L, 2));
  return 0;
}

/* core.net_listen(obj, host, port, backlog) -> box, port, address |
   nil, code, message */
static int lnet_listen(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *host = luaL_optstring(L, 2, NULL);
  int port = (int)luaL_checkinteger(L, 3);
  int backlog = (int)luaL_optinteger(L, 4, 511);
  const char *errname = "ENOMEM";
  char msg[256] = "out of memory";
  h2lua_netserver *ns = h2lua_net_listen(rt, host, port, backlog, &errname, msg, sizeof(msg));
  if (ns == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, errname);
    lua_pushstring(L, msg);
    return 3;
  }
  lua_pushvalue(L, 1);
  ns->h.ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ns->h.box = h2lua_box_new(L, H2LUA_MAGIC_NETSERVER, ns, LUA_NOREF);
  h2lua_addr a;
  h2lua_addr_of(evconnlistener_get_fd(ns->lev), &a, NULL);
  lua_pushinteger(L, a.port);
  lua_pushstring(L, a.host);
  return 3;
}

/* core.net_server_close(box) -> nil */
static int lnet_server_close(lua_State *L) {
  h2lua_netserver *ns = h2lua_check_box(L, 1, H2LUA_MAGIC_NETSERVER, "net server");
  if (ns) h2lua_net_server_close(ns);
  return 0;
}

const luaL_Reg h2lua_net_funcs[] = {
    {"net_connect", lnet_connect},
    {"net_open_read", lnet_open_read},
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
