/*
 * Header blocks between nghttp2 and Lua. Owns a scratch nv array reused
 * across calls (the engine runs on one thread).
 */
#include "headers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int grow(h2lua_hblock *b) {
  if (b->n < b->cap) return 0;
  size_t cap = b->cap ? b->cap * 2 : 16;
  h2lua_hpair *p = realloc(b->pairs, cap * sizeof(*p));
  if (p == NULL) return -1;
  b->pairs = p;
  b->cap = cap;
  return 0;
}

int h2lua_hblock_add_rc(h2lua_hblock *b, nghttp2_rcbuf *name,
                        nghttp2_rcbuf *value, uint8_t flags) {
  if (grow(b) != 0) return -1;
  h2lua_hpair *p = &b->pairs[b->n++];
  nghttp2_vec nv = nghttp2_rcbuf_get_buf(name), vv = nghttp2_rcbuf_get_buf(value);
  nghttp2_rcbuf_incref(name);
  nghttp2_rcbuf_incref(value);
  p->name = nv.base;
  p->namelen = nv.len;
  p->value = vv.base;
  p->valuelen = vv.len;
  p->flags = flags;
  p->rc_name = name;
  p->rc_value = value;
  p->own = NULL;
  b->bytes += nv.len + vv.len;
  return 0;
}

int h2lua_hblock_add_copy(h2lua_hblock *b, const char *name, size_t namelen,
                          const char *value, size_t valuelen) {
  if (grow(b) != 0) return -1;
  char *own = malloc(namelen + valuelen + 2);
  if (own == NULL) return -1;
  memcpy(own, name, namelen);
  own[namelen] = 0;
  memcpy(own + namelen + 1, value, valuelen);
  own[namelen + 1 + valuelen] = 0;
  h2lua_hpair *p = &b->pairs[b->n++];
  p->name = (const uint8_t *)own;
  p->namelen = namelen;
  p->value = (const uint8_t *)own + namelen + 1;
  p->valuelen = valuelen;
  p->flags = NGHTTP2_NV_FLAG_NONE;
  p->rc_name = p->rc_value = NULL;
  p->own = own;
  b->bytes += namelen + valuelen;
  return 0;
}

void h2lua_hblock_own(h2lua_hblock *b) {
  for (size_t i = 0; i < b->n; i++) {
    h2lua_hpair *p = &b->pairs[i];
    if (p->rc_name == NULL && p->rc_value == NULL) continue;
    char *own = malloc(p->namelen + p->valuelen + 2);
    if (own == NULL) {
      b->bytes -= p->namelen + p->valuelen;
      p->namelen = p->valuelen = 0;
      p->name = p->value = (const uint8_t *)"";
    } else {
      memcpy(own, p->name, p->namelen);
      own[p->namelen] = 0;
      memcpy(own + p->namelen + 1, p->value, p->valuelen);
      own[p->namelen + 1 + p->valuelen] = 0;
      p->name = (const uint8_t *)own;
      p->value = (const uint8_t *)own + p->namelen + 1;
    }
    if (p->rc_name) nghttp2_rcbuf_decref(p->rc_name);
    if (p->rc_value) nghttp2_rcbuf_decref(p->rc_value);
    p->rc_name = p->rc_value = NULL;
    p->own = own;
  }
}

static void drop(h2lua_hblock *b, h2lua_hpair *p) {
  if (p->rc_name) nghttp2_rcbuf_decref(p->rc_name);
  if (p->rc_value) nghttp2_rcbuf_decref(p->rc_value);
  free(p->own);
  b->bytes -= p->namelen + p->valuelen;
}

void h2lua_hblock_consume(h2lua_hblock *b, size_t npairs) {
  if (npairs > b->n) npairs = b->n;
  for (size_t i = 0; i < npairs; i++) drop(b, &b->pairs[i]);
  size_t rest = b->n - npairs;
  if (rest) memmove(b->pairs, b->pairs + npairs, rest * sizeof(*b->pairs));
  b->n = rest;
}

void h2lua_hblock_free(h2lua_hblock *b) {
  h2lua_hblock_consume(b, b->n);
  free(b->pairs);
  b->pairs = NULL;
  b->n = b->cap = 0;
  b->bytes = 0;
}

