#!/usr/bin/env bash
# The whole test suite on a fresh machine: dependencies, a private PostgreSQL and Redis, type check, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund
# The relay's binding to the system libsecp256k1 (Debian packages installed here on a fresh machine).
bash scripts/build-native.sh --install
source scripts/services.sh
trap stop_services EXIT
# The console's browser test drives Debian's chromium (installed here on a fresh machine).
bash scripts/chromium.sh >/dev/null

npx tsc -p tsconfig.json
# The console's browser script, against the admin API's declared types.
npx tsc -p src/api/console/tsconfig.json
mkdir -p .tmp
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.tmp/vitest.json "$@" || status=$?
# One plain summary line that any CI can read.
node -e '
  const r = JSON.parse(require("fs").readFileSync(".tmp/vitest.json", "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit $status
