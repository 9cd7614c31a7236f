#!/bin/bash
# async_dns.sh: the asynchronous path (`domauth spf batch`: many evaluations
# on one libuv loop, c-ares, the shared DNS cache, per-evaluation deadlines)
# over real DNS, inside a private network namespace:
#   - unbound, authoritative for a zone written here, answers ~200 requests
#     with 50 in flight (every result checked; the cache must coalesce/hit);
#   - SERVFAIL/REFUSED, dropped names (timeouts) and evaluation deadlines;
#   - a >512-byte TXT answer without EDNS0 (TCP fallback), and a server
#     without TCP;
#   - garbage answers from tests/integration/fake_dns.py (random bytes, wrong
#     ID or question, short header, lying counts, compression loops, ...);
#   - a server that stops (killed, then frozen) mid-run and comes back, with
#     stdin fed from a FIFO in phases;
#   - the same under AddressSanitizer when build-asan/cli/domauth exists.
#
# Needs root, unshare, ip, unbound, python3, timeout. Output is TAP.
# Environment: DOMAUTH_BIN (default build/cli/domauth), DOMAUTH_ASAN_BIN
# (default build-asan/cli/domauth when it exists; "none" skips that part).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
fake_dns=$here/fake_dns.py

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

# ------------------------------------------------------------ processes

workdir=
unbound_pid=
fake_pids=()
batch_pid=

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

start_unbound() { # [extra server: lines]
    stop_unbound
    cat > "$workdir/unbound.conf" <<EOF
server:
  interface: 127.0.0.1@53
  do-daemonize: no
  use-syslog: no
  logfile: "$workdir/unbound.log"
  chroot: ""
  username: ""
  directory: "$workdir"
  pidfile: "$workdir/unbound.pid"
  module-config: "iterator"
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  minimal-responses: yes
  verbosity: 1
  local-zone: "test." nodefault
  local-zone: "drop.test." deny
  local-zone: "refused.test." refuse
${1:-}
auth-zone:
  name: "."
  zonefile: "$workdir/zone"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
EOF
    : > "$workdir/unbound.log"
    # 3>&-: not a writer of a test's FIFO, or the batch would never see EOF.
    unbound -d -c "$workdir/unbound.conf" >> "$workdir/unbound.log" 2>&1 3>&- &
    unbound_pid=$!
    local _
    for _ in $(seq 100); do
        grep -q "start of service" "$workdir/unbound.log" && return 0
        kill -0 "$unbound_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "# unbound did not start:"
    sed 's/^/#   /' "$workdir/unbound.log"
    return 1
}

stop_unbound() {
    if [ -n "$unbound_pid" ]; then
        kill -CONT "$unbound_pid" 2>/dev/null
        kill "$unbound_pid" 2>/dev/null
        wait "$unbound_pid" 2>/dev/null
        unbound_pid=
    fi
}

start_fake() { # addr port [options]: a fake_dns.py server, logs in $workdir
    local addr=$1 port=$2 log
    shift 2
    log=$workdir/fake-$addr-$port
    "$python" "$fake_dns" "$addr" "$port" "$@" > "$log.out" 2> "$log.log" 3>&- &
    fake_pids+=("$!")
    local _
    for _ in $(seq 100); do
        grep -qs '^ready' "$log.out" && return 0
        kill -0 "$!" 2>/dev/null || break
        sleep 0.05
    done
    echo "# fake DNS server on $addr:$port did not start:"
    sed 's/^/#   /' "$log.log"
    return 1
}

cleanup() {
    exec 3>&- 2>/dev/null
    if [ -n "$batch_pid" ]; then
        kill "$batch_pid" 2>/dev/null
        wait "$batch_pid" 2>/dev/null
    fi
    local pid
    for pid in "${fake_pids[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    stop_unbound
    [ -n "$workdir" ] && rm -rf "$workdir"
}

# ------------------------------------------------------------------ TAP

count=0
failed=0

