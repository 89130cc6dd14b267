#!/usr/bin/env bash
# Local PostgreSQL and Redis for tests, CI and trying Latch out: installed from Debian's packages
# when missing, run on loopback on ports of their own so they never collide with a developer's
# services, and kept in one folder that `stop` tears down.
#
#   scripts/services.sh install             apt-get install what is missing (needs root), MariaDB's
#                                           server included (its tests start their own)
#   scripts/services.sh start [DIR]         start both (idempotent); prints the URLs to use
#   scripts/services.sh stop [DIR]          stop both
#
# Ports: LATCH_PG_PORT (default 54329) and LATCH_REDIS_PORT (default 63799).
set -euo pipefail

PG_PORT=${LATCH_PG_PORT:-54329}
REDIS_PORT=${LATCH_REDIS_PORT:-63799}
DIR=${2:-${TMPDIR:-/tmp}/latch-services-$PG_PORT}
PG_USER=latch

say() { printf 'services: %s\n' "$*" >&2; }

pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

# initdb and postgres refuse to run as root: run them as the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

install() {
  local missing=()
  pg_bin >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  # MariaDB is not started here: the mysql provider's tests start a server of their own
  # (test/helpers/private-mariadb.ts) from this package.
  [ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
  if [ ${#missing[@]} -eq 0 ]; then say "PostgreSQL, Redis and MariaDB already installed"; return 0; fi
  if [ "$(id -u)" != 0 ]; then
    say "missing ${missing[*]}: install them (sudo apt-get install -y ${missing[*]}) and run again"
    return 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_pg() {
  local bin data log
  bin=$(pg_bin) || { say "PostgreSQL server not found: run scripts/services.sh install"; return 1; }
  data="$DIR/pg"
  log="$DIR/pg.log"
  mkdir -p "$DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$data" -U "$PG_USER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "PostgreSQL already running on 127.0.0.1:$PG_PORT"
    return 0
  fi
  # Durability is not wanted for throwaway test data; speed is.
  as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start -o \
    "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null \
    || { say "PostgreSQL did not start; its log:"; cat "$log" >&2; return 1; }
  say "PostgreSQL running on 127.0.0.1:$PG_PORT"
}

start_redis() {
  command -v redis-server >/dev/null 2>&1 || { say "redis-server not found: run scripts/services.sh install"; return 1; }
  mkdir -p "$DIR"
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    say "Redis already running on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  # BullMQ needs noeviction; persistence is off because PostgreSQL can rebuild every schedule.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --maxmemory-policy noeviction --daemonize yes --dir "$DIR" \
    --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log"
  local i
  for i in $(seq 1 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && { say "Redis running on 127.0.0.1:$REDIS_PORT"; return 0; }
    sleep 0.1
  done
  say "Redis did not start; its log:"; cat "$DIR/redis.log" >&2; return 1
}

stop() {
  local bin
  if bin=$(pg_bin) && [ -f "$DIR/pg/PG_VERSION" ]; then
    as_pg "$bin/pg_ctl" -D "$DIR/pg" -m fast -w stop >/dev/null 2>&1 && say "PostgreSQL stopped" || true
  fi
  if [ -f "$DIR/redis.pid" ]; then
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 && say "Redis stopped" || true
  fi
}

urls() {
  echo "DATABASE_URL=postgresql://$PG_USER@127.0.0.1:$PG_PORT/postgres"
  echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
}

case "${1:-}" in
  install) install ;;
  start) start_pg; start_redis; urls ;;
  stop) stop ;;
  urls) urls ;;
  *) echo "usage: $0 install|start|stop|urls [DIR]" >&2; exit 64 ;;
esac
