/*
 * HTTP/1.1 sessions. Owns the parser state of each (freed at teardown or
 * once the connection switched to HTTP/2).
 */
#include "h1.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "h2.h"
#include "util.h"

#define H1_MAX_URL 8192
#define H1_MAX_HEADERS 100
#define H1_MAX_BUFFERED_BODY (64 * 1024) /* then reading pauses */
#define OUTPUT_THRESHOLD (64 * 1024)     /* body moves to the socket below it */
#define H1_MAX_DISCARD (64 * 1024 * 1024) /* unread body dropped before closing */

typedef struct h1_state {
  http_parser parser;
  h2lua_session *se;
  h2lua_stream *cur;     /* the request being read or answered */
  struct evbuffer *req;  /* method \0 url \0 name \0 value \0 ... */
  size_t nheaders, header_bytes, url_len;
  int last;              /* which callback ran last (LAST_*) */
  int in_trailers;       /* header callbacks now carry chunked trailers */
  int bad_field;         /* a field the parser let through breaks RFC 9112 */
  struct evbuffer *trl;  /* trailer fields: name \0 value \0 ... */
  size_t ntrailers;
  int keep_alive, head, http10;
  int chunked_out;       /* the response body is chunked */
  size_t framing;        /* chunk sizes and CRLFs queued with the body:
                            not counted as body bytes sent */
  int response_done, message_done;
  int closing;           /* close once the output is written */
  int discard;           /* answered early: the rest of the body is dropped */
  size_t discarded;
  int expect_continue, continue_sent;
  int upgraded;          /* switched to HTTP/2: free after the input loop */
  int32_t next_id;
  char h2settings[256];  /* HTTP2-Settings of an upgrade request */
  int want_upgrade;
  int draining;          /* the server closes: no request after this one */
  /* an "Upgrade: websocket" request: its stream stays open after the
     header block and, once |tunnel|, carries the connection's raw bytes
     both ways (a 101 answer), or the connection closes after its answer */
  int tunnel_req, tunnel;
} h1_state;

enum { LAST_NONE, LAST_URL, LAST_FIELD, LAST_VALUE };

static http_parser_settings settings;

static h1_state *state_of(const h2lua_session *se) {
  return se->proto == &h2lua_h1_proto ? se->ps : NULL;
}

static void respond_error(h1_state *h, int status, const char *reason) {
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "HTTP/1.1 %d %s\r\nconnection: close\r\ncontent-length: "
                   "0\r\n\r\n", status, reason);
  h2lua_conn_write(h->se->conn, buf, (size_t)n);
  h->closing = 1;
  h2lua_conn_pause_read(h->se->conn, 1);
}

/* ---- parsing ---- */

static int on_message_begin(http_parser *p) {
  h1_state *h = p->data;
  if (h->se->hb_since == 0) h->se->hb_since = h2lua_now(); /* headersTimeout */
  evbuffer_drain(h->req, evbuffer_get_length(h->req));
  h->nheaders = h->header_bytes = h->url_len = 0;
  h->last = LAST_NONE;
  h->in_trailers = 0;
  h->bad_field = 0;
  evbuffer_drain(h->trl, evbuffer_get_length(h->trl));
  h->ntrailers = 0;
  h->head = h->want_upgrade = h->tunnel_req = 0;
  h->h2settings[0] = 0;
  h->response_done = h->message_done = 0;
  h->chunked_out = 0;
  h->framing = 0;
  h->discard = 0;
  h->discarded = 0;
  h->expect_continue = h->continue_sent = 0;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  h1_state *h = p->data;
  h->url_len += len;
  if (h->url_len > H1_MAX_URL) return -1; /* 414, see h1_input */
  if (h->last == LAST_NONE) { /* the method first */
    const char *m = http_method_str((enum http_method)p->method);
    evbuffer_add(h->req, m, strlen(m) + 1);
  }
  evbuffer_add(h->req, at, len);
  h->last = LAST_URL;
  return 0;
}

static void add_lower(struct evbuffer *b, const char *at, size_t len) {
  char lower[256];
  while (len > 0) { /* names are kept lower-cased, as HTTP/2 has them */
    size_t n = len < sizeof(lower) ? len : sizeof(lower);
    for (size_t i = 0; i < n; i++)
      lower[i] = (char)((at[i] >= 'A' && at[i] <= 'Z') ? at[i] + 32 : at[i]);
    evbuffer_add(b, lower, n);
    at += n;
    len -= n;
  }
}

