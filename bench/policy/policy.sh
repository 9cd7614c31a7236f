# policy.sh: the policy scenario of the benchmark, sourced by bench/run.sh
# (which provides $repo, $bench, $work, $PY, $DIRECT, log, die, run_driver,
# use_resolver and the pids array). domauthd's Postfix policy listener and
# postfix-policyd-spf-python, each one process, driven by policy_client the
# way Postfix's smtpd drives a check_policy_service. See bench/README.md.

: "${BENCH_POLICY_DOMAINS:=300}"          # sender domains of the policy stream
: "${BENCH_POLICY_PEER_REQUESTS:=3000}"   # requests policyd-spf gets (about 160/s)
: "${BENCH_POLICY_SAMPLE_REPS:=10}"       # domauth: rounds over those same requests
: "${BENCH_POLICY_REPS:=3}"               # domauth: rounds over the whole policy stream
: "${BENCH_POLICY_WHITELIST:=1000000}"    # entries in the domauth-wl row's whitelist (split into files)
: "${BENCH_POLICY_WL_REPS:=$BENCH_POLICY_SAMPLE_REPS}" # domauth-wl: rounds over the sample
: "${BENCH_DOMAUTHD:=$BENCH_BUILD/daemon/domauthd}" # the daemon under test
# Which rows run (profiling one server needs only its rows; report_policy.py
# leaves out what did not run).
: "${BENCH_POLICY_ROWS:=policyd-spf domauth xcore long 4conn 16conn wl null}"
export BENCH_POLICY_ROWS
export BENCH_POLICY_DOMAINS BENCH_POLICY_PEER_REQUESTS BENCH_POLICY_SAMPLE_REPS \
    BENCH_POLICY_REPS BENCH_POLICY_WHITELIST BENCH_POLICY_WL_REPS BENCH_DOMAUTHD

POLICY_DOMAUTHD_PORT=10045   # as in bench/policy/domauthd.conf
POLICY_PEER_PORT=10046
POLICY_NULL_PORT=10047
POLICYD_SPF=/usr/bin/policyd-spf

policy_preflight() {
    [ -x "$POLICYD_SPF" ] || die "policyd-spf missing (postfix-policyd-spf-python)"
    command -v socat >/dev/null || die "socat missing"
    [ -x "$BENCH_DOMAUTHD" ] || die "$BENCH_DOMAUTHD missing (make build)"
}

# Outside the namespace: the client, and the stream (a cut of the world's).
policy_prepare() { # bin-dir
    cc -O2 -std=c17 -Wall -Wextra -Werror -o "$1/policy_client" \
        "$bench/policy/policy_client.c" "$bench/bench_util.c" \
        || die "policy_client does not build"
    cc -O2 -std=c17 -Wall -Wextra -Werror -o "$1/null_policyd" "$bench/policy/null_policyd.c" \
        || die "null_policyd does not build"
    "$PY" "$bench/policy/policy_stream.py" "$work/world" --domains "$BENCH_POLICY_DOMAINS"
    # The domauth-wl row: the same configuration plus a large whitelist_file whose
    # entries cover none of the stream's clients, so every request is
    # checked against the whole whitelist and then evaluated as before.
    policy_row wl || return 0
    "$PY" "$bench/policy/whitelist.py" "$work/world/whitelist.txt" \
        --entries "$BENCH_POLICY_WHITELIST" --seed "$BENCH_SEED"
    # A whitelist_file holds at most 16 MiB (domauth.conf(5)); a million
    # entries are about 20 MB, so they go in files of 400,000 lines, as an
    # administrator would split them.
    split -l 400000 -d "$work/world/whitelist.txt" "$work/world/whitelist.part."
    { cat "$bench/policy/domauthd.conf"
      printf '\n[hosts]\n'
      for part in "$work"/world/whitelist.part.*; do printf 'whitelist_file = %s\n' "$part"; done
    } > "$work/domauthd-wl.conf"
}

# Waits until something listens on 127.0.0.1:PORT (without connecting:
# policyd-spf behind socat serves exactly one connection), at most SECONDS
# (default 10; the whitelist row loads a million entries first, which took
# over 10 s on the loaded 2-core guest).
policy_wait_listen() { # port pid what [seconds]
    local hex _
    hex=$(printf '%04X' "$1")
    for _ in $(seq $(( ${4:-10} * 10 ))); do
        grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A" /proc/net/tcp && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    die "$3 did not start listening on port $1 within ${4:-10} s"
}

policy_row() { [[ " $BENCH_POLICY_ROWS " == *" $1 "* ]]; }

