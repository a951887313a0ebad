/*
 * HTTP/1.1 on an HTTP/2 port: requests parsed with http-parser (the parser
 * Node.js used before llhttp, packaged by Debian), one at a time in order
 * (pipelined requests wait in the input buffer), answered through the same
 * stream records and Lua API as HTTP/2 streams; chunked bodies both ways,
 * keep-alive, Expect: 100-continue, size limits; and the RFC 7540 3.2
 * "Upgrade: h2c" switch to HTTP/2. Owns the h2lua_h1 state of a session.
 */
#include "internal.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define H1_MAX_URL 8192
#define H1_MAX_HEADER_BYTES 16384
#define H1_MAX_HEADERS 100
#define H1_MAX_BUFFERED_BODY (64 * 1024) /* then reading pauses */

struct h2lua_h1 {
  http_parser parser;
  h2lua_stream *cur;     /* the request being read or answered */
  struct evbuffer *req;  /* method \0 url \0 name \0 value \0 ... */
  size_t nheaders, header_bytes, url_len;
  int last;              /* which callback ran last (LAST_*) */
  int in_trailers;       /* header callbacks now carry chunked trailers */
  struct evbuffer *trl;  /* trailer fields: name \0 value \0 ... */
  size_t ntrailers;
  int keep_alive, upgrade, head, http10;
  int chunked_out;       /* the response body is chunked */
  int response_done, message_done;
  int paused_read;       /* input paused: the body buffer is full */
  int closing;           /* close once the output is written */
  int32_t next_id;
  char h2settings[256];  /* HTTP2-Settings of an upgrade request */
  int want_upgrade;
};

static http_parser_settings settings;

static void queue_request(h2lua_session *se, int upgraded);

static h2lua_session *session_of(http_parser *p) { return p->data; }

static void respond_error(h2lua_session *se, int status, const char *reason) {
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "HTTP/1.1 %d %s\r\nconnection: close\r\ncontent-length: "
                   "0\r\n\r\n",
                   status, reason);
  bufferevent_write(se->bev, buf, (size_t)n);
  se->h1->closing = 1;
  bufferevent_disable(se->bev, EV_READ);
}

enum { LAST_NONE, LAST_URL, LAST_FIELD, LAST_VALUE };

static int on_message_begin(http_parser *p) {
  h2lua_session *se = session_of(p);
  h2lua_h1 *h = se->h1;
  evbuffer_drain(h->req, evbuffer_get_length(h->req));
  h->nheaders = h->header_bytes = h->url_len = 0;
  h->last = LAST_NONE;
  h->in_trailers = 0;
  evbuffer_drain(h->trl, evbuffer_get_length(h->trl));
  h->ntrailers = 0;
  h->upgrade = h->head = h->want_upgrade = 0;
  h->h2settings[0] = 0;
  h->response_done = h->message_done = 0;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  h2lua_h1 *h = session_of(p)->h1;
  h->url_len += len;
  if (h->url_len > H1_MAX_URL) return -1; /* 414, see h2lua_h1_input */
  if (h->last == LAST_NONE) { /* the method first */
    const char *m = http_method_str((enum http_method)p->method);
    evbuffer_add(h->req, m, strlen(m) + 1);
  }
  evbuffer_add(h->req, at, len);
  h->last = LAST_URL;
  return 0;
}

