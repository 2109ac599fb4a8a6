// SHA-256 for the verify path (block CIDs, MST key layers) through the OpenSSL that Node itself carries and exports:
// no library to install, and the same SHA-NI code node:crypto runs, without its per-call cost. A commit's check
// hashes ~47 inputs, two thirds of them MST keys of 20-60 bytes, where node:crypto's one-shot `hash` spends ~0.25 us
// a call around a ~0.05 us compression.
//
// digestInto(data, out, at) -> undefined    sha256(data) written to out[at .. at + 32); `out` should live off the V8
//                                            heap (a typed array of <= 64 bytes made in JS is moved off it on the
//                                            first call, ~0.6 us: the caller keeps one scratch)
// commonLayer(keys, ends, n) -> number       the MST layer (leading zero bits of sha256(key), halved) shared by the n
//                                            keys laid end to end in keys (key i ends at ends[i]), -1 when they
//                                            differ, 0 for none: a node's every key checked in one call
//
// The low-level SHA256_* calls, not the one-shot SHA256(): in OpenSSL 3 that one fetches the algorithm on every call
// (EVP_Q_digest), ~0.3 us for a 40-byte input against ~0.1 here.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static bool typed_arg(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, len, data, &buffer, &offset) != napi_ok || type != want) {
    napi_throw_type_error(env, NULL, want == napi_uint8_array ? "expected a Uint8Array" : "expected a Uint32Array");
    return false;
  }
  return true;
}

/** The call's first `want` arguments into argv; a TypeError naming the usage when fewer were given. */
static bool call_args(napi_env env, napi_callback_info info, napi_value *argv, size_t want, const char *usage) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  return true;
}

static bool offset_arg(napi_env env, napi_value v, size_t room, uint32_t *at) {
  if (napi_get_value_uint32(env, v, at) != napi_ok || (size_t)*at + SHA256_DIGEST_LENGTH > room) {
    napi_throw_range_error(env, NULL, "the digest does not fit at that offset");
    return false;
  }
  return true;
}

static void digest(const uint8_t *data, size_t len, uint8_t *out) {
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, data, len);
  SHA256_Final(out, &c);
}

static napi_value digest_into(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  void *data, *out;
  size_t len, out_len;
  uint32_t at;
  if (!call_args(env, info, argv, 3, "digestInto(data, out, at)") || !typed_arg(env, argv[0], napi_uint8_array, &data, &len) ||
      !typed_arg(env, argv[1], napi_uint8_array, &out, &out_len) || !offset_arg(env, argv[2], out_len, &at)) {
    return NULL;
  }
  digest(data, len, (uint8_t *)out + at);
  return NULL;
}

static int layer_of(const uint8_t *md) {
  int zeros = 0;
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
    if (md[i] != 0) return (zeros + __builtin_clz(md[i]) - 24) >> 1;
    zeros += 8;
  }
  return zeros >> 1;
}

static napi_value common_layer(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  void *keys, *ends_data;
  size_t keys_len, ends_len;
  uint32_t n;
  if (!call_args(env, info, argv, 3, "commonLayer(keys, ends, n)") || !typed_arg(env, argv[0], napi_uint8_array, &keys, &keys_len) ||
      !typed_arg(env, argv[1], napi_uint32_array, &ends_data, &ends_len)) {
    return NULL;
  }
  if (napi_get_value_uint32(env, argv[2], &n) != napi_ok || n > ends_len) {
    napi_throw_range_error(env, NULL, "n is more than ends holds");
    return NULL;
  }
  const uint32_t *ends = ends_data;
  int layer = 0;
  size_t start = 0;
  uint8_t md[SHA256_DIGEST_LENGTH];
  for (uint32_t i = 0; i < n; i++) {
    if (ends[i] < start || ends[i] > keys_len) {
      napi_throw_range_error(env, NULL, "a key's end is outside keys or before the previous one");
      return NULL;
    }
    digest((const uint8_t *)keys + start, ends[i] - start, md);
    start = ends[i];
    int height = layer_of(md);
    if (i == 0) layer = height;
    else if (height != layer) {
      layer = -1;
      break;
    }
  }
  napi_value result;
  napi_create_int32(env, layer, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"digestInto", NULL, digest_into, NULL, NULL, NULL, napi_enumerable, NULL},
      {"commonLayer", NULL, common_layer, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}
