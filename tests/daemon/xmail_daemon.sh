#!/bin/bash
# xmail_daemon.sh: `domauth xmail-filter` with domauthd running and stopped
# (issue 10, items 3 and 4), against unbound in a private network namespace:
# the check goes to domauthd's control socket and comes back with the same
# verdict, reply and edits as in-process; the event is written once, by
# whoever checked; the spam folder (a folder quarantine, with the RCPT TO
# lines replaced by redirect_to where set, else "rejected but kept"); a
# daemon that never answers gives the deadline's outcome, one that hangs up
# gives an in-process check; a bad request is declined with a reason. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
fast_bin=${DOMAUTH_XMAIL_FILTER_BIN:-$(dirname "$domauth_bin")/domauth-xmail-filter}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
py=/usr/bin/python3

skip_all() {
    echo "1..0 # SKIP $1"
    exit 0
}
if [ -z "${DOMAUTH_IN_NAMESPACE:-}" ]; then
    [ "$(id -u)" = 0 ] || skip_all "needs root (network namespace, port 53)"
    command -v unshare >/dev/null || skip_all "unshare not found"
    command -v unbound >/dev/null || skip_all "unbound not installed"
    [ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] && [ -x "$fast_bin" ] ||
        { echo "Bail out! build domauth first"; exit 1; }
    exec env DOMAUTH_IN_NAMESPACE=1 unshare -n bash "$0" "$@"
fi

ip link set lo up
. "$here/../lib/tap.sh"
. "$here/../lib/unbound.sh"
. "$here/../lib/xmail_spool.sh"
daemon_pid=
fake_pid=
tap_pids="daemon_pid fake_pid unbound_pid"
tap_workdir domauth-xmail-daemon
W=$workdir

unbound_start 'example.com.	300	IN	TXT	"v=spf1 ip4:192.0.2.0/24 -all"
strict.example.org.	300	IN	TXT	"v=spf1 ip4:203.0.113.5 -all"
soft.example.org.	300	IN	TXT	"v=spf1 ip4:203.0.113.5 ~all"' ||
    { echo "Bail out! unbound did not start"; exit 1; }

cat > "$W/c.conf" <<EOF
[daemon]
milter = unix:$W/milter.sock
policy =
control = unix:$W/control.sock
database = $W/events.db
event_log = $W/events.json
quarantine_dir = $W/q
syslog = no
dns_servers = 127.0.0.1
authserv_id = mx.test
[dkim]
verify = no
[policy]
monitor = no
[spf]
fail_action = reject
softfail_action = quarantine
[domain redir.test]
redirect_to = spam@redir.test
EOF

start_daemon() {
    : > "$W/daemon.log"
    "$domauthd_bin" -f -c "$W/c.conf" > "$W/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do grep -q started "$W/daemon.log" && return 0; sleep 0.1; done
    echo "# domauthd did not start:"
    sed 's/^/#   /' "$W/daemon.log"
}
stop_daemon() {
    kill "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
    daemon_pid=
}

xf() { # the filter as XMail runs it; its log in $W/xf.log
    "$domauth_bin" xmail-filter --config "$W/c.conf" --stderr "$@" 2> "$W/xf.log"
}
fxf() { # the same with domauth-xmail-filter, the filter alone
    "$fast_bin" --config "$W/c.conf" --stderr "$@" 2> "$W/xf.log"
}
events() { [ -f "$W/events.json" ] && wc -l < "$W/events.json" || echo 0; }
# The event log is written by the writer thread: wait for n lines.
wait_events() {
    for _ in $(seq 50); do [ "$(events)" -ge "$1" ] && return 0; sleep 0.1; done
    return 1
}
last_event() { # FIELD...: their values, space-separated
    tail -n 1 "$W/events.json" | "$py" -c 'import json, sys
e = json.loads(sys.stdin.read())
print(" ".join(str(e.get(k)) for k in sys.argv[1:]))' "$@" 2>&1
}
t() { if eval "$1"; then echo 1; else echo 0; fi; } # a condition in shell words
strip_ar() { # the file without the fields the check added (they carry times)
    grep -v -a -E '^(Authentication-Results|Received-SPF):|^	' "$1"
}