/* Lua strings for the field names and values peers send again and
   again, anchored in the registry: pushing one costs a lookup here, not
   Lua's hashing and interning. Direct-mapped; a miss replaces. */
#define SCACHE_SIZE 256
#define SCACHE_MAXLEN 48

typedef struct scache_entry {
  uint32_t hash;
  uint8_t len;
  char bytes[SCACHE_MAXLEN];
  int ref;
} scache_entry;

static void scache_free(h2lua_rt *rt) {
  free(rt->strcache);
  rt->strcache = NULL;
}

/* Pushes the string and keeps it in the registry slot |*ref| (made or
   replaced). */
static void push_kept(lua_State *L, const uint8_t *p, size_t len, int *ref) {
  lua_pushlstring(L, (const char *)p, len);
  lua_pushvalue(L, -1);
  if (*ref == LUA_NOREF) *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  else lua_rawseti(L, LUA_REGISTRYINDEX, *ref);
}

static void push_cached(lua_State *L, h2lua_rt *rt, const uint8_t *p, size_t len) {
  if (len > SCACHE_MAXLEN) {
    lua_pushlstring(L, (const char *)p, len);
    return;
  }
  scache_entry *cache = rt->strcache;
  if (cache == NULL) {
    cache = rt->strcache = malloc(SCACHE_SIZE * sizeof(*cache));
    if (cache == NULL) {
      lua_pushlstring(L, (const char *)p, len);
      return;
    }
    for (int i = 0; i < SCACHE_SIZE; i++) cache[i].ref = LUA_NOREF;
    h2lua_rt_on_close(rt, scache_free);
  }
  /* a cheap hash: the length and the first and last 8 bytes (memcmp
     below decides) */
  uint64_t a = 0, z = 0;
  memcpy(&a, p, len < 8 ? len : 8);
  if (len > 8) memcpy(&z, p + len - 8, 8);
  uint64_t x = (a ^ (z * 0x9e3779b97f4a7c15ull) ^ len) * 0xff51afd7ed558ccdull;
  uint32_t h = (uint32_t)(x >> 32);
  scache_entry *e = &cache[(h ^ (h >> 16)) & (SCACHE_SIZE - 1)];
  if (e->ref != LUA_NOREF && e->hash == h && e->len == len &&
      memcmp(e->bytes, p, len) == 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
    return;
  }
  push_kept(L, p, len, &e->ref);
  e->hash = h;
  e->len = (uint8_t)len;
  memcpy(e->bytes, p, len);
}

/* Strings of nghttp2's static table (names, and values like "GET"):
   their bytes never move or change, so the pointer alone finds them. */
#define STATIC_CACHE 128
typedef struct static_entry {
  const uint8_t *p;
  int ref;
} static_entry;

static void static_free(h2lua_rt *rt) {
  free(rt->static_strings);
  rt->static_strings = NULL;
}

static void push_static(lua_State *L, h2lua_rt *rt, const uint8_t *p, size_t len) {
  static_entry *cache = rt->static_strings;
  if (cache == NULL) {
    cache = rt->static_strings = calloc(STATIC_CACHE, sizeof(*cache));
    if (cache == NULL) {
      push_cached(L, rt, p, len);
      return;
    }
    for (int i = 0; i < STATIC_CACHE; i++) cache[i].ref = LUA_NOREF;
    h2lua_rt_on_close(rt, static_free);
  }
  uintptr_t x = (uintptr_t)p;
  static_entry *e = &cache[((x >> 3) ^ (x >> 11)) & (STATIC_CACHE - 1)];
  if (e->p == p) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
    return;
  }
  push_kept(L, p, len, &e->ref);
  e->p = p;
}

static void push_field(lua_State *L, h2lua_rt *rt, nghttp2_rcbuf *rc,
                       const uint8_t *p, size_t len) {
  if (rc && nghttp2_rcbuf_is_static(rc)) push_static(L, rt, p, len);
  else push_cached(L, rt, p, len);
}

/* Whether pair |i| repeats the name of an earlier one (small blocks are
   checked here, in C; larger ones by the table itself). */
