/*
 * Shared records of the engine: the runtime, servers, sessions, streams and
 * the event queue that carries what nghttp2 and libevent report to Lua.
 *
 * Lifetime rules (the whole engine follows them):
 *  1. C owns every protocol object. Lua holds a box {magic, pointer}; C sets
 *     the pointer to NULL when it frees the object, and every method checks.
 *  2. While an object can still report events, C holds a registry reference
 *     to its Lua object (lua_ref). It is dropped when the final event
 *     (stream 'close', session 'close', server 'close') has been delivered.
 *  3. No Lua runs inside an nghttp2 callback: callbacks only append events
 *     to the runtime queue; h2lua_pump() delivers them afterwards and then
 *     flushes every session that Lua gave something to send.
 *  4. A session is torn down (socket and nghttp2 session freed) at once, but
 *     its record lives until its 'close' event is delivered, which always
 *     comes after the 'close' events of its streams. A stream record lives
 *     until its own 'close' event is delivered.
 *  5. Liveness (does the loop keep running) is the counter rt->refs, apart
 *     from the registry references that keep objects alive.
 */
#ifndef H2LUA_INTERNAL_H
#define H2LUA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <lauxlib.h>
#include <lua.h>
#include <nghttp2/nghttp2.h>

#include "compat.h"

#define H2LUA_MAX_SETTINGS 16 /* entries in one SETTINGS we send */

typedef struct h2lua_rt h2lua_rt;
typedef struct h2lua_server h2lua_server;
typedef struct h2lua_session h2lua_session;
typedef struct h2lua_stream h2lua_stream;
typedef struct h2lua_h1 h2lua_h1;
typedef struct h2lua_socket h2lua_socket;

/* Events delivered to the Lua dispatcher, h2lua/sched.lua's on_core. */
enum {
  H2LUA_EV_TIMER = 1,  /* the runtime timer expired */
  H2LUA_EV_TICK,       /* immediates are due */
  H2LUA_EV_SIGNAL,     /* a = signal number */
  H2LUA_EV_SESSION,    /* a new session on a server; Lua returns its object */
  H2LUA_EV_SESSION_CLOSE,
  H2LUA_EV_SESSION_ERROR, /* a = nghttp2 error code (negative), msg */
  H2LUA_EV_GOAWAY,     /* a = error code, b = last stream id, opaque data */
  H2LUA_EV_STREAM,     /* request headers; Lua returns the stream object */
  H2LUA_EV_TRAILERS,   /* trailing headers of a stream */
  H2LUA_EV_DATA,       /* body bytes are waiting in st->in */
  H2LUA_EV_END,        /* the peer ended its side */
  H2LUA_EV_DRAIN,      /* the outgoing buffer of a stream emptied */
  H2LUA_EV_WANT_TRAILERS,
  H2LUA_EV_STREAM_CLOSE, /* a = error code */
  H2LUA_EV_SERVER_ERROR, /* a = errno */
  H2LUA_EV_REMOTE_SETTINGS,
  H2LUA_EV_SETTINGS_ACK,
  H2LUA_EV_PING_ACK,   /* opaque = 8-byte payload */
  H2LUA_EV_PING,       /* a ping from the peer (not an ACK) */
  H2LUA_EV_FRAME_ERROR, /* a = frame type, b = error code, st or stream 0 */
  H2LUA_EV_SESSION_TIMEOUT,
  H2LUA_EV_STREAM_REFUSED, /* a = stream id: a stream refused by a limit */
  H2LUA_EV_CONNECT,      /* a client session's socket connected */
  H2LUA_EV_CONNECT_ERROR, /* a = errno or -EAI code; data = its name */
  H2LUA_EV_HEADERS,      /* a client stream's response/1xx/trailers/push
                            response: a = END_STREAM, b = pairs */
  H2LUA_EV_UNKNOWN_PROTOCOL, /* TLS up, but ALPN agreed on no h2 */
  H2LUA_EV_TLS_ERROR,    /* a server's TLS handshake failed; data = why */
  H2LUA_EV_ALTSVC,       /* a = stream id; data = origin \0 field value */
  H2LUA_EV_ORIGIN,       /* data = the origins, each ending in \0 */
  H2LUA_EV_H1_REQUEST,   /* an HTTP/1.1 request: data = method \0 url \0
                            name \0 value ...; a = flags, b = pairs,
                            c = version (11, 10) */
  H2LUA_EV_H1_UPGRADED,  /* the connection switched to h2c (RFC 7540 3.2) */
  H2LUA_EV_SNI,          /* not queued: called during the handshake */
  H2LUA_EV_H1_TRAILERS,  /* an HTTP/1.1 request's chunked trailers: data =
                            name \0 value \0 ...; b = pairs */
  H2LUA_EV_NET,          /* not queued: h2lua.net socket events */
  H2LUA_EV_NET_CLOSED,   /* data = the socket record destroy() closed */
};

