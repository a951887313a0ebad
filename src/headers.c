/*
 * Header blocks between nghttp2 and Lua: received pairs become the
 * Node.js-shaped headers table (and the flat rawHeaders list); Lua's
 * validated name/value arguments become an nghttp2_nv array. Owns only a
 * scratch nv array reused across calls.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void push_rcbuf(lua_State *L, nghttp2_rcbuf *rb) {
  nghttp2_vec v = nghttp2_rcbuf_get_buf(rb);
  lua_pushlstring(L, (const char *)v.base, v.len);
}

/* Pushes headers, rawHeaders for the first |npairs| pairs of |st|: the
   Node.js rules of toHeaderObject (":status" a number, duplicates of
   single-value names dropped, set-cookie a sequence, cookie joined "; ",
   others ", "), and headers[sensitiveHeaders] when any came never-indexed. */
void h2lua_push_headers(lua_State *L, h2lua_rt *rt, h2lua_stream *st,
                        size_t npairs) {
  if (npairs > st->nhdrs) npairs = st->nhdrs;
  lua_createtable(L, 0, (int)npairs);     /* headers */
  lua_createtable(L, (int)npairs * 2, 0); /* raw */
  int h = lua_gettop(L) - 1, raw = h + 1;
  int nsens = 0;
  for (size_t i = 0; i < npairs; i++) {
    nghttp2_vec nm = nghttp2_rcbuf_get_buf(st->hdrs[2 * i]);
    push_rcbuf(L, st->hdrs[2 * i]);      /* name */
    push_rcbuf(L, st->hdrs[2 * i + 1]);  /* value */
    lua_pushvalue(L, -2);
    lua_rawseti(L, raw, (lua_Integer)(2 * i + 1));
    lua_pushvalue(L, -1);
    lua_rawseti(L, raw, (lua_Integer)(2 * i + 2));
    int is_status = nm.len == 7 && memcmp(nm.base, ":status", 7) == 0;
    int is_setcookie = nm.len == 10 && memcmp(nm.base, "set-cookie", 10) == 0;
    if (is_status) {
      lua_Integer code = 0;
      size_t vl;
      const char *vs = lua_tolstring(L, -1, &vl);
      for (size_t k = 0; k < vl && vs[k] >= '0' && vs[k] <= '9'; k++)
        code = code * 10 + (vs[k] - '0');
      lua_pop(L, 1);
      lua_pushinteger(L, code);
    }
    if (st->hdr_flags[i] & NGHTTP2_NV_FLAG_NO_INDEX) {
      if (nsens == 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, rt->sensitive_key_ref);
        lua_newtable(L);
        lua_rawset(L, h);
      }
      lua_rawgeti(L, LUA_REGISTRYINDEX, rt->sensitive_key_ref);
      lua_rawget(L, h);
      lua_pushvalue(L, -3);
      lua_rawseti(L, -2, ++nsens);
      lua_pop(L, 1);
    }
    /* stack: name value */
    lua_pushvalue(L, -2);
    int t = lua_rawget(L, h); /* existing */
    if (t == LUA_TNIL) {
      lua_pop(L, 1);
      if (is_setcookie) {
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
      }
      lua_rawset(L, h);
      continue;
    }
    /* a duplicate: stack name value existing */
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->single_ref);
    lua_pushvalue(L, -4);
    int single = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    if (single) {
      lua_pop(L, 3);
    } else if (is_setcookie && t == LUA_TTABLE) {
      lua_pushvalue(L, -2);
      lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
      lua_pop(L, 3);
    } else {
      int cookie = nm.len == 6 && memcmp(nm.base, "cookie", 6) == 0;
      lua_pushstring(L, cookie ? "; " : ", ");
      lua_pushvalue(L, -3);
      lua_concat(L, 3);        /* name value joined */
      lua_remove(L, -2);       /* name joined */
      lua_rawset(L, h);
    }
  }
}

/* Collects the name/value arguments from |first| on into a scratch nv
   array; |sensitive_idx| may hold a set of names to send never-indexed.
   The strings stay on the Lua stack for the duration of the call. */
int h2lua_collect_nv(lua_State *L, int first, int sensitive_idx,
                     nghttp2_nv **out, size_t *n) {
  static nghttp2_nv *scratch;
  static size_t cap;
  int top = lua_gettop(L);
  size_t count = top >= first ? (size_t)(top - first + 1) / 2 : 0;
  if (count > cap) {
    size_t ncap = count < 32 ? 32 : count * 2;
    nghttp2_nv *p = realloc(scratch, ncap * sizeof(*p));
    if (p == NULL) return luaL_error(L, "out of memory");
    scratch = p;
    cap = ncap;
  }
  int has_sens = lua_istable(L, sensitive_idx);
  for (size_t i = 0; i < count; i++) {
    int ni = first + (int)(2 * i);
    size_t nl, vl;
    const char *nm = lua_tolstring(L, ni, &nl);
    const char *v = lua_tolstring(L, ni + 1, &vl);
    if (nm == NULL || v == NULL)
      return luaL_error(L, "header %d is not a string", (int)i + 1);
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
  *out = scratch;
  *n = count;
  return 0;
}
