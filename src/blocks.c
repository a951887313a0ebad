#include "blocks.h"

#include <stdlib.h>

#define STEP 32
#define NCLASSES (H2LUA_BLOCK_MAX / STEP)
#define KEEP_BYTES (128 * 1024)         /* per class, at most */

typedef struct free_block {
  struct free_block *next;
} free_block;

static struct {
  free_block *head[NCLASSES];
  unsigned count[NCLASSES];
} cache;

/* Under AddressSanitizer every block goes to malloc and back, so reuse
   after free stays visible to it. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_OFF 1
#endif
#endif
#ifndef POOL_OFF
#define POOL_OFF 0
#endif

size_t h2lua_block_size(unsigned cls) {
  return cls < NCLASSES ? (size_t)(cls + 1) * STEP : 0;
}

void *h2lua_block_get(size_t n, unsigned *cls) {
  if (n == 0) n = 1;
  unsigned c = (unsigned)((n - 1) / STEP);
  if (c >= NCLASSES || POOL_OFF) {
    *cls = NCLASSES;
    return malloc(n);
  }
  *cls = c;
  free_block *b = cache.head[c];
  if (b) {
    cache.head[c] = b->next;
    cache.count[c]--;
    return b;
  }
  return malloc((size_t)(c + 1) * STEP);
}

void h2lua_block_put(void *p, unsigned cls) {
  if (p == NULL) return;
  if (cls >= NCLASSES || cache.count[cls] >= KEEP_BYTES / ((cls + 1) * STEP)) {
    free(p);
    return;
  }
  free_block *b = p;
  b->next = cache.head[cls];
  cache.head[cls] = b;
  cache.count[cls]++;
}

void h2lua_block_drain(void) {
  for (unsigned c = 0; c < NCLASSES; c++) {
    while (cache.head[c]) {
      free_block *b = cache.head[c];
      cache.head[c] = b->next;
      free(b);
    }
    cache.count[c] = 0;
  }
}