/* maxHeaderListSize, counted as HTTP/2 counts it: the octets of names
   and values and 32 per field. */
static int too_large(const h1_state *h) {
  return h->header_bytes > h->se->limits.max_h1_header;
}

/* Debian's http_parser is built lenient: it lets a space into field names
   and NUL or other controls into values. Node's llhttp answers 400 to
   both, and RFC 9112 says a name is a token; a NUL would also split the
   name \0 value \0 lists below in the wrong place. */
static int bad_name(const char *at, size_t len) {
  static const char tchar[] = "!#$%&'*+-.^_`|~";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)at[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          (c && strchr(tchar, c))))
      return 1;
  }
  return 0;
}

static int bad_value(const char *at, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)at[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return 1;
  }
  return 0;
}

static int reject_field(h1_state *h) {
  h->bad_field = 1;
  return -1;
}

/* Trailer fields of a chunked request (after the body): name, value. */
static int trailer_part(h1_state *h, const char *at, size_t len, int field) {
  if (field ? bad_name(at, len) : bad_value(at, len)) return reject_field(h);
  if (field && h->last != LAST_FIELD) {
    if (h->last == LAST_VALUE) evbuffer_add(h->trl, "", 1);
    h->ntrailers++;
    h->header_bytes += 32;
  }
  if (!field && h->last == LAST_FIELD) evbuffer_add(h->trl, "", 1);
  h->last = field ? LAST_FIELD : LAST_VALUE;
  h->header_bytes += len;
  if (h->ntrailers > H1_MAX_HEADERS || too_large(h)) return -1;
  if (field) add_lower(h->trl, at, len);
  else evbuffer_add(h->trl, at, len);
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  h1_state *h = p->data;
  if (h->in_trailers) return trailer_part(h, at, len, 1);
  if (bad_name(at, len)) return reject_field(h);
  if (h->last == LAST_URL || h->last == LAST_VALUE)
    evbuffer_add(h->req, "", 1); /* end of the url or of a value */
  if (h->last != LAST_FIELD) {
    h->nheaders++;
    h->header_bytes += 32;
  }
  h->last = LAST_FIELD;
  h->header_bytes += len;
  if (h->nheaders > H1_MAX_HEADERS || too_large(h)) return -1; /* 431 */
  add_lower(h->req, at, len);
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  h1_state *h = p->data;
  if (h->in_trailers) return trailer_part(h, at, len, 0);
  if (bad_value(at, len)) return reject_field(h);
  if (h->last == LAST_FIELD) evbuffer_add(h->req, "", 1); /* end of a name */
  h->last = LAST_VALUE;
  h->header_bytes += len;
  if (too_large(h)) return -1;
  evbuffer_add(h->req, at, len);
  return 0;
}

/* Walks name \0 value \0 pairs of |buf| from |p| on. */
typedef struct { const char *p, *end; } cursor;

static int next_pair(cursor *c, const char **n, size_t *nl, const char **v,
                     size_t *vl) {
  if (c->p >= c->end) return 0;
  *n = c->p;
  *nl = strlen(c->p);
  c->p += *nl + 1;
  if (c->p > c->end) return 0;
  *v = c->p < c->end ? c->p : "";
  *vl = strlen(*v);
  c->p += *vl + 1;
  return 1;
}

/* Whether the comma-separated list |v| holds |token| (any case). */
static int has_token(const char *v, const char *token) {
  size_t tl = strlen(token);
  while (*v) {
    while (*v == ' ' || *v == '\t' || *v == ',') v++;
    const char *s = v;
    while (*v && *v != ',') v++;
    const char *e = v;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0) return 1;
  }
  return 0;
}

static int is_hop(const char *n) {
  return strcmp(n, "upgrade") == 0 || strcmp(n, "http2-settings") == 0 ||
         strcmp(n, "connection") == 0;
}

/* The request as an HTTP/2 header block on |st|: pseudo-header fields
   from the request line and Host, then the fields (for an upgrade, less
   the ones that asked for it). */
