#!/bin/bash
# pg_nodes.sh: two domauthd "nodes" on one private PostgreSQL (issue 15):
# policy requests through both make one history (each event with its node
# and a uid of its own); faults while mail flows: the server stopped and
# restarted (events spooled, then stored: none lost, none twice), the
# connections killed with pg_terminate_backend, a table lock held past the
# statement timeout; the daily purge run by one node; a spool file with a
# bad line replayed at start; the daily DMARC report run taken by one node
# (its lease); `domauth dmarc report` on the shared store
# (the ledger in PostgreSQL: a second run sends nothing; the configured
# password file is read). Needs root (the server runs as postgres) and
# Debian's postgresql; skips without. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
python=/usr/bin/python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
[ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }

. "$here/../lib/tap.sh"
. "$here/../lib/pg.sh"
if ! pg_available; then
    echo "1..0 # SKIP $pg_why"
    exit 0
fi
pid1= pid2= lock_pid=
tap_pids="pid1 pid2 lock_pid"
tap_workdir domauth-pg-nodes
trap 'tap_cleanup; pg_cleanup' EXIT
pg_start || { echo "Bail out! PostgreSQL did not start"; exit 1; }
pg_createdb cluster || { echo "Bail out! createdb"; exit 1; }
uri=$(pg_uri cluster)

write_conf() { # node
    mkdir -p "$workdir/$1"
    cat > "$workdir/$1/domauth.conf" <<CONF
[daemon]
milter = unix:$workdir/$1/milter.sock
policy = unix:$workdir/$1/policy.sock
control = unix:$workdir/$1/control.sock
database = $uri
node = $1
event_spool = $workdir/$1/events.spool
syslog = no
dns_servers = 127.0.0.1:9
dns_timeout_ms = 200
dns_tries = 1
quarantine_dir = $workdir/shared
[hosts]
whitelist = 192.0.2.0/24
[dkim]
verify = no
[policy]
monitor = no
[spf]
temperror_action = quarantine
[dmarc]
report = yes
report_hour = 0
report_org_name = Receiver
report_email = dmarc-reports@receiver.test
report_sendmail = /bin/false
CONF
}
start_node() { # node pid-variable
    "$domauthd_bin" -f -c "$workdir/$1/domauth.conf" >> "$workdir/$1/daemon.log" 2>&1 &
    eval "$2=$!"
    for _ in $(seq 50); do grep -q started "$workdir/$1/daemon.log" && break; sleep 0.1; done
}
# send NODE COUNT TAG: COUNT policy requests, a connection each; prints
# how many were answered and the slowest answer in milliseconds.
send() {
    "$python" - "$workdir/$1/policy.sock" "$2" "$3" <<'PY'
import socket, sys, time
path, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
answered, slowest = 0, 0.0
for i in range(n):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.%d\n"
               "helo_name=mx.example\nsender=%s-%d@example.com\nrecipient=r@example.org\n"
               "instance=%s.%d\n\n" % (i % 250 + 1, tag, i, tag, i)).encode())
    if b"action=" in s.recv(1000):
        answered += 1
    s.close()
    slowest = max(slowest, (time.monotonic() - t0) * 1000)
print(answered, int(slowest))
PY
}
. "$here/../lib/control.sh"
control() { control_send "$workdir/$1/control.sock" "$2"; } # node command
stat() { # node field: the event log's counter
    control "$1" status | "$python" -c 'import json,sys; print(json.load(sys.stdin)["event_log"][sys.argv[1]])' "$2"
}
rows() { pg_sql cluster "SELECT count(*) FROM events"; }
uids() { pg_sql cluster "SELECT count(DISTINCT uid) FROM events"; }
wait_rows() { # n [seconds]
    for _ in $(seq $((${2:-10} * 10))); do [ "$(rows 2>/dev/null)" = "$1" ] && return 0; sleep 0.1; done
    return 1
}

write_conf mx1
write_conf mx2
start_node mx1 pid1 & start_node mx2 pid2 & wait
pid1=$(pgrep -f "domauthd -f -c $workdir/mx1/" | head -1)
pid2=$(pgrep -f "domauthd -f -c $workdir/mx2/" | head -1)
report "$([ -n "$pid1" ] && [ -n "$pid2" ] && echo 1 || echo 0)" "two nodes start together on one empty database"
report "$([ "$(pg_sql cluster 'SELECT count(*) FROM schema_version')" = 4 ] && echo 1 || echo 0)" \
    "  the schema steps applied once each" "$(pg_sql cluster 'SELECT * FROM schema_version')"

# ---- one history -----------------------------------------------------------
a=$(send mx1 100 a) b=$(send mx2 100 b)
wait_rows 200
report "$([ "${a%% *}" = 100 ] && [ "${b%% *}" = 100 ] && [ "$(rows)" = 200 ] && echo 1 || echo 0)" \
    "100 messages through each node: 200 events in one history" "answered $a / $b, rows $(rows)"
