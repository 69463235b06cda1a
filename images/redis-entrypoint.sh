#!/bin/sh
# Without a config file Redis starts in protected mode and refuses every client that is not on loopback,
# so the other containers could not reach it. The compose network is the boundary (no published port), as
# with the public image, whose entrypoint does the same.
if [ "${1:-}" = redis-server ]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