static int build_block(h1_state *h, h2lua_stream *st, int scheme_https) {
  const char *buf = (const char *)evbuffer_pullup(h->req, -1);
  cursor c = {buf, buf + evbuffer_get_length(h->req)};
  const char *method = c.p;
  c.p += strlen(method) + 1;
  const char *url = c.p < c.end ? c.p : "";
  c.p += strlen(url) + 1;
  const char *host = NULL;
  size_t hostlen = 0;
  cursor f = c;
  const char *n, *v;
  size_t nl, vl;
  while (next_pair(&f, &n, &nl, &v, &vl))
    if (strcmp(n, "host") == 0 && host == NULL) {
      host = v;
      hostlen = vl;
    }
  h2lua_hblock *b = &st->hdrs;
  st->block_start = b->n;
  if (host && hostlen < sizeof(st->authority)) {
    memcpy(st->authority, host, hostlen);
    st->authority[hostlen] = 0;
  }
  if (h2lua_hblock_add_copy(b, ":method", 7, method, strlen(method)) ||
      h2lua_hblock_add_copy(b, ":path", 5, url, strlen(url)) ||
      h2lua_hblock_add_copy(b, ":scheme", 7, scheme_https ? "https" : "http",
                            scheme_https ? 5 : 4) ||
      (host && h2lua_hblock_add_copy(b, ":authority", 10, host, hostlen)))
    return -1;
  while (next_pair(&c, &n, &nl, &v, &vl)) {
    if (h->want_upgrade && is_hop(n)) continue;
    if (h2lua_hblock_add_copy(b, n, nl, v, vl)) return -1;
  }
  return 0;
}

static const char *find_header(h1_state *h, const char *name) {
  const char *buf = (const char *)evbuffer_pullup(h->req, -1);
  cursor c = {buf, buf + evbuffer_get_length(h->req)};
  for (int skip = 0; skip < 2 && c.p < c.end; skip++) c.p += strlen(c.p) + 1;
  const char *n, *v, *found = NULL;
  size_t nl, vl;
  while (next_pair(&c, &n, &nl, &v, &vl))
    if (strcmp(n, name) == 0) found = v;
  return found;
}

static int on_headers_complete(http_parser *p) {
  h1_state *h = p->data;
  h2lua_session *se = h->se;
  se->hb_since = 0;
  if (h->last == LAST_FIELD) evbuffer_add(h->req, "", 1); /* no value */
  evbuffer_add(h->req, "", 1); /* end of the url or of the last value */
  h->keep_alive = http_should_keep_alive(p) && !h->draining;
  h->http10 = p->http_major == 1 && p->http_minor == 0;
  h->head = p->method == HTTP_HEAD;
  /* RFC 7540 3.2: an upgrade needs Upgrade: h2c, HTTP2-Settings, and a
     Connection naming both; anything less is a plain HTTP/1.1 request */
  const char *up = find_header(h, "upgrade");
  const char *hs = find_header(h, "http2-settings");
  const char *conn = find_header(h, "connection");
  const char *expect = find_header(h, "expect");
  h->expect_continue = expect && strcasecmp(expect, "100-continue") == 0;
  if (up && hs && conn && strcasecmp(up, "h2c") == 0 && !se->tls &&
      has_token(conn, "upgrade") && has_token(conn, "http2-settings") &&
      p->upgrade &&
      (p->method == HTTP_GET || p->method == HTTP_HEAD ||
       p->method == HTTP_OPTIONS) &&
      strlen(hs) < sizeof(h->h2settings)) {
    h->want_upgrade = 1;
    strcpy(h->h2settings, hs);
  }
  int allow = se->cfg && se->cfg->allow_http1;
  if (!h->want_upgrade && !allow && !se->tls) return -1; /* h2c only: bad_preface */
  /* RFC 6455 4.1: a GET of HTTP/1.1 without a body; Lua checks the rest */
  if (!h->want_upgrade && up && conn && p->upgrade && has_token(up, "websocket") &&
      has_token(conn, "upgrade") && p->method == HTTP_GET &&
      p->http_major == 1 && p->http_minor >= 1 && !(p->flags & F_CHUNKED) &&
      (p->content_length == 0 || p->content_length == ULLONG_MAX)) {
    h->tunnel_req = 1;
    h->keep_alive = 0;
  }
  h2lua_stream *st = h2lua_session_stream(se, h->want_upgrade ? 1 : h->next_id);
  if (st == NULL) return -1;
  h->next_id += 2;
  h->cur = st;
  h2lua_stream_opened(st);
  st->first_header = st->start_time;
  st->head_request = h->head;
  if (build_block(h, st, se->tls) != 0) return -1;
  if (h->want_upgrade) return 1; /* no body is parsed: see upgrade() */
  st->http1 = 10 + p->http_minor;
  int bodiless = !(p->flags & F_CHUNKED) &&
                 (p->content_length == 0 || p->content_length == ULLONG_MAX);
  if (h->tunnel_req) bodiless = 0; /* the tunnel is its body */
  if (bodiless) st->remote_ended = 1;
  h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_STREAM, &se->h);
  if (ev) {
    ev->u.stream.st = st;
    ev->u.stream.npairs = st->hdrs.n - st->block_start;
    ev->u.stream.end = bodiless;
  }
  h->in_trailers = 1; /* any header fields from now on are trailers */
  h->last = LAST_NONE;
  h->header_bytes = 0; /* which are a block of their own */
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  h1_state *h = p->data;
  h2lua_stream *st = h->cur;
  if (st == NULL || st->closed) { /* answered already: dropped */
    h->discarded += len;
    if (h->discarded > H1_MAX_DISCARD) return -1; /* enough: close */
    return 0;
  }
  h2lua_stream_in_add(st, at, len);
  if (evbuffer_get_length(st->in) > H1_MAX_BUFFERED_BODY)
    h2lua_conn_pause_read(h->se->conn, 1); /* Lua is not reading */
  return 0;
}

