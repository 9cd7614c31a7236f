#!/bin/bash
# postfix_e2e.sh: domauthd end to end behind a real Postfix, inside a private
# network namespace (unshare -n -m: only lo, and /etc/resolv.conf bind-mounted
# to point at 127.0.0.1):
#   - unbound, authoritative for a test zone written here (pass, fail,
#     softfail, neutral, none, permerror, exp=, HELO names, a dropped name,
#     wildcards for the load test);
#   - a private Postfix instance (postfix -c DIR) with three smtpd listeners:
#     127.0.0.1:2525 with domauthd as a milter (milter_default_action =
#     accept), 127.0.0.1:2526 with domauthd as a policy service, and
#     127.0.0.1:2527 with the milter on a unix socket (milter_default_action
#     = tempfail); delivery to one Maildir, nothing leaves;
#   - domauthd in the foreground, configured per scenario (restarted, or
#     reloaded with SIGHUP);
#   - swaks, posing with XCLIENT as any client IP, HELO and SASL login.
# Every scenario checks the SMTP reply (code and text), the delivered
# message's headers and the event (JSON lines file and `domauth log`), in
# milter and in policy mode. The robustness part (tests/e2e/smtp_load.py):
# 200 concurrent sessions, the DNS server stopped mid-run, domauthd killed
# with SIGKILL under load (accept and tempfail default actions) and restarted.
#
# Needs root, unshare, ip, unbound, postfix, swaks, python3. Output is TAP.
# Environment: DOMAUTH_BIN, DOMAUTHD_BIN (default build/cli/domauth and
# build/daemon/domauthd); E2E_PARTS ("functional robustness" by default;
# also "defaults", "quarantine", "srs", "redirect": one scenario);
# E2E_KEEP=1 keeps the work directory (its path is printed).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
helper=$here/e2e_helper.py
metrics_client=$here/../daemon/metrics_client.py
loader=$here/smtp_load.py
. "$here/../lib/postfix.sh"

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

# Ports inside the namespace.
MILTER_SMTP=2525   # smtpd with the inet milter, milter_default_action = accept
POLICY_SMTP=2526   # smtpd with check_policy_service
TEMPFAIL_SMTP=2527 # smtpd with the unix-socket milter, milter_default_action = tempfail
SRS_SMTP=2528      # smtpd whose cleanup asks domauthd's SRS socketmap (no milter)
SINK_SMTP=2529     # smtp_sink.py: the "remote" hosts mail to remote.test goes to
PLAIN_SMTP=2530    # smtpd with no check: the check-auth responder's mailbox is behind it
MILTER_PORT=8895
POLICY_PORT=10045
METRICS_PORT=9895

# --------------------------------------------------------------- TAP

count=0
failed=0
todo=0

diag() {
    sed 's/^/#   /'
}

# The current message's id, for diagnostics.
cur=

# Everything known about message $cur: the transcript tail, the delivered
# header block, the event.
diagnose() {
    [ -n "$cur" ] || return 0
    if [ -f "$W/swaks/$cur.out" ]; then
        echo "swaks transcript (tail):"
        tail -n 14 "$W/swaks/$cur.out"
    fi
    local f
    f=$(message_file "$cur")
    if [ -n "$f" ]; then
        echo "delivered headers:"
        "$py" "$helper" headers "$f"
    else
        echo "delivered: no message with id $cur"
    fi
    echo "event: $("$py" "$helper" event "$W/da/events.jsonl" "$cur" || echo none)"
}

# t DESCRIPTION COMMAND...: one test point; the command's output is shown
# as diagnostics when it fails, with what is known about message $cur.
t() {
    local desc=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    count=$((count + 1))
    if [ "$rc" = 0 ]; then
        echo "ok $count - $desc"
    else
        failed=$((failed + 1))
        echo "not ok $count - $desc"
        { [ -n "$out" ] && printf '%s\n' "$out"; diagnose; } | diag
    fi
}

# t_todo REASON DESCRIPTION COMMAND...: a known bug (reported): while it
# fails, "not ok ... # TODO bug: REASON", which does not fail the suite; once
# it passes, a plain "ok" (meson would count "ok # TODO" as an unexpected
# pass).
t_todo() {
    local reason=$1 desc=$2 out rc
    shift 2
    out=$("$@" 2>&1)
    rc=$?
    count=$((count + 1))
    if [ "$rc" = 0 ]; then
        echo "ok $count - $desc"
        [ -n "${todo_quiet:-}" ] ||
            echo "# (the known bug \"$reason\" no longer shows: remove its TODO)"
    else
        todo=$((todo + 1))
        echo "not ok $count - $desc # TODO bug: $reason"
        { [ -n "$out" ] && printf '%s\n' "$out"; diagnose; } | diag
    fi
}

# ------------------------------------------------------------- helpers

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

wait_for() { # tenths-of-seconds command...: polls until the command succeeds
    local n=$1
    shift
    while [ "$n" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

port_open() { # port
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ------------------------------------------------------------- unbound

unbound_pid=

write_zone() {
    cat > "$W/dns/zone" <<'EOF'
$TTL 300
. 300 IN SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 300
. 300 IN NS ns.invalid.
pass.test.            300 IN TXT "v=spf1 ip4:192.0.2.10 ip4:10.0.0.0/8 ip6:2001:db8::/32 -all"
fail.test.            300 IN TXT "v=spf1 ip4:198.51.100.1 -all"
soft.test.            300 IN TXT "v=spf1 ip4:198.51.100.1 ~all"
neutral.test.         300 IN TXT "v=spf1 ip4:198.51.100.1 ?all"
none.test.            300 IN A   198.51.100.1
perm.test.            300 IN TXT "v=spf1 ip4:198.51.100.1 bogus:x -all"
exp.test.             300 IN TXT "v=spf1 ip4:198.51.100.1 -all exp=why.exp.test"
why.exp.test.         300 IN TXT "%{i} may not send mail for %{d}, ask postmaster@%{d}"
mail.pass.test.       300 IN TXT "v=spf1 ip4:192.0.2.10 -all"
mail.helofail.test.   300 IN TXT "v=spf1 -all"
*.ok.load.test.       300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
*.bad.load.test.      300 IN TXT "v=spf1 ip4:198.51.100.1 -all"
EOF
}

start_unbound() {
    cat > "$W/dns/unbound.conf" <<EOF
server:
  interface: 127.0.0.1@53
  do-daemonize: no
  use-syslog: no
  logfile: "$W/dns/unbound.log"
  chroot: ""
  username: ""
  directory: "$W/dns"
  pidfile: "$W/dns/unbound.pid"
  module-config: "iterator"
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  minimal-responses: yes
  verbosity: 1
  local-zone: "test." nodefault
  local-zone: "drop.test." deny
auth-zone:
  name: "."
  zonefile: "$W/dns/zone"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
EOF
    : > "$W/dns/unbound.log"
    unbound -d -c "$W/dns/unbound.conf" >> "$W/dns/unbound.log" 2>&1 &
    unbound_pid=$!
    wait_for 50 grep -q "start of service" "$W/dns/unbound.log" && return 0
    echo "# unbound did not start:"
    diag < "$W/dns/unbound.log"
    return 1
}

stop_unbound() {
    [ -n "$unbound_pid" ] || return 0
    kill "$unbound_pid" 2>/dev/null
    wait "$unbound_pid" 2>/dev/null
    unbound_pid=
}

# ------------------------------------------------------------- postfix

postfix_up=

start_postfix() {
    local pf=$W/pf uid gid
    uid=$(id -u postfix) gid=$(id -g postfix)
    mkdir -p "$pf/queue" "$pf/data" "$W/mail"
    chown postfix:postfix "$pf/data" "$W/mail"
    cat > "$pf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
maillog_file = $pf/maillog
maillog_file_prefixes = $W
myhostname = mx.e2e.test
mydomain = e2e.test
myorigin = e2e.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = all
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
virtual_mailbox_domains = dest.test strict.test sub.strict.test
virtual_mailbox_base = $W/mail
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_minimum_uid = 1
default_transport = error:e2e test: nothing leaves this instance
relay_transport = error:e2e test: nothing leaves this instance
# SRS: mail to fwd@dest.test is forwarded off-site (to the sink); mail to
# outside.test and remote.test goes to the sink too, nowhere else (and to
# srs.e2e.test, which smtpd must accept: cleanup reverses it after).
virtual_alias_maps = inline:{ fwd@dest.test=bob@remote.test }
transport_maps = inline:{ remote.test=smtp:[127.0.0.1]:$SINK_SMTP, outside.test=smtp:[127.0.0.1]:$SINK_SMTP, srs.e2e.test=smtp:[127.0.0.1]:$SINK_SMTP, check-auth@dest.test=checkauth: }
relay_domains = remote.test outside.test srs.e2e.test
smtpd_authorized_xclient_hosts = 127.0.0.1
smtpd_sasl_auth_enable = yes
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
e2e_policy = check_policy_service inet:127.0.0.1:$POLICY_PORT
smtpd_policy_service_timeout = 30s
smtpd_policy_service_default_action = 451 4.3.5 e2e: policy service unavailable
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_peername_lookup = no
in_flow_delay = 0
default_process_limit = 300
milter_connect_timeout = 5s
milter_command_timeout = 30s
biff = no
delay_warning_time = 0
smtputf8_enable = no
EOF
    cat > "$pf/master.cf" <<EOF
127.0.0.1:$MILTER_SMTP inet n - n - 250 smtpd
  -o syslog_name=postfix/milter
  -o smtpd_milters=inet:127.0.0.1:$MILTER_PORT
  -o milter_default_action=accept
127.0.0.1:$POLICY_SMTP inet n - n - 250 smtpd
  -o syslog_name=postfix/policy
  -o smtpd_recipient_restrictions=\$e2e_policy
127.0.0.1:$TEMPFAIL_SMTP inet n - n - 250 smtpd
  -o syslog_name=postfix/tempfail
  -o smtpd_milters=unix:$W/da/milter.sock
  -o milter_default_action=tempfail
127.0.0.1:$SRS_SMTP inet n - n - 20 smtpd
  -o syslog_name=postfix/srs
  -o cleanup_service_name=srscleanup
127.0.0.1:$PLAIN_SMTP inet n - n - 20 smtpd
  -o syslog_name=postfix/plain
# The check-auth responder: a pipe(8) transport for check-auth@dest.test.
checkauth unix - n n - 4 pipe
  user=nobody null_sender= argv=$W/ca/run --sender \${sender} --recipient \${recipient} --client-ip \${client_address} --helo \${client_helo}
srscleanup unix n - n - 0 cleanup
  -o syslog_name=postfix/srscleanup
  -o sender_canonical_maps=socketmap:unix:$W/da/srs.sock:forward
  -o sender_canonical_classes=envelope_sender
  -o recipient_canonical_maps=socketmap:unix:$W/da/srs.sock:reverse
  -o recipient_canonical_classes=envelope_recipient
$(pf_master_services)
EOF
    postfix_up=1
    pf_start "$pf" $MILTER_SMTP $POLICY_SMTP $TEMPFAIL_SMTP $SRS_SMTP $PLAIN_SMTP
}

stop_postfix() {
    [ -n "$postfix_up" ] || return 0
    pf_stop "$W/pf"
    postfix_up=
}

# ------------------------------------------------------------- domauthd

da_pid=
da_log=

# write_conf FILE [daemon-key-lines]: the [daemon] section for the tests,
# with any further sections read from stdin.
write_conf() {
    local milter=${DA_MILTER:-inet:127.0.0.1:$MILTER_PORT}
    {
        cat <<EOF
; written by tests/e2e/postfix_e2e.sh
[daemon]
milter = $milter
; a private control socket: the package test uses /run/domauth
control = unix:$W/da/control.sock
policy = inet:127.0.0.1:$POLICY_PORT
socket_mode = 0666
pidfile = $W/da/domauthd.pid
dns_servers = 127.0.0.1
dns_timeout_ms = ${DA_DNS_TIMEOUT:-500}
dns_tries = 1
spf_deadline_ms = ${DA_DEADLINE:-5000}
event_log = $W/da/events.jsonl
database = $W/da/events.db
syslog = no
authserv_id = e2e.test
receiver = mx.e2e.test
${2:-}
EOF
        cat
    } > "$1"
}

# start_da CONFIG: domauthd -f in the background; waits until it listens.
da_from=0
start_da() {
    stop_da
    da_log=$W/da/domauthd.log
    touch "$da_log"
    da_from=$(($(wc -l < "$da_log") + 1))
    "$domauthd_bin" -f -c "$1" >> "$da_log" 2>&1 &
    da_pid=$!
    if ! wait_for 50 da_started; then
        echo "# domauthd did not start:"
        tail -n +"$da_from" "$da_log" | tail -n 20 | diag
        return 1
    fi
}

# Whether domauthd's last start logged "started" (and it still runs).
da_started() {
    tail -n +"$da_from" "$da_log" | grep -q "domauthd .* started" && da_alive
}

stop_da() {
    [ -n "$da_pid" ] || return 0
    kill -TERM "$da_pid" 2>/dev/null
    wait_for 120 sh -c "! kill -0 $da_pid 2>/dev/null" || kill -9 "$da_pid" 2>/dev/null
    wait "$da_pid" 2>/dev/null
    da_pid=
}

da_alive() {
    [ -n "$da_pid" ] && kill -0 "$da_pid" 2>/dev/null
}

# ------------------------------------------------------------- SMTP

# smtp ID PORT FROM TO [swaks args...]: one message; the client is $ip
# with HELO $helo (set them on the command line: ip=... helo=... smtp ...).
# The transcript is in $W/swaks/ID.out.
smtp() {
    local id=$1 port=$2 from=$3 to=$4
    shift 4
    cur=$id
    local tos=()
    [ -n "$to" ] && tos=(--to "$to")
    swaks --server "127.0.0.1:$port" --timeout 30 \
        --xclient-addr "${ip:-192.0.2.10}" --xclient-helo "${helo:-mail.pass.test}" \
        --helo "${helo:-mail.pass.test}" \
        --from "$from" "${tos[@]}" \
        --header "Subject: e2e $id" --header "Message-Id: <$id@e2e.test>" \
        --body "e2e test message $id" "$@" > "$W/swaks/$id.out" 2>&1
    return 0
}

# The first reply to COMMAND (mail, rcpt, data, eod = end of data).
reply_to() { # id stage
    local re
    case $2 in
    mail) re='^ -> MAIL FROM:' ;;
    rcpt) re='^ -> RCPT TO:' ;;
    data) re='^ -> DATA$' ;;
    eod) re='^ -> \.$' ;;
    esac
    awk -v re="$re" 'found && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print; exit }
                     $0 ~ re { found = 1 }' "$W/swaks/$1.out"
}