static int repeats(const h2lua_hblock *b, size_t i) {
  const h2lua_hpair *p = &b->pairs[i];
  for (size_t j = 0; j < i; j++) {
    const h2lua_hpair *q = &b->pairs[j];
    if (q->namelen == p->namelen &&
        (p->namelen == 0 || q->name[p->namelen - 1] == p->name[p->namelen - 1]) &&
        memcmp(q->name, p->name, p->namelen) == 0)
      return 1;
  }
  return 0;
}
#define SMALL_BLOCK 24

/* The length and the last byte first: most names fail there, without a
   call to memcmp. */
static int is(const h2lua_hpair *p, const char *s, size_t len) {
  return p->namelen == len && p->name[len - 1] == (uint8_t)s[len - 1] &&
         memcmp(p->name, s, len) == 0;
}

/* Joins every list of the pending table at |pending| into the headers
   table at |h|: one pass over the bytes, whatever the number of
   duplicates. */
static void join_pending(lua_State *L, int h, int pending) {
  lua_pushnil(L);
  while (lua_next(L, pending)) {
    size_t nl;
    const char *name = lua_tolstring(L, -2, &nl);
    const char *sep = (nl == 6 && memcmp(name, "cookie", 6) == 0) ? "; " : ", ";
    luaL_Buffer buf;
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    int list = lua_gettop(L);
    luaL_buffinit(L, &buf);
    for (lua_Integer i = 1; i <= n; i++) {
      if (i > 1) luaL_addlstring(&buf, sep, 2);
      lua_rawgeti(L, list, i);
      luaL_addvalue(&buf);
    }
    luaL_pushresult(&buf);
    lua_pushvalue(L, -3); /* name */
    lua_insert(L, -2);
    lua_rawset(L, h);
    lua_pop(L, 1); /* the list */
  }
}

/* Its metatable gives an empty sensitiveHeaders list when none came. */
static void set_headers_mt(lua_State *L, h2lua_rt *rt, int h) {
  if (rt->headers_mt_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->headers_mt_ref);
    lua_setmetatable(L, h);
  } else {
    lua_pushnil(L);
    lua_setmetatable(L, h);
  }
}

/* Fills the empty headers table at |h| (and the raw sequence at |rawt|,
   when not 0) from the first |npairs| pairs of |b|. */
static void fill_table(lua_State *L, h2lua_rt *rt, const h2lua_hblock *b,
                       size_t npairs, int h, int rawt) {
  int top = lua_gettop(L);
  /* fixed slots, each filled when first needed: the single-value names,
     the never-indexed names and the duplicates waiting to be joined */
  lua_pushnil(L);
  int single = lua_gettop(L);
  lua_pushnil(L);
  int sens = single + 1;
  lua_pushnil(L);
  int pending = single + 2;
  lua_Integer nsens = 0;
  for (size_t i = 0; i < npairs; i++) {
    const h2lua_hpair *p = &b->pairs[i];
    push_field(L, rt, p->rc_name, p->name, p->namelen);
    push_field(L, rt, p->rc_value, p->value, p->valuelen);
    if (rawt) {
      lua_pushvalue(L, -2);
      lua_rawseti(L, rawt, (lua_Integer)(2 * i + 1));
      lua_pushvalue(L, -1);
      lua_rawseti(L, rawt, (lua_Integer)(2 * i + 2));
    }
    int setcookie = is(p, "set-cookie", 10);
    if (is(p, ":status", 7)) {
      lua_Integer code = 0;
      for (size_t k = 0; k < p->valuelen && p->value[k] >= '0' && p->value[k] <= '9'; k++)
        code = code * 10 + (p->value[k] - '0');
      lua_pop(L, 1);
      lua_pushinteger(L, code);
    }
    if (p->flags & NGHTTP2_NV_FLAG_NO_INDEX) {
      if (nsens == 0) {
        lua_newtable(L);
        lua_replace(L, sens);
        lua_rawgeti(L, LUA_REGISTRYINDEX, rt->sensitive_ref);
        lua_pushvalue(L, sens);
        lua_rawset(L, h);
      }
      lua_pushvalue(L, -2);
      lua_rawseti(L, sens, ++nsens);
    }
    /* stack: name value */
    if (npairs <= SMALL_BLOCK && !repeats(b, i)) {
      if (setcookie) {
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
      }
      lua_rawset(L, h);
      continue;
    }
    lua_pushvalue(L, -2);
    int t = lua_rawget(L, h);
    if (t == LUA_TNIL) {
      lua_pop(L, 1);
      if (setcookie) {
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
      }
      lua_rawset(L, h);
      continue;
    }
    /* a duplicate: name value existing */
    if (lua_isnil(L, single)) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, rt->single_ref);
      lua_replace(L, single);
    }
    lua_pushvalue(L, -3);
    int is_single = lua_rawget(L, single) != LUA_TNIL;
    lua_pop(L, 1);
    if (is_single) {
      lua_pop(L, 3);
    } else if (setcookie && t == LUA_TTABLE) {
      lua_pushvalue(L, -2);
      lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
      lua_pop(L, 3);
    } else {
      if (lua_isnil(L, pending)) {
        lua_newtable(L);
        lua_replace(L, pending);
      }
      lua_pushvalue(L, -3);
      if (lua_rawget(L, pending) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_createtable(L, 4, 0);
        lua_pushvalue(L, -2); /* existing */
        lua_rawseti(L, -2, 1);
        lua_pushvalue(L, -4); /* name */
        lua_pushvalue(L, -2);
        lua_rawset(L, pending);
      }
      /* name value existing list */
      lua_pushvalue(L, -3);
      lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
      lua_pop(L, 4);
    }
  }
  if (!lua_isnil(L, pending)) join_pending(L, h, pending);
  lua_settop(L, top);
}

