# The application image from what the host already built, which needs neither npm nor tsc in the build:
# dist/ (npm run build) and the production node_modules that scripts/images.sh stages in var/image/. Build it
# with `npm run images`; the multi-stage ../Dockerfile builds the same runtime from source instead.
#
# NODE_IMAGE: node:20-bookworm-slim where a registry answers, else aicli-node:bookworm (images/node.Dockerfile).
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE} AS app
# The worker runs git on its side (workspace clones, the diff; 2.39.2+, bookworm has it) and, for loop-mode task
# scratch (sandbox.scratch.mode: loop), mkfs.ext4 and mount/losetup to loop-mount the images.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends e2fsprogs mount git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    LOG_FORMAT=json
WORKDIR /app
COPY package.json package-lock.json ./
COPY var/image/node_modules ./node_modules
COPY var/image/package-lock.json ./node_modules/.staged-from-lock.json
# Modules staged for another lock file would run code the lock does not describe: refuse to build.
RUN cmp -s package-lock.json node_modules/.staged-from-lock.json \
 || { echo 'var/image/node_modules was staged for another package-lock.json: run npm run images' >&2; exit 1; }
COPY bin ./bin
COPY migrations ./migrations
COPY configs ./configs
COPY workers/sandbox/Dockerfile workers/sandbox/entrypoint.sh workers/sandbox/mcp-echo.pl ./workers/sandbox/
COPY dist ./dist
RUN ln -s /app/bin/aicli-web.js /usr/local/bin/aicli-web
# The API and migrate run as the unprivileged `node` user; the worker service runs as root
# (it drives the host's Docker engine and hands scratch dirs to the sandbox's uid 1000).
USER node
EXPOSE 8080 9464
# Health checks are per service (docker-compose.yml): the api answers on server.port, a worker on worker.metrics_port.
ENTRYPOINT ["aicli-web"]
CMD ["api"]
