/*
 * Workers: the supervising parent and the worker's side of it.
 *
 * The parent runs no Lua. It forks the workers (each then makes its own
 * Lua state and loads the script from disk, so a replacement runs the new
 * code) and owns their listening sockets: a worker's listen() asks the
 * parent over a SOCK_SEQPACKET pair, and the parent answers with a socket
 * (SCM_RIGHTS) that it made with SO_REUSEPORT, one per worker slot and
 * address. The kernel spreads connections over the slots' sockets; because
 * the parent holds them, a worker that drains or dies closes only its copy
 * and the connections waiting in that socket's accept queue go to its
 * replacement instead of being reset.
 *
 * Messages, worker to parent: "L backlog port host" (host "*": any) asks
 * for a socket, answered "O" with the descriptor or "E ERRNAME message";
 * "R" says the script ran and the loop starts (the worker it replaces may
 * drain).
 */
#include "supervisor.h"

#include "util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 1024
#define BACKOFF_MIN 0.1  /* s before restarting a worker that died */
#define BACKOFF_MAX 10.0 /* the most a worker dying over and over waits */
#define STABLE_AFTER 5.0 /* s a worker must have run for a restart at once */

int h2lua_cpu_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* ---- the worker's side ---- */

static int worker_id, worker_ctl = -1, worker_ready_sent;

int h2lua_worker_id(void) { return worker_id; }

static int fail(const char **errname, const char *name, char *msg,
                size_t msglen, const char *text) {
  *errname = name;
  snprintf(msg, msglen, "%s", text);
  return -1;
}

int h2lua_worker_listen(const char *host, int port, int backlog,
                        const char **errname, char *msg, size_t msglen) {
  static char name[32]; /* the parent's error code, until the next call */
  char req[320];
  int len = snprintf(req, sizeof(req), "L %d %d %s", backlog, port,
                     host ? host : "*");
  if (len < 0 || (size_t)len >= sizeof(req) || (host && strchr(host, ' ')))
    return fail(errname, "ENOTFOUND", msg, msglen, "bad host name");
  if (send(worker_ctl, req, (size_t)len, MSG_NOSIGNAL) != len)
    return fail(errname, "ECONNRESET", msg, msglen, "the supervisor is gone");
  char reply[300];
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } cm;
  struct iovec iov = {reply, sizeof(reply) - 1};
  struct msghdr mh = {0};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cm.buf;
  mh.msg_controllen = sizeof(cm.buf);
  ssize_t n;
  do n = recvmsg(worker_ctl, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return fail(errname, "ECONNRESET", msg, msglen, "the supervisor is gone");
  reply[n] = 0;
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  int fd = -1;
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
    memcpy(&fd, CMSG_DATA(c), sizeof(fd));
  if (reply[0] == 'O' && fd >= 0) return fd;
  if (fd >= 0) close(fd);
  char *sp = strchr(reply + 2, ' ');
  if (reply[0] != 'E' || n < 3 || sp == NULL)
    return fail(errname, "EPROTO", msg, msglen, "bad answer from the supervisor");
  *sp = 0;
  snprintf(name, sizeof(name), "%.31s", reply + 2);
  return fail(errname, name, msg, msglen, sp + 1);
}

int h2lua_worker_ctl(void) { return worker_ctl; }