void h2lua_push_headers(lua_State *L, h2lua_rt *rt, const h2lua_hblock *b,
                        size_t npairs, int raw) {
  if (npairs > b->n) npairs = b->n;
  lua_createtable(L, 0, (int)npairs);
  int h = lua_gettop(L);
  if (rt->headers_mt_ref != LUA_NOREF) set_headers_mt(L, rt, h);
  if (raw) lua_createtable(L, (int)npairs * 2, 0);
  fill_table(L, rt, b, npairs, h, raw ? h + 1 : 0);
}

/* ---- request headers filled on first use ----

   Most handlers read a few fields of a request, or none: building the
   whole table is the largest part of handing a request to Lua. So a
   request's table starts with one entry, under a key no Lua code can
   name, holding a copy of the block; reading a field that came once
   fills that field, and anything that needs the whole (pairs(), a name
   that came twice, set-cookie, the sensitiveHeaders key) fills the rest.
   Then the table is a plain one with the usual metatable. A field that
   Lua has read or assigned is never filled again, so a deletion or an
   assignment stays as Lua left it. */
static const char LAZY_KEY = 0; /* its address is the key */
#define LAZY_PARTIAL_MAX 64 /* pairs a |taken| mask covers */

typedef struct lazy_pair {
  uint32_t noff, nlen, voff, vlen;
  uint8_t flags;
} lazy_pair;

typedef struct lazy_block {
  uint32_t n;
  int sens_taken;  /* Lua assigned headers[sensitiveHeaders] */
  uint64_t taken;  /* the pairs whose name Lua has read or assigned */
  lazy_pair p[];   /* then the bytes */
} lazy_block;

static const uint8_t *lazy_bytes(const lazy_block *lb) {
  return (const uint8_t *)&lb->p[lb->n];
}

static int lazy_named(const lazy_block *lb, uint32_t i, const char *k, size_t kl) {
  const lazy_pair *q = &lb->p[i];
  const uint8_t *nm = lazy_bytes(lb) + q->noff;
  return q->nlen == kl && kl > 0 && nm[kl - 1] == (uint8_t)k[kl - 1] &&
         memcmp(nm, k, kl) == 0;
}

/* Whether Lua has read or assigned the field |k| of the table. */
static int lazy_taken(const lazy_block *lb, const char *k, size_t kl) {
  for (uint32_t i = 0; i < lb->n && i < LAZY_PARTIAL_MAX; i++)
    if ((lb->taken >> i & 1) && lazy_named(lb, i, k, kl)) return 1;
  return 0;
}

static int is_sensitive_key(lua_State *L, h2lua_rt *rt, int idx) {
  if (rt->sensitive_ref == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->sensitive_ref);
  int eq = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return eq;
}

/* Fills the rest of the table at |t| from the block at |lbi| (on the
   stack, so kept alive while this runs). */