typedef struct h2lua_event {
  int type;
  int64_t a, b, c;
  h2lua_server *sv;
  h2lua_session *se;
  h2lua_stream *st;
  char *data; /* malloc'd payload (GOAWAY opaque data, PING payload) */
  size_t datalen;
} h2lua_event;

/* The Lua handle: a full userdata holding one pointer, NULL once freed. */
enum { H2LUA_MAGIC_SERVER = 0x5356, H2LUA_MAGIC_SESSION = 0x5345,
       H2LUA_MAGIC_STREAM = 0x5354 };
typedef struct h2lua_box {
  int magic;
  void *p;
} h2lua_box;

struct h2lua_rt {
  lua_State *L;            /* the main thread: all callbacks run on it */
  struct event_base *base;
  struct event *timer;     /* the one timer behind Lua's timer heap */
  struct event *tick;      /* fires while immediates are queued */
  struct event *sigint, *sigterm;
  struct evdns_base *dns;  /* for client connects, made on first use */
  int handler_ref;         /* the Lua dispatcher */
  int traceback_ref;       /* debug.traceback, the message handler */
  int single_ref;          /* set of single-value header names */
  int sensitive_key_ref;   /* the http2.sensitiveHeaders key */
  int empty_ref;           /* shared empty table */
  int refs;                /* liveness: servers, sessions, Lua timers */
  int running, stopped, closing, want_tick;
  /* event queue (FIFO, compacted when drained) */
  h2lua_event *ev;
  size_t ev_head, ev_len, ev_cap;
  /* sessions Lua gave work to: flushed after every delivery */
  h2lua_session **dirty;
  size_t ndirty, dirty_cap;
  h2lua_session *sessions; /* every live session, for teardown at close */
  h2lua_server *servers;
  /* cached HTTP date, refreshed once a second */
  char date[40];
  int64_t date_sec;
  h2lua_stream *free_streams; /* recycled stream records */
  int nfree_streams;
  /* counters for leak checks */
  int n_servers, n_sessions, n_streams;
  int pumping;
};

/* Per-session limits of the createServer options that nghttp2 does not
   enforce itself. */
typedef struct h2lua_limits {
  size_t max_header_pairs;     /* maxHeaderListPairs */
  size_t max_session_memory;   /* maxSessionMemory, bytes */
  uint32_t max_invalid_frames; /* maxSessionInvalidFrames */
  uint32_t max_rejected_streams; /* maxSessionRejectedStreams */
  int padding;                 /* PADDING_STRATEGY_* */
} h2lua_limits;

struct h2lua_server {
  h2lua_rt *rt;
  struct evconnlistener *lev;
  h2lua_box *box;
  int lua_ref;
  int refd;                /* counts in rt->refs while listening */
  nghttp2_settings_entry settings[H2LUA_MAX_SETTINGS];
  size_t nsettings;
  nghttp2_option *opt;
  h2lua_limits limits;
  SSL_CTX *tls;            /* createSecureServer: the default context */
  int allow_http1;
  int sni_callback;        /* Lua's SNICallback answers unknown names */
  struct { char *host; SSL_CTX *ctx; } *sni; /* addContext */
  size_t nsni;
  h2lua_server *next, *prev;
};

