#!/bin/bash
# pg_nodes_postfix.sh: two domauthd nodes on one private PostgreSQL, each
# behind its own private Postfix (issue 15), inside a private network
# namespace (unshare -n -m: lo only, /etc/resolv.conf bind-mounted to an
# unbound on 127.0.0.1 serving the test's SPF records):
#   Postfix A (127.0.0.1:2525) -> milter -> domauthd mx1 --\
#                                                           +-> PostgreSQL
#   Postfix B (127.0.0.1:2625) -> milter -> domauthd mx2 --/    (one history,
#                                                                one quarantine index)
# with one quarantine_dir shared by both. Mail goes through both (swaks,
# posing as clients with XCLIENT, and smtp-source for a load): the shared
# history holds each node's events, as many as it took messages, with the
# queue ids of its own Postfix; every event agrees with the SMTP reply and
# the node's own JSON line; a message quarantined through A is listed from B,
# released from B through B's Postfix into B's mailbox, and not again from A;
# the purge asked of both nodes at once runs on one, and domauth log
# --purge-before on the other node is refused while it holds the lease.
# Needs root, unshare, unbound, postfix, swaks, Debian's postgresql; skips
# without. TAP.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
python=/usr/bin/python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

. "$here/../lib/tap.sh"
. "$here/../lib/pg.sh"
. "$here/../lib/unbound.sh"
. "$here/../lib/postfix.sh"

if [ "${DOMAUTH_PGPF_INSIDE:-}" != 1 ]; then
    pg_available || { echo "1..0 # SKIP $pg_why"; exit 0; }
    for tool in unshare ip unbound postfix swaks /usr/sbin/smtp-source "$python"; do
        command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool not installed"; exit 0; }
    done
    id postfix >/dev/null 2>&1 || { echo "1..0 # SKIP no postfix user"; exit 0; }
    unshare -n -m true 2>/dev/null || { echo "1..0 # SKIP unshare -n -m not permitted here"; exit 0; }
    [ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }
    domauth_bin=$(cd "$(dirname "$domauth_bin")" && pwd)/$(basename "$domauth_bin")
    domauthd_bin=$(cd "$(dirname "$domauthd_bin")" && pwd)/$(basename "$domauthd_bin")
    DOMAUTH_PGPF_INSIDE=1 DOMAUTH_BIN=$domauth_bin DOMAUTHD_BIN=$domauthd_bin \
        exec unshare -n -m -- bash "${BASH_SOURCE[0]}"
fi

