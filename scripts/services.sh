#!/usr/bin/env bash
# Starts a private PostgreSQL and Redis for the test suite, installing them from Debian packages when absent.
# Usage: source scripts/services.sh  (exports TEST_DATABASE_URL and TEST_REDIS_URL; stop_services cleans up)
set -euo pipefail

export SERVICES_DIR="${SERVICES_DIR:-$(mktemp -d /tmp/relay-services.XXXXXX)}"
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
PG_PORT="${PG_PORT:-$(free_port)}"
REDIS_PORT="${REDIS_PORT:-$(free_port)}"

need_apt_update=1
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "services.sh: $* missing and not root; install it or set TEST_DATABASE_URL/TEST_REDIS_URL" >&2
    return 1
  fi
  if [ $need_apt_update = 1 ]; then apt-get update -qq >/dev/null; need_apt_update=0; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return; }; done
  return 1
}

start_postgres() {
  local bin
  bin=$(pg_bin) || { apt_install postgresql; bin=$(pg_bin); }
  local data="$SERVICES_DIR/pg"
  mkdir -p "$data"
  local run_as=()
  # initdb refuses to run as root, so the cluster belongs to the postgres system user.
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$SERVICES_DIR"; run_as=(runuser -u postgres --); fi
  # From / so the postgres user is not left in a directory it may not enter.
  (cd / && "${run_as[@]}" "$bin/initdb" -D "$data" -U relay --auth=trust -E UTF8 >/dev/null)
  (cd / && "${run_as[@]}" "$bin/pg_ctl" -D "$data" -l "$SERVICES_DIR/pg.log" -w \
    -o "-p $PG_PORT -k $SERVICES_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null)
  export TEST_DATABASE_URL="postgres://relay@127.0.0.1:$PG_PORT/postgres"
  export PG_BIN="$bin" PG_DATA="$data"
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log" --dir "$SERVICES_DIR"
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
}

stop_services() {
  if [ -n "${PG_DATA:-}" ] && [ -d "$PG_DATA" ]; then
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1) || true
    else "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true; fi
  fi
  [ -f "$SERVICES_DIR/redis.pid" ] && kill "$(cat "$SERVICES_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$SERVICES_DIR"
}

[ -n "${TEST_DATABASE_URL:-}" ] || start_postgres
[ -n "${TEST_REDIS_URL:-}" ] || start_redis
