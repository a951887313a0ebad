/*
 * TLS: OpenSSL contexts built from PEM strings (the createSecureServer and
 * connect options), ALPN selection (h2, then http/1.1 when allowed), SNI
 * contexts, and the TLS facts of a session for Lua. Owns the SSL_CTX of
 * each "h2lua.TLSContext" userdata (freed by its __gc; servers and
 * sessions hold their own references).
 */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static const char CTX_MT[] = "h2lua.TLSContext";

typedef struct {
  SSL_CTX *ctx;
} tls_box;

/* Per-context data reached from OpenSSL callbacks. */
typedef struct {
  int allow_http1;
} ctx_data;

static int ctx_data_index = -1;

static ctx_data *get_ctx_data(SSL_CTX *ctx) {
  return SSL_CTX_get_ex_data(ctx, ctx_data_index);
}

static void free_ctx_data(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                          long argl, void *argp) {
  free(ptr);
}

/* The last OpenSSL error as text ("" when none). */
const char *h2lua_tls_error(char *buf, size_t len) {
  unsigned long e = ERR_peek_last_error();
  buf[0] = 0;
  if (e) ERR_error_string_n(e, buf, len);
  ERR_clear_error();
  return buf;
}

/* ALPN on a server: h2 first; http/1.1 only when allowHTTP1; otherwise no
   protocol is agreed and the session reports 'unknownProtocol'. */