static int on_message_complete(http_parser *p) {
  h1_state *h = p->data;
  h2lua_stream *st = h->cur;
  h->message_done = 1;
  if (h->want_upgrade) return 0; /* stream 1 of HTTP/2 now: see upgrade() */
  if (h->tunnel_req) return 0;    /* the stream goes on: see tunnel_input() */
  if (h->discard) { /* the body of a request answered early is all read */
    h->discard = 0;
    if (!h->keep_alive) h->closing = 1;
    h2lua_mark_dirty(&h->se->h);
  }
  if (st && !st->closed) {
    if (h->ntrailers) {
      if (h->last == LAST_FIELD) evbuffer_add(h->trl, "", 1); /* no value */
      evbuffer_add(h->trl, "", 1); /* the end of the last one */
      const char *buf = (const char *)evbuffer_pullup(h->trl, -1);
      cursor c = {buf, buf + evbuffer_get_length(h->trl)};
      const char *n, *v;
      size_t nl, vl;
      st->block_start = st->hdrs.n;
      while (next_pair(&c, &n, &nl, &v, &vl))
        if (h2lua_hblock_add_copy(&st->hdrs, n, nl, v, vl) != 0) break;
      h2lua_event *ev = h2lua_queue(h->se->h.rt, H2LUA_EV_TRAILERS, &st->h);
      if (ev) ev->u.headers.npairs = st->hdrs.n - st->block_start;
    }
    if (!st->remote_ended) {
      st->remote_ended = 1;
      h2lua_queue(h->se->h.rt, H2LUA_EV_END, &st->h);
    }
  }
  /* the next request waits until this one is answered */
  if (!h->response_done) http_parser_pause(p, 1);
  return 0;
}

static int b64url_decode(const char *in, uint8_t *out, size_t cap) {
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (const char *p = in; *p && *p != '='; p++) {
    int v;
    char c = *p;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-' || c == '+') v = 62;
    else if (c == '_' || c == '/') v = 63;
    else return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n >= cap) return -1;
      out[n++] = (uint8_t)(acc >> bits);
    }
  }
  return (int)n;
}

/* RFC 7540 3.2: 101, then HTTP/2 with the request as stream 1. */
static int upgrade(h1_state *h) {
  h2lua_session *se = h->se;
  uint8_t payload[192];
  int plen = b64url_decode(h->h2settings, payload, sizeof(payload));
  if (se->cfg == NULL || plen < 0) return -1;
  static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\n"
                           "connection: Upgrade\r\nupgrade: h2c\r\n\r\n";
  h2lua_conn_write(se->conn, sw, sizeof(sw) - 1);
  h2lua_stream *st = h->cur;
  h->cur = NULL;
  if (h2lua_h2_start(se, se->cfg->opt, se->cfg->settings, se->cfg->nsettings) != 0)
    return -1;
  h->upgraded = 1; /* se->ps is HTTP/2's now */
  if (h2lua_h2_upgrade(se, payload, (size_t)plen, h->head, st) != 0) return -1;
  h2lua_rt *rt = se->h.rt;
  h2lua_queue(rt, H2LUA_EV_UPGRADED, &se->h);
  h2lua_event *ev = h2lua_queue(rt, H2LUA_EV_STREAM, &se->h);
  if (ev) {
    ev->u.stream.st = st;
    ev->u.stream.npairs = st->hdrs.n - st->block_start;
    ev->u.stream.end = 1;
  }
  return 0;
}

