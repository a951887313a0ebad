/*
 * OpenSSL and libevent_openssl, loaded on first use: a program that never
 * speaks TLS does not pay for binding their ~5000 symbols at start-up
 * (about 3.7M instructions, a third of h2lua's start). Files that use
 * TLS include this header instead of OpenSSL's: every OpenSSL or
 * libevent_openssl function they call is redirected to a pointer that
 * h2lua_tls_load() fills from the shared objects the build linked against
 * (configure finds their sonames).
 */
#ifndef H2LUA_TLSLIB_H
#define H2LUA_TLSLIB_H

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Every function called, with the library it comes from. A function
   missing here fails the link (the libraries are not linked); one listed
   and not redirected below fails to compile. */
#define H2LUA_TLS_FUNCS(X) \
  X(LIBCRYPTO, ASN1_STRING_to_UTF8) \
  X(LIBCRYPTO, ASN1_TIME_print) \
  X(LIBCRYPTO, BIO_ctrl) \
  X(LIBCRYPTO, BIO_free) \
  X(LIBCRYPTO, BIO_new) \
  X(LIBCRYPTO, BIO_new_mem_buf) \
  X(LIBCRYPTO, BIO_s_mem) \
  X(LIBCRYPTO, CRYPTO_free) \
  X(LIBCRYPTO, CRYPTO_get_ex_new_index) \
  X(LIBCRYPTO, ERR_clear_error) \
  X(LIBCRYPTO, ERR_error_string_n) \
  X(LIBCRYPTO, ERR_peek_last_error) \
  X(LIBCRYPTO, EVP_DigestFinal_ex) \
  X(LIBCRYPTO, EVP_DigestInit_ex) \
  X(LIBCRYPTO, EVP_DigestUpdate) \
  X(LIBCRYPTO, EVP_EncodeBlock) \
  X(LIBCRYPTO, EVP_MD_CTX_free) \
  X(LIBCRYPTO, EVP_MD_CTX_new) \
  X(LIBCRYPTO, EVP_PKEY_free) \
  X(LIBCRYPTO, EVP_sha1) \
  X(LIBCRYPTO, EVP_sha256) \
  X(LIBCRYPTO, OBJ_nid2sn) \
  X(LIBCRYPTO, OBJ_obj2nid) \
  X(LIBCRYPTO, PEM_read_bio_PrivateKey) \
  X(LIBCRYPTO, PEM_read_bio_X509) \
  X(LIBCRYPTO, PEM_read_bio_X509_AUX) \
  X(LIBSSL, SSL_CIPHER_get_name) \
  X(LIBSSL, SSL_CTX_callback_ctrl) \
  X(LIBSSL, SSL_CTX_check_private_key) \
  X(LIBSSL, SSL_CTX_ctrl) \
  X(LIBSSL, SSL_CTX_free) \
  X(LIBSSL, SSL_CTX_get_cert_store) \
  X(LIBSSL, SSL_CTX_get_verify_mode) \
  X(LIBSSL, SSL_CTX_new) \
  X(LIBSSL, SSL_CTX_set_alpn_protos) \
  X(LIBSSL, SSL_CTX_set_alpn_select_cb) \
  X(LIBSSL, SSL_CTX_set_cipher_list) \
  X(LIBSSL, SSL_CTX_set_ciphersuites) \
  X(LIBSSL, SSL_CTX_set_default_verify_paths) \
  X(LIBSSL, SSL_CTX_set_options) \
  X(LIBSSL, SSL_CTX_set_verify) \
  X(LIBSSL, SSL_CTX_up_ref) \
  X(LIBSSL, SSL_CTX_use_PrivateKey) \
  X(LIBSSL, SSL_CTX_use_certificate) \
  X(LIBSSL, SSL_ctrl) \
  X(LIBSSL, SSL_free) \
  X(LIBSSL, SSL_get0_alpn_selected) \
  X(LIBSSL, SSL_get0_param) \
  X(LIBSSL, SSL_get1_peer_certificate) \
  X(LIBSSL, SSL_get_current_cipher) \
  X(LIBSSL, SSL_get_ex_data) \
  X(LIBSSL, SSL_get_servername) \
  X(LIBSSL, SSL_get_shutdown) \
  X(LIBSSL, SSL_get_verify_result) \
  X(LIBSSL, SSL_get_version) \
  X(LIBSSL, SSL_is_init_finished) \
  X(LIBSSL, SSL_new) \
  X(LIBSSL, SSL_set1_host) \
  X(LIBSSL, SSL_set_SSL_CTX) \
  X(LIBSSL, SSL_set_alpn_protos) \
  X(LIBSSL, SSL_set_ex_data) \
  X(LIBSSL, SSL_set_options) \
  X(LIBSSL, SSL_shutdown) \
  X(LIBSSL, TLS_client_method) \
  X(LIBSSL, TLS_server_method) \
  X(LIBCRYPTO, X509_NAME_ENTRY_get_data) \
  X(LIBCRYPTO, X509_NAME_ENTRY_get_object) \
  X(LIBCRYPTO, X509_NAME_entry_count) \
  X(LIBCRYPTO, X509_NAME_get_entry) \
  X(LIBCRYPTO, X509_STORE_add_cert) \
  X(LIBCRYPTO, X509_VERIFY_PARAM_set1_ip_asc) \
  X(LIBCRYPTO, X509_digest) \
  X(LIBCRYPTO, X509_free) \
  X(LIBCRYPTO, X509_get0_notAfter) \
  X(LIBCRYPTO, X509_get0_notBefore) \
  X(LIBCRYPTO, X509_get_issuer_name) \
  X(LIBCRYPTO, X509_get_subject_name) \
  X(LIBCRYPTO, X509_verify_cert_error_string) \
  X(LIBEVSSL, bufferevent_get_openssl_error) \
  X(LIBEVSSL, bufferevent_openssl_get_ssl) \
  X(LIBEVSSL, bufferevent_openssl_set_allow_dirty_shutdown) \
  X(LIBEVSSL, bufferevent_openssl_socket_new)

