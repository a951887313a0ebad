/*
 * Bindings of h2lua.compress: streaming encoders for gzip and deflate
 * (zlib) and brotli (libbrotli). A call compresses what it is given and,
 * unless told not to, flushes, so the bytes of each write can leave at
 * once: what an encoder holds is its own state and one call's output,
 * never a whole body.
 */
#include <brotli/encode.h>
#include <limits.h>
#include <string.h>
#include <zlib.h>

#include "bind.h"

#define ENCODER_MT "h2lua.Encoder"
#define OUT_STEP 16384

enum { ENC_GZIP, ENC_DEFLATE, ENC_BROTLI };

typedef struct {
  int kind;
  int finished;  /* the stream's end was written: nothing more goes in */
  int z_live;    /* deflateInit2 succeeded and deflateEnd is due */
  z_stream z;
  BrotliEncoderState *br;
} encoder;

static void encoder_release(encoder *e) {
  if (e->z_live) {
    deflateEnd(&e->z);
    e->z_live = 0;
  }
  if (e->br) {
    BrotliEncoderDestroyInstance(e->br);
    e->br = NULL;
  }
}

/* core.encoder_new(kind, level, window) -> encoder: kind "gzip",
   "deflate" or "br"; level and window as the library takes them, or
   nil for our defaults (zlib 6 and 15 bits; brotli quality 4, 19 bits) */
static int lcompress_new(lua_State *L) {
  static const char *const kinds[] = {"gzip", "deflate", "br", NULL};
  int kind = luaL_checkoption(L, 1, NULL, kinds);
  int brotli = kind == ENC_BROTLI;
  lua_Integer level = luaL_optinteger(L, 2, brotli ? 4 : 6);
  lua_Integer w = luaL_optinteger(L, 3, brotli ? 19 : 15);
  if (brotli) {
    luaL_argcheck(L, level >= BROTLI_MIN_QUALITY && level <= BROTLI_MAX_QUALITY, 2, "brotli quality out of range");
    luaL_argcheck(L, w >= BROTLI_MIN_WINDOW_BITS && w <= BROTLI_MAX_WINDOW_BITS, 3, "brotli window out of range");
  } else {
    luaL_argcheck(L, level >= 0 && level <= 9, 2, "zlib level out of range");
    luaL_argcheck(L, w >= 9 && w <= 15, 3, "zlib window out of range");
  }
  encoder *e = lua_newuserdatauv(L, sizeof(*e), 0);
  memset(e, 0, sizeof(*e));
  e->kind = kind;
  luaL_setmetatable(L, ENCODER_MT);
  if (brotli) {
    e->br = BrotliEncoderCreateInstance(NULL, NULL, NULL);
    if (e->br == NULL) return luaL_error(L, "not enough memory");
    BrotliEncoderSetParameter(e->br, BROTLI_PARAM_QUALITY, (uint32_t)level);
    BrotliEncoderSetParameter(e->br, BROTLI_PARAM_LGWIN, (uint32_t)w);
  } else {
    int bits = (int)w + (kind == ENC_GZIP ? 16 : 0);
    int rc = deflateInit2(&e->z, (int)level, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) return luaL_error(L, "deflateInit2: %s", rc == Z_MEM_ERROR ? "not enough memory" : "bad parameters");
    e->z_live = 1;
  }
  return 1;
}

static encoder *check_encoder(lua_State *L) {
  return luaL_checkudata(L, 1, ENCODER_MT);
}

/* Compresses |len| bytes into |b|; |mode| 0 no flush, 1 flush, 2 finish.
   Returns NULL or the error's text. */
