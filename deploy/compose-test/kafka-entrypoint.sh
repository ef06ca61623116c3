# Single-node KRaft broker on 127.0.0.1 (host network) for
# deploy/compose.test.yaml: writes its config, formats the storage on first
# start, then becomes the broker. Runs on the host's sh and Java.
set -eu
: "${KAFKA_PORT:?}" "${KAFKA_CONTROLLER_PORT:?}"
JAVA="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}/bin/java"
conf=/tmp/kafka
mkdir -p "$conf"
cat >"$conf/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=/var/lib/kafka/data
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
PROPS
printf '%s\n' 'status = warn' 'appender.out.type = Console' 'appender.out.name = out' \
	'appender.out.layout.type = PatternLayout' 'appender.out.layout.pattern = [%d] %p %m (%c)%n' \
	'rootLogger.level = warn' 'rootLogger.appenderRef.out.ref = out' \
	'logger.server.name = kafka.server.KafkaRaftServer' 'logger.server.level = info' >"$conf/log4j2.properties"
opts="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -Dlog4j2.configurationFile=$conf/log4j2.properties"
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
	# shellcheck disable=SC2086
	"$JAVA" -Xmx128m $opts -cp '/opt/kafka/lib/*' kafka.tools.StorageTool format \
		--cluster-id "${KAFKA_CLUSTER_ID:-R2F0ZXdhdGNoVGVzdDAwMA}" --config "$conf/server.properties"
fi
# shellcheck disable=SC2086
exec "$JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} $opts -cp '/opt/kafka/lib/*' kafka.Kafka "$conf/server.properties"
