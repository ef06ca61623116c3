# shellcheck shell=bash
# Shared by deploy/kafka/kafka.sh and deploy/clickhouse/clickhouse.sh, which
# run one test server each as a plain process with everything under a DIR.
# Source it after setting:
#   SERVICE       name in messages, e.g. kafka.sh
#   SERVICE_WHAT  what the process is, e.g. broker
#   PID_FILE      the pid file's name in DIR
#   PID_MARK      a file in DIR that the process's command line names, so a
#                 recycled pid is never taken for the server

die() { printf '%s: %s\n' "$SERVICE" "$*" >&2; exit 1; }
log() { printf '%s: %s\n' "$SERVICE" "$*" >&2; }

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH${2:+ ($2)}"
}

abs_dir() {
	[ -n "${1:-}" ] || die "missing DIR argument"
	mkdir -p "$1"
	(cd "$1" && pwd)
}

# pid_of prints the server's pid if DIR's server is running.
pid_of() {
	local dir="$1" pid
	[ -f "$dir/$PID_FILE" ] || return 1
	pid="$(cat "$dir/$PID_FILE")"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/$PID_MARK" || return 1
	echo "$pid"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

random_alnum() { LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$1" || true; }

# make_test_certs writes a throwaway CA and a certificate NAME.pem/NAME.key
# for 127.0.0.1 and localhost, signed by it, into DIR/tls, and the CA to
# DIR/ca.pem for the clients. openssl's output goes to DIR/logs/tls.log.
make_test_certs() {
	local dir="$1" name="$2" tls="$1/tls"
	need openssl "apt-get install -y openssl"
	mkdir -p "$tls"
	(
		cd "$tls"
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout ca.key -out ca.pem -days 30 -subj "/CN=gatewatch test CA $(random_alnum 8)" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$name.key" -out "$name.csr" -subj "/CN=localhost"
		printf '%s\n' \
			'basicConstraints=CA:FALSE' \
			'keyUsage=critical,digitalSignature,keyEncipherment' \
			'extendedKeyUsage=serverAuth' \
			'subjectAltName=IP:127.0.0.1,DNS:localhost' >"$name.ext"
		openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
			-out "$name.pem" -days 30 -extfile "$name.ext"
		rm -f "$name.csr" ca.srl
	) >>"$dir/logs/tls.log" 2>&1 || { cat "$dir/logs/tls.log" >&2; die "making the test CA failed"; }
	cp "$tls/ca.pem" "$dir/ca.pem"
	chmod 644 "$dir/ca.pem"
}

# stop_service stops DIR's server: SIGTERM, then SIGKILL after TIMEOUT
# seconds. Idempotent.
stop_service() {
	local dir pid timeout="$2"
	dir="$(abs_dir "${1:-}")"
	if ! pid="$(pid_of "$dir")"; then
		rm -f "$dir/$PID_FILE"
		log "no $SERVICE_WHAT running in $dir"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + timeout))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$SERVICE_WHAT pid $pid ignored SIGTERM for ${timeout}s, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	# Reaps it when it is our child (the failed-start path); otherwise waits
	# for the kernel to let go of it.
	wait "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	rm -f "$dir/$PID_FILE"
	log "stopped $SERVICE_WHAT pid $pid"
}

# status_service exits 0 when DIR's server runs.
status_service() {
	local dir pid
	dir="$(abs_dir "${1:-}")"
	if pid="$(pid_of "$dir")"; then
		echo "running (pid $pid)"
	else
		echo "not running"
		return 1
	fi
}

# fetch_jars POM LIB JAR WHAT [-Dprop=value ...] copies the dependencies of
# POM from Maven Central into the cache directory LIB once, and prints LIB.
# It fills a temporary sibling directory and renames it into place, so a
# run interrupted half way is never mistaken for a complete cache; JAR is
# the file that must be there afterwards, WHAT names the artifact in errors.
fetch_jars() {
	local pom="$1" lib="$2" jar="$3" what="$4"
	shift 4
	if [ -f "$lib/.complete" ]; then
		echo "$lib"
		return 0
	fi
	need mvn "install Maven, e.g. apt-get install -y maven"
	local tmp
	mkdir -p "$(dirname "$lib")"
	tmp="$(mktemp -d "$(dirname "$lib")/lib.tmp.XXXXXX")"
	log "fetching $what jars from Maven Central into $lib"
	# Debian's Maven 3.8 prints stray colour codes even with -q -B: keep its
	# output for when it fails.
	if ! mvn -B -q -f "$pom" "$@" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
		cat "$tmp.log" >&2
		rm -rf "$tmp" "$tmp.log"
		die "mvn dependency:copy-dependencies failed for $what"
	fi
	rm -f "$tmp.log"
	[ -f "$tmp/$jar" ] || { rm -rf "$tmp"; die "$jar missing after mvn"; }
	ls "$tmp" >"$tmp/.complete"
	[ -d "$lib" ] && [ ! -f "$lib/.complete" ] && rm -rf "$lib" # partial leftover
	if ! mv -T "$tmp" "$lib" 2>/dev/null; then
		# Another fetch won the race; its copy is as good as ours.
		rm -rf "$tmp"
		[ -f "$lib/.complete" ] || die "could not move jars into $lib"
	fi
	echo "$lib"
}

# compile_once SRC CLASSES CLASSPATH compiles the Java file SRC into the
# directory CLASSES once, and again when SRC changes.
compile_once() {
	local src="$1" classes="$2" cp="$3" class
	class="$(basename "$src" .java).class"
	[ -f "$classes/$class" ] && [ "$classes/$class" -nt "$src" ] && return 0
	need javac "a JDK is needed, e.g. apt-get install -y openjdk-17-jdk-headless"
	local tmp
	tmp="$(mktemp -d "$(dirname "$classes")/classes.tmp.XXXXXX")"
	javac -nowarn -d "$tmp" -cp "$cp" "$src" >&2 || { rm -rf "$tmp"; die "compiling $(basename "$src") failed"; }
	rm -rf "$classes"
	mv -T "$tmp" "$classes" 2>/dev/null || rm -rf "$tmp"
}
