/*
 * Client sessions: connecting (with libevent's asynchronous resolver) and
 * submitting requests. The session and stream records, and the nghttp2
 * callbacks, are the ones of session.c and stream.c; this file owns the
 * runtime's evdns_base (freed by the runtime's __gc).
 */
#include "internal.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static const h2lua_limits client_limits = {
    .max_header_pairs = 128,
    .max_session_memory = 10 * 1024 * 1024,
    .max_invalid_frames = 1000,
    .max_rejected_streams = 100,
    .padding = 0,
};

/* core.connect(obj, host, port, tls_context|nil, servername, options,
   id1, v1, ...)
   -> box: starts connecting (over TLS with ALPN h2 when a context is
   given); the first SETTINGS and any request submitted before the socket
   is up go out once it is (EV_CONNECT / EV_CONNECT_ERROR). */
static int lclient_connect(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *host = luaL_checkstring(L, 2);
  int port = (int)luaL_checkinteger(L, 3);
  SSL_CTX *ctx = lua_isnoneornil(L, 4) ? NULL : h2lua_tls_check(L, 4);
  const char *servername = luaL_optstring(L, 5, host);
  luaL_checktype(L, 6, LUA_TTABLE);
  nghttp2_settings_entry iv[H2LUA_MAX_SETTINGS];
  size_t n = h2lua_check_settings(L, 7, iv);
  if (rt->dns == NULL) {
    rt->dns = evdns_base_new(rt->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (rt->dns == NULL) rt->dns = evdns_base_new(rt->base, 0);
  }
  struct bufferevent *bev;
  if (ctx) {
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) return luaL_error(L, "SSL_new failed");
    /* SNI, and the name the certificate must carry */
    struct in6_addr a6;
    struct in_addr a4;
    int is_ip = inet_pton(AF_INET, servername, &a4) == 1 ||
                inet_pton(AF_INET6, servername, &a6) == 1;
    if (!is_ip) SSL_set_tlsext_host_name(ssl, servername);
    if (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) {
      X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
      if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(param, servername);
      else SSL_set1_host(ssl, servername);
    }
    bev = bufferevent_openssl_socket_new(rt->base, -1, ssl,
                                         BUFFEREVENT_SSL_CONNECTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
      SSL_free(ssl);
      return luaL_error(L, "out of memory");
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  } else {
    bev = bufferevent_socket_new(rt->base, -1, BEV_OPT_CLOSE_ON_FREE);
  }
  if (bev == NULL) return luaL_error(L, "out of memory");
  h2lua_limits limits = client_limits;
  nghttp2_option *opt;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
  nghttp2_option_set_builtin_recv_extension_type(opt, NGHTTP2_ALTSVC);
  nghttp2_option_set_builtin_recv_extension_type(opt, NGHTTP2_ORIGIN);
  h2lua_apply_options(L, 6, opt, &limits);
  h2lua_session *se = h2lua_session_create(rt, bev, 1, &limits);
  if (se == NULL) {
    nghttp2_option_del(opt);
    bufferevent_free(bev);
    return luaL_error(L, "out of memory");
  }
  se->tls = ctx != NULL;
  h2lua_session_start(se, opt, iv, n); /* nghttp2 copies opt */
  nghttp2_option_del(opt);
  lua_pushvalue(L, 1);
  se->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  se->lua_known = 1;
  se->box = h2lua_box_new(L, H2LUA_MAGIC_SESSION, se);
  if (bufferevent_socket_connect_hostname(bev, rt->dns, AF_UNSPEC, host,
                                          port) != 0) {
    /* refused at once (bad address family, no socket): report it the way
       a failed connect is reported */
    int err = EVUTIL_SOCKET_ERROR();
    char buf[256];
    snprintf(buf, sizeof(buf), "%s %s", h2lua_errno_name(err), strerror(err));
    h2lua_queue_data(rt, H2LUA_EV_CONNECT_ERROR, se, err, 0,
                     (const uint8_t *)buf, strlen(buf));
    h2lua_session_teardown(se, NGHTTP2_CANCEL);
  }
  h2lua_mark_dirty(se);
  return 1;
}

/* core.request(session_box, stream_obj, endStream, sensitive, parent,
   weight, exclusive, n1, v1, ...) -> box, id | nil, nghttp2 error */
static int lclient_request(lua_State *L) {
  h2lua_session *se = h2lua_check_box(L, 1, H2LUA_MAGIC_SESSION, "session");
  luaL_checktype(L, 2, LUA_TTABLE);
  int end = lua_toboolean(L, 3);
  int32_t parent = (int32_t)luaL_optinteger(L, 5, 0);
  int32_t weight = (int32_t)luaL_optinteger(L, 6, NGHTTP2_DEFAULT_WEIGHT);
  int exclusive = lua_toboolean(L, 7);
  if (se == NULL || se->torn_down) {
    lua_pushnil(L);
    lua_pushinteger(L, NGHTTP2_ERR_INVALID_STATE);
    return 2;
  }
  nghttp2_nv *nva;
  size_t nnv;
  h2lua_collect_nv(L, 8, 4, &nva, &nnv);
  h2lua_stream *st = h2lua_stream_new(se, 0);
  if (st == NULL) return luaL_error(L, "out of memory");
  nghttp2_priority_spec spec;
  nghttp2_priority_spec_init(&spec, parent, weight, exclusive);
  nghttp2_data_provider prd;
  h2lua_stream_provider(st, &prd);
  int32_t id = nghttp2_submit_request(se->ngh, &spec, nva, nnv,
                                      end ? NULL : &prd, st);
  if (id < 0) {
    h2lua_stream_free(st);
    lua_pushnil(L);
    lua_pushinteger(L, id);
    return 2;
  }
  st->id = id;
  st->responded = 1; /* our side's headers are out: writes may resume */
  st->out_eof = end;
  h2lua_stream_opened(st);
  return h2lua_stream_attach(L, st, 2);
}

/* core.connect_over(obj, socket_box, authority_host, options, id1, v1, ...)
   -> box | nil: an h2c client session over an h2lua.net socket (the
   createConnection option); the socket reads as closed afterwards. */
static int lclient_connect_over(lua_State *L) {
  h2lua_rt *rt = h2lua_rt_get(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  int connected = h2lua_net_connected(L, 2);
  luaL_checktype(L, 4, LUA_TTABLE);
  nghttp2_settings_entry iv[H2LUA_MAX_SETTINGS];
  size_t n = h2lua_check_settings(L, 5, iv);
  struct bufferevent *bev = h2lua_net_take(L, 2);
  if (bev == NULL) return 0;
  h2lua_limits limits = client_limits;
  nghttp2_option *opt;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
  h2lua_apply_options(L, 4, opt, &limits);
  h2lua_session *se = h2lua_session_create(rt, bev, 1, &limits);
  if (se == NULL) {
    nghttp2_option_del(opt);
    bufferevent_free(bev);
    return luaL_error(L, "out of memory");
  }
  h2lua_session_start(se, opt, iv, n);
  nghttp2_option_del(opt);
  lua_pushvalue(L, 1);
  se->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  se->lua_known = 1;
  se->box = h2lua_box_new(L, H2LUA_MAGIC_SESSION, se);
  if (connected) {
    se->connected = 1;
    h2lua_session_addresses(se, bufferevent_getfd(bev));
    h2lua_queue(rt, H2LUA_EV_CONNECT, NULL, se, NULL, 0, 0);
  }
  h2lua_mark_dirty(se);
  return 1;
}

const luaL_Reg h2lua_client_funcs[] = {
    {"connect_over", lclient_connect_over},
    {"connect", lclient_connect},
    {"request", lclient_request},
    {NULL, NULL},
};