report() { # ok? description [diagnostics] [directive]
    count=$((count + 1))
    local directive=${4:+ # $4}
    if [ "$1" = 1 ]; then
        echo "ok $count - $2$directive"
    else
        [ -z "${4:-}" ] && failed=$((failed + 1))
        echo "not ok $count - $2$directive"
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
    fi
}

skip() { # description reason
    count=$((count + 1))
    echo "ok $count - $1 # SKIP $2"
}

# ------------------------------------------------------------ running

# Sanitizer and crash evidence in a stderr file, or nothing.
sanitizer_report() {
    grep -E -m 5 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' "$1"
}

# Runs `BIN spf batch ARGS` on INPUT under a hard time limit; output in
# $workdir/TAG.out and TAG.err; sets rc and elapsed_ms.
run_batch() { # tag bin input args...
    local tag=$1 bin=$2 input=$3 start
    shift 3
    start=$(now_ms)
    timeout -k 2 "${batch_limit:-25}" "$bin" spf batch "$@" < "$input" \
        > "$workdir/$tag.out" 2> "$workdir/$tag.err"
    rc=$?
    elapsed_ms=$(($(now_ms) - start))
}

# Why a finished run is not clean (exit status, hang, sanitizer), or nothing.
run_problems() { # tag
    local why=
    case $rc in
        0) ;;
        124 | 137) why="hung: killed after ${batch_limit:-25} s" ;;
        *) why="exit status $rc" ;;
    esac
    [ "$rc" -gt 128 ] && [ "$rc" != 137 ] && why="killed by signal $((rc - 128))"
    local san
    san=$(sanitizer_report "$workdir/$1.err")
    [ -n "$san" ] && why="${why:+$why; }sanitizer report: $san"
    [ -n "$why" ] && printf '%s\nstderr: %s\n' "$why" "$(head -c 1500 "$workdir/$1.err")"
}

# Compares TAG.out with TAG.expected; prints the differences, or nothing.
output_diff() { # tag
    diff "$workdir/$1.expected" "$workdir/$1.out" > "$workdir/$1.diff" && return 0
    echo "expected (<) vs got (>), first differences:"
    head -n 20 "$workdir/$1.diff"
}

# ------------------------------------------------------------- the zone

big_record=
write_zone() {
    local terms="" i data="" rest
    for i in $(seq 1 60); do terms="$terms ip4:192.0.2.$i"; done
    big_record="v=spf1$terms -all"
    rest=$big_record
    while [ -n "$rest" ]; do
        data="$data \"${rest:0:255}\""
        rest=${rest:255}
    done
    {
        cat <<EOF
\$TTL 300
. 300 IN SOA ns.example.invalid. hostmaster.example.invalid. 1 3600 600 86400 300
. 300 IN NS ns.example.invalid.
pass.test. IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mx.test. IN TXT "v=spf1 mx -all"
mx.test. IN MX 10 mx1.mx.test.
mx.test. IN MX 20 mx2.mx.test.
mx1.mx.test. IN A 198.51.100.10
mx2.mx.test. IN A 198.51.100.20
mx2.mx.test. IN AAAA 2001:db8:2::20
incl.test. IN TXT "v=spf1 include:pass.test include:mx.test ?all"
a.test. IN TXT "v=spf1 a:web.a.test ~all"
web.a.test. IN A 203.0.113.5
redir.test. IN TXT "v=spf1 redirect=incl.test"
six.test. IN TXT "v=spf1 ip6:2001:db8:1::/48 -all"
none.test. IN A 192.0.2.1
perm.test. IN TXT "v=spf1 ip4:192.0.2.1 foo:bar -all"
helo.test. IN TXT "v=spf1 a -all"
helo.test. IN A 198.51.100.77
chain.test. IN TXT "v=spf1 include:drop.test ip4:192.0.2.0/24 -all"
big.test. IN TXT$data
EOF
        # Names for the server-stops phases: "v=spf1 a:h.NAME -all".
        for name in ra1 ra2 ra3 ra4 rb1 rb2 rb3 rc1 rc2 rd1 rd2 rd3 re1 rw1 rw2 rw3; do
            i=${name:2}
            echo "$name.test. IN TXT \"v=spf1 a:h.$name.test -all\""
            echo "h.$name.test. IN A 192.0.2.$i"
        done
    } > "$workdir/zone"
}

# The ~20 request kinds of test 1 and their expected output (after the
# request): "IP MAIL-FROM HELO<TAB>RESULT [MECHANISM]". USER is replaced by a
# varying local part.
request_kinds() {
    cat <<'EOF'
192.0.2.10 USER@pass.test h.example	pass ip4:192.0.2.0/24
198.51.100.1 USER@pass.test h.example	fail -all
198.51.100.10 USER@mx.test h.example	pass mx
198.51.100.20 USER@mx.test h.example	pass mx
2001:db8:2::20 USER@mx.test h.example	pass mx
203.0.113.9 USER@mx.test h.example	fail -all
192.0.2.33 USER@incl.test h.example	pass include:pass.test
198.51.100.10 USER@incl.test h.example	pass include:mx.test
203.0.113.1 USER@incl.test h.example	neutral ?all
203.0.113.5 USER@a.test h.example	pass a:web.a.test
203.0.113.6 USER@a.test h.example	softfail ~all
198.51.100.20 USER@redir.test h.example	pass include:mx.test
203.0.113.1 USER@redir.test h.example	neutral ?all
2001:db8:1::1 USER@six.test h.example	pass ip6:2001:db8:1::/48
192.0.2.1 USER@six.test h.example	fail -all
192.0.2.1 USER@none.test h.example	none
192.0.2.1 USER@nx.test h.example	none
192.0.2.1 USER@perm.test h.example	permerror
198.51.100.77 <> helo.test	pass a
198.51.100.78 <> helo.test	fail -all
EOF
}

