#!/usr/bin/env bash
# Starts and stops a real single-node ClickHouse server for gatewatch's
# integration tests. No Docker: Debian's clickhouse-server package (18.16 on
# bookworm) is installed with apt-get when the binary is missing, and the
# server runs as a plain process with every path under DIR, on ports that do
# not clash with a default install (9000/8123/9440/9009).
#
#   bash deploy/clickhouse/clickhouse.sh start DIR    # install if needed, configure, start, wait until ready
#   bash deploy/clickhouse/clickhouse.sh env DIR      # shell exports for the tests
#   bash deploy/clickhouse/clickhouse.sh status DIR   # exit 0 if DIR's server is running
#   bash deploy/clickhouse/clickhouse.sh stop DIR     # stop it (idempotent)
#
# DIR belongs to the caller (a temp dir); everything the server writes goes
# there: config.xml, users.xml, data/, tmp/, user_files/, logs/, tls/,
# ca.pem, password, ports, clickhouse.pid. A second start in the same DIR
# keeps the data, the password, the CA and the ports.
#
# Knobs (first start only; later starts reuse DIR/ports):
#   CLICKHOUSE_PORT        native protocol, plain        (default 19000)
#   CLICKHOUSE_TLS_PORT    native protocol over TLS      (default 19440)
#   CLICKHOUSE_HTTP_PORT   HTTP interface                (default 18123)
#   CLICKHOUSE_START_TIMEOUT, CLICKHOUSE_STOP_TIMEOUT   seconds (60, 30)
set -euo pipefail
SERVICE=clickhouse.sh SERVICE_WHAT=server PID_FILE=clickhouse.pid PID_MARK=config.xml
# shellcheck source-path=SCRIPTDIR source=../lib/service.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/service.sh"
cmd_stop() { stop_service "${1:-}" "$CLICKHOUSE_STOP_TIMEOUT"; }
cmd_status() { status_service "${1:-}"; }

CLICKHOUSE_START_TIMEOUT="${CLICKHOUSE_START_TIMEOUT:-60}"
CLICKHOUSE_STOP_TIMEOUT="${CLICKHOUSE_STOP_TIMEOUT:-30}"
CH_USER=default


# install_clickhouse installs the Debian packages when the server binary is
# missing. apt-get update runs once, right before, so a fresh machine with
# empty package lists works.
install_clickhouse() {
	command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || die "clickhouse-server is not installed and we are not root (apt-get install -y clickhouse-server clickhouse-client)"
	log "installing clickhouse-server and clickhouse-client with apt-get"
	local out
	out="$(mktemp -t clickhouse-apt.XXXXXX)"
	# policy-rc.d may deny starting the packaged service; that is fine, we
	# never use it.
	if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client) >"$out" 2>&1; then
		tail -n 20 "$out" >&2
		rm -f "$out"
		die "apt-get install clickhouse-server clickhouse-client failed"
	fi
	rm -f "$out"
	need clickhouse-server
	need clickhouse-client
}



# load_ports takes the ports from DIR/ports when the server was configured
# before, so a restart keeps the addresses the tests already know.
load_ports() {
	local dir="$1"
	if [ -f "$dir/ports" ]; then
		# shellcheck disable=SC1091
		. "$dir/ports"
	else
		CLICKHOUSE_PORT="${CLICKHOUSE_PORT:-19000}"
		CLICKHOUSE_TLS_PORT="${CLICKHOUSE_TLS_PORT:-19440}"
		CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-18123}"
	fi
}

# make_tls writes a throwaway CA and a server certificate for 127.0.0.1 and
# localhost. 18.16 serves the native protocol over TLS on tcp_port_secure
# (through Poco's OpenSSL wrapper); clients check it against DIR/ca.pem.
make_tls() { make_test_certs "$1" server; }