# The reply that settled the message: the first error, else the one to the
# end of data.
final_reply() { # id
    local r
    r=$(grep -m 1 '^<\*\* ' "$W/swaks/$1.out" | sed 's/^<\*\* *//')
    [ -n "$r" ] || r=$(reply_to "$1" eod)
    printf '%s\n' "$r"
}

# reply_is ID STAGE PREFIX: the reply to STAGE starts with PREFIX. Postfix
# puts "<address>: Recipient address rejected: " before the text of a policy
# service (and of its own restrictions); that is left out before comparing.
reply_is() {
    local got
    got=$(reply_to "$1" "$2" |
        sed -E 's/^([0-9]{3}( [245]\.[0-9]+\.[0-9]+)?) <[^>]*>: (Recipient|Sender) address rejected: /\1 /')
    case $got in
    "$3"*) return 0 ;;
    esac
    echo "reply to $2: got '$got', want '$3...'"
    return 1
}

# t_eom DESCRIPTION COMMAND...: a test of what the milter does at the end of
# the message (headers added or removed, subject, end-of-DATA reply).
t_eom() {
    t "$@"
}

# settled ID PREFIX: the message was settled by a reply starting with PREFIX
# (250 = queued).
settled() {
    local got
    got=$(final_reply "$1")
    case $got in
    "$2"*) return 0 ;;
    esac
    echo "final reply: got '$got', want '$2...'"
    return 1
}

message_file() { # id: the delivered file, if any
    grep -rlF -- "<$1@e2e.test>" "$W/mail/box/new" "$W/mail/box/cur" 2>/dev/null | head -n 1
}

has_message_file() { test -n "$(message_file "$1")"; }

delivered() { # id: waits up to 10 s for the message to be delivered
    # The file is looked for at each poll (a "$(...)" argument to wait_for
    # would be evaluated once, before the wait).
    wait_for 100 has_message_file "$1" || { echo "not delivered"; return 1; }
}

# header_has ID REGEX: a header line (unfolded) matches the extended regex.
header_has() {
    local f
    delivered "$1" || return 1
    f=$(message_file "$1")
    "$py" "$helper" headers "$f" | grep -Eq -- "$2" && return 0
    echo "no header matching /$2/"
    return 1
}

header_lacks() {
    local f
    delivered "$1" || return 1
    f=$(message_file "$1")
    "$py" "$helper" headers "$f" | grep -Eq -- "$2" || return 0
    echo "unexpected header matching /$2/:"
    "$py" "$helper" headers "$f" | grep -E -- "$2"
    return 1
}

header_count() { # id regex n
    local f n
    delivered "$1" || return 1
    f=$(message_file "$1")
    n=$("$py" "$helper" headers "$f" | grep -Ec -- "$2")
    [ "$n" = "$3" ] && return 0
    echo "$n headers match /$2/, want $3"
    return 1
}

# event_is ID RCPT FIELD=VALUE...: the last event of message ID (or of
# recipient RCPT when not empty) has these fields (FIELD~TEXT: contains).
event_is() {
    local id=$1 rcpt=$2
    shift 2
    wait_for 30 "$py" "$helper" event "$W/da/events.jsonl" "$id" "$rcpt" ||
        { echo "no event for $id${rcpt:+ ($rcpt)}"; return 1; }
    "$py" "$helper" match "$W/da/events.jsonl" "$id" "$rcpt" "$@"
}

no_event() { # id: nothing was logged for message ID
    sleep 0.3
    if "$py" "$helper" event "$W/da/events.jsonl" "$1" >/dev/null; then
        echo "unexpected event"
        return 1
    fi
}

# db_has ID FILTER-ARGS -- FIELD=VALUE...: `domauth log --database ... --json
# FILTER-ARGS` lists message ID's event with these fields.
db_has() {
    local id=$1 args=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    shift
    local n
    # shellcheck disable=SC2016
    wait_for 30 bash -c '"$1" log --database "$2" --json --limit 0 "${@:4}" | grep -q "$3"' _ \
        "$domauth_bin" "$W/da/events.db" "\"$id@" "${args[@]}" ||
        { echo "domauth log ${args[*]}: no event for $id"; return 1; }
    "$domauth_bin" log --database "$W/da/events.db" --json --limit 0 "${args[@]}" |
        grep "\"$id@" > "$W/db-$id.json"
    n=$("$py" "$helper" dbcount "$W/db-$id.json" "$@")
    [ "$n" -ge 1 ] && return 0
    echo "domauth log ${args[*]} lists $id but not with $*:"
    cat "$W/db-$id.json"
    return 1
}

log_has() { # regex: domauthd's own log (stderr) has a line matching
    grep -Eq -- "$1" "$da_log" && return 0
    echo "domauthd log has no line matching /$1/; tail:"
    tail -n 10 "$da_log"
    return 1
}

# ------------------------------------------------------------- scenarios

# Which SMTP port a mode uses.
port_of() {
    case $1 in
    milter) echo "$MILTER_SMTP" ;;
    policy) echo "$POLICY_SMTP" ;;
    esac
}

