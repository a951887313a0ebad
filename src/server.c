/*
 * Listening servers: an evconnlistener per server, accepting connections
 * into sessions with the server's SETTINGS and nghttp2 options. Owns the
 * h2lua_server record (freed by core.server_close or at lua_close).
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *addr, int socklen, void *arg) {
  h2lua_server *sv = arg;
  h2lua_rt *rt = sv->rt;
  if (h2lua_session_new(sv, fd, addr, socklen) == NULL) {
    evutil_closesocket(fd);
    return;
  }
  h2lua_pump(rt);
}

static void on_accept_error(struct evconnlistener *lev, void *arg) {
  h2lua_server *sv = arg;
  /* EMFILE and friends: report; the listener stays up and retries */
  h2lua_queue(sv->rt, H2LUA_EV_SERVER_ERROR, sv, NULL, NULL,
              EVUTIL_SOCKET_ERROR(), 0);
  h2lua_pump(sv->rt);
}

/* Frees the listener and the record; Lua's box reads as closed after. */
void h2lua_server_free(h2lua_server *sv) {
  h2lua_rt *rt = sv->rt;
  if (sv->lev) evconnlistener_free(sv->lev);
  if (sv->tls) {
    h2lua_tls_attach(sv->tls, NULL);
    SSL_CTX_free(sv->tls);
  }
  for (size_t i = 0; i < sv->nsni; i++) {
    free(sv->sni[i].host);
    SSL_CTX_free(sv->sni[i].ctx);
  }
  free(sv->sni);
  if (sv->refd) rt->refs--;
  if (sv->box) sv->box->p = NULL;
  if (sv->opt) nghttp2_option_del(sv->opt);
  if (!rt->closing && sv->lua_ref != LUA_NOREF)
    luaL_unref(rt->L, LUA_REGISTRYINDEX, sv->lua_ref);
  for (h2lua_session *se = rt->sessions; se; se = se->next)
    if (se->server == sv) se->server = NULL;
  if (sv->prev) sv->prev->next = sv->next;
  else rt->servers = sv->next;
  if (sv->next) sv->next->prev = sv->prev;
  rt->n_servers--;
  free(sv);
}

void h2lua_server_close_all(h2lua_rt *rt) {
  while (rt->servers) h2lua_server_free(rt->servers);
}

/* Binds a listener on |host| (NULL: every address, IPv6 dual stack when
   there is one) and |port|. Returns it, or NULL with *errname and a
   message in |msg| (a resolver or socket error). */
struct evconnlistener *h2lua_listen_on(h2lua_rt *rt, const char *host,
                                       int port, int backlog,
                                       evconnlistener_cb cb, void *arg,
                                       const char **errname, char *msg,
                                       size_t msglen) {
  struct addrinfo hints, *res = NULL;
  char portstr[16];
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  snprintf(portstr, sizeof(portstr), "%d", port);
  int rv = getaddrinfo(host, portstr, &hints, &res);
  if (rv != 0) {
    *errname = "ENOTFOUND";
    snprintf(msg, msglen, "%s", gai_strerror(rv));
    return NULL;
  }
  struct addrinfo *ai = res;
  if (host == NULL) {
    for (struct addrinfo *p = res; p; p = p->ai_next)
      if (p->ai_family == AF_INET6) ai = p;
  }
  struct evconnlistener *lev = evconnlistener_new_bind(
      rt->base, cb, arg,
      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
      backlog, ai->ai_addr, (int)ai->ai_addrlen);
  int err = errno;
  freeaddrinfo(res);
  if (lev == NULL) {
    *errname = h2lua_errno_name(err);
    snprintf(msg, msglen, "%s", strerror(err));
  }
  return lev;
}

/* core.listen(obj, host, port, backlog[, tls_context]) -> box, port,
   address, family | nil, errname, msg */
