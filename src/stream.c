/*
 * Streams: the record behind each request, its header buffer, the request
 * body waiting for Lua (st->in) and the response body waiting for nghttp2
 * (st->out, read by the data provider). Owns the h2lua_stream record,
 * freed after Lua saw the stream's 'close'.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Stream records are recycled with their buffers: a request through the
   hot path allocates no C memory once the pool is warm. */
#define STREAM_POOL_MAX 256

h2lua_stream *h2lua_stream_new(h2lua_session *se, int32_t id) {
  h2lua_rt *rt = se->rt;
  h2lua_stream *st = rt->free_streams;
  if (st) {
    rt->free_streams = st->next;
    rt->nfree_streams--;
    struct evbuffer *in = st->in, *out = st->out;
    nghttp2_rcbuf **hdrs = st->hdrs;
    uint8_t *flags = st->hdr_flags;
    size_t cap = st->hdrs_cap;
    memset(st, 0, sizeof(*st));
    st->in = in;
    st->out = out;
    st->hdrs = hdrs;
    st->hdr_flags = flags;
    st->hdrs_cap = cap;
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
  }
  st->se = se;
  st->id = id;
  st->lua_ref = LUA_NOREF;
  st->next = se->streams;
  if (se->streams) se->streams->prev = st;
  se->streams = st;
  rt->n_streams++;
  return st;
}

static void stream_destroy(h2lua_stream *st) {
  free(st->hdrs);
  free(st->hdr_flags);
  evbuffer_free(st->in);
  evbuffer_free(st->out);
  free(st);
}

void h2lua_stream_free(h2lua_stream *st) {
  h2lua_session *se = st->se;
  h2lua_rt *rt = se ? se->rt : NULL;
  h2lua_stream_consume_headers(st, st->nhdrs);
  if (st->box) st->box->p = NULL;
  if (se) {
    if (st->prev) st->prev->next = st->next;
    else se->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    if (!rt->closing && st->lua_ref != LUA_NOREF)
      luaL_unref(rt->L, LUA_REGISTRYINDEX, st->lua_ref);
    rt->n_streams--;
  }
  if (rt && !rt->closing && rt->nfree_streams < STREAM_POOL_MAX) {
    evbuffer_drain(st->in, evbuffer_get_length(st->in));
    evbuffer_drain(st->out, evbuffer_get_length(st->out));
    st->next = rt->free_streams;
    rt->free_streams = st;
    rt->nfree_streams++;
    return;
  }
  stream_destroy(st);
}

/* Frees the recycled records (at lua_close). */
void h2lua_stream_pool_free(h2lua_rt *rt) {
  while (rt->free_streams) {
    h2lua_stream *st = rt->free_streams;
    rt->free_streams = st->next;
    stream_destroy(st);
  }
  rt->nfree_streams = 0;
}

/* Counts |st| as open on its session (metrics, maxSessionMemory). */
void h2lua_stream_opened(h2lua_stream *st) {
  h2lua_session *se = st->se;
  st->start_time = h2lua_now();
  se->nopen++;
  se->stream_count++;
  if (se->nopen > se->max_concurrent) se->max_concurrent = (uint32_t)se->nopen;
}

/* Ties the Lua object at |obj| to |st| (which Lua made: a request, a push)
   and pushes the stream's handle box and id. */
int h2lua_stream_attach(lua_State *L, h2lua_stream *st, int obj) {
  lua_pushvalue(L, obj);
  st->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  st->box = h2lua_box_new(L, H2LUA_MAGIC_STREAM, st);
  lua_pushinteger(L, st->id);
  h2lua_mark_dirty(st->se);
  return 2;
}

/* Marks the stream closed with |code| and queues its 'close'. */
void h2lua_stream_closed(h2lua_stream *st, uint32_t code) {
  if (st->closed) return;
  st->closed = 1;
  st->rst_code = code;
  if (st->se && st->se->nopen) st->se->nopen--;
  h2lua_queue(st->se->rt, H2LUA_EV_STREAM_CLOSE, NULL, st->se, st, code, 0);
}

