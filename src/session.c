/*
 * Sessions: one nghttp2 server session over one bufferevent. The nghttp2
 * callbacks here only record (stream records, header buffers, events);
 * Lua sees them when h2lua_pump() runs after nghttp2 returns. Owns the
 * h2lua_session record, its bufferevent and nghttp2 session.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <errno.h>

/* Stop taking frames from nghttp2 while this much waits for the socket:
   that is the backpressure that keeps a slow reader from filling memory. */
#define OUTPUT_WOULDBLOCK_THRESHOLD (64 * 1024)

static nghttp2_session_callbacks *callbacks;

/* The counting allocator behind maxSessionMemory: every nghttp2 allocation
   of the session carries its size in front of it. */
#define MEM_HDR 16

static void *mem_malloc(size_t n, void *ud) {
  h2lua_session *se = ud;
  char *p = malloc(n + MEM_HDR);
  if (p == NULL) return NULL;
  *(size_t *)p = n;
  se->mem_used += n;
  return p + MEM_HDR;
}

static void mem_free(void *ptr, void *ud) {
  h2lua_session *se = ud;
  if (ptr == NULL) return;
  char *p = (char *)ptr - MEM_HDR;
  se->mem_used -= *(size_t *)p;
  free(p);
}

static void *mem_calloc(size_t nmemb, size_t size, void *ud) {
  h2lua_session *se = ud;
  if (size && nmemb > ((size_t)-1 - MEM_HDR) / size) return NULL;
  size_t n = nmemb * size;
  char *p = calloc(1, n + MEM_HDR);
  if (p == NULL) return NULL;
  *(size_t *)p = n;
  se->mem_used += n;
  return p + MEM_HDR;
}

static void *mem_realloc(void *ptr, size_t n, void *ud) {
  h2lua_session *se = ud;
  if (ptr == NULL) return mem_malloc(n, ud);
  char *p = (char *)ptr - MEM_HDR;
  size_t old = *(size_t *)p;
  char *q = realloc(p, n + MEM_HDR);
  if (q == NULL) return NULL;
  *(size_t *)q = n;
  se->mem_used = se->mem_used - old + n;
  return q + MEM_HDR;
}

/* What counts against maxSessionMemory: nghttp2's own memory, bytes
   waiting for the socket, and the stream records. */
static int memory_available(h2lua_session *se, size_t more) {
  size_t used = se->mem_used + se->nopen * sizeof(h2lua_stream) + more;
  if (se->bev) used += evbuffer_get_length(bufferevent_get_output(se->bev));
  for (h2lua_stream *st = se->streams; st; st = st->next)
    used += evbuffer_get_length(st->out) + evbuffer_get_length(st->in);
  return used <= se->limits.max_session_memory;
}

static void touch(h2lua_session *se) {
  if (se->timeout_ms > 0) se->last_activity = h2lua_now();
}

/* Called for every frame header before nghttp2 looks at the frame. Here a
   client HEADERS with a stream id the client skipped earlier (never
   opened, so implicitly closed) ends the connection with PROTOCOL_ERROR. */
static int on_begin_frame(nghttp2_session *ngh, const nghttp2_frame_hd *hd,
                          void *user_data) {
  h2lua_session *se = user_data;
  if (hd->type != NGHTTP2_HEADERS || (hd->stream_id & 1) == 0) return 0;
  int32_t id = hd->stream_id;
  if (id > se->max_client_id) {
    if (id > se->max_client_id + 2) {
      if (se->nskipped == 32) { /* forget the oldest gap */
        memmove(se->skipped, se->skipped + 1, 31 * sizeof(se->skipped[0]));
        se->nskipped--;
      }
      se->skipped[se->nskipped].lo = se->max_client_id + 2;
      se->skipped[se->nskipped].hi = id - 2;
      se->nskipped++;
    }
    se->max_client_id = id;
    return 0;
  }
  for (int i = 0; i < se->nskipped; i++) {
    if (id >= se->skipped[i].lo && id <= se->skipped[i].hi) {
      /* nghttp2 reads nothing more once terminating; the GOAWAY goes out
         with the next flush and the session ends after it */
      nghttp2_session_terminate_session(ngh, NGHTTP2_PROTOCOL_ERROR);
      return 0;
    }
  }
  return 0;
}

/* Called by nghttp2 when a HEADERS frame starts. A request opens a stream
   record; trailers append to the record's header buffer. */
