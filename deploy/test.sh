#!/usr/bin/env bash
# Runs every gatewatch test: vet, formatting, unit and integration tests with
# the race detector, a short fuzzing pass over every parser, and one
# iteration of every benchmark (so they cannot rot). It installs and starts
# whatever the tests need on a fresh machine, and stops it at the end.
#
#   bash deploy/test.sh            # everything (what .ci/run calls)
#   FUZZTIME=30s bash deploy/test.sh   # longer fuzzing (a target whose fuzzing
#                                      # engine fails without a crasher is
#                                      # retried once for FUZZRETRYTIME, 20s)
#
# Exit status is non-zero when anything fails. The log names every test and
# how it ended (go test -v) and closes with "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
FUZZTIME="${FUZZTIME:-4s}"
FUZZRETRYTIME="${FUZZRETRYTIME:-20s}"
LOG="$(mktemp -t gatewatch-test.XXXXXX)"
KAFKA_DIR="$(mktemp -d -t gatewatch-kafka.XXXXXX)"
CLICKHOUSE_DIR="$(mktemp -d -t gatewatch-clickhouse.XXXXXX)"
OPENSEARCH_DIR="$(mktemp -d -t gatewatch-opensearch.XXXXXX)"
cleanup() {
	bash deploy/kafka/kafka.sh stop "$KAFKA_DIR" >/dev/null 2>&1 || true
	bash deploy/clickhouse/clickhouse.sh stop "$CLICKHOUSE_DIR" >/dev/null 2>&1 || true
	bash deploy/opensearch/opensearch.sh stop "$OPENSEARCH_DIR" >/dev/null 2>&1 || true
	rm -rf "$KAFKA_DIR" "$CLICKHOUSE_DIR" "$OPENSEARCH_DIR" "$LOG" "$LOG.fuzz"
}
trap cleanup EXIT
# An interrupted run (Ctrl-C, a CI timeout) still stops the servers.
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

step "toolchain"
go version

step "go vet"
go vet ./...

step "gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "$unformatted" ]; then
	echo "not gofmt-ed:"; echo "$unformatted"; exit 1
fi

