/*
 * Stream records. Owns the h2lua_stream records and their pool.
 */
#include "stream.h"

#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Records are recycled with their buffers: once the pool is warm, a
   request through the common path allocates no C memory for its stream. */
#define STREAM_POOL_MAX 256

static void pool_free(h2lua_rt *rt);

static void destroy(h2lua_stream *st) {
  h2lua_hblock_free(&st->hdrs);
  evbuffer_free(st->in);
  evbuffer_free(st->out);
  free(st);
}

static void link_home(h2lua_stream *st, h2lua_stream_home *home) {
  st->home = home;
  st->prev = NULL;
  st->next = home->streams;
  if (home->streams) home->streams->prev = st;
  home->streams = st;
}

static void unlink_home(h2lua_stream *st) {
  h2lua_stream_home *home = st->home;
  if (home == NULL) return;
  if (st->prev) st->prev->next = st->next;
  else home->streams = st->next;
  if (st->next) st->next->prev = st->prev;
  home->buffered -= evbuffer_get_length(st->in) + st->out_mem;
  st->out_mem = 0;
  st->next = st->prev = NULL;
  st->home = NULL;
}

h2lua_stream *h2lua_stream_new(h2lua_rt *rt, h2lua_session *se,
                               h2lua_stream_home *home, int32_t id) {
  h2lua_stream *st = rt->stream_pool;
  if (st) {
    rt->stream_pool = st->next;
    rt->nstream_pool--;
    struct evbuffer *in = st->in, *out = st->out;
    h2lua_hblock hdrs = st->hdrs;
    memset(st, 0, offsetof(h2lua_stream, authority));
    st->authority[0] = 0;
    st->in = in;
    st->out = out;
    st->hdrs = hdrs;
  } else {
    st = calloc(1, sizeof(*st));
    if (st == NULL) return NULL;
    st->in = evbuffer_new();
    st->out = evbuffer_new();
    if (st->in == NULL || st->out == NULL) {
      if (st->in) evbuffer_free(st->in);
      if (st->out) evbuffer_free(st->out);
      free(st);
      return NULL;
    }
    h2lua_rt_on_close(rt, pool_free);
  }
  h2lua_handle_init(&st->h, rt, &h2lua_stream_vt, 0);
  st->se = se;
  st->id = id;
  link_home(st, home);
  rt->n_streams++;
  return st;
}

void h2lua_stream_opened(h2lua_stream *st) {
  h2lua_stream_home *home = st->home;
  st->start_time = h2lua_now();
  home->nopen++;
  home->stream_count++;
  if (home->nopen > home->max_concurrent)
    home->max_concurrent = (uint32_t)home->nopen;
}

void h2lua_stream_closed(h2lua_stream *st, uint32_t code) {
  if (st->closed) return;
  st->closed = 1;
  st->rst_code = code;
  if (st->home && st->home->nopen) st->home->nopen--;
  h2lua_event *ev = h2lua_queue_final(st->h.rt, H2LUA_EV_STREAM_CLOSE, &st->h);
  if (ev) ev->u.close.code = code;
}

void h2lua_stream_detach(h2lua_stream *st) {
  unlink_home(st);
  st->se = NULL;
}

static void drop_file(h2lua_stream *st) {
  if (st->file_left > 0) {
    close(st->file_fd);
    st->file_left = 0;
  }
}

void h2lua_stream_free(h2lua_stream *st) {
  h2lua_rt *rt = st->h.rt;
  drop_file(st);
  if (st->home && !st->closed && st->home->nopen) st->home->nopen--;
  unlink_home(st);
  h2lua_hblock_consume(&st->hdrs, st->hdrs.n);
  h2lua_handle_release(&st->h);
  rt->n_streams--;
  if (!rt->closing && rt->nstream_pool < STREAM_POOL_MAX) {
    size_t left;
    if ((left = evbuffer_get_length(st->in)) > 0) evbuffer_drain(st->in, left);
    if ((left = evbuffer_get_length(st->out)) > 0) evbuffer_drain(st->out, left);
    st->small_len = 0;
    st->next = rt->stream_pool;
    rt->stream_pool = st;
    rt->nstream_pool++;
    return;
  }
  destroy(st);
}

static void pool_free(h2lua_rt *rt) {
  while (rt->stream_pool) {
    h2lua_stream *st = rt->stream_pool;
    rt->stream_pool = st->next;
    destroy(st);
  }
  rt->nstream_pool = 0;
}

void h2lua_stream_pool_free(h2lua_rt *rt) { pool_free(rt); }

/* ---- bodies ---- */