int h2lua_stream_add_header(h2lua_stream *st, nghttp2_rcbuf *name,
                            nghttp2_rcbuf *value, uint8_t flags) {
  if (st->nhdrs == st->hdrs_cap) {
    size_t cap = st->hdrs_cap ? st->hdrs_cap * 2 : 16;
    nghttp2_rcbuf **h = realloc(st->hdrs, cap * 2 * sizeof(*h));
    if (h == NULL) return -1;
    st->hdrs = h;
    uint8_t *f = realloc(st->hdr_flags, cap);
    if (f == NULL) return -1;
    st->hdr_flags = f;
    st->hdrs_cap = cap;
  }
  nghttp2_rcbuf_incref(name);
  nghttp2_rcbuf_incref(value);
  st->hdrs[2 * st->nhdrs] = name;
  st->hdrs[2 * st->nhdrs + 1] = value;
  st->hdr_flags[st->nhdrs] = flags;
  st->nhdrs++;
  return 0;
}

/* Drops the first |npairs| header pairs (a block Lua has been given). */
void h2lua_stream_consume_headers(h2lua_stream *st, size_t npairs) {
  if (npairs > st->nhdrs) npairs = st->nhdrs;
  for (size_t i = 0; i < npairs * 2; i++) nghttp2_rcbuf_decref(st->hdrs[i]);
  size_t rest = st->nhdrs - npairs;
  if (rest) {
    memmove(st->hdrs, st->hdrs + npairs * 2, rest * 2 * sizeof(*st->hdrs));
    memmove(st->hdr_flags, st->hdr_flags + npairs, rest);
  }
  st->nhdrs = rest;
  st->block_start = st->block_start > npairs ? st->block_start - npairs : 0;
}

/* The data provider: hands nghttp2 bytes from st->out. No bytes and no
   finish() yet: deferred until core.write/finish resumes it. */
static ssize_t on_data_read(nghttp2_session *ngh, int32_t stream_id,
                            uint8_t *buf, size_t length, uint32_t *data_flags,
                            nghttp2_data_source *source, void *user_data) {
  h2lua_stream *st = source->ptr;
  size_t avail = evbuffer_get_length(st->out);
  ssize_t n = 0;
  if (avail == 0 && !st->out_eof) {
    st->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (avail > 0) {
    n = evbuffer_remove(st->out, buf, avail < length ? avail : length);
    if (n < 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    avail -= (size_t)n;
  }
  if (avail == 0) {
    if (st->want_drain) {
      st->want_drain = 0;
      h2lua_queue(st->se->rt, H2LUA_EV_DRAIN, NULL, st->se, st, 0, 0);
    }
    if (st->out_eof) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      if (st->want_trailers) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        h2lua_queue(st->se->rt, H2LUA_EV_WANT_TRAILERS, NULL, st->se, st, 0,
                    0);
      }
    }
  }
  return n;
}

/* Fills |prd| with the provider that reads the stream's output buffer. */
void h2lua_stream_provider(h2lua_stream *st, nghttp2_data_provider *prd) {
  prd->source.ptr = st;
  prd->read_callback = on_data_read;
}

/* A stream Lua may still act on: its record exists, nghttp2 has it open
   and its session is up. */
static h2lua_stream *live_stream(lua_State *L) {
  h2lua_stream *st = h2lua_check_box(L, 1, H2LUA_MAGIC_STREAM, "stream");
  if (st == NULL || st->closed || st->se == NULL || st->se->torn_down)
    return NULL;
  return st;
}

static void resume(h2lua_stream *st) {
  if (st->deferred && st->responded) {
    st->deferred = 0;
    nghttp2_session_resume_data(st->se->ngh, st->id);
  }
  h2lua_mark_dirty(st->se);
}

/* core.respond(box, endStream, waitForTrailers, sensitive, n1, v1, ...)
   -> true | false (stream gone) | nil, nghttp2 error. Headers were
   validated in Lua; nghttp2 copies them. */