# ------------------------------------------------ the same verdict, twice
start_daemon
for mode in domauthd in-process; do
    [ "$mode" = in-process ] && stop_daemon
    before=$(events)
    mkspool "$W/pass.$mode" post-data "[192.0.2.10]:4000" mx.example.com "MAIL FROM:<a@example.com> SIZE=100" b@mx.test
    xf --stage post-data --auth - "$W/pass.$mode"
    rc=$?
    if [ "$mode" = domauthd ]; then
        report "$(yes_if grep -q "(domauthd): accept" "$W/xf.log")" \
            "post-data pass is checked by domauthd" "$(cat "$W/xf.log")"
    else
        report "$(yes_if grep -q "domauthd not reachable.*checked in-process" "$W/xf.log")" \
            "with domauthd stopped, the filter says so and checks in-process" "$(cat "$W/xf.log")"
    fi
    report "$(yes_if [ $rc = 0 ])" "$mode: pass: exit 0" "exit $rc"
    report "$(yes_if grep -q -a "^Authentication-Results: mx.test;.*spf=pass" "$W/pass.$mode")" \
        "$mode: Authentication-Results added to the file" "$(head -c 800 "$W/pass.$mode")"
    wait_events $((before + 1))
    report "$(yes_if [ "$(events)" = $((before + 1)) ])" "$mode: one event for the message" \
        "events: before $before, now $(events)"
    report "$(t '[ "$(last_event listener action result)" = "xmail accept pass" ]')" \
        "$mode: the event says xmail, accept, spf=pass" "$(tail -n 1 "$W/events.json")"

    before=$(events)
    mkspool "$W/fail.$mode" post-data "[198.51.100.9]:4000" mx.strict.example.org "MAIL FROM:<x@strict.example.org>" b@mx.test
    cp "$W/fail.$mode" "$W/fail.$mode.orig"
    xf --stage post-data --auth - "$W/fail.$mode"
    rc=$?
    rej=$(tr -d '\r' < "$W/fail.$mode.rej" 2>/dev/null)
    report "$(t '[ $rc = 3 ] && [ "${rej:0:3}" = 550 ]')" "$mode: SPF fail: exit 3, a 550 in .rej" \
        "exit $rc; rej: $rej; $(cat "$W/xf.log")"
    report "$(yes_if cmp -s "$W/fail.$mode" "$W/fail.$mode.orig")" "$mode: a refused file is untouched"
    wait_events $((before + 1))
    report "$(t '[ "$(last_event action result)" = "reject fail" ]')" \
        "$mode: the event says reject, as the reply did" "$(tail -n 1 "$W/events.json")"
    eval "rej_$(echo $mode | tr -d -)=\$rej"
done
report "$(yes_if [ "$rej_domauthd" = "$rej_inprocess" ])" "the reply is the same from domauthd and in-process" \
    "domauthd: $rej_domauthd; in-process: $rej_inprocess"
report "$(t '[ "$(strip_ar "$W/pass.domauthd" | tail -n +4 | md5sum)" = "$(strip_ar "$W/pass.in-process" | tail -n +4 | md5sum)" ]')" \
    "the rewritten file is the same from domauthd and in-process (but for the check's own fields)"

# ------------------------------------ domauth-xmail-filter, the filter alone
# It links no engine (libc only) and sends the check to domauthd; when it
# must check in-process it runs domauth beside it for that.
start_daemon
report "$(t '! ldd "$fast_bin" | grep -q -E "libcrypto|libsqlite|libuv|libcares|libpsl"')" \
    "domauth-xmail-filter loads neither OpenSSL, SQLite, libuv, c-ares nor libpsl" "$(ldd "$fast_bin")"