int h2lua_stream_in_add(h2lua_stream *st, const void *p, size_t len) {
  if (st->first_byte == 0) st->first_byte = h2lua_now();
  st->bytes_read += len;
  if (evbuffer_add(st->in, p, len) != 0) return -1;
  if (st->home) st->home->buffered += len;
  if (!st->data_notified) {
    st->data_notified = 1;
    h2lua_queue(st->h.rt, H2LUA_EV_DATA, &st->h);
  }
  return 0;
}

size_t h2lua_stream_in_take(h2lua_stream *st, void *dst, size_t max) {
  int n = evbuffer_remove(st->in, dst, max);
  if (n <= 0) return 0;
  if (st->home) st->home->buffered -= (size_t)n;
  return (size_t)n;
}

/* A file body enters |out| a piece at a time: libevent maps a file
   segment whole and unmaps it only once all of it has left, so a 1 GiB
   file added at once ends up as 1 GiB of resident pages. Piece by piece,
   a stream holds at most about two pieces. */
#define FILE_PIECE ((int64_t)256 * 1024)

static int add_piece(h2lua_stream *st) {
  int64_t n = st->file_left < FILE_PIECE ? st->file_left : FILE_PIECE;
  struct evbuffer_file_segment *seg =
      evbuffer_file_segment_new(st->file_fd, (ev_off_t)st->file_off, (ev_off_t)n, 0);
  if (seg == NULL) return -1;
  /* the chain keeps its own reference; the bytes are mapped (or read) now */
  int rv = evbuffer_add_file_segment(st->out, seg, 0, (ev_off_t)n);
  evbuffer_file_segment_free(seg);
  if (rv != 0) return -1;
  st->file_off += n;
  st->file_left -= n;
  if (st->file_left == 0) close(st->file_fd);
  return 0;
}

/* Keeps a piece ahead of what the protocol takes. A piece that cannot be
   added ends the file there: the body comes out short of its
   content-length, which the peer sees as an error. */
static void refill(h2lua_stream *st) {
  while (st->file_left > 0 && evbuffer_get_length(st->out) < (size_t)FILE_PIECE) {
    if (add_piece(st) != 0) drop_file(st);
  }
}

/* Bytes that go after a file still being added: the rest of it goes into
   |out| first, whole. */
static int file_whole(h2lua_stream *st) {
  int rv = evbuffer_add_file(st->out, st->file_fd, (ev_off_t)st->file_off,
                             (ev_off_t)st->file_left);
  if (rv != 0) close(st->file_fd);
  st->file_left = 0;
  return rv;
}

int h2lua_stream_out_add(h2lua_stream *st, const void *p, size_t len) {
  if (len == 0) return 0;
  if (st->file_left > 0 && file_whole(st) != 0) return -1;
  /* a small body needs no evbuffer chain (a malloc and a free) */
  if (st->small_len + len <= sizeof(st->small) && evbuffer_get_length(st->out) == 0) {
    memcpy(st->small + st->small_len, p, len);
    st->small_len += len;
  } else if (evbuffer_add(st->out, p, len) != 0) {
    return -1;
  }
  st->out_mem += len;
  if (st->home) st->home->buffered += len;
  return 0;
}

int h2lua_stream_out_add_file(h2lua_stream *st, int fd, int64_t offset,
                              int64_t length) {
  if (st->small_len) { /* keep the order: what was written comes first */
    if (evbuffer_prepend(st->out, st->small, st->small_len) != 0) return -1;
    st->small_len = 0;
  }
  if (st->file_left > 0 && file_whole(st) != 0) {
    close(fd);
    return -1;
  }
  if (length <= 0) {
    close(fd);
    return 0;
  }
  st->file_fd = fd;
  st->file_off = offset;
  st->file_left = length;
  if (add_piece(st) != 0) {
    drop_file(st);
    return -1;
  }
  return 0;
}

/* Bytes leave the front of |out|; counted as memory first, which is exact
   for memory then file (the shape respondWithFile makes) and never
   counts more than there is. */
static void out_taken(h2lua_stream *st, size_t n) {
  size_t m = n < st->out_mem ? n : st->out_mem;
  st->out_mem -= m;
  if (st->home) st->home->buffered -= m;
}

size_t h2lua_stream_out_take(h2lua_stream *st, void *dst, size_t max) {
  size_t taken = 0;
  if (st->small_len) {
    taken = st->small_len < max ? st->small_len : max;
    memcpy(dst, st->small, taken);
    st->small_len -= taken;
    if (st->small_len) memmove(st->small, st->small + taken, st->small_len);
    dst = (char *)dst + taken;
    max -= taken;
  }
  if (st->file_left > 0) refill(st);
  if (max && evbuffer_get_length(st->out)) {
    int n = evbuffer_remove(st->out, dst, max);
    if (n > 0) taken += (size_t)n;
  }
  out_taken(st, taken);
  return taken;
}