static int on_begin_headers(nghttp2_session *ngh, const nghttp2_frame *frame,
                            void *user_data) {
  h2lua_session *se = user_data;
  if (frame->hd.type == NGHTTP2_PUSH_PROMISE) {
    /* a client: the promised stream gets its record now; the PUSH_PROMISE
       fields are its request headers */
    int32_t pid = frame->push_promise.promised_stream_id;
    h2lua_stream *ps = h2lua_stream_new(se, pid);
    if (ps == NULL) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    nghttp2_session_set_stream_user_data(ngh, pid, ps);
    h2lua_stream_opened(ps);
    ps->first_header = ps->start_time;
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  h2lua_stream *st =
      nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST && st == NULL &&
      !se->is_client) {
    if (!memory_available(se, sizeof(h2lua_stream))) {
      /* maxSessionMemory: refuse new streams while over it; a peer that
         keeps opening them anyway ends the session */
      if (se->rejected_streams++ >= se->limits.max_rejected_streams) {
        nghttp2_session_terminate_session(ngh, NGHTTP2_ENHANCE_YOUR_CALM);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                NGHTTP2_ENHANCE_YOUR_CALM);
      h2lua_queue(se->rt, H2LUA_EV_STREAM_REFUSED, NULL, se, NULL,
                  frame->hd.stream_id, 0);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st = h2lua_stream_new(se, frame->hd.stream_id);
    if (st == NULL) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    nghttp2_session_set_stream_user_data(ngh, frame->hd.stream_id, st);
    h2lua_stream_opened(st);
  }
  if (st) {
    st->block_start = st->nhdrs;
    if (st->first_header == 0) st->first_header = h2lua_now();
  }
  return 0;
}

/* Called for every header field; nghttp2 validated it (HTTP messaging).
   The rcbufs are kept (refcounted) until Lua has been given the block. */
static int on_header(nghttp2_session *ngh, const nghttp2_frame *frame,
                     nghttp2_rcbuf *name, nghttp2_rcbuf *value, uint8_t flags,
                     void *user_data) {
  int32_t id = frame->hd.type == NGHTTP2_PUSH_PROMISE
                   ? frame->push_promise.promised_stream_id
                   : frame->hd.stream_id;
  h2lua_stream *st = nghttp2_session_get_stream_user_data(ngh, id);
  if (st == NULL || st->closed) return 0;
  if (st->nhdrs - st->block_start >= st->se->limits.max_header_pairs) {
    nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, id,
                              NGHTTP2_ENHANCE_YOUR_CALM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (h2lua_stream_add_header(st, name, value, flags) != 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return 0;
}

/* Called when a whole frame was received. May queue events only. */
static int on_frame_recv(nghttp2_session *ngh, const nghttp2_frame *frame,
                         void *user_data) {
  h2lua_session *se = user_data;
  h2lua_rt *rt = se->rt;
  h2lua_stream *st = NULL;
  if (frame->hd.stream_id)
    st = nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
  int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  se->frames_received++;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS:
    if (st == NULL || st->closed) break;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      h2lua_queue(rt, H2LUA_EV_STREAM, NULL, se, st, end,
                  (int64_t)(st->nhdrs - st->block_start));
    } else if (se->is_client) {
      /* a response, a 1xx, trailers, or the response to a push: Lua
         tells them apart by :status */
      h2lua_queue(rt, H2LUA_EV_HEADERS, NULL, se, st, end,
                  (int64_t)(st->nhdrs - st->block_start));
    } else if (end) {
      h2lua_queue(rt, H2LUA_EV_TRAILERS, NULL, se, st, 0,
                  (int64_t)(st->nhdrs - st->block_start));
    } else {
      /* a non-final informational block; not expected from a client */
      h2lua_stream_consume_headers(st, st->nhdrs - st->block_start);
    }
    if (end) {
      st->remote_ended = 1;
      /* a request without a body: EV_STREAM says so already */
      if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        h2lua_queue(rt, H2LUA_EV_END, NULL, se, st, 0, 0);
    }
    break;
  case NGHTTP2_PUSH_PROMISE: {
    h2lua_stream *ps = nghttp2_session_get_stream_user_data(
        ngh, frame->push_promise.promised_stream_id);
    if (ps == NULL || ps->closed) break;
    h2lua_queue(rt, H2LUA_EV_STREAM, NULL, se, ps, 0, (int64_t)ps->nhdrs);
    rt->ev[rt->ev_len - 1].c = frame->hd.stream_id; /* the parent */
    break;
  }
  case NGHTTP2_ALTSVC: {
    nghttp2_ext_altsvc *a = frame->ext.payload;
    size_t len = a->origin_len + 1 + a->field_value_len;
    uint8_t *buf = malloc(len);
    if (buf == NULL) break;
    memcpy(buf, a->origin, a->origin_len);
    buf[a->origin_len] = 0;
    memcpy(buf + a->origin_len + 1, a->field_value, a->field_value_len);
    h2lua_queue_data(rt, H2LUA_EV_ALTSVC, se, frame->hd.stream_id,
                     (int64_t)a->origin_len, buf, len);
    free(buf);
    break;
  }
  case NGHTTP2_ORIGIN: {
    nghttp2_ext_origin *o = frame->ext.payload;
    size_t len = 0;
    for (size_t i = 0; i < o->nov; i++) len += o->ov[i].origin_len + 1;
    uint8_t *buf = malloc(len + 1), *p = buf;
    if (buf == NULL) break;
    for (size_t i = 0; i < o->nov; i++) {
      memcpy(p, o->ov[i].origin, o->ov[i].origin_len);
      p += o->ov[i].origin_len;
      *p++ = 0;
    }
    h2lua_queue_data(rt, H2LUA_EV_ORIGIN, se, (int64_t)o->nov, 0, buf, len);
    free(buf);
    break;
  }
  case NGHTTP2_DATA:
    if (st && !st->closed && end) {
      st->remote_ended = 1;
      h2lua_queue(rt, H2LUA_EV_END, NULL, se, st, 0, 0);
    }
    break;
  case NGHTTP2_SETTINGS:
    h2lua_queue(rt, (frame->hd.flags & NGHTTP2_FLAG_ACK)
                        ? H2LUA_EV_SETTINGS_ACK
                        : H2LUA_EV_REMOTE_SETTINGS,
                NULL, se, NULL, 0, 0);
    break;
  case NGHTTP2_PING:
    h2lua_queue_data(rt, (frame->hd.flags & NGHTTP2_FLAG_ACK)
                             ? H2LUA_EV_PING_ACK
                             : H2LUA_EV_PING,
                     se, 0, 0, frame->ping.opaque_data, 8);
    break;
  case NGHTTP2_GOAWAY:
    h2lua_queue_data(rt, H2LUA_EV_GOAWAY, se, frame->goaway.error_code,
                     frame->goaway.last_stream_id,
                     frame->goaway.opaque_data, frame->goaway.opaque_data_len);
    break;
  default:
    break;
  }
  return 0;
}

/* Called for each piece of a DATA frame. The bytes go to the stream's
   input buffer; the connection window is given back at once (after
   mem_recv), the stream window only as Lua reads. */
static int on_data_chunk_recv(nghttp2_session *ngh, uint8_t flags,
                              int32_t stream_id, const uint8_t *data,
                              size_t len, void *user_data) {
  h2lua_session *se = user_data;
  se->unconsumed_conn += len;
  h2lua_stream *st = nghttp2_session_get_stream_user_data(ngh, stream_id);
  if (st == NULL || st->closed) return 0;
  if (st->first_byte == 0) st->first_byte = h2lua_now();
  st->bytes_read += len;
  if (evbuffer_add(st->in, data, len) != 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (!st->data_notified) {
    st->data_notified = 1;
    h2lua_queue(se->rt, H2LUA_EV_DATA, NULL, se, st, 0, 0);
  }
  return 0;
}

/* Called when a stream closes, from mem_recv or mem_send. The record is
   detached from nghttp2 here and freed after Lua saw its 'close'. */
static int on_stream_close(nghttp2_session *ngh, int32_t stream_id,
                           uint32_t error_code, void *user_data) {
  h2lua_stream *st = nghttp2_session_get_stream_user_data(ngh, stream_id);
  if (st == NULL) return 0;
  nghttp2_session_set_stream_user_data(ngh, stream_id, NULL);
  h2lua_stream_closed(st, error_code);
  return 0;
}

/* Called after a frame went out: counters and first-byte times. */
static int on_frame_send(nghttp2_session *ngh, const nghttp2_frame *frame,
                         void *user_data) {
  h2lua_session *se = user_data;
  se->frames_sent++;
  if (frame->hd.type == NGHTTP2_DATA && frame->hd.stream_id) {
    h2lua_stream *st =
        nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
    if (st) {
      if (st->first_byte_sent == 0) st->first_byte_sent = h2lua_now();
      st->bytes_written += frame->hd.length;
    }
  }
  return 0;
}

/* Called when nghttp2 could not send a frame we submitted (a header block
   over maxSendHeaderBlockLength, say): 'frameError' in Lua. */
static int on_frame_not_send(nghttp2_session *ngh, const nghttp2_frame *frame,
                             int lib_error, void *user_data) {
  h2lua_session *se = user_data;
  if (lib_error == NGHTTP2_ERR_SESSION_CLOSING ||
      lib_error == NGHTTP2_ERR_STREAM_CLOSED ||
      lib_error == NGHTTP2_ERR_STREAM_CLOSING)
    return 0;
  h2lua_stream *st = NULL;
  if (frame->hd.stream_id)
    st = nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
  h2lua_queue(se->rt, H2LUA_EV_FRAME_ERROR, NULL, se, st, frame->hd.type,
              lib_error);
  se->rt->ev[se->rt->ev_len - 1].datalen = (size_t)frame->hd.stream_id;
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

/* Called for each frame nghttp2 found invalid: a peer that sends more
   than maxSessionInvalidFrames of them loses the session. */
static int on_invalid_frame_recv(nghttp2_session *ngh,
                                 const nghttp2_frame *frame, int lib_error,
                                 void *user_data) {
  h2lua_session *se = user_data;
  if (++se->invalid_frames > se->limits.max_invalid_frames)
    nghttp2_session_terminate_session(ngh, NGHTTP2_ENHANCE_YOUR_CALM);
  return 0;
}

static nghttp2_session_callbacks *get_callbacks(void) {
  if (callbacks) return callbacks;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks,
                                                        on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks,
                                                          on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback2(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
                                                       on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      callbacks, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                         on_stream_close);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(
      callbacks, on_invalid_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks,
                                                       on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks,
                                                           on_frame_not_send);
  nghttp2_session_callbacks_set_select_padding_callback(callbacks,
                                                        on_select_padding);
  return callbacks;
}

/* Hands what nghttp2 has to send to the socket, up to the threshold; ends
   the session when neither side wants anything more. Returns 0, or -1 when
   the session was torn down. */
int h2lua_session_flush(h2lua_session *se) {
  if (se->torn_down) return -1;
  if (se->ngh == NULL) return se->h1 ? h2lua_h1_flush(se) : 0;
  if (se->unconsumed_conn) {
    nghttp2_session_consume_connection(se->ngh, se->unconsumed_conn);
    se->unconsumed_conn = 0;
  }
  struct evbuffer *out = bufferevent_get_output(se->bev);
  while (evbuffer_get_length(out) < OUTPUT_WOULDBLOCK_THRESHOLD) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(se->ngh, &data);
    if (n < 0) {
      h2lua_queue(se->rt, H2LUA_EV_SESSION_ERROR, NULL, se, NULL, n, 0);
      h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR);
      return -1;
    }
    if (n == 0) break;
    if (bufferevent_write(se->bev, data, (size_t)n) != 0) {
      h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR);
      return -1;
    }
    se->bytes_written += (uint64_t)n;
    touch(se);
  }
  if (!nghttp2_session_want_read(se->ngh) &&
      !nghttp2_session_want_write(se->ngh) && evbuffer_get_length(out) == 0) {
    h2lua_session_teardown(se, NGHTTP2_NO_ERROR);
    return -1;
  }
  return 0;
}