n1=$("$domauth_bin" log --database "$uri" --node mx1 --json --limit 0 | wc -l)
n2=$("$domauth_bin" log --database "$uri" --node mx2 --json --limit 0 | grep -c '"node":"mx2"')
report "$([ "$n1" = 100 ] && [ "$n2" = 100 ] && [ "$(uids)" = 200 ] && echo 1 || echo 0)" \
    "domauth log --node: 100 from each, every event with its own uid" "$n1 $n2 $(uids)"
ev=$("$domauth_bin" report --database "$uri" --node mx2 --since 1d --until "@$(( $(date +%s) + 60 ))" --json |
     "$python" -c 'import json, sys; print(json.load(sys.stdin)["events"])')
report "$([ "$ev" = 100 ] && echo 1 || echo 0)" "domauth report --node mx2 counts mx2's 100 events" "$ev"
out=$("$domauth_bin" log --database "$uri" --summary)
report "$(printf '%s' "$out" | grep -q '200' && echo 1 || echo 0)" "domauth log --summary over PostgreSQL" "$out"

# ---- the daily DMARC report run, on one node ----------------------------------
# Both nodes look 5 seconds after start; one takes the lease and runs, the
# other logs that it holds it and leaves the day.
for _ in $(seq 100); do
    [ "$(cat "$workdir"/mx*/daemon.log | grep -c 'DMARC reports of the day at [0-9]*: \(0 reports\|another node\)')" -ge 2 ] && break
    sleep 0.1
done
ran=$(cat "$workdir"/mx*/daemon.log | grep -c 'DMARC reports of the day at [0-9]*: 0 reports')
left=$(cat "$workdir"/mx*/daemon.log | grep -c "another node holds the cluster's report lease")
report "$([ "$ran" = 1 ] && [ "$left" = 1 ] &&
          [ "$(pg_sql cluster "SELECT count(*) FROM cluster_jobs WHERE job = 'dmarc-report'")" = 1 ] && echo 1 || echo 0)" \
    "the daily DMARC report run: one node runs it, the other leaves it to the lease holder" \
    "ran $ran, left $left: $(grep -h 'DMARC' "$workdir"/mx*/daemon.log)"

