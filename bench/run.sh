#!/bin/bash
# run.sh: the SPF benchmark. Builds the drivers, generates a synthetic SPF
# world, serves it with unbound inside a private network namespace (plus a
# delaying proxy for latency) and measures domauth, libspf2 and pyspf on one
# Zipf request stream. Needs root. Prints a table; see bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=$repo/bench

# Sizes and knobs (environment overrides).
: "${BENCH_SEED:=7208}"
: "${BENCH_DOMAINS:=5000}"
: "${BENCH_REQUESTS:=20000}"          # warm stream for domauth and libspf2
: "${BENCH_PYSPF_REQUESTS:=4000}"     # pyspf is slow: a prefix of the stream
: "${BENCH_INFLIGHT:=1000}"           # domauth checks in flight (warm)
: "${BENCH_LATENCY_MS:=20}"           # per query, for the cold scenario
: "${BENCH_COLD_REQUESTS:=2000}"      # domauth, cold
: "${BENCH_COLD_INFLIGHT:=100}"
: "${BENCH_COLD_SERIAL_REQUESTS:=200}" # libspf2 and pyspf, cold (serial)
: "${BENCH_BIG_INFLIGHT:=10000}"
: "${BENCH_BIG_REQUESTS:=20000}"
: "${BENCH_TIMEOUT:=240}"             # seconds, per driver run
: "${BENCH_KEEP:=0}"                  # 1: keep the work directory
: "${BENCH_SCENARIOS:=warm cold inflight policy xmail store milter}" # which scenarios run
: "${BENCH_BUILD:=$repo/build}"       # the meson build tree to measure
export BENCH_SCENARIOS BENCH_BUILD
export BENCH_SEED BENCH_DOMAINS BENCH_REQUESTS BENCH_PYSPF_REQUESTS BENCH_INFLIGHT \
    BENCH_LATENCY_MS BENCH_COLD_REQUESTS BENCH_COLD_INFLIGHT BENCH_COLD_SERIAL_REQUESTS \
    BENCH_BIG_INFLIGHT BENCH_BIG_REQUESTS BENCH_TIMEOUT BENCH_KEEP

PY=/usr/bin/python3   # Debian's python, where python3-spf and python3-yaml live
DIRECT=127.0.0.1      # unbound
DELAYED=127.0.0.2     # delay_proxy -> unbound

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

# The policy scenario (domauthd's policy listener against policyd-spf).
# shellcheck source=bench/policy/policy.sh
. "$bench/policy/policy.sh"
# The xmail scenario (domauth xmail-filter, warm and cold, against spfquery).
# shellcheck source=bench/xmail/xmail.sh
. "$bench/xmail/xmail.sh"
# The milter scenario (one Postfix: domauthd's milter against OpenDKIM,
# OpenDMARC and policyd-spf).
# shellcheck source=bench/milter/milter.sh
. "$bench/milter/milter.sh"

wants() { [[ " $BENCH_SCENARIOS " == *" $1 "* ]]; }

# ------------------------------------------------------------- outside

preflight() {
    [ "$(id -u)" = 0 ] || die "needs root (network namespace, port 53, bind mount)"
    local tool
    for tool in unshare ip unbound unbound-control taskset cc pkg-config mount; do
        command -v "$tool" >/dev/null || die "$tool not found (make bench installs BENCH_DEPS)"
    done
    "$PY" -c 'import spf, dns.resolver' 2>/dev/null || die "python3-spf missing"
    [ -f /usr/include/spf2/spf.h ] || die "libspf2-dev missing"
    unshare -n -m true 2>/dev/null || die "unshare -n -m not permitted here"
    [ -f "$BENCH_BUILD/src/libdomauth-net.a" ] || die "build first (make build)"
    if wants policy; then policy_preflight; fi
    if wants xmail; then xmail_preflight; fi
    if wants milter; then milter_preflight; fi
}

build_drivers() { # bin-dir
    local cflags="-O2 -std=c17 -Wall -Wextra -Werror"
    # shellcheck disable=SC2046
    cc $cflags -I"$repo/include" -o "$1/spf_bench_domauth" \
        "$bench/spf_bench_domauth.c" "$bench/bench_util.c" \
        "$BENCH_BUILD/src/libdomauth-net.a" "$BENCH_BUILD/src/libdomauth.a" \
        $(pkg-config --libs libcares libuv libcrypto) \
        || die "spf_bench_domauth does not build (is the async API in $BENCH_BUILD?)"
    cc $cflags -o "$1/spf_bench_libspf2" "$bench/spf_bench_libspf2.c" "$bench/bench_util.c" \
        -lspf2 || die "spf_bench_libspf2 does not build"
    cc $cflags -o "$1/delay_proxy" "$bench/delay_proxy.c" || die "delay_proxy does not build"
}

