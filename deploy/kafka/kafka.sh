#!/usr/bin/env bash
# Starts and stops a real single-node Apache Kafka broker (KRaft mode, one
# process that is both broker and controller) for gatewatch's integration
# tests. No Docker and no Kafka tarball: the broker's jars come from Maven
# Central through deploy/kafka/pom.xml and run on the machine's Java 17.
#
#   bash deploy/kafka/kafka.sh fetch        # download the jars once, print where
#   bash deploy/kafka/kafka.sh start DIR    # configure, format and start in DIR, wait until ready
#   bash deploy/kafka/kafka.sh env DIR      # shell exports for the tests
#   bash deploy/kafka/kafka.sh status DIR   # exit 0 if DIR's broker is running
#   bash deploy/kafka/kafka.sh stop DIR     # stop it (idempotent)
#
# DIR belongs to the caller (a temp dir); everything the broker writes goes
# there: server.properties, data/, logs/server.log, kafka.pid, tls/, ca.pem,
# sasl.password. README.md beside this file lists the knobs (KAFKA_VERSION,
# KAFKA_PORT, KAFKA_SASL_PORT, KAFKA_START_TIMEOUT, GATEWATCH_KAFKA_CACHE, ...).
set -euo pipefail
SERVICE=kafka.sh SERVICE_WHAT=broker PID_FILE=kafka.pid PID_MARK=server.properties
# shellcheck source-path=SCRIPTDIR source=../lib/service.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/service.sh"
cmd_stop() { stop_service "${1:-}" "$KAFKA_STOP_TIMEOUT"; }
cmd_status() { status_service "${1:-}"; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_MAJOR="${KAFKA_VERSION%%.*}"
CACHE_DIR="${GATEWATCH_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatewatch/kafka-$KAFKA_VERSION}"
KAFKA_LIB="$CACHE_DIR/lib"
PROBE_CLASSES="$CACHE_DIR/probe"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
SASL_USER=gatewatch


# An old Java fails on Kafka's jars with an UnsupportedClassVersionError
# about "class file versions"; say plainly what is needed instead. Kafka 4
# brokers need Java 17, Kafka 3 brokers Java 11.
check_java() {
	local min=17 v
	[ "$KAFKA_MAJOR" -lt 4 ] 2>/dev/null && min=11
	need java "install a JDK $min+, e.g. apt-get install -y openjdk-17-jdk-headless"
	v="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')"
	[ "${v%%.*}" -ge "$min" ] 2>/dev/null || die "Kafka $KAFKA_VERSION needs Java $min or newer, found '${v:-unknown}'"
}

# cmd_fetch copies the broker's jars into $KAFKA_LIB once. It fills a
# temporary sibling directory and renames it into place, so a run that was
# interrupted half way is never mistaken for a complete cache.
cmd_fetch() {
	fetch_jars "$SCRIPT_DIR/pom.xml" "$KAFKA_LIB" "kafka_2.13-$KAFKA_VERSION.jar" "org.apache.kafka:kafka_2.13:$KAFKA_VERSION" \
		-Dkafka.version="$KAFKA_VERSION" -Dkafka.major="$KAFKA_MAJOR"
}

# compile_probe builds Probe.java against the cached kafka-clients jar once
# (and again when Probe.java changes), so each probe costs one short JVM.
compile_probe() {
	compile_once "$SCRIPT_DIR/Probe.java" "$PROBE_CLASSES" "$KAFKA_LIB/*"
}



# random_cluster_id makes a Kafka Uuid: 16 random bytes, URL-safe base64 with
# no padding. Kafka avoids ids that start with '-' because command lines
# take them for flags.
random_cluster_id() {
	local id
	while :; do
		id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
		[ "${id:0:1}" != "-" ] && { echo "$id"; return; }
	done
}

# make_tls writes a throwaway CA and a broker certificate for 127.0.0.1 and
# localhost, plus the PKCS12 stores the broker (and Java clients) load.
make_tls() {
	local dir="$1" pass="$2"
	need keytool "it ships with the JDK"
	make_test_certs "$dir" broker
	(
		cd "$dir/tls"
		umask 077
		openssl pkcs12 -export -name broker -inkey broker.key -in broker.pem -certfile ca.pem \
			-out broker.p12 -passout "pass:$pass"
		keytool -importcert -noprompt -alias gatewatch-test-ca -file ca.pem \
			-keystore truststore.p12 -storetype PKCS12 -storepass "$pass"
	) >>"$dir/logs/tls.log" 2>&1 || { cat "$dir/logs/tls.log" >&2; die "making the broker's keystores failed"; }
}

write_config() {
	local dir="$1" pass="$2"
	cat >"$dir/server.properties" <<EOF
# Written by deploy/kafka/kafka.sh: a throwaway single-node broker for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT

sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/tls/broker.p12
ssl.keystore.password=$pass
ssl.key.password=$pass
ssl.truststore.type=PKCS12
ssl.truststore.location=$dir/tls/truststore.p12
ssl.truststore.password=$pass
ssl.client.auth=none

log.dirs=$dir/data
auto.create.topics.enable=true
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer internal partitions than the default 50: the first consumer group
# and the first transaction come up faster on a 2-core machine.
offsets.topic.num.partitions=6
transaction.state.log.num.partitions=6
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
EOF
}

# write_log4j writes the broker's logging setup for both Log4j 2 (Kafka 4)
# and reload4j (Kafka 3); each reads only its own file. Everything goes to
# stdout, which kafka.sh sends to DIR/logs/server.log.
write_log4j() {
	local dir="$1"
	printf '%s\n' \
		'status = warn' \
		'appender.out.type = Console' \
		'appender.out.name = out' \
		'appender.out.layout.type = PatternLayout' \
		'appender.out.layout.pattern = [%d] %p %m (%c)%n' \
		'rootLogger.level = info' \
		'rootLogger.appenderRef.out.ref = out' \
		'logger.state.name = state.change.logger' \
		'logger.state.level = warn' >"$dir/log4j2.properties"
	printf '%s\n' \
		'log4j.rootLogger=INFO, out' \
		'log4j.appender.out=org.apache.log4j.ConsoleAppender' \
		'log4j.appender.out.layout=org.apache.log4j.PatternLayout' \
		'log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n' \
		'log4j.logger.state.change.logger=WARN' >"$dir/log4j.properties"
	# The probe is a client: only its errors are worth keeping.
	printf '%s\n' 'status = warn' 'rootLogger.level = error' >"$dir/log4j2-quiet.properties"
	printf '%s\n' 'log4j.rootLogger=ERROR, out' \
		'log4j.appender.out=org.apache.log4j.ConsoleAppender' \
		'log4j.appender.out.layout=org.apache.log4j.PatternLayout' >"$dir/log4j-quiet.properties"
}

# log_opts sets LOG_OPTS to the JVM flags that point both logging backends
# at DIR's config files (suffix "" for the broker, "-quiet" for clients).
log_opts() {
	LOG_OPTS=("-Dlog4j2.configurationFile=$1/log4j2$2.properties" "-Dlog4j.configuration=file:$1/log4j$2.properties")
}

# log_tail shows the end of the broker and probe logs, leaving out the
# indented lines of the config dumps Kafka repeats at startup, which would
# otherwise fill the whole tail.
log_tail() {
	local f
	for f in "$1/logs/server.log" "$1/logs/probe.log"; do
		[ -s "$f" ] || continue
		echo "---- last lines of $f ----" >&2
		grep -v $'^\t' "$f" | tail -n 30 >&2 || true
	done
	echo "----" >&2
}

# probe DIR SECONDS asks the broker for its cluster id on both listeners,
# the SASL_SSL one logged in with SCRAM-SHA-512 and TLS checked against
# DIR/ca.pem, so "ready" means a client can really log in, and brings up
# the group coordinator (see Probe.java). It retries inside one JVM for up
# to SECONDS. It uses the Java client: the librdkafka in
# Debian's kcat (2.0.2) fails SCRAM against Kafka 4 brokers (a librdkafka
# bug fixed in 2.6.1), so kcat cannot be the judge here.
probe() {
	local dir="$1" seconds="$2"
	log_opts "$dir" -quiet
	java -Xmx64m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "${LOG_OPTS[@]}" \
		-cp "$KAFKA_LIB/*:$PROBE_CLASSES" Probe \
		"127.0.0.1:$KAFKA_PORT" "127.0.0.1:$KAFKA_SASL_PORT" "$SASL_USER" "$(cat "$dir/sasl.password")" "$dir/ca.pem" "$seconds" \
		>>"$dir/logs/probe.log" 2>&1
}

# load_ports takes the ports from DIR/ports when the broker was configured
# before, so a restart keeps the addresses the tests already know.
load_ports() {
	local dir="$1"
	if [ -f "$dir/ports" ]; then
		# shellcheck disable=SC1091
		. "$dir/ports"
	else
		KAFKA_PORT="${KAFKA_PORT:-19092}"
		KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-19093}"
		KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19094}"
	fi
}

