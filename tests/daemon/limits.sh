#!/bin/bash
# limits.sh: domauthd's session bounds (issue 18 items 4 and 5), on unix
# sockets in a temporary folder, with a DNS server on loopback that never
# answers so that checks stay pending: input held for a paused connection
# and replies a client does not read are bounded, nothing is lost or
# reordered, idle and half-sent sessions are closed, a full policy listener
# does not lock out the milter, refusals are logged at a limited rate, and
# the counters say so at stop. Needs no root. About 15 s. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
python=/usr/bin/python3
client="$here/limits_client.py"

[ -x "$python" ] || { echo "1..0 # SKIP /usr/bin/python3 not installed"; exit 0; }
[ -x "$domauthd_bin" ] || { echo "Bail out! build domauthd first ($domauthd_bin)"; exit 1; }

. "$here/../lib/tap.sh"
dns_pid=
daemon_pid=
tap_pids="daemon_pid dns_pid"
tap_workdir domauth-limits

# json FILE EXPRESSION-ON-o: prints the value (Python syntax)
json() { "$python" -c "import json,sys; o=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }
# check FILE EXPRESSION-ON-o: 1 when the expression holds
check() { [ "$(json "$1" "bool($2)")" = True ] && echo 1 || echo 0; }
log_count() { grep -cE "$1" "$workdir/daemon.log"; }

# ---- configuration checks -------------------------------------------------
printf '[daemon]\nsyslog = no\n\nmilter_max_sessions = 0\n' > "$workdir/zero.conf"
out=$("$domauthd_bin" -t -c "$workdir/zero.conf" 2>&1)
report "$(printf '%s' "$out" | grep -q "zero.conf:4: milter_max_sessions: expected 1 to" && echo 1 || echo 0)" \
    "domauthd -t refuses milter_max_sessions = 0, naming file and line" "$out"
printf '[daemon]\nrequest_timeout = 100000\n' > "$workdir/absurd.conf"
out=$("$domauthd_bin" -t -c "$workdir/absurd.conf" 2>&1)
report "$(printf '%s' "$out" | grep -q "absurd.conf:2: request_timeout: expected 1 to 86400 seconds" && echo 1 || echo 0)" \
    "domauthd -t refuses request_timeout = 100000, naming file and line" "$out"

# ---- the daemon --------------------------------------------------------------
"$python" "$client" blackhole > "$workdir/dns.json" &
dns_pid=$!
for _ in $(seq 50); do [ -s "$workdir/dns.json" ] && break; sleep 0.1; done
dns_port=$(json "$workdir/dns.json" 'o["port"]')
# Checks end at spf_deadline_ms (4 s); the DNS question itself gives up a
# second later, so none is outstanding when the daemon stops.
cat > "$workdir/domauth.conf" <<CONF
[daemon]
milter = unix:$workdir/milter.sock
policy = unix:$workdir/policy.sock
control = unix:$workdir/control.sock
database =
syslog = no
dns_servers = 127.0.0.1:${dns_port:-9}
dns_timeout_ms = 5000
dns_tries = 1
spf_deadline_ms = 4000
max_sessions = 50
milter_max_sessions = 5
policy_max_sessions = 5
milter_idle_timeout = 3
policy_idle_timeout = 3
request_timeout = 1
CONF
"$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 50); do grep -q "started" "$workdir/daemon.log" && break; sleep 0.1; done
if ! grep -q started "$workdir/daemon.log"; then
    echo "Bail out! domauthd did not start with the session limits and timeouts set:"
    sed 's/^/#   /' "$workdir/daemon.log"
    exit 1
fi
report 1 "domauthd starts with the session limits and timeouts set"
socks="\"policy\": \"$workdir/policy.sock\", \"milter\": \"$workdir/milter.sock\""

# ---- (d) one listener full, (e) refusals logged once -------------------------
"$python" "$client" fill "{$socks, \"fill\": 5, \"extra\": 200}" > "$workdir/fill.json" 2>&1
report "$(check "$workdir/fill.json" 'o["fill_open"] == 5 and o["extra_refused"] == 200')" \
    "policy_max_sessions = 5: five policy sessions served, the next 200 refused" \
    "$(cat "$workdir/fill.json")"
report "$(check "$workdir/fill.json" 'o["milter_ok"]')" \
    "with the policy listener full, a milter connection is still served" "$(cat "$workdir/fill.json")"
sleep 0.2
lines=$(log_count "connection was refused")
report "$([ "$lines" = 1 ] && echo 1 || echo 0)" \
    "200 refusals in a burst make one log line, not 200 (got $lines)"

# ---- (b) idle and (c) half-sent sessions ---------------------------------------
"$python" "$client" timeouts "{$socks, \"idle\": 3, \"request\": 1}" > "$workdir/timeouts.json" 2>&1
t() { json "$workdir/timeouts.json" "'%.1f s' % o['$1'] if isinstance(o.get('$1'), float) else o.get('$1')"; }
report "$(check "$workdir/timeouts.json" 'o["policy_idle"] is not None and 2.5 <= o["policy_idle"] <= 4.5')" \
    "an idle policy connection is closed after policy_idle_timeout (3 s): $(t policy_idle)"
report "$(check "$workdir/timeouts.json" 'o["milter_idle"] not in (None, "refused") and 2.5 <= o["milter_idle"] <= 4.5')" \
    "an idle milter connection is closed after milter_idle_timeout (3 s): $(t milter_idle)"
report "$(check "$workdir/timeouts.json" 'o["policy_active_open"] and o["policy_active_replies"] >= 4')" \
    "a policy connection with a request every second stays open past the idle timeout ($(t policy_active_seconds))"
report "$(check "$workdir/timeouts.json" 'o["policy_slowloris"] is not None and 0.5 <= o["policy_slowloris"] <= 2.5')" \
    "a policy request trickled a byte at a time is closed after request_timeout (1 s): $(t policy_slowloris)"
report "$(check "$workdir/timeouts.json" 'o["milter_half"] is not None and 0.5 <= o["milter_half"] <= 2.5')" \
    "a milter frame sent in part is closed after request_timeout (1 s): $(t milter_half)"

# ---- (a) a flood while a check is pending; pipelined requests in order ---------
# The order client pipelines 4000 requests (about 800 KB, several times
# HOLD_LIMIT) behind a pending check; the flood client sends for 2 s behind
# another. Both run at once; RSS is read by the flood client.
checks_started=$SECONDS
"$python" "$client" order "{$socks, \"count\": 4000}" > "$workdir/order.json" 2>&1 &
order_pid=$!
"$python" "$client" flood "{$socks, \"pid\": $daemon_pid, \"seconds\": 2}" > "$workdir/flood.json" 2>&1
wait "$order_pid"
report "$(check "$workdir/flood.json" 'o["growth_kb"] < 4096')" \
    "a client that keeps sending behind a pending check grows RSS by under 4 MiB: $(json "$workdir/flood.json" '"%d KiB after %d bytes taken in %.1f s" % (o["growth_kb"], o["sent"], o["seconds"])')" \
    "$(cat "$workdir/flood.json")"
report "$(check "$workdir/order.json" 'o["replies"] == o["requests"] and o["mismatches"] == 0 and o["first"].startswith("action=PREPEND Received-SPF: temperror")')" \
    "4001 pipelined requests behind a pending check: every reply, in order" "$(cat "$workdir/order.json")"

"$python" "$client" noread "{$socks, \"pid\": $daemon_pid, \"seconds\": 2}" > "$workdir/noread.json" 2>&1
report "$(check "$workdir/noread.json" 'o["growth_kb"] < 4096')" \
    "a client that sends requests and reads no replies grows RSS by under 4 MiB: $(json "$workdir/noread.json" '"%d KiB after %d bytes taken in %.1f s" % (o["growth_kb"], o["sent"], o["seconds"])')" \
    "$(cat "$workdir/noread.json")"

# ---- (e) the summary of what was not logged ------------------------------------
for _ in $(seq 60); do grep -q "policy connections refused: " "$workdir/daemon.log" && break; sleep 0.2; done
summary=$(grep "policy connections refused: " "$workdir/daemon.log")
report "$(printf '%s' "$summary" | grep -q "policy connections refused: 199 more in the last 10 s" && echo 1 || echo 0)" \
    "within 10 s one more line counts the 199 refusals not logged" "${summary:-$(cat "$workdir/daemon.log")}"

# ---- counters at stop ---------------------------------------------------------
# Stop once the DNS questions of those checks have given up (dns_timeout_ms).
while [ $((SECONDS - checks_started)) -lt 7 ]; do sleep 0.2; done
kill -TERM "$daemon_pid"
wait "$daemon_pid"
status=$?
daemon_pid=
report "$([ "$status" = 0 ] && echo 1 || echo 0)" "domauthd stops cleanly on SIGTERM (exit status $status)" \
    "$(tail -5 "$workdir/daemon.log")"
stats=$(grep "sessions: " "$workdir/daemon.log")
ok=$(printf '%s' "$stats" | "$python" -c '
import re, sys
m = re.search(r"(\d+) refused at a limit, (\d+) idle timeouts, (\d+) request timeouts, reading stopped (\d+) times", sys.stdin.read())
print(1 if m and int(m[1]) == 200 and int(m[2]) == 2 and int(m[3]) in (2, 3) and int(m[4]) >= 3 else 0)')
report "$ok" "the counters at stop: 200 refused, 2 idle and 2 request timeouts (3 if the client that reads no replies was cut mid-request), reading stopped 3 times or more" \
    "${stats:-$(tail -5 "$workdir/daemon.log")}"

tap_done
