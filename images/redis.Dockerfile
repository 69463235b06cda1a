# Redis from Debian's package, for hosts where redis:7-bookworm cannot be pulled (scripts/images.sh).
ARG BASE=aicli-base:bookworm
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/aicli-redis-entry
VOLUME /data
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/aicli-redis-entry"]
CMD ["redis-server"]