static void lazy_fill(lua_State *L, h2lua_rt *rt, int t, int lbi) {
  int top = lua_gettop(L);
  lazy_block *lb = lua_touserdata(L, lbi);
  h2lua_hpair few[16], *pp = few;
  if (lb->n > 16) pp = lua_newuserdatauv(L, lb->n * sizeof(*pp), 0);
  const uint8_t *bytes = lazy_bytes(lb);
  for (uint32_t i = 0; i < lb->n; i++) {
    const lazy_pair *q = &lb->p[i];
    pp[i] = (h2lua_hpair){.name = bytes + q->noff, .value = bytes + q->voff,
                          .namelen = q->nlen, .valuelen = q->vlen, .flags = q->flags};
  }
  h2lua_hblock view = {pp, lb->n, lb->n, 0};
  lua_pushnil(L);
  lua_rawsetp(L, t, &LAZY_KEY);
  if (lb->taken == 0 && !lb->sens_taken) {
    fill_table(L, rt, &view, lb->n, t, 0);
  } else { /* the whole table apart, then what Lua has not touched */
    h2lua_push_headers(L, rt, &view, lb->n, 0);
    int whole = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, whole)) {
      int keep = !lb->sens_taken;
      if (lua_type(L, -2) == LUA_TSTRING) {
        size_t kl;
        const char *k = lua_tolstring(L, -2, &kl);
        keep = !lazy_taken(lb, k, kl);
      }
      if (keep) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, t);
      } else {
        lua_pop(L, 1);
      }
    }
  }
  set_headers_mt(L, rt, t);
  lua_settop(L, top);
}

/* __index(t, k): the field k, filled now. */
static int lazy_index(lua_State *L) {
  h2lua_rt *rt = lua_touserdata(L, lua_upvalueindex(1));
  lua_settop(L, 2);
  if (lua_rawgetp(L, 1, &LAZY_KEY) == LUA_TUSERDATA) {
    lazy_block *lb = lua_touserdata(L, 3);
    if (lua_type(L, 2) == LUA_TSTRING && lb->n <= LAZY_PARTIAL_MAX) {
      size_t kl;
      const char *k = lua_tolstring(L, 2, &kl);
      uint32_t first = 0, count = 0;
      for (uint32_t i = 0; i < lb->n; i++)
        if (lazy_named(lb, i, k, kl) && count++ == 0) first = i;
      if (count == 0 || (lb->taken >> first & 1)) return 0; /* not sent, or deleted */
      int whole = count > 1 || (kl == 10 && memcmp(k, "set-cookie", 10) == 0) ||
                  (kl == 7 && memcmp(k, ":status", 7) == 0);
      if (!whole) {
        const lazy_pair *q = &lb->p[first];
        push_cached(L, rt, lazy_bytes(lb) + q->voff, q->vlen);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 1);
        lb->taken |= (uint64_t)1 << first;
        return 1;
      }
    }
    lazy_fill(L, rt, 1, 3);
  }
  lua_settop(L, 2);
  lua_gettable(L, 1); /* the plain table's metatable answers the rest */
  return 1;
}

/* __newindex(t, k, v): an assignment stays as Lua made it. */
static int lazy_newindex(lua_State *L) {
  h2lua_rt *rt = lua_touserdata(L, lua_upvalueindex(1));
  lua_settop(L, 3);
  if (lua_rawgetp(L, 1, &LAZY_KEY) == LUA_TUSERDATA) {
    lazy_block *lb = lua_touserdata(L, 4);
    if (lb->n > LAZY_PARTIAL_MAX) {
      lazy_fill(L, rt, 1, 4);
    } else if (lua_type(L, 2) == LUA_TSTRING) {
      size_t kl;
      const char *k = lua_tolstring(L, 2, &kl);
      for (uint32_t i = 0; i < lb->n; i++)
        if (lazy_named(lb, i, k, kl)) lb->taken |= (uint64_t)1 << i;
    } else if (is_sensitive_key(L, rt, 2)) {
      lb->sens_taken = 1;
    }
  }
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 0;
}

