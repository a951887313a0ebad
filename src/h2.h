/*
 * HTTP/2 over a session's connection, with libnghttp2: the nghttp2
 * callbacks (which only record and queue events), the data provider, the
 * limits nghttp2 leaves to us, and the h2lua_proto operations.
 */
#ifndef H2LUA_H2_H
#define H2LUA_H2_H

#include "session.h"

extern const h2lua_proto h2lua_h2_proto;

/* Starts HTTP/2 on |se| (server or client side as the session is) and
   queues the first SETTINGS. Returns 0, or an nghttp2 error code. */
int h2lua_h2_start(h2lua_session *se, const nghttp2_option *opt,
                   const nghttp2_settings_entry *iv, size_t niv);
/* RFC 7540 3.2: the HTTP/1.1 request |st| becomes stream 1 of the HTTP/2
   session just started on |se|. Returns 0, or an nghttp2 error code. */
int h2lua_h2_upgrade(h2lua_session *se, const uint8_t *settings, size_t len,
                     int head, h2lua_stream *st);
/* The nghttp2 session of |se|, or NULL (not HTTP/2, or gone). */
nghttp2_session *h2lua_h2_ngh(const h2lua_session *se);

/* A client request on |st| (a new record): the stream id, or an nghttp2
   error code. */
int32_t h2lua_h2_request(h2lua_session *se, h2lua_stream *st,
                         const nghttp2_priority_spec *pri,
                         const nghttp2_nv *nva, size_t n, int end);
/* A PUSH_PROMISE on |parent| for the new record |st|: its id, or an
   nghttp2 error code. */
int32_t h2lua_h2_push(h2lua_stream *parent, h2lua_stream *st,
                      const nghttp2_nv *nva, size_t n);
/* GOAWAY(NO_ERROR); the session ends once its streams are done. */
void h2lua_h2_close(h2lua_session *se);
/* GOAWAY(|code|) now, written before the connection closes, then the
   session ends. */
void h2lua_h2_destroy(h2lua_session *se, uint32_t code);

#endif