static int lserver_listen(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *host = luaL_optstring(L, 2, NULL);
  int port = (int)luaL_checkinteger(L, 3);
  int backlog = (int)luaL_optinteger(L, 4, 511);
  SSL_CTX *tls = lua_isnoneornil(L, 5) ? NULL : h2lua_tls_check(L, 5);
  h2lua_server *sv = calloc(1, sizeof(*sv));
  if (sv == NULL) return luaL_error(L, "out of memory");
  sv->rt = rt;
  sv->lua_ref = LUA_NOREF;
  const char *errname = NULL;
  char msg[256];
  sv->lev = h2lua_listen_on(rt, host, port, backlog, on_accept, sv, &errname,
                            msg, sizeof(msg));
  if (sv->lev == NULL) {
    free(sv);
    lua_pushnil(L);
    lua_pushstring(L, errname);
    lua_pushstring(L, msg);
    return 3;
  }
  evconnlistener_set_error_cb(sv->lev, on_accept_error);
  if (tls) {
    SSL_CTX_up_ref(tls);
    sv->tls = tls;
    h2lua_tls_attach(tls, sv);
  }
  nghttp2_option_new(&sv->opt);
  nghttp2_option_set_no_auto_window_update(sv->opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(sv->opt, 100);
  sv->nsettings = 0;
  /* Node.js's defaults */
  sv->limits.max_header_pairs = 128;
  sv->limits.max_session_memory = 10 * 1024 * 1024;
  sv->limits.max_invalid_frames = 1000;
  sv->limits.max_rejected_streams = 100;
  sv->limits.padding = 0;
  sv->refd = 1;
  rt->refs++;
  rt->n_servers++;
  sv->next = rt->servers;
  if (rt->servers) rt->servers->prev = sv;
  rt->servers = sv;
  lua_pushvalue(L, 1);
  sv->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  sv->box = h2lua_box_new(L, H2LUA_MAGIC_SERVER, sv);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  getsockname(evconnlistener_get_fd(sv->lev), (struct sockaddr *)&ss, &sl);
  char buf[INET6_ADDRSTRLEN] = "";
  int p = 0;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof(buf));
    p = ntohs(a6->sin6_port);
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &a4->sin_addr, buf, sizeof(buf));
    p = ntohs(a4->sin_port);
  }
  lua_pushinteger(L, p);
  lua_pushstring(L, buf);
  lua_pushstring(L, ss.ss_family == AF_INET6 ? "IPv6" : "IPv4");
  return 4;
}

/* core.server_close(box) -> nil: stops accepting; sessions carry on */
static int lserver_close(lua_State *L) {
  h2lua_server *sv = h2lua_check_box(L, 1, H2LUA_MAGIC_SERVER, "server");
  if (sv) h2lua_server_free(sv);
  return 0;
}

/* core.server_ref(box, on) -> nil: whether the listener keeps the loop */
static int lserver_ref(lua_State *L) {
  h2lua_server *sv = h2lua_check_box(L, 1, H2LUA_MAGIC_SERVER, "server");
  int on = lua_toboolean(L, 2);
  if (sv && on != sv->refd) {
    sv->rt->refs += on ? 1 : -1;
    sv->refd = on;
  }
  return 0;
}

/* core.server_settings(box, id1, v1, id2, v2, ...) -> nil: the SETTINGS
   sent first on every new session (values validated in Lua) */
static int lserver_settings(lua_State *L) {
  h2lua_server *sv = h2lua_check_box(L, 1, H2LUA_MAGIC_SERVER, "server");
  if (sv == NULL) return 0;
  sv->nsettings = h2lua_check_settings(L, 2, sv->settings);
  return 0;
}

static lua_Integer opt_int(lua_State *L, int idx, const char *k,
                           lua_Integer dflt) {
  lua_getfield(L, idx, k);
  lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}

/* Applies the session options of the table at |idx| (validated in Lua) to
   |opt| and |limits|: the createServer and connect options. */
