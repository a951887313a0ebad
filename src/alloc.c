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
  char *carved; /* the end of the blocks carved from it (the newest chunk's
                   is a->cur, written here by h2lua_alloc_trim) */
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
    if (a->chunks && a->cur) a->chunks->carved = a->cur;
    c->next = a->chunks;
    a->chunks = c;
    a->cur = (char *)c + CLASS_STEP; /* the link, rounded to a class step */
    a->end = (char *)c + CHUNK_SIZE;
  }
  void *p = a->cur;
  a->cur += size;
  return p;
}

/* ---- giving chunks back ---- */

static int by_address(const void *x, const void *y) {
  const char *p = *(char *const *)x, *q = *(char *const *)y;
  return p < q ? -1 : p > q;
}

/* The index of the chunk holding |p| in |v| (sorted), or n. */
static size_t chunk_of(chunk **v, size_t n, const void *p) {
  size_t lo = 0, hi = n;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if ((const char *)v[mid] <= (const char *)p) lo = mid;
    else hi = mid;
  }
  if (n && (const char *)p >= (const char *)v[lo] &&
      (const char *)p < (const char *)v[lo] + CHUNK_SIZE)
    return lo;
  return n;
}

size_t h2lua_alloc_trim(h2lua_alloc *a) {
  if (a->libc || a->chunks == NULL) return 0;
  if (a->cur) a->chunks->carved = a->cur;
  size_t n = 0;
  for (chunk *c = a->chunks; c; c = c->next) n++;
  chunk **v = malloc(n * sizeof(*v));
  size_t *freed = calloc(n, sizeof(*freed));
  if (v == NULL || freed == NULL) {
    free(v);
    free(freed);
    return 0;
  }
  size_t i = 0;
  for (chunk *c = a->chunks; c; c = c->next) v[i++] = c;
  qsort(v, n, sizeof(*v), by_address);
  /* the free bytes of each chunk: all of its carved bytes means unused */
  for (size_t cls = 0; cls < NCLASSES; cls++)
    for (void *p = a->free_list[cls]; p; p = *(void **)p) {
      size_t k = chunk_of(v, n, p);
      if (k < n) freed[k] += (cls + 1) * CLASS_STEP;
    }
  size_t dead = 0;
  for (i = 0; i < n; i++) {
    size_t carved = (size_t)(v[i]->carved - ((char *)v[i] + CLASS_STEP));
    freed[i] = freed[i] == carved; /* now: whether it goes */
    dead += freed[i];
  }
  if (dead) {
    for (size_t cls = 0; cls < NCLASSES; cls++) {
      void **link = &a->free_list[cls];
      while (*link) {
        void *p = *link;
        size_t k = chunk_of(v, n, p);
        if (k < n && freed[k]) *link = *(void **)p;
        else link = (void **)p;
      }
    }
    chunk **link = &a->chunks;
    while (*link) {
      chunk *c = *link;
      size_t k = chunk_of(v, n, c);
      if (k < n && freed[k]) {
        *link = c->next;
        if (a->cur && a->cur >= (char *)c && a->cur <= (char *)c + CHUNK_SIZE)
          a->cur = a->end = NULL;
        free(c);
      } else {
        link = &c->next;
      }
    }
  }
  free(v);
  free(freed);
  return dead * CHUNK_SIZE;
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
