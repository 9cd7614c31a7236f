#!/bin/bash
# bench/store/store.sh: the store scenario (issue 15). build/tests/store_bench
# hands events to the event log as domauthd does, on SQLite (a file under
# BENCH_STORE_DIR, default /var/tmp) and on a private PostgreSQL 15 (started
# here as tests/lib/pg.sh does: a unix socket, no TCP; fsync on, unlike the
# tests), at the policy listener's rate (BENCH_STORE_RATE, default 20000/s,
# about what bench/policy measures for domauthd) and at full rate. Prints
# the report lines and FIGURE lines. Needs root for PostgreSQL (SQLite runs
# without). Usage: bench/store/store.sh [BUILD_DIR]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/tests/store_bench
n=${BENCH_STORE_N:-100000}
rate=${BENCH_STORE_RATE:-20000}
dir=$(mktemp -d "${BENCH_STORE_DIR:-/var/tmp}/domauth-store-bench.XXXXXX")
[ -x "$bin" ] || { echo "bench: build $bin first" >&2; exit 1; }
. "$root/tests/lib/pg.sh"
trap 'pg_cleanup; rm -rf "$dir"' EXIT
"$bin" "$dir/paced.db" "$n" "$rate"
"$bin" "$dir/full.db" "$n" 0
if pg_available; then
    pg_start && pg_createdb bench && pg_createdb bench2 || { echo "bench: PostgreSQL did not start" >&2; exit 1; }
    pg_stop
    # The benchmark measures durable commits: fsync as a real server has it.
    pg_as "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w -t 20 \
        -o "-k $pg_dir -c listen_addresses=''" start >/dev/null
    "$bin" "$(pg_uri bench)" "$n" "$rate"
    "$bin" "$(pg_uri bench2)" "$n" 0
else
    echo "bench: PostgreSQL skipped: $pg_why" >&2
fi
