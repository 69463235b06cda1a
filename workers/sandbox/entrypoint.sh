#!/bin/bash
# The container has no network. The worker's model gateway is a unix socket
# bind-mounted at /run/aicli/gateway.sock; socat exposes it on loopback so the
# CLI can reach it through ANTHROPIC_BASE_URL=http://127.0.0.1:$AICLI_GATEWAY_PORT.
set -e
port="${AICLI_GATEWAY_PORT:-8787}"
if [ -S /run/aicli/gateway.sock ]; then
  socat "TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr" UNIX-CONNECT:/run/aicli/gateway.sock &
  # Wait until socat listens so the CLI's first request never races it.
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null && break
    sleep 0.01
  done
fi
exec "$@"
