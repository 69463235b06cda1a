#!/usr/bin/env bash
# Everything `npm run up` and `npm test` need on a fresh Debian machine, each step skipped when done:
# host services (Docker engine, Redis, PostgreSQL), node modules, the build, the database, the sandbox image.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[bootstrap] %s\n' "$*" >&2; }

bash scripts/setup-host.sh

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing node modules (npm ci)"
  npm ci --no-audit --no-fund >/dev/null
fi

log "building (tsc)"
npm run --silent build

db_name="${AICLI_DB_NAME:-aicli}"
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = '$db_name'" | grep -q 1; then
  log "creating database $db_name"
  createdb -h 127.0.0.1 -U postgres "$db_name"
fi

node bin/aicli-web.js sandbox build