pid1= pid2=
tap_pids="pid1 pid2 unbound_pid"
tap_workdir domauth-pg-postfix
chmod 755 "$workdir"
cleanup() {
    pf_stop "$workdir/pfa"
    pf_stop "$workdir/pfb"
    tap_cleanup
    pg_cleanup
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
t0=$(date +%s)
ip link set lo up || { echo "Bail out! cannot bring up lo"; exit 1; }
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$workdir/resolv.conf"
mount --bind "$workdir/resolv.conf" /etc/resolv.conf || { echo "Bail out! cannot bind-mount resolv.conf"; exit 1; }
unbound_start 'pass.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.1 -all"
soft.test. 300 IN TXT "v=spf1 ip4:198.51.100.1 ~all"
fail.test. 300 IN TXT "v=spf1 ip4:198.51.100.1 -all"' || { echo "Bail out! unbound did not start"; exit 1; }
pg_start || { echo "Bail out! PostgreSQL did not start"; exit 1; }
pg_createdb cluster || { echo "Bail out! createdb"; exit 1; }
uri=$(pg_uri cluster)
mkdir -p "$workdir/shared" "$workdir/swaks"

# ---- two nodes, each behind its own Postfix ------------------------------------
# node NAME MILTER-PORT POSTFIX-DIR SMTP-PORT
node() {
    local n=$1 mport=$2 pf=$3 sport=$4
    mkdir -p "$workdir/$n" "$pf" "$pf.mail"
    chown postfix:postfix "$pf.mail"
    cat > "$workdir/$n/domauth.conf" <<CONF
[daemon]
milter = inet:127.0.0.1:$mport
policy = unix:$workdir/$n/policy.sock
control = unix:$workdir/$n/control.sock
database = $uri
node = $n
event_spool = $workdir/$n/events.spool
event_log = $workdir/$n/events.jsonl
syslog = no
dns_servers = 127.0.0.1
dns_timeout_ms = 500
dns_tries = 1
quarantine_dir = $workdir/shared
authserv_id = $n.e2e.test
[dkim]
verify = no
[policy]
monitor = no
[spf]
fail_action = reject
softfail_action = quarantine
CONF
    { pf_main_cf "$pf" "$pf.mail" "$n-postfix"
      echo "milter_default_action = tempfail"; } > "$pf/main.cf"
    { echo "127.0.0.1:$sport inet n - n - 20 smtpd"
      echo "  -o smtpd_milters=inet:127.0.0.1:$mport"
      pf_master_services; } > "$pf/master.cf"
}
start_node() { # name pid-variable
    "$domauthd_bin" -f -c "$workdir/$1/domauth.conf" >> "$workdir/$1/daemon.log" 2>&1 &
    eval "$2=$!"
    for _ in $(seq 50); do grep -q started "$workdir/$1/daemon.log" && return 0; sleep 0.1; done
    return 1
}
node mx1 8891 "$workdir/pfa" 2525
node mx2 8892 "$workdir/pfb" 2625
start_node mx1 pid1 && start_node mx2 pid2 && pf_start "$workdir/pfa" 2525 && pf_start "$workdir/pfb" 2625 ||
    { echo "Bail out! the nodes did not start"; cat "$workdir"/mx*/daemon.log; exit 1; }
report 1 "two domauthd nodes on one PostgreSQL, each behind its own Postfix"

# smtp ID PORT FROM: one message from 192.0.2.10 (XCLIENT) to bob@dest.test;
# the transcript in swaks/ID.out.
smtp() {
    swaks --server "127.0.0.1:$2" --timeout 20 --xclient-addr 192.0.2.10 \
        --xclient-helo mail.pass.test --helo mail.pass.test --from "$3" --to bob@dest.test \
        --header "Subject: $1" --header "Message-Id: <$1@e2e.test>" --body "message $1" \
        > "$workdir/swaks/$1.out" 2>&1
}
# The reply that settled a message: its first error, else the end of DATA's.
final_reply() {
    local r
    r=$(grep -m 1 '^<\*\* ' "$workdir/swaks/$1.out" | sed 's/^<\*\* *//')
    [ -n "$r" ] || r=$(awk '/^ -> \.$/ { f = 1; next } f && /^<- / { sub(/^<- +/, ""); print; exit }' \
                           "$workdir/swaks/$1.out")
    printf '%s\n' "$r"
}
in_box() { grep -rlF -- "<$2@e2e.test>" "$1.mail/box/new" 2>/dev/null | head -n 1; }

# Each node: three messages that pass, two whose SPF fail is rejected;
# through A also one whose SPF softfail is quarantined. Then 40 more each from
# smtp-source (client 127.0.0.1, which pass.test allows).
ids_a="a-pass1 a-pass2 a-pass3 a-fail1 a-fail2 a-soft1"
ids_b="b-pass1 b-pass2 b-pass3 b-fail1 b-fail2"
domain_of() { local d=${1#?-}; echo "${d%[0-9]}.test"; } # a-soft2: soft.test
for id in $ids_a; do smtp "$id" 2525 "$id@$(domain_of "$id")"; done
for id in $ids_b; do smtp "$id" 2625 "$id@$(domain_of "$id")"; done
/usr/sbin/smtp-source -s 4 -m 40 -l 512 -f load-a@pass.test -t bob@dest.test 127.0.0.1:2525 \
    > "$workdir/load-a.out" 2>&1
/usr/sbin/smtp-source -s 4 -m 40 -l 512 -f load-b@pass.test -t bob@dest.test 127.0.0.1:2625 \
    > "$workdir/load-b.out" 2>&1

# ---- one history -------------------------------------------------------------------
events() { # node [--action A]: the node's events in the shared history, JSON lines
    local n=$1
    shift
    "$domauth_bin" log --database "$uri" --node "$n" --json --limit 0 "$@"
}
for _ in $(seq 100); do
    [ "$(events mx1 | wc -l)" -ge 46 ] && [ "$(events mx2 | wc -l)" -ge 45 ] && break
    sleep 0.1
done
sleep 0.3 # a batch more would show here
e1=$(events mx1 | wc -l) e2=$(events mx2 | wc -l)
report "$([ "$e1" = 46 ] && [ "$e2" = 45 ] && echo 1 || echo 0)" \
    "the shared history holds each node's events, one per message it took: mx1 $e1 (46), mx2 $e2 (45)" \
    "$(events mx1 | cut -c1-200)"
all=$("$domauth_bin" log --database "$uri" --json --limit 0 | wc -l)
report "$([ "$all" = 91 ] && [ "$(pg_sql cluster 'SELECT count(DISTINCT uid) FROM events')" = 91 ] && echo 1 || echo 0)" \
    "  one history of 91 events, each with its own uid ($all)"

# The queue ids in each node's events are those its own Postfix logged for
# the messages it accepted, and none of the other's.
qids() { events "$1" | "$python" -c 'import json, sys
print("\n".join(sorted({json.loads(l).get("queue_id") or "-" for l in sys.stdin} - {"-"})))'; }
pf_qids() { sed -n 's/.* \([0-9A-F]\{6,\}\): client=.*/\1/p' "$1/maillog" | sort -u; }
for _ in $(seq 100); do
    [ "$(ls "$workdir/pfa.mail/box/new" 2>/dev/null | wc -l)" -ge 43 ] && [ "$(ls "$workdir/pfb.mail/box/new" 2>/dev/null | wc -l)" -ge 43 ] && break
    sleep 0.1
done
accepted_a=$(qids mx1 | comm -12 - <(pf_qids "$workdir/pfa") | wc -l)
accepted_b=$(qids mx2 | comm -12 - <(pf_qids "$workdir/pfb") | wc -l)
cross=$(qids mx1 | comm -12 - <(pf_qids "$workdir/pfb") | wc -l)
delivered_a=$(ls "$workdir/pfa.mail/box/new" 2>/dev/null | wc -l) delivered_b=$(ls "$workdir/pfb.mail/box/new" 2>/dev/null | wc -l)
report "$([ "$accepted_a" -ge 44 ] && [ "$accepted_b" -ge 43 ] && [ "$cross" = 0 ] && echo 1 || echo 0)" \
    "  mx1's events carry Postfix A's queue ids ($accepted_a), mx2's Postfix B's ($accepted_b), none crossed ($cross)" \
    "$(qids mx1 | head -5) / $(pf_qids "$workdir/pfa" | head -5)"
report "$([ "$delivered_a" = 43 ] && [ "$delivered_b" = 43 ] && echo 1 || echo 0)" \
    "  43 messages delivered by each Postfix (3 + 40 passed; the rest rejected or quarantined): $delivered_a, $delivered_b" \
    "$(tail -3 "$workdir/load-a.out")"

# ---- every event agrees with its SMTP reply and its node's JSON line ---------------
agree() { # node id want-action want-reply-prefix delivered(yes/no) postfix-dir
    local ev line reply
    ev=$(events "$1" | grep -F "\"mail_from\":\"$2@")
    line=$(grep -F "\"mail_from\":\"$2@" "$workdir/$1/events.jsonl")
    reply=$(final_reply "$2")
    "$python" - "$ev" "$line" "$3" "$reply" "$4" <<'PY' || return 1
import json, sys
ev, line, action, reply, prefix = sys.argv[1:]
e = json.loads(ev)
j = json.loads(line)
e.pop("id", None)
assert e == j, "stored %r\nJSON line %r" % (e, j)
assert e["action"] == action, "action %s, want %s" % (e["action"], action)
assert reply.startswith(prefix), "SMTP reply %r, want %s" % (reply, prefix)
if e.get("reply"):
    # What the event says the client was told is what the client got.
    assert reply.startswith(e["reply"].split(" ")[0]), "event reply %r, SMTP %r" % (e["reply"], reply)
PY
    if [ "$5" = yes ]; then [ -n "$(in_box "$6" "$2")" ] || { echo "$2 not delivered"; return 1; }
    else [ -z "$(in_box "$6" "$2")" ] || { echo "$2 delivered"; return 1; }; fi
}
bad=0 why=
for id in $ids_a $ids_b; do
    n=mx1 pf=$workdir/pfa
    case $id in b-*) n=mx2 pf=$workdir/pfb ;; esac
    case $id in
    *pass*) out=$(agree $n "$id" accept 250 yes "$pf" 2>&1) ;;
    *fail*) out=$(agree $n "$id" reject 5 no "$pf" 2>&1) ;;
    *soft*) out=$(agree $n "$id" quarantine 250 no "$pf" 2>&1) ;;
    esac || { bad=$((bad + 1)); why="$why$id: $out"$'\n'; }
