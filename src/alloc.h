/*
 * The allocator of the h2lua program's Lua state: small blocks come from
 * per-size free lists (Lua allocates and frees many small objects per
 * request; this is several times cheaper than malloc), larger ones from
 * malloc. H2LUA_ALLOC=libc in the environment (and sanitizer builds) uses
 * malloc for everything, so valgrind and ASan see every block.
 */
#ifndef H2LUA_ALLOC_H
#define H2LUA_ALLOC_H

#include <stddef.h>

typedef struct h2lua_alloc h2lua_alloc;

/* A new allocator, or NULL when out of memory. */
h2lua_alloc *h2lua_alloc_new(void);
/* Frees every block it holds (after lua_close). */
void h2lua_alloc_free(h2lua_alloc *a);
/* The lua_Alloc function; |ud| is the allocator. */
void *h2lua_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize);
/* Gives back to malloc every chunk none of whose small blocks is in use
   (after a burst, e.g. a handler that failed at the memory limit); slow,
   in the number of free blocks. Returns the bytes given back. */
size_t h2lua_alloc_trim(h2lua_alloc *a);
/* Bytes handed out and not yet freed. */
size_t h2lua_alloc_used(const h2lua_alloc *a);

#endif
