/*
 * Stream records: one per request (HTTP/2 stream or HTTP/1.1 exchange),
 * with the header block being received, the body waiting for Lua (in) and
 * the body waiting for the protocol (out). Records are recycled with their
 * buffers. A record lives until Lua has had its 'close' (or, when nothing
 * in Lua waits for that, until the close was written into its object).
 */
#ifndef H2LUA_STREAM_H
#define H2LUA_STREAM_H

#include <event2/buffer.h>

#include "headers.h"
#include "runtime.h"

/* The Lua object of a stream: a userdata whose payload is this box (the
   record pointer first, as every box) and the state Lua reads as fields,
   which outlives the record. Its user values: the session, the table of
   Lua-only fields (made on first write), sentHeaders (or the headers it
   will be copied from), and the date sent. */
typedef struct h2lua_sbox {
  h2lua_box b;
  int32_t id;
  uint32_t rst_code;
  int status;                 /* :status sent by the fast path */
  uint8_t http1;              /* 0, or 10/11: HTTP/1.x */
  unsigned has_id : 1, has_rst : 1, closed : 1, destroyed : 1, aborted : 1;
  unsigned headers_sent : 1, writable_ended : 1, readable_ended : 1;
  unsigned end_after_headers : 1, remote_ended : 1, push_allowed : 1;
  unsigned implicit_end : 1, explicit_end : 1, head : 1;
  unsigned sent_lazy : 1;     /* sentHeaders is still to be copied */
  uint8_t date_len;           /* the date the fast path sent, for sentHeaders */
  char date[30];
} h2lua_sbox;

enum { H2LUA_SUV_SESSION = 1, H2LUA_SUV_LUA, H2LUA_SUV_SENT,
       H2LUA_SUV_COUNT = 3 };

/* What the Lua side of an open stream holds, roughly, for the memory
   limits: its object, the handler's coroutine and stack, the headers table
   (about 2.5 KiB measured with a handler waiting in readAll()). A fixed
   estimate: Lua's allocations are not counted one by one. */
#define H2LUA_STREAM_LUA_COST 2560

/* What a session lends its streams: the list they are on and the counters
   its limits read, kept up to date by every change here. */
typedef struct h2lua_stream_home {
  h2lua_stream *streams;
  size_t nopen;            /* opened and not yet closed */
  size_t buffered;         /* body bytes held in memory, both directions */
  uint32_t max_concurrent, stream_count;
} h2lua_stream_home;

struct h2lua_stream {
  h2lua_handle h;          /* Lua's stream object */
  h2lua_session *se;       /* NULL once the session record is gone */
  h2lua_stream_home *home; /* the session's, NULL with it */
  int32_t id;
  int http1;               /* HTTP/1.x minor version + 10, or 0 for HTTP/2 */
  unsigned closed : 1;     /* closed (the close event is queued) */
  unsigned responded : 1;  /* our headers went to the protocol */
  unsigned out_eof : 1;    /* finish(): no more body after st->out */
  unsigned deferred : 1;   /* HTTP/2: the data provider waits for bytes */
  unsigned want_trailers : 1, trailers_asked : 1;
  unsigned want_drain : 1, data_notified : 1;
  unsigned remote_ended : 1, head_request : 1;
  unsigned watched : 1;    /* Lua waits for something at close */
  unsigned lua_read : 1;   /* Lua read the body: unread bytes go to it at close */
  unsigned lua_bufsize : 1;/* Lua's bufferSize is not 0 */
  unsigned push_allowed : 1;
  unsigned rst_after_end : 1; /* close(NO_ERROR) after finish(): once the end is out */
  uint32_t rst_code;
  /* metrics: times in ms of the monotonic clock, 0 when not yet */
  double start_time, first_header, first_byte, first_byte_sent;
  uint64_t bytes_read, bytes_written;
  struct evbuffer *in;     /* request body not yet read by Lua */
  struct evbuffer *out;    /* response body not yet taken by the protocol */
  size_t small_len;        /* bytes of |small| used */
  size_t out_mem;          /* bytes of |out| in memory (not file segments) */
  int64_t file_left;       /* a file body's bytes not yet in |out| (0: none) */
  int64_t file_off;        /* where they start in file_fd (when file_left) */
  int file_fd;
  h2lua_hblock hdrs;       /* received fields not yet given to Lua */
  size_t block_start;      /* first pair of the block being received */
  size_t block_bytes;      /* its size so far (maxHeaderListSize) */
  h2lua_stream *next, *prev;
  /* last, and not cleared when a record is reused (only their first
     bytes or small_len say what they hold) */
  char authority[256];     /* of the request: what pushes on it inherit */
  char small[512];         /* a small body's bytes, before |out| */
};

/* A record for stream |id| of |se|, on |home|'s list. NULL when out of
   memory. */
h2lua_stream *h2lua_stream_new(h2lua_rt *rt, h2lua_session *se,
                               h2lua_stream_home *home, int32_t id);
/* Counts |st| as open (metrics, limits). */
void h2lua_stream_opened(h2lua_stream *st);
/* Marks |st| closed with |code| and queues its final event; safe to call
   twice. */
void h2lua_stream_closed(h2lua_stream *st, uint32_t code);
/* Takes |st| off its session (which is going away) without freeing it. */
void h2lua_stream_detach(h2lua_stream *st);
/* Frees |st| now (lua_close, or a stream Lua never saw). */
void h2lua_stream_free(h2lua_stream *st);
/* Frees the recycled records (at lua_close). */
void h2lua_stream_pool_free(h2lua_rt *rt);

/* Body in: appends bytes and queues EV_DATA once until Lua reads. */
int h2lua_stream_in_add(h2lua_stream *st, const void *p, size_t len);
/* Removes up to |max| bytes into |dst|; returns how many. */
size_t h2lua_stream_in_take(h2lua_stream *st, void *dst, size_t max);
/* Body out: bytes from Lua (copied), or a file range (not counted as
   memory). Return 0, or -1. */
int h2lua_stream_out_add(h2lua_stream *st, const void *p, size_t len);
int h2lua_stream_out_add_file(h2lua_stream *st, int fd, int64_t offset,
                              int64_t length);
/* Removes up to |max| bytes of the body into |dst|; returns how many. */
size_t h2lua_stream_out_take(h2lua_stream *st, void *dst, size_t max);
/* Bytes of body waiting (in memory and in files). */
static inline size_t h2lua_stream_out_len(const h2lua_stream *st) {
  return st->small_len + evbuffer_get_length(st->out) + (size_t)st->file_left;
}
/* Moves the body queued so far to |dst| (file segments as they are; a
   file's later pieces stay: out_len says what is left). */
void h2lua_stream_out_move(h2lua_stream *st, struct evbuffer *dst);
/* Queues EV_DRAIN when Lua asked for it and the output is empty. */
void h2lua_stream_maybe_drain(h2lua_stream *st);

/* Pushes a new stream object (record |st|, or none yet when NULL) of the
   session object at |session|; returns its box. */
h2lua_sbox *h2lua_stream_object(lua_State *L, h2lua_rt *rt, h2lua_stream *st,
                                int session);
/* The box of |st|'s Lua object, or NULL. */
static inline h2lua_sbox *h2lua_stream_box(h2lua_stream *st) {
  return (h2lua_sbox *)st->h.box;
}

extern const h2lua_handle_vt h2lua_stream_vt;

#endif