static int lstream_respond(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  int end = lua_toboolean(L, 2);
  nghttp2_nv *nva;
  size_t n;
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  h2lua_collect_nv(L, 5, 4, &nva, &n);
  st->want_trailers = lua_toboolean(L, 3);
  if (st->se->ngh == NULL) { /* HTTP/1.1 */
    h2lua_h1_respond(st, nva, n, end);
    h2lua_mark_dirty(st->se);
    lua_pushboolean(L, 1);
    return 1;
  }
  nghttp2_data_provider prd;
  h2lua_stream_provider(st, &prd);
  int rv = nghttp2_submit_response(st->se->ngh, st->id, nva, n,
                                   end ? NULL : &prd);
  if (rv != 0) {
    lua_pushnil(L);
    lua_pushinteger(L, rv);
    return 2;
  }
  st->responded = 1;
  if (end) st->out_eof = 1;
  h2lua_mark_dirty(st->se);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.info(box, sensitive, n1, v1, ...) -> bool: a 1xx HEADERS frame */
static int lstream_info(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  nghttp2_nv *nva;
  size_t n;
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  h2lua_collect_nv(L, 3, 2, &nva, &n);
  if (st->se->ngh == NULL) { /* HTTP/1.1: an interim response */
    h2lua_h1_respond(st, nva, n, 0);
    lua_pushboolean(L, 1);
    return 1;
  }
  int rv = nghttp2_submit_headers(st->se->ngh, NGHTTP2_FLAG_NONE, st->id,
                                  NULL, nva, n, NULL);
  h2lua_mark_dirty(st->se);
  lua_pushboolean(L, rv == 0);
  return 1;
}

/* core.trailers(box, sensitive, n1, v1, ...) -> bool */
static int lstream_trailers(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  nghttp2_nv *nva;
  size_t n;
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  h2lua_collect_nv(L, 3, 2, &nva, &n);
  if (st->se->ngh == NULL) { /* HTTP/1.1: chunked trailers end the body */
    h2lua_h1_finish(st, nva, n);
    lua_pushboolean(L, 1);
    return 1;
  }
  int rv = nghttp2_submit_trailer(st->se->ngh, st->id, nva, n);
  h2lua_mark_dirty(st->se);
  lua_pushboolean(L, rv == 0);
  return 1;
}

/* core.write(box, data, want_drain) -> buffered bytes | false (gone) */
static int lstream_write(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  if (st == NULL || st->out_eof) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (st->se->ngh == NULL) { /* HTTP/1.1 */
    size_t pending = h2lua_h1_write(st, data, len);
    if (lua_toboolean(L, 3)) st->want_drain = 1;
    h2lua_mark_dirty(st->se);
    lua_pushinteger(L, (lua_Integer)pending);
    return 1;
  }
  if (len) evbuffer_add(st->out, data, len);
  if (lua_toboolean(L, 3)) st->want_drain = 1;
  resume(st);
  lua_pushinteger(L, (lua_Integer)evbuffer_get_length(st->out));
  return 1;
}

/* core.finish(box[, data][, want_trailers]) -> bool: the last bytes;
   END_STREAM follows, or 'wantTrailers' when |want_trailers| */
static int lstream_finish(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  size_t len = 0;
  const char *data = luaL_optlstring(L, 2, NULL, &len);
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (lua_toboolean(L, 3)) st->want_trailers = 1;
  if (st->se->ngh == NULL) { /* HTTP/1.1 */
    if (len) h2lua_h1_write(st, data, len);
    if (st->want_trailers)
      h2lua_queue(st->se->rt, H2LUA_EV_WANT_TRAILERS, NULL, st->se, st, 0, 0);
    else
      h2lua_h1_finish(st, NULL, 0);
    h2lua_mark_dirty(st->se);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (len) evbuffer_add(st->out, data, len);
  st->out_eof = 1;
  resume(st);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.want_drain(box) -> nil: queue 'drain' when st->out empties */
static int lstream_want_drain(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  if (st == NULL) return 0;
  if (st->se->ngh == NULL) {
    if (h2lua_h1_want_drain(st))
      h2lua_queue(st->se->rt, H2LUA_EV_DRAIN, NULL, st->se, st, 0, 0);
    return 0;
  }
  st->want_drain = 1;
  if (evbuffer_get_length(st->out) == 0) {
    st->want_drain = 0;
    h2lua_queue(st->se->rt, H2LUA_EV_DRAIN, NULL, st->se, st, 0, 0);
  }
  return 0;
}

/* core.read(box) -> string | nil: all body bytes received so far, whose
   stream window is given back to the peer now */
static int lstream_read(lua_State *L) {
  h2lua_stream *st = h2lua_check_box(L, 1, H2LUA_MAGIC_STREAM, "stream");
  if (st == NULL) return 0;
  size_t len = evbuffer_get_length(st->in);
  st->data_notified = 0;
  if (len == 0) return 0;
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, len);
  evbuffer_remove(st->in, p, len);
  luaL_pushresultsize(&b, len);
  if (!st->closed && st->se && !st->se->torn_down) {
    if (st->se->ngh) nghttp2_session_consume_stream(st->se->ngh, st->id, len);
    else h2lua_h1_consumed(st);
    h2lua_mark_dirty(st->se);
  }
  return 1;
}

/* core.rst(box, code) -> bool: RST_STREAM(code) */
static int lstream_rst(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  uint32_t code = (uint32_t)luaL_optinteger(L, 2, NGHTTP2_NO_ERROR);
  if (st == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (st->se->ngh == NULL) { /* HTTP/1.1 has no reset: close */
    h2lua_h1_abort(st);
    lua_pushboolean(L, 1);
    return 1;
  }
  int rv = nghttp2_submit_rst_stream(st->se->ngh, NGHTTP2_FLAG_NONE, st->id,
                                     code);
  h2lua_mark_dirty(st->se);
  lua_pushboolean(L, rv == 0);
  return 1;
}

/* core.buffered(box) -> bytes waiting in the outgoing buffer */
static int lstream_buffered(lua_State *L) {
  h2lua_stream *st = h2lua_check_box(L, 1, H2LUA_MAGIC_STREAM, "stream");
  lua_pushinteger(L, st ? (lua_Integer)evbuffer_get_length(st->out) : 0);
  return 1;
}

/* core.stream_alive(box) -> bool */
static int lstream_alive(lua_State *L) {
  lua_pushboolean(L, live_stream(L) != NULL);
  return 1;
}

/* core.stream_state(box) -> table of Node's stream.state fields | nil */
static int lstream_state(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  if (st == NULL || st->se->ngh == NULL) return 0;
  nghttp2_session *n = st->se->ngh;
  nghttp2_stream *ns = nghttp2_session_find_stream(n, st->id);
  if (ns == NULL) return 0;
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, nghttp2_stream_get_state(ns));
  lua_setfield(L, -2, "state");
  lua_pushinteger(L, nghttp2_stream_get_weight(ns));
  lua_setfield(L, -2, "weight");
  lua_pushinteger(L, nghttp2_stream_get_sum_dependency_weight(ns));
  lua_setfield(L, -2, "sumDependencyWeight");
  lua_pushinteger(L, nghttp2_session_get_stream_local_close(n, st->id));
  lua_setfield(L, -2, "localClose");
  lua_pushinteger(L, nghttp2_session_get_stream_remote_close(n, st->id));
  lua_setfield(L, -2, "remoteClose");
  lua_pushinteger(L, nghttp2_session_get_stream_local_window_size(n, st->id));
  lua_setfield(L, -2, "localWindowSize");
  return 1;
}

/* core.stream_priority(box, parent, weight, exclusive) -> 0 | error */
static int lstream_priority(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  int32_t parent = (int32_t)luaL_checkinteger(L, 2);
  int32_t weight = (int32_t)luaL_checkinteger(L, 3);
  int exclusive = lua_toboolean(L, 4);
  if (st == NULL || st->se->ngh == NULL) {
    lua_pushinteger(L, NGHTTP2_ERR_INVALID_STATE);
    return 1;
  }
  nghttp2_priority_spec spec;
  nghttp2_priority_spec_init(&spec, parent, weight, exclusive);
  int rv = nghttp2_submit_priority(st->se->ngh, NGHTTP2_FLAG_NONE, st->id,
                                   &spec);
  h2lua_mark_dirty(st->se);
  lua_pushinteger(L, rv);
  return 1;
}

/* core.stream_metrics(box) -> the 'Http2Stream' performance entry's raw
   numbers (times on the monotonic clock, 0 when it did not happen) */
static int lstream_metrics(lua_State *L) {
  h2lua_stream *st = h2lua_check_box(L, 1, H2LUA_MAGIC_STREAM, "stream");
  if (st == NULL) return 0;
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, (lua_Integer)st->bytes_read);
  lua_setfield(L, -2, "bytesRead");
  lua_pushinteger(L, (lua_Integer)st->bytes_written);
  lua_setfield(L, -2, "bytesWritten");
  lua_pushnumber(L, st->start_time);
  lua_setfield(L, -2, "startTime");
  lua_pushnumber(L, st->first_header);
  lua_setfield(L, -2, "firstHeader");
  lua_pushnumber(L, st->first_byte);
  lua_setfield(L, -2, "firstByte");
  lua_pushnumber(L, st->first_byte_sent);
  lua_setfield(L, -2, "firstByteSent");
  return 1;
}

/* core.push(parent_box, stream_obj, endStream, sensitive, n1, v1, ...)
   -> box, id | nil, nghttp2 error: a PUSH_PROMISE on the parent stream
   and the record of the promised one */
static int lstream_push(lua_State *L) {
  h2lua_stream *parent = live_stream(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  int end = lua_toboolean(L, 3);
  nghttp2_nv *nva;
  size_t n;
  if (parent == NULL || parent->se->ngh == NULL) {
    lua_pushnil(L);
    lua_pushinteger(L, NGHTTP2_ERR_STREAM_CLOSED);
    return 2;
  }
  h2lua_session *se = parent->se;
  h2lua_collect_nv(L, 5, 4, &nva, &n);
  h2lua_stream *st = h2lua_stream_new(se, 0);
  if (st == NULL) return luaL_error(L, "out of memory");
  int32_t id = nghttp2_submit_push_promise(se->ngh, NGHTTP2_FLAG_NONE,
                                           parent->id, nva, n, st);
  if (id < 0) {
    h2lua_stream_free(st);
    lua_pushnil(L);
    lua_pushinteger(L, id);
    return 2;
  }
  st->id = id;
  st->remote_ended = 1; /* a pushed request has no body */
  if (end) st->out_eof = 1;
  h2lua_stream_opened(st);
  return h2lua_stream_attach(L, st, 2);
}

/* core.file_stat(path | file | fd) -> size, mtime (s), is_regular |
   nil, errname, message */
static int lstream_file_stat(lua_State *L) {
  struct stat sb;
  int rv;
  luaL_Stream *f = luaL_testudata(L, 1, LUA_FILEHANDLE);
  if (f) rv = (f->closef == NULL) ? (errno = EBADF, -1) : fstat(fileno(f->f), &sb);
  else if (lua_isinteger(L, 1)) rv = fstat((int)lua_tointeger(L, 1), &sb);
  else rv = stat(luaL_checkstring(L, 1), &sb);
  if (rv != 0) {
    int err = errno;
    lua_pushnil(L);
    lua_pushstring(L, err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES"
                      : err == EBADF ? "EBADF" : h2lua_errno_name(err));
    lua_pushstring(L, strerror(err));
    return 3;
  }
  lua_pushinteger(L, (lua_Integer)sb.st_size);
  lua_pushinteger(L, (lua_Integer)sb.st_mtime);
  lua_pushboolean(L, S_ISREG(sb.st_mode));
  return 3;
}

/* core.add_file(box, path | file | fd, offset, length) -> true | nil,
   errname: queues |length| bytes of the file (the data provider copies
   them out as nghttp2 asks; a given descriptor is duplicated, not
   taken) */
static int lstream_add_file(lua_State *L) {
  h2lua_stream *st = live_stream(L);
  lua_Integer offset = luaL_checkinteger(L, 3);
  lua_Integer length = luaL_checkinteger(L, 4);
  if (st == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, "ERR_HTTP2_INVALID_STREAM");
    return 2;
  }
  int fd;
  luaL_Stream *f = luaL_testudata(L, 2, LUA_FILEHANDLE);
  if (f) fd = f->closef ? dup(fileno(f->f)) : -1;
  else if (lua_isinteger(L, 2)) fd = dup((int)lua_tointeger(L, 2));
  else fd = open(luaL_checkstring(L, 2), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    lua_pushnil(L);
    lua_pushstring(L, h2lua_errno_name(errno));
    return 2;
  }
  if (length > 0 && evbuffer_add_file(st->out, fd, (ev_off_t)offset,
                                      (ev_off_t)length) != 0) {
    close(fd);
    lua_pushnil(L);
    lua_pushstring(L, "EIO");
    return 2;
  }
  if (length <= 0) close(fd);
  lua_pushboolean(L, 1);
  return 1;
}

const luaL_Reg h2lua_stream_funcs[] = {
    {"file_stat", lstream_file_stat},
    {"add_file", lstream_add_file},
    {"push", lstream_push},
    {"stream_state", lstream_state},
    {"stream_priority", lstream_priority},
    {"stream_metrics", lstream_metrics},
    {"respond", lstream_respond},
    {"info", lstream_info},
    {"trailers", lstream_trailers},
    {"write", lstream_write},
    {"finish", lstream_finish},
    {"want_drain", lstream_want_drain},
    {"read", lstream_read},
    {"rst", lstream_rst},
    {"buffered", lstream_buffered},
    {"stream_alive", lstream_alive},
    {NULL, NULL},
};