int h2lua_worker_message(void) {
  char c;
  ssize_t n = recv(worker_ctl, &c, 1, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return 0;
  return n == 1 ? (unsigned char)c : -1;
}

void h2lua_worker_ready(void) {
  if (worker_ctl < 0 || worker_ready_sent) return;
  worker_ready_sent = 1;
  (void)send(worker_ctl, "R", 1, MSG_NOSIGNAL);
}

/* ---- the parent ---- */

enum { STARTING, READY, DRAINING };

typedef struct child {
  pid_t pid;
  int slot, gen, state, ctl;
  int termed; /* got a stop signal from us */
  double started;
} child;

typedef struct lsock {
  char host[256]; /* as asked; "*" for any */
  int asked_port, port, slot, gen, fd;
} lsock;

typedef struct slotinfo {
  double restart_at; /* 0: none pending */
  double backoff;
  int failed_gen; /* a replacement of this generation died before ready */
} slotinfo;

static struct {
  int n, gen, shutting, ever_ready, fatal, bad_exit;
  child *kids;
  int nkids;
  lsock *socks;
  int nsocks;
  slotinfo *slots;
} P;

static volatile sig_atomic_t got_chld, got_hup, got_term, term_sig;

static void on_sig(int sig) {
  if (sig == SIGCHLD) got_chld = 1;
  else if (sig == SIGHUP) got_hup = 1;
  else {
    got_term++;
    term_sig = sig;
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static sigset_t orig_mask;

static void spawn(int slot) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    fprintf(stderr, "h2lua: worker %d: socketpair: %s\n", slot, strerror(errno));
    P.slots[slot].restart_at = now_s() + BACKOFF_MAX;
    return;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "h2lua: worker %d: fork: %s\n", slot, strerror(errno));
    close(sv[0]);
    close(sv[1]);
    P.slots[slot].restart_at = now_s() + BACKOFF_MAX;
    return;
  }
  if (pid == 0) {
    /* the parent's descriptors are not the worker's to keep open */
    for (int i = 0; i < P.nkids; i++)
      if (P.kids[i].ctl >= 0) close(P.kids[i].ctl);
    for (int i = 0; i < P.nsocks; i++)
      if (P.socks[i].fd >= 0) close(P.socks[i].fd);
    close(sv[0]);
    free(P.kids);
    free(P.socks);
    free(P.slots);
    /* Its own process group: a terminal's ^C reaches the parent only, which
       passes it on once (a second signal would end the drain). */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) _exit(1); /* the parent died before the line above */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigprocmask(SIG_SETMASK, &orig_mask, NULL);
    worker_id = slot;
    worker_ctl = sv[1];
    return;
  }
  close(sv[1]);
  child *k = realloc(P.kids, sizeof(*k) * (size_t)(P.nkids + 1));
  if (k == NULL) abort();
  P.kids = k;
  P.kids[P.nkids++] = (child){pid, slot, P.gen, STARTING, sv[0], 0, now_s()};
  P.slots[slot].restart_at = 0;
}

static child *find_kid(pid_t pid) {
  for (int i = 0; i < P.nkids; i++)
    if (P.kids[i].pid == pid) return &P.kids[i];
  return NULL;
}

static void send_reply(int ctl, const char *text, int fd) {
  struct iovec iov = {(void *)text, strlen(text)};
  struct msghdr mh = {0};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } cm;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (fd >= 0) {
    memset(&cm, 0, sizeof(cm));
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof(cm.buf);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(fd));
  }
  (void)sendmsg(ctl, &mh, MSG_NOSIGNAL);
}

/* A new SO_REUSEPORT socket listening on host:port; -1 with errno. */
static int open_listener(const char *host, int port, int backlog,
                         const char **gai) {
  struct addrinfo *res, *ai;
  if (h2lua_passive_addr(host, port, &res, &ai, gai) != 0) return -1;
  int one = 1, fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 &&
      (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
       setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
       bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
       listen(fd, backlog > 0 ? backlog : 511) != 0)) {
    int e = errno;
    close(fd);
    fd = -1;
    errno = e;
  }
  freeaddrinfo(res);
  return fd;
}

static int bound_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void answer_listen(child *k, char *req) {
  int backlog, port, off = 0;
  if (sscanf(req, "L %d %d %n", &backlog, &port, &off) != 2 || off == 0) {
    send_reply(k->ctl, "E EINVAL bad request", -1);
    return;
  }
  const char *host = req + off;
  if (P.shutting) { /* its sockets are closed for good */
    send_reply(k->ctl, "E ECANCELED the workers are stopping", -1);
    return;
  }
  lsock *found = NULL;
  int group_port = -1;
  for (int i = 0; i < P.nsocks; i++) {
    lsock *s = &P.socks[i];
    if (s->fd < 0 || s->asked_port != port || strcmp(s->host, host) != 0) continue;
    group_port = s->port;
    if (s->slot == k->slot) found = s;
  }
  if (found == NULL) {
    const char *gai = NULL;
    int fd = open_listener(strcmp(host, "*") ? host : NULL,
                           group_port >= 0 ? group_port : port, backlog, &gai);
    if (fd < 0) {
      char msg[300];
      if (gai) snprintf(msg, sizeof(msg), "E ENOTFOUND %s", gai);
      else snprintf(msg, sizeof(msg), "E %s %s", h2lua_errno_name(errno), strerror(errno));
      send_reply(k->ctl, msg, -1);
      return;
    }
    lsock *s = realloc(P.socks, sizeof(*s) * (size_t)(P.nsocks + 1));
    if (s == NULL) abort();
    P.socks = s;
    found = &P.socks[P.nsocks++];
    memset(found, 0, sizeof(*found));
    snprintf(found->host, sizeof(found->host), "%s", host);
    found->asked_port = port;
    found->port = bound_port(fd);
    found->slot = k->slot;
    found->fd = fd;
  }
  if (found->gen < k->gen) found->gen = k->gen;
  send_reply(k->ctl, "O", found->fd);
}

