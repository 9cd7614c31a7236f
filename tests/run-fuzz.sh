#!/bin/bash
# run-fuzz.sh: runs every built libFuzzer target for FUZZ_SECONDS (default 30)
# on a scratch copy of its seed corpus (the repo is never written), FUZZ_JOBS
# at a time (default: one per core), and prints one TAP line per target.
# Usage: tests/run-fuzz.sh [BUILD_DIR (build-fuzz)]
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-30}
out_dir=$build/fuzz-results

if [ ! -d "$build/tests/fuzz" ]; then
    echo "1..0 # SKIP no fuzz targets built in $build"
    exit 0
fi
mkdir -p "$out_dir"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/domauth-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

targets=()
for bin in "$build"/tests/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] && targets+=("$bin")
done

# One target: its TAP line (without the number) in $scratch/NAME.tap.
run_one() {
    local bin=$1 name corpus artifacts seeds log rc runs
    name=$(basename "$bin")
    corpus=$scratch/$name/corpus
    artifacts=$out_dir/$name
    mkdir -p "$corpus" "$artifacts"
    seeds=$here/fuzz/corpus/${name#fuzz_}
    if [ -d "$seeds" ]; then
        cp -R "$seeds"/. "$corpus"/
    fi
    log=$out_dir/$name.log
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "ok - fuzz/$name (${runs:-?} runs in ${seconds}s)" > "$scratch/$name.tap"
    else
        {
            echo "not ok - fuzz/$name (exit $rc; log $log, artifacts in $artifacts)"
            grep -E 'ERROR:|SUMMARY:|^==[0-9]+==|runtime error|Test unit written|abort' "$log" \
                | head -n 20 | sed 's/^/#   /'
        } > "$scratch/$name.tap"
    fi
}

# FUZZ_JOBS targets at a time (default: the machine's cores), each for the
# full FUZZ_SECONDS; the lines come out in the targets' order.
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
for bin in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    run_one "$bin" &
done
wait

n=0
failed=0
for bin in "${targets[@]}"; do
    name=$(basename "$bin")
    n=$((n + 1))
    if [ ! -f "$scratch/$name.tap" ]; then
        failed=$((failed + 1))
        echo "not ok $n - fuzz/$name (no result)"
        continue
    fi
    grep -q '^not ok' "$scratch/$name.tap" && failed=$((failed + 1))
    sed -e "1s/^ok - /ok $n - /" -e "1s/^not ok - /not ok $n - /" "$scratch/$name.tap"
done
echo "1..$n"
[ "$failed" -eq 0 ]