for mode in domauthd in-process; do
    [ "$mode" = in-process ] && stop_daemon
    before=$(events)
    mkspool "$W/fpass.$mode" post-data "[192.0.2.10]:4000" mx.example.com "MAIL FROM:<a@example.com>" b@mx.test
    fxf --stage post-data --auth - "$W/fpass.$mode"
    rc=$?
    wait_events $((before + 1))
    report "$(t '[ $rc = 0 ] && grep -q -a "^Authentication-Results: mx.test;.*spf=pass" "$W/fpass.$mode" &&
              [ "$(events)" = $((before + 1)) ] && [ "$(last_event listener result)" = "xmail pass" ]')" \
        "domauth-xmail-filter, $mode: pass, the fields written, one event" "exit $rc; $(cat "$W/xf.log")"
    before=$(events)
    mkspool "$W/ffail.$mode" post-data "[198.51.100.9]:4000" mx.strict.example.org "MAIL FROM:<x@strict.example.org>" b@mx.test
    fxf --stage post-data --auth - "$W/ffail.$mode"
    rc=$?
    rej=$(tr -d '\r' < "$W/ffail.$mode.rej" 2>/dev/null)
    wait_events $((before + 1))
    report "$(t '[ $rc = 3 ] && [ "$rej" = "$rej_domauthd" ] && [ "$(last_event action)" = reject ]')" \
        "domauth-xmail-filter, $mode: SPF fail: exit 3, the same reply, the event says reject" \
        "exit $rc; rej: $rej; $(cat "$W/xf.log")"
done
report "$(t 'grep -q "checked in-process" "$W/xf.log"')" \
    "domauthd stopped: domauth-xmail-filter says it checks in-process (through domauth)" "$(cat "$W/xf.log")"

# ------------------------------------------- the other stages through domauthd
start_daemon
before=$(events)
mkspool "$W/rcpt" post-rcpt "[198.51.100.9]:4000" mx.strict.example.org "MAIL FROM:<x@strict.example.org>"
xf --stage post-rcpt --rcpt b@mx.test --auth - "$W/rcpt"
rc=$?
report "$(t '[ $rc = 3 ] && grep -q "(domauthd)" "$W/xf.log"')" "post-rcpt SPF fail through domauthd: exit 3" \
    "exit $rc; $(cat "$W/xf.log")"
mkspool "$W/auth" pre-data "[198.51.100.9]:4000" mx.strict.example.org "MAIL FROM:<x@strict.example.org>" b@mx.test
xf --stage pre-data --auth alice "$W/auth"
rc=$?
report "$(yes_if [ $rc = 0 ])" "pre-data, SMTP AUTH user: skipped through domauthd, exit 0" "exit $rc; $(cat "$W/xf.log")"
wait_events $((before + 2))
report "$(t '[ "$(last_event listener skip_reason)" = "xmail authenticated" ]')" \
    "the skip is an event with its reason" "$(tail -n 1 "$W/events.json")"

# ------------------------------------------------------------ the spam folder
# softfail quarantines. For redir.test, redirect_to is set: the copy is in
# the folder and XMail delivers to the spam account instead (the RCPT TO
# lines replaced); elsewhere XMail cannot drop an accepted message: the
# sender is refused and the copy kept.
before=$(events)
mkspool "$W/spam1" post-data "[198.51.100.9]:4000" mx.soft.example.org "MAIL FROM:<s@soft.example.org>" u1@redir.test u2@redir.test
xf --stage post-data --auth - "$W/spam1"
rc=$?
rcpts=$(grep -a '^RCPT TO:' "$W/spam1" | tr -d '\r' | tr '\n' ' ')
report "$(t '[ $rc = 0 ] && [ "$rcpts" = "RCPT TO:<spam@redir.test> {ra=spam@redir.test} " ]')" \
    "quarantine with redirect_to: exit 0, the RCPT TO lines now name the spam account" \
    "exit $rc; rcpts: $rcpts; $(cat "$W/xf.log")"
report "$(yes_if grep -q -a '^X-Domauth-Original-Recipients: <u1@redir.test>, <u2@redir.test>' "$W/spam1")" \
    "the original recipients are kept in a field" "$(head -c 1200 "$W/spam1")"
wait_events $((before + 1))
report "$(t '[ "$(last_event action)" = quarantine ] &&
          last_event reasons | grep -q "quarantined as .*delivered to spam@redir.test"')" \
    "the event says quarantine, the folder's id and where it went" "$(tail -n 1 "$W/events.json")"
listed=$("$domauth_bin" quarantine list --config "$W/c.conf" 2>&1)
report "$(t 'grep -q "<s@soft.example.org> -> <u1@redir.test>" <<< "$listed"')" \
    "the copy is in domauth's folder (domauth quarantine list)" "$listed"

