# milter.sh: the milter scenario of the benchmark, sourced by bench/run.sh
# (which provides $repo, $bench, $work, $PY, $DIRECT, log, die,
# use_resolver and the pids array). One private Postfix with three smtpd
# listeners: no check at all (the floor), domauthd as the milter, and the
# usual stack (OpenDKIM verifying + OpenDMARC as milters,
# postfix-policyd-spf-python as the policy service). smtp-source sends the
# same stream of signed and unsigned mail through each. See bench/README.md.

# Postfix's own master.cf services, as the tests' private instances have.
. "$repo/tests/lib/postfix.sh"

: "${BENCH_MILTER_SENDERS:=12}"      # sender domains (each: a signed and an unsigned message)
: "${BENCH_MILTER_MESSAGES:=2400}"   # messages per saturation run
: "${BENCH_MILTER_SESSIONS:=2}"      # smtp-source sessions per message stream
: "${BENCH_MILTER_SIZE:=2000}"       # body bytes per message
: "${BENCH_MILTER_LAT_ROUNDS:=4}"    # latency: rounds over the streams, one message at a time
: "${BENCH_MILTER_ROUNDS:=2}"        # saturation runs per stack (interleaved)
export BENCH_MILTER_SENDERS BENCH_MILTER_MESSAGES BENCH_MILTER_SESSIONS BENCH_MILTER_SIZE \
    BENCH_MILTER_LAT_ROUNDS BENCH_MILTER_ROUNDS

MILTER_PLAIN_SMTP=2601    # smtpd, no check
MILTER_DA_SMTP=2602       # smtpd -> domauthd milter
MILTER_PEER_SMTP=2603     # smtpd -> policyd-spf (spawn), OpenDKIM, OpenDMARC
MILTER_DA_PORT=8895       # as in bench/milter/domauthd.conf
MILTER_OPENDKIM_PORT=8891
MILTER_OPENDMARC_PORT=8893

milter_preflight() {
    local tool
    for tool in postfix smtp-source opendkim opendmarc openssl; do
        command -v "$tool" >/dev/null || die "$tool not found (make bench installs BENCH_DEPS)"
    done
    [ -x /usr/bin/policyd-spf ] || die "policyd-spf missing (postfix-policyd-spf-python)"
    [ -x "$BENCH_DOMAUTHD" ] || die "$BENCH_DOMAUTHD missing (make build)"
    "$PY" -c 'import dkim' 2>/dev/null || die "python3-dkim missing"
}

# Outside the namespace, before unbound loads the zone: the key, the
# messages, and the senders' DKIM and DMARC records added to the world.
milter_prepare() {
    local m=$work/milter
    mkdir -p "$m"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$m/key.pem" \
        2>/dev/null || die "openssl genpkey failed"
    printf 'v=DKIM1; k=rsa; p=%s\n' \
        "$(openssl pkey -in "$m/key.pem" -pubout -outform DER | base64 -w0)" > "$m/key.txt"
    "$PY" "$bench/milter/milter_prepare.py" "$work/world" "$m" --key "$m/key.pem" \
        --pubkey-record "$m/key.txt" --senders "$BENCH_MILTER_SENDERS" \
        --size "$BENCH_MILTER_SIZE" || die "milter_prepare.py failed"
}

