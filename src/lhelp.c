/*
 * Helpers the bindings share: box checks, error objects, settings and
 * option tables.
 */
#include "bind.h"

#include <stdarg.h>

void *h2lua_check_box(lua_State *L, int idx, int magic, const char *what) {
  int wrong;
  if (!lua_toboolean(L, idx) && !lua_isnone(L, idx)) return NULL; /* no object */
  void *p = h2lua_box_get(L, idx, magic, &wrong);
  if (wrong) luaL_error(L, "bad argument #%d (%s handle expected)", idx, what);
  return p;
}

int h2lua_raise(lua_State *L, const char *code, const char *name,
                const char *fmt, ...) {
  va_list ap;
  lua_createtable(L, 0, 3);
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_setfield(L, -2, "message");
  return lua_error(L);
}

size_t h2lua_check_settings(lua_State *L, int first, nghttp2_settings_entry *iv) {
  int n = (lua_gettop(L) - first + 1) / 2;
  if (n < 0) n = 0;
  if (n > H2LUA_MAX_SETTINGS) n = H2LUA_MAX_SETTINGS;
  for (int i = 0; i < n; i++) {
    iv[i].settings_id = (int32_t)luaL_checkinteger(L, first + 2 * i);
    iv[i].value = (uint32_t)luaL_checkinteger(L, first + 1 + 2 * i);
  }
  return (size_t)n;
}

void h2lua_settings_limits(const nghttp2_settings_entry *iv, size_t n,
                           h2lua_limits *limits) {
  for (size_t i = 0; i < n; i++)
    if (iv[i].settings_id == NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE)
      limits->max_header_list = limits->max_h1_header = iv[i].value;
}

static lua_Integer opt_int(lua_State *L, int idx, const char *k, lua_Integer dflt) {
  lua_getfield(L, idx, k);
  lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}

void h2lua_apply_options(lua_State *L, int idx, nghttp2_option *opt,
                         h2lua_limits *limits) {
  lua_Integer v;
  if ((v = opt_int(L, idx, "maxDeflateDynamicTableSize", -1)) >= 0)
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, (size_t)v);
  if ((v = opt_int(L, idx, "maxSettings", -1)) >= 0)
    nghttp2_option_set_max_settings(opt, (size_t)v);
  if ((v = opt_int(L, idx, "maxSendHeaderBlockLength", -1)) >= 0)
    nghttp2_option_set_max_send_header_block_length(opt, (size_t)v);
  if ((v = opt_int(L, idx, "peerMaxConcurrentStreams", -1)) >= 0)
    nghttp2_option_set_peer_max_concurrent_streams(opt, (uint32_t)v);
  if ((v = opt_int(L, idx, "maxReservedRemoteStreams", -1)) >= 0)
    nghttp2_option_set_max_reserved_remote_streams(opt, (uint32_t)v);
  if ((v = opt_int(L, idx, "maxHeaderListPairs", -1)) >= 0)
    limits->max_header_pairs = (size_t)(v < 4 ? 4 : v);
  if ((v = opt_int(L, idx, "maxSessionMemory", -1)) >= 0)
    limits->max_session_memory = (size_t)(v < 1 ? 1 : v) * 1024 * 1024;
  if ((v = opt_int(L, idx, "maxSessionInvalidFrames", -1)) >= 0)
    limits->max_invalid_frames = (uint32_t)v;
  if ((v = opt_int(L, idx, "maxSessionRejectedStreams", -1)) >= 0)
    limits->max_rejected_streams = (uint32_t)v;
  if ((v = opt_int(L, idx, "paddingStrategy", -1)) >= 0)
    limits->padding = (int)v;
}

void h2lua_check_nv(lua_State *L, int first, int sensitive_idx,
                    nghttp2_nv **nva, size_t *n) {
  int bad = h2lua_nv_from_args(L, first, sensitive_idx, nva, n);
  if (bad < 0) luaL_error(L, "out of memory");
  if (bad > 0) luaL_error(L, "header %d is not a string", bad);
}
