/*
 * The frame trace. One walk over a frame (describe) feeds two sinks: the
 * printer, which writes a line in the spirit of `nghttp -v` to stderr,
 * and the encoder, which packs the same fields into an event's blob for
 * Lua's 'frame' event (decoded by h2lua_trace_push). Received header
 * fields are read from the stream record h2.c keeps them in, so the hot
 * path (on_header) knows nothing of the trace.
 */
#include "trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "stream.h"
#include "util.h"

/* ---- names ---- */

static const char *const type_names[] = {
    "DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE",
    "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION", "ALTSVC",
};

static const char *type_name(uint8_t t) {
  if (t < sizeof type_names / sizeof type_names[0]) return type_names[t];
  if (t == NGHTTP2_ORIGIN) return "ORIGIN";
  if (t == NGHTTP2_PRIORITY_UPDATE) return "PRIORITY_UPDATE";
  return "UNKNOWN";
}

static const char *const code_names[] = {
    "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
    "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
};

static const char *code_name(uint32_t c) {
  return c < sizeof code_names / sizeof code_names[0] ? code_names[c] : "UNKNOWN";
}

static const char *setting_name(int32_t id) {
  switch (id) {
  case NGHTTP2_SETTINGS_HEADER_TABLE_SIZE: return "SETTINGS_HEADER_TABLE_SIZE";
  case NGHTTP2_SETTINGS_ENABLE_PUSH: return "SETTINGS_ENABLE_PUSH";
  case NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS: return "SETTINGS_MAX_CONCURRENT_STREAMS";
  case NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE: return "SETTINGS_INITIAL_WINDOW_SIZE";
  case NGHTTP2_SETTINGS_MAX_FRAME_SIZE: return "SETTINGS_MAX_FRAME_SIZE";
  case NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE: return "SETTINGS_MAX_HEADER_LIST_SIZE";
  case NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL: return "SETTINGS_ENABLE_CONNECT_PROTOCOL";
  case NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES: return "SETTINGS_NO_RFC7540_PRIORITIES";
  default: return "SETTINGS_UNKNOWN";
  }
}

/* The flags that frame type |t| defines, in the order nghttp -v lists them. */
static size_t flag_names(uint8_t t, uint8_t f, const char *out[4]) {
  size_t n = 0;
  switch (t) {
  case NGHTTP2_DATA:
    if (f & NGHTTP2_FLAG_END_STREAM) out[n++] = "END_STREAM";
    if (f & NGHTTP2_FLAG_PADDED) out[n++] = "PADDED";
    break;
  case NGHTTP2_HEADERS:
    if (f & NGHTTP2_FLAG_END_STREAM) out[n++] = "END_STREAM";
    if (f & NGHTTP2_FLAG_END_HEADERS) out[n++] = "END_HEADERS";
    if (f & NGHTTP2_FLAG_PADDED) out[n++] = "PADDED";
    if (f & NGHTTP2_FLAG_PRIORITY) out[n++] = "PRIORITY";
    break;
  case NGHTTP2_PUSH_PROMISE:
  case NGHTTP2_CONTINUATION:
    if (f & NGHTTP2_FLAG_END_HEADERS) out[n++] = "END_HEADERS";
    if (t == NGHTTP2_PUSH_PROMISE && (f & NGHTTP2_FLAG_PADDED)) out[n++] = "PADDED";
    break;
  case NGHTTP2_SETTINGS:
  case NGHTTP2_PING:
    if (f & NGHTTP2_FLAG_ACK) out[n++] = "ACK";
    break;
  default:
    break;
  }
  return n;
}

static const char *const state_names[] = {
    "idle", "idle", "open", "reserved (local)", "reserved (remote)",
    "half-closed (local)", "half-closed (remote)", "closed",
};

const char *h2lua_trace_state_name(int state) {
  if (state < 0 || (size_t)state >= sizeof state_names / sizeof state_names[0])
    return "unknown";
  return state_names[state];
}

int h2lua_trace_env(void) {
  static int on = -1;
  if (on < 0) {
    const char *v = getenv("H2LUA_TRACE");
    on = v && *v && strcmp(v, "0") != 0;
  }
  return on;
}