/* An h2c-only server (no allowHTTP1, plaintext) reads HTTP/1.1 only as
   far as an "Upgrade: h2c". Anything else is a connection preface that is
   not HTTP/2's: a connection error (RFC 9113 3.4), answered as nghttp2
   answers one, with our SETTINGS and GOAWAY(PROTOCOL_ERROR), then the
   close; Lua sees the session error a bad preface gives (as in Node.js). */
static int h2c_only(const h2lua_session *se) {
  return !se->tls && !(se->cfg && se->cfg->allow_http1);
}

static void bad_preface(h1_state *h) {
  h2lua_session *se = h->se;
  if (h->cur && !h->cur->closed) h2lua_stream_closed(h->cur, NGHTTP2_CANCEL);
  h->cur = NULL;
  h2lua_event *ev = h2lua_queue(se->h.rt, H2LUA_EV_SESSION_ERROR, &se->h);
  if (ev) ev->u.error.err = NGHTTP2_ERR_BAD_CLIENT_MAGIC;
  if (se->cfg == NULL ||
      h2lua_h2_start(se, se->cfg->opt, se->cfg->settings, se->cfg->nsettings) != 0) {
    h->closing = 1; /* no HTTP/2 state (out of memory): just the close */
    h2lua_conn_pause_read(se->conn, 1);
    h2lua_mark_dirty(&se->h);
    return;
  }
  h->upgraded = 1; /* se->ps is HTTP/2's now: |h| goes after the input loop */
  h2lua_h2_destroy(se, NGHTTP2_PROTOCOL_ERROR);
}

static void h1_free(h1_state *h) {
  evbuffer_free(h->req);
  evbuffer_free(h->trl);
  free(h);
}

/* Lua has not read this much of the body: stop reading the socket. */
static int body_full(const h1_state *h) {
  return h->cur && !h->cur->closed &&
         evbuffer_get_length(h->cur->in) > H1_MAX_BUFFERED_BODY;
}

/* A tunnel's bytes go to its stream as they come (reading pauses while
   Lua has not taken 64 KiB); once the stream closed, they are dropped. */
static void tunnel_input(h2lua_session *se, h1_state *h) {
  struct evbuffer *in = h2lua_conn_input(se->conn);
  size_t len = evbuffer_get_length(in);
  h2lua_stream *st = h->cur;
  if (len && st && !st->closed)
    h2lua_stream_in_add(st, evbuffer_pullup(in, -1), len);
  evbuffer_drain(in, len);
  h2lua_conn_pause_read(se->conn, body_full(h));
}