/* Trailer fields of a chunked request (after the body): name, value. */
static int trailer_part(h2lua_h1 *h, const char *at, size_t len, int field) {
  if (field && h->last != LAST_FIELD) {
    if (h->last == LAST_VALUE) evbuffer_add(h->trl, "", 1);
    h->ntrailers++;
  }
  if (!field && h->last == LAST_FIELD) evbuffer_add(h->trl, "", 1);
  h->last = field ? LAST_FIELD : LAST_VALUE;
  h->header_bytes += len;
  if (h->ntrailers > H1_MAX_HEADERS || h->header_bytes > H1_MAX_HEADER_BYTES)
    return -1;
  for (size_t i = 0; i < len; i++) {
    char c = at[i];
    if (field && c >= 'A' && c <= 'Z') c = (char)(c + 32);
    evbuffer_add(h->trl, &c, 1);
  }
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  h2lua_h1 *h = session_of(p)->h1;
  if (h->in_trailers) return trailer_part(h, at, len, 1);
  if (h->last == LAST_URL || h->last == LAST_VALUE)
    evbuffer_add(h->req, "", 1); /* end of the url or of a value */
  if (h->last != LAST_FIELD) h->nheaders++;
  h->last = LAST_FIELD;
  h->header_bytes += len;
  if (h->nheaders > H1_MAX_HEADERS || h->header_bytes > H1_MAX_HEADER_BYTES)
    return -1; /* 431 */
  char lower[256];
  while (len > 0) { /* names are kept lower-cased, as HTTP/2 has them */
    size_t n = len < sizeof(lower) ? len : sizeof(lower);
    for (size_t i = 0; i < n; i++)
      lower[i] = (char)((at[i] >= 'A' && at[i] <= 'Z') ? at[i] + 32 : at[i]);
    evbuffer_add(h->req, lower, n);
    at += n;
    len -= n;
  }
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  h2lua_h1 *h = session_of(p)->h1;
  if (h->in_trailers) return trailer_part(h, at, len, 0);
  if (h->last == LAST_FIELD) evbuffer_add(h->req, "", 1); /* end of a name */
  h->last = LAST_VALUE;
  h->header_bytes += len;
  if (h->header_bytes > H1_MAX_HEADER_BYTES) return -1;
  evbuffer_add(h->req, at, len);
  return 0;
}

/* The last header's value, by name, from the request buffer. */
static const char *find_header(h2lua_h1 *h, const char *name) {
  size_t len = evbuffer_get_length(h->req);
  const char *p = (const char *)evbuffer_pullup(h->req, -1);
  const char *end = p + len;
  const char *found = NULL;
  /* skip method and url */
  for (int skip = 0; skip < 2 && p < end; skip++) p += strlen(p) + 1;
  while (p < end) {
    const char *n = p;
    p += strlen(p) + 1;
    if (p >= end) break;
    const char *v = p;
    p += strlen(p) + 1;
    if (strcmp(n, name) == 0) found = v;
  }
  return found;
}

static int on_headers_complete(http_parser *p) {
  h2lua_session *se = session_of(p);
  h2lua_h1 *h = se->h1;
  if (h->last == LAST_FIELD) evbuffer_add(h->req, "", 1); /* no value */
  evbuffer_add(h->req, "", 1); /* end of the url or of the last value */
  h->keep_alive = http_should_keep_alive(p);
  h->http10 = p->http_major == 1 && p->http_minor == 0;
  h->head = p->method == HTTP_HEAD;
  const char *up = find_header(h, "upgrade");
  const char *hs = find_header(h, "http2-settings");
  if (up && hs && strcasecmp(up, "h2c") == 0 && !se->tls &&
      (p->method == HTTP_GET || p->method == HTTP_HEAD ||
       p->method == HTTP_OPTIONS) &&
      strlen(hs) < sizeof(h->h2settings)) {
    h->want_upgrade = 1;
    strcpy(h->h2settings, hs);
  }
  if (!h->want_upgrade && !(se->server && se->server->allow_http1) &&
      !se->tls)
    return -1; /* h2c only: 505, see h2lua_h1_input */
  h2lua_stream *st = h2lua_stream_new(se, h->want_upgrade ? 1 : h->next_id);
  if (st == NULL) return -1;
  h->next_id += 2;
  h->cur = st;
  h2lua_stream_opened(st);
  st->first_header = st->start_time;
  st->head_request = h->head;
  if (h->want_upgrade) return 1; /* an upgrade: no body is parsed */
  queue_request(se, 0); /* before its body and end are queued */
  h->in_trailers = 1;   /* any header fields from now on are trailers */
  h->last = LAST_NONE;
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  h2lua_session *se = session_of(p);
  h2lua_stream *st = se->h1->cur;
  if (st == NULL || st->closed) return 0;
  if (st->first_byte == 0) st->first_byte = h2lua_now();
  st->bytes_read += len;
  evbuffer_add(st->in, at, len);
  if (!st->data_notified) {
    st->data_notified = 1;
    h2lua_queue(se->rt, H2LUA_EV_DATA, NULL, se, st, 0, 0);
  }
  if (evbuffer_get_length(st->in) > H1_MAX_BUFFERED_BODY) {
    /* Lua is not reading: stop reading the socket (TCP pushes back) */
    se->h1->paused_read = 1;
    bufferevent_disable(se->bev, EV_READ);
  }
  return 0;
}

