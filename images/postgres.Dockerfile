# PostgreSQL from Debian's package (bookworm: 15), for hosts where postgres:16-bookworm cannot be pulled
# (scripts/images.sh). The entrypoint takes the public image's POSTGRES_USER, POSTGRES_PASSWORD and
# POSTGRES_DB on first start; data lives in /var/lib/postgresql/data.
ARG BASE=aicli-base:bookworm
FROM ${BASE}
# No cluster in the image: the entrypoint makes one in the data volume on first start.
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)" /usr/local/lib/postgresql-bin \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/aicli-postgres-entry
ENV PATH=/usr/local/lib/postgresql-bin:$PATH \
    PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/aicli-postgres-entry"]
CMD ["postgres"]
