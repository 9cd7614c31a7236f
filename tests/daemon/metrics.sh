#!/bin/bash
# metrics.sh: domauthd's Prometheus endpoint ([daemon] metrics, issue 17
# item 7). Real traffic: policy requests over a unix socket, SPF answered by
# tests/integration/fake_dns.py on loopback (good.* pass or fail by client,
# servfail.* temperror), a whitelisted client; then /metrics is scraped
# (daemon/metrics_client.py checks the exposition format) and every count
# is compared with the events `domauth log --json` reads from the store.
# Also: 404, 405, HEAD, 400, 431, 505, the session limit, and what -t says
# of bad addresses. No root; loopback only. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
python=/usr/bin/python3
client=$here/metrics_client.py
fake_dns=$repo_root/tests/integration/fake_dns.py
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
[ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }

. "$here/../lib/tap.sh"
daemon_pid=
dns_pid=
tap_pids="daemon_pid dns_pid"
tap_workdir domauth-metrics

free_port() {
    "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- what -t says of the key ----------------------------------------------
for bad in "localhost:9895|is not an IP address" "::1:9895|an IPv6 address goes in brackets" \
           "127.0.0.1|expected ADDRESS:PORT" "127.0.0.1:0|expected a whole number from 1 to 65535"; do
    value=${bad%%|*} want=${bad#*|}
    printf '[daemon]\nsyslog = no\nmetrics = %s\n' "$value" > "$workdir/bad.conf"
    out=$("$domauthd_bin" -t -c "$workdir/bad.conf" 2>&1)
    report "$(printf '%s' "$out" | grep -q "bad.conf:3: metrics: .*$want" && echo 1 || echo 0)" \
        "domauthd -t refuses metrics = $value, naming file and line" "$out"
done
printf '[daemon]\nsyslog = no\nmetrics = [::1]:9895\n' > "$workdir/v6.conf"
out=$("$domauthd_bin" -t -c "$workdir/v6.conf" 2>&1)
report "$(printf '%s' "$out" | grep -q ': ok' && echo 1 || echo 0)" "metrics = [::1]:9895 is taken" "$out"

# ---- the daemon, with real checks -----------------------------------------
dns_port=$(free_port)
"$python" "$fake_dns" 127.0.0.1 "$dns_port" > "$workdir/dns.out" 2> "$workdir/dns.log" &
dns_pid=$!
for _ in $(seq 100); do grep -qs '^ready' "$workdir/dns.out" && break; sleep 0.05; done
grep -qs '^ready' "$workdir/dns.out" || { echo "Bail out! fake_dns.py did not start"; exit 1; }
port=$(free_port)
cat > "$workdir/domauth.conf" <<CONF
[daemon]
milter =
policy = unix:$workdir/policy.sock
control = unix:$workdir/control.sock
metrics = 127.0.0.1:$port
database = $workdir/events.db
syslog = no
dns_servers = 127.0.0.1:$dns_port
dns_timeout_ms = 1000
dns_tries = 1
[hosts]
whitelist = 192.0.2.99
CONF
"$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 50); do grep -q started "$workdir/daemon.log" && break; sleep 0.1; done
report "$(grep -q "listening for metrics on inet:127.0.0.1:$port" "$workdir/daemon.log" && echo 1 || echo 0)" \
    "domauthd listens for metrics on the configured address" "$(cat "$workdir/daemon.log")"

"$python" "$client" scrape 127.0.0.1 "$port" > "$workdir/m0.json" 2> "$workdir/m0.err"
report "$([ $? = 0 ] && echo 1 || echo 0)" \
    "a scrape before any mail is well-formed exposition format 0.0.4" "$(cat "$workdir/m0.err")"

# Every family is documented in domauthd(8), METRICS.
undocumented=$("$python" - "$workdir/m0.json" "$repo_root/doc/domauthd.8" <<'PY'
import json, re, sys
m = json.load(open(sys.argv[1]))
man = open(sys.argv[2]).read()
section = man.split(".SH METRICS", 1)[1].split("\n.SH ", 1)[0]
documented = set(re.findall(r"^\.B (domauth_[a-z_]+)", section, re.M))
families = {re.sub(r"_(bucket|sum|count)$", "", k.split("{")[0]) if "duration" in k else k.split("{")[0]
            for k in m}
print(" ".join(sorted(families - documented)) + ("" if documented - families else "") +
      (" (documented, not served: %s)" % " ".join(sorted(documented - families))
       if documented - families else ""))
PY
)
report "$([ -z "$undocumented" ] && echo 1 || echo 0)" \
    "every metric served is in domauthd(8) METRICS, and nothing else is" "not: $undocumented"

# Seven messages: pass, pass, fail (client outside good.*'s 192.0.2.0/24),
# temperror (SERVFAIL), none (NXDOMAIN for none.*: no record), two from
# the whitelisted client. One connection each: the event is written at close.
"$python" - "$workdir/policy.sock" <<'PY'
import socket, sys, time
msgs = [("192.0.2.10", "a@good.example"), ("192.0.2.11", "b@good.example"),
        ("198.51.100.7", "c@good.example"), ("192.0.2.12", "d@servfail.example"),
        ("192.0.2.13", "e@nxdomain.example"), ("192.0.2.99", "f@good.example"),
        ("192.0.2.99", "g@servfail.example")]
for i, (ip, sender) in enumerate(msgs):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n"
               "helo_name=mx.example\nsender=%s\nrecipient=r@example.org\ninstance=%d\n\n"
               % (ip, sender, i + 1)).encode())
    s.recv(1000)
    s.close()
