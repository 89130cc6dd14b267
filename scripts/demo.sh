#!/usr/bin/env bash
# `npm run demo`: puts Node 24 on PATH (from the npm registry when the machine's node is older),
# installs the project's dependencies when they are missing (a fresh clone), builds the `latch` the
# demo runs, then runs the demo (tools/demo/main.ts), which installs and starts PostgreSQL and Redis
# itself. tsx is one of those dependencies, so this one step has to be shell.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/use-node24.sh

if [ ! -d node_modules ]; then
  echo "demo: installing dependencies (npm ci), once; this takes a few minutes…"
  npm ci --no-audit --no-fund
fi
npm run --silent build
exec node --import tsx tools/demo/main.ts "$@"
