/*
 * HTTP/2 sessions with libnghttp2. Owns the nghttp2 session of each
 * HTTP/2 session and the state kept beside it (its counting allocator,
 * the stream ids a client skipped, the counters behind the limits).
 */
#include "h2.h"

#include <stdlib.h>
#include <string.h>

#include "blocks.h"
#include "trace.h"
#include "util.h"

/* Stop taking frames from nghttp2 while this much waits for the socket:
   the backpressure that keeps a slow reader from filling memory. */
#define OUTPUT_WOULDBLOCK_THRESHOLD (64 * 1024)
/* Every allocation of the counting allocator carries its size first. */
#define MEM_HDR 16
/* SETTINGS frames a peer may send in one second: a client needs one or
   two per connection; a flood of them (each answered with an ACK and a
   'remoteSettings') ends the session with ENHANCE_YOUR_CALM. */
#define MAX_SETTINGS_PER_SEC 100
/* PINGs a peer may send in one second: keepalives and RTT probes are a
   few a second at most; each costs an ACK and a Lua 'ping' event. */
#define MAX_PINGS_PER_SEC 1000

typedef struct h2_state {
  nghttp2_session *ngh;
  nghttp2_mem mem;          /* counting allocator for maxSessionMemory */
  size_t mem_used;
  size_t mem_blocks;        /* live allocations: the state outlives them */
  int dead;                 /* the session is gone, some blocks are not */
  size_t unconsumed_conn;   /* received body bytes to give back at once */
  uint32_t invalid_frames, rejected_streams;
  uint32_t settings_count;  /* SETTINGS received since settings_window */
  double settings_window;
  uint32_t ping_count;      /* PINGs received since ping_window */
  double ping_window;
  int calmed;               /* we ended the session for a flood */
  int calmed_invalid;       /* ... of invalid frames (Lua is told) */
  /* the peer sent GOAWAY with an error code: as in Node.js the session is
     destroyed before any frame after it is delivered */
  int goaway_fatal;
  /* client stream ids: the highest seen, and the ranges a client skipped
     (never opened): HEADERS on one of those is a PROTOCOL_ERROR (RFC 9113
     5.1.1), which nghttp2 by itself ignores */
  int32_t max_client_id;
  /* the stream record last looked up or set: a request's callbacks ask
     for the same stream many times in a row */
  int32_t cache_id;
  h2lua_stream *cache_st;
  struct { int32_t lo, hi; } skipped[32];
  int nskipped;
  /* the stream whose frame nghttp2 could not send, and the HTTP/2 code it
     closes with (Node's, not nghttp2's REFUSED_STREAM) */
  int32_t unsent_id;
  uint32_t unsent_code;
  h2lua_trace_state trace;  /* its counters move only while se->trace */
  /* while tracing: the header of the last frame begun that nghttp2 has
     neither passed on nor refused yet (it drops some silently, such as a
     WINDOW_UPDATE on a closed stream) */
  nghttp2_frame_hd trace_pending;
  int trace_has_pending;
} h2_state;

static h2_state *state_of(const h2lua_session *se) {
  return se->proto == &h2lua_h2_proto ? se->ps : NULL;
}

nghttp2_session *h2lua_h2_ngh(const h2lua_session *se) {
  h2_state *s = state_of(se);
  return s ? s->ngh : NULL;
}

/* ---- the counting allocator ---- */

/* The block's header: its size as asked (what is counted) and its
   class in the block cache. */
typedef struct mem_hdr {
  size_t n;
  unsigned cls;
} mem_hdr;

static void *mem_malloc(size_t n, void *ud) {
  h2_state *s = ud;
  if (n > (size_t)-1 - MEM_HDR) return NULL;
  unsigned cls;
  char *p = h2lua_block_get(n + MEM_HDR, &cls);
  if (p == NULL) return NULL;
  mem_hdr *h = (mem_hdr *)p;
  h->n = n;
  h->cls = cls;
  s->mem_used += n;
  s->mem_blocks++;
  return p + MEM_HDR;
}

static void mem_free(void *ptr, void *ud) {
  h2_state *s = ud;
  if (ptr == NULL) return;
  mem_hdr *h = (mem_hdr *)((char *)ptr - MEM_HDR);
  s->mem_used -= h->n;
  h2lua_block_put(h, h->cls);
  if (--s->mem_blocks == 0 && s->dead) free(s); /* see h2_teardown */
}

static void *mem_calloc(size_t nmemb, size_t size, void *ud) {
  if (size && nmemb > ((size_t)-1 - MEM_HDR) / size) return NULL;
  size_t n = nmemb * size;
  void *p = mem_malloc(n, ud);
  if (p) memset(p, 0, n);
  return p;
}

static void *mem_realloc(void *ptr, size_t n, void *ud) {
  if (ptr == NULL) return mem_malloc(n, ud);
  mem_hdr *h = (mem_hdr *)((char *)ptr - MEM_HDR);
  size_t room = h2lua_block_size(h->cls);
  if (room >= n + MEM_HDR) { /* still fits its block */
    h2_state *s = ud;
    s->mem_used = s->mem_used - h->n + n;
    h->n = n;
    return ptr;
  }
  if (room == 0 && n + MEM_HDR > H2LUA_BLOCK_MAX) { /* large to large */
    h2_state *s = ud;
    mem_hdr *g = realloc(h, n + MEM_HDR);
    if (g == NULL) return NULL;
    s->mem_used = s->mem_used - g->n + n;
    g->n = n;
    return (char *)g + MEM_HDR;
  }
  void *q = mem_malloc(n, ud);
  if (q == NULL) return NULL;
  memcpy(q, ptr, h->n < n ? h->n : n);
  mem_free(ptr, ud);
  return q;
}

