#!/usr/bin/env bash
# Sets up chdb (ClickHouse 26.9 as an in-process Python library, from PyPI)
# for the current-server SQL tests: a venv with chdb, made once and cached
# outside the repository, and run.py (beside this file), which runs SQL
# steps in it. ClickHouse 18.16 is the only server that installs here;
# chdb checks the newer-server DDL and every query's SQL text too.
#
#   bash deploy/chdb/chdb.sh python    # create the venv once, print its python
#   bash deploy/chdb/chdb.sh env       # the same, as "export GATEWATCH_TEST_CHDB=..."
#
# Knobs:
#   CHDB_VERSION      default 4.4.0 (chdb-core 26.9)
#   GATEWATCH_CACHE   default ~/.cache/gatewatch; the venv is GATEWATCH_CACHE/chdb-venv
#
# The venv is built in a temporary sibling and renamed into place after
# chdb imports, so an interrupted install is never taken for a cache; a
# venv of another chdb version is replaced.
set -euo pipefail
CHDB_VERSION="${CHDB_VERSION:-4.4.0}"
CACHE="${GATEWATCH_CACHE:-$HOME/.cache/gatewatch}"
VENV="$CACHE/chdb-venv"
STAMP="$VENV/gatewatch-chdb-version"
tmp=""

die() { echo "chdb.sh: $*" >&2; exit 1; }

# ensure_venv leaves a venv with chdb $CHDB_VERSION at $VENV.
ensure_venv() {
	if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$CHDB_VERSION" ]; then
		return
	fi
	if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
		# Debian's python3 makes venvs only with python3-venv.
		[ "$(id -u)" = 0 ] || die "python3 with venv not found (apt-get install -y python3 python3-venv)"
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv) >&2 ||
			die "apt-get install python3-venv failed"
	fi
	mkdir -p "$CACHE"
	tmp="$(mktemp -d "$CACHE/chdb-venv.tmp.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT # also when interrupted: 900 MB
	echo "chdb.sh: installing chdb==$CHDB_VERSION into $VENV (once)" >&2
	python3 -m venv "$tmp" >&2 || die "python3 -m venv failed (apt-get install -y python3-venv)"
	"$tmp/bin/python" -m pip install -q --disable-pip-version-check "chdb==$CHDB_VERSION" >&2 ||
		die "pip install chdb==$CHDB_VERSION failed"
	"$tmp/bin/python" -c 'import chdb' || die "chdb does not import"
	echo "$CHDB_VERSION" >"$tmp/gatewatch-chdb-version"
	# A venv finds its packages relative to bin/python (pyvenv.cfg), so
	# it works after the rename; pip's own scripts would not, and are not
	# used (python -m pip).
	rm -rf "$VENV"
	mv "$tmp" "$VENV"
}

case "${1:-python}" in
python)
	ensure_venv
	echo "$VENV/bin/python"
	;;
env)
	ensure_venv
	printf 'export GATEWATCH_TEST_CHDB=%q\n' "$VENV/bin/python"
	;;
*) die "usage: chdb.sh python|env" ;;
esac
