/*
 * Bindings of servers (http2.createServer / createSecureServer).
 */
#include <string.h>

#include "bind.h"
#include "net.h"
#include "server.h"

static h2lua_server *check_server(lua_State *L) {
  h2lua_server *sv = h2lua_check_box(L, 1, H2LUA_MAGIC_SERVER, "server");
  return sv && sv->lev ? sv : NULL;
}

static SSL_CTX *check_context(lua_State *L, int idx) {
  h2lua_tls_box *b = luaL_checkudata(L, idx, H2LUA_TLS_CONTEXT_MT);
  if (b->ctx == NULL) luaL_argerror(L, idx, "closed TLS context");
  return b->ctx;
}

/* core.listen(obj, host, port, backlog[, tls_context[, reuse_port]]) -> box,
   port, address, family | nil, errname, msg */
static int lserver_listen(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *host = luaL_optstring(L, 2, NULL);
  int port = (int)luaL_checkinteger(L, 3);
  int backlog = (int)luaL_optinteger(L, 4, 511);
  SSL_CTX *tls = lua_isnoneornil(L, 5) ? NULL : check_context(L, 5);
  int flags = lua_toboolean(L, 6) ? H2LUA_LISTEN_REUSEPORT : 0;
  const char *errname = NULL;
  char msg[256];
  h2lua_server *sv = h2lua_server_listen(rt, host, port, backlog, flags, tls,
                                         &errname, msg, sizeof(msg));
  if (sv == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, errname);
    lua_pushstring(L, msg);
    return 3;
  }
  lua_pushvalue(L, 1);
  sv->h.ref = luaL_ref(L, LUA_REGISTRYINDEX);
  sv->h.box = h2lua_box_new(L, H2LUA_MAGIC_SERVER, sv, LUA_NOREF);
  h2lua_addr a;
  h2lua_addr_of(evconnlistener_get_fd(sv->lev), &a, NULL);
  lua_pushinteger(L, a.port);
  lua_pushstring(L, a.host);
  lua_pushstring(L, a.family == 6 ? "IPv6" : "IPv4");
  return 4;
}

/* core.server_close(box) -> nil: stops accepting; sessions carry on */
static int lserver_close(lua_State *L) {
  h2lua_server *sv = check_server(L);
  if (sv) h2lua_server_close(sv);
  return 0;
}

/* core.server_ref(box, on) -> nil: whether the listener keeps the loop */
static int lserver_ref(lua_State *L) {
  h2lua_server *sv = check_server(L);
  int on = lua_toboolean(L, 2);
  if (sv && on != sv->refd) {
    sv->h.rt->refs += on ? 1 : -1;
    sv->refd = on;
  }
  return 0;
}

/* core.server_settings(box, id1, v1, ...) -> nil: the SETTINGS sent first
   on every new session (values validated in Lua) */
static int lserver_settings(lua_State *L) {
  h2lua_server *sv = check_server(L);
  if (sv == NULL) return 0;
  sv->cfg->nsettings = h2lua_check_settings(L, 2, sv->cfg->settings);
  h2lua_settings_limits(sv->cfg->settings, sv->cfg->nsettings, &sv->cfg->limits);
  return 0;
}

/* core.server_options(box, options) -> nil: the createServer options for
   sessions accepted from now on (validated in Lua) */
static int lserver_options(lua_State *L) {
  h2lua_server *sv = check_server(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (sv == NULL) return 0;
  h2lua_apply_options(L, 2, sv->cfg->opt, &sv->cfg->limits);
  lua_getfield(L, 2, "allowHTTP1");
  sv->cfg->allow_http1 = lua_toboolean(L, -1);
  lua_getfield(L, 2, "SNICallback");
  sv->sni_callback = lua_isfunction(L, -1);
  lua_pop(L, 2);
  return 0;
}

/* core.server_session_listeners(box, on) -> nil: whether Lua listens for
   'session' (the first frames of a connection are then kept for it) */
static int lserver_session_listeners(lua_State *L) {
  h2lua_server *sv = check_server(L);
  if (sv) sv->cfg->session_listeners = lua_toboolean(L, 2);
  return 0;
}

/* core.server_timeouts(box, handshake, preface, headers, idle) -> nil: ms
   (0: none) for connections accepted from now on */
static int lserver_timeouts(lua_State *L) {
  h2lua_server *sv = check_server(L);
  double v[4];
  for (int i = 0; i < 4; i++) {
    v[i] = luaL_checknumber(L, i + 2);
    luaL_argcheck(L, v[i] >= 0, i + 2, "a timeout is >= 0");
  }
  if (sv == NULL) return 0;
  h2lua_timeouts *t = &sv->cfg->timeouts;
  t->handshake = v[0];
  t->preface = v[1];
  t->headers = v[2];
  t->idle = v[3];
  return 0;
}

/* core.server_set_context(box, tls_context) -> nil: the context for new
   connections (certificate reload without restart) */
static int lserver_set_context(lua_State *L) {
  h2lua_server *sv = check_server(L);
  SSL_CTX *ctx = check_context(L, 2);
  if (sv) h2lua_server_set_context(sv, ctx);
  return 0;
}

/* core.server_add_context(box, hostname, tls_context) -> nil: SNI */
static int lserver_add_context(lua_State *L) {
  h2lua_server *sv = check_server(L);
  const char *host = luaL_checkstring(L, 2);
  SSL_CTX *ctx = check_context(L, 3);
  if (sv && h2lua_sni_add(&sv->sni, host, ctx) != 0)
    return luaL_error(L, "out of memory");
  return 0;
}

/* core.server_adopt(box, socket_box) -> bool: serves an open h2lua.net
   socket as an accepted connection (server:emit('connection', socket));
   a TLS server's handshake runs over it (false once bytes were read);
   the socket reads as closed afterwards */
static int lserver_adopt(lua_State *L) {
  h2lua_server *sv = check_server(L);
  h2lua_socket *so = h2lua_check_box(L, 2, H2LUA_MAGIC_SOCKET, "socket");
  if (sv == NULL || so == NULL || !so->connected || so->tls) {
    lua_pushboolean(L, 0);
    return 1;
  }
  struct bufferevent *bev = h2lua_net_take(so);
  if (bev == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (h2lua_server_adopt(sv, bev) != 0) {
    bufferevent_free(bev);
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_pushboolean(L, 1);
  return 1;
}

const luaL_Reg h2lua_server_funcs[] = {
    {"server_adopt", lserver_adopt},
    {"listen", lserver_listen},
    {"server_close", lserver_close},
    {"server_ref", lserver_ref},
    {"server_settings", lserver_settings},
    {"server_options", lserver_options},
    {"server_timeouts", lserver_timeouts},
    {"server_session_listeners", lserver_session_listeners},
    {"server_set_context", lserver_set_context},
    {"server_add_context", lserver_add_context},
    {NULL, NULL},
};
