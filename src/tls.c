/*
 * TLS contexts and the OpenSSL callbacks of servers (ALPN, SNI).
 */
#include "tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int ssl_http1_index = -1;

const char *h2lua_tls_error(char *buf, size_t len) {
  buf[0] = 0;
  if (!h2lua_tls_loaded()) return buf; /* no TLS call yet: no error queued */
  unsigned long e = ERR_peek_last_error();
  if (e) ERR_error_string_n(e, buf, len);
  ERR_clear_error();
  return buf;
}

/* ALPN on a server: h2 first; http/1.1 only when the connection allows
   it; otherwise nothing is agreed and the server says 'unknownProtocol'. */
static int on_alpn_select(SSL *ssl, const unsigned char **out,
                          unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg) {
  const unsigned char *http1 = NULL;
  /* the flag's 2 says the client offered ALPN (h2lua_tls_http1_fallback) */
  if (ssl_http1_index >= 0 && SSL_get_ex_data(ssl, ssl_http1_index))
    SSL_set_ex_data(ssl, ssl_http1_index, (void *)2);
  for (unsigned int i = 0; i < inlen;) {
    unsigned int n = in[i];
    if (i + 1 + n > inlen) break;
    const unsigned char *p = in + i + 1;
    if (n == 2 && memcmp(p, "h2", 2) == 0) {
      *out = p;
      *outlen = 2;
      return SSL_TLSEXT_ERR_OK;
    }
    if (n == 8 && memcmp(p, "http/1.1", 8) == 0) http1 = p;
    i += 1 + n;
  }
  if (http1 && ssl_http1_index >= 0 && SSL_get_ex_data(ssl, ssl_http1_index)) {
    *out = http1;
    *outlen = 8;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

static int on_servername(SSL *ssl, int *al, void *arg) {
  h2lua_sni *sni = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == NULL || sni == NULL) return SSL_TLSEXT_ERR_OK;
  for (size_t i = 0; i < sni->n; i++) {
    const char *h = sni->list[i].host;
    int match = strcasecmp(h, name) == 0;
    if (!match && h[0] == '*' && h[1] == '.') {
      const char *dot = strchr(name, '.');
      match = dot && strcasecmp(dot + 1, h + 2) == 0;
    }
    if (match) {
      SSL_set_SSL_CTX(ssl, sni->list[i].ctx);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  if (sni->ask) {
    SSL_CTX *ctx = sni->ask(sni->ud, ssl, name);
    if (ctx) SSL_set_SSL_CTX(ssl, ctx);
  }
  return SSL_TLSEXT_ERR_OK;
}

void h2lua_tls_use_sni(SSL_CTX *ctx, h2lua_sni *sni) {
  SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
  SSL_CTX_set_tlsext_servername_arg(ctx, sni);
}

int h2lua_sni_add(h2lua_sni *sni, const char *host, SSL_CTX *ctx) {
  for (size_t i = 0; i < sni->n; i++) {
    if (strcasecmp(sni->list[i].host, host) == 0) {
      SSL_CTX_up_ref(ctx);
      SSL_CTX_free(sni->list[i].ctx);
      sni->list[i].ctx = ctx;
      return 0;
    }
  }
  void *p = realloc(sni->list, (sni->n + 1) * sizeof(sni->list[0]));
  if (p == NULL) return -1;
  sni->list = p;
  char *h = strdup(host);
  if (h == NULL) return -1;
  sni->list[sni->n].host = h;
  SSL_CTX_up_ref(ctx);
  sni->list[sni->n].ctx = ctx;
  sni->n++;
  return 0;
}

void h2lua_sni_free(h2lua_sni *sni) {
  for (size_t i = 0; i < sni->n; i++) {
    free(sni->list[i].host);
    SSL_CTX_free(sni->list[i].ctx);
  }
  free(sni->list);
  sni->list = NULL;
  sni->n = 0;
}

int h2lua_tls_http1_fallback(SSL *ssl) {
  return ssl_http1_index >= 0 && SSL_get_ex_data(ssl, ssl_http1_index) == (void *)1;
}

SSL *h2lua_tls_server_ssl(SSL_CTX *ctx, int allow_http1) {
  if (ssl_http1_index < 0)
    ssl_http1_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
  SSL *ssl = SSL_new(ctx);
  if (ssl && allow_http1) SSL_set_ex_data(ssl, ssl_http1_index, (void *)1);
  return ssl;
}

SSL *h2lua_tls_client_ssl(SSL_CTX *ctx, const char *servername) {
  SSL *ssl = SSL_new(ctx);
  if (ssl == NULL) return NULL;
  struct in6_addr a6;
  struct in_addr a4;
  int is_ip = inet_pton(AF_INET, servername, &a4) == 1 ||
              inet_pton(AF_INET6, servername, &a6) == 1;
  if (!is_ip) SSL_set_tlsext_host_name(ssl, servername);
  if (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) {
    if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), servername);
    else SSL_set1_host(ssl, servername);
  }
  return ssl;
}

static int passphrase_cb(char *buf, int size, int rwflag, void *u) {
  const char *pass = u;
  if (pass == NULL) return 0;
  int n = (int)strlen(pass);
  if (n > size) n = size;
  memcpy(buf, pass, (size_t)n);
  return n;
}

static int load_cert(SSL_CTX *ctx, const h2lua_pem *pem) {
  BIO *bio = BIO_new_mem_buf(pem->p, (int)pem->len);
  X509 *x = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
  int rv = -1;
  if (x && SSL_CTX_use_certificate(ctx, x) == 1) {
    rv = 0;
    X509 *ca;
    /* the rest of the PEM is the chain */
    while ((ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
      if (SSL_CTX_add_extra_chain_cert(ctx, ca) != 1) {
        X509_free(ca);
        rv = -1;
        break;
      }
    }
    ERR_clear_error(); /* the end of the PEM is not an error */
  }
  X509_free(x);
  BIO_free(bio);
  return rv;
}

/* -2: not readable (bad PEM or passphrase); -1: not this certificate's */
static int load_key(SSL_CTX *ctx, const h2lua_pem *pem, const char *pass) {
  BIO *bio = BIO_new_mem_buf(pem->p, (int)pem->len);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, passphrase_cb, (void *)pass);
  int rv = k == NULL ? -2 : SSL_CTX_use_PrivateKey(ctx, k) == 1 ? 0 : -1;
  EVP_PKEY_free(k);
  BIO_free(bio);
  return rv;
}

static int load_ca(SSL_CTX *ctx, const h2lua_pem *pem) {
  BIO *bio = BIO_new_mem_buf(pem->p, (int)pem->len);
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  X509 *x;
  int n = 0;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    X509_STORE_add_cert(store, x);
    X509_free(x);
    n++;
  }
  ERR_clear_error();
  BIO_free(bio);
  return n > 0 ? 0 : -1;
}