void h2lua_apply_options(lua_State *L, int idx, nghttp2_option *opt,
                         h2lua_limits *limits) {
  lua_Integer v;
  if ((v = opt_int(L, idx, "maxDeflateDynamicTableSize", -1)) >= 0)
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, (size_t)v);
  if ((v = opt_int(L, idx, "maxSettings", -1)) >= 0)
    nghttp2_option_set_max_settings(opt, (size_t)v);
  if ((v = opt_int(L, idx, "maxSendHeaderBlockLength", -1)) >= 0)
    nghttp2_option_set_max_send_header_block_length(opt, (size_t)v);
  if ((v = opt_int(L, idx, "peerMaxConcurrentStreams", -1)) >= 0)
    nghttp2_option_set_peer_max_concurrent_streams(opt, (uint32_t)v);
  if ((v = opt_int(L, idx, "maxReservedRemoteStreams", -1)) >= 0)
    nghttp2_option_set_max_reserved_remote_streams(opt, (uint32_t)v);
  if ((v = opt_int(L, idx, "maxHeaderListPairs", -1)) >= 0)
    limits->max_header_pairs = (size_t)(v < 4 ? 4 : v);
  if ((v = opt_int(L, idx, "maxSessionMemory", -1)) >= 0)
    limits->max_session_memory = (size_t)(v < 1 ? 1 : v) * 1024 * 1024;
  if ((v = opt_int(L, idx, "maxSessionInvalidFrames", -1)) >= 0)
    limits->max_invalid_frames = (uint32_t)v;
  if ((v = opt_int(L, idx, "maxSessionRejectedStreams", -1)) >= 0)
    limits->max_rejected_streams = (uint32_t)v;
  if ((v = opt_int(L, idx, "paddingStrategy", -1)) >= 0)
    limits->padding = (int)v;
}

/* core.server_options(box, options) -> nil: the createServer options for
   sessions accepted from now on (validated in Lua) */
static int lserver_options(lua_State *L) {
  h2lua_server *sv = h2lua_check_box(L, 1, H2LUA_MAGIC_SERVER, "server");
  luaL_checktype(L, 2, LUA_TTABLE);
  if (sv == NULL) return 0;
  h2lua_apply_options(L, 2, sv->opt, &sv->limits);
  lua_getfield(L, 2, "allowHTTP1");
  sv->allow_http1 = lua_toboolean(L, -1);
  lua_getfield(L, 2, "SNICallback");
  sv->sni_callback = lua_isfunction(L, -1);
  lua_pop(L, 2);
  return 0;
}

/* core.server_set_context(box, tls_context) -> nil: the context for new
   connections (certificate reload without restart) */
static int lserver_set_context(lua_State *L) {
  h2lua_server *sv = h2lua_check_box(L, 1, H2LUA_MAGIC_SERVER, "server");
  SSL_CTX *ctx = h2lua_tls_check(L, 2);
  if (sv == NULL) return 0;
  SSL_CTX_up_ref(ctx);
  if (sv->tls) {
    h2lua_tls_attach(sv->tls, NULL);
    SSL_CTX_free(sv->tls);
  }
  sv->tls = ctx;
  h2lua_tls_attach(ctx, sv);
  return 0;
}

/* core.server_add_context(box, hostname, tls_context) -> nil: SNI */
static int lserver_add_context(lua_State *L) {
  h2lua_server *sv = h2lua_check_box(L, 1, H2LUA_MAGIC_SERVER, "server");
  const char *host = luaL_checkstring(L, 2);
  SSL_CTX *ctx = h2lua_tls_check(L, 3);
  if (sv == NULL) return 0;
  for (size_t i = 0; i < sv->nsni; i++) {
    if (strcasecmp(sv->sni[i].host, host) == 0) { /* replace */
      SSL_CTX_up_ref(ctx);
      SSL_CTX_free(sv->sni[i].ctx);
      sv->sni[i].ctx = ctx;
      return 0;
    }
  }
  void *p = realloc(sv->sni, (sv->nsni + 1) * sizeof(sv->sni[0]));
  if (p == NULL) return luaL_error(L, "out of memory");
  sv->sni = p;
  sv->sni[sv->nsni].host = strdup(host);
  SSL_CTX_up_ref(ctx);
  sv->sni[sv->nsni].ctx = ctx;
  sv->nsni++;
  return 0;
}

const luaL_Reg h2lua_server_funcs[] = {
    {"server_set_context", lserver_set_context},
    {"server_add_context", lserver_add_context},
    {"server_options", lserver_options},
    {"listen", lserver_listen},
    {"server_close", lserver_close},
    {"server_ref", lserver_ref},
    {"server_settings", lserver_settings},
    {NULL, NULL},
};