static int lazy_next(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

/* __pairs(t): the whole table, then a plain traversal. */
static int lazy_pairs(lua_State *L) {
  h2lua_rt *rt = lua_touserdata(L, lua_upvalueindex(1));
  lua_settop(L, 1);
  if (lua_rawgetp(L, 1, &LAZY_KEY) == LUA_TUSERDATA) lazy_fill(L, rt, 1, 2);
  lua_settop(L, 1);
  lua_pushcfunction(L, lazy_next);
  lua_insert(L, 1);
  lua_pushnil(L);
  return 3;
}

static void push_lazy_mt(lua_State *L, h2lua_rt *rt) {
  if (rt->lazy_headers_mt_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->lazy_headers_mt_ref);
    return;
  }
  lua_createtable(L, 0, 4);
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, lazy_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, lazy_newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, lazy_pairs, 1);
  lua_setfield(L, -2, "__pairs");
  lua_pushvalue(L, -1);
  rt->lazy_headers_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int h2lua_headers_pending(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  int pending = lua_rawgetp(L, idx, &LAZY_KEY) == LUA_TUSERDATA;
  lua_pop(L, 1);
  return pending;
}

void h2lua_push_request_headers(lua_State *L, h2lua_rt *rt,
                                const h2lua_hblock *b, size_t npairs) {
  if (npairs > b->n) npairs = b->n;
  size_t bytes = 0;
  for (size_t i = 0; i < npairs; i++)
    bytes += b->pairs[i].namelen + b->pairs[i].valuelen;
  if (npairs == 0 || bytes > UINT32_MAX / 2) {
    h2lua_push_headers(L, rt, b, npairs, 0);
    return;
  }
  lua_createtable(L, 0, (int)npairs);
  lazy_block *lb = lua_newuserdatauv(L, sizeof(*lb) + npairs * sizeof(lazy_pair) + bytes, 0);
  lb->n = (uint32_t)npairs;
  lb->sens_taken = 0;
  lb->taken = 0;
  uint8_t *out = (uint8_t *)&lb->p[npairs];
  uint32_t off = 0;
  for (size_t i = 0; i < npairs; i++) {
    const h2lua_hpair *p = &b->pairs[i];
    lazy_pair *q = &lb->p[i];
    q->noff = off;
    q->nlen = (uint32_t)p->namelen;
    if (p->namelen) memcpy(out + off, p->name, p->namelen);
    off += (uint32_t)p->namelen;
    q->voff = off;
    q->vlen = (uint32_t)p->valuelen;
    if (p->valuelen) memcpy(out + off, p->value, p->valuelen);
    off += (uint32_t)p->valuelen;
    q->flags = p->flags;
  }
  lua_rawsetp(L, -2, &LAZY_KEY);
  push_lazy_mt(L, rt);
  lua_setmetatable(L, -2);
}

/* ---- Lua's headers to nghttp2 ---- */

static nghttp2_nv *scratch;
static size_t scratch_cap;

static int reserve(size_t n) {
  if (n <= scratch_cap) return 0;
  size_t cap = n < 32 ? 32 : n * 2;
  nghttp2_nv *p = realloc(scratch, cap * sizeof(*p));
  if (p == NULL) return -1;
  scratch = p;
  scratch_cap = cap;
  return 0;
}

int h2lua_nv_from_args(lua_State *L, int first, int sensitive_idx,
                       nghttp2_nv **nva, size_t *n) {
  int top = lua_gettop(L);
  size_t count = top >= first ? (size_t)(top - first + 1) / 2 : 0;
  if (reserve(count) != 0) return -1;
  int has_sens = lua_istable(L, sensitive_idx);
  for (size_t i = 0; i < count; i++) {
    int ni = first + (int)(2 * i);
    size_t nl, vl;
    if (lua_type(L, ni) != LUA_TSTRING || !lua_isstring(L, ni + 1))
      return (int)i + 1;
    const char *nm = lua_tolstring(L, ni, &nl);
    const char *v = lua_tolstring(L, ni + 1, &vl);
    scratch[i].name = (uint8_t *)nm;
    scratch[i].namelen = nl;
    scratch[i].value = (uint8_t *)v;
    scratch[i].valuelen = vl;
    scratch[i].flags = NGHTTP2_NV_FLAG_NONE;
    if (has_sens) {
      lua_pushvalue(L, ni);
      if (lua_rawget(L, sensitive_idx) != LUA_TNIL)
        scratch[i].flags = NGHTTP2_NV_FLAG_NO_INDEX;
      lua_pop(L, 1);
    }
  }
  *nva = scratch;
  *n = count;
  return 0;
}