/* What counts against maxSessionMemory: nghttp2's own memory, bytes
   waiting for the socket, the stream records with an estimate of their Lua
   objects, and the bodies they hold in memory (file segments are not
   memory). Constant time: the counters are kept as things change. */
static int memory_available(h2lua_session *se, h2_state *s, size_t more) {
  size_t used = s->mem_used +
                se->home.nopen * (sizeof(h2lua_stream) + H2LUA_STREAM_LUA_COST) +
                se->home.buffered + more;
  if (se->conn) used += h2lua_conn_output_len(se->conn);
  return used <= se->limits.max_session_memory;
}

/* ---- nghttp2 callbacks: they record and queue, nothing more ---- */

/* Called for every frame header before nghttp2 looks at the frame. On a
   server, a client HEADERS with a stream id the client skipped earlier
   (never opened, so implicitly closed) ends the connection with
   PROTOCOL_ERROR. (A client sees its own ids answered in any order.) */
static int on_begin_frame(nghttp2_session *ngh, const nghttp2_frame_hd *hd,
                          void *user_data) {
  h2lua_session *se = user_data;
  h2_state *s = se->ps;
  if (s->goaway_fatal) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (se->trace && hd->type != NGHTTP2_CONTINUATION) {
    /* the frame before this one was received whole, yet nghttp2 said
       nothing of it: the trace shows it as ignored */
    if (s->trace_has_pending) {
      nghttp2_frame f;
      memset(&f, 0, sizeof f);
      f.hd = s->trace_pending;
      h2lua_trace_frame(&s->trace, se->trace, ngh, H2LUA_TRACE_IGNORED, &f, 0);
    }
    s->trace_pending = *hd;
    s->trace_has_pending = 1;
  }
  /* a header block ends with its last frame (or one nghttp2 refused
     midway, with the next frame) */
  if (hd->type != NGHTTP2_CONTINUATION) se->hb_since = 0;
  if (se->is_client || hd->type != NGHTTP2_HEADERS || (hd->stream_id & 1) == 0)
    return 0;
  int32_t id = hd->stream_id;
  if (id > s->max_client_id) {
    if (id > s->max_client_id + 2) {
      if (s->nskipped == 32) { /* forget the oldest gap */
        memmove(s->skipped, s->skipped + 1, 31 * sizeof(s->skipped[0]));
        s->nskipped--;
      }
      s->skipped[s->nskipped].lo = s->max_client_id + 2;
      s->skipped[s->nskipped].hi = id - 2;
      s->nskipped++;
    }
    s->max_client_id = id;
    return 0;
  }
  for (int i = 0; i < s->nskipped; i++) {
    if (id >= s->skipped[i].lo && id <= s->skipped[i].hi) {
      /* nghttp2 reads nothing more once terminating; the GOAWAY goes out
         with the next flush and the session ends after it */
      nghttp2_session_terminate_session(ngh, NGHTTP2_PROTOCOL_ERROR);
      return 0;
    }
  }
  return 0;
}

/* Ends the session with GOAWAY(ENHANCE_YOUR_CALM); the callback returns
   what this returns, so that nghttp2 stops at once instead of going on
   with the frames that follow in the same read (and their ACKs). */