# 1. Defaults (monitor = yes): every result goes through with its headers;
# what enforcement would have done is in the log.
scenario_defaults() {
    local conf=$W/da/defaults.conf
    # The metrics endpoint is scraped at the end (issue 17 item 7): its
    # counts must be those of this scenario's events.
    write_conf "$conf" "metrics = 127.0.0.1:$METRICS_PORT" </dev/null
    local events_from=$(($(cat "$W/da/events.jsonl" 2>/dev/null | wc -l) + 1))
    start_da "$conf" || { t "domauthd starts with the default policy" false; return; }
    t "domauthd -t accepts the test configuration" "$domauthd_bin" -t -c "$conf"
    t "pidfile holds domauthd's pid" sh -c "[ \"\$(cat $W/da/domauthd.pid)\" = $da_pid ]"
    local mode p id tm
    for mode in milter policy; do
        p=$(port_of $mode)

        id=d-pass-$mode
        ip=192.0.2.10 helo=mail.pass.test smtp $id "$p" "$id@pass.test" "$id@dest.test"
        t "$mode: pass is queued" settled $id 250
        tm=t
        [ $mode = milter ] && tm=t_eom
        $tm "$mode: pass: Received-SPF: pass added" header_has $id \
            "^Received-SPF: pass \\(mx\\.e2e\\.test: .*\\) client-ip=192\\.0\\.2\\.10; envelope-from=\"?$id@pass\\.test\"?; helo=mail\\.pass\\.test; receiver=mx\\.e2e\\.test; identity=mailfrom"
        if [ $mode = milter ]; then
            $tm "$mode: pass: Authentication-Results added with our authserv-id" \
                header_has $id "^Authentication-Results: e2e\\.test; spf=pass (\\(.*\\) )?smtp\\.mailfrom=$id@pass\\.test"
            $tm "$mode: pass: score header X-Domauth-Score: 0.0" header_has $id '^X-Domauth-Score: 0\.0$'
        else
            t "$mode: one header per message: no Authentication-Results beside Received-SPF" \
                header_lacks $id '^Authentication-Results:'
        fi
        t "$mode: pass: event" event_is $id "" listener=$mode result=pass action=accept \
            identity=mailfrom domain=pass.test client_ip=192.0.2.10 helo=mail.pass.test \
            held_action=null skip_reason=null rcpt=$id@dest.test mechanism~ip4:192.0.2.10

        id=d-fail-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@dest.test"
        t "$mode: monitor: fail is queued all the same" settled $id 250
        $tm "$mode: monitor: fail: Received-SPF: fail" header_has $id '^Received-SPF: fail '
        t "$mode: monitor: fail: event says reject was held back" event_is $id "" result=fail \
            action=accept held_action=reject score=5 'reply~550 5.7.23 fail.test does not designate 192.0.2.10'
        # The milter's event is written at the end of the message, when
        # Postfix has assigned the queue id; a policy request at RCPT has none.
        if [ $mode = milter ]; then
            t "$mode: the event has the queue id (written at the end of the message)" \
                event_is $id "" 'queue_id!=null'
        else
            t "$mode: queue_id unknown at RCPT is NULL" event_is $id "" queue_id=null
        fi
        t "$mode: monitor: domauth log --action reject lists the held-back reject" \
            db_has $id --action reject --result fail -- held_action=reject action=accept listener=$mode
        [ $mode = milter ] && t "$mode: monitor: no subject tag" header_has $id "^Subject: e2e $id\$"

        id=d-soft-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@soft.test" "$id@dest.test"
        t "$mode: softfail is queued" settled $id 250
        $tm "$mode: softfail: Received-SPF: softfail" header_has $id '^Received-SPF: softfail '
        [ $mode = milter ] && $tm "$mode: softfail: score 2.0" header_has $id '^X-Domauth-Score: 2\.0$'
        t "$mode: softfail: event" event_is $id "" result=softfail action=accept held_action=null score=2

        id=d-none-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@none.test" "$id@dest.test"
        t "$mode: none is queued" settled $id 250
        t "$mode: none: no Received-SPF (received_spf_skip_none)" header_lacks $id '^Received-SPF:'
        $tm "$mode: none: Authentication-Results spf=none instead" \
            header_has $id "^Authentication-Results: e2e\\.test; spf=none (\\(.*\\) )?smtp\\.mailfrom=$id@none\\.test(;|\$)"
        t "$mode: none: event" event_is $id "" result=none action=accept domain=none.test

        id=d-neutral-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@neutral.test" "$id@dest.test"
        $tm "$mode: neutral is queued, Received-SPF: neutral" header_has $id '^Received-SPF: neutral '
        t "$mode: neutral: event" event_is $id "" result=neutral action=accept

        id=d-perm-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@perm.test" "$id@dest.test"
        $tm "$mode: permerror is queued, Received-SPF: permerror" header_has $id '^Received-SPF: permerror '
        t "$mode: permerror: event names the problem" event_is $id "" result=permerror problem~bogus

        id=d-temp-$mode
        local t0 t1
        t0=$(now_ms)
        ip=192.0.2.10 smtp $id "$p" "$id@drop.test" "$id@dest.test"
        t1=$(now_ms)
        t "$mode: temperror (the DNS server drops the name) is accepted by default" settled $id 250
        $tm "$mode: temperror: Received-SPF: temperror" header_has $id '^Received-SPF: temperror '
        t "$mode: temperror: event" event_is $id "" result=temperror action=accept held_action=null
        t "$mode: temperror: the session took under 5 s ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 5000

        id=d-auth-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@dest.test" --xclient-login alice
        t "$mode: authenticated (XCLIENT LOGIN) fail is queued" settled $id 250
        t "$mode: authenticated: skipped, event skip_reason=authenticated" \
            event_is $id "" skip_reason=authenticated result=null identity=null action=accept
        t "$mode: authenticated: no Received-SPF" header_lacks $id '^Received-SPF:'
        t "$mode: domauth log --skip lists the authenticated session" \
            db_has $id --skip -- skip_reason=authenticated

        id=d-loop-$mode
        ip=127.0.0.1 smtp $id "$p" "$id@fail.test" "$id@dest.test"
        t "$mode: loopback client skipped by default (skip_reason=local)" \
            event_is $id "" skip_reason=local client_ip=127.0.0.1 result=null

        id=d-lan-$mode
        ip=10.1.2.3 smtp $id "$p" "$id@fail.test" "$id@dest.test"
        t "$mode: LAN client 10.1.2.3 skipped by default (skip_reason=local)" \
            event_is $id "" skip_reason=local result=null

        id=d-null-$mode
        ip=192.0.2.10 helo=mail.helofail.test smtp $id "$p" "<>" "$id@dest.test"
        t "$mode: null sender: the HELO identity is checked" event_is $id "$id@dest.test" \
            identity=helo domain=mail.helofail.test result=fail held_action=reject mail_from=
    done

    # Forged Authentication-Results (milter only).
    id=d-forged
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@dest.test" \
        --add-header "Authentication-Results: e2e.test; spf=pass smtp.mailfrom=forged.example" \
        --add-header "Authentication-Results: other.example; spf=fail smtp.mailfrom=kept.example" \
        --add-header "Authentication-Results: (comment) E2E.TEST; dkim=pass header.d=forged2.example"
    t "milter: message with forged Authentication-Results is queued" settled $id 250
    t_eom "milter: forged Authentication-Results claiming e2e.test removed" \
        header_lacks $id 'forged\.example|forged2\.example'
    t "milter: Authentication-Results of another authserv-id kept" \
        header_has $id '^Authentication-Results: other\.example; spf=fail smtp\.mailfrom=kept\.example'
    t_eom "milter: exactly one Authentication-Results of ours (the real one)" \
        header_count $id '^Authentication-Results: e2e\.test;' 1
    t_eom "milter: ours says pass" header_has $id "^Authentication-Results: e2e\\.test; spf=pass (\\(.*\\) )?smtp\\.mailfrom=$id@pass\\.test"

    # The scrape: every message of this scenario, milter and policy, as
    # its events say (policy events may follow their last request by 2 s).
    t "metrics: /metrics after the scenario: the counts match its events" \
        metrics_settled "$events_from"
}

# metrics_match FIRST-EVENT-LINE: a scrape of $METRICS_PORT agrees with the
# event log from that line on (tests/daemon/metrics_client.py).
metrics_match() {
    "$py" "$metrics_client" scrape 127.0.0.1 "$METRICS_PORT" > "$W/da/metrics.json" || return 1
    "$py" "$metrics_client" compare "$W/da/metrics.json" "$W/da/events.jsonl" "$1"
}

# Polls for 5 s; the last try says what differs.
metrics_settled() {
    wait_for 50 metrics_match "$1" || metrics_match "$1"
}

# 2. Enforcement with custom actions and replies.
scenario_enforce() {
    local conf=$W/da/enforce.conf
    write_conf "$conf" <<'EOF'
[policy]
monitor = no
fail_reply = 554 5.7.1 SPF says no: %{explanation}
softfail_action = defer
softfail_reply = 451 4.7.23 Try later: %{domain} softfails for %{ip}
neutral_action = reject
neutral_reply = 550 5.7.23 %{result} is not enough for %{sender}
permerror_action = defer
permerror_reply = 451 4.7.24 Broken record at %{domain}
temperror_action = defer
[domain strict.test]
none_action = reject
EOF
    start_da "$conf" || { t "domauthd starts with the enforcing policy" false; return; }
    local mode p id tm
    for mode in milter policy; do
        p=$(port_of $mode)
        id=e-pass-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@pass.test" "$id@dest.test"
        t "$mode: enforce: pass is queued" settled $id 250

        id=e-fail-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@dest.test"
        t "$mode: enforce: fail rejected at RCPT with the custom 554 reply" reply_is $id rcpt \
            "554 5.7.1 SPF says no: fail.test does not designate 192.0.2.10 as a permitted sender"
        t "$mode: enforce: fail event action=reject, nothing held" event_is $id "" result=fail \
            action=reject held_action=null 'reply=554 5.7.1 SPF says no: fail.test does not designate 192.0.2.10 as a permitted sender'
        t "$mode: enforce: domauth log --action reject --domain fail.test lists it" \
            db_has $id --action reject --domain FAIL.test -- action=reject

        id=e-exp-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@exp.test" "$id@dest.test"
        t "$mode: enforce: %{explanation} is the domain's exp= text" reply_is $id rcpt \
            "554 5.7.1 SPF says no: 192.0.2.10 may not send mail for exp.test, ask postmaster@exp.test"

        id=e-soft-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@soft.test" "$id@dest.test"
        t "$mode: enforce: softfail deferred with 451 and %{domain} %{ip}" reply_is $id rcpt \
            "451 4.7.23 Try later: soft.test softfails for 192.0.2.10"
        t "$mode: enforce: softfail event action=defer" event_is $id "" result=softfail action=defer

        id=e-neutral-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@neutral.test" "$id@dest.test"
        t "$mode: enforce: neutral rejected with %{result} %{sender}" reply_is $id rcpt \
            "550 5.7.23 neutral is not enough for $id@neutral.test"

        id=e-perm-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@perm.test" "$id@dest.test"
        t "$mode: enforce: permerror deferred with its custom reply" reply_is $id rcpt \
            "451 4.7.24 Broken record at perm.test"

        id=e-temp-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@drop.test" "$id@dest.test"
        t "$mode: enforce: temperror_action=defer gives the default 451 4.7.24" reply_is $id rcpt \
            "451 4.7.24 SPF check of drop.test failed temporarily"

        id=e-none-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@none.test" "$id@dest.test"
        t "$mode: enforce: none is queued" settled $id 250
        id=e-none-strict-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@none.test" "$id@strict.test"
        t "$mode: enforce: none_action = reject ([domain strict.test]): default none_reply" \
            reply_is $id rcpt "550 5.7.23 No SPF record for none.test"

        id=e-auth-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@dest.test" --xclient-login bob
        t "$mode: enforce: authenticated fail is queued (skip_authenticated)" settled $id 250

        id=e-unauth-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@dest.test" --xclient-login '[UNAVAILABLE]'
        t "$mode: enforce: XCLIENT LOGIN=[UNAVAILABLE] is not authenticated: rejected" \
            reply_is $id rcpt "554 5.7.1"

        id=e-null-$mode
        ip=192.0.2.10 helo=mail.helofail.test smtp $id "$p" "<>" "$id@dest.test"
        t "$mode: enforce: null sender with a failing HELO rejected" reply_is $id rcpt \
            "554 5.7.1 SPF says no: mail.helofail.test does not designate 192.0.2.10"
    done
}

