#!/usr/bin/env bash
# npm run images: builds every image the compose stack runs, then prints their sizes.
#   aicli-sandbox:<tag>          the sandbox (aicli-web sandbox build; makes aicli-base:bookworm with mmdebstrap)
#   aicli-web:<version>, :latest the application (images/app.Dockerfile from dist/ and staged production modules)
#   redis, postgres              the public images when they are here or can be pulled, else
#                                aicli-redis:bookworm and aicli-postgres:bookworm from Debian's packages
# AICLI_IMAGES_SOURCE=auto (default) | public | local: auto tries the public images and falls back to local bases.
# Writes which it used (public or local) to var/image/mode, which scripts/compose.sh reads.
set -euo pipefail
started=$(date +%s)
cd "$(dirname "$0")/.."
log() { printf "[images %3ss] %s\n" "$(( $(date +%s) - started ))" "$*" >&2; }
die() { log "$*"; exit 1; }


source_mode="${AICLI_IMAGES_SOURCE:-auto}"
case "$source_mode" in auto | public | local) ;; *) die "AICLI_IMAGES_SOURCE must be auto, public or local, got: $source_mode" ;; esac
docker info >/dev/null 2>&1 || die "the Docker engine does not answer: start dockerd (bash scripts/setup-host.sh)"

version=$(node -p 'require("./package.json").version')
public_node=node:20-bookworm-slim
public_redis=redis:7-bookworm
public_postgres=postgres:16-bookworm
local_node=aicli-node:bookworm
local_redis=aicli-redis:bookworm
local_postgres=aicli-postgres:bookworm
base=aicli-base:bookworm

# An image that is here, or that a registry gives within a minute; never in local mode.
available() {
  [ "$source_mode" = local ] && return 1
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  log "pulling $1"
  if timeout 60 docker pull -q "$1" >/dev/null 2>&1; then return 0; fi
  [ "$source_mode" = public ] && die "could not pull $1 (AICLI_IMAGES_SOURCE=public): reach a registry, or use AICLI_IMAGES_SOURCE=auto"
  log "$1 cannot be pulled: building from the local base instead"
  return 1
}

# The legacy builder is the path proven on engines without BuildKit; --network host for apt-get.
build() { DOCKER_BUILDKIT=0 docker build --network host -q "$@" >/dev/null; }

log "compiling (npm run build)"
npm run --silent build

# The sandbox image, and with it the mmdebstrap base the local images below start from.
node bin/aicli-web.js sandbox build

mode=public
if available "$public_node"; then
  node_image=$public_node
else
  mode=local
  node_image=$local_node
  node_version=$(node -p 'process.versions.node')
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || die "the host's node is $node_version; the app image needs >= 20.19: install a newer Node on the host"
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp images/node.Dockerfile "$ctx/Dockerfile"
  cp "$(node -p 'process.execPath')" "$ctx/node"
  log "building $local_node (node $node_version from the host on $base)"
  build --build-arg "BASE=$base" -t "$local_node" "$ctx"
fi

# Production modules only, copied from this checkout's node_modules (no download): the packages
# package-lock.json does not mark dev (scripts/prod-modules.mjs). The claude binary stays out: the app never
# runs it (only the sandbox image holds it), and its package.json alone gives the sandbox image tag.
if cmp -s package-lock.json var/image/package-lock.json && [ -d var/image/node_modules ]; then
  log "production node_modules in var/image are staged for this package-lock.json already"
else
log "staging production node_modules in var/image"
rm -rf var/image && mkdir -p var/image
prod=$(node scripts/prod-modules.mjs)
# -h: node_modules may be a symlink (a worktree sharing another checkout's modules).
printf '%s\n' "$prod" | tar -ch --exclude='node_modules/@anthropic-ai/claude-code-linux-x64/claude' -T - -f - \
  | tar -C var/image -xf -
cp package-lock.json var/image/package-lock.json
fi

log "building aicli-web:$version from $node_image"
build -f images/app.Dockerfile --build-arg "NODE_IMAGE=$node_image" -t "aicli-web:$version" -t aicli-web:latest .

if available "$public_redis"; then redis_image=$public_redis; else
  mode=local
  redis_image=$local_redis
  log "building $redis_image (Debian's redis-server on $base)"
  build -f images/redis.Dockerfile --build-arg "BASE=$base" -t "$redis_image" images
fi
if available "$public_postgres"; then postgres_image=$public_postgres; else
  mode=local
  postgres_image=$local_postgres
  log "building $postgres_image (Debian's postgresql on $base)"
  build -f images/postgres.Dockerfile --build-arg "BASE=$base" -t "$postgres_image" images
fi
echo "$mode" > var/image/mode

sandbox_image=$(node -e 'import("./dist/workers/sandbox/build.js").then((m) => console.log(m.sandboxImageTag()))')
log "done in $(( $(date +%s) - started ))s, mode=$mode"
for image in "aicli-web:$version" "$sandbox_image" "$redis_image" "$postgres_image" "$node_image" "$base"; do
  printf '%-36s %6.0f MB\n' "$image" "$(( $(docker image inspect --format '{{.Size}}' "$image") / 1000000 ))"
done
