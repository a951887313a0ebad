/*
 * Sessions: one per connection, server or client side, whatever protocol
 * it speaks. A session record holds its connection, its protocol (one of
 * the implementations of h2lua_proto: HTTP/2 in h2.c, HTTP/1.1 in h1.c),
 * its streams, and the limits they count against. The stream bindings
 * talk to the protocol only through h2lua_proto, so no code above has a
 * branch per protocol.
 */
#ifndef H2LUA_SESSION_H
#define H2LUA_SESSION_H

#include <nghttp2/nghttp2.h>

#include "conn.h"
#include "runtime.h"
#include "stream.h"

#define H2LUA_MAX_SETTINGS 16 /* entries in one SETTINGS we send */
/* The defaults of maxHeaderListSize: getDefaultSettings()'s value for
   HTTP/2; Node's HTTP/1 maxHeaderSize for HTTP/1.1 */
#define H2LUA_MAX_HEADER_LIST 65535
#define H2LUA_MAX_H1_HEADER 16384
/* CONTINUATIONs after a HEADERS before the session ends (nghttp2's
   default is 8). nghttp2 1.52 counts a CONTINUATION once more each time
   its frame header arrives split across reads, so a legitimate block of
   6 over a slow network was refused; maxHeaderListSize bounds what a
   block holds, and 64 frames of one block cost little. */
#define H2LUA_MAX_CONTINUATIONS 64
/* The error of EV_SESSION_ERROR past maxSessionInvalidFrames (outside
   nghttp2's codes): Lua's ERR_HTTP2_TOO_MANY_INVALID_FRAMES. Other codes
   are nghttp2's (< 0), or the socket's errno (> 0). */
#define H2LUA_ERR_TOO_MANY_INVALID_FRAMES (-10001)

/* What a protocol does for the streams and the session above it. */
typedef struct h2lua_proto {
  const char *name;
  /* Response headers (|end|: no body); 0, or an nghttp2 error code. */
  int (*respond)(h2lua_stream *st, const nghttp2_nv *nva, size_t n, int end);
  /* A 1xx block. */
  int (*info)(h2lua_stream *st, const nghttp2_nv *nva, size_t n);
  /* Trailers after the body (asked for with want_trailers). */
  int (*trailers)(h2lua_stream *st, const nghttp2_nv *nva, size_t n);
  /* Body bytes: |len| from |p|, or from file |fd| at |off| (taken) when
     |p| is NULL; queued on st->out with the protocol's framing. 0, or -1. */
  int (*write)(h2lua_stream *st, const void *p, size_t len, int fd,
               int64_t off);
  /* st->out gained bytes or its end: send when the peer can take it. */
  void (*resume)(h2lua_stream *st);
  /* Ends the stream abruptly with |code| (HTTP/1.1: closes). */
  int (*reset)(h2lua_stream *st, uint32_t code);
  /* Lua took |n| body bytes: the peer may send as many more. */
  void (*consumed)(h2lua_stream *st, size_t n);
  /* After Lua's turn: hand what is queued to the connection. */
  void (*flush)(h2lua_session *se);
  /* Bytes arrived on the connection. */
  void (*input)(h2lua_session *se);
  /* The session goes: free the protocol's state (no events). */
  void (*teardown)(h2lua_session *se);
} h2lua_proto;

/* Per-session limits of the createServer/connect options that nghttp2
   does not enforce itself. */
typedef struct h2lua_limits {
  size_t max_header_pairs;       /* maxHeaderListPairs */
  /* maxHeaderListSize: the size of one received header block (name and
     value octets plus 32 per field, RFC 9113 6.5.2), checked as fields
     arrive; HTTP/1.1 blocks have their own default (Node's HTTP/1 one)
     until the setting is given */
  size_t max_header_list, max_h1_header;
  size_t max_session_memory;     /* maxSessionMemory, bytes */
  uint32_t max_invalid_frames;   /* maxSessionInvalidFrames */
  uint32_t max_rejected_streams; /* maxSessionRejectedStreams */
  int padding;                   /* PADDING_STRATEGY_* */
} h2lua_limits;