# write_config rewrites the packaged config.xml for DIR: paths, ports, a
# loopback-only listener, the TLS files, no interserver port and smaller
# caches (the defaults reserve 13 GB of address space for caches, which a
# shared 2-core test box does not want). The rest of the packaged file
# (query_log, remote_servers examples, ...) is kept so the server behaves
# like a stock install.
write_config() {
	local dir="$1" src=/etc/clickhouse-server/config.xml
	[ -f "$src" ] || die "$src missing (is clickhouse-server installed?)"
	# The tcp_port rewrite comes last: sed runs every -e on the line it
	# produced, and the deletions would otherwise eat the lines it adds.
	sed \
		-e "s|<log>.*</log>|<log>$dir/logs/clickhouse-server.log</log>|" \
		-e "s|<errorlog>.*</errorlog>|<errorlog>$dir/logs/clickhouse-server.err.log</errorlog>|" \
		-e "s|<level>.*</level>|<level>information</level>|" \
		-e "s|<http_port>.*</http_port>|<http_port>$CLICKHOUSE_HTTP_PORT</http_port>|" \
		-e "/<https_port>/d" \
		-e "/<tcp_port_secure>9440/d" \
		-e "/<interserver_http_port>/d" \
		-e "/<listen_host>::1<\/listen_host>/d" \
		-e "/<listen_host>127.0.0.1<\/listen_host>/d" \
		-e "s|<certificateFile>.*</certificateFile>|<certificateFile>$dir/tls/server.pem</certificateFile>|" \
		-e "s|<privateKeyFile>.*</privateKeyFile>|<privateKeyFile>$dir/tls/server.key</privateKeyFile>|" \
		-e "/<dhParamsFile>/d" \
		-e "s|<path>/var/lib/clickhouse/</path>|<path>$dir/data/</path>|" \
		-e "s|<tmp_path>.*</tmp_path>|<tmp_path>$dir/tmp/</tmp_path>|" \
		-e "s|<user_files_path>.*</user_files_path>|<user_files_path>$dir/user_files/</user_files_path>|" \
		-e "s|<users_config>.*</users_config>|<users_config>$dir/users.xml</users_config>|" \
		-e "s|<uncompressed_cache_size>.*</uncompressed_cache_size>|<uncompressed_cache_size>268435456</uncompressed_cache_size>|" \
		-e "s|<mark_cache_size>.*</mark_cache_size>|<mark_cache_size>268435456</mark_cache_size>|" \
		-e "s|<format_schema_path>.*</format_schema_path>|<format_schema_path>$dir/format_schemas/</format_schema_path>|" \
		-e "s|<tcp_port>.*</tcp_port>|<tcp_port>$CLICKHOUSE_PORT</tcp_port>\n    <tcp_port_secure>$CLICKHOUSE_TLS_PORT</tcp_port_secure>\n    <listen_host>127.0.0.1</listen_host>|" \
		"$src" >"$dir/config.xml"
	# The packaged file keeps the TLS ports in a comment; make sure the
	# rewrite produced exactly one live tcp_port_secure and no leftover
	# reference to the packaged paths the server could write to.
	[ "$(grep -c '<tcp_port_secure>' "$dir/config.xml")" = 1 ] || die "config rewrite: expected one tcp_port_secure in $dir/config.xml"
	if grep -v '^\s*<!--' "$dir/config.xml" | grep -qE '<(path|tmp_path|log|errorlog)>/var/'; then
		die "config rewrite left a /var path in $dir/config.xml"
	fi
}