static int calm_down(nghttp2_session *ngh, h2_state *s) {
  nghttp2_session_terminate_session(ngh, NGHTTP2_ENHANCE_YOUR_CALM);
  s->calmed = 1;
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Counts a frame nghttp2 found invalid, or one Node counts as such (an
   empty DATA without END_STREAM): past maxSessionInvalidFrames the session
   ends. 0, or the callback's failure. */
static int count_invalid(nghttp2_session *ngh, h2lua_session *se,
                         h2_state *s) {
  if (++s->invalid_frames <= se->limits.max_invalid_frames) return 0;
  s->calmed_invalid = 1;
  return calm_down(ngh, s);
}

/* Whether one more frame counted in |count| since |window| is past |max|
   within a second. */
static int flood(double *window, uint32_t *count, uint32_t max) {
  double now = h2lua_now();
  if (now - *window >= 1000) {
    *window = now;
    *count = 0;
  }
  return ++*count > max;
}

static h2lua_stream *stream_of(h2lua_session *se, int32_t id) {
  h2_state *s = se->ps;
  if (id == s->cache_id) return s->cache_st;
  s->cache_id = id;
  return s->cache_st = nghttp2_session_get_stream_user_data(s->ngh, id);
}

/* Every change of a stream's record goes through here (the cache). */
static void set_stream(h2lua_session *se, int32_t id, h2lua_stream *st) {
  h2_state *s = se->ps;
  nghttp2_session_set_stream_user_data(s->ngh, id, st);
  s->cache_id = id;
  s->cache_st = st;
}

/* A HEADERS frame starts: a request opens a stream record (unless a
   limit refuses it); other blocks append to their stream's record. */
static int on_begin_headers(nghttp2_session *ngh, const nghttp2_frame *frame,
                            void *user_data) {
  h2lua_session *se = user_data;
  h2_state *s = se->ps;
  h2lua_stream *st;
  if (frame->hd.type == NGHTTP2_PUSH_PROMISE) {
    /* a client: the promised stream gets its record now; the PUSH_PROMISE
       fields are its request headers */
    int32_t pid = frame->push_promise.promised_stream_id;
    st = h2lua_session_stream(se, pid);
    if (st == NULL) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    st->watched = st->lua_read = 1;
    set_stream(se, pid, st);
    h2lua_stream_opened(st);
    st->first_header = st->start_time;
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  st = stream_of(se, frame->hd.stream_id);
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST && st == NULL && !se->is_client) {
    if (!memory_available(se, s, sizeof(h2lua_stream) + H2LUA_STREAM_LUA_COST)) {
      /* maxSessionMemory: refuse new streams while over it; a peer that
         keeps opening them anyway ends the session */
      if (s->rejected_streams++ >= se->limits.max_rejected_streams) {
        nghttp2_session_terminate_session(ngh, NGHTTP2_ENHANCE_YOUR_CALM);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                NGHTTP2_ENHANCE_YOUR_CALM);
      h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_STREAM_REFUSED, &se->h);
      if (ev) ev->u.refused.id = frame->hd.stream_id;
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st = h2lua_session_stream(se, frame->hd.stream_id);
    if (st == NULL) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    set_stream(se, frame->hd.stream_id, st);
    h2lua_stream_opened(st);
    st->first_header = st->start_time; /* it starts with this block */
    se->hb_since = st->start_time;      /* for headersTimeout */
  } else if (st && !se->is_client) {
    se->hb_since = h2lua_now(); /* trailers */
  }
  if (st) {
    st->block_start = st->hdrs.n;
    st->block_bytes = 0;
    if (st->first_header == 0) st->first_header = h2lua_now();
  }
  return 0;
}

/* A header field nghttp2 refused. One refused only for whitespace at the
   start or end of its value (RFC 9113 8.2.1) is left out and the request
   goes on, as Node.js does; any other resets the stream with
   PROTOCOL_ERROR, as without this callback (h2spec checks those). */
static int on_invalid_header(nghttp2_session *ngh, const nghttp2_frame *frame,
                             nghttp2_rcbuf *name, nghttp2_rcbuf *value,
                             uint8_t flags, void *user_data) {
  (void)ngh;
  (void)frame;
  (void)flags;
  (void)user_data;
  nghttp2_vec n = nghttp2_rcbuf_get_buf(name), v = nghttp2_rcbuf_get_buf(value);
  int padded = v.len > 0 && (v.base[0] == ' ' || v.base[0] == '\t' ||
                             v.base[v.len - 1] == ' ' || v.base[v.len - 1] == '\t');
  if (padded && n.len > 0 && n.base[0] != ':' && nghttp2_check_header_name(n.base, n.len) &&
      nghttp2_check_header_value(v.base, v.len))
    return 0;
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

/* Every header field (nghttp2 checked it against RFC 9113's rules). The
   buffers are kept, refcounted, until Lua has the block. */
static int on_header(nghttp2_session *ngh, const nghttp2_frame *frame,
                     nghttp2_rcbuf *name, nghttp2_rcbuf *value, uint8_t flags,
                     void *user_data) {
  h2lua_session *se = user_data;
  int32_t id = frame->hd.type == NGHTTP2_PUSH_PROMISE
                   ? frame->push_promise.promised_stream_id
                   : frame->hd.stream_id;
  h2lua_stream *st = stream_of(se, id);
  if (st == NULL || st->closed) return 0;
  /* the limits hold before anything is kept: an HPACK bomb (a big table
     entry referenced again and again) costs its decoding, no memory */
  st->block_bytes += nghttp2_rcbuf_get_buf(name).len +
                     nghttp2_rcbuf_get_buf(value).len + 32;
  if (st->hdrs.n - st->block_start >= se->limits.max_header_pairs ||
      st->block_bytes > se->limits.max_header_list) {
    nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, id,
                              NGHTTP2_ENHANCE_YOUR_CALM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (h2lua_hblock_add_rc(&st->hdrs, name, value, flags) != 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (frame->hd.type == NGHTTP2_HEADERS &&
      frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    const h2lua_hpair *p = &st->hdrs.pairs[st->hdrs.n - 1];
    /* the cheap tests first: most fields fail them without a memcmp */
    if (p->valuelen == 4 && p->namelen == 7 && p->name[1] == 'm' &&
        memcmp(p->name, ":method", 7) == 0 && memcmp(p->value, "HEAD", 4) == 0)
      st->head_request = 1;
    else if (((p->namelen == 10 && p->name[0] == ':' && memcmp(p->name, ":authority", 10) == 0) ||
              (p->namelen == 4 && memcmp(p->name, "host", 4) == 0 &&
               st->authority[0] == 0)) &&
             p->valuelen < sizeof(st->authority)) {
      memcpy(st->authority, p->value, p->valuelen);
      st->authority[p->valuelen] = 0;
    }
  }
  return 0;
}

static void queue_headers(h2lua_session *se, h2lua_stream *st, int type,
                          int end) {
  h2lua_event *ev = h2lua_queue(se->h.rt, type, &st->h);
  size_t npairs = st->hdrs.n - st->block_start;
  if (ev) {
    ev->u.headers.npairs = npairs;
    ev->u.headers.end = end;
  } else {
    h2lua_hblock_consume(&st->hdrs, st->hdrs.n);
  }
}

static void queue_stream(h2lua_session *se, h2lua_stream *st, size_t npairs,
                         int end, int32_t parent) {
  h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_STREAM, &se->h);
  if (ev == NULL) return;
  ev->u.stream.st = st;
  ev->u.stream.npairs = npairs;
  ev->u.stream.end = end;
  ev->u.stream.parent = parent;
}

static void remote_ended(h2lua_stream *st) {
  st->remote_ended = 1;
  h2lua_queue(st->h.rt, H2LUA_EV_END, &st->h);
}

/* A whole frame arrived. Queues events only. */
static int on_frame_recv(nghttp2_session *ngh, const nghttp2_frame *frame,
                         void *user_data) {
  h2lua_session *se = user_data;
  h2lua_rt *rt = se->h.rt;
  h2lua_stream *st = frame->hd.stream_id ? stream_of(se, frame->hd.stream_id) : NULL;
  int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  h2lua_event *ev;
  se->frames_received++;
  if (se->trace) {
    ((h2_state *)se->ps)->trace_has_pending = 0;
    h2lua_trace_frame(&((h2_state *)se->ps)->trace, se->trace, ngh, H2LUA_TRACE_RECV, frame, 0);
  }
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS:
    se->hb_since = 0; /* the block is complete */
    if (st == NULL || st->closed) break;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      if (end) st->remote_ended = 1; /* said by the STREAM event itself */
      queue_stream(se, st, st->hdrs.n - st->block_start, end, 0);
      break;
    }
    if (se->is_client) {
      /* a response, a 1xx, trailers, or the response to a push: Lua
         tells them apart by :status */
      queue_headers(se, st, H2LUA_EV_HEADERS, end);
    } else if (end) {
      queue_headers(se, st, H2LUA_EV_TRAILERS, 0);
    } else {
      /* a non-final block from a client: nothing to give Lua */
      h2lua_hblock_consume(&st->hdrs, st->hdrs.n);
    }
    if (end) remote_ended(st);
    break;
  case NGHTTP2_PRIORITY: /* 'priority' on the stream, or the session */
    ev = h2lua_queue(rt, H2LUA_EV_PRIORITY, &se->h);
    if (ev) {
      ev->u.priority.st = st;
      ev->u.priority.id = frame->hd.stream_id;
      ev->u.priority.parent = frame->priority.pri_spec.stream_id;
      ev->u.priority.weight = frame->priority.pri_spec.weight;
      ev->u.priority.exclusive = frame->priority.pri_spec.exclusive;
    }
    break;
  case NGHTTP2_PUSH_PROMISE: {
    h2lua_stream *ps = stream_of(se, frame->push_promise.promised_stream_id);
    if (ps == NULL || ps->closed) break;
    queue_stream(se, ps, ps->hdrs.n, 0, frame->hd.stream_id);
    break;
  }
  case NGHTTP2_ALTSVC: {
    nghttp2_ext_altsvc *a = frame->ext.payload;
    ev = h2lua_queue(rt, H2LUA_EV_ALTSVC, &se->h);
    if (ev == NULL) break;
    char *d = h2lua_event_alloc(ev, a->origin_len + 1 + a->field_value_len);
    if (d == NULL) break;
    memcpy(d, a->origin, a->origin_len);
    d[a->origin_len] = 0;
    memcpy(d + a->origin_len + 1, a->field_value, a->field_value_len);
    ev->u.altsvc.stream_id = frame->hd.stream_id;
    ev->u.altsvc.origin_len = a->origin_len;
    break;
  }
  case NGHTTP2_ORIGIN: {
    nghttp2_ext_origin *o = frame->ext.payload;
    ev = h2lua_queue(rt, H2LUA_EV_ORIGIN, &se->h);
    if (ev == NULL) break;
    size_t len = 0;
    for (size_t i = 0; i < o->nov; i++) len += o->ov[i].origin_len + 1;
    char *p = h2lua_event_alloc(ev, len);
    if (p == NULL) break;
    for (size_t i = 0; i < o->nov; i++) {
      memcpy(p, o->ov[i].origin, o->ov[i].origin_len);
      p += o->ov[i].origin_len;
      *p++ = 0;
    }
    ev->u.origin.n = o->nov;
    break;
  }
  case NGHTTP2_DATA:
    if (st && !st->closed && end) remote_ended(st);
    else if (!end && frame->hd.length == 0) return count_invalid(ngh, se, se->ps);
    break;
  case NGHTTP2_SETTINGS:
    if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
      ev = h2lua_queue(rt, H2LUA_EV_SETTINGS_ACK, &se->h);
      uint32_t v[H2LUA_NSETTINGS];
      h2lua_settings_get(ngh, 0, v);
      if (ev) h2lua_event_data(ev, v, sizeof(v));
    } else if (flood(&((h2_state *)se->ps)->settings_window,
                     &((h2_state *)se->ps)->settings_count, MAX_SETTINGS_PER_SEC)) {
      return calm_down(ngh, se->ps);
    } else {
      se->peer_push = nghttp2_session_get_remote_settings(
                          ngh, NGHTTP2_SETTINGS_ENABLE_PUSH) != 0;
      ev = h2lua_queue(rt, H2LUA_EV_REMOTE_SETTINGS, &se->h);
      uint32_t v[H2LUA_NSETTINGS];
      h2lua_settings_get(ngh, 1, v);
      if (ev) h2lua_event_data(ev, v, sizeof(v));
    }
    break;
  case NGHTTP2_PING:
    if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) &&
        flood(&((h2_state *)se->ps)->ping_window,
              &((h2_state *)se->ps)->ping_count, MAX_PINGS_PER_SEC))
      return calm_down(ngh, se->ps);
    ev = h2lua_queue(rt, (frame->hd.flags & NGHTTP2_FLAG_ACK) ? H2LUA_EV_PING_ACK
                                                              : H2LUA_EV_PING,
                     &se->h);
    if (ev) memcpy(ev->u.ping.payload, frame->ping.opaque_data, 8);
    break;
  case NGHTTP2_GOAWAY:
    ev = h2lua_queue(rt, H2LUA_EV_GOAWAY, &se->h);
    if (ev) {
      ev->u.goaway.code = frame->goaway.error_code;
      ev->u.goaway.last_id = frame->goaway.last_stream_id;
      h2lua_event_data(ev, frame->goaway.opaque_data, frame->goaway.opaque_data_len);
    }
    if (frame->goaway.error_code != NGHTTP2_NO_ERROR) ((h2_state *)se->ps)->goaway_fatal = 1;
    break;
  default:
    break;
  }
  return 0;
}

