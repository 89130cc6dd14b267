#!/usr/bin/env bash
# `npm run demo`: installs the project's dependencies when they are missing (a fresh clone), then
# runs the demo (tools/demo/main.ts), which installs and starts PostgreSQL and Redis itself.
# tsx is one of those dependencies, so this one step has to be shell.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ]; then
  echo "demo: installing dependencies (npm ci), once; this takes a few minutes…"
  npm ci --no-audit --no-fund
fi
exec node --import tsx tools/demo/main.ts "$@"
