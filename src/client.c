/*
 * Client sessions. The records, the HTTP/2 machinery and the stream
 * records are the session's, h2.c's and stream.c's.
 */
#include "client.h"

#include "h2.h"

const h2lua_limits h2lua_client_limits = {
    .max_header_pairs = 128,
    .max_header_list = H2LUA_MAX_HEADER_LIST,
    .max_h1_header = H2LUA_MAX_H1_HEADER,
    .max_session_memory = 10 * 1024 * 1024,
    .max_invalid_frames = 1000,
    .max_rejected_streams = 100,
    .padding = 0,
};

static void on_open(void *owner, h2lua_conn *c, int proto) {
  h2lua_session *se = owner;
  h2lua_session_attach(se, c);
  h2lua_queue(se->h.rt, H2LUA_EV_CONNECT, &se->h);
  h2lua_mark_dirty(&se->h);
}

static const h2lua_conn_cbs conn_cbs = {
    .open = on_open,
    .input = h2lua_session_on_input,
    .writable = h2lua_session_on_writable,
    .closed = h2lua_session_on_closed,
    .timeout = h2lua_session_on_timeout,
};

static h2lua_session *start(h2lua_session *se, h2lua_conn *c,
                            const nghttp2_option *opt,
                            const nghttp2_settings_entry *iv, size_t niv) {
  if (c == NULL) {
    h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
    return NULL;
  }
  h2lua_session_attach(se, c);
  if (h2lua_h2_start(se, opt, iv, niv) != 0) {
    h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR, 0);
    return NULL;
  }
  return se;
}

h2lua_session *h2lua_client_connect(h2lua_rt *rt, const char *host, int port,
                                    const char *local,
                                    SSL *ssl, const nghttp2_option *opt,
                                    const h2lua_limits *limits,
                                    const nghttp2_settings_entry *iv,
                                    size_t niv) {
  h2lua_session *se = h2lua_session_new(rt, 1, NULL, limits);
  if (se == NULL) {
    if (ssl) SSL_free(ssl);
    return NULL;
  }
  h2lua_conn *c = local ? h2lua_conn_connect_from(rt, host, port, local, ssl, &conn_cbs, se)
                        : h2lua_conn_connect(rt, host, port, ssl, &conn_cbs, se);
  return start(se, c, opt, iv, niv);
}

h2lua_session *h2lua_client_over(h2lua_rt *rt, struct bufferevent *bev,
                                 int connected, const nghttp2_option *opt,
                                 const h2lua_limits *limits,
                                 const nghttp2_settings_entry *iv, size_t niv) {
  h2lua_session *se = h2lua_session_new(rt, 1, NULL, limits);
  if (se == NULL) return NULL;
  se = start(se, h2lua_conn_adopt(rt, bev, connected, &conn_cbs, se), opt, iv, niv);
  if (se && connected) h2lua_queue(rt, H2LUA_EV_CONNECT, &se->h);
  return se;
}
