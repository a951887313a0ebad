/*
 * Listening servers: an evconnlistener per server; every accepted
 * connection becomes a session whose protocol the connection decides
 * (the first bytes, or ALPN), started with the server's configuration.
 */
#ifndef H2LUA_SERVER_H
#define H2LUA_SERVER_H

#include <event2/listener.h>

#include "session.h"
#include "tls.h"

typedef struct h2lua_server {
  h2lua_handle h;
  struct evconnlistener *lev; /* NULL once closed */
  h2lua_config *cfg;
  SSL_CTX *tls;               /* createSecureServer: the default context */
  h2lua_sni sni;              /* addContext, and SNICallback */
  int sni_callback;           /* Lua answers names no context covers */
  int refd;                   /* counts in rt->refs while listening */
  struct event *backoff;      /* re-enables the listener after EMFILE */
  struct event *closing;      /* closed, waiting for accepted connections */
} h2lua_server;

/* A server listening on |host| (NULL: every address, IPv6 dual stack where
   there is one) and |port|; NULL with *errname and |msg| on failure. */
h2lua_server *h2lua_server_listen(h2lua_rt *rt, const char *host, int port,
                                  int backlog, int flags, SSL_CTX *tls,
                                  const char **errname, char *msg,
                                  size_t msglen);
/* Serves the connection |bev| (taken from an h2lua.net socket) as if
   accepted, with a TLS server's handshake over it; 0, or -1 (out of
   memory, or a TLS server's socket that had bytes read or queued) with
   |bev| still the caller's. */
int h2lua_server_adopt(h2lua_server *sv, struct bufferevent *bev);
/* Stops accepting; sessions carry on, and so do the connections accepted
   whose protocol is not known yet: they still become sessions of this
   server. The record goes after its final event. */
void h2lua_server_close(h2lua_server *sv);
/* The context for connections accepted from now on. */
void h2lua_server_set_context(h2lua_server *sv, SSL_CTX *ctx);

#endif
