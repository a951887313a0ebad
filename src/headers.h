/*
 * Header blocks: the fields a peer sent (kept as nghttp2 refcounted
 * buffers, or copied for HTTP/1.1) until Lua has them as a Node.js-shaped
 * headers table; and Lua's response headers checked and laid out as an
 * nghttp2_nv array. Never raises: bindings turn the results into errors.
 */
#ifndef H2LUA_HEADERS_H
#define H2LUA_HEADERS_H

#include <nghttp2/nghttp2.h>

#include "runtime.h"

typedef struct h2lua_hpair {
  const uint8_t *name, *value;
  size_t namelen, valuelen;
  uint8_t flags;                     /* NGHTTP2_NV_FLAG_NO_INDEX: never-indexed */
  nghttp2_rcbuf *rc_name, *rc_value; /* HTTP/2: the owners (refcounted) */
  void *own;                         /* HTTP/1.1: the owner (malloc'd) */
} h2lua_hpair;

typedef struct h2lua_hblock {
  h2lua_hpair *pairs;
  size_t n, cap;
  size_t bytes; /* name and value octets of the pairs held */
} h2lua_hblock;

/* Appends a pair owned by nghttp2 buffers (their references are taken).
   Returns 0, or -1 when out of memory. */
int h2lua_hblock_add_rc(h2lua_hblock *b, nghttp2_rcbuf *name,
                        nghttp2_rcbuf *value, uint8_t flags);
/* Appends a copy of the pair. Returns 0, or -1 when out of memory. */
int h2lua_hblock_add_copy(h2lua_hblock *b, const char *name, size_t namelen,
                          const char *value, size_t valuelen);
/* Copies the pairs nghttp2's buffers hold into memory of the block's own
   (a pair that cannot be copied becomes empty): the buffers must not
   outlive their nghttp2 session. */
void h2lua_hblock_own(h2lua_hblock *b);
/* Drops the first |npairs| pairs (a block Lua has been given). */
void h2lua_hblock_consume(h2lua_hblock *b, size_t npairs);
/* Drops every pair and the array. */
void h2lua_hblock_free(h2lua_hblock *b);

/* Pushes the headers table of the first |npairs| pairs of |b| (Node's
   rules: ":status" a number, duplicates of single-value names dropped,
   set-cookie a sequence, cookie joined with "; ", others with ", ", in
   time linear in the block's size; headers[sensitiveHeaders] lists the
   names that came never-indexed), then, when |raw|, the flat rawHeaders
   sequence. Pushes 1 or 2 values. */
void h2lua_push_headers(lua_State *L, h2lua_rt *rt, const h2lua_hblock *b,
                        size_t npairs, int raw);

/* Pushes the same headers table as h2lua_push_headers (raw 0), filled as
   Lua reads it: the block is copied, |b| may be dropped at once. Lua's
   raw access (next, rawget) sees a private entry until the table is
   filled; pairs() fills it. Pushes 1 value. */
void h2lua_push_request_headers(lua_State *L, h2lua_rt *rt,
                                const h2lua_hblock *b, size_t npairs);

/* Whether the value at |idx| is a table of h2lua_push_request_headers
   not yet filled. */
int h2lua_headers_pending(lua_State *L, int idx);

/* Lays out the name/value strings from stack index |first| to the top as
   nv entries (|sensitive_idx|: a set of names to send never-indexed, or
   not a table). The strings must stay on the stack while the array is
   used. Returns 0, or the 1-based position of a pair that is not two
   strings. */
int h2lua_nv_from_args(lua_State *L, int first, int sensitive_idx,
                       nghttp2_nv **nva, size_t *n);

/* The common shape of response headers, checked in C: a table at |idx|
   (or nil) of lower-case token names and string or integer values without
   CR, LF or NUL, at most ":status" (an integer 200-599) as pseudo-header,
   no connection-specific field. On success returns 1, fills *nva and *n
   with ":status" first and a "date" added when |add_date| and none is
   given (*dated says so), and sets *status. Returns 0 when the table
   needs the full checks (Lua's), which also raise Node's errors. The stack
   is left as it was. */
int h2lua_nv_fast_response(lua_State *L, h2lua_rt *rt, int idx, int add_date,
                           nghttp2_nv **nva, size_t *n, int *status,
                           int *dated);

#endif