PY
for _ in $(seq 50); do
    n=$("$domauth_bin" log --database "$workdir/events.db" --json --limit 0 2>/dev/null | wc -l)
    [ "$n" -ge 7 ] && break
    sleep 0.1
done
"$domauth_bin" log --database "$workdir/events.db" --json --limit 0 > "$workdir/events.jsonl"
report "$([ "$(wc -l < "$workdir/events.jsonl")" = 7 ] && echo 1 || echo 0)" \
    "seven events in the store" "$(cat "$workdir/events.jsonl")"
"$python" "$client" scrape 127.0.0.1 "$port" > "$workdir/m1.json" 2> "$workdir/m1.err"
report "$([ $? = 0 ] && echo 1 || echo 0)" "a scrape after mail is well formed" \
    "$(cat "$workdir/m1.err")"

# Every count the metrics give, from the events.
"$python" "$client" compare "$workdir/m1.json" "$workdir/events.jsonl" > "$workdir/compare.out" 2>&1
report "$([ $? = 0 ] && echo 1 || echo 0)" \
    "the counts (messages, checked, skips by reason, SPF results, actions, timings) match the events" \
    "$(cat "$workdir/compare.out"; head -c 3000 "$workdir/events.jsonl")"
got=$("$python" -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(int(m["domauth_check_duration_seconds_count{check=dkim}"]),
      int(m["domauth_check_duration_seconds_count{check=senderid}"]),
      m["domauth_check_duration_seconds_sum{check=spf}"] > 0,
      m["domauth_dns_cache_misses_total"] >= 3)' "$workdir/m1.json")
report "$([ "$got" = "0 0 True True" ] && echo 1 || echo 0)" \
    "no DKIM or Sender ID timing without such a check; SPF took time; its questions went to DNS" \
    "got: $got"
got=$("$python" -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(*(int(m[k]) for k in ("domauth_spf_results_total{result=pass}",
      "domauth_spf_results_total{result=fail}", "domauth_spf_results_total{result=temperror}",
      "domauth_spf_results_total{result=none}", "domauth_skipped_total{reason=whitelisted}",
      "domauth_checked_total")))' "$workdir/m1.json")
report "$([ "$got" = "2 1 1 1 2 5" ] && echo 1 || echo 0)" \
    "the events are the ones sent: 2 pass, 1 fail, 1 temperror, 1 none, 2 whitelisted, 5 checked" \
    "got: $got"
status_json=$("$domauth_bin" status --config "$workdir/domauth.conf" --json)
got=$(printf '%s' "$status_json" | "$python" -c '
import json, sys
o = json.load(sys.stdin); m = json.load(open(sys.argv[1]))
print(o["messages"]["events"] == m["domauth_messages_total"] and
      o["results"]["spf"]["pass"] == m["domauth_spf_results_total{result=pass}"] and
      any(l["kind"] == "metrics" for l in o["listeners"]))' "$workdir/m1.json")
report "$([ "$got" = True ] && echo 1 || echo 0)" \
    "domauth status agrees and lists the metrics listener" "$status_json"

# ---- the HTTP side --------------------------------------------------------
raw() { "$python" "$client" raw 127.0.0.1 "$port" "$(printf '%b' "$1" | od -v -An -tx1 | tr -d ' \n')"; }
report "$([ "$(raw 'GET /other HTTP/1.1\r\nHost: x\r\n\r\n')" = "HTTP/1.1 404 Not Found" ] && echo 1 || echo 0)" \
    "another path: 404"
report "$([ "$(raw 'POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n')" = "HTTP/1.1 405 Method Not Allowed" ] && echo 1 || echo 0)" \
    "POST: 405"
head_out=$(curl -sI "http://127.0.0.1:$port/metrics" 2>&1 || true)
report "$(printf '%s' "$head_out" | grep -q '^HTTP/1.1 200' && echo 1 || echo 0)" "HEAD: 200 (curl -I)" "$head_out"
report "$([ "$(raw 'GET http://127.0.0.1/metrics?x=1 HTTP/1.0\n\n')" = "HTTP/1.1 200 OK" ] && echo 1 || echo 0)" \
    "absolute-form target, a query, HTTP/1.0 and bare LF lines: 200"
report "$([ "$(raw 'GET /metrics HTTP/2.0\r\n\r\n')" = "HTTP/1.1 505 HTTP Version Not Supported" ] && echo 1 || echo 0)" \
    "HTTP/2.0 in a request line: 505"
report "$([ "$(raw 'GET  /metrics HTTP/1.1\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ] && echo 1 || echo 0)" \
    "two spaces in the request line: 400"
report "$([ "$(raw 'GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ] && echo 1 || echo 0)" \
    "a folded field line: 400"
big=$("$python" -c 'print("GET /metrics HTTP/1.1\\r\\n" + "X-Long: " + "a" * 5000 + "\\r\\n\\r\\n", end="")')
report "$([ "$(raw "$big")" = "HTTP/1.1 431 Request Header Fields Too Large" ] && echo 1 || echo 0)" \
    "a header block beyond 4 KiB: 431"
closed=$("$python" "$client" hold 127.0.0.1 "$port" 10)
report "$([ "$closed" = 2 ] && echo 1 || echo 0)" \
    "ten idle connections at once: the two beyond the limit of 8 are closed at once" "closed: $closed"
sleep 0.3
"$python" "$client" scrape 127.0.0.1 "$port" > "$workdir/m2.json" 2> "$workdir/m2.err"
got=$("$python" -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(*(int(m[k]) for k in ("domauth_protocol_errors_total", "domauth_sessions_refused_total",
      "domauth_sessions_active{listener=metrics}")))' "$workdir/m2.json" 2>&1)
report "$([ "$got" = "4 2 1" ] && echo 1 || echo 0)" \
    "the bad requests count as protocol errors, the refusals as refused, the scrape is the one session" \
    "got: $got; $(cat "$workdir/m2.err")"

kill -TERM $daemon_pid
wait $daemon_pid
rc=$?
daemon_pid=
report "$([ $rc = 0 ] && echo 1 || echo 0)" "stopped cleanly" "exit $rc; $(tail -5 "$workdir/daemon.log")"
tap_done