# ---- the server stopped while mail flows ------------------------------------
pg_stop
a=$(send mx1 150 c) b=$(send mx2 150 d)
report "$([ "${a%% *}" = 150 ] && [ "${b%% *}" = 150 ] && [ "${a##* }" -lt 1000 ] && [ "${b##* }" -lt 1000 ] && echo 1 || echo 0)" \
    "PostgreSQL stopped: every message answered, none waited (slowest ${a##* } / ${b##* } ms)" "$a / $b"
sleep 1.5
s1=$(stat mx1 spooled) s2=$(stat mx2 spooled)
report "$([ "$s1" = 150 ] && [ "$s2" = 150 ] && echo 1 || echo 0)" \
    "  the events are spooled: $s1 and $s2 (status spooled)"
report "$([ "$(grep -c 'decisions are kept in' "$workdir/mx1/daemon.log")" = 1 ] && echo 1 || echo 0)" \
    "  one log line for the outage" "$(grep 'event database' "$workdir/mx1/daemon.log")"
pg_restart
wait_rows 500 10
report "$([ "$(rows)" = 500 ] && [ "$(uids)" = 500 ] && echo 1 || echo 0)" \
    "restarted: the 300 spooled events stored, none lost, none twice ($(rows) rows, $(uids) uids)"
sleep 1.2
r1=$(stat mx1 replayed) b1=$(stat mx1 spool_bytes)
report "$([ "$r1" = 150 ] && [ "$b1" = 0 ] && [ ! -s "$workdir/mx1/events.spool" ] && echo 1 || echo 0)" \
    "  replayed 150 on mx1, the spool file emptied" "replayed $r1, bytes $b1"

# ---- connections killed ------------------------------------------------------
pg_sql cluster "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'domauth' AND pid <> pg_backend_pid()" > "$workdir/killed"
a=$(send mx1 20 e) b=$(send mx2 20 f)
wait_rows 540 5
report "$([ "$(rows)" = 540 ] && [ "$(uids)" = 540 ] && [ "$(stat mx1 spooled)" = 150 ] && echo 1 || echo 0)" \
    "pg_terminate_backend ($(cat "$workdir/killed") connections): the writers reconnect, 40 more stored, none spooled" \
    "rows $(rows), spooled $(stat mx1 spooled)"

# ---- a slow database: a lock held past the statement timeout ------------------
psql -h "$pg_dir" -U domauth -d cluster -qAtX -c "BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(7); COMMIT;" >/dev/null 2>&1 &
lock_pid=$!
sleep 0.5
a=$(send mx1 30 g) b=$(send mx2 30 h)
report "$([ "${a%% *}" = 30 ] && [ "${b%% *}" = 30 ] && [ "${a##* }" -lt 1000 ] && [ "${b##* }" -lt 1000 ] && echo 1 || echo 0)" \
    "a table lock held for 7 s: every message answered at once (slowest ${a##* } / ${b##* } ms)"
wait "$lock_pid"; lock_pid=
wait_rows 600 12
report "$([ "$(rows)" = 600 ] && [ "$(uids)" = 600 ] && echo 1 || echo 0)" \
    "  after the lock: all 60 stored once ($(rows) rows, $(uids) uids; spooled $(stat mx1 spooled) on mx1)"

# ---- the purge, run by one node -----------------------------------------------
pg_sql cluster "INSERT INTO events (time, client_ip, action, uid) SELECT 1000, '192.0.2.1', 'accept', 'old-' || g FROM generate_series(1, 25) AS g"
control mx1 purge >/dev/null & control mx2 purge >/dev/null & wait
for _ in $(seq 50); do [ "$(pg_sql cluster 'SELECT count(*) FROM events WHERE time < 2000')" = 0 ] && break; sleep 0.1; done
sleep 0.3
p1=$(stat mx1 purged) p2=$(stat mx2 purged) k1=$(stat mx1 purge_skipped) k2=$(stat mx2 purge_skipped)
report "$([ $((p1 + p2)) = 25 ] && [ $((k1 + k2)) = 1 ] && [ "$(rows)" = 600 ] && echo 1 || echo 0)" \
    "purge asked of both nodes at once: one purges the 25 old events, the other leaves it to it" \
    "purged $p1 $p2, skipped $k1 $k2, rows $(rows): $(pg_sql cluster "SELECT listener, action, reasons FROM events WHERE time >= 2000 AND action NOT IN ('accept', 'reject', 'defer', 'tag', 'quarantine') LIMIT 5")"
report "$([ "$(pg_sql cluster "SELECT count(*) FROM cluster_jobs WHERE job = 'purge'")" = 1 ] && echo 1 || echo 0)" \
    "  one lease row for the purge"

# ---- one quarantine: kept by mx1, released from mx2 (twice at once) ----------------
printf 'From: <a@sender.test>\nSubject: kept for review\n\nline one\n' > "$workdir/m1.eml"
"$python" "$repo_root/tests/daemon/milter_client.py" "$("$python" -c 'import json, sys
print(json.dumps({"port": sys.argv[1], "client_ip": "198.51.100.20", "helo": "mx.sender.test",
                  "mail_from": "a@sender.test", "rcpt": "b@dest.test", "message": sys.argv[2],
                  "output": sys.argv[3], "on_reply": ""}))' \
    "$workdir/mx1/milter.sock" "$workdir/m1.eml" "$workdir/out.eml")" > "$workdir/milter.out" 2>&1
rid=$("$domauth_bin" quarantine list --json --config "$workdir/mx2/domauth.conf" 2>/dev/null |
      "$python" -c 'import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if o["state"] == "quarantined": print(o["id"]); break')
report "$([ -n "$rid" ] && echo 1 || echo 0)" \
    "a message quarantined through mx1's milter is listed by mx2's domauth quarantine list" \
    "$(cat "$workdir/milter.out"; "$domauth_bin" quarantine list --config "$workdir/mx2/domauth.conf" 2>&1)"
cat > "$workdir/sendmail" <<SH
#!/bin/sh
sleep 0.3
echo sent >> "$workdir/sendmail.log"
cat > /dev/null
SH
chmod +x "$workdir/sendmail"
for n in 1 2 3; do
    "$domauth_bin" quarantine release "$rid" --sendmail "$workdir/sendmail" \
        --config "$workdir/mx$(( n % 2 + 1 ))/domauth.conf" > "$workdir/release$n.out" 2>&1 &
done
wait
sent=$(wc -l < "$workdir/sendmail.log" 2>/dev/null || echo 0)
ok=$(grep -l "released $rid" "$workdir"/release*.out | wc -l)
told=$(grep -l "released or deleted meanwhile\|is released, not quarantined" "$workdir"/release*.out | wc -l)
report "$([ "$sent" = 1 ] && [ "$ok" = 1 ] && [ "$told" = 2 ] && echo 1 || echo 0)" \
    "three releases at once from mx1 and mx2: sent once, the other two told" \
    "sent $sent; $(cat "$workdir"/release*.out)"
report "$([ "$(pg_sql cluster "SELECT state FROM quarantine WHERE id = '$rid'")" = released ] &&
          [ ! -e "$workdir/shared/new/$rid" ] && echo 1 || echo 0)" \
    "  the row says released, the file in the shared directory is gone"

# ---- a spool file left by a run, with a bad line ---------------------------------
kill -TERM "$pid2"; wait "$pid2" 2>/dev/null; pid2=
before=$(rows)
"$domauth_bin" log --database "$uri" --node mx2 --json --limit 3 |
    sed 's/"uid":"/"uid":"again-/; s/^{"id":[0-9]*,/{/' > "$workdir/good.jsonl"
{ sed -n 1p "$workdir/good.jsonl"; echo '{"time": 12, "helo": "unterminated'; sed -n '2,3p' "$workdir/good.jsonl"; } \
    > "$workdir/mx2/events.spool"
start_node mx2 pid2
wait_rows $((before + 3)) 5
report "$([ "$(rows)" = $((before + 3)) ] && grep -q 'events.spool:2: .*the line is skipped' "$workdir/mx2/daemon.log" && echo 1 || echo 0)" \
    "a spool file left by the last run is stored at start; its bad line named (file:2) and skipped" \
    "rows $(rows); $(grep spool "$workdir/mx2/daemon.log")"

# ---- DMARC aggregate reports from the shared store ---------------------------
# Events with a DMARC result written to PostgreSQL by the real pipeline
# (domauth xmail-filter, [dmarc] check), then reported by hand.
py=$python
. "$here/../lib/xmail_spool.sh"
R=$workdir/dmarc
mkdir -p "$R/sent"
printf '%s\n' 'bank.test TXT "v=spf1 ip4:192.0.2.0/24 -all"' \
    '_dmarc.bank.test TXT "v=DMARC1; p=reject; rua=mailto:dmarc@bank.test"' > "$R/zone"
printf '#!/bin/sh\nn=$(ls "%s/sent" | grep -c eml)\ncat > "%s/sent/$n.eml"\n' "$R" "$R" > "$R/sendmail"
chmod +x "$R/sendmail"
dmarc_conf() { # extra [daemon] line
    printf '%s\n' "[daemon]" "database = $uri" "$1" "syslog = no" "[policy]" "monitor = no" \
        "[dmarc]" "check = yes" "report_org_name = Receiver" \
        "report_email = dmarc-reports@receiver.test" "report_sendmail = $R/sendmail"
}
dmarc_conf "" > "$R/c.conf"
msg=$'From: CEO <ceo@bank.test>\r\nTo: bob@dest.test\r\nSubject: m\r\n\r\nbody\r\n'
for i in 1 2 3; do
    mkspool "$R/s$i" post-data "[192.0.2.7]:25" mx.sender.test "MAIL FROM:<x@bank.test>" bob@dest.test -- "$msg"
    "$domauth_bin" xmail-filter --config "$R/c.conf" --zone "$R/zone" --stage post-data "$R/s$i" > /dev/null 2>&1
done
day=$(date -u +%F)
dr() { "$domauth_bin" dmarc report --config "$1" --zone "$R/zone" --date "$day"; }
out=$(dr "$R/c.conf" 2>&1); rc=$?
report "$([ $rc = 0 ] && [ "$(ls "$R/sent" | grep -c eml)" = 1 ] &&
          [ "$(pg_sql cluster "SELECT state || ' ' || attempts FROM dmarc_reports")" = "sent 1" ] && echo 1 || echo 0)" \
    "domauth dmarc report on PostgreSQL: one report sent, its ledger row in the shared database" \
    "exit $rc: $out; $(pg_sql cluster 'SELECT * FROM dmarc_reports')"
out=$(dr "$R/c.conf" 2>&1); rc=$?
report "$([ $rc = 0 ] && [ "$(ls "$R/sent" | grep -c eml)" = 1 ] &&
          [ "$(pg_sql cluster "SELECT count(*) FROM dmarc_reports")" = 1 ] && echo 1 || echo 0)" \
    "  a second run sends nothing: the shared ledger says sent" "exit $rc: $out"
dmarc_conf "database_password_file = $R/no-such-password" > "$R/p.conf"
out=$(dr "$R/p.conf" 2>&1); rc=$?
report "$([ $rc != 0 ] && printf '%s' "$out" | grep -q 'no-such-password' && echo 1 || echo 0)" \
    "  the run reads [daemon] database_password_file (a missing one is named)" "exit $rc: $out"

kill -TERM "$pid1" "$pid2"; wait "$pid1" "$pid2" 2>/dev/null; pid1= pid2=
report "$(! grep -q 'ERROR: AddressSanitizer\|runtime error' "$workdir"/mx*/daemon.log && echo 1 || echo 0)" \
    "no sanitizer report"
tap_done