/* A server's timeouts for the connections it accepts, in ms (0: none).
   Unlike the inactivity timeout, bytes arriving do not defer them. */
typedef struct h2lua_timeouts {
  double handshake;  /* TLS: accepted -> handshake done */
  double preface;    /* accepted (TLS: handshake done) -> the HTTP/2 preface in */
  double headers;    /* a header block (HTTP/1.1: a request head) begun -> complete */
  double idle;       /* a session without open streams (keep-alive) */
} h2lua_timeouts;

/* What a server gives every session it accepts (refcounted: sessions
   outlive their server). */
typedef struct h2lua_config {
  int refs;
  h2lua_handle *server;          /* NULL once the server record is gone */
  nghttp2_option *opt;
  nghttp2_settings_entry settings[H2LUA_MAX_SETTINGS];
  size_t nsettings;
  h2lua_limits limits;
  h2lua_timeouts timeouts;
  int allow_http1;
  int session_listeners; /* Lua listens for 'session': it may want 'frame' from the start */
} h2lua_config;

h2lua_config *h2lua_config_new(void);
void h2lua_config_unref(h2lua_config *cfg);

struct h2lua_session {
  h2lua_handle h;
  h2lua_conn *conn;          /* NULL once let go */
  const h2lua_proto *proto;  /* NULL until the protocol is known */
  void *ps;                  /* the protocol's state */
  h2lua_config *cfg;         /* the server's; NULL for clients */
  h2lua_stream_home home;
  h2lua_limits limits;
  unsigned is_client : 1, torn_down : 1, closing : 1, refd : 1, tls : 1;
  unsigned peer_push : 1;    /* the peer accepts pushes (its SETTINGS) */
  unsigned want_raw : 1;     /* Lua's 'stream' listeners take rawHeaders */
  unsigned trace : 3;        /* H2LUA_TRACE_* (trace.h): frames traced */
  /* the server's one 'stream' listener, called without Lua's stream entry
     while nothing else listens (set by Lua, for generation fast_gen) */
  int fast_ref;
  unsigned fast_gen;
  h2lua_addr local, remote;
  /* the server's timeouts: since when a header block is being received
     (set by the protocols; 0: none), and what server.c's checks saw */
  double hb_since, watch_start, idle_since;
  uint32_t idle_count;
  int watch_h2;
  /* metrics */
  double start_time;
  uint64_t bytes_read, bytes_written, frames_received, frames_sent;
};

/* A session record (listed: closed at lua_close). NULL when out of memory. */
h2lua_session *h2lua_session_new(h2lua_rt *rt, int is_client,
                                 h2lua_config *cfg, const h2lua_limits *limits);
/* Puts |c| under |se| and takes its addresses. */
void h2lua_session_attach(h2lua_session *se, h2lua_conn *c);
/* A stream record for |id| on |se|. */
h2lua_stream *h2lua_session_stream(h2lua_session *se, int32_t id);
/* Ends the session now: open streams close with |code|, the protocol's
   state goes, the connection closes (|graceful|: after what is queued is
   written), and the final event is queued. */
void h2lua_session_teardown(h2lua_session *se, uint32_t code, int graceful);

/* The connection callbacks every session shares (the owners add open). */
void h2lua_session_on_input(void *owner, h2lua_conn *c);
void h2lua_session_on_writable(void *owner, h2lua_conn *c);
void h2lua_session_on_closed(void *owner, h2lua_conn *c, int kind, int err,
                             const char *why);
void h2lua_session_on_timeout(void *owner, h2lua_conn *c);

/* Pushes remote address, port, local address, port, family (4 or 6). */
void h2lua_session_push_addresses(lua_State *L, const h2lua_session *se);

/* The settings Lua sees (Node's seven), as nghttp2 has them now: the
   peer's (|remote|) or ours in effect. */
#define H2LUA_NSETTINGS 7
void h2lua_settings_get(nghttp2_session *n, int remote, uint32_t v[H2LUA_NSETTINGS]);
/* Pushes them as Node's settings object (with the maxHeaderSize alias). */
void h2lua_settings_push(lua_State *L, const uint32_t v[H2LUA_NSETTINGS]);

extern const h2lua_handle_vt h2lua_session_vt;

#endif