/* A piece of a DATA frame: the bytes go to the stream's input. The
   connection window is given back at once (after mem_recv), the stream
   window only as Lua reads. */
static int on_data_chunk_recv(nghttp2_session *ngh, uint8_t flags,
                              int32_t stream_id, const uint8_t *data,
                              size_t len, void *user_data) {
  h2lua_session *se = user_data;
  h2_state *s = se->ps;
  s->unconsumed_conn += len;
  h2lua_stream *st = stream_of(se, stream_id);
  if (st == NULL || st->closed) return 0;
  if (h2lua_stream_in_add(st, data, len) != 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return 0;
}

/* A stream closed (from mem_recv or mem_send). The record is detached
   from nghttp2 here and freed after Lua saw its close. */
static int on_stream_close(nghttp2_session *ngh, int32_t stream_id,
                           uint32_t error_code, void *user_data) {
  (void)ngh;
  h2lua_session *se = user_data;
  h2lua_stream *st = stream_of(se, stream_id);
  if (st == NULL) return 0;
  set_stream(se, stream_id, NULL);
  h2_state *s = se->ps;
  if (s && s->unsent_id == stream_id) {
    error_code = s->unsent_code;
    s->unsent_id = 0;
  }
  h2lua_stream_closed(st, error_code);
  return 0;
}

/* A frame went out: counters, first-byte times; and once our side of a
   server stream ended while the client is still sending a body Lua never
   read, RST_STREAM (NO_ERROR) tells it to stop (RFC 9113 8.1, as Node.js
   does for a stream its handler neither read nor resumed). */
static int on_frame_send(nghttp2_session *ngh, const nghttp2_frame *frame,
                         void *user_data) {
  h2lua_session *se = user_data;
  se->frames_sent++;
  if (se->trace)
    h2lua_trace_frame(&((h2_state *)se->ps)->trace, se->trace, ngh, H2LUA_TRACE_SEND, frame, 0);
  int32_t id = frame->hd.stream_id;
  if (id == 0) return 0;
  h2lua_stream *st = NULL;
  if (frame->hd.type == NGHTTP2_DATA) {
    st = stream_of(se, id);
    if (st) {
      if (st->first_byte_sent == 0) st->first_byte_sent = h2lua_now();
      st->bytes_written += frame->hd.length;
    }
  } else if (frame->hd.type == NGHTTP2_HEADERS) {
    st = stream_of(se, id);
  }
  if (st && st->rst_after_end && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      !st->closed) {
    nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
    return 0;
  }
  if (st && !se->is_client && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      !st->remote_ended && !st->closed && !st->lua_read &&
      nghttp2_session_get_stream_remote_close(ngh, id) == 0)
    nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
  return 0;
}

/* nghttp2's library error as the HTTP/2 code Node reports it with. */
static uint32_t code_of_lib_error(int lib_error) {
  switch (lib_error) {
  case NGHTTP2_ERR_STREAM_CLOSED: return NGHTTP2_STREAM_CLOSED;
  case NGHTTP2_ERR_HEADER_COMP: return NGHTTP2_COMPRESSION_ERROR;
  case NGHTTP2_ERR_FRAME_SIZE_ERROR: return NGHTTP2_FRAME_SIZE_ERROR;
  case NGHTTP2_ERR_FLOW_CONTROL: return NGHTTP2_FLOW_CONTROL_ERROR;
  case NGHTTP2_ERR_REFUSED_STREAM: return NGHTTP2_REFUSED_STREAM;
  case NGHTTP2_ERR_PROTO:
  case NGHTTP2_ERR_HTTP_HEADER:
  case NGHTTP2_ERR_HTTP_MESSAGING: return NGHTTP2_PROTOCOL_ERROR;
  default: return NGHTTP2_INTERNAL_ERROR;
  }
}

/* nghttp2's own errors: only a peer that does not speak HTTP/2 (no
   SETTINGS first) is told to Lua, as Node.js does: "Protocol error". */
static int on_error(nghttp2_session *ngh, int lib_error_code, const char *msg,
                    size_t len, void *user_data) {
  (void)ngh, (void)msg, (void)len;
  h2lua_session *se = user_data;
  if (lib_error_code == NGHTTP2_ERR_SETTINGS_EXPECTED) {
    h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_SESSION_ERROR, &se->h);
    if (ev) ev->u.error.err = NGHTTP2_ERR_PROTO;
  }
  return 0;
}

