#!/usr/bin/env bash
# Builds native/build/secp256k1.node: the relay's binding to the system libsecp256k1 (Debian: libsecp256k1-dev),
# ~20 % faster per secp256k1 check than the prebuilt addon of the `secp256k1` npm package (bench/RESULTS.md).
# Runs on `npm install`. Without a C compiler, Node's headers or libsecp256k1 it prints why and exits 0: the relay
# then uses the npm prebuild, so an install never fails for lack of it.
# --install: first install the Debian packages it needs (root only; the test suite uses this).
set -uo pipefail
cd "$(dirname "$0")/.."

out=native/build/secp256k1.node
note() { echo "build-native: $*; secp256k1 checks use the npm prebuild" >&2; exit 0; }

if [ "${1:-}" = --install ] && { ! command -v gcc >/dev/null || [ ! -f /usr/include/secp256k1.h ]; }; then
  [ "$(id -u)" = 0 ] || note "gcc or libsecp256k1-dev missing and not root"
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    gcc libc6-dev libsecp256k1-dev >/dev/null || note "apt-get could not install gcc and libsecp256k1-dev"
fi
command -v gcc >/dev/null || note "no C compiler (gcc)"
[ -f /usr/include/secp256k1.h ] || note "libsecp256k1 headers missing (Debian: apt-get install libsecp256k1-dev)"
headers="$(dirname "$(readlink -f "$(command -v node)")")/../include/node"
[ -f "$headers/node_api.h" ] || note "Node's headers are not beside the node binary ($headers)"

mkdir -p native/build
gcc -O2 -std=c11 -Wall -Wextra -fPIC -shared -I"$headers" native/secp256k1.c -lsecp256k1 -o "$out.tmp" \
  || note "compiling native/secp256k1.c failed"
mv "$out.tmp" "$out"
echo "build-native: built $out against the system libsecp256k1" >&2