main_outside() {
    preflight
    work=$(mktemp -d /tmp/domauth-bench.XXXXXX)
    trap '[ "$BENCH_KEEP" = 1 ] && log "kept $work" || rm -rf "$work"' EXIT
    mkdir -p "$work/bin" "$work/world" "$work/out"
    log "building drivers"
    build_drivers "$work/bin"
    log "generating world (seed $BENCH_SEED, $BENCH_DOMAINS domains, $BENCH_REQUESTS requests)"
    "$PY" "$bench/gen_world.py" "$work/world" --seed "$BENCH_SEED" \
        --domains "$BENCH_DOMAINS" --requests "$BENCH_REQUESTS"
    if wants policy; then policy_prepare "$work/bin"; fi
    if wants milter; then milter_prepare; fi
    BENCH_INSIDE=1 BENCH_WORK=$work unshare -n -m -- bash "${BASH_SOURCE[0]}"
    # The DKIM benchmark (bench/dkim/run.sh): in-process, no DNS, so it runs
    # here, outside the namespace; report.py prints its section last.
    # BENCH_DKIM=0 leaves it out.
    if [ "${BENCH_DKIM:-1}" = 1 ]; then
        DKIM_BENCH_OUT=$work/dkim DKIM_BENCH_NO_REPORT=1 bash "$bench/dkim/run.sh" ||
            log "the DKIM benchmark failed; its section is left out"
    fi
    mkdir -p "$bench/results"
    "$PY" "$bench/report.py" "$work" | tee "$bench/results/last-run.txt"
}

# -------------------------------------------------------------- inside

pids=()

cleanup_inside() {
    local pid
    if [ -n "${milter_postfix:-}" ]; then postfix -c "$milter_postfix" stop >/dev/null 2>&1; fi
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}

start_unbound() {
    cat > "$work/unbound.conf" <<EOF
server:
  interface: $DIRECT@53
  do-daemonize: no
  use-syslog: no
  logfile: "$work/unbound.log"
  chroot: ""
  username: ""
  directory: "$work"
  pidfile: "$work/unbound.pid"
  module-config: "iterator"
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  minimal-responses: yes
  extended-statistics: yes
  so-rcvbuf: 8m
  so-sndbuf: 8m
  verbosity: 1
remote-control:
  control-enable: yes
  control-interface: "$work/unbound.ctl"
  control-use-cert: no
auth-zone:
  name: "."
  zonefile: "$work/world/zone"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
EOF
    taskset -c 1 unbound -d -c "$work/unbound.conf" > "$work/unbound.stderr" 2>&1 &
    pids+=($!)
    local _
    for _ in $(seq 100); do
        unbound-control -c "$work/unbound.conf" status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$work/unbound.log" "$work/unbound.stderr" >&2 || true
    die "unbound did not start"
}

start_proxy() {
    taskset -c 1 "$work/bin/delay_proxy" "$DELAYED:53" "$DIRECT:53" "$BENCH_LATENCY_MS" \
        > "$work/out/proxy.out" 2> "$work/proxy.stderr" &
    proxy_pid=$!
    pids+=("$proxy_pid")
    sleep 0.2
    kill -0 "$proxy_pid" || die "delay_proxy did not start: $(cat "$work/proxy.stderr")"
}

# The drivers call "hook.sh LABEL before|after" around their measured pass:
# it logs unbound's query counter and the namespace's UDP receive-buffer drops.
write_hook() {
    cat > "$work/hook.sh" <<EOF
#!/bin/bash
n=\$(unbound-control -c "$work/unbound.conf" stats_noreset | sed -n 's/^total.num.queries=//p')
drops=\$(awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) col[\$i] = i; h = 1 }
                       else print \$col["RcvbufErrors"] }' /proc/net/snmp)
echo "\$1 \$2 \$n \$drops" >> "$work/out/queries.log"
[ "\$2" = after ] && cp /proc/net/udp "$work/out/\$1.udp"
exit 0
EOF
    chmod +x "$work/hook.sh"
}

use_resolver() { # address: where libspf2 (res_query) sends its queries
    printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$1" > "$work/resolv.conf"
}

