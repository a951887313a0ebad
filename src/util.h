/*
 * Helpers with no state of their own beyond caches: clocks, the HTTP date,
 * Node's names for errno values, socket address formatting. The lowest
 * layer: it calls nothing else of h2lua.
 */
#ifndef H2LUA_UTIL_H
#define H2LUA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <event2/util.h>

/* Milliseconds of a monotonic clock. */
double h2lua_now(void);

/* The current IMF-fixdate ("Tue, 01 Dec 2026 20:13:06 GMT"), recomputed at
   most once a second; the pointer stays valid until the next call. */
const char *h2lua_date(size_t *len);

/* The Node.js code for an errno value ("ECONNREFUSED"); -1 stands for a
   host name that did not resolve ("ENOTFOUND"). Never NULL. */
const char *h2lua_errno_name(int e);

struct addrinfo;
/* The address a listener on host:port binds (host NULL: every address,
   IPv6's dual-stack one when there is one): 0 with *ai inside *res (the
   caller frees *res with freeaddrinfo), or -1 with getaddrinfo's
   message in *why. */
int h2lua_passive_addr(const char *host, int port, struct addrinfo **res,
                       struct addrinfo **ai, const char **why);

/* A socket address as text. */
typedef struct h2lua_addr {
  char host[64];
  int port;
  int family; /* 4, 6, or 0 when unknown */
} h2lua_addr;

/* Fills |local| and |remote| (either may be NULL) from the socket |fd|;
   fields stay zero when the address cannot be read. */
void h2lua_addr_of(evutil_socket_t fd, h2lua_addr *local, h2lua_addr *remote);

#endif
