#!/bin/bash
# run.sh: the DKIM benchmark (bench/dkim/README.md). Signs and verifies a
# generated corpus of realistic messages (2 KB to 1 MB) with domauth
# (libdomauth, in-process), OpenDKIM (libopendkim, in-process) and dkimpy,
# rsa-sha256 (2048) and ed25519-sha256, relaxed/relaxed, and sets them
# against the bound measured in the same run by dkim_bench_bound (one key
# operation plus SHA-256 over the canonicalized body, per message). No DNS: every verifier gets the key record from
# memory. Needs no root. Prints a table and RATIO lines.
#
#   bench/dkim/run.sh               # alone (after `make build`)
#   make bench                      # with the SPF benchmarks (BENCH_SCENARIOS has dkim)
#
# Environment: DKIM_BENCH_SECONDS (per C measurement, default 0.5),
# DKIM_BENCH_PY_SECONDS (per dkimpy measurement, default 1.0),
# DKIM_BENCH_SEED (corpus, default 6376), DKIM_BENCH_CPU (the core every
# measurement is pinned to, default 0), DKIM_BENCH_OUT (keep the outputs
# there; default a temporary directory), DKIM_BENCH_NO_REPORT=1 (only
# measure; bench/run.sh prints the report itself).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo/bench/dkim
: "${DKIM_BENCH_SECONDS:=0.5}"
: "${DKIM_BENCH_PY_SECONDS:=1.0}"
: "${DKIM_BENCH_SEED:=6376}"
: "${DKIM_BENCH_CPU:=0}"
: "${DKIM_BENCH_NO_REPORT:=0}"
PY=/usr/bin/python3   # Debian's python, where python3-dkim lives

log() { echo "bench/dkim: $*" >&2; }
die() { log "$*"; exit 1; }

preflight() {
    local tool
    for tool in cc openssl taskset; do
        command -v "$tool" >/dev/null || die "$tool not found"
    done
    if [ ! -f "$repo/build/src/libdomauth.a" ] || [ ! -x "$repo/build/cli/domauth" ]; then
        die "build first (make build)"
    fi
    [ -f /usr/include/opendkim/dkim.h ] || die "libopendkim-dev missing (make bench-deps)"
    "$PY" -c 'import dkim, nacl' 2>/dev/null || die "python3-dkim / python3-nacl missing"
}

build_drivers() { # bin-dir
    local cflags="-O2 -std=c17 -Wall -Wextra -Werror"
    # shellcheck disable=SC2086
    cc $cflags -I"$repo/include" -o "$1/dkim_bench" "$here/dkim_bench.c" \
        "$repo/build/src/libdomauth.a" -lcrypto || die "dkim_bench does not build"
    # shellcheck disable=SC2086
    cc $cflags -o "$1/dkim_bench_opendkim" "$here/dkim_bench_opendkim.c" -lopendkim ||
        die "dkim_bench_opendkim does not build"
    # shellcheck disable=SC2086
    cc $cflags -o "$1/dkim_bench_bound" "$here/dkim_bench_bound.c" -lcrypto ||
        die "dkim_bench_bound does not build"
}

# Keys by domauth keygen; the TXT record as one string; the Ed25519 seed
# (dkimpy's form of an Ed25519 private key).
make_keys() { # dir
    local k
    "$repo/build/cli/domauth" dkim keygen --domain bench.example --selector rsa \
        --out "$1/rsa.pem" > "$1/rsa.bind" 2>/dev/null
    "$repo/build/cli/domauth" dkim keygen --domain bench.example --selector ed \
        --type ed25519 --out "$1/ed.pem" > "$1/ed.bind" 2>/dev/null
    for k in rsa ed; do
        sed -E 's/^[^"]*"//; s/"$//; s/" "//g' "$1/$k.bind" > "$1/$k.txt"
    done
    openssl pkey -in "$1/ed.pem" -outform DER | tail -c 32 | base64 > "$1/ed.seed"
}

