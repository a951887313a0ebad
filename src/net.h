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

#include "runtime.h"
#include "util.h"

struct h2lua_socket {
  h2lua_handle h;
  struct bufferevent *bev; /* NULL once closed or handed over */
  int refd, connected, paused, data_notified, want_drain, ended;
};

typedef struct h2lua_netserver {
  h2lua_handle h;
  struct evconnlistener *lev; /* NULL once closed */
  int refd;
} h2lua_netserver;

/* A socket connecting to |host|:|port|; NULL when out of memory. */
h2lua_socket *h2lua_net_connect(h2lua_rt *rt, const char *host, int port);
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
