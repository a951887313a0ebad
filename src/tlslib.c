#include "config.h"
#define H2LUA_TLSLIB_IMPL
#include "tlslib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#define H2LUA_TLS_DEFINE(lib, f) __typeof__(f) *h2lua_tlsfn_##f;
H2LUA_TLS_FUNCS(H2LUA_TLS_DEFINE)
#undef H2LUA_TLS_DEFINE

int h2lua_tls_state;
static char failure[512];

/* libcrypto first: libssl and libevent_openssl need it; dlopen would find
   each by itself, but the names tell which one is missing. */
enum { LIBCRYPTO, LIBSSL, LIBEVSSL, NLIBS };
static const char *const sonames[NLIBS] = {H2LUA_LIBCRYPTO_SONAME, H2LUA_LIBSSL_SONAME,
                                           H2LUA_LIBEVENT_OPENSSL_SONAME};

int h2lua_tls_load(const char **why) {
  if (h2lua_tls_state == 0) {
    void *lib[NLIBS];
    h2lua_tls_state = -1;
    /* each library's functions before the next is opened: a library that
       lacks them is named, not the one that needed them */
    for (int i = 0; i < NLIBS; i++) {
      /* never closed: OpenSSL's objects live as long as the program */
      lib[i] = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
      if (lib[i] == NULL) {
        const char *e = dlerror();
        snprintf(failure, sizeof(failure), "TLS is not available: %s", e ? e : sonames[i]);
        goto out;
      }
#define H2LUA_TLS_RESOLVE(l, f)                                                          \
  if (l == i && (*(void **)&h2lua_tlsfn_##f = dlsym(lib[l], #f)) == NULL) {              \
    snprintf(failure, sizeof(failure), "TLS is not available: %s has no %s", sonames[l], \
             #f);                                                                        \
    goto out;                                                                            \
  }
      H2LUA_TLS_FUNCS(H2LUA_TLS_RESOLVE)
#undef H2LUA_TLS_RESOLVE
    }
    h2lua_tls_state = 1;
  }
out:
  if (h2lua_tls_state < 0 && why) *why = failure;
  return h2lua_tls_state > 0 ? 0 : -1;
}

void h2lua_tls_need(void) {
  const char *why = NULL;
  if (h2lua_tls_load(&why) != 0) {
    fprintf(stderr, "h2lua: %s\n", why);
    abort();
  }
}