#define H2LUA_TLS_DECLARE(lib, f) extern __typeof__(f) *h2lua_tlsfn_##f;
H2LUA_TLS_FUNCS(H2LUA_TLS_DECLARE)
#undef H2LUA_TLS_DECLARE

/* 1 once loaded, -1 once loading failed, 0 before. */
extern int h2lua_tls_state;

/* Loads the libraries (once); returns 0, or -1 with why in *why. */
int h2lua_tls_load(const char **why);
/* Whether the libraries are loaded: no TLS object can exist before. */
#define h2lua_tls_loaded() (h2lua_tls_state > 0)
/* Loads them or ends the program with the reason: for a call no entry
   point loaded them for (a bug; entry points call h2lua_tls_load). */
void h2lua_tls_need(void);

#define H2LUA_TLSFN(f) \
  (*(h2lua_tls_state > 0 ? h2lua_tlsfn_##f : (h2lua_tls_need(), h2lua_tlsfn_##f)))

#ifndef H2LUA_TLSLIB_IMPL
#define ASN1_STRING_to_UTF8 H2LUA_TLSFN(ASN1_STRING_to_UTF8)
#define ASN1_TIME_print H2LUA_TLSFN(ASN1_TIME_print)
#define BIO_ctrl H2LUA_TLSFN(BIO_ctrl)
#define BIO_free H2LUA_TLSFN(BIO_free)
#define BIO_new H2LUA_TLSFN(BIO_new)
#define BIO_new_mem_buf H2LUA_TLSFN(BIO_new_mem_buf)
#define BIO_s_mem H2LUA_TLSFN(BIO_s_mem)
#define CRYPTO_free H2LUA_TLSFN(CRYPTO_free)
#define CRYPTO_get_ex_new_index H2LUA_TLSFN(CRYPTO_get_ex_new_index)
#define ERR_clear_error H2LUA_TLSFN(ERR_clear_error)
#define ERR_error_string_n H2LUA_TLSFN(ERR_error_string_n)
#define ERR_peek_last_error H2LUA_TLSFN(ERR_peek_last_error)
#define EVP_DigestFinal_ex H2LUA_TLSFN(EVP_DigestFinal_ex)
#define EVP_DigestInit_ex H2LUA_TLSFN(EVP_DigestInit_ex)
#define EVP_DigestUpdate H2LUA_TLSFN(EVP_DigestUpdate)
#define EVP_EncodeBlock H2LUA_TLSFN(EVP_EncodeBlock)
#define EVP_MD_CTX_free H2LUA_TLSFN(EVP_MD_CTX_free)
#define EVP_MD_CTX_new H2LUA_TLSFN(EVP_MD_CTX_new)
#define EVP_PKEY_free H2LUA_TLSFN(EVP_PKEY_free)
#define EVP_sha1 H2LUA_TLSFN(EVP_sha1)
#define EVP_sha256 H2LUA_TLSFN(EVP_sha256)
#define OBJ_nid2sn H2LUA_TLSFN(OBJ_nid2sn)
#define OBJ_obj2nid H2LUA_TLSFN(OBJ_obj2nid)
#define PEM_read_bio_PrivateKey H2LUA_TLSFN(PEM_read_bio_PrivateKey)
#define PEM_read_bio_X509 H2LUA_TLSFN(PEM_read_bio_X509)
#define PEM_read_bio_X509_AUX H2LUA_TLSFN(PEM_read_bio_X509_AUX)
#define SSL_CIPHER_get_name H2LUA_TLSFN(SSL_CIPHER_get_name)
#define SSL_CTX_callback_ctrl H2LUA_TLSFN(SSL_CTX_callback_ctrl)
#define SSL_CTX_check_private_key H2LUA_TLSFN(SSL_CTX_check_private_key)
#define SSL_CTX_ctrl H2LUA_TLSFN(SSL_CTX_ctrl)
#define SSL_CTX_free H2LUA_TLSFN(SSL_CTX_free)
#define SSL_CTX_get_cert_store H2LUA_TLSFN(SSL_CTX_get_cert_store)
#define SSL_CTX_get_verify_mode H2LUA_TLSFN(SSL_CTX_get_verify_mode)
#define SSL_CTX_new H2LUA_TLSFN(SSL_CTX_new)
#define SSL_CTX_set_alpn_protos H2LUA_TLSFN(SSL_CTX_set_alpn_protos)
#define SSL_CTX_set_alpn_select_cb H2LUA_TLSFN(SSL_CTX_set_alpn_select_cb)
#define SSL_CTX_set_cipher_list H2LUA_TLSFN(SSL_CTX_set_cipher_list)
#define SSL_CTX_set_ciphersuites H2LUA_TLSFN(SSL_CTX_set_ciphersuites)
#define SSL_CTX_set_default_verify_paths H2LUA_TLSFN(SSL_CTX_set_default_verify_paths)
#define SSL_CTX_set_options H2LUA_TLSFN(SSL_CTX_set_options)
#define SSL_CTX_set_verify H2LUA_TLSFN(SSL_CTX_set_verify)
#define SSL_CTX_up_ref H2LUA_TLSFN(SSL_CTX_up_ref)
#define SSL_CTX_use_PrivateKey H2LUA_TLSFN(SSL_CTX_use_PrivateKey)
#define SSL_CTX_use_certificate H2LUA_TLSFN(SSL_CTX_use_certificate)
#define SSL_ctrl H2LUA_TLSFN(SSL_ctrl)
#define SSL_free H2LUA_TLSFN(SSL_free)
#define SSL_get0_alpn_selected H2LUA_TLSFN(SSL_get0_alpn_selected)
#define SSL_get0_param H2LUA_TLSFN(SSL_get0_param)
#define SSL_get1_peer_certificate H2LUA_TLSFN(SSL_get1_peer_certificate)
#define SSL_get_current_cipher H2LUA_TLSFN(SSL_get_current_cipher)
#define SSL_get_ex_data H2LUA_TLSFN(SSL_get_ex_data)
#define SSL_get_servername H2LUA_TLSFN(SSL_get_servername)
#define SSL_get_shutdown H2LUA_TLSFN(SSL_get_shutdown)
#define SSL_get_verify_result H2LUA_TLSFN(SSL_get_verify_result)
#define SSL_get_version H2LUA_TLSFN(SSL_get_version)
#define SSL_is_init_finished H2LUA_TLSFN(SSL_is_init_finished)
#define SSL_new H2LUA_TLSFN(SSL_new)
#define SSL_set1_host H2LUA_TLSFN(SSL_set1_host)
#define SSL_set_SSL_CTX H2LUA_TLSFN(SSL_set_SSL_CTX)
#define SSL_set_alpn_protos H2LUA_TLSFN(SSL_set_alpn_protos)
#define SSL_set_ex_data H2LUA_TLSFN(SSL_set_ex_data)
#define SSL_set_options H2LUA_TLSFN(SSL_set_options)
#define SSL_shutdown H2LUA_TLSFN(SSL_shutdown)
#define TLS_client_method H2LUA_TLSFN(TLS_client_method)
#define TLS_server_method H2LUA_TLSFN(TLS_server_method)
#define X509_NAME_ENTRY_get_data H2LUA_TLSFN(X509_NAME_ENTRY_get_data)
#define X509_NAME_ENTRY_get_object H2LUA_TLSFN(X509_NAME_ENTRY_get_object)
#define X509_NAME_entry_count H2LUA_TLSFN(X509_NAME_entry_count)
#define X509_NAME_get_entry H2LUA_TLSFN(X509_NAME_get_entry)
#define X509_STORE_add_cert H2LUA_TLSFN(X509_STORE_add_cert)
#define X509_VERIFY_PARAM_set1_ip_asc H2LUA_TLSFN(X509_VERIFY_PARAM_set1_ip_asc)
#define X509_digest H2LUA_TLSFN(X509_digest)
#define X509_free H2LUA_TLSFN(X509_free)
#define X509_get0_notAfter H2LUA_TLSFN(X509_get0_notAfter)
#define X509_get0_notBefore H2LUA_TLSFN(X509_get0_notBefore)
#define X509_get_issuer_name H2LUA_TLSFN(X509_get_issuer_name)
#define X509_get_subject_name H2LUA_TLSFN(X509_get_subject_name)
#define X509_verify_cert_error_string H2LUA_TLSFN(X509_verify_cert_error_string)
#define bufferevent_get_openssl_error H2LUA_TLSFN(bufferevent_get_openssl_error)
#define bufferevent_openssl_get_ssl H2LUA_TLSFN(bufferevent_openssl_get_ssl)
#define bufferevent_openssl_set_allow_dirty_shutdown H2LUA_TLSFN(bufferevent_openssl_set_allow_dirty_shutdown)
#define bufferevent_openssl_socket_new H2LUA_TLSFN(bufferevent_openssl_socket_new)
#endif

#endif