# 3. Whitelists, trusted relays, local clients checked.
scenario_hosts() {
    local conf=$W/da/hosts.conf
    cat > "$W/da/whitelist.txt" <<'EOF'
# clients never checked, from a file
192.0.2.77 the scanner
2001:db8:77::/48
EOF
    printf '# our relays\n192.0.2.89 the other relay\n' > "$W/da/trusted.txt"
    write_conf "$conf" <<EOF
[hosts]
whitelist = 192.0.2.21 a single address
whitelist = 192.0.2.30-192.0.2.39 a range
whitelist = 198.51.100.0/255.255.255.128 a netmask
whitelist = 203.0.113.64/26
whitelist_file = $W/da/whitelist.txt
trusted = 192.0.2.88 our relay
trusted_file = $W/da/trusted.txt
[policy]
monitor = no
check_local = yes
[domain strict.test]
skip_trusted = no
EOF
    start_da "$conf" || { t "domauthd starts with whitelists" false; return; }
    local mode p id n a
    for mode in milter policy; do
        p=$(port_of $mode)
        n=0
        for a in 192.0.2.21:w 192.0.2.22:c 192.0.2.30:w 192.0.2.39:w 192.0.2.40:c \
            198.51.100.127:w 198.51.100.128:c 203.0.113.64:w 203.0.113.127:w 203.0.113.128:c \
            192.0.2.77:w 192.0.2.88:t 192.0.2.89:t 127.0.0.1:c 10.1.2.3:c; do
            n=$((n + 1))
            id=h$n-$mode
            ip=${a%:*} smtp $id "$p" "$id@fail.test" "$id@dest.test"
            case ${a#*:} in
            w) t "$mode: ${a%:*} whitelisted: queued, skip_reason=whitelisted" \
                event_is $id "" skip_reason=whitelisted action=accept client_ip=${a%:*} ;;
            t) t "$mode: ${a%:*} trusted relay: skip_reason=trusted" \
                event_is $id "" skip_reason=trusted action=accept ;;
            c) t "$mode: ${a%:*} checked (check_local = yes for loopback/LAN): rejected 550" \
                reply_is $id rcpt "550 5.7.23 fail.test does not designate ${a%:*}" ;;
            esac
            [ "${a#*:}" = c ] || t "$mode: ${a%:*}: queued" settled $id 250
        done
        id=h-v6-$mode
        ip=IPV6:2001:db8:77::5 smtp $id "$p" "$id@fail.test" "$id@dest.test"
        t "$mode: IPv6 2001:db8:77::5 whitelisted by whitelist_file prefix" \
            event_is $id "" skip_reason=whitelisted
        id=h-v6c-$mode
        ip=IPV6:2001:db8:78::5 smtp $id "$p" "$id@pass.test" "$id@dest.test"
        t "$mode: IPv6 2001:db8:78::5 checked: pass via ip6:2001:db8::/32" \
            event_is $id "" result=pass skip_reason=null
        id=h-trusted-strict-$mode
        ip=192.0.2.88 smtp $id "$p" "$id@fail.test" "$id@strict.test"
        t "$mode: skip_trusted = no ([domain strict.test]): the trusted relay is checked, rejected" \
            reply_is $id rcpt "550 5.7.23 fail.test does not designate 192.0.2.88"
        id=h-lanpass-$mode
        ip=10.1.2.3 smtp $id "$p" "$id@pass.test" "$id@dest.test"
        t "$mode: check_local = yes: LAN client 10.1.2.3 passes for pass.test" \
            event_is $id "" result=pass client_ip=10.1.2.3
    done
}

# 4. The From: header identity, subject tags, the score header, end of DATA.
scenario_header_from() {
    local conf=$W/da/header_from.conf
    write_conf "$conf" <<'EOF'
[policy]
monitor = no
identity = header_from
fail_action = accept
fail_tag_subject = yes
softfail_tag_subject = yes
softfail_tag = [SPOOFED?]
score_header = X-E2E-Score
[domain strict.test]
fail_action = reject
fail_reply = 550 5.7.23 From: %{domain} forged (%{sender})
EOF
    start_da "$conf" || { t "domauthd starts with identity = header_from" false; return; }
    local id
    id="f-hfail-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@dest.test" \
        --header "From: Mallory <$id@fail.test>"
    t_eom "milter: header_from: envelope pass, From: fail.test: queued (fail_action = accept)" settled $id 250
    t_eom "milter: header_from: event identity=header_from domain=fail.test action=tag" \
        event_is $id "" identity=header_from domain=fail.test result=fail action=tag \
        header_from=$id@fail.test
    t_eom "milter: fail_tag_subject: Subject tagged with the default tag" \
        header_has $id "^Subject: \\*\\*\\* FRAUD \\*\\*\\* e2e $id\$"
    t_eom "milter: score_header X-E2E-Score: 5.0" header_has $id '^X-E2E-Score: 5\.0$'
    t_eom "milter: header_from: Authentication-Results names header.from" \
        header_has $id '^Authentication-Results: e2e\.test; spf=fail'

    id="f-tagged-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@dest.test" \
        --header "From: <$id@fail.test>" --header "Subject: *** FRAUD *** already tagged"
    t_eom "milter: a subject that already has the tag is not tagged twice" \
        header_has $id '^Subject: \*\*\* FRAUD \*\*\* already tagged$'

    id="f-soft-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@dest.test" \
        --header "From: <$id@soft.test>"
    t_eom "milter: softfail with a custom tag (softfail_tag)" header_has $id "^Subject: \\[SPOOFED\\?\\] e2e $id\$"

    id="f-hpass-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@fail.test" "$id@dest.test" \
        --header "From: <$id@pass.test>"
    t_eom "milter: header_from: envelope fail, From: pass.test: pass" \
        event_is $id "" identity=header_from domain=pass.test result=pass action=accept
    t_eom "milter: header_from pass: subject untouched" header_has $id "^Subject: e2e $id\$"

    id="f-strict-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@strict.test" \
        --header "From: <$id@fail.test>"
    t_eom "milter: header_from reject answers at the end of DATA (550, custom reply)" \
        reply_is $id eod "550 5.7.23 From: fail.test forged ($id@fail.test)"
    t "milter: RCPT was accepted before" reply_is $id rcpt 250

    id="f-nofrom-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@fail.test" "$id@dest.test" \
        --data $'Date: Sun, 22 Nov 2026 10:00:00 +0000\nTo: <nobody@dest.test>\n\nno From: header\n'
    # Postfix's cleanup adds the missing From: (the envelope sender) before
    # the milter sees the headers, so the From: identity is that address.
    t_eom "milter: header_from, message without From: (Postfix adds the envelope sender)" \
        event_is $id "" identity=header_from header_from=$id@fail.test domain=fail.test result=fail

    id="f-hfail-policy"
    ip=192.0.2.10 smtp $id $POLICY_SMTP "$id@pass.test" "$id@strict.test" \
        --header "From: <$id@fail.test>"
    t "policy: header_from falls back to MAIL FROM (documented): pass, queued" settled $id 250
    t "policy: header_from: event identity=mailfrom domain=pass.test" \
        event_is $id "" identity=mailfrom domain=pass.test result=pass header_from=null
    t "policy: no subject tag" header_has $id "^Subject: e2e $id\$"

    id="f-mfail-policy"
    ip=192.0.2.10 smtp $id $POLICY_SMTP "$id@fail.test" "$id@strict.test" \
        --header "From: <$id@pass.test>"
    t "policy: header_from: MAIL FROM fail rejected at RCPT" reply_is $id rcpt \
        "550 5.7.23 From: fail.test forged ($id@fail.test)"
}

# 5. Per-domain override, HELO checks, reply stages, score thresholds,
# headers turned off.
scenario_domains() {
    local conf=$W/da/domains.conf
    write_conf "$conf" <<'EOF'
[policy]
; monitor = yes (the default) except for strict.test
check_helo = yes
received_spf_skip_none = no
remove_forged_authres = no
score_header =
softfail_score = 3.0
defer_threshold = 3
reject_threshold = 6
[domain strict.test]
monitor = no
received_spf = no
authentication_results = no
skip_authenticated = no
EOF
    start_da "$conf" || { t "domauthd starts with [domain strict.test]" false; return; }
    local mode p id tm
    for mode in milter policy; do
        p=$(port_of $mode)
        tm=t
        [ $mode = milter ] && tm=t_eom
        id=o-dest-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@dest.test"
        t "$mode: [domain strict.test]: fail to dest.test still monitored: queued" settled $id 250
        t "$mode: dest.test event held_action=reject" event_is $id "" held_action=reject action=accept

        id=o-strict-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@strict.test"
        t "$mode: [domain strict.test] monitor = no: fail to strict.test rejected 550" \
            reply_is $id rcpt "550 5.7.23 fail.test does not designate 192.0.2.10"

        id=o-sub-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@sub.strict.test"
        t "$mode: a subdomain of strict.test gets its settings: rejected" reply_is $id rcpt "550 5.7.23"

        id=o-two-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@dest.test,$id@strict.test"
        t "$mode: two recipients: strict.test refused" \
            sh -c "grep -A1 '^ -> RCPT TO:<$id@strict.test>' '$W/swaks/$id.out' | grep -q '^<\\*\\* 550 5.7.23'"
        t "$mode: two recipients: the message is queued for dest.test" reply_is $id eod 250
        t "$mode: two recipients: one event for the message, each recipient as done" \
            event_is $id "$id@strict.test" rcpt_action=reject rcpt=$id@dest.test
        t "$mode: two recipients: the message's action is what dest.test got" \
            event_is $id "$id@strict.test" action=accept
        t "$mode: two recipients: one event, not one per recipient" \
            sh -c "[ \"\$('$py' '$helper' count '$W/da/events.jsonl' 'mail_from=$id@fail.test')\" = 1 ]"

        id=o-helo-$mode
        ip=192.0.2.10 helo=mail.helofail.test smtp $id "$p" "$id@pass.test" "$id@strict.test"
        t "$mode: check_helo: a failing HELO rejects though MAIL FROM passes" reply_is $id rcpt \
            "550 5.7.23 mail.helofail.test does not designate 192.0.2.10"
        t "$mode: check_helo: event identity=helo" event_is $id "" identity=helo \
            domain=mail.helofail.test result=fail

        id=o-helook-$mode
        ip=192.0.2.10 helo=mail.pass.test smtp $id "$p" "$id@pass.test" "$id@strict.test"
        t "$mode: check_helo: a passing HELO leaves it to MAIL FROM: queued" settled $id 250
        t "$mode: check_helo: event identity=mailfrom" event_is $id "" identity=mailfrom result=pass
        # (DKIM verification may still add "Authentication-Results: ...; dkim=".)
        $tm "$mode: strict.test: received_spf = no, authentication_results = no: no SPF headers" \
            header_lacks $id '^Received-SPF:|^Authentication-Results:.*spf='

        id=o-soft-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@soft.test" "$id@strict.test"
        t "$mode: score 3 reaches defer_threshold: default defer reply" reply_is $id rcpt \
            "451 4.7.1 Message scored too high; try again later"

        id=o-authstrict-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@strict.test" --xclient-login carol
        t "$mode: skip_authenticated = no: an authenticated fail is checked and rejected" \
            reply_is $id rcpt "550 5.7.23"

        id=o-none-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@none.test" "$id@dest.test"
        $tm "$mode: received_spf_skip_none = no: Received-SPF: none added" header_has $id '^Received-SPF: none '
        [ $mode = milter ] && $tm "$mode: score_header empty: no score header" \
            header_lacks $id '^X-Domauth-Score:'
    done
    id="o-forged-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@dest.test" \
        --add-header "Authentication-Results: e2e.test; spf=pass smtp.mailfrom=forged.example"
    t_eom "milter: remove_forged_authres = no keeps the forged header" \
        header_has $id '^Authentication-Results: e2e\.test; spf=pass smtp\.mailfrom=forged\.example'
}