struct h2lua_session {
  h2lua_rt *rt;
  h2lua_server *server;    /* NULL once the server record is gone */
  struct bufferevent *bev; /* NULL after teardown */
  nghttp2_session *ngh;    /* NULL after teardown */
  h2lua_box *box;
  int lua_ref;
  int refd;
  int dirty;
  int torn_down;
  int close_queued;
  int closing;             /* graceful close: end once streams are done */
  int lua_known;           /* Lua has the session object */
  int is_client, connected;
  int tls;                 /* over bufferevent_openssl */
  int sniff;               /* h2c or HTTP/1.1: decided by the first bytes */
  h2lua_h1 *h1;            /* HTTP/1.1 state, when it speaks that */
  size_t unconsumed_conn;  /* received body bytes to give back at once */
  char remote_addr[64], local_addr[64];
  int remote_port, local_port, family;
  h2lua_limits limits;
  nghttp2_mem mem;         /* counting allocator for maxSessionMemory */
  size_t mem_used;
  uint32_t invalid_frames, rejected_streams;
  /* client stream ids: the highest seen, and the ranges a client skipped
     (never opened): HEADERS on one of those is a PROTOCOL_ERROR (RFC 9113
     5.1.1), which nghttp2 by itself ignores */
  int32_t max_client_id;
  struct { int32_t lo, hi; } skipped[32];
  int nskipped;
  size_t nopen;            /* open streams, for maxConcurrentStreams */
  /* inactivity timeout (session:setTimeout) */
  struct event *timeout_ev;
  double timeout_ms, last_activity;
  /* metrics */
  double start_time;
  uint64_t bytes_read, bytes_written, frames_received, frames_sent;
  uint32_t max_concurrent, stream_count;
  h2lua_stream *streams;   /* open streams, to close at teardown */
  h2lua_session *next, *prev;
};

struct h2lua_stream {
  h2lua_session *se;       /* NULL once the session record is gone */
  int32_t id;
  h2lua_box *box;
  int lua_ref;
  int closed;              /* nghttp2 closed it (close event queued) */
  int responded;
  int out_eof;             /* finish() was called */
  int deferred;            /* the data provider is waiting for bytes */
  int want_trailers;
  int want_drain;
  int data_notified;       /* an EV_DATA is pending for Lua */
  int remote_ended;
  int head_request;
  uint32_t rst_code;
  /* metrics: times in ms of the monotonic clock, 0 when not yet */
  double start_time, first_header, first_byte, first_byte_sent;
  uint64_t bytes_read, bytes_written;
  struct evbuffer *in;     /* request body not yet read by Lua */
  struct evbuffer *out;    /* response body not yet taken by nghttp2 */
  /* header block under construction: name, value pairs, with flags */
  nghttp2_rcbuf **hdrs;
  uint8_t *hdr_flags;
  size_t nhdrs, hdrs_cap;
  size_t block_start;      /* first pair of the block being received */
  h2lua_stream *next, *prev;
};

/* runtime.c */
h2lua_rt *h2lua_rt_get(lua_State *L);
void h2lua_queue(h2lua_rt *rt, int type, h2lua_server *sv, h2lua_session *se,
                 h2lua_stream *st, int64_t a, int64_t b);
void h2lua_queue_data(h2lua_rt *rt, int type, h2lua_session *se,
                      int64_t a, int64_t b, const uint8_t *data, size_t len);
void h2lua_pump(h2lua_rt *rt);
void h2lua_mark_dirty(h2lua_session *se);
h2lua_box *h2lua_box_new(lua_State *L, int magic, void *p);
void *h2lua_check_box(lua_State *L, int idx, int magic, const char *what);
void h2lua_push_ref(lua_State *L, int ref);
int h2lua_raise(lua_State *L, const char *code, const char *name,
                const char *fmt, ...);
const char *h2lua_date(h2lua_rt *rt);
const char *h2lua_errno_name(int e);
size_t h2lua_check_settings(lua_State *L, int first,
                            nghttp2_settings_entry *iv);
