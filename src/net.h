/*
 * Plain TCP sockets and servers for Lua (h2lua.net): connecting,
 * listening, bytes both ways with backpressure, and handing a connected
 * socket over to an HTTP/2 client session (http2.connect's
 * createConnection).
 */
#ifndef H2LUA_NET_H
#define H2LUA_NET_H

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include "tlslib.h"

#include "runtime.h"
#include "util.h"

struct h2lua_socket {
  h2lua_handle h;
  struct bufferevent *bev; /* NULL once closed or handed over */
  int refd, connected, paused, data_notified, want_drain, ended;
  int tls;                 /* a TLS client socket (connected: handshake done) */
  char why[256];           /* why its TLS connect failed: "CODE message" */
  int remote_ended; /* the peer's FIN: closes once our side has ended too */
};

typedef struct h2lua_netserver {
  h2lua_handle h;
  struct evconnlistener *lev; /* NULL once closed */
  int refd;
} h2lua_netserver;

/* A socket connecting to |host|:|port|; NULL when out of memory. */
h2lua_socket *h2lua_net_connect(h2lua_rt *rt, const char *host, int port);
/* A TLS client socket to |host|:|port| over |ssl| (taken); 'connect'
   once the handshake is done. NULL when out of memory. */
h2lua_socket *h2lua_net_connect_tls(h2lua_rt *rt, const char *host, int port,
                                    SSL *ssl);
/* Two sockets joined to each other (a socketpair): bytes written to one
   are read from the other. |near| is a TLS client over the pair when
   |ssl| (taken), connecting; |far| is plain. For carrying a connection
   over something that is not a socket (a stream, a Lua duplex): Lua
   pumps |far|. -1 when out of descriptors or memory. */
int h2lua_net_pair(h2lua_rt *rt, SSL *ssl, h2lua_socket **near,
                   h2lua_socket **far);
/* The SSL of a TLS socket, or NULL. */
SSL *h2lua_net_ssl(h2lua_socket *so);
/* Queues bytes; returns what waits for the socket, or -1 when closed. */
/* A readable file that is not a socket (a FIFO) as a socket: its input
   comes as a socket's does; NULL and *err (errno) when it cannot open. */
h2lua_socket *h2lua_net_open_read(h2lua_rt *rt, const char *path, int *err);

long h2lua_net_write(h2lua_socket *so, const void *p, size_t len, int drain);
/* FIN once the output is written. */
void h2lua_net_end(h2lua_socket *so);
/* Closes now; 'close' follows from the loop. */
void h2lua_net_destroy(h2lua_socket *so);
/* The input buffer (reading restarts: Lua is taking bytes). */
struct evbuffer *h2lua_net_input(h2lua_socket *so);
/* Hands the bufferevent over (the socket reads as closed after). */
struct bufferevent *h2lua_net_take(h2lua_socket *so);
/* Whether the socket keeps the loop alive. */
void h2lua_net_ref(h2lua_socket *so, int on);

h2lua_netserver *h2lua_net_listen(h2lua_rt *rt, const char *host, int port,
                                  int backlog, const char **errname,
                                  char *msg, size_t msglen);
void h2lua_net_server_close(h2lua_netserver *ns);

#endif
