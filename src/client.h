/*
 * Client sessions: connecting (asynchronous DNS, TLS with ALPN h2) or
 * taking over a connected h2lua.net socket, with HTTP/2 started at once
 * so requests may be submitted before the socket is up.
 */
#ifndef H2LUA_CLIENT_H
#define H2LUA_CLIENT_H

#include "session.h"

/* The limits of a client session before its options apply. */
extern const h2lua_limits h2lua_client_limits;

/* A client session connecting to |host|:|port| (TLS when |ssl|; from the
   address |local| unless NULL); NULL when out of memory. EV_CONNECT or
   EV_CONNECT_ERROR follows. */
h2lua_session *h2lua_client_connect(h2lua_rt *rt, const char *host, int port,
                                    const char *local,
                                    SSL *ssl, const nghttp2_option *opt,
                                    const h2lua_limits *limits,
                                    const nghttp2_settings_entry *iv,
                                    size_t niv);
/* A client session over |bev| (taken over); EV_CONNECT follows at once
   when |connected|. */
h2lua_session *h2lua_client_over(h2lua_rt *rt, struct bufferevent *bev,
                                 int connected, const nghttp2_option *opt,
                                 const h2lua_limits *limits,
                                 const nghttp2_settings_entry *iv, size_t niv);

#endif
