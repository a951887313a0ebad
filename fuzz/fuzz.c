/*
 * libFuzzer targets (docs/HACKING.md, "Fuzzing and sanitizers"). One Lua
 * state with the engine runs the handler script fuzz/TARGET.lua; each
 * input is played by a peer on a loopback TCP socket, so the bytes reach
 * the session exactly as a hostile peer's would: through the connection,
 * the protocol, the event queue and Lua. No engine code knows it is being
 * fuzzed.
 *
 *   server  an h2c server: the preface, then the input (frames)
 *   h1      the same kind of server: the input as it is (HTTP/1.1, an
 *           h2c upgrade, or the preface: the first bytes decide)
 *   client  our client session: the input is what the server sends
 *
 * The peer writes the input, waits until the engine has gone quiet for a
 * few loop turns (it answers what it can), sends FIN, reads until the
 * engine closes, then resets the socket (no TIME_WAIT). The loop runs
 * until nothing is left, so every session closes within each input; one
 * that does not is a hang (libFuzzer's -timeout).
 *
 * Lua errors that are not the script's own deliberate ones (a library
 * bug showing as a Lua error under hostile input) abort: the script
 * collects them, and fuzz_check() below turns them into a crash.
 */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "h2lua.h"
#include "loop.h"
#include "runtime.h"

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET=\"server\" (or h1, client)"
#endif
#ifndef FUZZ_SRCDIR
#define FUZZ_SRCDIR "."
#endif

#define QUIET_TURNS 3   /* loop turns with nothing received before FIN */
#define MAX_TURNS 2000  /* FIN after this many turns whatever happens */

static lua_State *L;
static h2lua_rt *rt;
static int target_port;    /* client target: where our client connects */
static int listen_fd = -1;
static struct event *accept_ev;
static const uint8_t *cur_data;
static size_t cur_len;
static int is_client;

typedef struct peer {
  int fd;
  const uint8_t *data;
  size_t len, off;
  int written, ended, quiet, turns, active;
  struct event *io, *tick;
} peer;

static peer the_peer;

static void die(const char *what) {
  fprintf(stderr, "fuzz: %s\n", what);
  abort();
}

static void die_sys(const char *what) {
  fprintf(stderr, "fuzz: %s: %s\n", what, strerror(errno));
  abort();
}

static void peer_done(peer *p) {
  if (!p->active) return;
  p->active = 0;
  event_free(p->io);
  event_free(p->tick);
  struct linger lg = {1, 0}; /* RST: no TIME_WAIT across millions of runs */
  setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(p->fd);
  rt->refs--;
}

static void arm_tick(peer *p) {
  struct timeval zero = {0, 0};
  evtimer_add(p->tick, &zero);
}

/* Reads and drops what the engine sent; returns -1 (and ends the peer)
   once it closed or reset. */
static int peer_read(peer *p) {
  char buf[65536];
  for (;;) {
    ssize_t n = recv(p->fd, buf, sizeof(buf), 0);
    if (n > 0) {
      p->quiet = 0;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n < 0 && errno == EINTR) continue;
    peer_done(p);
    return -1;
  }
}

static void peer_io(evutil_socket_t fd, short what, void *arg) {
  peer *p = arg;
  if ((what & EV_READ) && peer_read(p) != 0) return;
  if ((what & EV_WRITE) && !p->written) {
    ssize_t n = p->off < p->len
                    ? send(fd, p->data + p->off, p->len - p->off, MSG_NOSIGNAL)
                    : 0;
    if (n > 0) p->off += (size_t)n;
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      p->off = p->len; /* the engine is gone; read what it said */
    }
    if (p->off == p->len) {
      p->written = 1;
      event_del(p->io);
      event_assign(p->io, rt->base, fd, EV_READ | EV_PERSIST, peer_io, p);
      event_add(p->io, NULL);
      arm_tick(p);
    }
  }
}

/* After the input is out: FIN once the engine has been quiet a while. */
static void peer_tick(evutil_socket_t fd, short what, void *arg) {
  peer *p = arg;
  if (p->ended) return;
  /* an engine that closed first gets a reset, not our FIN: a FIN would
     leave its side in TIME_WAIT, and millions of those exhaust the ports */
  if (peer_read(p) != 0) return;
  if (++p->quiet >= QUIET_TURNS || ++p->turns >= MAX_TURNS) {
    shutdown(p->fd, SHUT_WR);
    p->ended = 1;
    return;
  }
  arm_tick(p);
}

static void peer_start(int fd, const uint8_t *data, size_t len) {
  peer *p = &the_peer;
  memset(p, 0, sizeof(*p));
  evutil_make_socket_nonblocking(fd);
  p->fd = fd;
  p->data = data;
  p->len = len;
  p->active = 1;
  p->io = event_new(rt->base, fd, EV_READ | EV_WRITE | EV_PERSIST, peer_io, p);
  p->tick = evtimer_new(rt->base, peer_tick, p);
  if (p->io == NULL || p->tick == NULL) die("out of memory");
  event_add(p->io, NULL);
  rt->refs++; /* the loop runs while the peer plays */
}