done
report "$([ "$bad" = 0 ] && echo 1 || echo 0)" \
    "11 messages: each stored event is its node's JSON line, its action what the SMTP reply said" "$why"
rej_a=$(grep -c 'milter-reject: .* 5[0-9][0-9] ' "$workdir/pfa/maillog") rej_b=$(grep -c 'milter-reject: .* 5[0-9][0-9] ' "$workdir/pfb/maillog")
report "$([ "$rej_a" = 2 ] && [ "$rej_b" = 2 ] && [ "$(events mx1 --action reject | wc -l)" = 2 ] && echo 1 || echo 0)" \
    "  each Postfix logged 2 milter rejects, as its node's events say ($rej_a, $rej_b)"

# ---- one quarantine: kept through A, released from B into B's mailbox --------------
rid=$("$domauth_bin" quarantine list --json --config "$workdir/mx2/domauth.conf" 2>&1 |
      "$python" -c 'import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if o["state"] == "quarantined" and "a-soft1" in o.get("sender", ""): print(o["id"])')
report "$([ -n "$rid" ] && [ -n "$(grep -rlF '<a-soft1@e2e.test>' "$workdir/shared/new")" ] && echo 1 || echo 0)" \
    "the message quarantined through A is listed from B (domauth quarantine list --config mx2)" \
    "$("$domauth_bin" quarantine list --config "$workdir/mx2/domauth.conf" 2>&1)"