# Writes TAG.in and TAG.expected from "IP FROM HELO<TAB>RESULT [MECH]" lines
# on stdin: the output line is "RESULT IP FROM HELO [MECH]".
make_requests() { # tag
    local request outcome result mech
    : > "$workdir/$1.in"
    : > "$workdir/$1.expected"
    while IFS=$'\t' read -r request outcome; do
        result=${outcome%% *}
        mech=
        [ "$outcome" != "$result" ] && mech=" ${outcome#* }"
        echo "$request" >> "$workdir/$1.in"
        echo "$result $request$mech" >> "$workdir/$1.expected"
    done
}

# ----------------------------------------------------------------- tests

# 1. Many requests in flight over unbound; the cache must do its work.
test_bulk() { # bin label
    local bin=$1 label=$2 i kinds
    kinds=$(request_kinds)
    for i in $(seq 1 10); do
        printf '%s\n' "$kinds" | sed "s/USER/u$i/"
    done | make_requests bulk
    local lines
    lines=$(wc -l < "$workdir/bulk.in")
    run_batch bulk "$bin" "$workdir/bulk.in" --dns-server 127.0.0.1:53 --concurrency 50 \
        --dns-timeout 2000 --dns-tries 2 --stats
    local problems diffs
    problems=$(run_problems bulk)
    diffs=$(output_diff bulk)
    if [ -z "$problems$diffs" ]; then
        report 1 "$label: $lines requests, 50 in flight, every result as expected (${elapsed_ms} ms)"
    else
        report 0 "$label: $lines requests, 50 in flight, every result as expected" "$problems$diffs"
    fi
    local stats hits misses coalesced checks
    stats=$(grep '^checks ' "$workdir/bulk.err")
    read -r checks hits misses coalesced < <(printf '%s\n' "$stats" | sed -n \
        's/^checks \([0-9]*\) .*dns cache: \([0-9]*\) hits, \([0-9]*\) misses, \([0-9]*\) coalesced.*/\1 \2 \3 \4/p')
    if [ -z "${checks:-}" ]; then
        report 0 "$label: --stats shows the cache at work" "no stats line on stderr: $(head -c 600 "$workdir/bulk.err")"
    elif [ "$checks" -eq "$lines" ] && [ "$misses" -le 40 ] && [ "$coalesced" -gt 0 ] &&
        [ $((hits + coalesced)) -ge $((misses * 5)) ]; then
        report 1 "$label: cache at work: $misses misses, $hits hits, $coalesced coalesced for $checks checks"
    else
        report 0 "$label: --stats shows the cache at work (misses <= 40, coalesced > 0, hits+coalesced >= 5 x misses)" \
            "$stats"
    fi
}

# 2. SERVFAIL and REFUSED give temperror at once; a failing first server
#    is passed over for the next.
test_servfail() {
    printf '%s\n' "192.0.2.1 u@servfail.fake.test h.example" "192.0.2.1 u@refused.fake.test h.example" \
        "192.0.2.1 u@good.fake.test h.example" > "$workdir/servfail.in"
    printf '%s\n' "temperror 192.0.2.1 u@servfail.fake.test h.example" \
        "temperror 192.0.2.1 u@refused.fake.test h.example" \
        "pass 192.0.2.1 u@good.fake.test h.example ip4:192.0.2.0/24" > "$workdir/servfail.expected"
    run_batch servfail "$domauth_bin" "$workdir/servfail.in" --dns-server 127.0.0.2:53 \
        --dns-timeout 3000 --dns-tries 2
    local problems diffs
    problems=$(run_problems servfail)
    diffs=$(output_diff servfail)
    if [ -z "$problems$diffs" ] && [ "$elapsed_ms" -lt 2000 ]; then
        report 1 "SERVFAIL and REFUSED from the server give temperror at once (${elapsed_ms} ms, timeout 3000 ms)"
    else
        report 0 "SERVFAIL and REFUSED from the server give temperror at once (< 2000 ms)" \
            "took ${elapsed_ms} ms${problems:+
$problems}${diffs:+
$diffs}"
    fi

    # unbound refuses refused.test.
    printf '%s\n' "192.0.2.1 u@x.refused.test h.example" > "$workdir/refuse.in"
    printf '%s\n' "temperror 192.0.2.1 u@x.refused.test h.example" > "$workdir/refuse.expected"
    run_batch refuse "$domauth_bin" "$workdir/refuse.in" --dns-server 127.0.0.1:53 \
        --dns-timeout 3000 --dns-tries 2
    problems=$(run_problems refuse)
    diffs=$(output_diff refuse)
    if [ -z "$problems$diffs" ] && [ "$elapsed_ms" -lt 2000 ]; then
        report 1 "a zone unbound refuses gives temperror at once (${elapsed_ms} ms)"
    else
        report 0 "a zone unbound refuses gives temperror at once (< 2000 ms)" \
            "took ${elapsed_ms} ms${problems:+
