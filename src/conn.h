/*
 * The connection under a session: a bufferevent, plain or TLS; the
 * protocol choice (the first bytes of a plaintext connection, ALPN over
 * TLS); connecting for clients; an inactivity timeout and a deadline; and a deferred,
 * graceful close that gets the last frames out before the socket goes.
 * It tells its owner what happens through the callbacks it was made with,
 * and ends every libevent callback with the pump.
 */
#ifndef H2LUA_CONN_H
#define H2LUA_CONN_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include "tlslib.h"
#include <sys/socket.h>

#include "runtime.h"
#include "util.h"

typedef struct h2lua_conn h2lua_conn;

enum { H2LUA_PROTO_NONE, H2LUA_PROTO_H2, H2LUA_PROTO_H1 };
enum {
  H2LUA_CONN_EOF,       /* the peer closed */
  H2LUA_CONN_ERROR,     /* a socket error */
  H2LUA_CONN_HANDSHAKE, /* a server's TLS handshake failed: why */
  H2LUA_CONN_CONNECT,   /* a client could not connect: err, why */
};

typedef struct h2lua_conn_cbs {
  /* The connection is up and speaks |proto| (servers: sniffed or ALPN;
     clients: connected, always H2). */
  void (*open)(void *owner, h2lua_conn *c, int proto);
  /* Bytes wait in h2lua_conn_input(c). */
  void (*input)(void *owner, h2lua_conn *c);
  /* The output was written: more may be sent. */
  void (*writable)(void *owner, h2lua_conn *c);
  /* The connection failed or the peer closed; |c| is freed right after. */
  void (*closed)(void *owner, h2lua_conn *c, int kind, int err,
                 const char *why);
  /* No bytes either way for the timeout set. */
  void (*timeout)(void *owner, h2lua_conn *c);
  /* The time set with h2lua_conn_deadline came. */
  void (*deadline)(void *owner, h2lua_conn *c);
} h2lua_conn_cbs;

struct h2lua_conn {
  h2lua_handle h;         /* listed only once orphaned (closing) */
  h2lua_rt *rt;
  struct bufferevent *bev;
  const h2lua_conn_cbs *cb;
  void *owner;            /* NULL once the owner let go */
  int tls, is_client, connected, sniff, read_paused;
  int adopted; /* a server's, given as an h2lua.net socket */
  int busy, doomed;       /* inside owner callbacks; a close asked meanwhile */
  h2lua_addr local, remote;
  /* inactivity timeout */
  struct event *timer;
  double timeout_ms, last_activity;
  struct event *deadline; /* the owner's own timeouts (bytes do not defer it) */
  /* closing */
  struct event *close_timer;
  size_t discarded;
  /* connecting from a chosen local address: our own lookup, then bind */
  struct evdns_getaddrinfo_request *lookup;
  struct sockaddr_storage bind_to;
  int bind_len, lookup_error, bind_errno;
};

/* A server's connection over |bev|, an open plaintext socket taken from
   an h2lua.net socket (server:emit('connection', socket)); bytes already
   read are its first input. NULL when out of memory (|bev| stays the
   caller's). */
h2lua_conn *h2lua_conn_adopt_accepted(h2lua_rt *rt, struct bufferevent *bev,
                                      int sniff, const h2lua_conn_cbs *cb,
                                      void *owner);

/* An accepted socket (|ssl| NULL: plaintext, sniffed when |sniff|); it
   takes |fd| and |ssl|, and closes them itself when it returns NULL (out
   of memory). */
h2lua_conn *h2lua_conn_accept(h2lua_rt *rt, evutil_socket_t fd, SSL *ssl,
                              int sniff, const h2lua_conn_cbs *cb,
                              void *owner);
/* A client connection to |host|:|port| (resolved asynchronously; TLS when
   |ssl|). Failures are reported through closed(); NULL only when out of
   memory. */
h2lua_conn *h2lua_conn_connect(h2lua_rt *rt, const char *host, int port,
                               SSL *ssl, const h2lua_conn_cbs *cb,
                               void *owner);
/* The same from the local address |local| (an IPv4 or IPv6 literal, which
   also picks the family looked up); a bad literal or a failed bind is
   reported through closed() as EINVAL / the bind's errno. */
h2lua_conn *h2lua_conn_connect_from(h2lua_rt *rt, const char *host, int port,
                                    const char *local, SSL *ssl,
                                    const h2lua_conn_cbs *cb, void *owner);
/* A connection over a bufferevent someone else set up (an h2lua.net
   socket), taken over. */
h2lua_conn *h2lua_conn_adopt(h2lua_rt *rt, struct bufferevent *bev,
                             int connected, const h2lua_conn_cbs *cb,
                             void *owner);

struct evbuffer *h2lua_conn_input(h2lua_conn *c);
size_t h2lua_conn_output_len(const h2lua_conn *c);
/* Queues bytes for the socket; returns 0, or -1. */
int h2lua_conn_write(h2lua_conn *c, const void *p, size_t len);
/* Moves all of |buf| to the output (file segments too). */
int h2lua_conn_write_buffer(h2lua_conn *c, struct evbuffer *buf);
/* Stops or restarts reading the socket (TCP pushes back on the peer). */
void h2lua_conn_pause_read(h2lua_conn *c, int paused);
/* 'timeout' after |ms| without bytes in or out; 0 turns it off. */
void h2lua_conn_set_timeout(h2lua_conn *c, double ms);
/* deadline() in |ms| whatever arrives meanwhile (replacing the one set);
   0 clears it. */
void h2lua_conn_deadline(h2lua_conn *c, double ms);
/* The SSL of a TLS connection, or NULL. */
SSL *h2lua_conn_ssl(const h2lua_conn *c);

/* The owner lets go of |c|. Graceful: what is queued is written, the
   sending side is shut, and input is read and dropped until the peer
   closes (a few seconds at most), so the peer reads everything we sent
   instead of a reset. Otherwise the socket closes at once. */
void h2lua_conn_close(h2lua_conn *c, int graceful);

/* The resolver of |rt| (made on first use, freed at lua_close). */
struct evdns_base *h2lua_conn_dns(h2lua_rt *rt);

/* Binds a listener; for HTTP/2 servers and h2lua.net ones (a |host| that
   starts with "/" is a UNIX domain socket's path). NULL with *errname and
   |msg| on failure. With H2LUA_LISTEN_REUSEPORT, SO_REUSEPORT is set; in a
   worker (supervisor.h) a TCP socket comes from the supervisor instead. */
#define H2LUA_LISTEN_REUSEPORT 1
struct evconnlistener *h2lua_listen_on(h2lua_rt *rt, const char *host,
                                       int port, int backlog, int flags,
                                       evconnlistener_cb cb, void *arg,
                                       const char **errname, char *msg,
                                       size_t msglen);

#endif