/* Writes what nghttp2 still has (a GOAWAY) straight to the socket before
   a teardown: best effort, the kernel takes it or it is lost. */
static void send_final(h2lua_session *se) {
  const uint8_t *data;
  ssize_t n;
  while ((n = nghttp2_session_mem_send(se->ngh, &data)) > 0)
    bufferevent_write(se->bev, data, (size_t)n);
  evutil_socket_t fd = bufferevent_getfd(se->bev);
  struct evbuffer *out = bufferevent_get_output(se->bev);
  while (fd >= 0 && evbuffer_get_length(out) > 0)
    if (evbuffer_write(out, fd) <= 0) break;
}

/* libevent: bytes arrived. Feed nghttp2, then let the pump deliver. */
static void on_read(struct bufferevent *bev, void *arg) {
  h2lua_session *se = arg;
  h2lua_rt *rt = se->rt;
  struct evbuffer *in = bufferevent_get_input(bev);
  size_t len;
  touch(se);
  if (se->ngh == NULL && se->sniff) {
    /* h2c with prior knowledge starts with the preface; anything else is
       HTTP/1.1 (maybe asking to upgrade) */
    static const char preface[] = NGHTTP2_CLIENT_MAGIC;
    size_t n = evbuffer_get_length(in), cmp = n < 24 ? n : 24;
    const char *p = (const char *)evbuffer_pullup(in, (ssize_t)cmp);
    if (memcmp(p, preface, cmp) == 0 && n < 24) return; /* wait for more */
    se->sniff = 0;
    h2lua_server *sv = se->server;
    if (memcmp(p, preface, cmp) == 0) {
      if (sv == NULL ||
          h2lua_session_start(se, sv->opt, sv->settings, sv->nsettings)) {
        h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR);
        h2lua_pump(rt);
        return;
      }
      h2lua_queue(rt, H2LUA_EV_SESSION, sv, se, NULL, 0, 0);
    } else if (h2lua_h1_begin(se) == 0) {
      h2lua_queue(rt, H2LUA_EV_SESSION, sv, se, NULL, 1, 0);
    }
  }
  if (se->ngh == NULL) {
    if (se->h1) h2lua_h1_input(se);
    else evbuffer_drain(in, evbuffer_get_length(in)); /* nothing reads it */
    h2lua_mark_dirty(se);
    h2lua_pump(rt);
    return;
  }
  while ((len = evbuffer_get_length(in)) > 0) {
    struct evbuffer_iovec v;
    if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
    se->bytes_read += v.iov_len;
    ssize_t rv = nghttp2_session_mem_recv(se->ngh, v.iov_base, v.iov_len);
    if (rv < 0) {
      h2lua_queue(rt, H2LUA_EV_SESSION_ERROR, NULL, se, NULL, rv, 0);
      /* A bad preface gets nothing; other errors a GOAWAY if possible
         (a callback may have chosen its code already). */
      if (rv != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
        nghttp2_session_terminate_session(se->ngh, NGHTTP2_PROTOCOL_ERROR);
        send_final(se);
      }
      h2lua_session_teardown(se, NGHTTP2_PROTOCOL_ERROR);
      break;
    }
    evbuffer_drain(in, (size_t)rv);
  }
  h2lua_mark_dirty(se);
  h2lua_pump(rt);
}