$problems}${diffs:+
$diffs}"
    fi

    # A server answering SERVFAIL to everything, listed first.
    local kinds
    kinds=$(request_kinds | head -n 10)
    printf '%s\n' "$kinds" | sed "s/USER/f/" | make_requests failover
    run_batch failover "$domauth_bin" "$workdir/failover.in" \
        --dns-server 127.0.0.3:53,127.0.0.1:53 --dns-timeout 2000 --dns-tries 1 --concurrency 10
    problems=$(run_problems failover)
    diffs=$(output_diff failover)
    if [ -z "$problems$diffs" ]; then
        report 1 "a first server answering SERVFAIL to everything is passed over for the second (${elapsed_ms} ms)"
    else
        report 0 "a first server answering SERVFAIL to everything is passed over for the second" \
            "$problems$diffs"
    fi
}

# 3. Dropped names time out within --dns-timeout x --dns-tries; deadlines.
test_timeouts() {
    local i
    {
        for i in $(seq 1 20); do
            echo "192.0.2.$i u$i@n$i.drop.test h.example	temperror"
            echo "192.0.2.$i u$i@pass.test h.example	pass ip4:192.0.2.0/24"
        done
        echo "192.0.2.5 u@chain.test h.example	temperror"
    } | make_requests drop
    run_batch drop "$domauth_bin" "$workdir/drop.in" --dns-server 127.0.0.1:53 \
        --dns-timeout 300 --dns-tries 1 --concurrency 50
    local problems diffs
    problems=$(run_problems drop)
    diffs=$(output_diff drop)
    if [ -z "$problems$diffs" ]; then
        report 1 "21 requests needing a dropped name give temperror, 20 others pass, same batch"
    else
        report 0 "21 requests needing a dropped name give temperror, 20 others pass, same batch" \
            "$problems$diffs"
    fi
    # 300 ms x 1 try, plus process start and margin.
    if [ "$rc" = 0 ] && [ "$elapsed_ms" -lt 2500 ]; then
        report 1 "that batch ends within 2.5 s with --dns-timeout 300 --dns-tries 1 (${elapsed_ms} ms)"
    else
        report 0 "that batch ends within 2.5 s with --dns-timeout 300 --dns-tries 1" \
            "took ${elapsed_ms} ms, exit status $rc"
    fi

    # Two tries: 300 ms, then 600 (c-ares doubles the timeout), still bounded.
    printf '%s\n' "192.0.2.1 u@x.drop.test h.example" > "$workdir/drop2.in"
    printf '%s\n' "temperror 192.0.2.1 u@x.drop.test h.example" > "$workdir/drop2.expected"
    run_batch drop2 "$domauth_bin" "$workdir/drop2.in" --dns-server 127.0.0.1:53 \
        --dns-timeout 300 --dns-tries 2
    problems=$(run_problems drop2)
    diffs=$(output_diff drop2)
    if [ -z "$problems$diffs" ] && [ "$elapsed_ms" -ge 500 ] && [ "$elapsed_ms" -lt 3000 ]; then
        report 1 "--dns-tries 2 retries a dropped name once, then temperror (${elapsed_ms} ms; c-ares: 300 + 600)"
    else
        report 0 "--dns-tries 2 retries a dropped name once, then temperror (500-3000 ms)" \
            "took ${elapsed_ms} ms${problems:+
$problems}${diffs:+
$diffs}"
    fi
}

