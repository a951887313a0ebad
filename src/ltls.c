/*
 * Bindings of TLS: contexts from the createSecureServer/connect options
 * (an "h2lua.TLSContext" userdata owning one reference to its SSL_CTX),
 * and the TLS facts of a session's socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "net.h"
#include "tls.h"

/* The PEM strings of field |k| (a string or a sequence of strings). */
static h2lua_pem *pems(lua_State *L, int idx, const char *k, size_t *n) {
  *n = 0;
  lua_getfield(L, idx, k);
  int t = lua_gettop(L);
  size_t count = lua_type(L, t) == LUA_TSTRING ? 1
                 : lua_istable(L, t)          ? lua_rawlen(L, t)
                                              : 0;
  h2lua_pem *list = lua_newuserdatauv(L, (count ? count : 1) * sizeof(*list), 0);
  if (lua_type(L, t) == LUA_TSTRING) {
    list[0].p = lua_tolstring(L, t, &list[0].len);
    *n = 1;
  } else {
    for (size_t i = 0; i < count; i++) {
      if (lua_rawgeti(L, t, (lua_Integer)i + 1) != LUA_TSTRING) {
        lua_pop(L, 1);
        break;
      }
      list[*n].p = lua_tolstring(L, -1, &list[*n].len);
      (*n)++;
      lua_pop(L, 1); /* the string stays alive in the table */
    }
  }
  /* the table (or string) and the list stay on the stack until the end */
  return list;
}

/* core.tls_context{server=, key=, cert=, ca=, passphrase=, ciphers=,
   minVersion=, maxVersion=, rejectUnauthorized=, requestCert=} -> context
   | nil, code,
   message */
static int ltls_context(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  h2lua_tls_opts o;
  memset(&o, 0, sizeof(o));
  lua_getfield(L, 1, "server");
  o.server = lua_toboolean(L, -1);
  lua_getfield(L, 1, "passphrase");
  o.passphrase = lua_tostring(L, -1);
  lua_getfield(L, 1, "ciphers");
  o.ciphers = lua_tostring(L, -1);
  lua_getfield(L, 1, "minVersion");
  o.min_version = lua_tostring(L, -1);
  lua_getfield(L, 1, "maxVersion");
  o.max_version = lua_tostring(L, -1);
  lua_getfield(L, 1, "rejectUnauthorized");
  o.reject_unauthorized = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
  lua_getfield(L, 1, "requestCert");
  o.request_cert = lua_toboolean(L, -1);
  o.certs = pems(L, 1, "cert", &o.ncerts);
  o.keys = pems(L, 1, "key", &o.nkeys);
  o.cas = pems(L, 1, "ca", &o.ncas);
  const char *code = NULL;
  char msg[512];
  SSL_CTX *ctx = h2lua_tls_context(&o, &code, msg, sizeof(msg));
  if (ctx == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, code);
    lua_pushstring(L, msg);
    return 3;
  }
  h2lua_tls_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
  b->ctx = ctx;
  luaL_setmetatable(L, H2LUA_TLS_CONTEXT_MT);
  return 1;
}

static int ctx_gc(lua_State *L) {
  h2lua_tls_box *b = luaL_checkudata(L, 1, H2LUA_TLS_CONTEXT_MT);
  if (b->ctx) SSL_CTX_free(b->ctx);
  b->ctx = NULL;
  return 0;
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
static int push_tls(lua_State *L, SSL *ssl);

static int ltls_session(lua_State *L) {
  h2lua_session *se = h2lua_check_box(L, 1, H2LUA_MAGIC_SESSION, "session");
  SSL *ssl = se && se->conn ? h2lua_conn_ssl(se->conn) : NULL;
  return ssl ? push_tls(L, ssl) : 0;
}

/* core.socket_tls(box) -> the same for an h2lua.tls socket | nil */
static int ltls_socket(lua_State *L) {
  h2lua_socket *so = h2lua_check_box(L, 1, H2LUA_MAGIC_SOCKET, "socket");
  SSL *ssl = so ? h2lua_net_ssl(so) : NULL;
  return ssl ? push_tls(L, ssl) : 0;
}

static int push_tls(lua_State *L, SSL *ssl) {
  char alpn[32];
  h2lua_tls_alpn(ssl, alpn, sizeof(alpn));
  lua_createtable(L, 0, 8);
  set_str(L, "protocol", SSL_get_version(ssl));
  set_str(L, "cipher", SSL_get_cipher_name(ssl));
  set_str(L, "servername", SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
  set_str(L, "alpn", alpn[0] ? alpn : NULL);
  long v = SSL_get_verify_result(ssl);
  X509 *peer = SSL_get1_peer_certificate(ssl);
  lua_pushboolean(L, peer != NULL && v == X509_V_OK);
  lua_setfield(L, -2, "authorized");
  if (v != X509_V_OK) set_str(L, "authorizationError", h2lua_tls_verify_code(v));
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

/* core.ws_accept(key) -> the Sec-WebSocket-Accept answering |key|:
   base64(SHA-1(key .. the GUID of RFC 6455 1.3)) */
static int ltls_ws_accept(lua_State *L) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  size_t kl;
  const char *key = luaL_checklstring(L, 1, &kl);
  const char *why = NULL;
  if (h2lua_tls_load(&why) != 0) return luaL_error(L, "%s", why); /* SHA-1 is libcrypto's */
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
           EVP_DigestUpdate(ctx, key, kl) &&
           EVP_DigestUpdate(ctx, guid, sizeof(guid) - 1) &&
           EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  if (!ok) return luaL_error(L, "SHA-1 failed");
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(b64, md, (int)mdlen);
  lua_pushlstring(L, (const char *)b64, (size_t)n);
  return 1;
}

const luaL_Reg h2lua_tls_funcs[] = {
    {"tls_context", ltls_context},
    {"ws_accept", ltls_ws_accept},
    {"session_tls", ltls_session},
    {"socket_tls", ltls_socket},
    {NULL, NULL},
};

void h2lua_tls_open(lua_State *L, h2lua_rt *rt) {
  if (luaL_newmetatable(L, H2LUA_TLS_CONTEXT_MT)) {
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}