double h2lua_now(void);
void h2lua_rt_addref(h2lua_rt *rt, int delta);

/* loop.c */
int h2lua_loop_run(h2lua_rt *rt);

/* server.c */
void h2lua_server_free(h2lua_server *sv);
void h2lua_server_close_all(h2lua_rt *rt);
void h2lua_apply_options(lua_State *L, int idx, nghttp2_option *opt,
                         h2lua_limits *limits);
struct evconnlistener *h2lua_listen_on(h2lua_rt *rt, const char *host,
                                       int port, int backlog,
                                       evconnlistener_cb cb, void *arg,
                                       const char **errname, char *msg,
                                       size_t msglen);

/* session.c */
h2lua_session *h2lua_session_new(h2lua_server *sv, evutil_socket_t fd,
                                 struct sockaddr *addr, int socklen);
h2lua_session *h2lua_session_create(h2lua_rt *rt, struct bufferevent *bev,
                                    int is_client, const h2lua_limits *limits);
int h2lua_session_start(h2lua_session *se, nghttp2_option *opt,
                        const nghttp2_settings_entry *iv, size_t niv);
void h2lua_session_addresses(h2lua_session *se, evutil_socket_t fd);
int h2lua_session_flush(h2lua_session *se);
void h2lua_session_teardown(h2lua_session *se, uint32_t code);
void h2lua_session_free(h2lua_session *se);

/* h1.c */
int h2lua_h1_begin(h2lua_session *se);
void h2lua_h1_free(h2lua_session *se);
void h2lua_h1_input(h2lua_session *se);
int h2lua_h1_flush(h2lua_session *se);
int h2lua_h1_respond(h2lua_stream *st, const nghttp2_nv *nva, size_t n,
                     int end);
size_t h2lua_h1_write(h2lua_stream *st, const char *data, size_t len);
void h2lua_h1_finish(h2lua_stream *st, const nghttp2_nv *trailers,
                     size_t ntrailers);
void h2lua_h1_consumed(h2lua_stream *st);
void h2lua_h1_abort(h2lua_stream *st);
int h2lua_h1_want_drain(h2lua_stream *st);

/* tcp.c */
void h2lua_net_closed(h2lua_rt *rt, void *so);
struct bufferevent *h2lua_net_take(lua_State *L, int idx);
int h2lua_net_connected(lua_State *L, int idx);

/* tls.c */
const char *h2lua_tls_error(char *buf, size_t len);
void h2lua_tls_attach(SSL_CTX *ctx, h2lua_server *sv);
SSL_CTX *h2lua_tls_check(lua_State *L, int idx);
SSL_CTX *h2lua_tls_test(lua_State *L, int idx);
void h2lua_tls_describe_failure(h2lua_session *se, char *buf, size_t len);
void h2lua_tls_alpn(h2lua_session *se, char *out, size_t len);
void h2lua_tls_open(lua_State *L);

/* stream.c */
h2lua_stream *h2lua_stream_new(h2lua_session *se, int32_t id);
void h2lua_stream_free(h2lua_stream *st);
void h2lua_stream_opened(h2lua_stream *st);
int h2lua_stream_attach(lua_State *L, h2lua_stream *st, int obj);
void h2lua_stream_pool_free(h2lua_rt *rt);
void h2lua_stream_closed(h2lua_stream *st, uint32_t code);
int h2lua_stream_add_header(h2lua_stream *st, nghttp2_rcbuf *name,
                            nghttp2_rcbuf *value, uint8_t flags);
void h2lua_stream_consume_headers(h2lua_stream *st, size_t npairs);
void h2lua_stream_provider(h2lua_stream *st, nghttp2_data_provider *prd);

/* headers.c */
void h2lua_push_headers(lua_State *L, h2lua_rt *rt, h2lua_stream *st,
                        size_t npairs);
int h2lua_collect_nv(lua_State *L, int first, int sensitive_idx,
                     nghttp2_nv **out, size_t *n);

#endif