# A chain of five includes, each answered after 300 ms (fake server): ~1.5 s
# of DNS. With --deadline 1000 it must end as temperror at about 1 s (three
# evaluations share the chain's questions in the cache); with a longer
# deadline it passes.
test_deadline() { # bin label
    local bin=$1 label=$2 problems diffs
    printf '%s\n' "192.0.2.1 u@slow0.len5.fake.test h.example" "192.0.2.1 u@good.fake.test h.example" \
        "192.0.2.2 v@slow0.len5.fake.test h.example" "192.0.2.3 w@slow0.len5.fake.test h.example" \
        > "$workdir/deadline.in"
    printf '%s\n' "temperror 192.0.2.1 u@slow0.len5.fake.test h.example" \
        "pass 192.0.2.1 u@good.fake.test h.example ip4:192.0.2.0/24" \
        "temperror 192.0.2.2 v@slow0.len5.fake.test h.example" \
        "temperror 192.0.2.3 w@slow0.len5.fake.test h.example" > "$workdir/deadline.expected"
    run_batch deadline "$bin" "$workdir/deadline.in" --dns-server 127.0.0.2:53 \
        --dns-timeout 5000 --dns-tries 1 --deadline 1000
    problems=$(run_problems deadline)
    diffs=$(output_diff deadline)
    if [ -z "$problems$diffs" ] && [ "$elapsed_ms" -ge 900 ] && [ "$elapsed_ms" -lt 2500 ]; then
        report 1 "$label: --deadline 1000 ends 3 evaluations of a chain of 5 slow (300 ms) lookups as temperror (${elapsed_ms} ms)"
    else
        report 0 "$label: --deadline 1000 ends 3 evaluations of a chain of 5 slow (300 ms) lookups as temperror (900-2500 ms)" \
            "took ${elapsed_ms} ms${problems:+
$problems}${diffs:+
$diffs}"
    fi
    sed -e 's/^temperror \(.*slow0.len5.fake.test h.example\)$/pass \1 include:slow1.len5.fake.test/' \
        "$workdir/deadline.expected" > "$workdir/deadline2.expected"
    run_batch deadline2 "$bin" "$workdir/deadline.in" --dns-server 127.0.0.2:53 \
        --dns-timeout 5000 --dns-tries 1 --deadline 8000
    problems=$(run_problems deadline2)
    diffs=$(output_diff deadline2)
    if [ -z "$problems$diffs" ] && [ "$elapsed_ms" -ge 1400 ]; then
        report 1 "$label: the same chain passes with --deadline 8000 (${elapsed_ms} ms)"
    else
        report 0 "$label: the same chain passes with --deadline 8000 (>= 1400 ms)" \
            "took ${elapsed_ms} ms${problems:+
$problems}${diffs:+
$diffs}"
    fi
}

# 4. A >512-byte TXT answer without EDNS0 comes over TCP.
test_truncation() {
    {
        echo "192.0.2.59 u@big.test h.example	pass ip4:192.0.2.59"
        echo "198.51.100.1 u@big.test h.example	fail -all"
        echo "192.0.2.60 v@big.test h.example	pass ip4:192.0.2.60"
    } | make_requests big
    run_batch big "$domauth_bin" "$workdir/big.in" --dns-server 127.0.0.1:53 --no-edns0 \
        --dns-timeout 1000 --dns-tries 1 --concurrency 10
    local problems diffs
    problems=$(run_problems big)
    diffs=$(output_diff big)
    if [ -z "$problems$diffs" ]; then
        report 1 "TXT record of ${#big_record} bytes without EDNS0 (TCP fallback): results correct"
    else
        report 0 "TXT record of ${#big_record} bytes without EDNS0 (TCP fallback): results correct" \
            "$problems$diffs"
    fi

    # Through the fake server: TC=1 over UDP, then TCP that works / closes /
    # answers junk.
    {
        echo "192.0.2.1 u@tcgood.fake.test h.example	pass ip4:192.0.2.0/24"
        echo "192.0.2.1 u@tcclose.fake.test h.example	temperror"
        echo "192.0.2.1 u@tcjunk.fake.test h.example	temperror"
    } | make_requests tcfake
    run_batch tcfake "$domauth_bin" "$workdir/tcfake.in" --dns-server 127.0.0.2:53 \
        --dns-timeout 300 --dns-tries 1
    problems=$(run_problems tcfake)
    diffs=$(output_diff tcfake)
    if [ -z "$problems$diffs" ] && [ "$elapsed_ms" -lt 2500 ]; then
        report 1 "truncated UDP answers: TCP answer used; TCP closed or junk gives temperror (${elapsed_ms} ms)"
    else
        report 0 "truncated UDP answers: TCP answer used; TCP closed or junk gives temperror (< 2500 ms)" \
            "took ${elapsed_ms} ms${problems:+
$problems}${diffs:+
$diffs}"
    fi

    start_unbound "  do-tcp: no" || {
        report 0 "unbound without TCP starts"
        return
    }
    {
        echo "192.0.2.59 u@big.test h.example	temperror"
        echo "192.0.2.10 u@pass.test h.example	pass ip4:192.0.2.0/24"
    } | make_requests notcp
    # One at a time: c-ares 1.18 resets every query pending on a server
    # whose TCP connection is refused, so a small query still in flight
    # beside the big one may fail with it (temperror, mail accepted).
    run_batch notcp "$domauth_bin" "$workdir/notcp.in" --dns-server 127.0.0.1:53 --no-edns0 \
        --dns-timeout 300 --dns-tries 1 --concurrency 1
    problems=$(run_problems notcp)
    diffs=$(output_diff notcp)
    if [ -z "$problems$diffs" ] && [ "$elapsed_ms" -lt 2500 ]; then
        report 1 "same big record from a server without TCP: temperror (so TCP carried it), small one passes (${elapsed_ms} ms)"
    else
        report 0 "same big record from a server without TCP: temperror, small one passes (< 2500 ms)" \
            "took ${elapsed_ms} ms${problems:+
