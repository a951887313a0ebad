/*
 * A size-class allocator for the program's Lua state. Lua tells the old
 * size of every block it frees or resizes, so blocks carry no header.
 */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

#define CLASS_STEP 16
#define MAX_SMALL 512                    /* larger blocks: malloc */
#define NCLASSES (MAX_SMALL / CLASS_STEP)
#define CHUNK_SIZE (64 * 1024)

typedef struct chunk {
  struct chunk *next;
} chunk;

struct h2lua_alloc {
  void *free_list[NCLASSES];
  char *cur, *end;  /* the part of the newest chunk not carved yet */
  chunk *chunks;
  size_t used;
  int libc;
};

h2lua_alloc *h2lua_alloc_new(void) {
  h2lua_alloc *a = calloc(1, sizeof(*a));
  if (a == NULL) return NULL;
  const char *mode = getenv("H2LUA_ALLOC");
  a->libc = mode && strcmp(mode, "libc") == 0;
#if defined(__SANITIZE_ADDRESS__)
  a->libc = 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  a->libc = 1;
#endif
#endif
  return a;
}

void h2lua_alloc_free(h2lua_alloc *a) {
  if (a == NULL) return;
  while (a->chunks) {
    chunk *c = a->chunks;
    a->chunks = c->next;
    free(c);
  }
  free(a);
}

size_t h2lua_alloc_used(const h2lua_alloc *a) { return a->used; }

static size_t class_of(size_t n) { return (n - 1) / CLASS_STEP; }

/* Carves a block of class |cls| from a new chunk (the free list is empty). */
static __attribute__((noinline)) void *carve(h2lua_alloc *a, size_t cls) {
  size_t size = (cls + 1) * CLASS_STEP;
  if (a->cur == NULL || (size_t)(a->end - a->cur) < size) {
    chunk *c = malloc(CHUNK_SIZE);
    if (c == NULL) return NULL;
    c->next = a->chunks;
    a->chunks = c;
    a->cur = (char *)c + CLASS_STEP; /* the link, rounded to a class step */
    a->end = (char *)c + CHUNK_SIZE;
  }
  void *p = a->cur;
  a->cur += size;
  return p;
}

static inline void *small_alloc(h2lua_alloc *a, size_t cls) {
  void *p = a->free_list[cls];
  if (p == NULL) return carve(a, cls);
  a->free_list[cls] = *(void **)p;
  return p;
}

static inline void small_free(h2lua_alloc *a, void *p, size_t cls) {
  *(void **)p = a->free_list[cls];
  a->free_list[cls] = p;
}

/* Everything but a small block's allocation or release. */
static __attribute__((noinline)) void *slow(h2lua_alloc *a, void *ptr,
                                            size_t osize, size_t nsize) {
  if (a->libc) {
    if (nsize == 0) {
      free(ptr);
      a->used -= osize;
      return NULL;
    }
    void *q = realloc(ptr, nsize);
    if (q) a->used = a->used - osize + nsize;
    return q;
  }
  int osmall = ptr && osize <= MAX_SMALL, nsmall = nsize && nsize <= MAX_SMALL;
  if (nsize == 0) { /* a large block */
    free(ptr);
    a->used -= osize;
    return NULL;
  }
  if (ptr && osmall && nsmall && class_of(osize) == class_of(nsize)) {
    a->used = a->used - osize + nsize;
    return ptr;
  }
  if (ptr && !osmall && !nsmall) {
    void *q = realloc(ptr, nsize);
    if (q) a->used = a->used - osize + nsize;
    return q;
  }
  void *q = nsmall ? small_alloc(a, class_of(nsize)) : malloc(nsize);
  if (q == NULL) return NULL;
  if (ptr) {
    memcpy(q, ptr, osize < nsize ? osize : nsize);
    if (osmall) small_free(a, ptr, class_of(osize));
    else free(ptr);
  }
  a->used = a->used - osize + nsize;
  return q;
}

void *h2lua_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize) {
  h2lua_alloc *a = ud;
  if (ptr == NULL) osize = 0; /* then osize tells the kind of object */
  if (!a->libc) {
    if (ptr == NULL && nsize && nsize <= MAX_SMALL) {
      a->used += nsize;
      return small_alloc(a, class_of(nsize));
    }
    if (nsize == 0 && ptr && osize <= MAX_SMALL) {
      a->used -= osize;
      small_free(a, ptr, class_of(osize));
      return NULL;
    }
    if (nsize == 0 && ptr == NULL) return NULL;
  }
  return slow(a, ptr, osize, nsize);
}
