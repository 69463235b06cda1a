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
#
# A pool container whose run dir holds /run/aicli/prestart (the same encoding: the CLI's environment and
# command, nothing of a tenant) starts that CLI at once, its stdin the FIFO /run/aicli/in, whose other end
# the worker holds. A hand-off of the single word --prestarted then keeps it: the worker writes the task's
# prompt into that FIFO, and this shell only relays the stop signal and the CLI's exit code. Any other
# hand-off kills the waiting CLI first and execs its command as above.
set -e

# read_handoff <file>: exports its environment entries and sets argv to its command.
read_handoff() {
  exec 3< "$1"
  IFS= read -r -d '' count <&3
  for ((i = 0; i < count; i++)); do
    IFS= read -r -d '' entry <&3
    export "$entry"
  done
  argv=()
  while IFS= read -r -d '' arg <&3; do argv+=("$arg"); done
  exec 3<&-
}

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
  cli=
  if [ -f /run/aicli/prestart ]; then
    # In a subshell, so the CLI's environment stays out of a command handed off later.
    ( read_handoff /run/aicli/prestart; exec "${argv[@]}" < /run/aicli/in ) &
    cli=$!
    # docker-init forwards the container's stop signal to this shell; the CLI is the one to stop.
    trap 'kill -INT "$cli" 2>/dev/null || true' INT
    trap 'kill -TERM "$cli" 2>/dev/null || true' TERM
  fi
  if [ -n "$cli" ]; then
    # Waits for the worker's wake-up as below, and exits (the pool discards the container) should the
    # started CLI end first: a task must never be handed to a CLI that is gone.
    { read -r _ < /run/aicli/go || true; } &
    woken=$!
    while kill -0 "$woken" 2>/dev/null; do
      kill -0 "$cli" 2>/dev/null || { echo "aicli-entry: the started CLI exited before its task" >&2; exit 71; }
      wait -n "$cli" "$woken" || true
    done
  else
    # Blocks (no CPU) until the worker opens the FIFO; EOF without a line is fine, the file decides.
    read -r _ < /run/aicli/go || true
  fi
  [ -f /run/aicli/task ] || { echo "aicli-entry: no task hand-off at /run/aicli/task" >&2; exit 70; }
  read_handoff /run/aicli/task
  if [ -n "$cli" ]; then
    if [ "${#argv[@]}" -eq 1 ] && [ "${argv[0]}" = "--prestarted" ]; then
      # wait returns early (above 128) when a trapped signal arrives; the CLI's own exit ends the loop.
      while :; do
        rc=0
        wait "$cli" || rc=$?
        kill -0 "$cli" 2>/dev/null || exit "$rc"
      done
    fi
    trap - INT TERM
    kill -KILL "$cli" 2>/dev/null || true
    wait "$cli" 2>/dev/null || true
  fi
  [ "${#argv[@]}" -gt 0 ] || { echo "aicli-entry: the task hand-off has no command" >&2; exit 70; }
  set -- "${argv[@]}"
fi

# The egress proxy is per task: a pool container sees its socket only after the hand-off.
if [ -S /run/aicli/egress.sock ]; then
  forward /run/aicli/egress.sock "${AICLI_EGRESS_PORT:-8788}"
fi
exec "$@"