$problems}${diffs:+
$diffs}"
    fi
    start_unbound || report 0 "unbound restarts with TCP"
}

# 5. Garbage answers, one mode per run, then all together.
garbage_modes() {
    cat <<'EOF'
random	(a) random bytes
randtail	(a) right ID and question, then random bytes
wrongid	(b) a good answer under the wrong ID
wrongq	(b) a good answer for the wrong question
short	(c) a truncated header (7 bytes)
counts	(d) counts claim more records than present
loop	(e) compression pointer to itself
loopb	(e) two compression pointers in a loop
ptrfwd	(e) compression pointer past the end
rdlen	RDLENGTH past the end of the message
txtlen	TXT string longer than its RDLENGTH
label	64-byte label
EOF
}

test_garbage() { # bin label
    local bin=$1 label=$2 mode what problems diffs
    if [ "$label" = domauth ]; then
        while IFS=$'\t' read -r mode what; do
            printf '%s\n' "192.0.2.1 u@$mode.fake.test h.example" > "$workdir/g-$mode.in"
            printf '%s\n' "temperror 192.0.2.1 u@$mode.fake.test h.example" > "$workdir/g-$mode.expected"
            run_batch "g-$mode" "$bin" "$workdir/g-$mode.in" --dns-server 127.0.0.2:53 \
                --dns-timeout 300 --dns-tries 1
            problems=$(run_problems "g-$mode")
            diffs=$(output_diff "g-$mode")
            if [ -z "$problems$diffs" ] && [ "$elapsed_ms" -lt 2000 ]; then
                report 1 "garbage $what: temperror, exit 0 (${elapsed_ms} ms)"
            else
                report 0 "garbage $what: temperror, exit 0, < 2000 ms" \
                    "took ${elapsed_ms} ms${problems:+
$problems}${diffs:+
$diffs}"
            fi
        done < <(garbage_modes)
    fi
    # Every mode at once, several times each, between good answers.
    local i
    {
        for i in 1 2 3; do
            while IFS=$'\t' read -r mode what; do
                echo "192.0.2.$i u$i@$mode$i.fake.test h.example	temperror"
                echo "192.0.2.$i u$i@good$i.fake.test h.example	pass ip4:192.0.2.0/24"
            done < <(garbage_modes)
        done
    } | make_requests garbage-all
    run_batch garbage-all "$bin" "$workdir/garbage-all.in" --dns-server 127.0.0.2:53 \
        --dns-timeout 300 --dns-tries 1 --concurrency 50
    problems=$(run_problems garbage-all)
    diffs=$(output_diff garbage-all)
    if [ -z "$problems$diffs" ] && [ "$elapsed_ms" -lt 3000 ]; then
        report 1 "$label: every garbage mode x3 in one loop (50 in flight): temperror, good lines pass (${elapsed_ms} ms)"
    else
        report 0 "$label: every garbage mode x3 in one loop (50 in flight): temperror, good lines pass (< 3000 ms)" \
            "took ${elapsed_ms} ms${problems:+
$problems}${diffs:+
$diffs}"
    fi
}

# 6. The server stops mid-run and comes back. Stdin is a FIFO fed in
#    phases; each phase waits for its results before the server changes.

# Waits until FILE has N lines or MS pass; sets waited_ms; 0 when it has.
wait_lines() { # file n ms
    local start have
    start=$(now_ms)
    while :; do
        have=$(wc -l < "$1")
        waited_ms=$(($(now_ms) - start))
        [ "$have" -ge "$2" ] && return 0
        [ "$waited_ms" -ge "$3" ] && return 1
        kill -0 "$batch_pid" 2>/dev/null || {
            sleep 0.1
            have=$(wc -l < "$1")
            [ "$have" -ge "$2" ]
            return
        }
        sleep 0.02
    done
}

# Feeds one phase: writes its requests, waits for their results, reports.
phase() { # label description wait-ms requests (IP FROM HELO<TAB>RESULT [MECH] lines)
    local label=$1 what=$2 limit=$3 request outcome result mech n=0
    while IFS=$'\t' read -r request outcome; do
        result=${outcome%% *}
        mech=
        [ "$outcome" != "$result" ] && mech=" ${outcome#* }"
        echo "$request" >&3
        echo "$result $request$mech" >> "$workdir/$label.expected"
        n=$((n + 1))
    done <<< "$4"
    local want
    want=$(wc -l < "$workdir/$label.expected")
    if ! wait_lines "$workdir/$label.out" "$want" "$limit"; then
        report 0 "$label: $what: $n results within $limit ms" \
            "got $(wc -l < "$workdir/$label.out") of $want lines after ${waited_ms} ms
stderr: $(head -c 800 "$workdir/$label.err")"
        return 1
    fi
    local got
    got=$(tail -n "$n" "$workdir/$label.out")
    if [ "$got" = "$(tail -n "$n" "$workdir/$label.expected")" ]; then
        report 1 "$label: $what (${waited_ms} ms)"
    else
        report 0 "$label: $what" "expected:
$(tail -n "$n" "$workdir/$label.expected")
got:
$got"
    fi
}