static void parse(h2lua_session *se, h1_state *h) {
  struct evbuffer *in = h2lua_conn_input(se->conn);
  if (h->tunnel) {
    if (!h->closing && !se->torn_down) tunnel_input(se, h);
    return;
  }
  while (!h->closing && !se->torn_down) {
    if (HTTP_PARSER_ERRNO(&h->parser) == HPE_PAUSED) {
      /* pipelined requests wait, unparsed, until this one is answered;
         the connection's read watermark bounds how much of them is read
         (reading goes on below it, so a client that leaves is seen) */
      if (!h->response_done) return;
      /* nor while the answers wait for the socket: a client that sends
         requests and never reads the responses stops being read (its
         'writable' goes on from here) */
      if (h2lua_conn_output_len(se->conn) >= OUTPUT_THRESHOLD) return;
      http_parser_pause(&h->parser, 0);
    }
    if (h->response_done && h->message_done) {
      h->cur = NULL;
      h->response_done = h->message_done = 0;
    }
    if (h->draining && h->cur == NULL) {
      h->closing = 1;
      h2lua_mark_dirty(&se->h);
      return;
    }
    size_t len = evbuffer_get_length(in);
    if (len == 0) {
      h2lua_conn_pause_read(se->conn, body_full(h));
      return;
    }
    const char *data = (const char *)evbuffer_pullup(in, -1);
    size_t n = http_parser_execute(&h->parser, &settings, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&h->parser);
    if (h->want_upgrade && h->parser.upgrade && err == HPE_OK) {
      evbuffer_drain(in, n);
      if (upgrade(h) != 0) {
        if (!h->upgraded && h2c_only(se)) bad_preface(h);
        else if (!h->upgraded) respond_error(h, 400, "Bad Request");
        else h2lua_session_teardown(se, NGHTTP2_PROTOCOL_ERROR, 1);
        return;
      }
      /* the rest of the input is HTTP/2: the client's preface */
      h2lua_mark_dirty(&se->h);
      se->proto->input(se);
      return;
    }
    if (h->tunnel_req && h->parser.upgrade && err == HPE_OK) {
      evbuffer_drain(in, n); /* the parser has no part in the rest */
      h->tunnel = 1;
      tunnel_input(se, h);
      return;
    }
    if (err != HPE_OK && err != HPE_PAUSED) {
      if (h2c_only(se)) {
        bad_preface(h);
        return;
      }
      if (err == HPE_CB_url) respond_error(h, 414, "URI Too Long");
      else if (h->bad_field) respond_error(h, 400, "Bad Request");
      else if (err == HPE_CB_header_field || err == HPE_CB_header_value ||
               err == HPE_HEADER_OVERFLOW)
        respond_error(h, 431, "Request Header Fields Too Large");
      else if (err == HPE_CB_body && h->discarded > H1_MAX_DISCARD) {
        h->closing = 1; /* answered already: nothing more to say */
        return;
      } else if (err == HPE_INVALID_VERSION || err == HPE_CB_headers_complete)
        respond_error(h, 505, "HTTP Version Not Supported");
      else respond_error(h, 400, "Bad Request");
      if (h->cur && !h->cur->closed) h2lua_stream_closed(h->cur, NGHTTP2_CANCEL);
      h->cur = NULL;
      return;
    }
    evbuffer_drain(in, n);
    if (err == HPE_OK && n == len) {
      h2lua_conn_pause_read(se->conn, body_full(h));
      return; /* all consumed, more to come */
    }
  }
}

static void h1_input(h2lua_session *se) {
  h1_state *h = state_of(se);
  if (h == NULL || se->conn == NULL) return;
  parse(se, h);
  if (h->upgraded) h1_free(h);
}

/* ---- answering ---- */

static const char *reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 103: return "Early Hints";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 417: return "Expectation Failed";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return http_status_str((enum http_status)status);
  }
}

/* The response is complete: the stream closes; the next request may be
   parsed, or the connection closes once the output is out. A request
   whose body was not all read has the rest read and dropped first (as
   Node.js does: its clients write to the end), unless it waited for a
   100 Continue that never came: then it may never send the body, and the
   connection closes. */
static void response_finished(h1_state *h, h2lua_stream *st) {
  h->response_done = 1;
  if (!h->message_done && !(h->expect_continue && !h->continue_sent))
    h->discard = 1;
  else if (!h->keep_alive || !h->message_done)
    h->closing = 1;
  if (!st->closed) h2lua_stream_closed(st, NGHTTP2_NO_ERROR);
  if (h->cur == st && h->message_done) h->cur = NULL;
  h2lua_mark_dirty(&h->se->h);
}

