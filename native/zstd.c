// A minimal Node-API binding to the system's libzstd (Debian: libzstd-dev) for Jetstream's compressed stream: one
// digested dictionary (ZSTD_CDict) reused for every message. Node's zlib takes a zstd dictionary only as raw bytes,
// which libzstd digests again for every frame (~115 us per message with Jetstream's 110 KB dictionary); with the
// digested dictionary a message takes a few microseconds (bench/RESULTS.md, jetstream).
//
// compressor(dictionary, level) -> handle           digests the dictionary once
// compress(handle, bytes) -> Uint8Array             one complete zstd frame, with the dictionary's ID
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

typedef struct {
  ZSTD_CDict *dict;
  ZSTD_CCtx *cctx;
  // Compressed into first, then copied out at its exact size: no allocation per message but the result's.
  void *scratch;
  size_t scratch_len;
} compressor_t;

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  compressor_t *c = data;
  ZSTD_freeCDict(c->dict);
  ZSTD_freeCCtx(c->cctx);
  free(c->scratch);
  free(c);
}

static int bytes_arg(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, len, data, &buffer, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return 0;
  }
  return 1;
}

static napi_value compressor(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  void *dict;
  size_t dict_len;
  int32_t level;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "compressor(dictionary, level)");
    return NULL;
  }
  if (!bytes_arg(env, argv[0], &dict, &dict_len)) return NULL;
  if (napi_get_value_int32(env, argv[1], &level) != napi_ok) {
    napi_throw_type_error(env, NULL, "level must be an integer");
    return NULL;
  }
  compressor_t *c = calloc(1, sizeof *c);
  if (c == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  c->dict = ZSTD_createCDict(dict, dict_len, level);
  c->cctx = ZSTD_createCCtx();
  if (c->dict == NULL || c->cctx == NULL) {
    ZSTD_freeCDict(c->dict);
    ZSTD_freeCCtx(c->cctx);
    free(c);
    napi_throw_error(env, NULL, "zstd could not load the dictionary");
    return NULL;
  }
  if (napi_create_external(env, c, finalize, NULL, &result) != napi_ok) {
    finalize(env, c, NULL);
    return NULL;
  }
  return result;
}

static napi_value compress(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], buffer, result;
  compressor_t *c;
  void *src, *dst;
  size_t src_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_external(env, argv[0], (void **)&c) != napi_ok) {
    napi_throw_type_error(env, NULL, "compress(compressor, bytes)");
    return NULL;
  }
  if (!bytes_arg(env, argv[1], &src, &src_len)) return NULL;
  size_t bound = ZSTD_compressBound(src_len);
  if (bound > c->scratch_len) {
    void *grown = realloc(c->scratch, bound);
    if (grown == NULL) {
      napi_throw_error(env, NULL, "out of memory");
      return NULL;
    }
    c->scratch = grown;
    c->scratch_len = bound;
  }
  size_t n = ZSTD_compress_usingCDict(c->cctx, c->scratch, bound, src, src_len, c->dict);
  if (ZSTD_isError(n)) {
    napi_throw_error(env, NULL, ZSTD_getErrorName(n));
    return NULL;
  }
  if (napi_create_arraybuffer(env, n, &dst, &buffer) != napi_ok) return NULL;
  memcpy(dst, c->scratch, n);
  napi_create_typedarray(env, napi_uint8_array, n, buffer, 0, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"compressor", NULL, compressor, NULL, NULL, NULL, napi_default, NULL},
      {"compress", NULL, compress, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