# 6. Reply stages (MAIL, end of DATA) and the reject threshold.
scenario_stages() {
    local conf=$W/da/stages.conf
    write_conf "$conf" <<'EOF'
[policy]
monitor = no
reply_stage = mail
fail_action = accept
fail_score = 7.5
reject_threshold = 7
reject_threshold_reply = 554 5.7.1 Score too high for %{domain} (%{result})
EOF
    start_da "$conf" || { t "domauthd starts with reply_stage = mail" false; return; }
    local id
    id="s-mail-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@fail.test" "$id@dest.test"
    t "milter: reply_stage = mail: rejected at MAIL FROM by reject_threshold (554)" reply_is $id mail \
        "554 5.7.1 Score too high for fail.test (fail)"
    t "milter: reply_stage = mail: event has no rcpt" event_is $id "" rcpt=null score=7.5 action=reject
    id="s-mail-policy"
    ip=192.0.2.10 smtp $id $POLICY_SMTP "$id@fail.test" "$id@dest.test"
    t "policy: reply_stage = mail: policy service answers where Postfix asks it (RCPT)" \
        reply_is $id rcpt "554 5.7.1 Score too high for fail.test (fail)"
    id="s-mailpass-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@dest.test"
    t_eom "milter: reply_stage = mail: pass queued with headers" header_has $id '^Received-SPF: pass '

    # A DNS try may take 3 s, but a whole check only 400 ms.
    DA_DNS_TIMEOUT=3000 DA_DEADLINE=400 write_conf "$conf" <<'EOF'
[policy]
monitor = no
reply_stage = data
temperror_action = defer
EOF
    start_da "$conf" || { t "domauthd starts with reply_stage = data" false; return; }
    local t0 t1
    id="s-deadline-policy"
    t0=$(now_ms)
    ip=192.0.2.10 smtp $id $POLICY_SMTP "$id@drop.test" "$id@dest.test"
    t1=$(now_ms)
    t "policy: spf_deadline_ms = 400 cuts a 3 s DNS try short: temperror, deferred" \
        reply_is $id rcpt "451 4.7.24 SPF check of drop.test failed temporarily"
    t "policy: spf_deadline_ms: the session took under 2.5 s ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 2500
    id="s-data-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@fail.test" "$id@dest.test"
    t "milter: reply_stage = data: RCPT accepted" reply_is $id rcpt 250
    t_eom "milter: reply_stage = data: rejected after DATA (550)" reply_is $id eod "550 5.7.23"
    id="s-datapass-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@dest.test"
    t_eom "milter: reply_stage = data: pass queued with Received-SPF" header_has $id '^Received-SPF: pass '
}

# 7. SIGHUP: monitor off, a broken file refused, the JSON log reopened.
scenario_reload() {
    local conf=$W/da/reload.conf
    write_conf "$conf" </dev/null
    start_da "$conf" || { t "domauthd starts for the reload test" false; return; }
    local mode p id tm
    for mode in milter policy; do
        p=$(port_of $mode)
        id=r-before-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@dest.test"
        t "$mode: before reload (monitor): fail queued" settled $id 250
    done
    write_conf "$conf" <<'EOF'
[policy]
monitor = no
EOF
    local lines
    lines=$(grep -c 'configuration reloaded' "$da_log")
    kill -HUP "$da_pid"
    t "SIGHUP: domauthd logs the reload" wait_for 50 sh -c "[ \$(grep -c 'configuration reloaded' '$da_log') -gt $lines ]"
    for mode in milter policy; do
        p=$(port_of $mode)
        id=r-after-$mode
        ip=192.0.2.10 smtp $id "$p" "$id@fail.test" "$id@dest.test"
        t "$mode: after SIGHUP (monitor = no): fail rejected 550" reply_is $id rcpt "550 5.7.23"
    done
    printf '[policy]\nmonitor = maybe\n' >> "$conf"
    t "domauthd -t refuses the broken file with exit 78 and the line" \
        sh -c "'$domauthd_bin' -t -c '$conf' >/dev/null 2>'$W/da/t.err'; [ \$? = 78 ] && grep -q 'reload.conf.*' '$W/da/t.err'"
    kill -HUP "$da_pid"
    t "SIGHUP with a broken file: refused and logged" wait_for 50 grep -q 'reload refused, keeping the running configuration' "$da_log"
    t "SIGHUP with a broken file: domauthd still runs" da_alive
    id="r-broken-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@fail.test" "$id@dest.test"
    t "milter: after the refused reload the old configuration (enforce) stays" reply_is $id rcpt "550 5.7.23"

    # Rotation: rename the JSON file, HUP, the next event goes to a new file.
    write_conf "$conf" <<'EOF'
[policy]
monitor = no
EOF
    mv "$W/da/events.jsonl" "$W/da/events.jsonl.1"
    kill -HUP "$da_pid"
    sleep 0.5
    id="r-rotated-milter"
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@dest.test"
    t "SIGHUP reopens event_log: the next event is in a new file" \
        wait_for 30 grep -q "$id@" "$W/da/events.jsonl"
    cat "$W/da/events.jsonl.1" "$W/da/events.jsonl" > "$W/da/events.all" 2>/dev/null
    mv "$W/da/events.all" "$W/da/events.jsonl"
    kill -HUP "$da_pid"
    sleep 0.3
}

# 8. Quarantine (issue 9) through the milter and the policy service: the
# folder (the sender sees 250, nothing is delivered, the file is in new/ and
# indexed as soon as swaks has its reply, and still there after kill -9),
# the folder with the fail reply, Postfix's hold queue (milter QUARANTINE,
# policy HOLD), and release with the original envelope, delivered and not
# quarantined again.
in_new() { # dir id: the spool file of message ID in DIR/new
    grep -rlF -- "<$2@e2e.test>" "$1/new" 2>/dev/null | head -n 1
}
held() { # the hold queue is not empty
    [ -n "$(postqueue -c "$W/pf" -j 2>/dev/null | grep '"queue_name": *"hold"')" ] ||
        { echo "nothing in the hold queue"; postqueue -c "$W/pf" -p; return 1; }
}
scenario_quarantine() {
    local conf=$W/da/quarantine.conf q=$W/da/q id qid at_reply now_listed
    write_conf "$conf" "quarantine_dir = $q" <<'EOF'
[policy]
monitor = no
[spf]
fail_action = quarantine
EOF
    start_da "$conf" || { t "domauthd starts with fail_action = quarantine" false; return; }
    id=q-folder
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@fail.test" "$id@dest.test"
    # Looked at first thing after the reply: the copy was on disk before it.
    at_reply=$(in_new "$q" $id)
    now_listed=$("$domauth_bin" quarantine list --config "$conf" 2>&1)
    t "quarantine folder: the sender is told 250" settled $id 250
    t "quarantine folder: the spool file is in new/ when the reply comes" test -n "$at_reply"
    t "quarantine folder: and indexed (domauth quarantine list)" \
        grep -q "quarantined  <$id@fail.test> -> <$id@dest.test>" <<< "$now_listed"
    # The event store's writer commits in batches: wait for it before the kill.
    t "quarantine folder: the event says quarantine (domauth log --action quarantine)" \
        wait_for 30 sh -c "'$domauth_bin' log --database '$W/da/events.db' --action quarantine --json | grep -q '$id@dest.test'"
    kill -KILL "$da_pid"
    wait "$da_pid" 2>/dev/null
    da_pid=
    qid=$(basename "${at_reply:-none}")
    t "quarantine folder: after kill -9 the message is still listed" \
        sh -c "'$domauth_bin' quarantine list --config '$conf' | grep -q '$qid  quarantined'"
    t "quarantine folder: show prints the message as received" \
        sh -c "'$domauth_bin' quarantine show '$qid' --config '$conf' | grep -q '^Message-Id: <$id@e2e.test>'"
    sleep 1
    t "quarantine folder: nothing was delivered" test -z "$(message_file $id)"
    # Release through this instance's sendmail.
    printf '#!/bin/sh\nMAIL_CONFIG=%s exec /usr/sbin/sendmail "$@"\n' "$W/pf" > "$W/da/sendmail"
    chmod +x "$W/da/sendmail"
    t "quarantine release: domauth quarantine release runs sendmail" \
        "$domauth_bin" quarantine release "$qid" --sendmail "$W/da/sendmail" --config "$conf"
    # Polled here: pickup takes a moment, and delivered() evaluates its
    # message_file once, before its wait_for.
    t "quarantine release: delivered to the original recipient" \
        wait_for 100 sh -c "grep -rlqF -- '<$id@e2e.test>' '$W/mail/box/new'"
    t "quarantine release: with the original sender (Return-Path)" \
        header_has $id "^Return-Path: <$id@fail\.test>"
    t "quarantine release: marked released, the copy gone" \
        sh -c "'$domauth_bin' quarantine list --state released --config '$conf' | grep -q '$qid  released' && [ ! -e '$q/new/$qid' ]"

    write_conf "$conf" "quarantine_dir = $q" <<'EOF'
[policy]
monitor = no
quarantine_reply = reply
[spf]
fail_action = quarantine
EOF
    start_da "$conf" || { t "domauthd starts with quarantine_reply = reply" false; return; }
    id=q-reply
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@fail.test" "$id@dest.test"
    at_reply=$(in_new "$q" $id)
    t "quarantine reply: the sender is told 550 5.7.23 at the end of DATA" \
        reply_is $id eod "550 5.7.23"
    t "quarantine reply: the copy is kept all the same" test -n "$at_reply"

    write_conf "$conf" "quarantine_dir = $q" <<'EOF'
[policy]
monitor = no
quarantine_mode = hold
[spf]
fail_action = quarantine
EOF
    start_da "$conf" || { t "domauthd starts with quarantine_mode = hold" false; return; }
    id=q-hold
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@fail.test" "$id@dest.test"
    t "quarantine hold: the sender is told 250" settled $id 250
    t "quarantine hold (milter): Postfix holds the message" wait_for 50 held
    t "quarantine hold (milter): Postfix logged the milter hold" \
        wait_for 30 grep -q "milter-hold: END-OF-MESSAGE" "$W/pf/maillog"
    postsuper -c "$W/pf" -d ALL hold > /dev/null 2>&1
    id=q-policy
    ip=192.0.2.10 smtp $id $POLICY_SMTP "$id@fail.test" "$id@dest.test"
    t "quarantine hold (policy): the recipient is accepted" reply_is $id rcpt 250
    t "quarantine hold (policy): Postfix holds the message" wait_for 50 held
    postsuper -c "$W/pf" -d ALL hold > /dev/null 2>&1
    stop_da
}