test_server_stops() { # bin label
    local bin=$1 label=$2
    rm -f "$workdir/$label.fifo"
    mkfifo "$workdir/$label.fifo"
    : > "$workdir/$label.expected"
    start_unbound || return
    # Line-buffered stdout so each phase's results can be seen as they come.
    stdbuf -oL timeout -k 2 40 "$bin" spf batch --dns-server 127.0.0.1:53 --dns-timeout 300 \
        --dns-tries 1 --concurrency 1 < "$workdir/$label.fifo" \
        > "$workdir/$label.out" 2> "$workdir/$label.err" &
    batch_pid=$!
    exec 3> "$workdir/$label.fifo"

    phase "$label" "server up: correct results" 3000 "$(printf '%s\n' \
        "192.0.2.1 u@ra1.test h.example	pass a:h.ra1.test" \
        "192.0.2.2 u@ra2.test h.example	pass a:h.ra2.test" \
        "203.0.113.1 u@ra1.test h.example	fail -all" \
        "192.0.2.3 u@ra3.test h.example	pass a:h.ra3.test")"

    stop_unbound
    phase "$label" "server killed (port closed): temperror, each quickly" 3000 "$(printf '%s\n' \
        "192.0.2.1 u@rb1.test h.example	temperror" \
        "192.0.2.2 u@rb2.test h.example	temperror" \
        "192.0.2.3 u@rb3.test h.example	temperror")"

    start_unbound || report 0 "$label: unbound restarts"
    phase "$label" "server back: the failed names now pass (errors not cached), new and cached ones too" 3000 \
        "$(printf '%s\n' \
        "192.0.2.1 u@rb1.test h.example	pass a:h.rb1.test" \
        "192.0.2.2 u@rb2.test h.example	pass a:h.rb2.test" \
        "192.0.2.3 u@rb3.test h.example	pass a:h.rb3.test" \
        "192.0.2.1 u@rc1.test h.example	pass a:h.rc1.test" \
        "192.0.2.2 v@ra2.test h.example	pass a:h.ra2.test")"

    kill -STOP "$unbound_pid"
    # Three lines, one 300 ms timeout each: about 0.9 s.
    phase "$label" "server frozen (silent): temperror, each within the timeout" 2500 "$(printf '%s\n' \
        "192.0.2.1 u@rd1.test h.example	temperror" \
        "192.0.2.2 u@rd2.test h.example	temperror" \
        "192.0.2.3 u@rd3.test h.example	temperror")"

    kill -CONT "$unbound_pid"
    phase "$label" "server thawed: correct results again" 3000 "$(printf '%s\n' \
        "192.0.2.1 u@rd1.test h.example	pass a:h.rd1.test" \
        "192.0.2.3 u@rd3.test h.example	pass a:h.rd3.test" \
        "192.0.2.1 u@re1.test h.example	pass a:h.re1.test" \
        "203.0.113.1 u@rb2.test h.example	fail -all")"

    local start
    start=$(now_ms)
    exec 3>&-
    wait "$batch_pid"
    rc=$?
    batch_pid=
    elapsed_ms=$(($(now_ms) - start))
    local problems
    problems=$(run_problems "$label")
    if [ -z "$problems" ] && [ "$elapsed_ms" -lt 2000 ] && cmp -s "$workdir/$label.expected" "$workdir/$label.out"; then
        report 1 "$label: exits 0 at end of input (${elapsed_ms} ms), every line in order"
    else
        report 0 "$label: exits 0 at end of input (< 2000 ms), every line in order" \
            "took ${elapsed_ms} ms${problems:+
$problems}
$(diff "$workdir/$label.expected" "$workdir/$label.out" | head -n 20)"
    fi
}