static const char *run_zlib(encoder *e, luaL_Buffer *b, const char *data, size_t len, int mode) {
  int flush = mode == 2 ? Z_FINISH : mode == 1 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
  e->z.next_in = (Bytef *)data;
  for (;;) {
    size_t part = len > UINT_MAX / 2 ? UINT_MAX / 2 : len;
    e->z.avail_in = (uInt)part;
    int last = part == len;
    int f = last ? flush : Z_NO_FLUSH;
    for (;;) {
      char *out = luaL_prepbuffsize(b, OUT_STEP);
      e->z.next_out = (Bytef *)out;
      e->z.avail_out = OUT_STEP;
      int rc = deflate(&e->z, f);
      if (rc == Z_STREAM_ERROR) return "deflate failed";
      luaL_addsize(b, OUT_STEP - e->z.avail_out);
      /* Z_BUF_ERROR: no progress possible (a flush with nothing new) */
      if (rc == Z_STREAM_END || rc == Z_BUF_ERROR) break;
      if (f != Z_FINISH && e->z.avail_in == 0 && e->z.avail_out != 0) break;
    }
    len -= part;
    if (last) return NULL;
  }
}

static const char *run_brotli(encoder *e, luaL_Buffer *b, const char *data, size_t len, int mode) {
  BrotliEncoderOperation op = mode == 2 ? BROTLI_OPERATION_FINISH
                              : mode == 1 ? BROTLI_OPERATION_FLUSH : BROTLI_OPERATION_PROCESS;
  const uint8_t *next_in = (const uint8_t *)data;
  size_t avail_in = len;
  for (;;) {
    size_t avail_out = 0;
    if (!BrotliEncoderCompressStream(e->br, op, &avail_in, &next_in, &avail_out, NULL, NULL))
      return "brotli failed";
    size_t n = 0;
    const uint8_t *out = BrotliEncoderTakeOutput(e->br, &n);
    if (n > 0) luaL_addlstring(b, (const char *)out, n);
    if (avail_in == 0 && !BrotliEncoderHasMoreOutput(e->br) &&
        (mode != 2 || BrotliEncoderIsFinished(e->br)))
      return NULL;
  }
}

static int compress_call(lua_State *L, int mode) {
  encoder *e = check_encoder(L);
  size_t len = 0;
  const char *data = luaL_optlstring(L, 2, "", &len);
  if (e->finished) return luaL_error(L, "the encoder has finished");
  if (e->kind == ENC_BROTLI ? e->br == NULL : !e->z_live) return luaL_error(L, "the encoder is closed");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  const char *err = e->kind == ENC_BROTLI ? run_brotli(e, &b, data, len, mode)
                                          : run_zlib(e, &b, data, len, mode);
  if (err != NULL) {
    encoder_release(e);
    return luaL_error(L, "%s", err);
  }
  luaL_pushresult(&b);
  if (mode == 2) {
    e->finished = 1;
    encoder_release(e);
  }
  return 1;
}

/* core.encoder_update(enc, data[, flush]) -> the compressed bytes so far
   (all of |data| when flush is not false) */
static int lcompress_update(lua_State *L) {
  return compress_call(L, lua_isnoneornil(L, 3) || lua_toboolean(L, 3) ? 1 : 0);
}

/* core.encoder_finish(enc[, data]) -> the last bytes; the state is freed */
static int lcompress_finish(lua_State *L) { return compress_call(L, 2); }

/* core.encoder_close(enc) -> nil: frees the state now (also at collection) */
static int lcompress_close(lua_State *L) {
  encoder *e = check_encoder(L);
  encoder_release(e);
  e->finished = 1;
  return 0;
}

static const luaL_Reg encoder_methods[] = {
    {"update", lcompress_update},
    {"finish", lcompress_finish},
    {"close", lcompress_close},
    {NULL, NULL},
};

/* The encoders' metatable: enc:update/finish/close, freed when collected
   or at the end of a to-be-closed variable's scope. */
void h2lua_compress_open(lua_State *L) {
  luaL_newmetatable(L, ENCODER_MT);
  luaL_newlib(L, encoder_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, lcompress_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, lcompress_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}

const luaL_Reg h2lua_compress_funcs[] = {
    {"encoder_new", lcompress_new},
    {"encoder_update", lcompress_update},
    {"encoder_finish", lcompress_finish},
    {"encoder_close", lcompress_close},
    {NULL, NULL},
};