/* nghttp2 could not send a frame we submitted (a header block over
   maxSendHeaderBlockLength, say): 'frameError' in Lua with the HTTP/2
   code, which the stream (closed by nghttp2 right after) closes with. */
static int on_frame_not_send(nghttp2_session *ngh, const nghttp2_frame *frame,
                             int lib_error, void *user_data) {
  h2lua_session *se = user_data;
  if (lib_error == NGHTTP2_ERR_SESSION_CLOSING ||
      lib_error == NGHTTP2_ERR_STREAM_CLOSED ||
      lib_error == NGHTTP2_ERR_STREAM_CLOSING)
    return 0;
  uint32_t code = code_of_lib_error(lib_error);
  h2_state *s = se->ps;
  if (s && frame->hd.stream_id) {
    s->unsent_id = frame->hd.stream_id;
    s->unsent_code = code;
  }
  h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_FRAME_ERROR, &se->h);
  if (ev == NULL) return 0;
  ev->u.frame_error.st = frame->hd.stream_id ? stream_of(se, frame->hd.stream_id) : NULL;
  ev->u.frame_error.frame_type = frame->hd.type;
  ev->u.frame_error.code = (int)code;
  ev->u.frame_error.stream_id = frame->hd.stream_id;
  return 0;
}

/* PADDING_STRATEGY_MAX pads to the largest payload allowed; ALIGNED makes
   the frame (with its 9-byte header) a multiple of 8 when it can. */
