/*
 * Bindings of h2lua.net sockets and servers.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "bind.h"
#include "net.h"
#include "tls.h"

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

/* core.net_connect_tls(obj, host, port, tls_context, servername, alpn)
   -> box: a TLS client socket; |alpn| the protocols to offer in ALPN's
   wire format ("" offers none) */
static int lnet_connect_tls(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *host = luaL_checkstring(L, 2);
  int port = (int)luaL_checkinteger(L, 3);
  h2lua_tls_box *b = luaL_checkudata(L, 4, H2LUA_TLS_CONTEXT_MT);
  const char *servername = luaL_optstring(L, 5, host);
  size_t alen;
  const char *alpn = luaL_checklstring(L, 6, &alen);
  SSL *ssl = h2lua_tls_client_ssl(b->ctx, servername);
  if (ssl == NULL) return luaL_error(L, "SSL_new failed");
  /* 0 is success here; an empty list turns the context's h2 off */
  if (SSL_set_alpn_protos(ssl, (const unsigned char *)alpn, (unsigned)alen) != 0) {
    SSL_free(ssl);
    return luaL_error(L, "out of memory");
  }
  h2lua_socket *so = h2lua_net_connect_tls(rt, host, port, ssl);
  if (so == NULL) return luaL_error(L, "out of memory");
  lua_pushvalue(L, 1);
  so->h.ref = luaL_ref(L, LUA_REGISTRYINDEX);
  so->h.box = h2lua_box_new(L, H2LUA_MAGIC_SOCKET, so, LUA_NOREF);
  return 1;
}

/* core.net_pair(near_obj, far_obj[, tls_context, servername, alpn]) ->
   near_box, far_box: two joined sockets, |near| a TLS client when a
   context is given (|alpn| in ALPN's wire format, "" for none) */
static int lnet_pair(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  SSL *ssl = NULL;
  if (!lua_isnoneornil(L, 3)) {
    h2lua_tls_box *b = luaL_checkudata(L, 3, H2LUA_TLS_CONTEXT_MT);
    const char *servername = luaL_optstring(L, 4, "localhost");
    size_t alen;
    const char *alpn = luaL_optlstring(L, 5, "", &alen);
    ssl = h2lua_tls_client_ssl(b->ctx, servername);
    if (ssl == NULL) return luaL_error(L, "SSL_new failed");
    if (SSL_set_alpn_protos(ssl, (const unsigned char *)alpn, (unsigned)alen) != 0) {
      SSL_free(ssl);
      return luaL_error(L, "out of memory");
    }
  }
  h2lua_socket *so[2];
  if (h2lua_net_pair(rt, ssl, &so[0], &so[1]) != 0)
    return luaL_error(L, "cannot make a socket pair: %s", h2lua_errno_name(errno));
  for (int i = 0; i < 2; i++) {
    lua_pushvalue(L, i + 1);
    so[i]->h.ref = luaL_ref(L, LUA_REGISTRYINDEX);
    so[i]->h.box = h2lua_box_new(L, H2LUA_MAGIC_SOCKET, so[i], LUA_NOREF);
  }
  return 2;
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

/* core.ws_mask(data, key[, i, j]) -> data[i..j] XOR the 4-byte |key|
   repeated from data[i] on: a WebSocket payload (un)masked (RFC 6455
   5.3), which byte by byte in Lua costs a string per byte. */
static int lnet_ws_mask(lua_State *L) {
  size_t len, kl;
  const unsigned char *d = (const unsigned char *)luaL_checklstring(L, 1, &len);
  const unsigned char *k = (const unsigned char *)luaL_checklstring(L, 2, &kl);
  luaL_argcheck(L, kl == 4, 2, "a 4-byte key");
  lua_Integer i = luaL_optinteger(L, 3, 1), j = luaL_optinteger(L, 4, (lua_Integer)len);
  if (i < 1) i = 1;
  if (j > (lua_Integer)len) j = (lua_Integer)len;
  if (i > j) {
    lua_pushliteral(L, "");
    return 1;
  }
  size_t n = (size_t)(j - i + 1);
  d += i - 1;
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, n);
  uint64_t k8;
  unsigned char kk[8] = {k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]};
  memcpy(&k8, kk, 8);
  size_t p = 0;
  for (; p + 8 <= n; p += 8) { /* memcpy: |d| has no alignment */
    uint64_t w;
    memcpy(&w, d + p, 8);
    w ^= k8;
    memcpy(out + p, &w, 8);
  }
  for (; p < n; p++) out[p] = d[p] ^ k[p & 3];
  luaL_pushresultsize(&b, n);
  return 1;
}

const luaL_Reg h2lua_net_funcs[] = {
    {"ws_mask", lnet_ws_mask},
    {"net_connect", lnet_connect},
    {"net_connect_tls", lnet_connect_tls},
    {"net_open_read", lnet_open_read},
    {"net_pair", lnet_pair},
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