# 9. DKIM through the milter: a valid signature passes; a tampered body
# fails, and its score alone reaches reject_threshold at the end of DATA.
# The event says what Postfix was told (it once said accept: it was written
# at the SPF decision, before DKIM's score existed), in both logs.
scenario_dkim() {
    local conf=$W/da/dkim.conf
    write_conf "$conf" <<'EOF'
[policy]
monitor = no
reply_stage = rcpt
dkim_fail_score = 7
reject_threshold = 6
EOF
    start_da "$conf" || { t "domauthd starts with DKIM scoring" false; return; }
    local id
    id=k-pass-milter
    dkim_message $id "$W/swaks/$id.eml" || { t "dkim: the test message can be signed" false; return; }
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@dest.test" --data "$W/swaks/$id.eml"
    t_eom "milter: a valid signature: queued" settled $id 250
    t_eom "milter: a valid signature: Authentication-Results dkim=pass header.d=pass.test" \
        header_has $id '^Authentication-Results: e2e\.test;.* dkim=pass .*header\.d=pass\.test'
    t "milter: a valid signature: the event has dkim=pass, accept" \
        event_is $id "" action=accept result.dkim=pass score=0

    id=k-tampered-milter
    dkim_message $id "$W/swaks/$id.eml" tamper || { t "dkim: the tampered message is made" false; return; }
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@pass.test" "$id@dest.test" --data "$W/swaks/$id.eml"
    t "milter: a tampered body: RCPT accepted (DKIM's score is not known yet)" reply_is $id rcpt 250
    t_eom "milter: a tampered body: dkim=fail scores 7, rejected at the end of DATA" \
        reply_is $id eod "550 5.7.1 Message scored too high"
    t "milter: a tampered body: not delivered" sh -c "sleep 0.5; [ -z \"\$(grep -rlF -- '<$id@e2e.test>' '$W/mail/box/new' '$W/mail/box/cur' 2>/dev/null)\" ]"
    t "milter: the DKIM reject's event says reject, score 7, dkim=fail, with the reply" \
        event_is $id "" action=reject score=7 result.dkim=fail "reply~550 5.7.1 Message scored too high" \
        result.spf=pass
    t "milter: the DKIM reject is in the database as reject" \
        db_has $id --action reject -- action=reject score=7
}

# dkim_message ID FILE [tamper]: a message from pass.test signed with the
# test key (Message-Id <ID@e2e.test>); tamper changes its body afterwards.
dkim_message() {
    printf 'From: Alice <alice@pass.test>\nTo: dest@dest.test\nSubject: e2e %s\nDate: Tue, 01 Dec 2026 10:00:00 +0000\nMessage-Id: <%s@e2e.test>\n\nQuarterly figures, in spirit.\n' \
        "$1" "$1" |
        "$domauth_bin" dkim sign --domain pass.test --selector e2e --key "$W/dns/e2e.private" \
            > "$2.lf" || return 1
    [ "${3:-}" = tamper ] && sed -i 's/in spirit/in fact/' "$2.lf"
    sed 's/$/\r/' "$2.lf" > "$2"
}

# 8b. redirect: an SPF fail goes to the spam mailbox instead of its
# recipients (milter DELRCPT/ADDRCPT), the original ones in a field.
scenario_redirect() {
    local conf=$W/da/redirect.conf id
    write_conf "$conf" <<'EOF'
[policy]
monitor = no
redirect_to = spam@dest.test
[spf]
fail_action = redirect
EOF
    start_da "$conf" || { t "domauthd starts with fail_action = redirect" false; return; }
    id=rd-milter
    ip=192.0.2.10 smtp $id $MILTER_SMTP "$id@fail.test" "$id@dest.test"
    t_eom "redirect: the sender is told 250" settled $id 250
    t_eom "redirect: delivered to the spam mailbox" header_has $id '^Delivered-To: spam@dest\.test'
    t_eom "redirect: the original recipient is in X-Domauth-Original-Recipients" \
        header_has $id "^X-Domauth-Original-Recipients: <$id@dest\.test>"
    t "redirect: the event says redirect, to where" \
        event_is $id "" action=redirect "reasons~redirected to spam@dest.test"
    id=rd-policy
    ip=192.0.2.10 smtp $id $POLICY_SMTP "$id@fail.test" "$id@dest.test"
    t "policy: REDIRECT: delivered to the spam mailbox" header_has $id '^Delivered-To: spam@dest\.test'
}

# 8c. The check-auth responder behind a pipe(8) transport: a message to
# check-auth@dest.test gets a report mailed back to its sender (through this
# Postfix's own sendmail), with a forged From: giving the PRA fail line;
# nothing goes to a null sender or an auto-reply.
report_of() { # id: the report answering message ID, if delivered
    grep -rlF -- "In-Reply-To: <$1@e2e.test>" "$W/mail/box/new" "$W/mail/box/cur" 2>/dev/null |
        head -n 1
}
has_report() { test -n "$(report_of "$1")"; }
report_has() { # id regex
    wait_for 150 has_report "$1" || { echo "no report delivered"; tail -n 5 "$W/ca/log"; return 1; }
    tr -d '\r' < "$(report_of "$1")" | grep -Eq -- "$2" && return 0
    echo "the report has no line matching /$2/:"
    tr -d '\r' < "$(report_of "$1")" | head -n 40
    return 1
}
responder_said() { # regex: a line of the responder's log
    grep -Eq -- "$1" "$W/ca/log"
}
scenario_checkauth() {
    mkdir -p "$W/ca/state"
    chmod 755 "$W/ca"
    chown nobody "$W/ca/state"
    : > "$W/ca/events.json"
    : > "$W/ca/log"
    chown nobody "$W/ca/events.json" "$W/ca/log"
    cat > "$W/ca/checkauth.conf" <<EOF
[daemon]
event_log = $W/ca/events.json
database =
syslog = no
dns_servers = 127.0.0.1
authserv_id = mx.e2e.test
EOF
    chmod 644 "$W/ca/checkauth.conf"
    # The sendmail(1) the responder runs: Postfix's own would need this
    # instance listed in the default main.cf's alternate_config_directories
    # (postdrop is set-gid), so this stand-in takes the same arguments
    # (-i -f <> -- RECIPIENT) and submits over SMTP to this instance.
    cat > "$W/ca/sendmail" <<EOF
#!$py
import smtplib, sys
args = sys.argv[1:]
assert args[:3] == ["-i", "-f", "<>"] and args[3] == "--" and len(args) == 5, args
with smtplib.SMTP("127.0.0.1", $PLAIN_SMTP) as s:
    s.sendmail("", [args[4]], sys.stdin.buffer.read())
EOF
    # What pipe(8) runs: the responder, its log (stderr) kept in a file.
    cat > "$W/ca/run" <<EOF
#!/bin/sh
exec $domauth_bin checkauth --config $W/ca/checkauth.conf --state $W/ca/state \\
    --sendmail $W/ca/sendmail --stderr "\$@" 2>> $W/ca/log
EOF
    chmod 755 "$W/ca/sendmail" "$W/ca/run"
    local id
    id=ca-pass
    ip=192.0.2.10 helo=mail.pass.test smtp $id $PLAIN_SMTP "$id@dest.test" check-auth@dest.test \
        --header "From: <$id@pass.test>"
    t "check-auth: the message is accepted for the responder" reply_is $id eod 250
    t "check-auth: a report comes back to the sender's mailbox" report_has $id '^To: <ca-pass@dest\.test>$'
    t "check-auth: the report says PRA check: pass" report_has $id '^PRA check: +pass$'
    t "check-auth: the report has the source IP" report_has $id '^Source IP: +192\.0\.2\.10$'
    t "check-auth: the report is marked Auto-Submitted: auto-replied" \
        report_has $id '^Auto-Submitted: auto-replied$'
    id=ca-forged
    ip=198.51.100.7 helo=mail.forged.test smtp $id $PLAIN_SMTP "$id@dest.test" check-auth@dest.test \
        --header "From: <boss@pass.test>"
    t "check-auth: a forged From: gives 'PRA check: fail (not permitted)'" \
        report_has $id '^PRA check: +fail \(not permitted\)$'
    t "check-auth: ... naming the PRA" report_has $id '^PRA: +boss@pass\.test$'
    id=ca-null
    ip=192.0.2.10 smtp $id $PLAIN_SMTP "<>" check-auth@dest.test
    t "check-auth: nothing is sent to the null sender" \
        wait_for 150 responder_said 'no report \(the null sender\)'
    id=ca-auto
    ip=192.0.2.10 smtp $id $PLAIN_SMTP "$id@dest.test" check-auth@dest.test \
        --header "Auto-Submitted: auto-replied"
    t "check-auth: nothing is sent to an auto-reply" \
        wait_for 150 responder_said 'no report \(an automatic message'
    t "check-auth: no report reached the null sender's or the auto-reply's mailbox" \
        sh -c "! grep -rqE 'In-Reply-To: <ca-(null|auto)@e2e.test>' '$W/mail/box'"
    t "check-auth: the two checked messages are events (listener checkauth)" \
        sh -c "[ \$(grep -c '\"listener\":\"checkauth\"' '$W/ca/events.json') = 2 ]"
}