static int h1_head(h2lua_stream *st, const nghttp2_nv *nva, size_t n, int end,
                   int *informational) {
  h2lua_session *se = st->se;
  h1_state *h = se ? state_of(se) : NULL;
  if (h == NULL || se->conn == NULL) return NGHTTP2_ERR_INVALID_STATE;
  int status = 200, has_length = 0;
  const nghttp2_nv *phrase = NULL; /* ":reason": res.statusMessage */
  struct evbuffer *out = evbuffer_new();
  if (out == NULL) return NGHTTP2_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    if (nva[i].namelen == 7 && memcmp(nva[i].name, ":status", 7) == 0)
      status = atoi((const char *)nva[i].value);
    if (nva[i].namelen == 7 && memcmp(nva[i].name, ":reason", 7) == 0)
      phrase = &nva[i];
  }
  /* a 101 is the final answer of a tunnel: raw bytes follow */
  int switching = status == 101 && h->tunnel_req && h->cur == st;
  if (status == 101 && !switching) { /* no tunnel to switch to */
    evbuffer_free(out);
    return NGHTTP2_ERR_INVALID_STATE;
  }
  *informational = status >= 100 && status < 200 && !switching;
  if (status == 100) h->continue_sent = 1;
  if (phrase && phrase->valuelen) {
    evbuffer_add_printf(out, "HTTP/1.1 %d ", status);
    evbuffer_add(out, phrase->value, phrase->valuelen);
    evbuffer_add(out, "\r\n", 2);
  } else {
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, reason(status));
  }
  for (size_t i = 0; i < n; i++) {
    if (nva[i].namelen && nva[i].name[0] == ':') continue;
    if (nva[i].namelen == 14 &&
        strncasecmp((const char *)nva[i].name, "content-length", 14) == 0)
      has_length = 1;
    evbuffer_add(out, nva[i].name, nva[i].namelen);
    evbuffer_add(out, ": ", 2);
    evbuffer_add(out, nva[i].value, nva[i].valuelen);
    evbuffer_add(out, "\r\n", 2);
  }
  int bodiless = end || h->head || status == 204 || status == 304;
  if (switching) {
    bodiless = end;
  } else if (!*informational) {
    h->chunked_out = !bodiless && !has_length && !h->http10;
    if (h->chunked_out) evbuffer_add_printf(out, "transfer-encoding: chunked\r\n");
    if (!bodiless && !has_length && h->http10) h->keep_alive = 0;
    if (!h->keep_alive) evbuffer_add_printf(out, "connection: close\r\n");
    else if (h->http10) evbuffer_add_printf(out, "connection: keep-alive\r\n");
    if (bodiless && !has_length && status != 204 && status != 304 && !h->head)
      evbuffer_add_printf(out, "content-length: 0\r\n");
  }
  evbuffer_add(out, "\r\n", 2);
  h2lua_conn_write_buffer(se->conn, out);
  evbuffer_free(out);
  if (!*informational) {
    st->responded = 1;
    if (bodiless) {
      st->out_eof = 1;
      response_finished(h, st);
    }
  }
  h2lua_mark_dirty(&se->h);
  return 0;
}

static int h1_respond(h2lua_stream *st, const nghttp2_nv *nva, size_t n,
                      int end) {
  int informational;
  return h1_head(st, nva, n, end, &informational);
}

static int h1_info(h2lua_stream *st, const nghttp2_nv *nva, size_t n) {
  int informational;
  return h1_head(st, nva, n, 0, &informational);
}

/* The end of a chunked body, with trailers when there are any. */
static int h1_trailers(h2lua_stream *st, const nghttp2_nv *nva, size_t n) {
  h2lua_session *se = st->se;
  h1_state *h = se ? state_of(se) : NULL;
  if (h == NULL || se->conn == NULL || h->cur != st) return NGHTTP2_ERR_INVALID_STATE;
  if (h->chunked_out && !h->head) {
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) return NGHTTP2_ERR_NOMEM;
    evbuffer_add(out, "0\r\n", 3);
    for (size_t i = 0; i < n; i++) {
      evbuffer_add(out, nva[i].name, nva[i].namelen);
      evbuffer_add(out, ": ", 2);
      evbuffer_add(out, nva[i].value, nva[i].valuelen);
      evbuffer_add(out, "\r\n", 2);
    }
    evbuffer_add(out, "\r\n", 2);
    h2lua_conn_write_buffer(se->conn, out);
    evbuffer_free(out);
  }
  response_finished(h, st);
  return 0;
}

/* Each write is a chunk of its own when the body is chunked, as Node.js
   writes them; a HEAD response drops the body. */
static int h1_write(h2lua_stream *st, const void *p, size_t len, int fd,
                    int64_t off) {
  h2lua_session *se = st->se;
  h1_state *h = se ? state_of(se) : NULL;
  if (h == NULL || h->cur != st || h->head || len == 0) {
    if (p == NULL) close(fd);
    return h == NULL ? -1 : 0;
  }
  if (h->chunked_out) {
    char size[24];
    int k = snprintf(size, sizeof(size), "%zx\r\n", len);
    if (h2lua_stream_out_add(st, size, (size_t)k) != 0) return -1;
    h->framing += (size_t)k + 2;
  }
  int rv = p ? h2lua_stream_out_add(st, p, len)
             : h2lua_stream_out_add_file(st, fd, off, (int64_t)len);
  if (rv == 0 && h->chunked_out) rv = h2lua_stream_out_add(st, "\r\n", 2);
  return rv;
}

