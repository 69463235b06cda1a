#!/usr/bin/env bash
# npm run compose:up | compose:down: the compose stack on this host.
#   up    builds what is missing (npm run images), writes .env on first use (fresh JWT_SECRET_KEY,
#         METRICS_BEARER_TOKEN and POSTGRES_PASSWORD; COMPOSE_FILE with docker-compose.local.yml where the
#         images came from local bases), prepares AICLI_DATA_DIR, then `up -d` and waits for the API.
#   down  stops and removes the containers and the network; the volumes (Redis, Postgres) stay.
# Afterwards plain `docker compose ...` (or docker-compose v1) uses the same files through .env.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[compose] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"
  elif command -v docker-compose >/dev/null 2>&1; then docker-compose "$@"
  else die "neither docker compose nor docker-compose is installed: apt-get install -y docker-compose"; fi
}

# Sets KEY=VALUE in .env, keeping every other line (and the secrets) as they are.
env_set() {
  touch .env && chmod 600 .env
  if grep -q "^$1=" .env; then sed -i "s#^$1=.*#$1=$2#" .env; else printf '%s=%s\n' "$1" "$2" >> .env; fi
}
env_default() { grep -q "^$1=" .env 2>/dev/null || env_set "$1" "$2"; }
secret() { node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))'; }

# The worker hands the engine paths under AICLI_DATA_DIR and loop-mounts scratch there; those mounts reach
# the engine only through a shared mount (the rshared bind in docker-compose.yml).
prepare_data_dir() {
  local dir="$1"
  mkdir -p "$dir"
  if [ "$(findmnt -no PROPAGATION --target "$dir" 2>/dev/null | head -n 1)" != shared ]; then
    [ "$(id -u)" = 0 ] || die "$dir is not on a shared mount: run as root, or mount --bind $dir $dir && mount --make-rshared $dir"
    if ! findmnt -no TARGET --mountpoint "$dir" >/dev/null 2>&1; then mount --bind "$dir" "$dir"; fi
    mount --make-rshared "$dir"
    log "made $dir a shared mount (for the worker's loop-mounted scratch)"
  fi
}

export AICLI_VERSION="${AICLI_VERSION:-$(node -p 'require("./package.json").version')}"
# API_PORT was this variable's name before AICLI_HTTP_PORT.
export AICLI_HTTP_PORT="${AICLI_HTTP_PORT:-${API_PORT:-8080}}"

case "${1:-}" in
  up)
    started=$(date +%s)
    bash scripts/images.sh
    env_default JWT_SECRET_KEY "$(secret)"
    env_default METRICS_BEARER_TOKEN "$(secret)"
    env_default POSTGRES_PASSWORD "$(secret)"
    if [ "$(cat var/image/mode)" = local ]; then env_set COMPOSE_FILE docker-compose.yml:docker-compose.local.yml
    else env_set COMPOSE_FILE docker-compose.yml; fi
    data_dir="${AICLI_DATA_DIR:-$(sed -n 's/^AICLI_DATA_DIR=//p' .env)}"
    prepare_data_dir "${data_dir:-/var/lib/aicli}"
    compose up -d --remove-orphans
    log "waiting for the API on port $AICLI_HTTP_PORT"
    for _ in $(seq 1 90); do
      if curl -fsS "http://127.0.0.1:$AICLI_HTTP_PORT/readyz" >/dev/null 2>&1; then
        log "up in $(( $(date +%s) - started ))s: http://127.0.0.1:$AICLI_HTTP_PORT (first user: docker compose exec -T api aicli-web users create --email you@example.com --password '...' --role admin)"
        exit 0
      fi
      sleep 2
    done
    compose ps
    die "the API did not answer /readyz within 180 s: see docker compose logs api migrate"
    ;;
  down)
    [ -f .env ] || die "no .env here: nothing was started with npm run compose:up"
    compose down --remove-orphans
    log "stopped; volumes kept (docker volume ls). To delete the data too: docker compose down -v"
    ;;
  data-dir)
    # For the compose test, which runs its own project on its own directory.
    prepare_data_dir "${2:?usage: scripts/compose.sh data-dir DIR}"
    ;;
  *)
    die "usage: scripts/compose.sh up|down|data-dir DIR"
    ;;
esac