# format_storage makes the first start's credentials, certificates, config
# and KRaft storage. Later starts in the same DIR reuse them, so the
# password and CA the tests were given stay valid across a restart.
format_storage() {
	local dir="$1" pass storepass
	pass="$(random_alnum 24)"
	storepass="$(random_alnum 24)"
	(umask 077 && printf '%s' "$pass" >"$dir/sasl.password")
	printf 'KAFKA_PORT=%s\nKAFKA_SASL_PORT=%s\nKAFKA_CONTROLLER_PORT=%s\n' \
		"$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_CONTROLLER_PORT" >"$dir/ports"
	make_tls "$dir" "$storepass"
	write_config "$dir" "$storepass"
	write_log4j "$dir"
	# The SCRAM user goes into the bootstrap metadata, so the broker never
	# runs a moment without it and no admin tool is needed afterwards.
	log_opts "$dir" ""
	if ! java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "${LOG_OPTS[@]}" \
		-cp "$KAFKA_LIB/*" kafka.tools.StorageTool format \
		--cluster-id "$(random_cluster_id)" --config "$dir/server.properties" \
		--add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$pass]" \
		>"$dir/logs/format.log" 2>&1; then
		tail -n 30 "$dir/logs/format.log" >&2
		die "formatting KRaft storage in $dir/data failed (log: $dir/logs/format.log)"
	fi
}

