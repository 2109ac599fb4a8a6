#!/usr/bin/env bash
# Installs Debian's chromium for the console's browser test when it is absent; prints its path.
# Chromium comes from the distribution, never from a browser download at test time (the network is closed).
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "chromium.sh: $CHROMIUM missing and not root; install Debian's chromium package" >&2
    exit 1
  fi
  # Another process may hold the dpkg lock (a parallel install): wait for it rather than fail.
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "$CHROMIUM"
