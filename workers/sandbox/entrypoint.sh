#!/bin/bash
# The container has no network. The worker's model gateway is a unix socket
# bind-mounted at /run/aicli/gateway.sock; socat exposes it on loopback so the
# CLI can reach it through ANTHROPIC_BASE_URL=http://127.0.0.1:$AICLI_GATEWAY_PORT.
# A workspace with an egress allowlist also gets its task's egress proxy at
# /run/aicli/egress.sock, exposed the same way on $AICLI_EGRESS_PORT (the
# worker sets HTTPS_PROXY/HTTP_PROXY to it); without that socket there is no
# way out at all.
#
# `aicli-entry --await-task` is a warm pool container: it starts the gateway
# forward, then blocks on the FIFO /run/aicli/go until the worker has written
# the task's hand-off to /run/aicli/task (both in a directory mounted read-only
# from a root-owned host dir, so only the worker can write them). The hand-off
# is NUL-separated: the number of environment entries, the NAME=value entries,
# then the command and its arguments.
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

if [ "${1:-}" = "--await-task" ]; then
  # Blocks (no CPU) until the worker opens the FIFO; EOF without a line is fine, the file decides.
  read -r _ < /run/aicli/go || true
  [ -f /run/aicli/task ] || { echo "aicli-entry: no task hand-off at /run/aicli/task" >&2; exit 70; }
  exec 3< /run/aicli/task
  IFS= read -r -d '' count <&3
  for ((i = 0; i < count; i++)); do
    IFS= read -r -d '' entry <&3
    export "$entry"
  done
  argv=()
  while IFS= read -r -d '' arg <&3; do argv+=("$arg"); done
  exec 3<&-
  [ "${#argv[@]}" -gt 0 ] || { echo "aicli-entry: the task hand-off has no command" >&2; exit 70; }
  set -- "${argv[@]}"
fi

# The egress proxy is per task: a pool container sees its socket only after the hand-off.
if [ -S /run/aicli/egress.sock ]; then
  forward /run/aicli/egress.sock "${AICLI_EGRESS_PORT:-8788}"
fi
exec "$@"
