#!/bin/bash
# The container has no network. The worker's model gateway is a unix socket
# bind-mounted at /run/aicli/gateway.sock; socat exposes it on loopback so the
# CLI can reach it through ANTHROPIC_BASE_URL=http://127.0.0.1:$AICLI_GATEWAY_PORT.
# A workspace with an egress allowlist also gets its task's egress proxy at
# /run/aicli/egress.sock, exposed the same way on $AICLI_EGRESS_PORT (the
# worker sets HTTPS_PROXY/HTTP_PROXY to it); without that socket there is no
# way out at all.
set -e

# forward <unix socket> <loopback port>: listen in the background, return once it accepts.
forward() {
  socat "TCP-LISTEN:$2,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$1" &
  # Wait until socat listens so the first request never races it.
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
    sleep 0.01
  done
}

if [ -S /run/aicli/gateway.sock ]; then
  forward /run/aicli/gateway.sock "${AICLI_GATEWAY_PORT:-8787}"
fi
if [ -S /run/aicli/egress.sock ]; then
  forward /run/aicli/egress.sock "${AICLI_EGRESS_PORT:-8788}"
fi
exec "$@"
