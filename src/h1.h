/*
 * HTTP/1.1 on an HTTP/2 port, with http-parser: one request at a time in
 * order (pipelined requests wait, unread, in the socket), answered through
 * the same stream records as HTTP/2; chunked bodies both ways, keep-alive,
 * Expect: 100-continue, size limits; and the RFC 7540 3.2 "Upgrade: h2c"
 * switch to HTTP/2.
 */
#ifndef H2LUA_H1_H
#define H2LUA_H1_H

#include "session.h"

extern const h2lua_proto h2lua_h1_proto;

/* Starts HTTP/1.1 on |se|. Returns 0, or -1 when out of memory. */
int h2lua_h1_start(h2lua_session *se);
/* Ends |se| once it is idle: now if no request is open, else after the
   current answer (sent with connection: close). */
void h2lua_h1_close(h2lua_session *se);

#endif
