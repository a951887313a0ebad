/*
 * The bindings: the Lua-callable functions of the engine (l*), one file
 * per handle type, and the helpers they share. Only these files raise Lua
 * errors; everything below returns codes.
 */
#ifndef H2LUA_BIND_H
#define H2LUA_BIND_H

#include <nghttp2/nghttp2.h>

#include "runtime.h"
#include "session.h"

/* The object behind the box at |idx| (NULL once freed, or for nil and
   false: no object yet); raises when the value is something else (a
   caller bug). */
void *h2lua_check_box(lua_State *L, int idx, int magic, const char *what);
/* Raises an error object {code, name, message}. */
int h2lua_raise(lua_State *L, const char *code, const char *name,
                const char *fmt, ...);
/* Reads (id, value) argument pairs from |first| on into |iv| (at most
   H2LUA_MAX_SETTINGS); returns how many. */
size_t h2lua_check_settings(lua_State *L, int first, nghttp2_settings_entry *iv);
/* Applies what of the SETTINGS entries we send is also a local limit
   (maxHeaderListSize). */
void h2lua_settings_limits(const nghttp2_settings_entry *iv, size_t n,
                           h2lua_limits *limits);
/* Applies the session options of the table at |idx| (validated in Lua):
   the createServer and connect options. */
void h2lua_apply_options(lua_State *L, int idx, nghttp2_option *opt,
                         h2lua_limits *limits);
/* Lays out the name/value arguments from |first| as nv entries; raises
   when one is not a string. */
void h2lua_check_nv(lua_State *L, int first, int sensitive_idx,
                    nghttp2_nv **nva, size_t *n);

/* The function lists each binding file registers in core (lcore.c puts
   them in the module table with the runtime as upvalue). */
extern const luaL_Reg h2lua_server_funcs[], h2lua_session_funcs[],
    h2lua_stream_funcs[], h2lua_client_funcs[], h2lua_net_funcs[],
    h2lua_tls_funcs[];
/* h2lua.compress's encoders and h2lua.static's realpath (lcompress.c, lfile.c) */
extern const luaL_Reg h2lua_compress_funcs[], h2lua_file_funcs[];
void h2lua_compress_open(lua_State *L);
/* Metatables the binding files make at luaopen (|rt| gets their refs). */
void h2lua_stream_open(lua_State *L, h2lua_rt *rt);
void h2lua_tls_open(lua_State *L, h2lua_rt *rt);

#endif