/* The handshake goes on whatever the result, which the session's socket
   reports (SSL_get_verify_result). */
static int verify_later(int ok, X509_STORE_CTX *store) {
  (void)ok;
  (void)store;
  return 1;
}

static int version_of(const char *v) {
  if (v == NULL) return 0;
  if (strcmp(v, "TLSv1") == 0) return TLS1_VERSION;
  if (strcmp(v, "TLSv1.1") == 0) return TLS1_1_VERSION;
  if (strcmp(v, "TLSv1.2") == 0) return TLS1_2_VERSION;
  if (strcmp(v, "TLSv1.3") == 0) return TLS1_3_VERSION;
  return -1;
}

static SSL_CTX *fail(SSL_CTX *ctx, const char **code, const char *c,
                     const char *what, char *msg, size_t msglen) {
  char buf[256];
  h2lua_tls_error(buf, sizeof(buf));
  if (ctx) SSL_CTX_free(ctx);
  *code = c;
  snprintf(msg, msglen, "%s%s%s", what, buf[0] ? ": " : "", buf);
  return NULL;
}

SSL_CTX *h2lua_tls_context(const h2lua_tls_opts *o, const char **code,
                           char *msg, size_t msglen) {
  int minv = version_of(o->min_version), maxv = version_of(o->max_version);
  if (minv < 0 || maxv < 0) {
    *code = "ERR_TLS_INVALID_PROTOCOL_VERSION";
    snprintf(msg, msglen, "minVersion/maxVersion must be TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3");
    return NULL;
  }
  const char *why = NULL;
  if (h2lua_tls_load(&why) != 0) { /* Node's code when built without OpenSSL */
    *code = "ERR_NO_CRYPTO";
    snprintf(msg, msglen, "%s", why);
    return NULL;
  }
  SSL_CTX *ctx = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
  if (ctx == NULL) return fail(NULL, code, "ERR_OSSL", "SSL_CTX_new", msg, msglen);
  SSL_CTX_set_min_proto_version(ctx, minv ? minv : TLS1_2_VERSION);
  if (maxv) SSL_CTX_set_max_proto_version(ctx, maxv);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (o->ciphers && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1 &&
      SSL_CTX_set_ciphersuites(ctx, o->ciphers) != 1)
    return fail(ctx, code, "ERR_SSL_NO_CIPHER_MATCH", "no cipher match", msg, msglen);
  for (size_t i = 0; i < o->ncerts; i++)
    if (load_cert(ctx, &o->certs[i]) != 0)
      return fail(ctx, code, "ERR_OSSL_PEM", "bad certificate", msg, msglen);
  for (size_t i = 0; i < o->nkeys; i++) {
    int krv = load_key(ctx, &o->keys[i], o->passphrase);
    if (krv == -1)
      return fail(ctx, code, "ERR_OSSL_KEY_VALUES_MISMATCH",
                  "the key does not match the certificate", msg, msglen);
    if (krv != 0)
      return fail(ctx, code, "ERR_OSSL_BAD_DECRYPT", "bad private key", msg, msglen);
  }
  if (o->ncerts && o->nkeys && SSL_CTX_check_private_key(ctx) != 1)
    return fail(ctx, code, "ERR_OSSL_KEY_VALUES_MISMATCH",
                "the key does not match the certificate", msg, msglen);
  for (size_t i = 0; i < o->ncas; i++)
    if (load_ca(ctx, &o->cas[i]) != 0)
      return fail(ctx, code, "ERR_OSSL_PEM", "bad ca", msg, msglen);
  if (!o->server && o->ncas == 0) SSL_CTX_set_default_verify_paths(ctx);
  if (o->server) {
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn_select, NULL);
    /* Node's requestCert: a client certificate is asked for, verified
       against ca (else the system's CAs); with rejectUnauthorized a client
       without one, or with one that does not verify, fails the handshake;
       without, it gets in and the session's socket says authorized false
       and why */
    if (o->request_cert) {
      if (o->ncas == 0) SSL_CTX_set_default_verify_paths(ctx);
      SSL_CTX_set_verify(ctx,
                         o->reject_unauthorized
                             ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                             : SSL_VERIFY_PEER,
                         o->reject_unauthorized ? NULL : verify_later);
    }
  } else {
    static const unsigned char h2[] = "\x02h2";
    SSL_CTX_set_alpn_protos(ctx, h2, sizeof(h2) - 1);
    SSL_CTX_set_verify(ctx, o->reject_unauthorized ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  }
  return ctx;
}