static ssize_t on_select_padding(nghttp2_session *ngh,
                                 const nghttp2_frame *frame,
                                 size_t max_payloadlen, void *user_data) {
  h2lua_session *se = user_data;
  size_t len = frame->hd.length;
  if (se->limits.padding == 2) return (ssize_t)max_payloadlen;
  if (se->limits.padding == 1) {
    size_t r = (len + 9) % 8;
    if (r == 0) return (ssize_t)len;
    size_t padded = len + (8 - r);
    return (ssize_t)(padded < max_payloadlen ? padded : max_payloadlen);
  }
  return (ssize_t)len;
}

/* A frame nghttp2 found invalid. One on a closed stream, a protocol error
   or a fatal error is the session's error too, as in Node; nghttp2 has
   answered it with a GOAWAY already. */
static int on_invalid_frame_recv(nghttp2_session *ngh,
                                 const nghttp2_frame *frame, int lib_error,
                                 void *user_data) {
  h2lua_session *se = user_data;
  if (se->trace) {
    ((h2_state *)se->ps)->trace_has_pending = 0;
    h2lua_trace_frame(&((h2_state *)se->ps)->trace, se->trace, ngh, H2LUA_TRACE_INVALID,
                      frame, lib_error);
  }
  /* as Node does (since the fix of CVE-2025-23085), a fatal error, a frame
     on a closed stream or a protocol error (each ends the session) is the
     session's 'error' */
  if (nghttp2_is_fatal(lib_error) || lib_error == NGHTTP2_ERR_STREAM_CLOSED ||
      lib_error == NGHTTP2_ERR_PROTO) {
    h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_SESSION_ERROR, &se->h);
    if (ev) ev->u.error.err = lib_error;
  }
  return count_invalid(ngh, se, se->ps);
}

/* Two sets: with padding (the callback costs a call per frame) and
   without. */
static nghttp2_session_callbacks *callback_sets[2];

static nghttp2_session_callbacks *get_callbacks(int padding) {
  nghttp2_session_callbacks *cb = callback_sets[padding != 0];
  if (cb) return cb;
  nghttp2_session_callbacks_new(&cb);
  callback_sets[padding != 0] = cb;
  nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
  nghttp2_session_callbacks_set_on_invalid_header_callback2(cb, on_invalid_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
  nghttp2_session_callbacks_set_error_callback2(cb, on_error);
  if (padding)
    nghttp2_session_callbacks_set_select_padding_callback(cb, on_select_padding);
  return cb;
}

/* ---- the data provider ---- */

/* Hands nghttp2 bytes from st->out. No bytes and no finish() yet: deferred
   until the stream resumes it. */
static ssize_t on_data_read(nghttp2_session *ngh, int32_t stream_id,
                            uint8_t *buf, size_t length, uint32_t *data_flags,
                            nghttp2_data_source *source, void *user_data) {
  h2lua_stream *st = source->ptr;
  size_t avail = h2lua_stream_out_len(st);
  size_t n = 0;
  if (avail == 0 && !st->out_eof) {
    st->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (avail > 0) {
    n = h2lua_stream_out_take(st, buf, avail < length ? avail : length);
    if (n == 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    avail -= n;
  }
  if (avail == 0) {
    h2lua_stream_maybe_drain(st);
    if (st->out_eof) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      if (st->want_trailers) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (!st->trailers_asked) {
          st->trailers_asked = 1;
          h2lua_queue(st->h.rt, H2LUA_EV_WANT_TRAILERS, &st->h);
        }
      }
    }
  }
  return (ssize_t)n;
}

static nghttp2_data_provider provider_of(h2lua_stream *st) {
  nghttp2_data_provider prd;
  prd.source.ptr = st;
  prd.read_callback = on_data_read;
  return prd;
}

/* ---- the protocol operations ---- */

static nghttp2_session *ngh_of_stream(h2lua_stream *st) {
  return st->se ? h2lua_h2_ngh(st->se) : NULL;
}

static int h2_respond(h2lua_stream *st, const nghttp2_nv *nva, size_t n,
                      int end) {
  nghttp2_session *ngh = ngh_of_stream(st);
  if (ngh == NULL) return NGHTTP2_ERR_INVALID_STATE;
  nghttp2_data_provider prd = provider_of(st);
  int rv = nghttp2_submit_response(ngh, st->id, nva, n, end ? NULL : &prd);
  if (rv != 0) return rv;
  st->responded = 1;
  if (end) st->out_eof = 1;
  h2lua_mark_dirty(&st->se->h);
  return 0;
}

static int h2_info(h2lua_stream *st, const nghttp2_nv *nva, size_t n) {
  nghttp2_session *ngh = ngh_of_stream(st);
  if (ngh == NULL) return NGHTTP2_ERR_INVALID_STATE;
  int rv = nghttp2_submit_headers(ngh, NGHTTP2_FLAG_NONE, st->id, NULL, nva, n, NULL);
  h2lua_mark_dirty(&st->se->h);
  return rv;
}

/* The body of an empty DATA frame with END_STREAM. */
static ssize_t read_nothing(nghttp2_session *ngh, int32_t id, uint8_t *buf,
                            size_t len, uint32_t *flags,
                            nghttp2_data_source *src, void *user_data) {
  (void)ngh, (void)id, (void)buf, (void)len, (void)src, (void)user_data;
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  return 0;
}

static int h2_trailers(h2lua_stream *st, const nghttp2_nv *nva, size_t n) {
  nghttp2_session *ngh = ngh_of_stream(st);
  if (ngh == NULL) return NGHTTP2_ERR_INVALID_STATE;
  /* no fields: an empty DATA frame ends the stream instead of an empty
     HEADERS, as Node does (some browsers choke on empty trailers) */
  nghttp2_data_provider none = {.read_callback = read_nothing};
  int rv = n ? nghttp2_submit_trailer(ngh, st->id, nva, n)
             : nghttp2_submit_data(ngh, NGHTTP2_FLAG_END_STREAM, st->id, &none);
  h2lua_mark_dirty(&st->se->h);
  return rv;
}

static int h2_write(h2lua_stream *st, const void *p, size_t len, int fd,
                    int64_t off) {
  if (p) return h2lua_stream_out_add(st, p, len);
  return h2lua_stream_out_add_file(st, fd, off, (int64_t)len);
}

static void h2_resume(h2lua_stream *st) {
  nghttp2_session *ngh = ngh_of_stream(st);
  if (ngh == NULL) return;
  if (st->deferred && st->responded) {
    st->deferred = 0;
    nghttp2_session_resume_data(ngh, st->id);
  }
  h2lua_mark_dirty(&st->se->h);
}

/* Writes everything nghttp2 still has (a GOAWAY) to the connection,
   whatever the threshold: the session ends right after. */
static void send_final(h2lua_session *se, h2_state *s) {
  const uint8_t *data;
  ssize_t n;
  while (se->conn && (n = nghttp2_session_mem_send(s->ngh, &data)) > 0)
    h2lua_conn_write(se->conn, data, (size_t)n);
}

static int h2_reset(h2lua_stream *st, uint32_t code) {
  nghttp2_session *ngh = ngh_of_stream(st);
  if (ngh == NULL) return NGHTTP2_ERR_INVALID_STATE;
  /* Node.js: close(NO_ERROR) after end() lets the body out first (not
     with waitForTrailers: no END_STREAM comes until the trailers) */
  if (code == NGHTTP2_NO_ERROR && st->out_eof && st->id > 0 && !st->want_trailers &&
      nghttp2_session_get_stream_local_close(ngh, st->id) != 1) {
    st->rst_after_end = 1;
    h2lua_mark_dirty(&st->se->h);
    return 0;
  }
  /* as Node.js: what is queued (the headers, body written so far) goes out
     before the RST_STREAM, which nghttp2 would send first (not before the
     socket is up: a request not sent yet is cancelled instead) */
  h2lua_session *se = st->se;
  if (se->conn && se->conn->connected) send_final(se, state_of(se));
  int rv = nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, st->id, code);
  h2lua_mark_dirty(&st->se->h);
  return rv;
}

