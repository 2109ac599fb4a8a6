#!/usr/bin/env bash
# Builds the relay's bindings to system libraries, each on its own (one that cannot be built leaves the other):
# - native/build/secp256k1.node (native/secp256k1.c, Debian libsecp256k1-dev): ~20 % faster per secp256k1 check
#   than the prebuilt addon of the `secp256k1` npm package (bench/RESULTS.md), which is the fallback.
# - native/build/zstd.node (native/zstd.c, Debian libzstd-dev): Jetstream's compressed stream with a digested
#   dictionary, a few µs per message; the fallback, Node's zlib, takes ~20x longer (bench/RESULTS.md, jetstream).
# - native/build/sha256.node (native/sha256.c, the OpenSSL inside Node: its headers ship with Node's): the verify
#   path's hashes without node:crypto's per-call cost; the fallback is node:crypto.
# Runs on `npm install`. Without a C compiler, Node's headers or a library it prints why and exits 0: an install
# never fails for lack of them.
# --install: first install the Debian packages it needs (root only; the test suite uses this).
set -uo pipefail
cd "$(dirname "$0")/.."

note() { echo "build-native: $*" >&2; }

if [ "${1:-}" = --install ] && { ! command -v gcc >/dev/null || [ ! -f /usr/include/secp256k1.h ] || [ ! -f /usr/include/zstd.h ]; }; then
  if [ "$(id -u)" = 0 ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
      gcc libc6-dev libsecp256k1-dev libzstd-dev >/dev/null || note "apt-get could not install gcc, libsecp256k1-dev and libzstd-dev"
  else
    note "gcc, libsecp256k1-dev or libzstd-dev missing and not root"
  fi
fi
command -v gcc >/dev/null || { note "no C compiler (gcc); secp256k1 checks use the npm prebuild, zstd Node's zlib"; exit 0; }
headers="$(dirname "$(readlink -f "$(command -v node)")")/../include/node"
[ -f "$headers/node_api.h" ] || { note "Node's headers are not beside the node binary ($headers); no native bindings"; exit 0; }
mkdir -p native/build

# build NAME HEADER LIB FALLBACK: HEADER is under /usr/include unless absolute; LIB empty links no library (the
# symbols come from the node binary when the addon loads).
build() {
  local out="native/build/$1.node" header="$2" lib=()
  [[ "$header" = /* ]] || header="/usr/include/$header"
  [ -n "$3" ] && lib=("-l$3")
  [ -f "$header" ] || { note "$header missing; $4"; return; }
  if gcc -O2 -std=c11 -Wall -Wextra -fPIC -shared -I"$headers" "native/$1.c" "${lib[@]}" -o "$out.tmp"; then
    mv "$out.tmp" "$out"
    echo "build-native: built $out${3:+ against the system lib$3}" >&2
  else
    note "compiling native/$1.c failed; $4"
  fi
}
build secp256k1 secp256k1.h secp256k1 "secp256k1 checks use the npm prebuild"
build zstd zstd.h zstd "Jetstream compression uses Node's zlib"
build sha256 "$headers/openssl/sha.h" "" "hashes use node:crypto"
exit 0
