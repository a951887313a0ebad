/*
 * Helpers: clocks, the cached HTTP date, errno names, address formatting.
 */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

double h2lua_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

const char *h2lua_date(size_t *len) {
  static char buf[40];
  static size_t buflen;
  static time_t cached = (time_t)-1;
  time_t now = time(NULL);
  if (now != cached) {
    struct tm tm;
    gmtime_r(&now, &tm);
    buflen = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = now;
  }
  if (len) *len = buflen;
  return buf;
}

const char *h2lua_errno_name(int e) {
  switch (e) {
  case -1: return "ENOTFOUND";
  case EADDRINUSE: return "EADDRINUSE";
  case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
  case EACCES: return "EACCES";
  case EINVAL: return "EINVAL";
  case EAFNOSUPPORT: return "EAFNOSUPPORT";
  case EMFILE: return "EMFILE";
  case ENFILE: return "ENFILE";
  case ENOENT: return "ENOENT";
  case EBADF: return "EBADF";
  case ECONNREFUSED: return "ECONNREFUSED";
  case ECONNRESET: return "ECONNRESET";
  case ETIMEDOUT: return "ETIMEDOUT";
  case EHOSTUNREACH: return "EHOSTUNREACH";
  case ENETUNREACH: return "ENETUNREACH";
  case EPIPE: return "EPIPE";
  default: return "EIO";
  }
}

static void format(const struct sockaddr *sa, h2lua_addr *out) {
  memset(out, 0, sizeof(*out));
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &a6->sin6_addr, out->host, sizeof(out->host));
    out->port = ntohs(a6->sin6_port);
    out->family = 6;
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &a4->sin_addr, out->host, sizeof(out->host));
    out->port = ntohs(a4->sin_port);
    out->family = 4;
  }
}

void h2lua_addr_of(evutil_socket_t fd, h2lua_addr *local, h2lua_addr *remote) {
  struct sockaddr_storage ss;
  socklen_t sl;
  if (local) {
    memset(local, 0, sizeof(*local));
    sl = sizeof(ss);
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
      format((struct sockaddr *)&ss, local);
  }
  if (remote) {
    memset(remote, 0, sizeof(*remote));
    sl = sizeof(ss);
    if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
      format((struct sockaddr *)&ss, remote);
  }
}

int h2lua_passive_addr(const char *host, int port, struct addrinfo **res,
                       struct addrinfo **ai, const char **why) {
  struct addrinfo hints;
  char portstr[16];
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  snprintf(portstr, sizeof(portstr), "%d", port);
  *res = NULL;
  int rv = getaddrinfo(host, portstr, &hints, res);
  if (rv != 0) {
    *why = gai_strerror(rv);
    return -1;
  }
  *ai = *res;
  if (host == NULL)
    for (struct addrinfo *p = *res; p; p = p->ai_next)
      if (p->ai_family == AF_INET6) *ai = p;
  return 0;
}