static void h2_consumed(h2lua_stream *st, size_t n) {
  nghttp2_session *ngh = ngh_of_stream(st);
  if (ngh == NULL || st->closed) return;
  nghttp2_session_consume_stream(ngh, st->id, n);
  h2lua_mark_dirty(&st->se->h);
}

/* Hands what nghttp2 has to send to the connection, up to the threshold;
   ends the session when neither side wants anything more. */
static void h2_flush(h2lua_session *se) {
  h2_state *s = state_of(se);
  if (s == NULL || se->conn == NULL) return;
  if (s->unconsumed_conn) {
    nghttp2_session_consume_connection(s->ngh, s->unconsumed_conn);
    s->unconsumed_conn = 0;
  }
  /* small frames (a response's HEADERS and short DATA) are gathered and
     handed to the connection at once: one write, one round of libevent's
     buffer callbacks, for a whole batch of responses */
  uint8_t gather[8192];
  size_t used = 0;
  size_t queued = h2lua_conn_output_len(se->conn);
  while (queued + used < OUTPUT_WOULDBLOCK_THRESHOLD) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(s->ngh, &data);
    if (n < 0) {
      h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_SESSION_ERROR, &se->h);
      if (ev) ev->u.error.err = (int)n;
      h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR, 0);
      return;
    }
    if (n == 0) break;
    se->bytes_written += (uint64_t)n;
    if (used + (size_t)n <= sizeof(gather)) {
      memcpy(gather + used, data, (size_t)n);
      used += (size_t)n;
      continue;
    }
    if ((used && h2lua_conn_write(se->conn, gather, used) != 0) ||
        h2lua_conn_write(se->conn, data, (size_t)n) != 0) {
      h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR, 0);
      return;
    }
    queued += used + (size_t)n;
    used = 0;
  }
  if (used && h2lua_conn_write(se->conn, gather, used) != 0) {
    h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR, 0);
    return;
  }
  if (!nghttp2_session_want_read(s->ngh) && !nghttp2_session_want_write(s->ngh))
    h2lua_session_teardown(se, NGHTTP2_NO_ERROR, 1);
}


static void h2_input(h2lua_session *se) {
  h2_state *s = state_of(se);
  if (s == NULL || se->conn == NULL) return;
  struct evbuffer *in = h2lua_conn_input(se->conn);
  if (s->goaway_fatal) { /* Lua destroys the session: nothing more is read */
    evbuffer_drain(in, evbuffer_get_length(in));
    return;
  }
  while (evbuffer_get_length(in) > 0) {
    struct evbuffer_iovec v;
    if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
    se->bytes_read += v.iov_len;
    ssize_t rv = nghttp2_session_mem_recv(s->ngh, v.iov_base, v.iov_len);
    if (s->goaway_fatal) { /* the frames after the GOAWAY are dropped */
      evbuffer_drain(in, evbuffer_get_length(in));
      return;
    }
    if (rv < 0 && s->calmed) { /* a flood: the GOAWAY is submitted */
      /* Node.js tells ERR_HTTP2_TOO_MANY_INVALID_FRAMES, or for a flood
         of PINGs or SETTINGS nghttp2's own "Flooding was detected" */
      h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_SESSION_ERROR, &se->h);
      if (ev) ev->u.error.err = s->calmed_invalid ? H2LUA_ERR_TOO_MANY_INVALID_FRAMES
                                                  : NGHTTP2_ERR_FLOODED;
      send_final(se, s);
      h2lua_session_teardown(se, NGHTTP2_ENHANCE_YOUR_CALM, 1);
      return;
    }
    if (rv < 0) {
      h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_SESSION_ERROR, &se->h);
      if (ev) ev->u.error.err = (int)rv;
      /* a GOAWAY, a bad preface's too (RFC 9113 3.4: a connection error);
         a callback may have chosen its code already */
      nghttp2_session_terminate_session(s->ngh, NGHTTP2_PROTOCOL_ERROR);
      send_final(se, s);
      h2lua_session_teardown(se, NGHTTP2_PROTOCOL_ERROR, 1);
      return;
    }
    evbuffer_drain(in, (size_t)rv);
    if (se->torn_down) return;
  }
}

