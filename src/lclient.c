/*
 * Bindings of client sessions (http2.connect).
 */
#include "bind.h"
#include "client.h"
#include "net.h"
#include "tls.h"

static void new_options(lua_State *L, int idx, nghttp2_option **opt,
                        h2lua_limits *limits, int extensions) {
  *limits = h2lua_client_limits;
  if (nghttp2_option_new(opt) != 0) luaL_error(L, "out of memory");
  nghttp2_option_set_no_auto_window_update(*opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(*opt, 100);
  nghttp2_option_set_max_continuations(*opt, H2LUA_MAX_CONTINUATIONS);
  if (extensions) {
    nghttp2_option_set_builtin_recv_extension_type(*opt, NGHTTP2_ALTSVC);
    nghttp2_option_set_builtin_recv_extension_type(*opt, NGHTTP2_ORIGIN);
  }
  h2lua_apply_options(L, idx, *opt, limits);
}

static int adopt(lua_State *L, h2lua_session *se) {
  if (se == NULL) return luaL_error(L, "out of memory");
  lua_pushvalue(L, 1);
  se->h.ref = luaL_ref(L, LUA_REGISTRYINDEX);
  se->h.box = h2lua_box_new(L, H2LUA_MAGIC_SESSION, se, LUA_NOREF);
  return 1;
}

/* core.connect(obj, host, port, tls_context|nil, servername, options,
   id1, v1, ...) -> box: starts connecting (over TLS with ALPN h2 when a
   context is given; from options.localAddress when set); the first SETTINGS and any request submitted before
   the socket is up go out once it is (EV_CONNECT / EV_CONNECT_ERROR). */
static int lclient_connect(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *host = luaL_checkstring(L, 2);
  int port = (int)luaL_checkinteger(L, 3);
  SSL_CTX *ctx = NULL;
  if (!lua_isnoneornil(L, 4)) {
    h2lua_tls_box *b = luaL_checkudata(L, 4, H2LUA_TLS_CONTEXT_MT);
    ctx = b->ctx;
  }
  const char *servername = luaL_optstring(L, 5, host);
  luaL_checktype(L, 6, LUA_TTABLE);
  nghttp2_settings_entry iv[H2LUA_MAX_SETTINGS];
  size_t n = h2lua_check_settings(L, 7, iv);
  SSL *ssl = NULL;
  if (ctx && (ssl = h2lua_tls_client_ssl(ctx, servername)) == NULL)
    return luaL_error(L, "SSL_new failed");
  nghttp2_option *opt;
  h2lua_limits limits;
  new_options(L, 6, &opt, &limits, 1);
  h2lua_settings_limits(iv, n, &limits);
  lua_getfield(L, 6, "localAddress");
  const char *local = lua_tostring(L, -1); /* a string checked by Lua, kept on the stack */
  h2lua_session *se = h2lua_client_connect(rt, host, port, local, ssl, opt, &limits, iv, n);
  nghttp2_option_del(opt); /* nghttp2 copied it */
  return adopt(L, se);
}

/* core.connect_over(obj, socket_box, authority_host, options, id1, v1, ...)
   -> box | nil: an h2c client session over an h2lua.net socket (the
   createConnection option); the socket reads as closed afterwards. */
static int lclient_connect_over(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  h2lua_socket *so = h2lua_check_box(L, 2, H2LUA_MAGIC_SOCKET, "socket");
  luaL_checktype(L, 4, LUA_TTABLE);
  nghttp2_settings_entry iv[H2LUA_MAX_SETTINGS];
  size_t n = h2lua_check_settings(L, 5, iv);
  if (so == NULL) return 0;
  int connected = so->connected;
  nghttp2_option *opt;
  h2lua_limits limits;
  new_options(L, 4, &opt, &limits, 0);
  h2lua_settings_limits(iv, n, &limits);
  struct bufferevent *bev = h2lua_net_take(so);
  if (bev == NULL) {
    nghttp2_option_del(opt);
    return 0;
  }
  h2lua_session *se = h2lua_client_over(rt, bev, connected, opt, &limits, iv, n);
  nghttp2_option_del(opt);
  return adopt(L, se);
}

const luaL_Reg h2lua_client_funcs[] = {
    {"connect", lclient_connect},
    {"connect_over", lclient_connect_over},
    {NULL, NULL},
};