scenario_policy() {
    local stream=$work/world/policy_stream.tsv client=$work/bin/policy_client
    # pyspf (inside policyd-spf) reads /etc/resolv.conf: unbound, no delay.
    use_resolver "$DIRECT"

    # Server and client share core 0 (unbound has core 1 to itself, as in the
    # other scenarios); one domauth row puts the client on core 1 instead.
    #
    if policy_row policyd-spf; then
        # The peer: socat accepts one connection and execs policyd-spf with the
        # socket as its stdin and stdout (nofork), as Postfix's spawn(8) does;
        # no process relays the bytes. One process, one connection.
        taskset -c 0 socat TCP-LISTEN:$POLICY_PEER_PORT,bind=127.0.0.1,reuseaddr \
            EXEC:"$POLICYD_SPF $bench/policy/policyd-spf.conf",nofork \
            2> "$work/out/policyd-spf.stderr" &
        local peer_pid=$!
        pids+=("$peer_pid")
        policy_wait_listen "$POLICY_PEER_PORT" "$peer_pid" "socat (policyd-spf)"
        run_driver policy.policyd-spf 0 "$client" --connect "127.0.0.1:$POLICY_PEER_PORT" \
            --stream "$stream" --count "$BENCH_POLICY_PEER_REQUESTS" --warm 1 --reps 1 \
            --server-pid "$peer_pid" --tag 0x51 --replies "$work/out/policy.policyd-spf.replies"
        wait "$peer_pid" 2>/dev/null || true
    fi

    # domauthd: one process for every row (it stays warm between them; CPU
    # is counted per row, peak RSS is the process's so far).
    taskset -c 0 "$BENCH_DOMAUTHD" -f -c "$bench/policy/domauthd.conf" \
        > "$work/out/domauthd.stdout" 2> "$work/out/domauthd.stderr" &
    local d_pid=$!
    pids+=("$d_pid")
    policy_wait_listen "$POLICY_DOMAUTHD_PORT" "$d_pid" "domauthd"
    local common=(--connect "127.0.0.1:$POLICY_DOMAUTHD_PORT" --server-pid "$d_pid")
    # The peer's requests, on one connection, warmed by one pass over them.
    policy_row domauth && run_driver policy.domauth 0 "$client" "${common[@]}" --stream "$stream" \
        --count "$BENCH_POLICY_PEER_REQUESTS" --warm 1 --reps "$BENCH_POLICY_SAMPLE_REPS" \
        --tag 0xd1 --replies "$work/out/policy.domauth.replies"
    # The same, warm, with the client on the other core (unbound's): every
    # request then wakes a sleeping core twice (see bench/README.md).
    policy_row xcore && run_driver policy.domauth-xcore 1 "$client" "${common[@]}" --stream "$stream" \
        --count "$BENCH_POLICY_PEER_REQUESTS" --warm 0 --reps "$BENCH_POLICY_SAMPLE_REPS" \
        --tag 0xd5
    # The whole policy stream: one pass warms what the sample did not reach.
    policy_row long && run_driver policy.domauth-long 0 "$client" "${common[@]}" --stream "$stream" \
        --warm 1 --reps "$BENCH_POLICY_REPS" --tag 0xd2
    policy_row 4conn && run_driver policy.domauth-4conn 0 "$client" "${common[@]}" --stream "$stream" \
        --conns 4 --warm 0 --reps "$BENCH_POLICY_REPS" --tag 0xd3
    policy_row 16conn && run_driver policy.domauth-16conn 0 "$client" "${common[@]}" --stream "$stream" \
        --conns 16 --warm 0 --reps "$BENCH_POLICY_REPS" --tag 0xd4
    kill -TERM "$d_pid" 2>/dev/null || true
    wait "$d_pid" 2>/dev/null || true

    if policy_row wl; then
        # The same requests as policy.domauth with a BENCH_POLICY_WHITELIST-entry
        # whitelist_file: first how long the configuration takes to load
        # (domauthd -t), then a domauthd of its own, warmed by one pass.
        local t0 t1
        t0=$(date +%s%N)
        if "$BENCH_DOMAUTHD" -t -c "$work/domauthd-wl.conf" > "$work/out/policy.wl-load.stdout" \
                2>&1; then
            t1=$(date +%s%N)
            echo "LOAD entries=$BENCH_POLICY_WHITELIST ms=$(( (t1 - t0) / 1000000 ))" \
                > "$work/out/policy.wl-load.txt"
        fi
        taskset -c 0 "$BENCH_DOMAUTHD" -f -c "$work/domauthd-wl.conf" \
            > "$work/out/domauthd-wl.stdout" 2> "$work/out/domauthd-wl.stderr" &
        d_pid=$!
        pids+=("$d_pid")
        policy_wait_listen "$POLICY_DOMAUTHD_PORT" "$d_pid" "domauthd (whitelist)" 120
        run_driver policy.domauth-wl 0 "$client" --connect "127.0.0.1:$POLICY_DOMAUTHD_PORT" \
            --server-pid "$d_pid" --stream "$stream" --count "$BENCH_POLICY_PEER_REQUESTS" \
            --warm 1 --reps "$BENCH_POLICY_WL_REPS" --tag 0xd6
        kill -TERM "$d_pid" 2>/dev/null || true
        wait "$d_pid" 2>/dev/null || true
    fi

    if policy_row null; then
        # The transport floor: a server that answers DUNNO at once, same pinning.
        taskset -c 0 "$work/bin/null_policyd" "$POLICY_NULL_PORT" &
        local null_pid=$!
        pids+=("$null_pid")
        policy_wait_listen "$POLICY_NULL_PORT" "$null_pid" "null_policyd"
        run_driver policy.null 0 "$client" --connect "127.0.0.1:$POLICY_NULL_PORT" \
            --stream "$stream" --count "$BENCH_POLICY_PEER_REQUESTS" --warm 1 \
            --reps "$BENCH_POLICY_SAMPLE_REPS" --server-pid "$null_pid" --tag 0x0
        wait "$null_pid" 2>/dev/null || true
    fi
}