step "tools: kcat, rsyslog + omkafka, nginx, chromium (real third-party parts of the tests)"
# kcat proves the wire format from a non-Go client; rsyslog's omkafka and a
# real nginx are the third-party shipping path (cmd/gatewatch/rsyslog_test.go);
# chromium renders the HTML report (dashboards/report/chromium_test.go).
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
[ -x /usr/sbin/rsyslogd ] || missing+=(rsyslog)
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so ] || missing+=(rsyslog-kafka)
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || missing+=(rsyslog-gnutls) # TLS receiver of alert/syslog tests
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)             # TestEndToEndCompose: a private Docker engine
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose) # Debian's compose 1.29, for the same test
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv) # TestK8sManifestsValidate's venv
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "installing ${missing[*]}"
		# The package scripts must not start system daemons here.
		own_policy=
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
		fi
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 ||
			echo "could not install ${missing[*]}"
		[ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
	else
		echo "${missing[*]} missing and not root: their tests will skip (or fail under CI=true)"
	fi
fi
command -v kcat && kcat -V 2>&1 | head -n 1 || true
/usr/sbin/rsyslogd -v 2>/dev/null | head -n 1 || true
/usr/sbin/nginx -v 2>&1 || true
/usr/bin/chromium --version 2>/dev/null || true
docker-compose version --short 2>/dev/null || true

step "services: Apache Kafka (KRaft, PLAINTEXT and SASL_SSL) from Maven Central"
# Integration tests talk to the real broker through GATEWATCH_TEST_KAFKA*.
# Outside CI a broker that will not start only skips those tests; in CI
# (CI=true) the tests themselves fail without it.
if bash deploy/kafka/kafka.sh start "$KAFKA_DIR"; then
	eval "$(bash deploy/kafka/kafka.sh env "$KAFKA_DIR")"
	export GATEWATCH_TEST_KAFKA GATEWATCH_TEST_KAFKA_SASL GATEWATCH_TEST_KAFKA_CA GATEWATCH_TEST_KAFKA_USER GATEWATCH_TEST_KAFKA_PASSWORD
	echo "kafka ready: $GATEWATCH_TEST_KAFKA (plaintext), $GATEWATCH_TEST_KAFKA_SASL (SASL_SSL)"
else
	echo "kafka failed to start"
	if [ "${CI:-}" = "true" ]; then exit 1; fi
fi

step "services: ClickHouse (Debian clickhouse-server, native protocol, plain and TLS)"
# The storage tests talk to it through GATEWATCH_TEST_CLICKHOUSE*; the
# script installs the package with apt-get when the server is missing.
if bash deploy/clickhouse/clickhouse.sh start "$CLICKHOUSE_DIR"; then
	eval "$(bash deploy/clickhouse/clickhouse.sh env "$CLICKHOUSE_DIR")"
	echo "clickhouse ready: $GATEWATCH_TEST_CLICKHOUSE (native), $GATEWATCH_TEST_CLICKHOUSE_TLS (TLS)"
else
	echo "clickhouse failed to start"
	if [ "${CI:-}" = "true" ]; then exit 1; fi
fi

step "services: OpenSearch 2.19 (embedded node from Maven Central, plain HTTP)"
# The alert/opensearch integration test indexes into it through
# GATEWATCH_TEST_OPENSEARCH; the jars are cached under ~/.cache/gatewatch.
if bash deploy/opensearch/opensearch.sh start "$OPENSEARCH_DIR"; then
	eval "$(bash deploy/opensearch/opensearch.sh env "$OPENSEARCH_DIR")"
	export GATEWATCH_TEST_OPENSEARCH
	echo "opensearch ready: $GATEWATCH_TEST_OPENSEARCH"
else
	echo "opensearch failed to start"
	if [ "${CI:-}" = "true" ]; then exit 1; fi
fi

step "services: chdb (ClickHouse 26.9 in process, from PyPI) for the current-server SQL tests"
# The TestChdb tests run the newer-server DDL, every migration and every
# query and dashboard panel on it through GATEWATCH_TEST_CHDB, the python
# of a venv cached under ~/.cache/gatewatch (made once, ~35 s; then reused).
if chdb_env="$(bash deploy/chdb/chdb.sh env)"; then
	eval "$chdb_env"
	export GATEWATCH_TEST_CHDB
	echo "chdb ready: $GATEWATCH_TEST_CHDB"
else
	echo "chdb venv failed"
	if [ "${CI:-}" = "true" ]; then exit 1; fi
fi

step "tests (go test -race -v)"
status=0
go test -race -v -count=1 -timeout 20m ./... 2>&1 | tee "$LOG" || status=$?

step "fuzz (each target for $FUZZTIME)"
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "-- $pkg $target"
		ok=0 attempt=0
		for fuzztime in "$FUZZTIME" "$FUZZRETRYTIME"; do
			attempt=$((attempt + 1))
			if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s "$pkg" >"$LOG.fuzz" 2>&1; then
				ok=1; break
			fi
			# A crash the fuzzer found is written to testdata/fuzz and fails
			# at once. Without one, the fuzzing engine itself failed: a
			# worker starved on a loaded machine, or the seed corpus took
			# longer than -fuzztime to replay ("context deadline exceeded").
			# Try once more with more time.
			if grep -q "Failing input written to" "$LOG.fuzz"; then break; fi
			if [ "$attempt" -eq 2 ]; then break; fi
			# Its lines are shown prefixed, so that a target that passes on the
			# retry is not counted (or parsed by CI) as a failed test or package.
			echo "fuzzing engine failed without a crasher; retrying once for $FUZZRETRYTIME:"
			tail -n 5 "$LOG.fuzz" | sed 's/^/    first attempt: /'
		done
		if [ "$ok" -eq 1 ]; then
			tail -n 2 "$LOG.fuzz" | head -n 1
		else
			cat "$LOG.fuzz"; echo "--- FAIL: $target (fuzz)" | tee -a "$LOG"; status=1
		fi
	done
done
rm -f "$LOG.fuzz"

step "benchmarks (one iteration each, smoke)"
go test -run '^$' -bench . -benchtime 1x -count=1 ./... 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)' || status=1

passed="$(grep -cE '^\s*--- PASS' "$LOG" || true)"
failed="$(grep -cE '^\s*--- FAIL' "$LOG" || true)"
skipped="$(grep -cE '^\s*--- SKIP' "$LOG" || true)"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$status" -ne 0 ]; then
	# Repeated at the end, where a log cut to its last lines still shows
	# them: each failed test with the last lines it printed, and any
	# package that failed without one (a panic, a timeout, a build error).
	step "what failed"
	awk -f deploy/failed.awk "$LOG" "$LOG" | cut -c1-300
	grep -E '^(FAIL\s|panic:)' "$LOG" | cut -c1-300 || true
fi
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
