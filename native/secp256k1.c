// A minimal Node-API binding to the system's libsecp256k1 (Debian: libsecp256k1-dev), for secp256k1 signature
// checks on the relay's hot path. The prebuilt addon in the `secp256k1` npm package bundles a 2019 libsecp256k1
// built with its x86-64 assembly field code; the library's current releases (C field code, safegcd inverses) verify
// about a quarter faster on this machine (bench/RESULTS.md). The npm addon stays as the fallback where this one
// cannot be built.
//
// verify(sig64, msg32, pubkey33or65) -> boolean   low-S required (libsecp256k1 rejects high-S itself)
// sign(msg32, privateKey32) -> Uint8Array(64)    compact, low-S (RFC 6979 nonces); used by the test fixture
// uncompress(pubkey33or65) -> Uint8Array(65) | null   null when not a point on the curve; parses first-seen keys
#include <node_api.h>
#include <secp256k1.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Read-only after creation, so one context serves every thread (workers load this module too).
static secp256k1_context *ctx = NULL;

static bool bytes_arg(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type type;
  void *base;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, len, &base, &buffer, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return false;
  }
  *data = base;
  return true;
}

static napi_value verify(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint8_t *sig, *msg, *pub;
  size_t sig_len, msg_len, pub_len;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) {
    napi_throw_type_error(env, NULL, "verify(sig, msg32, pubkey)");
    return NULL;
  }
  if (!bytes_arg(env, argv[0], &sig, &sig_len) || !bytes_arg(env, argv[1], &msg, &msg_len) ||
      !bytes_arg(env, argv[2], &pub, &pub_len)) {
    return NULL;
  }
  bool ok = false;
  secp256k1_ecdsa_signature s;
  secp256k1_pubkey p;
  if (sig_len == 64 && msg_len == 32 && secp256k1_ecdsa_signature_parse_compact(ctx, &s, sig) &&
      secp256k1_ec_pubkey_parse(ctx, &p, pub, pub_len)) {
    ok = secp256k1_ecdsa_verify(ctx, &s, msg, &p) == 1;
  }
  napi_get_boolean(env, ok, &result);
  return result;
}

static napi_value sign(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t *msg, *key, *out;
  size_t msg_len, key_len;
  napi_value buffer, result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "sign(msg32, privateKey)");
    return NULL;
  }
  if (!bytes_arg(env, argv[0], &msg, &msg_len) || !bytes_arg(env, argv[1], &key, &key_len)) return NULL;
  secp256k1_ecdsa_signature s;
  if (msg_len != 32 || key_len != 32 || !secp256k1_ecdsa_sign(ctx, &s, msg, key, NULL, NULL)) {
    napi_throw_error(env, NULL, "secp256k1 signing failed (bad message or private key)");
    return NULL;
  }
  if (napi_create_arraybuffer(env, 64, (void **)&out, &buffer) != napi_ok) return NULL;
  secp256k1_ecdsa_signature_serialize_compact(ctx, out, &s);
  napi_create_typedarray(env, napi_uint8_array, 64, buffer, 0, &result);
  return result;
}

static napi_value uncompress(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint8_t *pub, *out;
  size_t pub_len, out_len = 65;
  napi_value buffer, result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "uncompress(pubkey)");
    return NULL;
  }
  if (!bytes_arg(env, argv[0], &pub, &pub_len)) return NULL;
  secp256k1_pubkey p;
  if (!secp256k1_ec_pubkey_parse(ctx, &p, pub, pub_len)) {
    napi_get_null(env, &result);
    return result;
  }
  if (napi_create_arraybuffer(env, 65, (void **)&out, &buffer) != napi_ok) return NULL;
  secp256k1_ec_pubkey_serialize(ctx, out, &out_len, &p, SECP256K1_EC_UNCOMPRESSED);
  napi_create_typedarray(env, napi_uint8_array, 65, buffer, 0, &result);
  return result;
}

NAPI_MODULE_INIT() {
  // Module init runs once per thread that loads the addon, and threads may race here: create the context once.
  static secp256k1_context *_Atomic shared = NULL;
  if (shared == NULL) {
    secp256k1_context *mine = secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY);
    secp256k1_context *expected = NULL;
    if (!__atomic_compare_exchange_n(&shared, &expected, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      secp256k1_context_destroy(mine);
    }
  }
  ctx = shared;
  napi_property_descriptor props[] = {
      {"verify", NULL, verify, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sign", NULL, sign, NULL, NULL, NULL, napi_enumerable, NULL},
      {"uncompress", NULL, uncompress, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 3, props);
  return exports;
}