static void h1_resume(h2lua_stream *st) {
  if (st->se) h2lua_mark_dirty(&st->se->h);
}

/* An RST_STREAM has no HTTP/1 form: the connection closes. */
static int h1_reset(h2lua_stream *st, uint32_t code) {
  h2lua_session *se = st->se;
  if (se == NULL || state_of(se) == NULL) return NGHTTP2_ERR_INVALID_STATE;
  h2lua_session_teardown(se, NGHTTP2_CANCEL, 0);
  return 0;
}

static void h1_consumed(h2lua_stream *st, size_t n) {
  h2lua_session *se = st->se;
  h1_state *h = se ? state_of(se) : NULL;
  if (h == NULL || se->conn == NULL || h->cur != st) return;
  if (evbuffer_get_length(st->in) < H1_MAX_BUFFERED_BODY &&
      HTTP_PARSER_ERRNO(&h->parser) != HPE_PAUSED)
    h2lua_conn_pause_read(se->conn, 0);
  h2lua_mark_dirty(&se->h); /* the parser may go on with buffered input */
}

/* The body of the current response goes to the connection while it takes
   it; then the end (last chunk), the trailers, or the next request. */
static void h1_flush(h2lua_session *se) {
  h1_state *h = state_of(se);
  if (h == NULL || se->conn == NULL) return;
  h2lua_stream *st = h->cur;
  if (st && st->responded && !h->response_done) {
    size_t len = h2lua_stream_out_len(st);
    if (len && h2lua_conn_output_len(se->conn) < OUTPUT_THRESHOLD) {
      st->bytes_written += len > h->framing ? len - h->framing : 0;
      h->framing = 0;
      if (st->first_byte_sent == 0) st->first_byte_sent = h2lua_now();
      h2lua_stream_out_move(st, bufferevent_get_output(se->conn->bev));
      len = h2lua_stream_out_len(st); /* a file's next piece, once this has gone */
    }
    if (len == 0) {
      h2lua_stream_maybe_drain(st);
      if (st->out_eof) {
        if (st->want_trailers) {
          if (!st->trailers_asked) {
            st->trailers_asked = 1;
            h2lua_queue(se->h.rt, H2LUA_EV_WANT_TRAILERS, &st->h);
          }
        } else {
          h1_trailers(st, NULL, 0);
        }
      }
    }
  }
  if (h->closing) { /* the connection closes after what is queued */
    h2lua_session_teardown(se, NGHTTP2_NO_ERROR, 1);
    return;
  }
  if (h->response_done) parse(se, h);
  if (h->upgraded) h1_free(h);
}

void h2lua_h1_close(h2lua_session *se) {
  h1_state *h = state_of(se);
  if (h == NULL || h->draining) return;
  h->draining = 1;
  if (h->cur && !h->cur->responded) h->keep_alive = 0;
  if (h->cur == NULL || (h->response_done && h->message_done)) h->closing = 1;
  h2lua_mark_dirty(&se->h);
}

static void h1_teardown(h2lua_session *se) {
  h1_state *h = se->ps;
  if (h) h1_free(h);
  se->ps = NULL;
}

const h2lua_proto h2lua_h1_proto = {
    .name = "http/1.1",
    .respond = h1_respond,
    .info = h1_info,
    .trailers = h1_trailers,
    .write = h1_write,
    .resume = h1_resume,
    .reset = h1_reset,
    .consumed = h1_consumed,
    .flush = h1_flush,
    .input = h1_input,
    .teardown = h1_teardown,
};

int h2lua_h1_start(h2lua_session *se) {
  if (settings.on_message_begin == NULL) {
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
  }
  h1_state *h = calloc(1, sizeof(*h));
  if (h == NULL) return -1;
  h->req = evbuffer_new();
  h->trl = evbuffer_new();
  if (h->req == NULL || h->trl == NULL) {
    if (h->req) evbuffer_free(h->req);
    if (h->trl) evbuffer_free(h->trl);
    free(h);
    return -1;
  }
  h->se = se;
  h->next_id = 1;
  http_parser_init(&h->parser, HTTP_REQUEST);
  h->parser.data = h;
  se->proto = &h2lua_h1_proto;
  se->ps = h;
  return 0;
}