printf '#!/bin/sh\nMAIL_CONFIG=%s exec /usr/sbin/sendmail "$@"\n' "$workdir/pfb" > "$workdir/sendmail-b"
printf '#!/bin/sh\nMAIL_CONFIG=%s exec /usr/sbin/sendmail "$@"\n' "$workdir/pfa" > "$workdir/sendmail-a"
chmod +x "$workdir/sendmail-a" "$workdir/sendmail-b"
out=$("$domauth_bin" quarantine release "$rid" --sendmail "$workdir/sendmail-b" \
      --config "$workdir/mx2/domauth.conf" 2>&1)
for _ in $(seq 100); do [ -n "$(in_box "$workdir/pfb" a-soft1)" ] && break; sleep 0.1; done
f=$(in_box "$workdir/pfb" a-soft1)
report "$([ -n "$f" ] && grep -q '^Return-Path: <a-soft1@soft.test>' "$f" && [ -z "$(in_box "$workdir/pfa" a-soft1)" ] && echo 1 || echo 0)" \
    "released from B: delivered by Postfix B to bob's mailbox, with the original sender" "$out"
again=$("$domauth_bin" quarantine release "$rid" --sendmail "$workdir/sendmail-a" \
        --config "$workdir/mx1/domauth.conf" 2>&1); rc=$?