void h2lua_stream_out_move(h2lua_stream *st, struct evbuffer *dst) {
  out_taken(st, h2lua_stream_out_len(st));
  if (st->small_len) {
    evbuffer_add(dst, st->small, st->small_len);
    st->small_len = 0;
  }
  evbuffer_add_buffer(dst, st->out);
  if (st->file_left > 0) refill(st);
}

void h2lua_stream_maybe_drain(h2lua_stream *st) {
  if (st->want_drain && h2lua_stream_out_len(st) == 0) {
    st->want_drain = 0;
    h2lua_queue(st->h.rt, H2LUA_EV_DRAIN, &st->h);
  }
}

/* ---- Lua ---- */

h2lua_sbox *h2lua_stream_object(lua_State *L, h2lua_rt *rt, h2lua_stream *st,
                                int session) {
  h2lua_sbox *sb = lua_newuserdatauv(L, sizeof(*sb), H2LUA_SUV_COUNT);
  memset(sb, 0, sizeof(*sb));
  sb->b.magic = H2LUA_MAGIC_STREAM;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->stream_mt_ref);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, session);
  lua_setiuservalue(L, -2, H2LUA_SUV_SESSION);
  if (st) {
    sb->b.p = st;
    st->h.box = &sb->b;
    sb->id = st->id;
    sb->has_id = 1;
    sb->http1 = (uint8_t)st->http1;
    sb->head = st->head_request;
    lua_pushvalue(L, -1);
    st->h.ref = h2lua_anchor(L, rt);
  }
  return sb;
}

/* Without anyone in Lua waiting for 'close', the close is written into
   the object's box: no Lua runs (the common case). */
static void close_quietly(h2lua_stream *st, uint32_t code) {
  h2lua_sbox *sb = h2lua_stream_box(st);
  if (sb == NULL) return;
  sb->closed = sb->destroyed = 1;
  sb->rst_code = code;
  sb->has_rst = 1;
  if (!st->out_eof) sb->aborted = 1; /* Node: whatever the code, if our side was open */
  sb->push_allowed = 0;
}

static int stream_deliver(h2lua_handle *h, h2lua_event *ev, lua_State *L) {
  h2lua_stream *st = (h2lua_stream *)h;
  if (ev->type != H2LUA_EV_STREAM_CLOSE || st->watched || h->rt->observe)
    return 0;
  close_quietly(st, ev->u.close.code);
  return 1;
}

static int stream_push(h2lua_handle *h, const h2lua_event *ev, lua_State *L) {
  h2lua_stream *st = (h2lua_stream *)h;
  switch (ev->type) {
  case H2LUA_EV_HEADERS:
    h2lua_push_headers(L, h->rt, &st->hdrs, ev->u.headers.npairs, 1);
    lua_pushboolean(L, ev->u.headers.end);
    return 3;
  case H2LUA_EV_TRAILERS:
    h2lua_push_headers(L, h->rt, &st->hdrs, ev->u.headers.npairs, 1);
    return 2;
  case H2LUA_EV_DATA:
    st->data_notified = 0;
    return 0;
  case H2LUA_EV_STREAM_CLOSE: {
    lua_pushinteger(L, ev->u.close.code);
    /* body bytes nobody read yet stay readable (Node keeps them) */
    size_t n = evbuffer_get_length(st->in);
    if (n == 0 || !st->lua_read) return 1;
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, n);
    h2lua_stream_in_take(st, p, n);
    luaL_pushresultsize(&b, n);
    return 2;
  }
  default:
    return 0;
  }
}

static void stream_delivered(h2lua_handle *h, h2lua_event *ev) {
  h2lua_stream *st = (h2lua_stream *)h;
  switch (ev->type) {
  case H2LUA_EV_HEADERS:
  case H2LUA_EV_TRAILERS:
    h2lua_hblock_consume(&st->hdrs, ev->u.headers.npairs);
    st->block_start = st->block_start > ev->u.headers.npairs
                          ? st->block_start - ev->u.headers.npairs : 0;
    break;
  case H2LUA_EV_STREAM_CLOSE:
    h2lua_stream_free(st);
    break;
  default:
    break;
  }
}

static void stream_flush(h2lua_handle *h) {}

static void stream_close(h2lua_handle *h) {
  h2lua_stream_free((h2lua_stream *)h);
}

const h2lua_handle_vt h2lua_stream_vt = {
    .name = "stream",
    .push = stream_push,
    .deliver = stream_deliver,
    .delivered = stream_delivered,
    .flush = stream_flush,
    .close = stream_close,
};
