/*
 * TLS with OpenSSL: contexts built from PEM strings, ALPN (h2, then
 * http/1.1 where the server allows it), SNI contexts, client-side name
 * checks, and failures described with Node's codes. Plain C: no Lua.
 */
#ifndef H2LUA_TLS_H
#define H2LUA_TLS_H

#include <stddef.h>
#include "tlslib.h"
#include <event2/bufferevent.h>

/* The userdata Lua holds for a context (metatable H2LUA_TLS_CONTEXT_MT). */
#define H2LUA_TLS_CONTEXT_MT "h2lua.TLSContext"
typedef struct h2lua_tls_box {
  SSL_CTX *ctx;
} h2lua_tls_box;

typedef struct h2lua_pem {
  const char *p;
  size_t len;
} h2lua_pem;

typedef struct h2lua_tls_opts {
  int server;
  const h2lua_pem *certs, *keys, *cas;
  size_t ncerts, nkeys, ncas;
  const char *passphrase, *ciphers, *min_version, *max_version;
  int reject_unauthorized; /* clients: verify the server's certificate;
                              servers asking for one: refuse a client
                              without a valid one */
  int request_cert;        /* servers: ask clients for a certificate */
} h2lua_tls_opts;

/* A new context, or NULL with Node's error code in *code and a message in
   |msg|. */
SSL_CTX *h2lua_tls_context(const h2lua_tls_opts *o, const char **code,
                           char *msg, size_t msglen);

/* SNI on a server: contexts by host name ("*.domain" matches one label),
   and for names none covers, |ask| (may return NULL: the default). */
typedef struct h2lua_sni {
  struct { char *host; SSL_CTX *ctx; } *list;
  size_t n;
  SSL_CTX *(*ask)(void *ud, SSL *ssl, const char *name);
  void *ud;
} h2lua_sni;

/* Makes |ctx| consult |sni| (NULL: nothing) for servernames. */
void h2lua_tls_use_sni(SSL_CTX *ctx, h2lua_sni *sni);
/* Adds or replaces the context for |host|; returns 0, or -1. */
int h2lua_sni_add(h2lua_sni *sni, const char *host, SSL_CTX *ctx);
void h2lua_sni_free(h2lua_sni *sni);

/* A server-side SSL for one connection; |allow_http1| lets ALPN pick
   http/1.1 when the client offers no h2, whichever context SNI picks. */
SSL *h2lua_tls_server_ssl(SSL_CTX *ctx, int allow_http1);
/* A client-side SSL sending SNI |servername| and checking the
   certificate's name (or IP address) when the context verifies. */
SSL *h2lua_tls_client_ssl(SSL_CTX *ctx, const char *servername);

/* The protocol ALPN agreed ("" when none). */
void h2lua_tls_alpn(SSL *ssl, char *out, size_t len);
/* Whether a server connection allowing HTTP/1.1 met a client that offered
   no ALPN at all: HTTP/1.1 then, as Node's allowHTTP1 does. */
int h2lua_tls_http1_fallback(SSL *ssl);
/* Why the handshake on |bev| failed: "CODE message" (Node's codes for
   certificate errors on clients, ERR_SSL_HANDSHAKE otherwise). */
void h2lua_tls_describe_failure(struct bufferevent *bev, int is_client,
                                char *buf, size_t len);
/* Node's code for a certificate verification result. */
const char *h2lua_tls_verify_code(long v);
/* The last OpenSSL error as text ("" when none); clears the queue. */
const char *h2lua_tls_error(char *buf, size_t len);

#endif
