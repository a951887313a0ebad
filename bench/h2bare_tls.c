/* h2bare_tls: the bare stack over TLS -- libevent (bufferevent_openssl) +
 * nghttp2 + OpenSSL, no Lua. Every request is answered 200, content-type
 * text/plain, "hello world\n"; h2 is chosen by ALPN, anything else is
 * refused. The TLS context is set up as h2lua's engine sets up its server
 * contexts (src/tls.c), so bench/hello.sh compares the two on equal terms.
 *   cc -O2 -o h2bare_tls bench/h2bare_tls.c \
 *     $(pkg-config --cflags --libs libevent libevent_openssl libnghttp2 openssl)
 *   ./h2bare_tls PORT KEY.pem CERT.pem      (listens on 127.0.0.1 only) */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_HIGH_WATER 65536 /* stop serializing frames above this much queued output */

static const char hello[] = "hello world\n";

struct peer {
  struct bufferevent *bev;
  nghttp2_session *ngh; /* NULL until the handshake agreed on h2 */
};

static nghttp2_session_callbacks *callbacks;

static void peer_close(struct peer *p) {
  if (p->ngh) nghttp2_session_del(p->ngh);
  bufferevent_free(p->bev); /* frees the SSL and closes the socket */
  free(p);
}

/* Serializes pending frames into the bufferevent while there is room;
   closes the connection when nghttp2 is done with it. Returns -1 when |p|
   was freed. */
static int pump(struct peer *p) {
  struct evbuffer *out = bufferevent_get_output(p->bev);
  while (evbuffer_get_length(out) < OUT_HIGH_WATER) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(p->ngh, &data);
    if (n < 0) {
      peer_close(p);
      return -1;
    }
    if (n == 0) break;
    if (evbuffer_add(out, data, (size_t)n) != 0) {
      peer_close(p);
      return -1;
    }
  }
  if (!nghttp2_session_want_read(p->ngh) && !nghttp2_session_want_write(p->ngh) &&
      evbuffer_get_length(out) == 0) {
    peer_close(p);
    return -1;
  }
  return 0;
}

static ssize_t read_hello(nghttp2_session *s, int32_t stream_id, uint8_t *buf,
                          size_t len, uint32_t *flags, nghttp2_data_source *src,
                          void *user) {
  (void)s, (void)stream_id, (void)src, (void)user;
  size_t n = sizeof(hello) - 1 < len ? sizeof(hello) - 1 : len;
  memcpy(buf, hello, n);
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

/* A request is complete when its HEADERS or last DATA frame ends the stream. */
static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  (void)user;
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
  static const nghttp2_nv headers[] = {
      {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, NGHTTP2_NV_FLAG_NONE},
  };
  nghttp2_data_provider body = {.source = {.ptr = NULL}, .read_callback = read_hello};
  nghttp2_submit_response(s, f->hd.stream_id, headers, 2, &body);
  return 0;
}

static void on_read(struct bufferevent *bev, void *arg) {
  struct peer *p = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  if (p->ngh == NULL) {
    evbuffer_drain(in, evbuffer_get_length(in));
    return;
  }
  /* hand nghttp2 the input chunk by chunk, without linearizing it */
  struct evbuffer_iovec v[8];
  while (evbuffer_get_length(in) > 0) {
    int nv = evbuffer_peek(in, -1, NULL, v, 8);
    if (nv > 8) nv = 8;
    size_t used = 0;
    for (int i = 0; i < nv; i++) {
      ssize_t rv = nghttp2_session_mem_recv(p->ngh, v[i].iov_base, v[i].iov_len);
      if (rv < 0) {
        peer_close(p);
        return;
      }
      used += v[i].iov_len;
    }
    evbuffer_drain(in, used);
  }
  pump(p);
}

static void on_write(struct bufferevent *bev, void *arg) {
  (void)bev;
  struct peer *p = arg;
  if (p->ngh) pump(p);
}

static void on_event(struct bufferevent *bev, short what, void *arg) {
  struct peer *p = arg;
  if (what & BEV_EVENT_CONNECTED) {
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &proto, &len);
    if (len != 2 || memcmp(proto, "h2", 2) != 0 ||
        nghttp2_session_server_new(&p->ngh, callbacks, p) != 0) {
      peer_close(p);
      return;
    }
    nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100};
    nghttp2_submit_settings(p->ngh, NGHTTP2_FLAG_NONE, &iv, 1);
    pump(p);
    return;
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) peer_close(p);
}

/* ALPN: h2 or nothing */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl, (void)arg;
  static const unsigned char ours[] = "\x02h2";
  unsigned char *sel;
  if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd,
                      struct sockaddr *addr, int addrlen, void *arg) {
  (void)addr, (void)addrlen;
  SSL_CTX *ctx = arg;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct peer *p = calloc(1, sizeof(*p));
  SSL *ssl = p ? SSL_new(ctx) : NULL;
  if (ssl) {
    p->bev = bufferevent_openssl_socket_new(evconnlistener_get_base(lis), fd, ssl,
                                            BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (p->bev == NULL) SSL_free(ssl);
  }
  if (p == NULL || p->bev == NULL) {
    free(p);
    evutil_closesocket(fd);
    return;
  }
  bufferevent_openssl_set_allow_dirty_shutdown(p->bev, 1);
  bufferevent_setcb(p->bev, on_read, on_write, on_event, p);
  bufferevent_enable(p->bev, EV_READ | EV_WRITE);
}

static SSL_CTX *make_ctx(const char *key, const char *cert) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) return NULL;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    ERR_print_errors_fp(stderr);
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
  return ctx;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PORT KEY.pem CERT.pem\n", argv[0]);
    return 2;
  }
  SSL_CTX *ctx = make_ctx(argv[2], argv[3]);
  if (ctx == NULL) return 1;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  struct event_base *base = event_base_new();
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons((unsigned short)atoi(argv[1]));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct evconnlistener *lis = evconnlistener_new_bind(
      base, on_accept, ctx, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 1024,
      (struct sockaddr *)&sin, sizeof(sin));
  if (lis == NULL) {
    perror("listen");
    return 1;
  }
  event_base_dispatch(base);
  evconnlistener_free(lis);
  event_base_free(base);
  nghttp2_session_callbacks_del(callbacks);
  SSL_CTX_free(ctx);
  return 0;
}
