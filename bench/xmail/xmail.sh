# xmail.sh: the xmail scenario of the benchmark, sourced by bench/run.sh
# (which provides $repo, $bench, $work, $PY, $DIRECT, log, die and the pids
# array). domauth xmail-filter at post-data, warm through domauthd and cold
# in-process, against libspf2's spfquery run per message. See
# bench/README.md ("The xmail scenario").

: "${BENCH_XMAIL_MESSAGES:=300}"   # messages of the stream, per row
: "${BENCH_DOMAUTH:=$BENCH_BUILD/cli/domauth}"
: "${BENCH_XMAIL_FAST:=$BENCH_BUILD/cli/domauth-xmail-filter}"
: "${BENCH_TMPFS:=/dev/shm}"       # where the tmpfs row writes its spool files
export BENCH_XMAIL_MESSAGES BENCH_DOMAUTH BENCH_XMAIL_FAST BENCH_TMPFS
SPFQUERY_LIBSPF2=/usr/bin/spfquery.libspf2

xmail_preflight() {
    [ -x "$BENCH_DOMAUTH" ] || die "$BENCH_DOMAUTH missing (make build)"
    [ -x "$BENCH_XMAIL_FAST" ] || die "$BENCH_XMAIL_FAST missing (make build)"
    [ -x "$SPFQUERY_LIBSPF2" ] || log "spfquery.libspf2 missing (Debian spfquery): that row is left out"
}

scenario_xmail() {
    use_resolver "$DIRECT" # spfquery reads /etc/resolv.conf: unbound, no delay
    local conf=$work/xmail.conf
    cat > "$conf" <<CONF
[daemon]
milter =
policy = inet:127.0.0.1:10048
control = unix:$work/xmail-control.sock
database = $work/xmail-events.db
event_log =
syslog = no
dns_servers = $DIRECT
authserv_id = mx.bench.test
[dkim]
verify = no
CONF
    taskset -c 0 "$BENCH_DOMAUTHD" -f -c "$conf" > "$work/out/xmail-domauthd.stdout" \
        2> "$work/out/xmail-domauthd.stderr" &
    local d_pid=$!
    pids+=("$d_pid")
    local _
    for _ in $(seq 100); do [ -S "$work/xmail-control.sock" ] && break; sleep 0.1; done
    [ -S "$work/xmail-control.sock" ] || die "domauthd (xmail) did not start"
    log "run xmail"
    taskset -c 0 "$PY" "$bench/xmail/xmail_bench.py" "$work/world/stream.tsv" "$BENCH_DOMAUTH" \
        "$BENCH_XMAIL_FAST" "$conf" "$SPFQUERY_LIBSPF2" "$BENCH_XMAIL_MESSAGES" "$work/out" \
        "$BENCH_TMPFS" \
        || log "the xmail scenario failed"
    kill "$d_pid" 2>/dev/null
    wait "$d_pid" 2>/dev/null || true
}