# write_users writes a users.xml with one login, the default user, whose
# password (stored as SHA-256 only) is in DIR/password, reachable from
# loopback only. The packaged file's passwordless default and readonly
# users would otherwise let anything on the box in.
write_users() {
	local dir="$1" hash
	hash="$(printf '%s' "$(cat "$dir/password")" | sha256sum | cut -d' ' -f1)"
	cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by deploy/clickhouse/clickhouse.sh: a throwaway server for tests. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <$CH_USER>
            <password_sha256_hex>$hash</password_sha256_hex>
            <networks replace="replace">
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </$CH_USER>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

# first_setup makes the first start's password, certificates and config.
# Later starts in the same DIR reuse them, so the password and CA the tests
# were given stay valid across a restart.
first_setup() {
	local dir="$1"
	(umask 077 && printf '%s' "$(random_alnum 24)" >"$dir/password")
	printf 'CLICKHOUSE_PORT=%s\nCLICKHOUSE_TLS_PORT=%s\nCLICKHOUSE_HTTP_PORT=%s\n' \
		"$CLICKHOUSE_PORT" "$CLICKHOUSE_TLS_PORT" "$CLICKHOUSE_HTTP_PORT" >"$dir/ports"
	make_tls "$dir"
	write_config "$dir"
	write_users "$dir"
}

log_tail() {
	local f
	for f in "$1/logs/clickhouse-server.err.log" "$1/logs/stdout.log" "$1/logs/probe.log"; do
		[ -s "$f" ] || continue
		echo "---- last lines of $f ----" >&2
		tail -n 20 "$f" >&2 || true
	done
	echo "----" >&2
}

# probe asks the server for its version over the plain native port with the
# test password, and checks the TLS port completes a handshake whose
# certificate verifies against DIR/ca.pem, so "ready" means a client can
# really log in on both.
probe() {
	local dir="$1"
	clickhouse-client --host 127.0.0.1 --port "$CLICKHOUSE_PORT" --user "$CH_USER" \
		--password "$(cat "$dir/password")" --query 'SELECT version()' >"$dir/version" 2>>"$dir/logs/probe.log" || return 1
	openssl s_client -connect "127.0.0.1:$CLICKHOUSE_TLS_PORT" -CAfile "$dir/ca.pem" \
		-verify_return_error -verify_ip 127.0.0.1 </dev/null >>"$dir/logs/probe.log" 2>&1 || return 1
}

cmd_start() {
	local dir pid p t0
	t0="$(date +%s%N)"
	dir="$(abs_dir "${1:-}")"
	install_clickhouse
	load_ports "$dir"
	if pid="$(pid_of "$dir")"; then
		log "server already running in $dir (pid $pid)"
		probe "$dir" || { log_tail "$dir"; die "server pid $pid is running but does not answer"; }
		return 0
	fi
	for p in "$CLICKHOUSE_PORT" "$CLICKHOUSE_TLS_PORT" "$CLICKHOUSE_HTTP_PORT"; do
		port_busy "$p" && die "127.0.0.1:$p is already in use (another server? set CLICKHOUSE_PORT, CLICKHOUSE_TLS_PORT, CLICKHOUSE_HTTP_PORT)"
	done
	mkdir -p "$dir/logs" "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
	if [ ! -f "$dir/password" ] || [ ! -f "$dir/config.xml" ]; then
		first_setup "$dir"
	fi

	log "starting ClickHouse in $dir (native 127.0.0.1:$CLICKHOUSE_PORT, TLS 127.0.0.1:$CLICKHOUSE_TLS_PORT, HTTP 127.0.0.1:$CLICKHOUSE_HTTP_PORT)"
	# Its output goes to a file, not to our stdout: a test runner piping this
	# script through tee would otherwise wait for the server to exit. cd to
	# DIR so nothing the server resolves relative to its cwd lands elsewhere.
	(cd "$dir" && exec clickhouse-server --config-file="$dir/config.xml") </dev/null >>"$dir/logs/stdout.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/clickhouse.pid"

	local deadline=$((SECONDS + CLICKHOUSE_START_TIMEOUT))
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$dir/clickhouse.pid"
			log_tail "$dir"
			die "server exited during startup (log: $dir/logs/clickhouse-server.log)"
		fi
		probe "$dir" && break
		if [ "$SECONDS" -ge "$deadline" ]; then
			log_tail "$dir"
			cmd_stop "$dir" 2>/dev/null || true
			die "server not ready after ${CLICKHOUSE_START_TIMEOUT}s (log: $dir/logs/clickhouse-server.log)"
		fi
		sleep 0.3
	done
	log "ready (pid $pid, ClickHouse $(cat "$dir/version" 2>/dev/null)) after $((($(date +%s%N) - t0) / 1000000)) ms"
}

cmd_env() {
	local dir
	dir="$(abs_dir "${1:-}")"
	if [ ! -f "$dir/password" ] || [ ! -f "$dir/ports" ]; then
		die "no server configured in $dir (run: $0 start $dir)"
	fi
	load_ports "$dir"
	printf 'export GATEWATCH_TEST_CLICKHOUSE=%q\n' "127.0.0.1:$CLICKHOUSE_PORT"
	printf 'export GATEWATCH_TEST_CLICKHOUSE_TLS=%q\n' "127.0.0.1:$CLICKHOUSE_TLS_PORT"
	printf 'export GATEWATCH_TEST_CLICKHOUSE_CA=%q\n' "$dir/ca.pem"
	printf 'export GATEWATCH_TEST_CLICKHOUSE_USER=%q\n' "$CH_USER"
	printf 'export GATEWATCH_TEST_CLICKHOUSE_PASSWORD=%q\n' "$(cat "$dir/password")"
	printf 'export GATEWATCH_TEST_CLICKHOUSE_DIR=%q\n' "$dir"
}

case "${1:-}" in
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
status) cmd_status "${2:-}" ;;
env) cmd_env "${2:-}" ;;
*) usage ;;
esac
