/*
 * Field names the engine reads and writes in Lua objects, interned once
 * per runtime: setting one costs a table store, not a string lookup.
 */
#ifndef H2LUA_KEYS_H
#define H2LUA_KEYS_H

#define H2LUA_KEYS(K)                                                          \
  K(BOX, "_box") K(CLOSED, "closed") K(DESTROYED, "destroyed")                 \
  K(RSTCODE, "rstCode") K(ABORTED, "aborted") K(BUFFERSIZE, "bufferSize")      \
  K(PUSHALLOWED, "pushAllowed") K(HEADERSSENT, "headersSent")                  \
  K(SENTHEADERS, "sentHeaders") K(WRITABLEENDED, "writableEnded")              \
  K(IMPLICIT_END, "_implicit_end") K(EXPLICIT_END, "_explicit_end")            \
  K(STATUS, ":status") K(DATE, "date")

enum h2lua_key {
#define H2LUA_KEY_ENUM(id, s) H2LUA_K_##id,
  H2LUA_KEYS(H2LUA_KEY_ENUM)
#undef H2LUA_KEY_ENUM
  H2LUA_K_COUNT
};

#endif