milter_port_open() { # port
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

milter_wait_port() { # port what
    local _
    for _ in $(seq 100); do
        milter_port_open "$1" && return 0
        sleep 0.1
    done
    die "$2 does not listen on port $1"
}

milter_write_postfix() { # dir
    local pf=$1 uid gid
    uid=$(id -u postfix) gid=$(id -g postfix)
    mkdir -p "$pf/queue" "$pf/data" "$work/milter/mail"
    chown postfix:postfix "$pf/data" "$work/milter/mail"
    cat > "$pf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
maillog_file = $pf/maillog
maillog_file_prefixes = $work
myhostname = mx.bench.example
mydomain = bench.example
myorigin = bench.example
mydestination =
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
# The saturation runs' mail is discarded once queued; the latency runs'
# is delivered to one Maildir per stack (report_milter.py reads it).
relay_domains = dest.bench.example
transport_maps = inline:{ dest.bench.example=discard: }
virtual_mailbox_domains = box.bench.example
virtual_mailbox_base = $work/milter/mail
virtual_mailbox_maps = inline:{ lat-plain@box.bench.example=plain/, lat-domauth@box.bench.example=domauth/, lat-peers@box.bench.example=peers/ }
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_minimum_uid = 1
default_transport = error:bench: nothing leaves this instance
relay_transport = error:bench: nothing leaves this instance
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
# The usual stack (Debian's documented setup for the three packages).
peer_policy = check_policy_service unix:private/policyd-spf
peer_milters = inet:127.0.0.1:$MILTER_OPENDKIM_PORT, inet:127.0.0.1:$MILTER_OPENDMARC_PORT
policyd-spf_time_limit = 3600
smtpd_policy_service_timeout = 30s
milter_default_action = tempfail
milter_connect_timeout = 10s
milter_command_timeout = 30s
smtpd_error_sleep_time = 0
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_peername_lookup = no
in_flow_delay = 0
default_process_limit = 300
biff = no
delay_warning_time = 0
smtputf8_enable = no
EOF
    cat > "$pf/master.cf" <<EOF
$MILTER_PLAIN_SMTP inet n - n - 100 smtpd
  -o syslog_name=postfix/plain
$MILTER_DA_SMTP inet n - n - 100 smtpd
  -o syslog_name=postfix/domauth
  -o smtpd_milters=inet:127.0.0.1:$MILTER_DA_PORT
$MILTER_PEER_SMTP inet n - n - 100 smtpd
  -o syslog_name=postfix/peers
  -o smtpd_recipient_restrictions=\$peer_policy
  -o smtpd_milters=\$peer_milters
policyd-spf unix - n n - 0 spawn
  user=nobody argv=$work/milter/policyd-spf-wrap
$(pf_master_services)
EOF
}

# policyd-spf under spawn(8) lives as long as smtpd's connection to it. The
# wrapper keeps a marker file named by its PID while policyd-spf (its
# child) runs, and at exit writes the child's user and system time (the
# shell's "times", second line) next to it: milter_cpu.py adds up both.
milter_write_wrapper() {
    local m=$work/milter
    mkdir -p "$m/spf-run"
    chown nobody "$m/spf-run"
    cat > "$m/policyd-spf-wrap" <<EOF
#!/bin/sh
: > $m/spf-run/\$\$
/usr/bin/policyd-spf $bench/milter/policyd-spf.conf
times > $m/spf-run/\$\$.t
rm -f $m/spf-run/\$\$
EOF
    chmod 755 "$m/policyd-spf-wrap"
}

milter_queue_empty() { # pf-dir
    [ -z "$(find "$1/queue/incoming" "$1/queue/active" "$1/queue/maildrop" -type f \
            2>/dev/null | head -1)" ]
}

milter_wait_queue() { # pf-dir
    local _
    for _ in $(seq 600); do
        milter_queue_empty "$1" && return 0
        sleep 0.1
    done
    log "milter: the queue did not drain"
}

# One saturation run: every stream of the plan at once, each with
# BENCH_MILTER_SESSIONS smtp-source sessions, BENCH_MILTER_MESSAGES in all.
milter_saturate() { # stack port run
    local stack=$1 port=$2 run=$3 m=$work/milter
    local n per t0 t1 i=0 ip sender helo file signed expected
    n=$(wc -l < "$m/plan.tsv")
    per=$(( (BENCH_MILTER_MESSAGES + n - 1) / n ))
    local -a spids=()
    t0=$(date +%s%N)
    while IFS=$'\t' read -r ip sender helo file signed expected; do
        smtp-source -s "$BENCH_MILTER_SESSIONS" -m "$per" -f "$sender" \
            -t bench@dest.bench.example -M "$helo" -F "$file" "$ip:$port" \
            > "$m/out/sat.$stack.$run.$i.out" 2>&1 &
        spids+=($!)
        i=$((i + 1))
    done < "$m/plan.tsv"
    local failed=0 p
    for p in "${spids[@]}"; do
        wait "$p" || failed=$((failed + 1))
    done
    t1=$(date +%s%N)
    echo "$((n * per)) $(( (t1 - t0) / 1000 )) $failed"
}

scenario_milter() {
    local m=$work/milter pf=$work/milter/pf
    use_resolver "$DIRECT"
    mkdir -p "$m/out"
    chmod 711 "$work"
    chmod 755 "$m"
    # The senders' addresses on lo: smtp-source and the latency client
    # connect to them, so Postfix sees the world's client addresses.
    local ip
    cut -f1 "$m/plan.tsv" | sort -u | while read -r ip; do
        ip addr add "$ip/32" dev lo
    done
    milter_write_postfix "$pf"
    milter_write_wrapper

    # The checkers, each one process (threads as they come).
    { cat "$bench/milter/opendkim.conf"
      printf 'Socket inet:%s@127.0.0.1\nUserID opendkim\n' "$MILTER_OPENDKIM_PORT"
    } > "$m/opendkim.conf"
    { cat "$bench/milter/opendmarc.conf"
      printf 'Socket inet:%s@127.0.0.1\nUserID opendmarc\n' "$MILTER_OPENDMARC_PORT"
    } > "$m/opendmarc.conf"
    opendkim -f -x "$m/opendkim.conf" > "$m/out/opendkim.log" 2>&1 &
    local dkim_pid=$!
    pids+=("$dkim_pid")
    opendmarc -f -c "$m/opendmarc.conf" > "$m/out/opendmarc.log" 2>&1 &
    local dmarc_pid=$!
    pids+=("$dmarc_pid")
    "$BENCH_DOMAUTHD" -f -c "$bench/milter/domauthd.conf" > "$m/out/domauthd.log" 2>&1 &
    local da_pid=$!
    pids+=("$da_pid")
    milter_wait_port "$MILTER_OPENDKIM_PORT" opendkim
    milter_wait_port "$MILTER_OPENDMARC_PORT" opendmarc
    milter_wait_port "$MILTER_DA_PORT" domauthd

    milter_postfix=$pf
    if ! postfix -c "$pf" start > "$m/out/postfix-start.log" 2>&1; then
        cat "$m/out/postfix-start.log" "$pf/maillog" 2>/dev/null | tail -20 >&2
        die "postfix did not start"
    fi
    local port
    for port in $MILTER_PLAIN_SMTP $MILTER_DA_SMTP $MILTER_PEER_SMTP; do
        milter_wait_port "$port" postfix
    done

    local unbound_pid
    unbound_pid=$(cat "$work/unbound.pid" 2>/dev/null || echo 0)
    local res=$m/out/milter.txt
    : > "$res"
    echo "PLAN $(wc -l < "$m/plan.tsv") $(cut -f5 "$m/plan.tsv" | grep -c 1)" >> "$res"

    # Latency, one message at a time: the first round warms every cache
    # (domauthd's DNS cache, OpenDKIM's key cache, unbound), the others are
    # measured. The stacks take turns round by round.
    log "run milter latency"
    local r stack
    for r in $(seq 0 "$BENCH_MILTER_LAT_ROUNDS"); do
        for stack in plain domauth peers; do
            case $stack in
                plain) port=$MILTER_PLAIN_SMTP ;;
                domauth) port=$MILTER_DA_SMTP ;;
                peers) port=$MILTER_PEER_SMTP ;;
            esac
            "$PY" "$bench/milter/milter_latency.py" "$m/plan.tsv" "$port" "$stack" \
                "$m/out/lat.$stack.$r" --rounds 1 --first-round "$r" || log "milter latency $stack failed"
        done
    done
    milter_wait_queue "$pf"

    # Saturation: one unmeasured run per stack first, at the same
    # concurrency (it starts the smtpd processes and, for the peers, their
    # policyd-spf processes, as a server that has been up a while has
    # them), then BENCH_MILTER_ROUNDS measured runs, interleaved: plain,
    # domauth, peers, plain, ...
    local run cpu0 cpu1 ub0 ub1 out
    local -a cpu_args
    for run in $(seq 0 "$BENCH_MILTER_ROUNDS"); do
        for stack in plain domauth peers; do
            log "run milter $stack (saturation $run)"
            case $stack in
                plain) port=$MILTER_PLAIN_SMTP; cpu_args=() ;;
                domauth) port=$MILTER_DA_SMTP; cpu_args=("$da_pid") ;;
                peers) port=$MILTER_PEER_SMTP
                       cpu_args=(--spf-dir "$m/spf-run" "$dkim_pid" "$dmarc_pid") ;;
            esac
            cpu0=$("$PY" "$bench/milter/milter_cpu.py" "${cpu_args[@]}")
            ub0=$("$PY" "$bench/milter/milter_cpu.py" "$unbound_pid")
            out=$(milter_saturate "$stack" "$port" "$run")
            cpu1=$("$PY" "$bench/milter/milter_cpu.py" "${cpu_args[@]}")
            ub1=$("$PY" "$bench/milter/milter_cpu.py" "$unbound_pid")
            milter_wait_queue "$pf"
            [ "$run" = 0 ] && continue
            echo "SAT stack=$stack run=$run result=$out cpu0=$cpu0 cpu1=$cpu1" \
                 "unbound0=$ub0 unbound1=$ub1 spf_procs=$(ls "$m/spf-run" | grep -c '\.t$')" \
                 >> "$res"
        done
    done
    postfix -c "$pf" stop >/dev/null 2>&1 || true
    milter_postfix=
    grep -h 'rejected\|reject:\|warning' "$pf/maillog" 2>/dev/null | tail -5 > "$m/out/maillog.tail" || true
    "$PY" "$bench/milter/report_milter.py" "$m" > "$work/out/milter.report" ||
        log "report_milter.py failed"
}