# 9. SRS through Postfix: domauthd's socketmap as cleanup's canonical maps.
# A message from outside.test to fwd@dest.test (an alias of bob@remote.test)
# leaves for the remote host with an SRS0 sender under srs.e2e.test; the
# bounce of it, sent to that SRS0 address, reaches the original sender.
scenario_srs() {
    local conf=$W/da/srs.conf sink=$W/sink.log sink_pid mail bounce
    head -c 24 /dev/urandom | base64 > "$W/da/srs.secret"
    chmod 600 "$W/da/srs.secret"
    write_conf "$conf" <<EOF
[srs]
socketmap = unix:$W/da/srs.sock
domain = srs.e2e.test
secrets = $W/da/srs.secret
exclude_domains = dest.test
milter_rewrite = yes
EOF
    start_da "$conf" || { t "domauthd starts with the SRS socketmap" false; return; }
    : > "$sink"
    "$py" "$here/smtp_sink.py" "$SINK_SMTP" "$sink" 2>>"$W/sink.err" &
    sink_pid=$!
    wait_for 50 port_open "$SINK_SMTP" || { t "the SMTP sink listens" false; kill "$sink_pid"; return; }
    swaks --server "127.0.0.1:$SRS_SMTP" --timeout 30 --helo mail.outside.test \
        --from carol@outside.test --to fwd@dest.test --header "Subject: e2e srs" \
        --body "forwarded" > "$W/swaks/srs-fwd.out" 2>&1
    t "srs: the message to the alias is queued" sh -c "grep -q '^<-  250 .*queued' '$W/swaks/srs-fwd.out'"
    t "srs: it leaves for the remote host with an SRS0 sender under srs.e2e.test" \
        wait_for 150 grep -qE '^MAIL FROM:<SRS0=[^=]+=[A-Z2-7]{2}=outside\.test=carol@srs\.e2e\.test> RCPT TO:<bob@remote\.test>' "$sink"
    mail=$(sed -nE 's/^MAIL FROM:<(SRS0=[^>]*)> RCPT TO:<bob@remote\.test>.*/\1/p' "$sink" | head -n 1)
    t "srs: the SRS0 address is domauth srs forward's (same secret)" sh -c \
        "'$domauth_bin' srs reverse --secrets '$W/da/srs.secret' --srs-domain srs.e2e.test '$mail' | grep -qx 'carol@outside.test'"
    # The remote host bounces it: a null sender to the SRS0 address.
    swaks --server "127.0.0.1:$SRS_SMTP" --timeout 30 --helo mx.remote.test \
        --from '<>' --to "$mail" --header "Subject: Undelivered Mail Returned to Sender" \
        --body "bounce" > "$W/swaks/srs-bounce.out" 2>&1
    t "srs: the bounce to the SRS0 address is accepted" sh -c "grep -q '^<-  250 .*queued' '$W/swaks/srs-bounce.out'"
    t "srs: the bounce reaches the original sender, carol@outside.test" \
        wait_for 150 grep -qE '^MAIL FROM:<> RCPT TO:<carol@outside\.test>' "$sink"
    bounce=$(sed -nE 's/^MAIL FROM:<> RCPT TO:<([^>]*)>.*/\1/p' "$sink" | head -n 1)
    swaks --server "127.0.0.1:$SRS_SMTP" --timeout 30 --from '<>' \
        --to 'SRS0=AAAA=AA=outside.test=mallory@srs.e2e.test' --body x > "$W/swaks/srs-forged.out" 2>&1
    t "srs: a forged SRS0 address is not reversed: it stays as it came" \
        wait_for 150 grep -qF 'RCPT TO:<SRS0=AAAA=AA=outside.test=mallory@srs.e2e.test>' "$sink"
    t "srs: ... and never reaches the address it names" sh -c "! grep -q 'mallory@outside.test' '$sink'"
    # [srs] milter_rewrite = yes: the milter rewrites MAIL FROM for mail that
    # leaves (from loopback, which Postfix relays for; not checked by SPF).
    swaks --server "127.0.0.1:$MILTER_SMTP" --timeout 30 --helo mail.outside.test \
        --from dave@outside.test --to erin@remote.test --header "Subject: e2e srs milter" \
        --body "relayed" > "$W/swaks/srs-milter.out" 2>&1
    t "srs milter: relayed mail leaves with an SRS0 sender the milter set" \
        wait_for 150 grep -qE '^MAIL FROM:<SRS0=[^=]+=[A-Z2-7]{2}=outside\.test=dave@srs\.e2e\.test> RCPT TO:<erin@remote\.test>' "$sink"
    t "srs milter: domauthd logged the rewrite" log_has "MAIL FROM <dave@outside.test> rewritten to <SRS0="
    id=k-srs-local
    swaks --server "127.0.0.1:$MILTER_SMTP" --timeout 30 --helo mail.outside.test \
        --from dave@outside.test --to "$id@dest.test" --header "Message-Id: <$id@e2e.test>" \
        --body "local" > "$W/swaks/$id.out" 2>&1
    t "srs milter: a message only to local recipients keeps its sender" \
        header_has $id '^Return-Path: <dave@outside\.test>'
    kill "$sink_pid" 2>/dev/null
    wait "$sink_pid" 2>/dev/null
    [ -n "$bounce" ] || diag < "$sink"
}

# The JSON file and the database agree.
check_log_consistency() {
    local json db
    # The writer commits to the database in batches (within 100 ms of an
    # event, later on a loaded machine): wait until it has caught up.
    for _ in $(seq 50); do
        sleep 0.1
        json=$("$py" "$helper" count "$W/da/events.jsonl")
        db=$("$domauth_bin" log --database "$W/da/events.db" --json --limit 0 | wc -l)
        [ "$json" = "$db" ] && break
    done
    t "event_log JSON lines ($json) and database rows ($db) agree" test "$json" = "$db"
    t "domauth log --summary --json reads the database" \
        sh -c "'$domauth_bin' log --database '$W/da/events.db' --summary --json | grep -q '\"events\":$db'"
}

# ------------------------------------------------------------ robustness

# delivered_once RUN N: N messages of load run RUN delivered, N different
# Message-Ids (none lost, none twice); waits up to 15 s.
delivered_once() {
    wait_for 150 sh -c "[ \$(grep -rlF -- 'X-E2E-Run: $1' '$W/mail/box/new' | wc -l) -ge $2 ]"
    local files ids
    files=$(grep -rlF -- "X-E2E-Run: $1" "$W/mail/box/new" | wc -l)
    ids=$(grep -rlF -- "X-E2E-Run: $1" "$W/mail/box/new" | xargs -r grep -hi '^Message-Id:' | sort -u | wc -l)
    [ "$files" = "$2" ] && [ "$ids" = "$2" ] && return 0
    echo "$files files, $ids different Message-Ids; want $2"
    return 1
}

load_summary() { # results-file: "queued=N rejected=N deferred=N error=N retried=N max=S"
    awk -F'\t' '{ n[$2]++; if ($3 > 1) r++; if ($4 > m) m = $4 }
        END { printf "queued=%d rejected=%d deferred=%d error=%d retried=%d max=%.1fs\n",
              n["queued"], n["rejected"], n["deferred"], n["error"], r, m }' "$1"
}

load_field() { # results-file outcome: how many
    awk -F'\t' -v o="$2" '$2 == o { n++ } END { print n + 0 }' "$1"
}

# 200 concurrent sessions through Postfix and domauthd.
robust_load() {
    local conf=$W/da/load.conf
    write_conf "$conf" <<'EOF'
[policy]
monitor = no
EOF
    start_da "$conf" || { t "domauthd starts for the load test" false; return; }
    local mode p run out before t0 t1
    for mode in milter policy; do
        p=$(port_of $mode)
        run=load-$mode
        out=$W/$run.tsv
        before=$("$py" "$helper" count "$W/da/events.jsonl")
        t0=$(now_ms)
        # 150 senders in *.ok.load.test (pass), 50 in *.bad.load.test (fail).
        "$py" - "$loader" "$p" "$run" "$out" <<'EOF'
import subprocess, sys
loader, port, run, out = sys.argv[1:]
procs = []
for part, count, domain in (('a', 150, 'x{i}.ok.load.test'), ('b', 50, 'x{i}.bad.load.test')):
    procs.append(subprocess.Popen([sys.executable, loader, '--port', port, '--count', str(count),
        '--concurrency', str(count), '--domain', part + domain, '--run', run,
        '--out', out + '.' + part, '--timeout', '60']))
sys.exit(max(p.wait() for p in procs))
EOF
        t1=$(now_ms)
        cat "$out.a" "$out.b" > "$out" 2>/dev/null
        echo "# $mode load: 200 sessions at once in $((t1 - t0)) ms: $(load_summary "$out")"
        t "$mode load: 150 passing messages queued" test "$(load_field "$out.a" queued)" = 150
        t "$mode load: 50 failing messages rejected" test "$(load_field "$out.b" rejected)" = 50
        t "$mode load: the 150 are delivered, each once" delivered_once $run 150
        t "$mode load: domauthd still runs" da_alive
        t "$mode load: 200 more events" wait_for 30 sh -c \
            "[ \$('$py' '$helper' count '$W/da/events.jsonl') = $((before + 200)) ]"
        t "$mode load: 150 pass and 50 fail events" sh -c \
            "[ \$('$py' '$helper' count '$W/da/events.jsonl' listener=$mode result=pass rcpt~@dest.test mail_from~ok.load.test) = 150 ] &&
             [ \$('$py' '$helper' count '$W/da/events.jsonl' listener=$mode result=fail action=reject mail_from~bad.load.test) = 50 ]"
        t "$mode load: finished within 60 s" test $((t1 - t0)) -lt 60000
    done
}