run_driver() { # label core command...
    local label=$1 core=$2
    shift 2
    log "run $label"
    if ! timeout "$BENCH_TIMEOUT" taskset -c "$core" "$@" --label "$label" \
            --hook "$work/hook.sh $label" --results "$work/out/$label.results" \
            > "$work/out/$label.out" 2> "$work/out/$label.stderr"; then
        log "$label failed or timed out; last lines of its stderr:"
        tail -5 "$work/out/$label.stderr" >&2 || true
        echo "FAILED label=$label" >> "$work/out/$label.out"
    fi
}

scenario_warm() {
    local stream=$work/world/stream.tsv
    use_resolver "$DIRECT"
    # The measured (second) pass goes over the stream R times so that it lasts
    # long enough to time; every round is as warm as the first.
    run_driver warm.domauth 0 "$work/bin/spf_bench_domauth" --server "$DIRECT" \
        --stream "$stream" --count "$BENCH_REQUESTS" --passes 2 --reps 5 \
        --inflight "$BENCH_INFLIGHT"
    # The same, but the warming pass keeps only 50 checks in flight, so no
    # answer is lost to a socket buffer and the second pass is fully warm.
    run_driver warm.domauth-gentle 0 "$work/bin/spf_bench_domauth" --server "$DIRECT" \
        --stream "$stream" --count "$BENCH_REQUESTS" --passes 2 --reps 5 \
        --inflight "$BENCH_INFLIGHT" --warm-inflight 50
    # The same as warm.domauth with compiled policies off: the walk alone.
    run_driver warm.domauth-walk 0 "$work/bin/spf_bench_domauth" --server "$DIRECT" \
        --stream "$stream" --count "$BENCH_REQUESTS" --passes 2 --reps 5 \
        --inflight "$BENCH_INFLIGHT" --walk-only
    run_driver warm.libspf2 0 "$work/bin/spf_bench_libspf2" --stream "$stream" \
        --count "$BENCH_REQUESTS" --passes 2 --reps 3
    run_driver warm.libspf2-cache16 0 "$work/bin/spf_bench_libspf2" --stream "$stream" \
        --count "$BENCH_REQUESTS" --passes 2 --reps 3 --cache-bits 16
    run_driver warm.pyspf 0 "$PY" "$bench/spf_bench_pyspf.py" --server "$DIRECT" \
        --stream "$stream" --count "$BENCH_PYSPF_REQUESTS" --passes 2 --cache
}

scenario_cold() {
    local stream=$work/world/stream.tsv
    use_resolver "$DELAYED"
    run_driver cold.domauth 0 "$work/bin/spf_bench_domauth" --server "$DELAYED" \
        --stream "$stream" --count "$BENCH_COLD_REQUESTS" --inflight "$BENCH_COLD_INFLIGHT" \
        --no-cache
    run_driver cold.libspf2 0 "$work/bin/spf_bench_libspf2" --stream "$stream" \
        --count "$BENCH_COLD_SERIAL_REQUESTS" --no-cache
    run_driver cold.pyspf 0 "$PY" "$bench/spf_bench_pyspf.py" --server "$DELAYED" \
        --stream "$stream" --count "$BENCH_COLD_SERIAL_REQUESTS"
}

scenario_inflight() {
    run_driver inflight10k.domauth 0 "$work/bin/spf_bench_domauth" --server "$DELAYED" \
        --stream "$work/world/stream.tsv" --count "$BENCH_BIG_REQUESTS" \
        --inflight "$BENCH_BIG_INFLIGHT"
}

main_inside() {
    work=$BENCH_WORK
    trap cleanup_inside EXIT
    trap 'exit 1' INT TERM
    ip link set lo up
    : > "$work/resolv.conf"
    mount --bind "$work/resolv.conf" /etc/resolv.conf
    start_unbound
    write_hook
    start_proxy
    if wants warm; then scenario_warm; fi
    if wants cold; then scenario_cold; fi
    if wants inflight; then scenario_inflight; fi
    if wants policy; then scenario_policy; fi
    if wants xmail; then scenario_xmail; fi
    # The event store on SQLite and a private PostgreSQL (bench/store/).
    if wants store; then bash "$bench/store/store.sh" "$BENCH_BUILD" >&2 || true; fi
    if wants milter; then scenario_milter; fi
    kill -TERM "$proxy_pid"
    wait "$proxy_pid" || true
}

if [ "${BENCH_INSIDE:-}" = 1 ]; then
    main_inside
else
    main_outside
fi