before=$(events)
mkspool "$W/spam2" post-data "[198.51.100.9]:4000" mx.soft.example.org "MAIL FROM:<s@soft.example.org>" b@mx.test
cp "$W/spam2" "$W/spam2.orig"
xf --stage post-data --auth - "$W/spam2"
rc=$?
rej=$(tr -d '\r' < "$W/spam2.rej" 2>/dev/null)
report "$(t '[ $rc = 3 ] && [ -n "$rej" ] && cmp -s "$W/spam2" "$W/spam2.orig"')" \
    "quarantine without redirect_to: rejected but kept (exit 3, the deciding reply, the file untouched)" \
    "exit $rc; rej: $rej; $(cat "$W/xf.log")"
wait_events $((before + 1))
report "$(t 'last_event reasons | grep -q "quarantined as .*sender told $rej"')" \
    "the event says the copy was kept and what the sender was told" "$(tail -n 1 "$W/events.json")"
n=$("$domauth_bin" quarantine list --config "$W/c.conf" 2>/dev/null | grep -c "<s@soft.example.org>")
report "$(yes_if [ "$n" = 2 ])" "both copies are in the folder" "listed: $n"

# --------------------------------------------------------- bad requests
answer=$("$py" - "$W/control.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"xmail-check post-data 99999999999 - -\n")
print(s.recv(4096).decode().strip())
EOF
)
report "$(t 'grep -q "^error " <<< "$answer"')" "a request with a bad length is declined with a reason" "$answer"
answer=$("$py" - "$W/control.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
body = b"not an XMail file\r\n"
s.sendall(b"xmail-check post-data %d - -\n" % len(body) + body)
print(s.recv(4096).decode().strip())
EOF
)
report "$(t 'grep -q "^error line" <<< "$answer"')" "a file that does not parse is declined, naming the line" "$answer"
out=$("$domauth_bin" status --config "$W/c.conf" 2>&1)
report "$(t 'grep -q "^listener: *control" <<< "$out"')" "domauthd still answers status" "$out"
stop_daemon

# ----------------------------------------- a daemon that hangs or hangs up
# A control socket that accepts and never answers: the filter's deadline
# passes and the temperror action applies (here accept: none configured).
"$py" - "$W/control.sock" silent <<'EOF' &
import os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(8)
conns = []
while True:
    c, _ = s.accept()
    if mode == "silent": conns.append(c)
    else: c.close()
EOF
fake_pid=$!
for _ in $(seq 30); do [ -S "$W/control.sock" ] && break; sleep 0.1; done
mkspool "$W/slow" post-data "[192.0.2.10]:4000" mx.example.com "MAIL FROM:<a@example.com>" b@mx.test
cp "$W/slow" "$W/slow.orig"
t0=$(date +%s%N)
xf --stage post-data --auth - --deadline-ms 800 "$W/slow"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
report "$(t '[ $rc = 0 ] && [ $ms -lt 5000 ] && grep -q "no answer in time" "$W/xf.log" && cmp -s "$W/slow" "$W/slow.orig"')" \
    "domauthd silent: the deadline's outcome (accept, file untouched) in time" "exit $rc, ${ms} ms; $(cat "$W/xf.log")"
kill "$fake_pid"; wait "$fake_pid" 2>/dev/null
"$py" - "$W/control.sock" hangup <<'EOF' &
import os, socket, sys
path = sys.argv[1]
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(8)
while True:
    c, _ = s.accept(); c.close()
EOF
fake_pid=$!
sleep 0.3
mkspool "$W/hup" post-data "[198.51.100.9]:4000" mx.strict.example.org "MAIL FROM:<x@strict.example.org>" b@mx.test
xf --stage post-data --auth - "$W/hup"
rc=$?
report "$(t '[ $rc = 3 ] && grep -q "checked in-process" "$W/xf.log"')" \
    "domauthd hangs up without a verdict: the filter checks in-process" "exit $rc; $(cat "$W/xf.log")"
kill "$fake_pid"; wait "$fake_pid" 2>/dev/null
fake_pid=

tap_done