cmd_start() {
	local dir pid p t0
	t0="$(date +%s%N)"
	dir="$(abs_dir "${1:-}")"
	check_java
	cmd_fetch >/dev/null
	compile_probe
	load_ports "$dir"
	if pid="$(pid_of "$dir")"; then
		log "broker already running in $dir (pid $pid)"
		probe "$dir" 15 || { log_tail "$dir"; die "broker pid $pid is running but does not answer"; }
		return 0
	fi
	for p in "$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_CONTROLLER_PORT"; do
		port_busy "$p" && die "127.0.0.1:$p is already in use (another broker? set KAFKA_PORT, KAFKA_SASL_PORT, KAFKA_CONTROLLER_PORT)"
	done
	mkdir -p "$dir/logs" "$dir/data"
	[ -f "$dir/data/meta.properties" ] || format_storage "$dir"

	log "starting Kafka $KAFKA_VERSION in $dir (PLAINTEXT 127.0.0.1:$KAFKA_PORT, SASL_SSL 127.0.0.1:$KAFKA_SASL_PORT)"
	# Its output goes to a file, not to our stdout: a test runner piping this
	# script through tee would otherwise wait for the broker to exit.
	log_opts "$dir" ""
	# shellcheck disable=SC2086 # KAFKA_JAVA_OPTS is a list of flags
	java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
		"${LOG_OPTS[@]}" ${KAFKA_JAVA_OPTS:-} \
		-cp "$KAFKA_LIB/*" kafka.Kafka "$dir/server.properties" \
		</dev/null >>"$dir/logs/server.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/kafka.pid"

	# Wait for the log line first (cheap), then for one real client round
	# trip on each listener.
	local deadline=$((SECONDS + KAFKA_START_TIMEOUT)) left rc
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$dir/kafka.pid"
			log_tail "$dir"
			die "broker exited during startup (log: $dir/logs/server.log)"
		fi
		if grep -q 'Kafka Server started' "$dir/logs/server.log" 2>/dev/null; then
			left=$((deadline - SECONDS))
			rc=0
			probe "$dir" "$((left > 5 ? left : 5))" || rc=$?
			[ "$rc" -eq 0 ] && break
			if [ "$rc" -eq 3 ]; then
				log_tail "$dir"
				cmd_stop "$dir" 2>/dev/null || true
				die "broker refused the test login or TLS handshake (see $dir/logs/probe.log)"
			fi
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			log_tail "$dir"
			cmd_stop "$dir" 2>/dev/null || true
			die "broker not ready after ${KAFKA_START_TIMEOUT}s (log: $dir/logs/server.log)"
		fi
		sleep 0.3
	done
	log "ready (pid $pid) after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

cmd_env() {
	local dir
	dir="$(abs_dir "${1:-}")"
	if [ ! -f "$dir/sasl.password" ] || [ ! -f "$dir/ports" ]; then
		die "no broker configured in $dir (run: $0 start $dir)"
	fi
	load_ports "$dir"
	printf 'export GATEWATCH_TEST_KAFKA=%q\n' "127.0.0.1:$KAFKA_PORT"
	printf 'export GATEWATCH_TEST_KAFKA_SASL=%q\n' "127.0.0.1:$KAFKA_SASL_PORT"
	printf 'export GATEWATCH_TEST_KAFKA_CA=%q\n' "$dir/ca.pem"
	printf 'export GATEWATCH_TEST_KAFKA_USER=%q\n' "$SASL_USER"
	printf 'export GATEWATCH_TEST_KAFKA_PASSWORD=%q\n' "$(cat "$dir/sasl.password")"
	printf 'export GATEWATCH_TEST_KAFKA_DIR=%q\n' "$dir"
}

case "${1:-}" in
fetch) cmd_fetch ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
status) cmd_status "${2:-}" ;;
env) cmd_env "${2:-}" ;;
*) usage ;;
esac