# The DNS server stops mid-run: temperror, accepted by default, no hang.
robust_dns_stop() {
    local conf=$W/da/dnsstop.conf
    write_conf "$conf" <<'EOF'
[policy]
monitor = no
EOF
    start_da "$conf" || { t "domauthd starts for the DNS-stop test" false; return; }
    local run=dnsstop out=$W/dnsstop.tsv t0 t1 pid
    t0=$(now_ms)
    # 200 messages over some 6 s, a fresh domain each (nothing cached); the
    # DNS server stops after 2 s.
    "$py" "$loader" --port $MILTER_SMTP --count 200 --concurrency 20 --interval 0.03 \
        --domain 'dns{i}.ok.load.test' --run $run --out "$out" --timeout 60 &
    pid=$!
    sleep 2
    stop_unbound
    wait $pid
    t1=$(now_ms)
    echo "# DNS stopped mid-run: $((t1 - t0)) ms: $(load_summary "$out")"
    t "DNS stopped mid-run: all 200 queued (temperror accepted by default)" \
        test "$(load_field "$out" queued)" = 200
    t "DNS stopped mid-run: both pass and temperror events" sh -c \
        "[ \$('$py' '$helper' count '$W/da/events.jsonl' mail_from~@dns result=pass) -gt 0 ] &&
         [ \$('$py' '$helper' count '$W/da/events.jsonl' mail_from~@dns result=temperror action=accept) -gt 0 ]"
    t "DNS stopped mid-run: one event per message" sh -c \
        "[ \$('$py' '$helper' count '$W/da/events.jsonl' mail_from~@dns) = 200 ]"
    echo "# $("$py" "$helper" count "$W/da/events.jsonl" mail_from~@dns result=temperror) temperror events"
    # shellcheck disable=SC2016
    t "DNS stopped mid-run: no session took more than 5 s" \
        awk -F'\t' '$4 > 5 { bad = 1 } END { exit bad }' "$out"
    t "DNS stopped mid-run: finished within 60 s" test $((t1 - t0)) -lt 60000
    t "DNS stopped mid-run: all 200 delivered, each once" delivered_once $run 200
    t "DNS stopped mid-run: domauthd still runs" da_alive
    start_unbound || t "unbound restarts" false
}

# domauthd killed with SIGKILL under load, then restarted.
robust_kill() {
    local conf=$W/da/kill.conf run out pid t0 t1
    write_conf "$conf" <<'EOF'
[policy]
monitor = no
EOF
    start_da "$conf" || { t "domauthd starts for the kill test" false; return; }

    # milter_default_action = accept, inet listener: mail goes through
    # unchecked while domauthd is down; the port is reused at restart.
    run=kill-accept
    out=$W/$run.tsv
    "$py" "$loader" --port $MILTER_SMTP --count 200 --concurrency 20 --interval 0.03 \
        --domain 'kill{i}.ok.load.test' --run $run --out "$out" --timeout 60 &
    pid=$!
    sleep 2
    kill -9 "$da_pid"
    wait "$da_pid" 2>/dev/null
    da_pid=
    sleep 1
    start_da "$conf"
    t "SIGKILL under load: domauthd restarts on the same inet port" da_started
    wait $pid
    echo "# killed under load (milter_default_action = accept): $(load_summary "$out")"
    t "SIGKILL, accept: all 200 queued" test "$(load_field "$out" queued)" = 200
    t "SIGKILL, accept: all 200 delivered, each once" delivered_once $run 200
    local checked
    checked=$("$py" "$helper" count "$W/da/events.jsonl" mail_from~@kill)
    echo "# $checked of 200 were checked (the rest went through unchecked while domauthd was down)"
    t "SIGKILL, accept: some unchecked (fewer than 200 events), some checked after the restart" \
        sh -c "[ $checked -lt 200 ] && [ $checked -gt 0 ]"
    ip=192.0.2.10 smtp kill-after "$MILTER_SMTP" "kill-after@fail.test" "kill-after@dest.test"
    t "SIGKILL, accept: after the restart, checks work again (fail rejected)" \
        reply_is kill-after rcpt "550 5.7.23"

    # milter_default_action = tempfail, unix socket: senders retry; the
    # stale socket left by SIGKILL is replaced at restart.
    DA_MILTER=unix:$W/da/milter.sock write_conf "$conf" <<'EOF'
[policy]
monitor = no
EOF
    start_da "$conf" || { t "domauthd starts on a unix socket" false; return; }
    run=kill-tempfail
    out=$W/$run.tsv
    local retries=10
    t0=$(now_ms)
    "$py" "$loader" --port $TEMPFAIL_SMTP --count 200 --concurrency 20 --interval 0.03 \
        --domain 'tf{i}.ok.load.test' --run $run --out "$out" --timeout 60 \
        --retries $retries --retry-delay 1 &
    pid=$!
    sleep 2
    kill -9 "$da_pid"
    wait "$da_pid" 2>/dev/null
    da_pid=
    t "SIGKILL leaves the unix socket behind" test -S "$W/da/milter.sock"
    sleep 1.5
    start_da "$conf"
    t "SIGKILL, tempfail: domauthd restarts over the stale unix socket" da_started
    wait $pid
    t1=$(now_ms)
    echo "# killed under load (milter_default_action = tempfail): $((t1 - t0)) ms: $(load_summary "$out")"
    t "SIGKILL, tempfail: some sessions were deferred (4xx) and retried" \
        test "$(awk -F'\t' '$3 > 1' "$out" | wc -l)" -gt 0
    t_eom "SIGKILL, tempfail: after retries all 200 queued, none lost" test "$(load_field "$out" queued)" = 200
    t_eom "SIGKILL, tempfail: all 200 delivered, each once" delivered_once $run 200
    t "SIGKILL, tempfail: every delivered message was checked (a pass event each)" sh -c \
        "[ \$('$py' '$helper' count '$W/da/events.jsonl' mail_from~@tf result=pass) -ge 200 ]"
    t_eom "SIGKILL, tempfail: every delivered message has Received-SPF" sh -c \
        "[ \$(grep -rlF -- 'X-E2E-Run: $run' '$W/mail/box/new' | xargs -r grep -l '^Received-SPF: pass' | wc -l) = 200 ]"
    t "SIGKILL, tempfail: Postfix logged the milter tempfail" \
        grep -q 'postfix/tempfail/smtpd.*milter-reject: .*451 4.7.1' "$W/pf/maillog"
}

# ------------------------------------------------------------------ main

W=
py=

cleanup() {
    stop_da
    stop_postfix
    stop_unbound
    if [ -n "$W" ]; then
        if [ "${E2E_KEEP:-}" = 1 ]; then
            echo "# work directory kept: $W"
        else
            rm -rf "$W"
        fi
    fi
}

main_in_namespace() {
    W=$(mktemp -d /tmp/domauth-e2e.XXXXXX) || exit 1
    trap cleanup EXIT
    trap 'exit 1' INT TERM HUP
    chmod 755 "$W"
    mkdir -p "$W/dns" "$W/pf" "$W/da" "$W/swaks"
    chmod 755 "$W/da"
    ip link set lo up || { echo "Bail out! cannot bring up lo"; exit 1; }
    printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$W/resolv.conf"
    mount --bind "$W/resolv.conf" /etc/resolv.conf ||
        { echo "Bail out! cannot bind-mount resolv.conf"; exit 1; }
    write_zone
    "$domauth_bin" dkim keygen --domain pass.test --selector e2e --out "$W/dns/e2e.private" \
        >> "$W/dns/zone" 2>/dev/null || { echo "Bail out! domauth dkim keygen failed"; exit 1; }
    start_unbound || { echo "Bail out! unbound did not start"; exit 1; }
    start_postfix || { echo "Bail out! postfix did not start"; exit 1; }
    local start parts=${E2E_PARTS:-functional robustness}
    start=$(now_ms)
    if [[ " $parts " == *" functional "* ]]; then
        scenario_defaults
        scenario_enforce
        scenario_hosts
        scenario_header_from
        scenario_domains
        scenario_stages
        scenario_reload
        scenario_quarantine
        scenario_dkim
        scenario_redirect
        scenario_checkauth
        scenario_srs
        check_log_consistency
        echo "# functional part: $(($(now_ms) - start)) ms"
    fi
    if [[ " $parts " == *" defaults "* ]]; then
        scenario_defaults
    fi
    if [[ " $parts " == *" quarantine "* ]]; then
        scenario_quarantine
    fi
    if [[ " $parts " == *" srs "* ]]; then
        scenario_srs
    fi
    if [[ " $parts " == *" redirect "* ]]; then
        scenario_redirect
    fi
    if [[ " $parts " == *" checkauth "* ]]; then
        scenario_checkauth
    fi
    if [[ " $parts " == *" robustness "* ]]; then
        start=$(now_ms)
        robust_load
        robust_dns_stop
        robust_kill
        echo "# robustness part: $(($(now_ms) - start)) ms"
    fi
    t "no domauthd crash reported in its log" sh -c "! grep -Ei 'sanitizer|segmentation|abort' '$W/da/domauthd.log'"
    t "Postfix logged no panic or fatal error" sh -c "! grep -E 'panic:|fatal:' '$W/pf/maillog'"
    echo "1..$count"
    [ "$todo" -gt 0 ] && echo "# $todo known bug(s) marked TODO"
    [ "$failed" -eq 0 ]
}

if [ "${DOMAUTH_E2E_INSIDE:-}" = 1 ]; then
    py=$DOMAUTH_E2E_PYTHON
    main_in_namespace
    exit $?
fi

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespace, port 53, postfix)"
for tool in unshare ip unbound postfix swaks; do
    command -v "$tool" >/dev/null || skip_all "$tool not installed"
done
unshare -n -m true 2>/dev/null || skip_all "unshare -n -m not permitted here"
id postfix >/dev/null 2>&1 || skip_all "no postfix user"
py=
for candidate in /usr/bin/python3 python3; do
    if command -v "$candidate" >/dev/null; then
        py=$(command -v "$candidate")
        break
    fi
done
[ -n "$py" ] || skip_all "python3 not installed"
for bin in "$domauth_bin" "$domauthd_bin"; do
    if [ ! -x "$bin" ]; then
        echo "Bail out! $bin not found (build first, or set DOMAUTH_BIN / DOMAUTHD_BIN)"
        exit 1
    fi
done
domauth_bin=$(cd "$(dirname "$domauth_bin")" && pwd)/$(basename "$domauth_bin")
domauthd_bin=$(cd "$(dirname "$domauthd_bin")" && pwd)/$(basename "$domauthd_bin")

DOMAUTH_E2E_INSIDE=1 DOMAUTH_E2E_PYTHON=$py DOMAUTH_BIN=$domauth_bin DOMAUTHD_BIN=$domauthd_bin \
    exec unshare -n -m -- bash "${BASH_SOURCE[0]}"
