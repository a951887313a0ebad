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

void h2lua_push_headers(lua_State *L, h2lua_rt *rt, const h2lua_hblock *b,
                        size_t npairs, int raw) {
  if (npairs > b->n) npairs = b->n;
  lua_createtable(L, 0, (int)npairs);
  int h = lua_gettop(L);
  /* its metatable gives an empty sensitiveHeaders list when none came */
  if (rt->headers_mt_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->headers_mt_ref);
    lua_setmetatable(L, h);
  }
  if (raw) lua_createtable(L, (int)npairs * 2, 0);
  int rawt = raw ? h + 1 : 0;
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
  lua_settop(L, rawt ? rawt : h);
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
