/*
 * The one list of events the engine delivers to Lua. Each entry names the
 * event and, in its comment, the handle it targets and the fields of
 * h2lua_event it carries. The list becomes the enum below and the table
 * core.EV in Lua (lcore.c), so no file repeats an event number.
 */
#ifndef H2LUA_EVENTS_H
#define H2LUA_EVENTS_H

#define H2LUA_EVENTS(X)                                                        \
  /* the loop: no target */                                                   \
  X(TIMER)            /* the timer behind Lua's timer heap fired */           \
  X(TICK)             /* immediates are due */                                \
  X(SIGNAL)           /* u.signal */                                          \
  /* servers */                                                               \
  X(SESSION)          /* a new connection: u.session */                       \
  X(UNKNOWN_PROTOCOL) /* TLS up, no protocol we speak agreed: u.session */    \
  X(TLS_ERROR)        /* a handshake failed: u.peer, data = "CODE why" */     \
  X(SERVER_ERROR)     /* accept failed: u.error */                            \
  X(SNI)              /* answered at once, not queued: u.sni */               \
  X(SERVER_CLOSE)     /* the last event of a server (not for Lua) */          \
  /* sessions */                                                              \
  X(SESSION_CLOSE)    /* the last event of a session */                       \
  X(SESSION_ERROR)    /* u.error (an nghttp2 error code) */                   \
  X(GOAWAY)           /* u.goaway, data = opaque data */                      \
  X(REMOTE_SETTINGS)  /* the peer's SETTINGS arrived */                       \
  X(SETTINGS_ACK)     /* the peer acknowledged ours */                        \
  X(PING)             /* a PING from the peer: u.ping */                      \
  X(PING_ACK)         /* the answer to ours: u.ping */                        \
  X(FRAME_ERROR)      /* a frame we submitted was not sent: u.frame_error */  \
  X(PRIORITY)         /* the peer's PRIORITY frame: u.priority */             \
  X(TIMEOUT)          /* no bytes either way for session:setTimeout's ms */   \
  X(STREAM_REFUSED)   /* a limit refused a new stream: u.refused */           \
  X(CONNECT)          /* a client session's socket is up */                   \
  X(CONNECT_ERROR)    /* it could not connect: u.error, data = "CODE why" */  \
  X(ALTSVC)           /* u.altsvc, data = origin then field value */          \
  X(ORIGIN)           /* u.origin, data = origins, each ending in \0 */       \
  X(UPGRADED)         /* an HTTP/1.1 connection switched to h2c */            \
  X(FRAME)            /* a frame traced (trace.c): data = its description */  \
  X(STREAM)           /* a new stream (request, push promise): u.stream */    \
  /* streams */                                                               \
  X(HEADERS)          /* client: response, 1xx, trailers: u.headers */        \
  X(TRAILERS)         /* server: the request's trailers: u.headers */         \
  X(DATA)             /* body bytes wait in the stream's input */             \
  X(END)              /* the peer ended its side */                           \
  X(DRAIN)            /* the stream's output emptied */                       \
  X(WANT_TRAILERS)    /* the body is out; trailers may follow */              \
  X(STREAM_CLOSE)     /* the last event of a stream: u.close */               \
  /* TCP sockets (h2lua.net) */                                               \
  X(NET_ACCEPT)       /* a net server accepted: u.accept */                   \
  X(NET_CONNECT)      /* the socket connected */                              \
  X(NET_DATA)         /* bytes wait in its input */                           \
  X(NET_END)          /* the peer sent FIN */                                 \
  X(NET_DRAIN)        /* its output was written */                            \
  X(NET_ERROR)        /* u.error (errno, -1: name not resolved) */            \
  X(NET_CLOSE)        /* the last event of a socket */

enum h2lua_event_type {
  H2LUA_EV_NONE = 0,
#define H2LUA_EV_ENUM(name) H2LUA_EV_##name,
  H2LUA_EVENTS(H2LUA_EV_ENUM)
#undef H2LUA_EV_ENUM
  H2LUA_EV_COUNT
};

#endif