static void h2_teardown(h2lua_session *se) {
  h2_state *s = se->ps;
  if (s == NULL) return;
  /* fields of a block Lua has not had yet (one cut short by the peer's
     close, or by a limit) are nghttp2's buffers: copied before they go */
  for (h2lua_stream *st = se->home.streams; st; st = st->next)
    if (st->hdrs.n) h2lua_hblock_own(&st->hdrs);
  nghttp2_session_del(s->ngh);
  s->ngh = NULL;
  se->ps = NULL;
  /* Header fields a stream record still holds (a block cut short by a
     connection error, a request Lua has not seen yet) are nghttp2 buffers
     from this allocator: the state goes with the last of them. */
  if (s->mem_blocks == 0) free(s);
  else s->dead = 1;
}

const h2lua_proto h2lua_h2_proto = {
    .name = "h2",
    .respond = h2_respond,
    .info = h2_info,
    .trailers = h2_trailers,
    .write = h2_write,
    .resume = h2_resume,
    .reset = h2_reset,
    .consumed = h2_consumed,
    .flush = h2_flush,
    .input = h2_input,
    .teardown = h2_teardown,
};

int h2lua_h2_start(h2lua_session *se, const nghttp2_option *opt,
                   const nghttp2_settings_entry *iv, size_t niv) {
  h2_state *s = calloc(1, sizeof(*s));
  if (s == NULL) return NGHTTP2_ERR_NOMEM;
  s->max_client_id = -1;
  s->mem.mem_user_data = s;
  s->mem.malloc = mem_malloc;
  s->mem.free = mem_free;
  s->mem.calloc = mem_calloc;
  s->mem.realloc = mem_realloc;
  int rv = se->is_client
               ? nghttp2_session_client_new3(&s->ngh, get_callbacks(se->limits.padding), se, opt, &s->mem)
               : nghttp2_session_server_new3(&s->ngh, get_callbacks(se->limits.padding), se, opt, &s->mem);
  if (rv != 0) {
    free(s);
    return rv;
  }
  se->proto = &h2lua_h2_proto;
  se->ps = s;
  s->trace.owner = &se->h;
  s->trace.client = se->is_client;
  if (h2lua_trace_env()) se->trace |= H2LUA_TRACE_PRINT;
  nghttp2_submit_settings(s->ngh, NGHTTP2_FLAG_NONE, iv, niv);
  h2lua_mark_dirty(&se->h);
  return 0;
}

int h2lua_h2_upgrade(h2lua_session *se, const uint8_t *settings, size_t len,
                     int head, h2lua_stream *st) {
  h2_state *s = state_of(se);
  if (s == NULL) return NGHTTP2_ERR_INVALID_STATE;
  int rv = nghttp2_session_upgrade2(s->ngh, settings, len, head, st);
  if (rv != 0) return rv;
  st->id = 1;
  st->remote_ended = 1;
  s->max_client_id = 1;
  return 0;
}

int32_t h2lua_h2_request(h2lua_session *se, h2lua_stream *st,
                         const nghttp2_priority_spec *pri,
                         const nghttp2_nv *nva, size_t n, int end) {
  h2_state *s = state_of(se);
  if (s == NULL) return NGHTTP2_ERR_INVALID_STATE;
  nghttp2_data_provider prd = provider_of(st);
  int32_t id = nghttp2_submit_request(s->ngh, pri, nva, n, end ? NULL : &prd, st);
  if (id < 0) return id;
  st->id = id;
  st->responded = 1; /* our side's headers are out: writes may resume */
  st->out_eof = end;
  h2lua_mark_dirty(&se->h);
  return id;
}

int32_t h2lua_h2_push(h2lua_stream *parent, h2lua_stream *st,
                      const nghttp2_nv *nva, size_t n) {
  nghttp2_session *ngh = ngh_of_stream(parent);
  if (ngh == NULL) return NGHTTP2_ERR_STREAM_CLOSED;
  int32_t id = nghttp2_submit_push_promise(ngh, NGHTTP2_FLAG_NONE, parent->id,
                                           nva, n, st);
  if (id < 0) return id;
  st->id = id;
  st->remote_ended = 1; /* a pushed request has no body */
  h2lua_mark_dirty(&parent->se->h);
  return id;
}

void h2lua_h2_close(h2lua_session *se) {
  h2_state *s = state_of(se);
  if (s == NULL || se->closing) return;
  se->closing = 1;
  nghttp2_submit_goaway(s->ngh, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(s->ngh),
                        NGHTTP2_NO_ERROR, NULL, 0);
  h2lua_mark_dirty(&se->h);
}

void h2lua_h2_destroy(h2lua_session *se, uint32_t code) {
  h2_state *s = state_of(se);
  if (s == NULL) {
    h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
    return;
  }
  nghttp2_session_terminate_session(s->ngh, code);
  send_final(se, s);
  h2lua_session_teardown(se, code == NGHTTP2_NO_ERROR ? NGHTTP2_CANCEL : code, 1);
}
