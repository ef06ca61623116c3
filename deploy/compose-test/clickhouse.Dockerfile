# ClickHouse for deploy/compose.test.yaml: Debian's clickhouse-server
# (18.16) as installed on the host, whose /usr compose.test.yaml mounts
# read-only; the image holds the entrypoint and the healthcheck.
FROM scratch
COPY healthprobe clickhouse-entrypoint.sh /opt/gatewatch-test/
COPY --chown=1000:1000 empty/ /var/lib/clickhouse/
USER 1000:1000
ENTRYPOINT ["/bin/sh", "/opt/gatewatch-test/clickhouse-entrypoint.sh"]