static int on_alpn_select(SSL *ssl, const unsigned char **out,
                          unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg) {
  ctx_data *cd = get_ctx_data(SSL_get_SSL_CTX(ssl));
  const unsigned char *http1 = NULL;
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
  if (http1 && cd && cd->allow_http1) {
    *out = http1;
    *outlen = 8;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

/* SNICallback: the one place Lua runs inside OpenSSL. It is a plain
   protected call on the main thread (no coroutine: the callback may not
   wait), answered with a context or nothing (the default context). */
static void ask_lua(h2lua_server *sv, SSL *ssl, const char *name) {
  h2lua_rt *rt = sv->rt;
  lua_State *L = rt->L;
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->handler_ref);
  lua_pushinteger(L, H2LUA_EV_SNI);
  lua_rawgeti(L, LUA_REGISTRYINDEX, sv->lua_ref);
  lua_pushstring(L, name);
  if (lua_pcall(L, 3, 1, 0) == LUA_OK) {
    SSL_CTX *ctx = h2lua_tls_test(L, -1);
    if (ctx) SSL_set_SSL_CTX(ssl, ctx);
  }
  lua_settop(L, top);
}

/* SNI on a server: the context added for the name (exact, or "*.domain"),
   else what SNICallback answers. */
static int on_servername(SSL *ssl, int *al, void *arg) {
  h2lua_server *sv = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == NULL || sv == NULL) return SSL_TLSEXT_ERR_OK;
  for (size_t i = 0; i < sv->nsni; i++) {
    const char *h = sv->sni[i].host;
    int match = strcasecmp(h, name) == 0;
    if (!match && h[0] == '*' && h[1] == '.') {
      const char *dot = strchr(name, '.');
      match = dot && strcasecmp(dot + 1, h + 2) == 0;
    }
    if (match) {
      SSL_set_SSL_CTX(ssl, sv->sni[i].ctx);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  if (sv->sni_callback) ask_lua(sv, ssl, name);
  return SSL_TLSEXT_ERR_OK;
}

/* Registers the SNI callback of |ctx| for |sv| (NULL to detach). */
void h2lua_tls_attach(SSL_CTX *ctx, h2lua_server *sv) {
  SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
  SSL_CTX_set_tlsext_servername_arg(ctx, sv);
}

static int passphrase_cb(char *buf, int size, int rwflag, void *u) {
  const char *pass = u;
  if (pass == NULL) return 0;
  int n = (int)strlen(pass);
  if (n > size) n = size;
  memcpy(buf, pass, (size_t)n);
  return n;
}

/* Loads every PEM string of field |k| of the options table at |idx| (a
   string or a sequence of strings) with |fn|; returns 0, or -1. */
typedef int (*pem_fn)(SSL_CTX *, const char *, size_t, const char *);

static int each_pem(lua_State *L, int idx, const char *k, SSL_CTX *ctx,
                    const char *pass, pem_fn fn, int *count) {
  lua_getfield(L, idx, k);
  int rv = 0;
  if (lua_type(L, -1) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    rv = fn(ctx, s, len, pass);
    if (rv == 0) (*count)++;
  } else if (lua_istable(L, -1)) {
    for (lua_Integer i = 1; rv == 0; i++) {
      if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
        lua_pop(L, 1);
        break;
      }
      size_t len;
      const char *s = lua_tolstring(L, -1, &len);
      rv = fn(ctx, s, len, pass);
      if (rv == 0) (*count)++;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return rv;
}

static int load_cert(SSL_CTX *ctx, const char *pem, size_t len,
                     const char *pass) {
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
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

static int load_key(SSL_CTX *ctx, const char *pem, size_t len,
                    const char *pass) {
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, passphrase_cb, (void *)pass);
  /* -2: not readable (bad PEM or passphrase); -1: not this certificate's */
  int rv = k == NULL ? -2 : SSL_CTX_use_PrivateKey(ctx, k) == 1 ? 0 : -1;
  EVP_PKEY_free(k);
  BIO_free(bio);
  return rv;
}

static int load_ca(SSL_CTX *ctx, const char *pem, size_t len,
                   const char *pass) {
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
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

static int version_of(const char *v) {
  if (v == NULL) return 0;
  if (strcmp(v, "TLSv1") == 0) return TLS1_VERSION;
  if (strcmp(v, "TLSv1.1") == 0) return TLS1_1_VERSION;
  if (strcmp(v, "TLSv1.2") == 0) return TLS1_2_VERSION;
  if (strcmp(v, "TLSv1.3") == 0) return TLS1_3_VERSION;
  return -1;
}

static int fail(lua_State *L, SSL_CTX *ctx, const char *code,
                const char *what) {
  char buf[256];
  h2lua_tls_error(buf, sizeof(buf));
  if (ctx) SSL_CTX_free(ctx);
  lua_pushnil(L);
  lua_pushstring(L, code);
  lua_pushfstring(L, "%s%s%s", what, buf[0] ? ": " : "", buf);
  return 3;
}

/* core.tls_context{server=, key=, cert=, ca=, passphrase=, ciphers=,
   minVersion=, maxVersion=, allowHTTP1=, rejectUnauthorized=}
   -> context | nil, code, message */
static int ltls_context(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (ctx_data_index < 0)
    ctx_data_index =
        SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_ctx_data);
  lua_getfield(L, 1, "server");
  int server = lua_toboolean(L, -1);
  lua_getfield(L, 1, "passphrase");
  const char *pass = lua_tostring(L, -1);
  lua_getfield(L, 1, "ciphers");
  const char *ciphers = lua_tostring(L, -1);
  lua_getfield(L, 1, "minVersion");
  int minv = version_of(lua_tostring(L, -1));
  lua_getfield(L, 1, "maxVersion");
  int maxv = version_of(lua_tostring(L, -1));
  lua_getfield(L, 1, "allowHTTP1");
  int allow_http1 = lua_toboolean(L, -1);
  lua_getfield(L, 1, "rejectUnauthorized");
  int reject = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
  lua_pop(L, 6);
  if (minv < 0 || maxv < 0) {
    lua_pushnil(L);
    lua_pushstring(L, "ERR_TLS_INVALID_PROTOCOL_VERSION");
    lua_pushstring(L, "minVersion/maxVersion must be TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3");
    return 3;
  }
  SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == NULL) return fail(L, NULL, "ERR_OSSL", "SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx, minv ? minv : TLS1_2_VERSION);
  if (maxv) SSL_CTX_set_max_proto_version(ctx, maxv);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (ciphers && SSL_CTX_set_cipher_list(ctx, ciphers) != 1 &&
      SSL_CTX_set_ciphersuites(ctx, ciphers) != 1)
    return fail(L, ctx, "ERR_SSL_NO_CIPHER_MATCH", "no cipher match");
  int ncerts = 0, nkeys = 0, ncas = 0;
  if (each_pem(L, 1, "cert", ctx, pass, load_cert, &ncerts) != 0)
    return fail(L, ctx, "ERR_OSSL_PEM", "bad certificate");
  int krv = each_pem(L, 1, "key", ctx, pass, load_key, &nkeys);
  if (krv != 0) {
    int mismatch = krv == -1;
    return fail(L, ctx,
                mismatch ? "ERR_OSSL_KEY_VALUES_MISMATCH" : "ERR_OSSL_BAD_DECRYPT",
                mismatch ? "the key does not match the certificate"
                         : "bad private key");
  }
  if (ncerts && nkeys && SSL_CTX_check_private_key(ctx) != 1)
    return fail(L, ctx, "ERR_OSSL_KEY_VALUES_MISMATCH",
                "the key does not match the certificate");
  if (each_pem(L, 1, "ca", ctx, pass, load_ca, &ncas) != 0)
    return fail(L, ctx, "ERR_OSSL_PEM", "bad ca");
  if (!server && ncas == 0) SSL_CTX_set_default_verify_paths(ctx);
  ctx_data *cd = calloc(1, sizeof(*cd));
  if (cd == NULL) return fail(L, ctx, "ERR_OSSL", "out of memory");
  cd->allow_http1 = allow_http1;
  SSL_CTX_set_ex_data(ctx, ctx_data_index, cd);
  if (server) {
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn_select, NULL);
    /* a client certificate is asked for (and verified against ca) only
       when a ca is given, as requestCert would */
    if (ncas) SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  } else {
    static const unsigned char h2[] = "\x02h2";
    SSL_CTX_set_alpn_protos(ctx, h2, sizeof(h2) - 1);
    SSL_CTX_set_verify(ctx, reject ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  }
  tls_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
  b->ctx = ctx;
  luaL_setmetatable(L, CTX_MT);
  return 1;
}

static int ctx_gc(lua_State *L) {
  tls_box *b = luaL_checkudata(L, 1, CTX_MT);
  if (b->ctx) SSL_CTX_free(b->ctx);
  b->ctx = NULL;
  return 0;
}

/* The SSL_CTX of the context at |idx|, or NULL (never raises). */
SSL_CTX *h2lua_tls_test(lua_State *L, int idx) {
  tls_box *b = luaL_testudata(L, idx, CTX_MT);
  return b ? b->ctx : NULL;
}

/* The SSL_CTX of the context at |idx| (raises when it is not one). */
SSL_CTX *h2lua_tls_check(lua_State *L, int idx) {
  tls_box *b = luaL_checkudata(L, idx, CTX_MT);
  if (b->ctx == NULL) luaL_argerror(L, idx, "closed TLS context");
  return b->ctx;
}

/* Node's codes for certificate verification failures. */
static const char *verify_code(long v) {
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

/* Describes why a TLS handshake on |se| failed: "CODE message". */
void h2lua_tls_describe_failure(h2lua_session *se, char *buf, size_t len) {
  SSL *ssl = bufferevent_openssl_get_ssl(se->bev);
  long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  char err[256] = "";
  unsigned long e;
  while ((e = bufferevent_get_openssl_error(se->bev)) != 0)
    ERR_error_string_n(e, err, sizeof(err));
  if (v != X509_V_OK && se->is_client) {
    snprintf(buf, len, "%s %s", verify_code(v),
             X509_verify_cert_error_string(v));
    return;
  }
  if (err[0] == 0) h2lua_tls_error(err, sizeof(err));
  snprintf(buf, len, "ERR_SSL_HANDSHAKE %s",
           err[0] ? err : "the TLS handshake failed");
}

/* The protocol ALPN agreed on |se| ("" when none). */
void h2lua_tls_alpn(h2lua_session *se, char *out, size_t len) {
  const unsigned char *p = NULL;
  unsigned int n = 0;
  SSL *ssl = bufferevent_openssl_get_ssl(se->bev);
  out[0] = 0;
  if (ssl) SSL_get0_alpn_selected(ssl, &p, &n);
  if (p && n < len) {
    memcpy(out, p, n);
    out[n] = 0;
  }
}

static void set_str(lua_State *L, const char *k, const char *v) {
  if (v == NULL) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void push_name(lua_State *L, X509_NAME *nm) {
  lua_newtable(L);
  int n = X509_NAME_entry_count(nm);
  for (int i = 0; i < n; i++) {
    X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    const char *sn = OBJ_nid2sn(nid);
    unsigned char *utf8 = NULL;
    if (sn && ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) >= 0) {
      lua_pushstring(L, (const char *)utf8);
      lua_setfield(L, -2, sn);
    }
    OPENSSL_free(utf8);
  }
}

static void push_time(lua_State *L, const ASN1_TIME *t, const char *k) {
  BIO *bio = BIO_new(BIO_s_mem());
  ASN1_TIME_print(bio, t);
  char *p;
  long n = BIO_get_mem_data(bio, &p);
  lua_pushlstring(L, p, (size_t)n);
  lua_setfield(L, -2, k);
  BIO_free(bio);
}

/* core.session_tls(box) -> {protocol=, cipher=, servername=, alpn=,
   authorized=, authorizationError=, peerCertificate={...}} | nil */
static int ltls_session(lua_State *L) {
  h2lua_session *se = h2lua_check_box(L, 1, H2LUA_MAGIC_SESSION, "session");
  if (se == NULL || se->bev == NULL || !se->tls) return 0;
  SSL *ssl = bufferevent_openssl_get_ssl(se->bev);
  if (ssl == NULL) return 0;
  char alpn[32];
  h2lua_tls_alpn(se, alpn, sizeof(alpn));
  lua_createtable(L, 0, 8);
  set_str(L, "protocol", SSL_get_version(ssl));
  set_str(L, "cipher", SSL_get_cipher_name(ssl));
  set_str(L, "servername", SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
  set_str(L, "alpn", alpn[0] ? alpn : NULL);
  long v = SSL_get_verify_result(ssl);
  X509 *peer = SSL_get1_peer_certificate(ssl);
  lua_pushboolean(L, peer != NULL && v == X509_V_OK);
  lua_setfield(L, -2, "authorized");
  if (v != X509_V_OK) set_str(L, "authorizationError", verify_code(v));
  if (peer) {
    lua_createtable(L, 0, 6);
    push_name(L, X509_get_subject_name(peer));
    lua_setfield(L, -2, "subject");
    push_name(L, X509_get_issuer_name(peer));
    lua_setfield(L, -2, "issuer");
    push_time(L, X509_get0_notBefore(peer), "valid_from");
    push_time(L, X509_get0_notAfter(peer), "valid_to");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(peer, EVP_sha256(), md, &mdlen)) {
      char hex[EVP_MAX_MD_SIZE * 3 + 1];
      for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 3 * i, 4, "%02X%s", md[i], i + 1 < mdlen ? ":" : "");
      set_str(L, "fingerprint256", hex);
    }
    lua_setfield(L, -2, "peerCertificate");
    X509_free(peer);
  }
  return 1;
}

const luaL_Reg h2lua_tls_funcs[] = {
    {"tls_context", ltls_context},
    {"session_tls", ltls_session},
    {NULL, NULL},
};

/* Registers the context metatable (at luaopen). */
void h2lua_tls_open(lua_State *L) {
  if (luaL_newmetatable(L, CTX_MT)) {
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}
