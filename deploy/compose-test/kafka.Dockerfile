# Kafka for deploy/compose.test.yaml: no registry is reachable in CI, so
# the image holds the broker's jars that deploy/kafka/kafka.sh cached from
# Maven Central (copied into the build context, lib/), the entrypoint and
# the healthcheck; the Java runtime is the host's, whose /usr
# compose.test.yaml mounts read-only.
FROM scratch
COPY healthprobe kafka-entrypoint.sh /opt/gatewatch-test/
COPY lib/ /opt/kafka/lib/
COPY --chown=1000:1000 empty/ /var/lib/kafka/data/
USER 1000:1000
ENTRYPOINT ["/bin/sh", "/opt/gatewatch-test/kafka-entrypoint.sh"]