# The verify corpus: each message signed once by domauth (relaxed/relaxed);
# every verifier checks the same signed bytes.
sign_corpus() { # work
    local k f cls
    for k in rsa ed; do
        for f in "$1"/corpus/*/*.eml; do
            cls=$(basename "$(dirname "$f")")
            mkdir -p "$1/signed-$k/$cls"
            # shellcheck disable=SC2094 # reads corpus/, writes signed-*/
            "$repo/build/cli/domauth" dkim sign --domain bench.example --selector $k \
                --key "$1/keys/$k.pem" --canon relaxed/relaxed < "$f" \
                > "$1/signed-$k/$cls/$(basename "$f")" || die "domauth cannot sign $f"
        done
    done
}

run_openssl() { # out
    log "openssl speed (rsa2048, ed25519, sha256 at 16 KiB blocks)"
    {
        taskset -c "$DKIM_BENCH_CPU" openssl speed -mr -seconds 1 rsa2048 ed25519 2>/dev/null
        taskset -c "$DKIM_BENCH_CPU" openssl speed -mr -seconds 1 -bytes 16384 -evp sha256 \
            2>/dev/null
        echo "+VERSION:$(openssl version)"
    } | grep '^+' > "$1/openssl.txt"
}

measure() { # work
    local w=$1 op alg k cls src impl key
    local res=$w/out/results.txt
    : > "$res"
    for op in sign verify; do
        for alg in rsa ed25519; do
            if [ $alg = rsa ]; then k="rsa"; else k="ed"; fi
            for cls in 2k 20k 100k 1m; do
                [ $op = sign ] && src=$w/corpus/$cls || src=$w/signed-$k/$cls
                for impl in bound domauth opendkim dkimpy; do
                    key=$w/keys/$k.pem
                    case $impl in
                    bound) set -- "$w/bin/dkim_bench_bound" --seconds "$DKIM_BENCH_SECONDS" ;;
                    domauth) set -- "$w/bin/dkim_bench" --seconds "$DKIM_BENCH_SECONDS" ;;
                    opendkim) set -- "$w/bin/dkim_bench_opendkim" --seconds "$DKIM_BENCH_SECONDS" ;;
                    dkimpy)
                        set -- "$PY" "$here/dkim_bench_dkimpy.py" --seconds "$DKIM_BENCH_PY_SECONDS"
                        [ $alg = ed25519 ] && key=$w/keys/ed.seed
                        ;;
                    esac
                    if ! taskset -c "$DKIM_BENCH_CPU" "$@" --op $op --alg $alg --key "$key" \
                            --record "$w/keys/$k.txt" --class $cls "$src"/*.eml \
                            >> "$res" 2>> "$w/out/stderr.txt"; then
                        echo "FAILED impl=$impl op=$op alg=$alg class=$cls" >> "$res"
                        log "$impl $op $alg $cls failed: $(tail -n 1 "$w/out/stderr.txt")"
                    fi
                done
            done
            log "measured $op $alg"
        done
    done
}

w=
main() {
    preflight
    if [ -n "${DKIM_BENCH_OUT:-}" ]; then
        w=$DKIM_BENCH_OUT
        mkdir -p "$w"
    else
        w=$(mktemp -d /tmp/domauth-dkim-bench.XXXXXX)
        trap '[ -n "$w" ] && rm -rf "$w"' EXIT
    fi
    mkdir -p "$w/bin" "$w/keys" "$w/corpus" "$w/out"
    log "building drivers"
    build_drivers "$w/bin"
    log "keys, corpus (seed $DKIM_BENCH_SEED) and its signed copies"
    make_keys "$w/keys"
    "$PY" "$here/gen_corpus.py" "$w/corpus" --seed "$DKIM_BENCH_SEED"
    sign_corpus "$w"
    run_openssl "$w/out"
    measure "$w"
    [ -s "$w/out/stderr.txt" ] && { log "driver warnings:"; sed 's/^/  /' "$w/out/stderr.txt" >&2; }
    if [ "$DKIM_BENCH_NO_REPORT" != 1 ]; then
        mkdir -p "$repo/bench/results"
        "$PY" "$here/report.py" "$w" | tee "$repo/bench/results/dkim-last-run.txt"
    fi
}

main