const char *h2lua_tls_verify_code(long v) {
  switch (v) {
  case X509_V_ERR_CERT_HAS_EXPIRED: return "CERT_HAS_EXPIRED";
  case X509_V_ERR_CERT_NOT_YET_VALID: return "CERT_NOT_YET_VALID";
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    return "DEPTH_ZERO_SELF_SIGNED_CERT";
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return "SELF_SIGNED_CERT_IN_CHAIN";
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    return "UNABLE_TO_GET_ISSUER_CERT_LOCALLY";
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    return "UNABLE_TO_VERIFY_LEAF_SIGNATURE";
  case X509_V_ERR_HOSTNAME_MISMATCH: return "ERR_TLS_CERT_ALTNAME_INVALID";
  case X509_V_ERR_IP_ADDRESS_MISMATCH: return "ERR_TLS_CERT_ALTNAME_INVALID";
  case X509_V_ERR_CERT_REVOKED: return "CERT_REVOKED";
  default: return "ERR_SSL_CERTIFICATE_VERIFY_FAILED";
  }
}

void h2lua_tls_describe_failure(struct bufferevent *bev, int is_client,
                                char *buf, size_t len) {
  SSL *ssl = bufferevent_openssl_get_ssl(bev);
  long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  char err[256] = "";
  unsigned long e;
  while ((e = bufferevent_get_openssl_error(bev)) != 0)
    ERR_error_string_n(e, err, sizeof(err));
  if (v != X509_V_OK && is_client) {
    snprintf(buf, len, "%s %s", h2lua_tls_verify_code(v),
             X509_verify_cert_error_string(v));
    return;
  }
  if (err[0] == 0) h2lua_tls_error(err, sizeof(err));
  snprintf(buf, len, "ERR_SSL_HANDSHAKE %s",
           err[0] ? err : "the TLS handshake failed");
}

void h2lua_tls_alpn(SSL *ssl, char *out, size_t len) {
  const unsigned char *p = NULL;
  unsigned int n = 0;
  out[0] = 0;
  if (ssl) SSL_get0_alpn_selected(ssl, &p, &n);
  if (p && n < len) {
    memcpy(out, p, n);
    out[n] = 0;
  }
}
