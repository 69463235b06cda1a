# Node runtime base for hosts where no image registry answers: the mmdebstrap base (aicli-base, the one the
# sandbox build makes) plus the host's own `node` binary, which scripts/images.sh copies into the context.
# Debian bookworm's nodejs package is 18.x, older than the engines field (>= 20.19) allows. Shaped like
# node:20-bookworm-slim where the app image relies on it: node on PATH, a `node` user with uid 1000.
ARG BASE=aicli-base:bookworm
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --create-home --shell /bin/bash node
COPY node /usr/local/bin/node
RUN node --version
