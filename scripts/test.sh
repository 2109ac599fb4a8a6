#!/usr/bin/env bash
# The whole test suite on a fresh machine: dependencies, a private PostgreSQL and Redis, type check, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund
source scripts/services.sh
trap stop_services EXIT

npx tsc -p tsconfig.json
npx vitest run "$@"