/* RFC 9110 token characters, lower case only (upper case goes the slow
   way, which lowers it and checks for names given twice). */
static const char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

/* Fields HTTP/2 forbids (RFC 9113 8.2.2): Lua raises Node's error. */
static int connection_specific(const char *n, size_t len) {
  switch (len) {
  case 2: return memcmp(n, "te", 2) == 0; /* only "trailers": Lua decides */
  case 7: return memcmp(n, "upgrade", 7) == 0;
  case 10: return memcmp(n, "connection", 10) == 0 ||
                  memcmp(n, "keep-alive", 10) == 0;
  case 14: return memcmp(n, "http2-settings", 14) == 0;
  case 16: return memcmp(n, "proxy-connection", 16) == 0;
  case 17: return memcmp(n, "transfer-encoding", 17) == 0;
  default: return 0;
  }
}

static int clean_value(const char *v, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '\r' || c == '\n' || c == 0) return 0;
  }
  return 1;
}

#define MAX_FAST_FIELDS 64

int h2lua_nv_fast_response(lua_State *L, h2lua_rt *rt, int idx, int add_date,
                           nghttp2_nv **nva, size_t *n, int *status,
                           int *dated) {
  static char numbers[MAX_FAST_FIELDS][24];
  static char status_buf[4];
  int top = lua_gettop(L);
  size_t count = 1, nnum = 0;
  int st = 200, has_date = 0;
  if (reserve(MAX_FAST_FIELDS + 2) != 0) return 0;
  if (!lua_isnil(L, idx)) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      if (lua_type(L, -2) != LUA_TSTRING || count >= MAX_FAST_FIELDS) goto slow;
      size_t nl, vl;
      const char *name = lua_tolstring(L, -2, &nl);
      const char *v;
      if (nl == 0) goto slow;
      if (name[0] == ':') {
        if (nl != 7 || memcmp(name, ":status", 7) != 0 || !lua_isinteger(L, -1))
          goto slow;
        lua_Integer s = lua_tointeger(L, -1);
        if (s < 200 || s > 599) goto slow;
        st = (int)s;
        lua_pop(L, 1);
        continue;
      }
      for (size_t i = 0; i < nl; i++)
        if (!tchar[(unsigned char)name[i]]) goto slow;
      if (connection_specific(name, nl)) goto slow;
      int t = lua_type(L, -1);
      if (t == LUA_TSTRING) {
        v = lua_tolstring(L, -1, &vl);
        if (!clean_value(v, vl)) goto slow;
      } else if (t == LUA_TNUMBER && lua_isinteger(L, -1)) {
        int len = snprintf(numbers[nnum], sizeof(numbers[0]), "%lld",
                           (long long)lua_tointeger(L, -1));
        v = numbers[nnum++];
        vl = (size_t)len;
      } else {
        goto slow;
      }
      if (nl == 4 && memcmp(name, "date", 4) == 0) has_date = 1;
      nghttp2_nv *e = &scratch[count++];
      e->name = (uint8_t *)name;
      e->namelen = nl;
      e->value = (uint8_t *)v;
      e->valuelen = vl;
      e->flags = NGHTTP2_NV_FLAG_NONE;
      lua_pop(L, 1);
    }
  }
  status_buf[0] = (char)('0' + st / 100);
  status_buf[1] = (char)('0' + st / 10 % 10);
  status_buf[2] = (char)('0' + st % 10);
  scratch[0].name = (uint8_t *)":status";
  scratch[0].namelen = 7;
  scratch[0].value = (uint8_t *)status_buf;
  scratch[0].valuelen = 3;
  scratch[0].flags = NGHTTP2_NV_FLAG_NONE;
  *dated = 0;
  if (add_date && !has_date) {
    size_t dl;
    const char *d = h2lua_date(&dl);
    nghttp2_nv *e = &scratch[count++];
    e->name = (uint8_t *)"date";
    e->namelen = 4;
    e->value = (uint8_t *)d;
    e->valuelen = dl;
    e->flags = NGHTTP2_NV_FLAG_NONE;
    *dated = 1;
  }
  *nva = scratch;
  *n = count;
  *status = st;
  return 1;
slow:
  lua_settop(L, top);
  return 0;
}