/* ---- a growing buffer ---- */

typedef struct buf {
  char *p;
  size_t len, cap;
  int failed;
} buf;

static void put(buf *b, const void *p, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (q == NULL) {
      b->failed = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  if (n > 0) memcpy(b->p + b->len, p, n);  /* p may be NULL when n is 0 (empty GOAWAY data) */
  b->len += n;
  b->p[b->len] = 0;
}

static void putf(buf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- the walk ---- */

/* How a header field was coded, as far as nghttp2 lets us see. */
enum {
  HOW_NEVER = 1,        /* a never-indexed literal (NO_INDEX) */
  HOW_STATIC = 2,       /* name and value from the static table */
  HOW_STATIC_NAME = 4,  /* only the name from the static table */
};

typedef struct sink sink;
struct sink {
  void (*num)(sink *k, const char *key, int64_t v);
  void (*str)(sink *k, const char *key, const uint8_t *p, size_t n, int hex);
  void (*code)(sink *k, const char *key, uint32_t code);
  void (*setting)(sink *k, int32_t id, uint32_t v);
  void (*header)(sink *k, const uint8_t *name, size_t nl, const uint8_t *value,
                 size_t vl, int how);
  buf b;
  int colour, nfields;
};

static void describe_nv(sink *k, const nghttp2_nv *nva, size_t n) {
  for (size_t i = 0; i < n; i++)
    k->header(k, nva[i].name, nva[i].namelen, nva[i].value, nva[i].valuelen,
              (nva[i].flags & NGHTTP2_NV_FLAG_NO_INDEX) ? HOW_NEVER : 0);
}

/* The fields of a received block, kept in the stream record. */
static void describe_received(sink *k, nghttp2_session *ngh, int32_t id) {
  h2lua_stream *st = nghttp2_session_get_stream_user_data(ngh, id);
  if (st == NULL) return;
  for (size_t i = st->block_start; i < st->hdrs.n; i++) {
    const h2lua_hpair *p = &st->hdrs.pairs[i];
    int how = (p->flags & NGHTTP2_NV_FLAG_NO_INDEX) ? HOW_NEVER : 0;
    if (p->rc_name && nghttp2_rcbuf_is_static(p->rc_name))
      how |= p->rc_value && nghttp2_rcbuf_is_static(p->rc_value) ? HOW_STATIC
                                                                 : HOW_STATIC_NAME;
    k->header(k, p->name, p->namelen, p->value, p->valuelen, how);
  }
}

static void describe_hpack(sink *k, h2lua_trace_state *tr,
                           nghttp2_session *ngh, int dir) {
  size_t *last = dir == H2LUA_TRACE_SEND ? &tr->deflate : &tr->inflate;
  size_t now = dir == H2LUA_TRACE_SEND
                   ? nghttp2_session_get_hd_deflate_dynamic_table_size(ngh)
                   : nghttp2_session_get_hd_inflate_dynamic_table_size(ngh);
  k->num(k, "hpackTableSize", (int64_t)now);
  k->num(k, "hpackTableGrowth", (int64_t)now - (int64_t)*last);
  *last = now;
}

static const char *category(nghttp2_headers_category c) {
  switch (c) {
  case NGHTTP2_HCAT_REQUEST: return "request";
  case NGHTTP2_HCAT_RESPONSE: return "response";
  case NGHTTP2_HCAT_PUSH_RESPONSE: return "push response";
  default: return "headers";
  }
}

static void describe(sink *k, h2lua_trace_state *tr, nghttp2_session *ngh,
                     int dir, const nghttp2_frame *f) {
  const nghttp2_frame_hd *hd = &f->hd;
  int send = dir == H2LUA_TRACE_SEND;
  switch (hd->type) {
  case NGHTTP2_DATA:
    if (hd->flags & NGHTTP2_FLAG_PADDED) k->num(k, "padLength", (int64_t)f->data.padlen);
    break;
  case NGHTTP2_HEADERS: {
    const char *cat = category(f->headers.cat);
    k->str(k, "category", (const uint8_t *)cat, strlen(cat), 0);
    if (hd->flags & NGHTTP2_FLAG_PADDED) k->num(k, "padLength", (int64_t)f->headers.padlen);
    if (hd->flags & NGHTTP2_FLAG_PRIORITY) {
      k->num(k, "parent", f->headers.pri_spec.stream_id);
      k->num(k, "weight", f->headers.pri_spec.weight);
      k->num(k, "exclusive", f->headers.pri_spec.exclusive);
    }
    describe_hpack(k, tr, ngh, dir);
    if (send) describe_nv(k, f->headers.nva, f->headers.nvlen);
    else describe_received(k, ngh, hd->stream_id);
    break;
  }
  case NGHTTP2_PRIORITY:
    k->num(k, "parent", f->priority.pri_spec.stream_id);
    k->num(k, "weight", f->priority.pri_spec.weight);
    k->num(k, "exclusive", f->priority.pri_spec.exclusive);
    break;
  case NGHTTP2_RST_STREAM:
    k->code(k, "errorCode", f->rst_stream.error_code);
    break;
  case NGHTTP2_SETTINGS:
    for (size_t i = 0; i < f->settings.niv; i++)
      k->setting(k, f->settings.iv[i].settings_id, f->settings.iv[i].value);
    break;
  case NGHTTP2_PUSH_PROMISE:
    k->num(k, "promisedStreamId", f->push_promise.promised_stream_id);
    if (hd->flags & NGHTTP2_FLAG_PADDED) k->num(k, "padLength", (int64_t)f->push_promise.padlen);
    describe_hpack(k, tr, ngh, dir);
    if (send) describe_nv(k, f->push_promise.nva, f->push_promise.nvlen);
    else describe_received(k, ngh, f->push_promise.promised_stream_id);
    break;
  case NGHTTP2_PING:
    k->str(k, "opaqueData", f->ping.opaque_data, 8, 1);
    break;
  case NGHTTP2_GOAWAY:
    k->num(k, "lastStreamId", f->goaway.last_stream_id);
    k->code(k, "errorCode", f->goaway.error_code);
    k->str(k, "opaqueData", f->goaway.opaque_data, f->goaway.opaque_data_len, 0);
    break;
  case NGHTTP2_WINDOW_UPDATE:
    k->num(k, "windowSizeIncrement", f->window_update.window_size_increment);
    break;
  case NGHTTP2_ALTSVC: {
    const nghttp2_ext_altsvc *a = f->ext.payload;
    if (a == NULL) break;
    k->str(k, "origin", a->origin, a->origin_len, 0);
    k->str(k, "fieldValue", a->field_value, a->field_value_len, 0);
    break;
  }
  case NGHTTP2_ORIGIN: {
    const nghttp2_ext_origin *o = f->ext.payload;
    if (o == NULL) break;
    for (size_t i = 0; i < o->nov; i++)
      k->str(k, "origin", o->ov[i].origin, o->ov[i].origin_len, 0);
    break;
  }
  default:
    break;
  }
}

/* ---- the printer ---- */

#define C_RESET "\033[0m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_RECV "\033[36m"
#define C_SEND "\033[32m"
#define C_BAD "\033[31m"
#define C_NAME "\033[34m"

static void colour(sink *k, const char *c) {
  if (k->colour) put(&k->b, c, strlen(c));
}

/* Opens the parenthesised list the fields are printed in. */
static void field_sep(sink *k) {
  put(&k->b, k->nfields++ ? ", " : " (", 2);
}

static void put_escaped(buf *b, const uint8_t *p, size_t n) {
  size_t max = n > 4096 ? 4096 : n;
  for (size_t i = 0; i < max; i++) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') put(b, p + i, 1);
    else putf(b, "\\x%02x", p[i]);
  }
  if (max < n) putf(b, "...(%zu bytes)", n);
}

static void pr_num(sink *k, const char *key, int64_t v) {
  field_sep(k);
  if (strcmp(key, "hpackTableGrowth") == 0) putf(&k->b, "%s=%+lld", key, (long long)v);
  else putf(&k->b, "%s=%lld", key, (long long)v);
}

static void pr_str(sink *k, const char *key, const uint8_t *p, size_t n, int hex) {
  field_sep(k);
  putf(&k->b, "%s=", key);
  if (hex) {
    for (size_t i = 0; i < n; i++) putf(&k->b, "%02x", p[i]);
  } else {
    put(&k->b, "\"", 1);
    put_escaped(&k->b, p, n);
    put(&k->b, "\"", 1);
  }
}

static void pr_code(sink *k, const char *key, uint32_t code) {
  field_sep(k);
  putf(&k->b, "%s=%s(0x%02x)", key, code_name(code), code);
}

static void pr_setting(sink *k, int32_t id, uint32_t v) {
  put(&k->b, " ", 1);
  putf(&k->b, "[%s(0x%02x):%u]", setting_name(id), id, v);
}

static void pr_header(sink *k, const uint8_t *name, size_t nl,
                      const uint8_t *value, size_t vl, int how) {
  if (k->nfields > 0) {
    put(&k->b, ")", 1);
    k->nfields = -1; /* the list is closed */
  }
  put(&k->b, "\n          ", 11);
  colour(k, C_NAME);
  put_escaped(&k->b, name, nl);
  colour(k, C_RESET);
  put(&k->b, ": ", 2);
  put_escaped(&k->b, value, vl);
  if (how) {
    colour(k, C_DIM);
    put(&k->b, "  ;", 3);
    if (how & HOW_STATIC) put(&k->b, " static table", 13);
    if (how & HOW_STATIC_NAME) put(&k->b, " static name", 12);
    if (how & HOW_NEVER) put(&k->b, " never indexed", 14);
    colour(k, C_RESET);
  }
}

static int want_colour(void) {
  static int c = -1;
  if (c < 0) {
    const char *v = getenv("H2LUA_TRACE");
    if (v && strcmp(v, "color") == 0) c = 1;
    else if (getenv("NO_COLOR") || (v && strcmp(v, "nocolor") == 0)) c = 0;
    else c = isatty(2);
  }
  return c;
}

static void print_frame(h2lua_trace_state *tr,
                        nghttp2_session *ngh, int dir,
                        const nghttp2_frame *f, int lib_error) {
  static double t0;
  double now = h2lua_now();
  if (t0 == 0) t0 = now;
  sink k = {.num = pr_num, .str = pr_str, .code = pr_code,
            .setting = pr_setting, .header = pr_header,
            .colour = want_colour()};
  putf(&k.b, "[%8.3f] %s#%u ", (now - t0) / 1000, tr->client ? "client" : "server",
       tr->no);
  colour(&k, dir == H2LUA_TRACE_SEND ? C_SEND : dir == H2LUA_TRACE_RECV ? C_RECV : dir == H2LUA_TRACE_IGNORED ? C_DIM : C_BAD);
  put(&k.b, dir == H2LUA_TRACE_SEND ? "send" : "recv", 4);
  if (dir == H2LUA_TRACE_INVALID) put(&k.b, " invalid", 8);
  colour(&k, C_RESET);
  colour(&k, C_BOLD);
  putf(&k.b, " %s", type_name(f->hd.type));
  colour(&k, C_RESET);
  putf(&k.b, " frame <length=%zu, flags=0x%02x, stream_id=%d>", f->hd.length,
       f->hd.flags, f->hd.stream_id);
  const char *fl[4];
  size_t nf = flag_names(f->hd.type, f->hd.flags, fl);
  for (size_t i = 0; i < nf; i++) putf(&k.b, "%s%s", i ? " | " : " ; ", fl[i]);
  if (dir == H2LUA_TRACE_INVALID) {
    putf(&k.b, " ; %s", nghttp2_strerror(lib_error));
  } else if (dir == H2LUA_TRACE_IGNORED) {
    put(&k.b, " ; ignored by nghttp2", 21);
  } else {
    describe(&k, tr, ngh, dir, f);
    if (k.nfields > 0) put(&k.b, ")", 1);
  }
  put(&k.b, "\n", 1);
  if (!k.b.failed) {
    /* one write: lines of sessions and of other processes do not mix */
    ssize_t w = write(2, k.b.p, k.b.len);
    (void)w;
  }
  free(k.b.p);
}

/* ---- the encoder: records of a kind byte and its fields ---- */

static void en_key(buf *b, char kind, const char *key) {
  uint8_t n = (uint8_t)strlen(key);
  put(b, &kind, 1);
  put(b, &n, 1);
  put(b, key, n);
}

static void en_num(sink *k, const char *key, int64_t v) {
  en_key(&k->b, 'n', key);
  put(&k->b, &v, sizeof v);
}

static void en_str(sink *k, const char *key, const uint8_t *p, size_t n, int hex) {
  (void)hex;
  uint32_t len = (uint32_t)n;
  en_key(&k->b, 's', key);
  put(&k->b, &len, sizeof len);
  put(&k->b, p, n);
}

static void en_code(sink *k, const char *key, uint32_t code) {
  en_num(k, key, code);
  const char *name = code_name(code);
  en_str(k, "errorName", (const uint8_t *)name, strlen(name), 0);
}

static void en_setting(sink *k, int32_t id, uint32_t v) {
  put(&k->b, "S", 1);
  put(&k->b, &id, sizeof id);
  put(&k->b, &v, sizeof v);
}

static void en_header(sink *k, const uint8_t *name, size_t nl,
                      const uint8_t *value, size_t vl, int how) {
  uint8_t h = (uint8_t)how;
  uint32_t a = (uint32_t)nl, b = (uint32_t)vl;
  put(&k->b, "H", 1);
  put(&k->b, &h, 1);
  put(&k->b, &a, sizeof a);
  put(&k->b, name, nl);
  put(&k->b, &b, sizeof b);
  put(&k->b, value, vl);
}

typedef struct ev_head {
  int32_t stream_id, lib_error;
  uint32_t length;
  uint8_t dir, type, flags;
} ev_head;

static void queue_frame(h2lua_trace_state *tr,
                        nghttp2_session *ngh, int dir,
                        const nghttp2_frame *f, int lib_error) {
  sink k = {.num = en_num, .str = en_str, .code = en_code,
            .setting = en_setting, .header = en_header};
  ev_head hd = {.stream_id = f->hd.stream_id, .lib_error = lib_error,
                .length = (uint32_t)f->hd.length, .dir = (uint8_t)dir,
                .type = f->hd.type, .flags = f->hd.flags};
  put(&k.b, &hd, sizeof hd);
  if (dir == H2LUA_TRACE_RECV || dir == H2LUA_TRACE_SEND) describe(&k, tr, ngh, dir, f);
  h2lua_event *ev = k.b.failed ? NULL : h2lua_queue(tr->owner->rt, H2LUA_EV_FRAME, tr->owner);
  if (ev) h2lua_event_data(ev, k.b.p, k.b.len);
  free(k.b.p);
}

void h2lua_trace_frame(h2lua_trace_state *tr, unsigned what,
                       nghttp2_session *ngh, int dir,
                       const nghttp2_frame *frame, int lib_error) {
  static unsigned sessions;
  if (tr->no == 0) tr->no = ++sessions;
  /* both sinks move the HPACK sizes on: the printer gets its own copy */
  h2lua_trace_state before = *tr;
  if (what & H2LUA_TRACE_PRINT) print_frame(tr, ngh, dir, frame, lib_error);
  if (what & (H2LUA_TRACE_EVENT | H2LUA_TRACE_EARLY)) {
    h2lua_trace_state ev = before;
    queue_frame(&ev, ngh, dir, frame, lib_error);
    if (!(what & H2LUA_TRACE_PRINT)) *tr = ev; /* the events' own sizes move on */
  }
}

/* ---- the decoder (in Lua's turn) ---- */

typedef struct rd {
  const char *p, *end;
} rd;

static int take(rd *r, void *out, size_t n) {
  if ((size_t)(r->end - r->p) < n) return -1;
  if (out) memcpy(out, r->p, n);
  r->p += n;
  return 0;
}

static void push_names(lua_State *L, const char *const *names, size_t n) {
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

int h2lua_trace_push(lua_State *L, const h2lua_blob *d) {
  rd r = {d->p, d->p + d->len};
  ev_head hd;
  if (d->p == NULL || take(&r, &hd, sizeof hd) != 0) return 0;
  lua_createtable(L, 0, 8);
  lua_pushstring(L, hd.dir == H2LUA_TRACE_SEND ? "send" : "recv");
  lua_setfield(L, -2, "direction");
  if (hd.dir == H2LUA_TRACE_INVALID) {
    lua_pushstring(L, nghttp2_strerror(hd.lib_error));
    lua_setfield(L, -2, "invalid");
  } else if (hd.dir == H2LUA_TRACE_IGNORED) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "ignored");
  }
  lua_pushstring(L, type_name(hd.type));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, hd.type);
  lua_setfield(L, -2, "typeCode");
  lua_pushinteger(L, hd.stream_id);
  lua_setfield(L, -2, "streamId");
  lua_pushinteger(L, hd.flags);
  lua_setfield(L, -2, "flags");
  const char *fl[4];
  push_names(L, fl, flag_names(hd.type, hd.flags, fl));
  lua_setfield(L, -2, "flagNames");
  lua_pushinteger(L, hd.length);
  lua_setfield(L, -2, "length");
  lua_newtable(L); /* fields */
  int fields = lua_gettop(L);
  lua_Integer nset = 0, nhdr = 0, norigin = 0;
  while (r.p < r.end) {
    char kind = *r.p++;
    if (kind == 'S') {
      int32_t id;
      uint32_t v;
      if (take(&r, &id, sizeof id) || take(&r, &v, sizeof v)) break;
      if (nset == 0) {
        lua_newtable(L);
        lua_setfield(L, fields, "settings");
      }
      lua_getfield(L, fields, "settings");
      lua_createtable(L, 0, 3);
      lua_pushinteger(L, id);
      lua_setfield(L, -2, "id");
      lua_pushstring(L, setting_name(id));
      lua_setfield(L, -2, "name");
      lua_pushinteger(L, v);
      lua_setfield(L, -2, "value");
      lua_rawseti(L, -2, ++nset);
      lua_pop(L, 1);
    } else if (kind == 'H') {
      uint8_t how;
      uint32_t nl, vl;
      const char *name, *value;
      if (take(&r, &how, 1) || take(&r, &nl, sizeof nl)) break;
      name = r.p;
      if (take(&r, NULL, nl) || take(&r, &vl, sizeof vl)) break;
      value = r.p;
      if (take(&r, NULL, vl)) break;
      if (nhdr == 0) {
        lua_newtable(L);
        lua_setfield(L, fields, "headers");
      }
      lua_getfield(L, fields, "headers");
      lua_createtable(L, 0, 5);
      lua_pushlstring(L, name, nl);
      lua_setfield(L, -2, "name");
      lua_pushlstring(L, value, vl);
      lua_setfield(L, -2, "value");
      lua_pushboolean(L, how & HOW_NEVER);
      lua_setfield(L, -2, "neverIndexed");
      lua_pushboolean(L, how & HOW_STATIC);
      lua_setfield(L, -2, "staticTable");
      lua_pushboolean(L, how & (HOW_STATIC | HOW_STATIC_NAME));
      lua_setfield(L, -2, "staticName");
      lua_rawseti(L, -2, ++nhdr);
      lua_pop(L, 1);
    } else if (kind == 'n' || kind == 's') {
      uint8_t kl;
      char key[256];
      if (take(&r, &kl, 1) || take(&r, key, kl)) break;
      key[kl] = 0;
      if (kind == 'n') {
        int64_t v;
        if (take(&r, &v, sizeof v)) break;
        if (strcmp(key, "exclusive") == 0) lua_pushboolean(L, v != 0);
        else lua_pushinteger(L, (lua_Integer)v);
      } else {
        uint32_t n;
        if (take(&r, &n, sizeof n)) break;
        const char *s = r.p;
        if (take(&r, NULL, n)) break;
        lua_pushlstring(L, s, n);
      }
      if (strcmp(key, "origin") == 0 && hd.type == NGHTTP2_ORIGIN) {
        if (norigin == 0) {
          lua_newtable(L);
          lua_setfield(L, fields, "origins");
        }
        lua_getfield(L, fields, "origins");
        lua_insert(L, -2);
        lua_rawseti(L, -2, ++norigin);
        lua_pop(L, 1);
      } else {
        lua_setfield(L, fields, key);
      }
    } else {
      break;
    }
  }
  lua_settop(L, fields);
  lua_setfield(L, -2, "fields");
  return 1;
}