static void stop_kid(child *k, int sig) {
  k->state = DRAINING;
  k->termed = 1;
  kill(k->pid, sig);
}

/* Replaced by a worker that accepts on the same sockets: it stops
   accepting and lets its connections finish (h2lua.reloadLinger). */
static void replace_kid(child *k) {
  k->state = DRAINING;
  if (k->ctl < 0 || send(k->ctl, "D", 1, MSG_NOSIGNAL) != 1) stop_kid(k, SIGTERM);
}

static void read_ctl(child *k) {
  char buf[320];
  ssize_t n = recv(k->ctl, buf, sizeof(buf) - 1, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) { /* the worker is gone; its exit status tells why */
    close(k->ctl);
    k->ctl = -1;
    return;
  }
  buf[n] = 0;
  if (buf[0] == 'L') {
    answer_listen(k, buf);
  } else if (buf[0] == 'R' && k->state == STARTING) {
    k->state = READY;
    P.ever_ready = 1;
    P.slots[k->slot].backoff = 0;
    /* the one it replaces drains now that this one accepts */
    for (int i = 0; i < P.nkids; i++) {
      child *o = &P.kids[i];
      if (o != k && o->slot == k->slot && o->state == READY) replace_kid(o);
    }
    if (P.shutting) stop_kid(k, SIGTERM);
  }
}

static void describe(int status, char *out, size_t len) {
  if (WIFEXITED(status))
    snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(out, len, "was killed by signal %d (%s)%s", WTERMSIG(status),
             strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
  else
    snprintf(out, len, "ended (status %d)", status);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    child *k = find_kid(pid);
    if (k == NULL) continue;
    child c = *k;
    if (k->ctl >= 0) close(k->ctl);
    *k = P.kids[--P.nkids];
    int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    char why[128];
    describe(status, why, sizeof(why));
    if (c.state == DRAINING) {
      if (!clean) {
        fprintf(stderr, "h2lua: worker %d (pid %d) %s while draining\n", c.slot,
                (int)c.pid, why);
        if (P.shutting) P.bad_exit = 1;
      }
      continue;
    }
    if (P.shutting) {
      fprintf(stderr, "h2lua: worker %d (pid %d) %s\n", c.slot, (int)c.pid, why);
      if (!clean) P.bad_exit = 1;
      continue;
    }
    if (c.state == STARTING && !P.ever_ready) {
      fprintf(stderr, "h2lua: worker %d (pid %d) %s before it was ready; stopping\n",
              c.slot, (int)c.pid, why);
      P.fatal = 1;
      continue;
    }
    int others = 0;
    for (int i = 0; i < P.nkids; i++)
      if (P.kids[i].slot == c.slot && P.kids[i].state != DRAINING) others++;
    if (c.state == STARTING && others) {
      fprintf(stderr, "h2lua: worker %d (pid %d) %s before it was ready; "
              "the old worker %d keeps serving\n", c.slot, (int)c.pid, why, c.slot);
      P.slots[c.slot].failed_gen = c.gen;
      continue;
    }
    slotinfo *s = &P.slots[c.slot];
    if (now_s() - c.started >= STABLE_AFTER || s->backoff == 0)
      s->backoff = BACKOFF_MIN;
    else
      s->backoff = s->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : s->backoff * 2;
    s->restart_at = now_s() + s->backoff;
    fprintf(stderr, "h2lua: worker %d (pid %d) %s; restarting it in %.1f s\n",
            c.slot, (int)c.pid, why, s->backoff);
  }
}

/* The SIGHUP roll-over, one slot at a time: a replacement starts once no
   other one is starting; when the roll-over is done, the sockets that no
   worker of the new code asked for are closed. */
static void advance(void) {
  if (P.shutting || P.fatal) return;
  for (int i = 0; i < P.nkids; i++)
    if (P.kids[i].state == STARTING) return;
  for (int slot = 1; slot <= P.n; slot++) {
    if (P.slots[slot].restart_at > 0 || P.slots[slot].failed_gen == P.gen) continue;
    for (int i = 0; i < P.nkids; i++) {
      child *k = &P.kids[i];
      if (k->slot == slot && k->state == READY && k->gen < P.gen) {
        spawn(slot);
        return;
      }
    }
  }
  int pending = 0;
  for (int slot = 1; slot <= P.n; slot++)
    if (P.slots[slot].restart_at > 0 || P.slots[slot].failed_gen == P.gen) pending = 1;
  if (pending) return;
  for (int i = 0; i < P.nsocks; i++)
    if (P.socks[i].fd >= 0 && P.socks[i].gen < P.gen) {
      close(P.socks[i].fd);
      P.socks[i].fd = -1;
    }
}