/* libevent: the output buffer drained. Send more, or finish closing. */
static void on_write(struct bufferevent *bev, void *arg) {
  h2lua_session *se = arg;
  h2lua_mark_dirty(se);
  h2lua_pump(se->rt);
}

/* libevent: EOF, error or timeout on the socket. */
static void on_event(struct bufferevent *bev, short events, void *arg) {
  h2lua_session *se = arg;
  if (events & BEV_EVENT_CONNECTED) {
    se->connected = 1;
    evutil_socket_t fd = bufferevent_getfd(bev);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    h2lua_session_addresses(se, fd);
    char alpn[32] = "";
    if (se->tls) h2lua_tls_alpn(se, alpn, sizeof(alpn));
    if (se->is_client) {
      if (se->tls && strcmp(alpn, "h2") != 0) {
        const char *why = "ERR_HTTP2_ERROR the server did not agree on h2 (ALPN)";
        h2lua_queue_data(se->rt, H2LUA_EV_CONNECT_ERROR, se, 0, 0,
                         (const uint8_t *)why, strlen(why));
        h2lua_session_teardown(se, NGHTTP2_CANCEL);
      } else {
        h2lua_queue(se->rt, H2LUA_EV_CONNECT, NULL, se, NULL, 0, 0);
        h2lua_mark_dirty(se);
      }
    } else if (strcmp(alpn, "h2") == 0 && se->server) {
      h2lua_server *sv = se->server;
      if (h2lua_session_start(se, sv->opt, sv->settings, sv->nsettings) == 0)
        h2lua_queue(se->rt, H2LUA_EV_SESSION, sv, se, NULL, 0, 0);
      else
        h2lua_session_teardown(se, NGHTTP2_INTERNAL_ERROR);
    } else if (strcmp(alpn, "http/1.1") == 0 && se->server &&
               h2lua_h1_begin(se) == 0) {
      h2lua_queue(se->rt, H2LUA_EV_SESSION, se->server, se, NULL, 1, 0);
    } else if (se->server) {
      /* TLS is up but not h2: 'unknownProtocol' decides */
      h2lua_queue(se->rt, H2LUA_EV_UNKNOWN_PROTOCOL, se->server, se, NULL, 0,
                  0);
    } else {
      h2lua_session_teardown(se, NGHTTP2_CANCEL);
    }
    h2lua_pump(se->rt);
    return;
  }
  if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
    char buf[512];
    if (se->is_client && !se->connected) {
      /* the connect failed: say why (errno, the resolver, or TLS) */
      int dns = bufferevent_socket_get_dns_error(bev);
      int err = EVUTIL_SOCKET_ERROR();
      if (se->tls && !dns && (err == 0 || bufferevent_get_openssl_error(bev) ||
                              (events & BEV_EVENT_ERROR))) {
        h2lua_tls_describe_failure(se, buf, sizeof(buf));
        if (strncmp(buf, "ERR_SSL_HANDSHAKE", 17) == 0 && err)
          snprintf(buf, sizeof(buf), "%s %s", h2lua_errno_name(err),
                   strerror(err));
      } else {
        snprintf(buf, sizeof(buf), "%s %s", h2lua_errno_name(dns ? -1 : err),
                 dns ? evutil_gai_strerror(dns) : strerror(err));
      }
      h2lua_queue_data(se->rt, H2LUA_EV_CONNECT_ERROR, se, dns ? dns : err,
                       0, (const uint8_t *)buf, strlen(buf));
    } else if (se->tls && !se->is_client && !se->connected && se->server) {
      /* a handshake that failed: 'tlsClientError' on the server */
      h2lua_tls_describe_failure(se, buf, sizeof(buf));
      h2lua_queue(se->rt, H2LUA_EV_TLS_ERROR, se->server, se, NULL, 0, 0);
      h2lua_event *ev = &se->rt->ev[se->rt->ev_len - 1];
      ev->data = strdup(buf);
      ev->datalen = ev->data ? strlen(buf) : 0;
    }
    h2lua_session_teardown(se, NGHTTP2_CANCEL);
    h2lua_pump(se->rt);
  }
}

