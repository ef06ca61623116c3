#!/usr/bin/env bash
# Starts and stops a real single-node OpenSearch for gatewatch's integration
# tests. No Docker and no distribution tarball: the server's jars come from
# Maven Central through deploy/opensearch/pom.xml, and OsNode.java (beside
# this file) runs them as an embedded node on the machine's Java 17, which
# works as root (the distribution's bin/opensearch refuses root).
#
#   bash deploy/opensearch/opensearch.sh fetch        # download the jars once, print where
#   bash deploy/opensearch/opensearch.sh start DIR    # configure and start in DIR, wait until ready
#   bash deploy/opensearch/opensearch.sh env DIR      # shell exports for the tests
#   bash deploy/opensearch/opensearch.sh status DIR   # exit 0 if DIR's node is running
#   bash deploy/opensearch/opensearch.sh stop DIR     # stop it (idempotent)
#
# DIR belongs to the caller (a temp dir); everything the node writes goes
# there: home/ (data, config), logs/node.log, opensearch.pid, ports. A second
# start in the same DIR keeps the indices and the ports. The node speaks
# plain HTTP on 127.0.0.1 with no login (no security plugin).
#
# Knobs (ports on the first start only; later starts reuse DIR/ports):
#   OPENSEARCH_VERSION          default 2.19.6 (the newest line on Java 17)
#   OPENSEARCH_PORT             HTTP (REST) port        (default 19200)
#   OPENSEARCH_TRANSPORT_PORT   node-to-node transport  (default 19300)
#   OPENSEARCH_HEAP             JVM heap                (default 512m)
#   OPENSEARCH_START_TIMEOUT, OPENSEARCH_STOP_TIMEOUT   seconds (90, 30)
#   GATEWATCH_OPENSEARCH_CACHE  jar cache (default ~/.cache/gatewatch/opensearch-VERSION)
set -euo pipefail
SERVICE=opensearch.sh SERVICE_WHAT=node PID_FILE=opensearch.pid PID_MARK=home
# shellcheck source-path=SCRIPTDIR source=../lib/service.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/service.sh"
cmd_stop() { stop_service "${1:-}" "$OPENSEARCH_STOP_TIMEOUT"; }
cmd_status() { status_service "${1:-}"; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OPENSEARCH_VERSION="${OPENSEARCH_VERSION:-2.19.6}"
CACHE_DIR="${GATEWATCH_OPENSEARCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatewatch/opensearch-$OPENSEARCH_VERSION}"
OS_LIB="$CACHE_DIR/lib"
OS_CLASSES="$CACHE_DIR/classes"
OPENSEARCH_HEAP="${OPENSEARCH_HEAP:-512m}"
OPENSEARCH_START_TIMEOUT="${OPENSEARCH_START_TIMEOUT:-90}"
OPENSEARCH_STOP_TIMEOUT="${OPENSEARCH_STOP_TIMEOUT:-30}"

# check_java says plainly that OpenSearch 2.x needs Java 11+ (17 here)
# instead of letting the JVM fail on the jars' class file versions.
check_java() {
	local v
	need java "install a JDK 17, e.g. apt-get install -y openjdk-17-jdk-headless"
	v="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')"
	[ "${v%%.*}" -ge 11 ] 2>/dev/null || die "OpenSearch $OPENSEARCH_VERSION needs Java 11 or newer, found '${v:-unknown}'"
}

# cmd_fetch copies the node's jars into $OS_LIB once (Maven keeps its own
# copy in ~/.m2 too). It fills a temporary sibling directory and renames it
# into place, so a run that was interrupted half way is never mistaken for a
# complete cache.
cmd_fetch() {
	fetch_jars "$SCRIPT_DIR/pom.xml" "$OS_LIB" "opensearch-$OPENSEARCH_VERSION.jar" "org.opensearch:opensearch:$OPENSEARCH_VERSION" \
		-Dopensearch.version="$OPENSEARCH_VERSION"
}

# compile_launcher builds OsNode.java against the cached jars once (and
# again when OsNode.java changes).
compile_launcher() {
	compile_once "$SCRIPT_DIR/OsNode.java" "$OS_CLASSES" "$OS_LIB/*"
}

# load_ports takes the ports from DIR/ports when the node was configured
# before, so a restart keeps the address the tests already know.
load_ports() {
	local dir="$1"
	if [ -f "$dir/ports" ]; then
		# shellcheck disable=SC1091
		. "$dir/ports"
	else
		OPENSEARCH_PORT="${OPENSEARCH_PORT:-19200}"
		OPENSEARCH_TRANSPORT_PORT="${OPENSEARCH_TRANSPORT_PORT:-19300}"
	fi
}

log_tail() {
	local f
	for f in "$1/logs/node.log" "$1/logs/probe.log"; do
		[ -s "$f" ] || continue
		echo "---- last lines of $f ----" >&2
		grep -v '^\s*at ' "$f" | tail -n 30 >&2 || true
	done
	echo "----" >&2
}

# probe asks the node for a yellow (or green) cluster health, so "ready"
# means an index can be created and written to, not just that the port is
# open. It keeps the node's version in DIR/version.
probe() {
	local dir="$1" base="http://127.0.0.1:$OPENSEARCH_PORT"
	curl -fsS --max-time 3 "$base/_cluster/health?wait_for_status=yellow&timeout=2s" >>"$dir/logs/probe.log" 2>&1 || return 1
	curl -fsS --max-time 3 "$base/" 2>>"$dir/logs/probe.log" |
		sed -n 's/.*"number" *: *"\([^"]*\)".*/\1/p' | head -n 1 >"$dir/version"
}

cmd_start() {
	local dir pid p t0
	t0="$(date +%s%N)"
	dir="$(abs_dir "${1:-}")"
	check_java
	need curl "the readiness probe uses it: apt-get install -y curl"
	cmd_fetch >/dev/null
	compile_launcher
	load_ports "$dir"
	if pid="$(pid_of "$dir")"; then
		log "node already running in $dir (pid $pid)"
		probe "$dir" || { log_tail "$dir"; die "node pid $pid is running but does not answer"; }
		return 0
	fi
	for p in "$OPENSEARCH_PORT" "$OPENSEARCH_TRANSPORT_PORT"; do
		port_busy "$p" && die "127.0.0.1:$p is already in use (another node? set OPENSEARCH_PORT, OPENSEARCH_TRANSPORT_PORT)"
	done
	mkdir -p "$dir/logs" "$dir/home"
	[ -f "$dir/ports" ] || printf 'OPENSEARCH_PORT=%s\nOPENSEARCH_TRANSPORT_PORT=%s\n' \
		"$OPENSEARCH_PORT" "$OPENSEARCH_TRANSPORT_PORT" >"$dir/ports"

	log "starting OpenSearch $OPENSEARCH_VERSION (embedded) in $dir (HTTP 127.0.0.1:$OPENSEARCH_PORT)"
	# Its output goes to a file, not to our stdout: a test runner piping this
	# script through tee would otherwise wait for the node to exit.
	# shellcheck disable=SC2086 # OPENSEARCH_JAVA_OPTS is a list of flags
	(cd "$dir" && exec java -Xms"$OPENSEARCH_HEAP" -Xmx"$OPENSEARCH_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
		-Dlog4j2.disable.jmx=true ${OPENSEARCH_JAVA_OPTS:-} \
		-cp "$OS_CLASSES:$OS_LIB/*" OsNode "$dir/home" "$OPENSEARCH_PORT" "$OPENSEARCH_TRANSPORT_PORT") \
		</dev/null >>"$dir/logs/node.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/opensearch.pid"

	local deadline=$((SECONDS + OPENSEARCH_START_TIMEOUT))
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$dir/opensearch.pid"
			log_tail "$dir"
			die "node exited during startup (log: $dir/logs/node.log)"
		fi
		probe "$dir" && break
		if [ "$SECONDS" -ge "$deadline" ]; then
			log_tail "$dir"
			cmd_stop "$dir" 2>/dev/null || true
			die "node not ready after ${OPENSEARCH_START_TIMEOUT}s (log: $dir/logs/node.log)"
		fi
		sleep 0.3
	done
	log "ready (pid $pid, OpenSearch $(cat "$dir/version" 2>/dev/null)) after $((($(date +%s%N) - t0) / 1000000)) ms"
}

cmd_env() {
	local dir
	dir="$(abs_dir "${1:-}")"
	[ -f "$dir/ports" ] || die "no node configured in $dir (run: $0 start $dir)"
	load_ports "$dir"
	printf 'export GATEWATCH_TEST_OPENSEARCH=%q\n' "http://127.0.0.1:$OPENSEARCH_PORT"
}

case "${1:-}" in
fetch) cmd_fetch ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
status) cmd_status "${2:-}" ;;
env) cmd_env "${2:-}" ;;
*) usage ;;
esac
