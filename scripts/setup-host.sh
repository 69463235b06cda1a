#!/usr/bin/env bash
# Idempotent host set-up for a fresh Debian machine: installs and starts what
# AICode Manager needs (Docker engine, Redis, PostgreSQL, git, mmdebstrap) and
# skips every step that is already done. Safe to run on every start.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }

have dockerd || need_apt+=(docker.io)
have mmdebstrap || need_apt+=(mmdebstrap)
have git || need_apt+=(git)
have redis-server || need_apt+=(redis-server)
installed_pg=0
have pg_ctlcluster || { need_apt+=(postgresql); installed_pg=1; }
have curl || need_apt+=(curl)
# The browser tests (test/browser) drive Debian's chromium through playwright-core.
have chromium || need_apt+=(chromium)
# Loop-mode task scratch (sandbox.scratch.mode: loop): mkfs.ext4 makes each attempt's image.
have mkfs.ext4 || need_apt+=(e2fsprogs)
have losetup || need_apt+=(mount)
# docker-compose validates docker-compose.yml in the tests (docker compose config).
have docker-compose || docker compose version >/dev/null 2>&1 || need_apt+=(docker-compose)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing packages: ${need_apt[*]}; run this script as root (sudo $0)"; exit 1
  fi
  log "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Docker engine: start dockerd when nothing answers on the socket.
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/dockerd.log"; exit 1; }
fi

# Redis on 127.0.0.1:6379.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting redis-server"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/aicli.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

# PostgreSQL on 127.0.0.1:5432. A cluster this script installed trusts loopback connections, so the
# default DATABASE_URL (postgres://postgres@127.0.0.1:5432/aicli) works without a password.
if [ "$installed_pg" = 1 ]; then
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q 'aicli-trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust # aicli-trust\nhost all all ::1/128 trust # aicli-trust' "$hba"
    # Where the package started the cluster itself (systemd), it must reread the file.
    if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then pg_ctlcluster --skip-systemctl-redirect "$ver" main reload; fi
  fi
fi
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  log "starting postgresql"
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && break; sleep 0.5; done
fi
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { log "postgres is not accepting connections on 127.0.0.1:5432"; exit 1; }
redis-cli -h 127.0.0.1 ping >/dev/null || { log "redis is not answering on 127.0.0.1:6379"; exit 1; }
log "host ready: docker, redis, postgres"