static void addr_string(struct sockaddr *sa, char *buf, size_t len, int *port,
                        int *family) {
  buf[0] = 0;
  if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &a6->sin6_addr, buf, (socklen_t)len);
    *port = ntohs(a6->sin6_port);
    *family = 6;
  } else if (sa->sa_family == AF_INET) {
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &a4->sin_addr, buf, (socklen_t)len);
    *port = ntohs(a4->sin_port);
    *family = 4;
  }
}

/* Fills in the local and remote addresses of |se| from its socket. */
void h2lua_session_addresses(h2lua_session *se, evutil_socket_t fd) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  int fam = 0, lport = 0;
  if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
    addr_string((struct sockaddr *)&ss, se->remote_addr,
                sizeof(se->remote_addr), &se->remote_port, &fam);
  sl = sizeof(ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
    addr_string((struct sockaddr *)&ss, se->local_addr,
                sizeof(se->local_addr), &lport, &fam);
  se->local_port = lport;
  se->family = fam;
}

/* Creates a session record over |bev| (server or client side); its
   nghttp2 session comes with h2lua_session_start (at once for h2c, after
   the handshake for TLS). Returns NULL when out of memory; |bev| is then
   the caller's to free. */
h2lua_session *h2lua_session_create(h2lua_rt *rt, struct bufferevent *bev,
                                    int is_client, const h2lua_limits *limits) {
  h2lua_session *se = calloc(1, sizeof(*se));
  if (se == NULL) return NULL;
  se->rt = rt;
  se->bev = bev;
  se->is_client = is_client;
  se->lua_ref = LUA_NOREF;
  se->limits = *limits;
  se->max_client_id = -1;
  se->mem.mem_user_data = se;
  se->mem.malloc = mem_malloc;
  se->mem.free = mem_free;
  se->mem.calloc = mem_calloc;
  se->mem.realloc = mem_realloc;
  se->start_time = h2lua_now();
  bufferevent_setcb(bev, on_read, on_write, on_event, se);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  se->refd = 1;
  rt->refs++;
  rt->n_sessions++;
  se->next = rt->sessions;
  if (rt->sessions) rt->sessions->prev = se;
  rt->sessions = se;
  return se;
}

/* Creates the nghttp2 session of |se| and queues its first SETTINGS.
   Returns 0, or an nghttp2 error code. */
int h2lua_session_start(h2lua_session *se, nghttp2_option *opt,
                        const nghttp2_settings_entry *iv, size_t niv) {
  int rv = se->is_client ? nghttp2_session_client_new3(&se->ngh,
                                                       get_callbacks(), se,
                                                       opt, &se->mem)
                         : nghttp2_session_server_new3(&se->ngh,
                                                       get_callbacks(), se,
                                                       opt, &se->mem);
  if (rv != 0) {
    se->ngh = NULL;
    return rv;
  }
  nghttp2_submit_settings(se->ngh, NGHTTP2_FLAG_NONE, iv, niv);
  h2lua_mark_dirty(se);
  return 0;
}