static int on_message_complete(http_parser *p) {
  h2lua_session *se = session_of(p);
  h2lua_h1 *h = se->h1;
  h->message_done = 1;
  if (h->ntrailers && h->cur && !h->cur->closed) {
    if (h->last == LAST_FIELD) evbuffer_add(h->trl, "", 1);
    evbuffer_add(h->trl, "", 1);
    size_t len = evbuffer_get_length(h->trl);
    h2lua_queue_data(se->rt, H2LUA_EV_H1_TRAILERS, se, 0,
                     (int64_t)h->ntrailers, evbuffer_pullup(h->trl, -1), len);
    se->rt->ev[se->rt->ev_len - 1].st = h->cur;
  }
  if (h->cur && !h->cur->closed) {
    h->cur->remote_ended = 1;
    h2lua_queue(se->rt, H2LUA_EV_END, NULL, se, h->cur, 0, 0);
  }
  http_parser_pause(p, 1); /* the next request waits for this response */
  return 0;
}

static void queue_request(h2lua_session *se, int upgraded) {
  h2lua_h1 *h = se->h1;
  h2lua_stream *st = h->cur;
  size_t len = evbuffer_get_length(h->req);
  const uint8_t *data = evbuffer_pullup(h->req, -1);
  int flags = (h->keep_alive ? 1 : 0) | (upgraded ? 2 : 0);
  h2lua_queue_data(se->rt, H2LUA_EV_H1_REQUEST, se, flags,
                   (int64_t)h->nheaders, data, len);
  h2lua_event *ev = &se->rt->ev[se->rt->ev_len - 1];
  ev->st = st;
  ev->c = h->parser.http_major * 10 + h->parser.http_minor;
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
static int upgrade(h2lua_session *se) {
  h2lua_h1 *h = se->h1;
  h2lua_server *sv = se->server;
  uint8_t payload[192];
  int plen = b64url_decode(h->h2settings, payload, sizeof(payload));
  if (sv == NULL || plen < 0) return -1;
  static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\n"
                           "connection: Upgrade\r\nupgrade: h2c\r\n\r\n";
  bufferevent_write(se->bev, sw, sizeof(sw) - 1);
  if (h2lua_session_start(se, sv->opt, sv->settings, sv->nsettings) != 0)
    return -1;
  h2lua_stream *st = h->cur;
  if (nghttp2_session_upgrade2(se->ngh, payload, (size_t)plen, h->head, st) !=
      0)
    return -1;
  st->id = 1;
  st->remote_ended = 1;
  se->max_client_id = 1;
  h2lua_queue(se->rt, H2LUA_EV_H1_UPGRADED, NULL, se, NULL, 0, 0);
  queue_request(se, 1);
  h2lua_queue(se->rt, H2LUA_EV_END, NULL, se, st, 0, 0);
  return 0;
}

/* Parses what input there is, one request at a time. Called when bytes
   arrive and when a response finished (the next pipelined request). */
void h2lua_h1_input(h2lua_session *se) {
  h2lua_h1 *h = se->h1;
  struct evbuffer *in = bufferevent_get_input(se->bev);
  while (!h->closing && se->ngh == NULL && !se->torn_down) {
    if (HTTP_PARSER_ERRNO(&h->parser) == HPE_PAUSED) {
      if (!h->response_done) return;          /* still answering */
      http_parser_pause(&h->parser, 0);
      h->cur = NULL;
    }
    size_t len = evbuffer_get_length(in);
    if (len == 0) return;
    const char *data = (const char *)evbuffer_pullup(in, -1);
    size_t n = http_parser_execute(&h->parser, &settings, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&h->parser);
    if (h->want_upgrade && h->parser.upgrade) {
      evbuffer_drain(in, n);
      if (upgrade(se) != 0) {
        respond_error(se, 400, "Bad Request");
        return;
      }
      /* the rest of the input is HTTP/2: the client's preface */
      h2lua_mark_dirty(se);
      return;
    }
    if (err != HPE_OK && err != HPE_PAUSED) {
      if (err == HPE_CB_url) respond_error(se, 414, "URI Too Long");
      else if (err == HPE_CB_header_field || err == HPE_CB_header_value ||
               err == HPE_HEADER_OVERFLOW)
        respond_error(se, 431, "Request Header Fields Too Large");
      else if (err == HPE_INVALID_VERSION || err == HPE_CB_headers_complete)
        respond_error(se, 505, "HTTP Version Not Supported");
      else respond_error(se, 400, "Bad Request");
      if (h->cur && !h->cur->closed) h2lua_stream_closed(h->cur, NGHTTP2_CANCEL);
      return;
    }
    evbuffer_drain(in, n);
    if (err == HPE_OK && n == len) return; /* all consumed, more to come */
  }
}

/* Starts HTTP/1.1 on |se|. */
int h2lua_h1_begin(h2lua_session *se) {
  if (settings.on_message_begin == NULL) {
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
  }
  h2lua_h1 *h = calloc(1, sizeof(*h));
  if (h == NULL) return -1;
  h->req = evbuffer_new();
  h->trl = evbuffer_new();
  h->next_id = 1;
  http_parser_init(&h->parser, HTTP_REQUEST);
  h->parser.data = se;
  se->h1 = h;
  return 0;
}

void h2lua_h1_free(h2lua_session *se) {
  if (se->h1 == NULL) return;
  evbuffer_free(se->h1->req);
  evbuffer_free(se->h1->trl);
  free(se->h1);
  se->h1 = NULL;
}

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

/* Ends the current response: the stream closes, the next request may be
   parsed (or the connection closes). */
static void response_finished(h2lua_stream *st) {
  h2lua_session *se = st->se;
  h2lua_h1 *h = se->h1;
  if (h == NULL || h->cur != st) return;
  h->response_done = 1;
  if (!h->keep_alive || !h->message_done) h->closing = 1;
  if (!st->closed) h2lua_stream_closed(st, NGHTTP2_NO_ERROR);
  h2lua_mark_dirty(se); /* flush parses the next request or closes */
}

/* The response head: status line and fields (pseudo-headers dropped). */
int h2lua_h1_respond(h2lua_stream *st, const nghttp2_nv *nva, size_t n,
                     int end) {
  h2lua_session *se = st->se;
  h2lua_h1 *h = se->h1;
  int status = 200, has_length = 0, informational = 0;
  const nghttp2_nv *phrase = NULL; /* ":reason": res.statusMessage */
  struct evbuffer *out = evbuffer_new();
  for (size_t i = 0; i < n; i++) {
    if (nva[i].namelen == 7 && memcmp(nva[i].name, ":status", 7) == 0)
      status = atoi((const char *)nva[i].value);
    if (nva[i].namelen == 7 && memcmp(nva[i].name, ":reason", 7) == 0)
      phrase = &nva[i];
  }
  informational = status >= 100 && status < 200;
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
  if (!informational) {
    int bodiless = end || h->head || status == 204 || status == 304;
    h->chunked_out = !bodiless && !has_length && !h->http10;
    if (h->chunked_out) evbuffer_add_printf(out, "transfer-encoding: chunked\r\n");
    if (!bodiless && !has_length && h->http10) h->keep_alive = 0;
    if (!h->keep_alive) evbuffer_add_printf(out, "connection: close\r\n");
    else if (h->http10) evbuffer_add_printf(out, "connection: keep-alive\r\n");
    if (bodiless && !has_length && status != 204 && status != 304 && !h->head)
      evbuffer_add_printf(out, "content-length: 0\r\n");
  }
  evbuffer_add(out, "\r\n", 2);
  bufferevent_write_buffer(se->bev, out);
  evbuffer_free(out);
  if (!informational) {
    st->responded = 1;
    if (end || h->head || status == 204 || status == 304) {
      st->out_eof = 1;
      response_finished(st);
    }
  }
  return 0;
}

/* Body bytes: a chunk when chunked. Returns what waits for the socket. */
size_t h2lua_h1_write(h2lua_stream *st, const char *data, size_t len) {
  h2lua_session *se = st->se;
  h2lua_h1 *h = se->h1;
  if (len && !h->head) {
    if (h->chunked_out) {
      char size[24];
      int n = snprintf(size, sizeof(size), "%zx\r\n", len);
      bufferevent_write(se->bev, size, (size_t)n);
    }
    bufferevent_write(se->bev, data, len);
    if (h->chunked_out) bufferevent_write(se->bev, "\r\n", 2);
    if (st->first_byte_sent == 0) st->first_byte_sent = h2lua_now();
    st->bytes_written += len;
  }
  return evbuffer_get_length(bufferevent_get_output(se->bev));
}

/* The end of the body, with chunked trailers when there are any. */
void h2lua_h1_finish(h2lua_stream *st, const nghttp2_nv *trailers,
                     size_t ntrailers) {
  h2lua_session *se = st->se;
  h2lua_h1 *h = se->h1;
  if (h->chunked_out && !h->head) {
    bufferevent_write(se->bev, "0\r\n", 3);
    for (size_t i = 0; i < ntrailers; i++) {
      bufferevent_write(se->bev, trailers[i].name, trailers[i].namelen);
      bufferevent_write(se->bev, ": ", 2);
      bufferevent_write(se->bev, trailers[i].value, trailers[i].valuelen);
      bufferevent_write(se->bev, "\r\n", 2);
    }
    bufferevent_write(se->bev, "\r\n", 2);
  }
  st->out_eof = 1;
  response_finished(st);
}

/* Lua took body bytes: read the socket again if it was paused. */
void h2lua_h1_consumed(h2lua_stream *st) {
  h2lua_session *se = st->se;
  if (se && se->h1 && se->h1->paused_read &&
      evbuffer_get_length(st->in) < H1_MAX_BUFFERED_BODY) {
    se->h1->paused_read = 0;
    bufferevent_enable(se->bev, EV_READ);
  }
}

/* After a flush: parse the next request, or close a finished connection
   once its output is out. Returns -1 when the session was torn down. */
int h2lua_h1_flush(h2lua_session *se) {
  h2lua_h1 *h = se->h1;
  size_t pending = evbuffer_get_length(bufferevent_get_output(se->bev));
  if (h->cur && h->cur->want_drain && pending == 0) {
    h->cur->want_drain = 0;
    h2lua_queue(se->rt, H2LUA_EV_DRAIN, NULL, se, h->cur, 0, 0);
  }
  if (h->closing) {
    if (evbuffer_get_length(bufferevent_get_output(se->bev)) == 0) {
      h2lua_session_teardown(se, NGHTTP2_NO_ERROR);
      return -1;
    }
    return 0;
  }
  if (h->response_done) h2lua_h1_input(se);
  return 0;
}

/* Tears the connection down (an RST_STREAM has no HTTP/1 form). */
void h2lua_h1_abort(h2lua_stream *st) {
  h2lua_session *se = st->se;
  if (se && se->h1) {
    se->h1->closing = 1;
    bufferevent_disable(se->bev, EV_READ);
    h2lua_stream_closed(st, NGHTTP2_CANCEL);
    h2lua_session_teardown(se, NGHTTP2_CANCEL);
  }
}

/* 'drain' for |st| once the output is written; returns 1 when it already
   is (the caller queues the event). */
int h2lua_h1_want_drain(h2lua_stream *st) {
  if (evbuffer_get_length(bufferevent_get_output(st->se->bev)) == 0) return 1;
  st->want_drain = 1;
  return 0;
}