# With many in flight, results must come while stdin is still open.
test_window_idle_stdin() {
    local label=window
    rm -f "$workdir/$label.fifo"
    mkfifo "$workdir/$label.fifo"
    stdbuf -oL timeout -k 2 20 "$domauth_bin" spf batch --dns-server 127.0.0.1:53 \
        --dns-timeout 1000 --dns-tries 1 --concurrency 20 < "$workdir/$label.fifo" \
        > "$workdir/$label.out" 2> "$workdir/$label.err" &
    batch_pid=$!
    exec 3> "$workdir/$label.fifo"
    printf '%s\n' "192.0.2.1 u@rw1.test h.example" "192.0.2.2 u@rw2.test h.example" \
        "192.0.2.3 u@rw3.test h.example" >&3
    local ok=1 why=
    if ! wait_lines "$workdir/$label.out" 3 2500; then
        ok=0
        why="no result after ${waited_ms} ms while stdin stayed open (got $(wc -l < "$workdir/$label.out") of 3)"
    fi
    exec 3>&-
    wait "$batch_pid"
    rc=$?
    batch_pid=
    printf '%s\n' "pass 192.0.2.1 u@rw1.test h.example a:h.rw1.test" \
        "pass 192.0.2.2 u@rw2.test h.example a:h.rw2.test" \
        "pass 192.0.2.3 u@rw3.test h.example a:h.rw3.test" > "$workdir/$label.expected"
    local diffs
    diffs=$(output_diff "$label")
    [ -n "$diffs" ] && { ok=0; why="${why:+$why
}after end of input: $diffs"; }
    report "$ok" "20 in flight, stdin open but idle for 2.5 s: the 3 results arrive meanwhile, and pass" \
        "$why"
}

# 7. Under AddressSanitizer.
test_asan() {
    local asan=${DOMAUTH_ASAN_BIN:-$repo_root/build-asan/cli/domauth}
    if [ "$asan" = none ] || [ ! -x "$asan" ]; then
        skip "ASan: bulk, garbage and server-stops runs" "no ASan build (build-asan/cli/domauth; make check-asan)"
        return
    fi
    if ! "$asan" spf batch --help > /dev/null 2>&1; then
        skip "ASan: bulk, garbage and server-stops runs" "$asan has no 'spf batch' (stale ASan tree; ninja -C build-asan)"
        return
    fi
    [ "$asan" -ot "$domauth_bin" ] && echo "# note: $asan is older than $domauth_bin (rebuild: ninja -C build-asan)"
    export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    batch_limit=40
    test_bulk "$asan" "ASan"
    test_garbage "$asan" "ASan"
    test_deadline "$asan" "ASan"
    test_server_stops "$asan" "ASan server stops"
    batch_limit=25
    unset ASAN_OPTIONS UBSAN_OPTIONS
}

# ------------------------------------------------------------------ main

main_in_namespace() {
    workdir=$(mktemp -d /tmp/domauth-async-dns.XXXXXX) || exit 1
    trap cleanup EXIT
    trap 'exit 1' INT TERM HUP
    ip link set lo up || { echo "Bail out! cannot bring up lo"; exit 1; }
    write_zone
    start_unbound || { echo "Bail out! unbound does not start"; exit 1; }
    # 127.0.0.2: misbehaves by name; 127.0.0.3: SERVFAIL to everything.
    start_fake 127.0.0.2 53 --delay 300 || { echo "Bail out! fake DNS server does not start"; exit 1; }
    start_fake 127.0.0.3 53 --all servfail || { echo "Bail out! fake DNS server does not start"; exit 1; }
    local t0
    t0=$(now_ms)
    test_bulk "$domauth_bin" domauth
    test_servfail
    test_timeouts
    test_deadline "$domauth_bin" domauth
    test_truncation
    test_garbage "$domauth_bin" domauth
    test_server_stops "$domauth_bin" "server stops"
    start_unbound || echo "# unbound does not restart"
    test_window_idle_stdin
    test_asan
    echo "# total $(($(now_ms) - t0)) ms"
    echo "1..$count"
    [ "$failed" -eq 0 ]
}

if [ "${DOMAUTH_ASYNC_DNS_INSIDE:-}" = 1 ]; then
    python=$DOMAUTH_ASYNC_DNS_PYTHON
    main_in_namespace
    exit $?
fi

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespace, port 53)"
for tool in unshare unbound ip timeout stdbuf mkfifo; do
    command -v "$tool" > /dev/null || skip_all "$tool not installed"
done
unshare -n true 2>/dev/null || skip_all "unshare -n not permitted here"
python=$(command -v python3) || skip_all "python3 not installed"
[ -f "$fake_dns" ] || skip_all "$fake_dns missing"
if [ ! -x "$domauth_bin" ]; then
    echo "Bail out! domauth binary not found at $domauth_bin (build first or set DOMAUTH_BIN)"
    exit 1
fi
domauth_bin=$(cd "$(dirname "$domauth_bin")" && pwd)/$(basename "$domauth_bin")
"$domauth_bin" spf batch --help > /dev/null 2>&1 || skip_all "$domauth_bin has no 'spf batch'"

DOMAUTH_ASYNC_DNS_INSIDE=1 DOMAUTH_ASYNC_DNS_PYTHON=$python DOMAUTH_BIN=$domauth_bin \
    exec unshare -n -- bash "${BASH_SOURCE[0]}"