static void on_accept(evutil_socket_t lfd, short what, void *arg) {
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0) return;
  if (the_peer.active) { /* one connection per input */
    close(fd);
    return;
  }
  peer_start(fd, cur_data, cur_len);
}

static int loopback_socket(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die_sys("socket");
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  if (port) {
    /* ports in TIME_WAIT (other programs' too) may run short for a
       moment; libFuzzer's alarm may interrupt the wait */
    evutil_make_socket_nonblocking(fd);
    int tries = 0;
    while (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
      if (errno == EINPROGRESS || errno == EINTR || errno == EALREADY) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        while (poll(&pfd, 1, -1) < 0 && errno == EINTR) continue;
        int err = 0;
        socklen_t elen = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err == 0) break;
        errno = err;
        die_sys("connect");
      }
      if ((errno != EADDRNOTAVAIL && errno != EAGAIN) || ++tries > 500) die_sys("connect");
      usleep(10000);
    }
  } else {
    socklen_t alen = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
      die_sys("listen");
    target_port = ntohs(a.sin_port);
  }
  return fd;
}

/* Calls the script's global function |name| with two integers; returns
   its integer result. */
static int call(const char *name, int a, int b) {
  lua_getglobal(L, "debug");
  lua_getfield(L, -1, "traceback");
  lua_remove(L, -2);
  lua_getglobal(L, name);
  lua_pushinteger(L, a);
  lua_pushinteger(L, b);
  if (lua_pcall(L, 2, 1, -4) != LUA_OK) {
    fprintf(stderr, "fuzz: %s: %s\n", name, lua_tostring(L, -1));
    abort();
  }
  int r = (int)lua_tointeger(L, -1);
  lua_pop(L, 2);
  return r;
}

static void run_loop(void) {
  if (h2lua_loop_run(rt, L) != 0) die("the loop is already running");
}

/* What the script collected: anything is a bug. */
static void fuzz_check(void) {
  lua_getglobal(L, "fuzz_problems");
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) die(lua_tostring(L, -1));
  const char *msg = lua_tostring(L, -1);
  if (msg && *msg) {
    fprintf(stderr, "fuzz: a Lua error under this input:\n%s\n", msg);
    abort();
  }
  lua_pop(L, 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  L = luaL_newstate();
  if (L == NULL) die("cannot create a Lua state");
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_h2lua_core);
  lua_setfield(L, -2, "h2lua_core");
  lua_pop(L, 1);
  const char *src = getenv("H2LUA_SRCDIR");
  if (src == NULL) src = FUZZ_SRCDIR;
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s/fuzz/?.lua", src, src, src);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  /* the runtime is the upvalue of every core function */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "h2lua_core");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) die(lua_tostring(L, -1));
  lua_getfield(L, -1, "now");
  if (lua_getupvalue(L, -1, 1) == NULL) die("no runtime");
  rt = lua_touserdata(L, -1);
  lua_pop(L, 3);

  is_client = strcmp(FUZZ_TARGET, "client") == 0;
  if (is_client) {
    listen_fd = loopback_socket(0);
    evutil_make_socket_nonblocking(listen_fd);
    accept_ev = event_new(rt->base, listen_fd, EV_READ | EV_PERSIST, on_accept, NULL);
    if (accept_ev == NULL) die("out of memory");
    event_add(accept_ev, NULL);
  }
  char path[4096];
  snprintf(path, sizeof(path), "%s/fuzz/%s.lua", src, FUZZ_TARGET);
  lua_getglobal(L, "debug");
  lua_getfield(L, -1, "traceback");
  lua_remove(L, -2);
  if (luaL_loadfile(L, path) != LUA_OK || lua_pcall(L, 0, 0, -2) != LUA_OK)
    die(lua_tostring(L, -1));
  lua_pop(L, 1);
  /* the script's setup listens (server targets): run until it does */
  call("fuzz_setup", target_port, 0);
  run_loop();
  if (!is_client && (call("fuzz_port", 0, 0) <= 0 || call("fuzz_port", 1, 0) <= 0))
    die("the script's servers are not listening");
  fuzz_check();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char preface[] = NGHTTP2_CLIENT_MAGIC;
  static uint8_t *buf;
  static size_t cap;
  if (strcmp(FUZZ_TARGET, "server") == 0) {
    /* the fuzzer spends nothing on finding the preface */
    size_t n = sizeof(preface) - 1 + size;
    if (n > cap) {
      free(buf);
      buf = malloc(n);
      cap = n;
      if (buf == NULL) die("out of memory");
    }
    memcpy(buf, preface, sizeof(preface) - 1);
    if (size) memcpy(buf + sizeof(preface) - 1, data, size);
    data = buf;
    size = n;
  }
  if (is_client) {
    cur_data = data;
    cur_len = size;
    call("fuzz_one", target_port, (int)size); /* our client connects */
  } else {
    /* the script has a server with Node's defaults and one with small
       limits; the input's length picks */
    peer_start(loopback_socket(call("fuzz_port", (int)size, 0)), data, size);
  }
  run_loop();
  if (the_peer.active) die("the loop ended with the peer still playing");
  fuzz_check();
  /* what the input made is garbage now: collected here, libFuzzer's
     per-input leak check sees as many frees as mallocs and stays off */
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
