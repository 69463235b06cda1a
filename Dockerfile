# The AICode Manager application image (api, worker, migrate). Multi-stage: dependencies and the
# TypeScript build happen in throw-away stages; the runtime stage holds only production modules,
# dist/, migrations and the sandbox build files (the worker hashes them for the sandbox image tag).
#
#   docker build -t aicli-web .                  # the app
#   docker build --target tools -t aicli-web:tools .   # + docker CLI, for `aicli-web sandbox build`
#
# NODE_IMAGE can point at a mirror or a locally loaded image when no public registry is reachable.
# `npm run images` builds the same runtime faster from the host's build (images/app.Dockerfile), and from
# local bases when no registry answers; keep the two runtime stages alike (test/unit/compose.test.ts).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
COPY bench ./bench
COPY test/support ./test/support
COPY console ./console
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS app
ENV NODE_ENV=production \
    LOG_FORMAT=json
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY migrations ./migrations
COPY configs ./configs
COPY workers/sandbox/Dockerfile workers/sandbox/entrypoint.sh workers/sandbox/mcp-echo.pl ./workers/sandbox/
RUN ln -s /app/bin/aicli-web.js /usr/local/bin/aicli-web
# The worker runs git on its side (workspace clones, the diff; 2.39.2+, bookworm has it) and, for loop-mode task
# scratch (sandbox.scratch.mode: loop), mkfs.ext4 and mount/losetup to loop-mount the images.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends e2fsprogs mount git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The API and migrate run as the image's unprivileged `node` user; the worker service runs as root
# (it drives the host's Docker engine and hands scratch dirs to the sandbox's uid 1000).
USER node
EXPOSE 8080 9464
# Health checks are per service (docker-compose.yml): the api answers on server.port, a worker on worker.metrics_port.
ENTRYPOINT ["aicli-web"]
CMD ["api"]

# One-shot builder of the sandbox image: the app plus the docker CLI, run with the host's Docker socket.
FROM app AS tools
USER root
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io ca-certificates \
 && rm -rf /var/lib/apt/lists/*
