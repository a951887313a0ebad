/*
 * The frame trace: every HTTP/2 frame a session sends or receives, as
 * one line on stderr (--trace, H2LUA_TRACE) and/or as a 'frame' event
 * for Lua. h2.c calls in only when a session traces (se->trace), so a
 * session that does not costs one test per frame.
 */
#ifndef H2LUA_TRACE_H
#define H2LUA_TRACE_H

#include <lua.h>
#include <nghttp2/nghttp2.h>

#include "runtime.h"

/* se->trace bits */
#define H2LUA_TRACE_PRINT 1 /* a line on stderr per frame */
#define H2LUA_TRACE_EVENT 2 /* an EV_FRAME per frame */
/* A server session whose 'session' event Lua has not had yet: its frames
   (the first read's: the client's SETTINGS, the first requests) are queued
   in case the 'session' listener listens for 'frame', and dropped at
   delivery if it did not. */
#define H2LUA_TRACE_EARLY 4

/* IGNORED: received whole, then dropped by nghttp2 without a word (only
   its header is known) */
enum { H2LUA_TRACE_RECV, H2LUA_TRACE_SEND, H2LUA_TRACE_INVALID, H2LUA_TRACE_IGNORED };

/* What a session's trace remembers (inside its protocol state, zeroed). */
typedef struct h2lua_trace_state {
  h2lua_handle *owner;       /* the session: its events are queued on it */
  int client;                /* a client session (the printed line says so) */
  unsigned no;               /* the session's number in the trace */
  size_t inflate, deflate;   /* HPACK dynamic table sizes last shown */
} h2lua_trace_state;

/* Whether the environment asks for the trace (H2LUA_TRACE set, not "0"). */
int h2lua_trace_env(void);
/* Traces |frame| (|dir|: H2LUA_TRACE_*; |lib_error| for an invalid one)
   as |what| (H2LUA_TRACE_* bits) asks. Never calls Lua. */
void h2lua_trace_frame(h2lua_trace_state *tr, unsigned what,
                       nghttp2_session *ngh, int dir,
                       const nghttp2_frame *frame, int lib_error);
/* Pushes the table of an EV_FRAME's blob; returns 1 (0 if malformed). */
int h2lua_trace_push(lua_State *L, const h2lua_blob *d);
/* RFC 9113's name of nghttp2's stream state |state| ("open", ...). */
const char *h2lua_trace_state_name(int state);

#endif