/* The first signal drains every worker (the ones being replaced too: they
   send their GOAWAY now): a running one is told over its socket, which a
   worker already draining ignores (systemd's KillMode=control-group sends
   each worker a SIGTERM of its own, and a second signal would end its
   drain); one still starting gets the signal. A second signal stops them
   all now (over the socket too: a signal could be taken for the one
   systemd sent). */
static void begin_shutdown(int sig) {
  int again = P.shutting++ > 0;
  for (int i = 0; i < P.nsocks; i++)
    if (P.socks[i].fd >= 0) {
      close(P.socks[i].fd);
      P.socks[i].fd = -1;
    }
  for (int i = 0; i < P.nkids; i++) {
    child *k = &P.kids[i];
    if (again) {
      k->termed = 1;
      if (k->ctl < 0 || send(k->ctl, "K", 1, MSG_NOSIGNAL) != 1) kill(k->pid, sig);
    } else if (k->state == STARTING && !k->termed) {
      stop_kid(k, sig);
    } else if (!k->termed) {
      k->state = DRAINING;
      k->termed = 1;
      if (k->ctl < 0 || send(k->ctl, "T", 1, MSG_NOSIGNAL) != 1) kill(k->pid, sig);
    }
  }
}

int h2lua_supervise(int n) {
  if (n < 1 || n > MAX_WORKERS) {
    fprintf(stderr, "h2lua: --workers: between 1 and %d\n", MAX_WORKERS);
    return 2;
  }
  memset(&P, 0, sizeof(P));
  P.n = n;
  P.slots = calloc((size_t)n + 1, sizeof(*P.slots));
  if (P.slots == NULL) return 1;
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigaddset(&block, SIGHUP);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &orig_mask);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sig;
  sigaction(SIGCHLD, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  for (int slot = 1; slot <= n; slot++) {
    spawn(slot);
    if (worker_id) return -1;
  }
  sigset_t waitmask = orig_mask;
  sigdelset(&waitmask, SIGCHLD);
  sigdelset(&waitmask, SIGHUP);
  sigdelset(&waitmask, SIGTERM);
  sigdelset(&waitmask, SIGINT);
  int forwarded = 0;
  for (;;) {
    if (got_term > forwarded) {
      int sig = term_sig;
      forwarded = got_term;
      if (P.shutting < 2) begin_shutdown(sig);
    }
    if (got_hup) {
      got_hup = 0;
      if (!P.shutting) P.gen++;
    }
    if (got_chld) {
      got_chld = 0;
      reap();
    }
    if (P.fatal && !P.shutting) begin_shutdown(SIGTERM);
    if ((P.shutting || P.fatal) && P.nkids == 0) break;
    double now = now_s(), next = -1;
    if (!P.shutting && !P.fatal) {
      for (int slot = 1; slot <= n; slot++) {
        double at = P.slots[slot].restart_at;
        if (at <= 0) continue;
        if (at <= now) {
          spawn(slot);
          if (worker_id) return -1;
        } else if (next < 0 || at < next) {
          next = at;
        }
      }
      advance();
      if (worker_id) return -1;
    }
    struct pollfd *pfd = calloc((size_t)P.nkids + 1, sizeof(*pfd));
    if (pfd == NULL) abort();
    int np = 0;
    for (int i = 0; i < P.nkids; i++)
      if (P.kids[i].ctl >= 0) pfd[np++] = (struct pollfd){P.kids[i].ctl, POLLIN, 0};
    struct timespec ts, *tsp = NULL;
    if (next >= 0) {
      double d = next - now;
      ts.tv_sec = (time_t)d;
      ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
      tsp = &ts;
    }
    int r = ppoll(pfd, (nfds_t)np, tsp, &waitmask);
    if (r > 0) {
      for (int j = 0; j < np; j++) {
        if (!pfd[j].revents) continue;
        for (int i = 0; i < P.nkids; i++)
          if (P.kids[i].ctl == pfd[j].fd) read_ctl(&P.kids[i]);
      }
    }
    free(pfd);
  }
  int status = P.fatal || P.bad_exit ? 1 : 0;
  free(P.kids);
  free(P.socks);
  free(P.slots);
  sigprocmask(SIG_SETMASK, &orig_mask, NULL);
  return status;
}