report "$([ $rc != 0 ] && [ "$(pg_sql cluster "SELECT state FROM quarantine WHERE id = '$rid'")" = released ] &&
          [ -z "$(in_box "$workdir/pfa" a-soft1)" ] && echo 1 || echo 0)" \
    "  a release from A afterwards is refused; the shared row says released" "exit $rc: $again"

# ---- the purge, asked of both nodes at once, runs on one -------------------------------
. "$here/../lib/control.sh"
control() { control_send "$workdir/$1/control.sock" "$2"; } # node command
stat() { control "$1" status | "$python" -c 'import json,sys; print(json.load(sys.stdin)["event_log"][sys.argv[1]])' "$2"; }
kept=$(pg_sql cluster 'SELECT count(*) FROM events')
pg_sql cluster "INSERT INTO events (time, client_ip, action, node, uid) SELECT 1000, '192.0.2.1', 'accept', 'mx1', 'old-' || g FROM generate_series(1, 30) AS g"
control mx1 purge >/dev/null & c1=$!
control mx2 purge >/dev/null & c2=$!
wait "$c1" "$c2"
for _ in $(seq 50); do
    [ $(($(stat mx1 purged) + $(stat mx2 purged) + $(stat mx1 purge_skipped) + $(stat mx2 purge_skipped))) -ge 31 ] && break
    sleep 0.1
done
p1=$(stat mx1 purged) p2=$(stat mx2 purged) k1=$(stat mx1 purge_skipped) k2=$(stat mx2 purge_skipped)
report "$([ $((p1 + p2)) = 30 ] && [ $((k1 + k2)) = 1 ] && [ "$(pg_sql cluster 'SELECT count(*) FROM events')" = "$kept" ] && echo 1 || echo 0)" \
    "the purge asked of both nodes at once: one deletes the 30 old events, the other leaves it" \
    "purged $p1 $p2, skipped $k1 $k2; $(pg_sql cluster 'SELECT count(*) FROM events') events, $kept before"

# domauth log --purge-before takes the same lease: refused on the other
# node while the daemon's purge holds it, run on the holder's.
holder=$(pg_sql cluster "SELECT holder FROM cluster_jobs WHERE job = 'purge'")
other=mx1
[ "$holder" = mx1 ] && other=mx2
out=$("$domauth_bin" log --config "$workdir/$other/domauth.conf" --purge-before 30d 2>&1); rc=$?
outh=$("$domauth_bin" log --config "$workdir/$holder/domauth.conf" --purge-before 30d 2>&1); rch=$?
report "$([ $rc = 75 ] && printf '%s' "$out" | grep -q "node '$holder' holds the cluster's purge lease" &&
          [ $rch = 0 ] && echo 1 || echo 0)" \
    "domauth log --purge-before on $other: refused while $holder's daemon holds the lease (exit 75); on $holder it runs" \
    "exit $rc: $out; exit $rch: $outh"

kill -TERM "$pid1" "$pid2"; wait "$pid1" "$pid2" 2>/dev/null; pid1= pid2=
report "$(! grep -q 'ERROR: AddressSanitizer\|runtime error' "$workdir"/mx*/daemon.log &&
          ! grep -qE 'panic:|fatal:' "$workdir"/pf?/maillog && echo 1 || echo 0)" \
    "no sanitizer report; neither Postfix logged a panic or fatal error"
echo "# $(($(date +%s) - t0)) s"
tap_done