/* Creates a session on an accepted socket and queues EV_SESSION. Returns
   NULL (the caller closes |fd|) when out of memory. */
h2lua_session *h2lua_session_new(h2lua_server *sv, evutil_socket_t fd,
                                 struct sockaddr *addr, int socklen) {
  h2lua_rt *rt = sv->rt;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  evutil_make_socket_nonblocking(fd);
  struct bufferevent *bev;
  if (sv->tls) {
    SSL *ssl = SSL_new(sv->tls);
    if (ssl == NULL) return NULL;
    bev = bufferevent_openssl_socket_new(rt->base, fd, ssl,
                                         BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
      SSL_free(ssl);
      return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  } else {
    bev = bufferevent_socket_new(rt->base, fd, BEV_OPT_CLOSE_ON_FREE);
  }
  if (bev == NULL) return NULL;
  h2lua_session *se = h2lua_session_create(rt, bev, 0, &sv->limits);
  if (se == NULL) {
    bufferevent_setfd(bev, -1); /* the caller closes fd */
    bufferevent_free(bev);
    return NULL;
  }
  se->server = sv;
  h2lua_session_addresses(se, fd);
  if (sv->tls) {
    se->tls = 1; /* the session starts once the handshake agreed on h2 */
    return se;
  }
  se->connected = 1;
  se->sniff = 1; /* h2c or HTTP/1.1: the first bytes tell */
  return se;
}

/* Closes the socket and the nghttp2 session at once; open streams close
   with |code|. The record stays until Lua has seen its 'close'. */
void h2lua_session_teardown(h2lua_session *se, uint32_t code) {
  h2lua_rt *rt = se->rt;
  if (se->torn_down) return;
  se->torn_down = 1;
  for (h2lua_stream *st = se->streams; st; st = st->next)
    if (!st->closed) h2lua_stream_closed(st, code);
  if (se->timeout_ev) event_free(se->timeout_ev);
  se->timeout_ev = NULL;
  if (se->ngh) nghttp2_session_del(se->ngh);
  se->ngh = NULL;
  if (se->bev) bufferevent_free(se->bev);
  se->bev = NULL;
  if (se->refd) rt->refs--;
  se->refd = 0;
  if (!se->close_queued) {
    se->close_queued = 1;
    h2lua_queue(rt, H2LUA_EV_SESSION_CLOSE, NULL, se, NULL, 0, 0);
  }
}

void h2lua_session_free(h2lua_session *se) {
  h2lua_rt *rt = se->rt;
  h2lua_session_teardown(se, NGHTTP2_CANCEL);
  while (se->streams) {
    h2lua_stream *st = se->streams;
    se->streams = st->next;
    h2lua_stream_consume_headers(st, st->nhdrs); /* se's allocator */
    st->se = NULL;
    st->next = st->prev = NULL;
  }
  for (size_t i = 0; i < rt->ndirty; i++)
    if (rt->dirty[i] == se) rt->dirty[i] = NULL;
  h2lua_h1_free(se);
  if (se->box) se->box->p = NULL;
  if (!rt->closing && se->lua_ref != LUA_NOREF)
    luaL_unref(rt->L, LUA_REGISTRYINDEX, se->lua_ref);
  if (se->prev) se->prev->next = se->next;
  else rt->sessions = se->next;
  if (se->next) se->next->prev = se->prev;
  rt->n_sessions--;
  free(se);
}

/* ---- Lua functions on sessions ---- */

static h2lua_session *live_session(lua_State *L) {
  h2lua_session *se = h2lua_check_box(L, 1, H2LUA_MAGIC_SESSION, "session");
  return (se && !se->torn_down && se->ngh) ? se : NULL;
}

/* core.session_goaway(box, code, last_id, opaque) -> bool */
static int lsession_goaway(lua_State *L) {
  h2lua_session *se = live_session(L);
  uint32_t code = (uint32_t)luaL_optinteger(L, 2, NGHTTP2_NO_ERROR);
  size_t olen = 0;
  const char *opaque = luaL_optlstring(L, 4, NULL, &olen);
  if (se == NULL) return 0;
  int32_t last = lua_isnoneornil(L, 3)
                     ? nghttp2_session_get_last_proc_stream_id(se->ngh)
                     : (int32_t)luaL_checkinteger(L, 3);
  int rv = nghttp2_submit_goaway(se->ngh, NGHTTP2_FLAG_NONE, last, code,
                                 (const uint8_t *)opaque, olen);
  h2lua_mark_dirty(se);
  lua_pushboolean(L, rv == 0);
  return 1;
}

/* core.session_close(box) -> nil: GOAWAY(NO_ERROR), then end once the
   open streams are done */
static int lsession_close(lua_State *L) {
  h2lua_session *se = live_session(L);
  if (se == NULL || se->closing) return 0;
  se->closing = 1;
  nghttp2_submit_goaway(se->ngh, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(se->ngh),
                        NGHTTP2_NO_ERROR, NULL, 0);
  /* no more requests will be read past the GOAWAY's last stream */
  h2lua_mark_dirty(se);
  return 0;
}

/* core.session_destroy(box, code) -> nil: GOAWAY(code) if a code other
   than NO_ERROR is given, then tear down now */
static int lsession_destroy(lua_State *L) {
  h2lua_session *se = h2lua_check_box(L, 1, H2LUA_MAGIC_SESSION, "session");
  uint32_t code = (uint32_t)luaL_optinteger(L, 2, NGHTTP2_NO_ERROR);
  if (se == NULL || se->torn_down) return 0;
  if (se->ngh == NULL) { /* no HTTP/2 on it: just close */
    h2lua_session_teardown(se, NGHTTP2_CANCEL);
    return 0;
  }
  nghttp2_session_terminate_session(se->ngh, code);
  send_final(se);
  h2lua_session_teardown(se, code == NGHTTP2_NO_ERROR ? NGHTTP2_CANCEL : code);
  return 0;
}

/* core.session_ref(box, on) -> nil */
static int lsession_ref(lua_State *L) {
  h2lua_session *se = h2lua_check_box(L, 1, H2LUA_MAGIC_SESSION, "session");
  if (se && se->torn_down) se = NULL;
  int on = lua_toboolean(L, 2);
  if (se && on != se->refd) {
    se->rt->refs += on ? 1 : -1;
    se->refd = on;
  }
  return 0;
}

/* core.session_alive(box) -> bool */
static int lsession_alive(lua_State *L) {
  lua_pushboolean(L, live_session(L) != NULL);
  return 1;
}

/* core.session_settings(box, id1, v1, ...) -> 0 | nghttp2 error */
static int lsession_settings(lua_State *L) {
  h2lua_session *se = live_session(L);
  nghttp2_settings_entry iv[H2LUA_MAX_SETTINGS];
  size_t n = h2lua_check_settings(L, 2, iv);
  if (se == NULL) {
    lua_pushinteger(L, NGHTTP2_ERR_INVALID_STATE);
    return 1;
  }
  int rv = nghttp2_submit_settings(se->ngh, NGHTTP2_FLAG_NONE, iv, n);
  h2lua_mark_dirty(se);
  lua_pushinteger(L, rv);
  return 1;
}

/* core.session_ping(box, payload8) -> 0 | nghttp2 error */
static int lsession_ping(lua_State *L) {
  h2lua_session *se = live_session(L);
  size_t len;
  const char *payload = luaL_checklstring(L, 2, &len);
  if (se == NULL || len != 8) {
    lua_pushinteger(L, NGHTTP2_ERR_INVALID_STATE);
    return 1;
  }
  int rv = nghttp2_submit_ping(se->ngh, NGHTTP2_FLAG_NONE,
                               (const uint8_t *)payload);
  h2lua_mark_dirty(se);
  lua_pushinteger(L, rv);
  return 1;
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* core.session_state(box) -> table of Node's session.state fields | nil */
static int lsession_state(lua_State *L) {
  h2lua_session *se = live_session(L);
  if (se == NULL) return 0;
  nghttp2_session *n = se->ngh;
  lua_createtable(L, 0, 9);
  set_int(L, "effectiveLocalWindowSize",
          nghttp2_session_get_effective_local_window_size(n));
  set_int(L, "effectiveRecvDataLength",
          nghttp2_session_get_effective_recv_data_length(n));
  set_int(L, "nextStreamID", nghttp2_session_get_next_stream_id(n));
  set_int(L, "localWindowSize", nghttp2_session_get_local_window_size(n));
  set_int(L, "lastProcStreamID", nghttp2_session_get_last_proc_stream_id(n));
  set_int(L, "remoteWindowSize", nghttp2_session_get_remote_window_size(n));
  set_int(L, "outboundQueueSize",
          (lua_Integer)nghttp2_session_get_outbound_queue_size(n));
  set_int(L, "deflateDynamicTableSize",
          (lua_Integer)nghttp2_session_get_hd_deflate_dynamic_table_size(n));
  set_int(L, "inflateDynamicTableSize",
          (lua_Integer)nghttp2_session_get_hd_inflate_dynamic_table_size(n));
  return 1;
}

/* core.session_get_settings(box, remote) -> table of the seven settings in
   effect (local: acknowledged by the peer) | nil */
static int lsession_get_settings(lua_State *L) {
  h2lua_session *se = live_session(L);
  int remote = lua_toboolean(L, 2);
  if (se == NULL) return 0;
  static const struct { const char *name; int id; int boolean; } ids[] = {
      {"headerTableSize", NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 0},
      {"enablePush", NGHTTP2_SETTINGS_ENABLE_PUSH, 1},
      {"initialWindowSize", NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0},
      {"maxFrameSize", NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 0},
      {"maxConcurrentStreams", NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0},
      {"maxHeaderListSize", NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 0},
      {"enableConnectProtocol", NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
  };
  lua_createtable(L, 0, 8);
  for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
    uint32_t v = remote
                     ? nghttp2_session_get_remote_settings(
                           se->ngh, (nghttp2_settings_id)ids[i].id)
                     : nghttp2_session_get_local_settings(
                           se->ngh, (nghttp2_settings_id)ids[i].id);
    if (ids[i].boolean) lua_pushboolean(L, v != 0);
    else lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, ids[i].name);
  }
  return 1;
}

/* core.session_window(box, size) -> 0 | nghttp2 error: the connection's
   local window */
static int lsession_window(lua_State *L) {
  h2lua_session *se = live_session(L);
  int32_t size = (int32_t)luaL_checkinteger(L, 2);
  if (se == NULL) {
    lua_pushinteger(L, NGHTTP2_ERR_INVALID_STATE);
    return 1;
  }
  int rv = nghttp2_session_set_local_window_size(se->ngh, NGHTTP2_FLAG_NONE,
                                                 0, size);
  h2lua_mark_dirty(se);
  lua_pushinteger(L, rv);
  return 1;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg) {
  h2lua_session *se = arg;
  double idle = h2lua_now() - se->last_activity;
  double left = se->timeout_ms - idle;
  if (left <= 0) {
    h2lua_queue(se->rt, H2LUA_EV_SESSION_TIMEOUT, NULL, se, NULL, 0, 0);
    se->last_activity = h2lua_now();
    left = se->timeout_ms;
  }
  struct timeval tv = {(time_t)(left / 1000),
                       (suseconds_t)((left - (double)(time_t)(left / 1000) *
                                                 1000) * 1000)};
  evtimer_add(se->timeout_ev, &tv);
  h2lua_pump(se->rt);
}

/* core.session_timeout(box, ms) -> nil: 'timeout' after ms without bytes
   in or out; 0 turns it off */
static int lsession_timeout(lua_State *L) {
  h2lua_session *se = live_session(L);
  lua_Number ms = luaL_checknumber(L, 2);
  if (se == NULL) return 0;
  se->timeout_ms = ms;
  if (ms <= 0) {
    if (se->timeout_ev) evtimer_del(se->timeout_ev);
    return 0;
  }
  if (se->timeout_ev == NULL)
    se->timeout_ev = evtimer_new(se->rt->base, on_timeout, se);
  se->last_activity = h2lua_now();
  struct timeval tv = {(time_t)(ms / 1000),
                       (suseconds_t)((ms - (double)(time_t)(ms / 1000) * 1000) *
                                     1000)};
  evtimer_add(se->timeout_ev, &tv);
  return 0;
}

/* core.session_metrics(box) -> the counters of the 'Http2Session'
   performance entry */
static int lsession_metrics(lua_State *L) {
  h2lua_session *se = h2lua_check_box(L, 1, H2LUA_MAGIC_SESSION, "session");
  if (se == NULL) return 0;
  lua_createtable(L, 0, 8);
  set_int(L, "bytesRead", (lua_Integer)se->bytes_read);
  set_int(L, "bytesWritten", (lua_Integer)se->bytes_written);
  set_int(L, "framesReceived", (lua_Integer)se->frames_received);
  set_int(L, "framesSent", (lua_Integer)se->frames_sent);
  set_int(L, "maxConcurrentStreams", se->max_concurrent);
  set_int(L, "streamCount", se->stream_count);
  lua_pushnumber(L, se->start_time);
  lua_setfield(L, -2, "startTime");
  return 1;
}

/* core.session_altsvc(box, stream_id, origin, value) -> 0 | error */
static int lsession_altsvc(lua_State *L) {
  h2lua_session *se = live_session(L);
  int32_t id = (int32_t)luaL_checkinteger(L, 2);
  size_t olen, vlen;
  const char *origin = luaL_checklstring(L, 3, &olen);
  const char *value = luaL_checklstring(L, 4, &vlen);
  if (se == NULL) {
    lua_pushinteger(L, NGHTTP2_ERR_INVALID_STATE);
    return 1;
  }
  int rv = nghttp2_submit_altsvc(se->ngh, NGHTTP2_FLAG_NONE, id,
                                 (const uint8_t *)origin, olen,
                                 (const uint8_t *)value, vlen);
  h2lua_mark_dirty(se);
  lua_pushinteger(L, rv);
  return 1;
}

/* core.session_origin(box, origin1, ...) -> 0 | error: an ORIGIN frame */
static int lsession_origin(lua_State *L) {
  h2lua_session *se = live_session(L);
  int n = lua_gettop(L) - 1;
  nghttp2_origin_entry ov[64];
  if (n > 64) n = 64;
  for (int i = 0; i < n; i++) {
    size_t len;
    ov[i].origin = (uint8_t *)luaL_checklstring(L, 2 + i, &len);
    ov[i].origin_len = len;
  }
  if (se == NULL) {
    lua_pushinteger(L, NGHTTP2_ERR_INVALID_STATE);
    return 1;
  }
  int rv = nghttp2_submit_origin(se->ngh, NGHTTP2_FLAG_NONE, ov, (size_t)n);
  h2lua_mark_dirty(se);
  lua_pushinteger(L, rv);
  return 1;
}

const luaL_Reg h2lua_session_funcs[] = {
    {"session_altsvc", lsession_altsvc},
    {"session_origin", lsession_origin},
    {"session_settings", lsession_settings},
    {"session_ping", lsession_ping},
    {"session_state", lsession_state},
    {"session_get_settings", lsession_get_settings},
    {"session_window", lsession_window},
    {"session_timeout", lsession_timeout},
    {"session_metrics", lsession_metrics},
    {"session_goaway", lsession_goaway},
    {"session_close", lsession_close},
    {"session_destroy", lsession_destroy},
    {"session_ref", lsession_ref},
    {"session_alive", lsession_alive},
    {NULL, NULL},
};
