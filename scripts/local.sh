#!/usr/bin/env bash
# Runs Latch on this machine against a local PostgreSQL and Redis (installed and started here, on
# ports of their own), with the Slack credentials from .env, on Node 24 (from the npm registry when
# the machine's node is older), from a fresh build. `npm start` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/use-node24.sh

export LATCH_PG_PORT=${LATCH_LOCAL_PG_PORT:-54328}
export LATCH_REDIS_PORT=${LATCH_LOCAL_REDIS_PORT:-63798}
services_dir="${TMPDIR:-/tmp}/latch-local-$LATCH_PG_PORT"

if [ ! -f .env ]; then
  cp .env.example .env
  echo "Created .env from .env.example: put your Slack app's SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in it." >&2
fi
[ -f policy.yaml ] || cp policy.example.yaml policy.yaml
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build

bash scripts/services.sh install
bash scripts/services.sh start "$services_dir" >/dev/null
psql "postgresql://latch@127.0.0.1:$LATCH_PG_PORT/postgres" -qAtc "SELECT 1 FROM pg_database WHERE datname = 'latch'" | grep -q 1 \
  || psql "postgresql://latch@127.0.0.1:$LATCH_PG_PORT/postgres" -qc 'CREATE DATABASE latch'

set -a
# shellcheck disable=SC1091
. ./.env
set +a
# The local services, whatever .env says about production ones.
export DATABASE_URL="postgresql://latch@127.0.0.1:$LATCH_PG_PORT/latch"
export REDIS_URL="redis://127.0.0.1:$LATCH_REDIS_PORT"

# The example policy's providers, pointed at local stand-ins unless .env names real ones: a
# database of its own for the PostgreSQL provider to grant roles on, and a webhook secret.
if [ -z "${PROD_DB_ADMIN_URL:-}" ]; then
  psql "postgresql://latch@127.0.0.1:$LATCH_PG_PORT/postgres" -qAtc "SELECT 1 FROM pg_database WHERE datname = 'latch_target'" | grep -q 1 \
    || psql "postgresql://latch@127.0.0.1:$LATCH_PG_PORT/postgres" -qc 'CREATE DATABASE latch_target'
  export PROD_DB_ADMIN_URL="postgresql://latch@127.0.0.1:$LATCH_PG_PORT/latch_target"
fi
[ -n "${AWS_WEBHOOK_SECRET:-}" ] || export AWS_WEBHOOK_SECRET="local-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

node bin/latch.js migrate
echo "Stop Latch with Ctrl-C; stop the local services with: LATCH_PG_PORT=$LATCH_PG_PORT LATCH_REDIS_PORT=$LATCH_REDIS_PORT bash scripts/services.sh stop $services_dir" >&2
exec node bin/latch.js start
