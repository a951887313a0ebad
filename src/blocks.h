/*
 * A cache of freed small blocks, by size class, in front of malloc: the
 * blocks nghttp2 allocates and frees for every stream (the stream, its
 * header buffers, outbound items) come back from a free list instead of
 * going through malloc's bins each time. The cache keeps at most a fixed
 * number of bytes per class, so a burst does not stay resident. A helper:
 * it calls nothing else of h2lua. Not thread-safe (one loop per process).
 */
#ifndef H2LUA_BLOCKS_H
#define H2LUA_BLOCKS_H

#include <stddef.h>

/* Blocks larger than this go to malloc and free directly. */
#define H2LUA_BLOCK_MAX 1024

/* A block of at least |n| bytes, 16-byte aligned, or NULL; |*cls| gets the
   value to give back to h2lua_block_put (the usable size is
   h2lua_block_size(cls) when n is small, else n). */
void *h2lua_block_get(size_t n, unsigned *cls);

/* Returns a block from h2lua_block_get with its class. */
void h2lua_block_put(void *p, unsigned cls);

/* The usable size of a block of class |cls| (0 for blocks past the cache's
   classes: their size is what was asked). */
size_t h2lua_block_size(unsigned cls);

/* Frees every cached block (at the end of a runtime: nothing stays
   reachable only from the cache). */
void h2lua_block_drain(void);

#endif
