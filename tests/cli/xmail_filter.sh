#!/bin/bash
# xmail_filter.sh: `domauth xmail-filter` run the way XMail runs an SMTP
# filter (XMail is not packaged for Debian): spool files in XMail's format
# at each stage, the tab lines of examples/xmail/ split and exec'd without a
# shell, then the exit status, FILE.rej, the rewritten file byte for byte,
# the event (JSON lines and the SQLite store through domauth log), and
# malformed files left untouched. Offline (--zone), except the deadline
# test, which uses a silent UDP server on loopback. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
[ -x "$domauth_bin" ] || { echo "Bail out! no domauth at $domauth_bin"; exit 1; }
. "$here/../lib/tap.sh"
tap_workdir domauth-xmail
py=/usr/bin/python3
W=$workdir

cat > "$W/zone" <<'EOF'
example.com         TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"
strict.example.org  TXT "v=spf1 ip4:203.0.113.5 -all"
soft.example.org    TXT "v=spf1 ip4:203.0.113.5 ~all"
helo.example.org    TXT "v=spf1 ip4:203.0.113.5 -all"
slow.example.net    TIMEOUT
EOF

# The configuration: enforcing, the events in a JSON file and a store.
base_conf() {
    cat <<EOF
[daemon]
database = $W/events.db
event_log = $W/events.json
syslog = no
authserv_id = mx.test
[hosts]
whitelist = 198.51.100.77
[policy]
monitor = no
[spf]
fail_action = reject
softfail_tag_subject = yes
softfail_tag = [SPF softfail]
temperror_action = defer
[domain lenient.example]
spf_fail_action = accept
EOF
}
base_conf > "$W/c.conf"

. "$here/../lib/xmail_spool.sh"

xf() { "$domauth_bin" xmail-filter --config "$W/c.conf" --zone "$W/zone" --stderr "$@"; }
same() { cmp -s "$1" "$2"; }
last_event() { tail -n 1 "$W/events.json" | "$py" -c "import json,sys; e=json.load(sys.stdin); print($1)" 2>&1; }
crlf_rej() { "$py" -c "import sys; d=open(sys.argv[1],'rb').read(); print('ok' if d.endswith(b'\r\n') and d.count(b'\n')==1 else 'bad')" "$1"; }

# ---------------------------------------------------------------- post-data
M='Received: from mx.example.net by mail.example.org\r\nFrom: x@strict.example.org\r\nSubject: hello\r\n\r\nbody\r\n'
mkspool "$W/rej" post-data "[198.51.100.7]:4025" mx.example.net "MAIL FROM:<x@strict.example.org> SIZE=100 BODY=8BITMIME" bob@example.net
cp "$W/rej" "$W/rej.orig"
out=$(xf --stage post-data --auth - "$W/rej" 2>&1); rc=$?
report "$(yes_if [ $rc = 3 ])" "post-data, SPF fail: exit 3" "exit $rc: $out"
report "$(yes_if [ "$(head -c 200 "$W/rej.rej" | tr -d '\r')" = "550 5.7.23 strict.example.org does not designate 198.51.100.7 as a permitted sender" ])" \
    "the configured reply is the first line of FILE.rej" "$(cat -A "$W/rej.rej" 2>&1)"
report "$(yes_if [ "$(crlf_rej "$W/rej.rej")" = ok ])" "FILE.rej is one CRLF line"
report "$(yes_if same "$W/rej" "$W/rej.orig")" "a refused file is left as it was"
ev=$(last_event 'e["listener"], e["action"], e["result"], e["rcpt"], e["queue_id"].startswith("S")')
report "$(yes_if [ "$ev" = "xmail reject fail bob@example.net True" ])" "the event: listener xmail, reject, the recipient" "$ev"

# A pass: Received-SPF and Authentication-Results added, the forged A-R
# (it claims our authserv-id) removed, everything else byte for byte.
msg='Received: from mx.example.net by mail.example.org\r\nFrom: Sender <sender@example.com>\r\nAuthentication-Results: mx.test; spf=pass smtp.mailfrom=forged\r\nSubject: hello\r\n\r\nbody line 1\r\n.dot\r\n\r\nlast'
mkspool "$W/pass" post-data "[192.0.2.7]:4025" mx.example.net "MAIL FROM:<sender@example.com> SIZE=100" bob@example.net carol@example.net -- "$(printf "$msg")"
cp "$W/pass" "$W/pass.orig"
chmod 640 "$W/pass"
out=$(xf --stage post-data --auth - "$W/pass" 2>&1); rc=$?
report "$(if [ $rc = 0 ] && [ ! -e "$W/pass.rej" ]; then echo 1; else echo 0; fi)" "post-data, SPF pass: exit 0, no FILE.rej" "exit $rc: $out"
got=$("$py" - "$W/pass.orig" "$W/pass" <<'EOF'
import sys
old = open(sys.argv[1], "rb").read()
new = open(sys.argv[2], "rb").read()
marker = b"<<MAIL-DATA>>\r\n"
env = old[:old.index(marker) + len(marker)]
want = env + (
    b"Received-SPF: pass (mail.example.org: domain of sender@example.com designates\r\n"
    b"\t192.0.2.7 as permitted sender) client-ip=192.0.2.7;\r\n"
    b"\tenvelope-from=\"sender@example.com\"; helo=mx.example.net;\r\n"
    b"\treceiver=mail.example.org; identity=mailfrom; mechanism=\"ip4:192.0.2.0/24\";\r\n"
    b"Authentication-Results: mx.test; spf=pass (mail.example.org: domain of\r\n"
    b"\tsender@example.com designates 192.0.2.7 as permitted sender)\r\n"
    b"\tsmtp.mailfrom=sender@example.com; dkim=none\r\n"
    b"Received: from mx.example.net by mail.example.org\r\n"
    b"From: Sender <sender@example.com>\r\n"
    b"Subject: hello\r\n"
    b"X-Domauth-Score: 0.0\r\n"
    b"\r\nbody line 1\r\n.dot\r\n\r\nlast")
if new == want:
    print("same")
else:
    print("differs:\n" + repr(new) + "\nwant:\n" + repr(want))
EOF
)
report "$(yes_if [ "$got" = same ])" "the rewritten file, byte for byte: envelope kept, trace fields on top, forged A-R gone, body kept" "$got"
report "$(yes_if [ "$(stat -c %a "$W/pass")" = 640 ])" "the rewritten file keeps its mode" "$(stat -c %a "$W/pass")"
report "$(yes_if [ -z "$(ls -A "$W" | grep domauth-)" ])" "no temporary file left beside it" "$(ls -A "$W")"
ev=$(last_event 'e["listener"], e["action"], [r["address"] for r in e["recipients"]]')
report "$(yes_if [ "$ev" = "xmail accept ['bob@example.net', 'carol@example.net']" ])" "the event names every recipient" "$ev"

# Softfail: the subject tagged once, even when the filter runs twice.
mkspool "$W/soft" post-data "[198.51.100.7]:25" mx.example.net "MAIL FROM:<x@soft.example.org>" bob@example.net
xf --stage post-data "$W/soft" > /dev/null 2>&1
out=$(xf --stage post-data "$W/soft" 2>&1); rc=$?
subj=$(tr -d '\r' < "$W/soft" | grep '^Subject:')
report "$(if [ $rc = 0 ] && [ "$subj" = "Subject: [SPF softfail] hello" ]; then echo 1; else echo 0; fi)" "softfail: the subject is tagged, once" "exit $rc: $subj; $out"

# Defer: XMail has one refusal, so the 4xx reply line says "try later".
base_conf | sed 's/^fail_action = reject/fail_action = defer\nfail_reply = 451 4.7.23 not now, %{domain}/' > "$W/defer.conf"
mkspool "$W/defer" post-data "[198.51.100.7]:25" mx.example.net "MAIL FROM:<x@strict.example.org>" bob@example.net
out=$("$domauth_bin" xmail-filter --config "$W/defer.conf" --zone "$W/zone" --stage post-data "$W/defer" 2>&1); rc=$?
report "$(if [ $rc = 3 ] && [ "$(tr -d '\r' < "$W/defer.rej")" = "451 4.7.23 not now, strict.example.org" ]; then echo 1; else echo 0; fi)" \
    "defer: exit 3 and the 451 reply in FILE.rej" "exit $rc: $(cat -A "$W/defer.rej" 2>&1) $out"
ev=$(last_event 'e["action"]')
report "$(yes_if [ "$ev" = defer ])" "the event says defer" "$ev"

# --------------------------------------------------------------- post-rcpt
mkspool "$W/rcpt1" post-rcpt "[198.51.100.7]:25" mx.example.net "MAIL FROM:<x@strict.example.org> SIZE=10"
cp "$W/rcpt1" "$W/rcpt1.orig"
out=$(xf --stage post-rcpt --rcpt bob@example.net --auth - "$W/rcpt1" 2>&1); rc=$?
report "$(if [ $rc = 3 ] && grep -q '^550 5.7.23 ' "$W/rcpt1.rej"; then echo 1; else echo 0; fi)" "post-rcpt, fail: exit 3 with the reply" "exit $rc: $out"
report "$(yes_if same "$W/rcpt1" "$W/rcpt1.orig")" "post-rcpt never changes the file"
ev=$(last_event 'e["listener"], e["rcpt"], e["action"]')
report "$(yes_if [ "$ev" = "xmail bob@example.net reject" ])" "post-rcpt event: the recipient checked" "$ev"
out=$(xf --stage post-rcpt --rcpt bob@lenient.example "$W/rcpt1" 2>&1); rc=$?
report "$(yes_if [ $rc = 0 ])" "post-rcpt: a [domain] section of the recipient applies (accept)" "exit $rc: $out"
mkspool "$W/rcpt2" post-rcpt "[2001:db8::5]:25" mx.example.net "MAIL FROM:<a@example.com>" bob@example.net
rm -f "$W/rcpt2.rej"
out=$(xf --stage post-rcpt --rcpt carol@example.net "$W/rcpt2" 2>&1); rc=$?
report "$(if [ $rc = 0 ] && [ ! -e "$W/rcpt2.rej" ]; then echo 1; else echo 0; fi)" "IPv6 client in ip6:2001:db8::/32: pass, exit 0" "exit $rc: $out"
ev=$(last_event 'e["client_ip"], e["result"]')
report "$(yes_if [ "$ev" = "2001:db8::5 pass" ])" "the event has the IPv6 client" "$ev"
"$domauth_bin" xmail-filter --stage post-rcpt "$W/rcpt2" > /dev/null 2>&1; rc=$?
report "$(yes_if [ $rc = 64 ])" "post-rcpt without --rcpt: exit 64 (XMail accepts)" "exit $rc"

# ---------------------------------------------------------------- pre-data
mkspool "$W/pre" pre-data "[198.51.100.7]:25" mx.example.net "MAIL FROM:<x@strict.example.org> BODY=8BITMIME" a@example.net b@example.net
out=$(xf --stage pre-data "$W/pre" 2>&1); rc=$?
report "$(yes_if [ $rc = 3 ])" "pre-data, fail, every recipient refused: exit 3" "exit $rc: $out"
ev=$(last_event 'len([r for r in e["recipients"] if r["action"] == "reject"])')
report "$(yes_if [ "$ev" = 2 ])" "one event for the message, both recipients refused in it" "$ev"
mkspool "$W/pre2" pre-data "[198.51.100.7]:25" mx.example.net "MAIL FROM:<x@strict.example.org>" a@example.net b@lenient.example
rm -f "$W/pre2.rej"
out=$(xf --stage pre-data "$W/pre2" 2>&1); rc=$?
report "$(if [ $rc = 0 ] && [ ! -e "$W/pre2.rej" ]; then echo 1; else echo 0; fi)" "pre-data: one recipient accepts (its [domain]), so the message is accepted" "exit $rc: $out"

# Null sender: the HELO identity.
mkspool "$W/null" pre-data "[198.51.100.7]:25" helo.example.org "MAIL FROM:<>" bob@example.net
out=$(xf --stage pre-data "$W/null" 2>&1); rc=$?
ev=$(last_event 'e["identity"], e["domain"], e["result"], repr(e["mail_from"])')
report "$(if [ $rc = 3 ] && [ "$ev" = "helo helo.example.org fail ''" ]; then echo 1; else echo 0; fi)" "null sender: the HELO is checked" "exit $rc: $ev $out"

# ------------------------------------------------------------------- skips
mkspool "$W/auth" post-data "[198.51.100.7]:25" mx.example.net "MAIL FROM:<x@strict.example.org> AUTH=<>" bob@example.net
out=$(xf --stage post-data --auth alice@example.org "$W/auth" 2>&1); rc=$?
ev=$(last_event 'e["skip_reason"], e["action"]')
report "$(if [ $rc = 0 ] && [ "$ev" = "authenticated accept" ]; then echo 1; else echo 0; fi)" "--auth USER: skipped as authenticated" "exit $rc: $ev $out"
rm -f "$W/auth.rej"
out=$(xf --stage post-data --auth - "$W/auth" 2>&1); rc=$?
report "$(yes_if [ $rc = 3 ])" "--auth -: not authenticated, checked" "exit $rc"
mkspool "$W/wl" post-rcpt "[198.51.100.77]:25" mx.example.net "MAIL FROM:<x@strict.example.org>"
out=$(xf --stage post-rcpt --rcpt bob@example.net "$W/wl" 2>&1); rc=$?
ev=$(last_event 'e["skip_reason"]')
report "$(if [ $rc = 0 ] && [ "$ev" = whitelisted ]; then echo 1; else echo 0; fi)" "a whitelisted client is not checked" "exit $rc: $ev"
mkspool "$W/lo" post-rcpt "[127.0.0.1]:25" mx.example.net "MAIL FROM:<x@strict.example.org>"
out=$(xf --stage post-rcpt --rcpt bob@example.net "$W/lo" 2>&1); rc=$?
ev=$(last_event 'e["skip_reason"]')
report "$(if [ $rc = 0 ] && [ "$ev" = local ]; then echo 1; else echo 0; fi)" "loopback is not checked (check_local = no)" "exit $rc: $ev"

# -------------------------------------------------------- malformed files
bad() { # NAME STAGE WORDS CONTENT(printf)
    printf "$4" > "$W/bad-$1"
    cp "$W/bad-$1" "$W/bad-$1.orig"
    out=$(xf --stage "$2" --rcpt r@example.net "$W/bad-$1" 2>&1); rc=$?
    report "$(if [ $rc = 0 ] && same "$W/bad-$1" "$W/bad-$1.orig" && [ ! -e "$W/bad-$1.rej" ]; then echo 1; else echo 0; fi)" \
        "malformed ($1): exit 0, the file untouched" "exit $rc: $out"
    report "$(printf '%s' "$out" | grep -q "bad-$1: $3" && echo 1 || echo 0)" \
        "malformed ($1): the log line names the file, the line and the problem" "$out"
}
E='mx;[198.51.100.7]:25;mail.example.org;[198.51.100.1]:25;date;logo\r\nmail.example.org\r\nS9@mail\r\n'
bad lf-only post-rcpt "line 2: ends in LF without CR" 'mx;[198.51.100.7]:25;s;[198.51.100.1]:25;d;l\r\nmail\nid\r\nMAIL FROM:<a@b>\r\n'
bad nul post-rcpt "line 4: a NUL byte" "${E}MAIL FROM:<a\\000b>\\r\\n"
bad missing post-rcpt "line 3: missing" 'mx;[198.51.100.7]:25;s;[198.51.100.1]:25;d;l\r\nmail\r\n'
bad no-marker post-data "line 6: no <<MAIL-DATA>>" "${E}MAIL FROM:<a@b>\\r\\nRCPT TO:<c@d>\\r\\n"
bad helo-only post-rcpt "line 1: not HELO" 'HELO x\r\n'
"$py" -c "import sys; open(sys.argv[1],'wb').write(b'mx;[198.51.100.7]:25;s;[198.51.100.1]:25;d;l\r\nm\r\nid\r\nMAIL FROM:<' + b'a'*100000 + b'@b>\r\n')" "$W/bad-huge"
cp "$W/bad-huge" "$W/bad-huge.orig"
out=$(xf --stage post-rcpt --rcpt r@example.net "$W/bad-huge" 2>&1); rc=$?
report "$(if [ $rc = 0 ] && same "$W/bad-huge" "$W/bad-huge.orig" && printf '%s' "$out" | grep -q 'bad-huge: line 4: longer than'; then echo 1; else echo 0; fi)" \
    "a huge line: exit 0, untouched, logged with its line" "exit $rc: $out"
out=$(xf --stage post-data "$W/does-not-exist" 2>&1); rc=$?
report "$(if [ $rc = 0 ] && printf '%s' "$out" | grep -q 'does-not-exist'; then echo 1; else echo 0; fi)" "a missing file: exit 0, logged" "exit $rc: $out"

# ------------------------------------------------ the store and its outage
out=$("$domauth_bin" log --database "$W/events.db" --limit 100 2>&1); rc=$?
report "$(if [ $rc = 0 ] && printf '%s' "$out" | grep -q 'strict.example.org'; then echo 1; else echo 0; fi)" "domauth log reads the XMail events from the store" "exit $rc: $out"
base_conf | sed "s|^database = .*|database = /proc/no/such/dir/events.db|" > "$W/nodb.conf"
mkspool "$W/nodb" post-rcpt "[198.51.100.7]:25" mx.example.net "MAIL FROM:<x@strict.example.org>"
out=$("$domauth_bin" xmail-filter --config "$W/nodb.conf" --zone "$W/zone" --stderr --stage post-rcpt --rcpt b@example.net "$W/nodb" 2>&1); rc=$?
report "$(if [ $rc = 3 ] && printf '%s' "$out" | grep -q 'event log: '; then echo 1; else echo 0; fi)" \
    "a store that cannot be opened: the filter still decides, and warns" "exit $rc: $out"

# ---------------------------------------------------------------- deadline
# A DNS server that never answers: the filter ends within its deadline with
# the temperror action (defer here), never hangs.
"$py" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", s.getsockname()[1])); t.listen(5)
time.sleep(60)' > "$W/port" &
silent_pid=$!
tap_pids=silent_pid
for _ in $(seq 50); do [ -s "$W/port" ] && break; sleep 0.1; done
port=$(cat "$W/port")
mkspool "$W/slow" post-data "[198.51.100.7]:25" mx.example.net "MAIL FROM:<x@strict.example.org>" bob@example.net
cp "$W/slow" "$W/slow.orig"
start=$(date +%s%N)
out=$("$domauth_bin" xmail-filter --config "$W/c.conf" --dns-server "127.0.0.1:$port" --deadline-ms 1500 --stderr --stage post-data "$W/slow" 2>&1); rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
report "$(if [ $rc = 3 ] && [ $ms -lt 4000 ] && grep -q '^451 4.7.24 ' "$W/slow.rej"; then echo 1; else echo 0; fi)" \
    "DNS silent: the temperror action (defer, 451) within the deadline (${ms} ms)" "exit $rc, ${ms} ms: $out"
report "$(yes_if same "$W/slow" "$W/slow.orig")" "a deferred file is left as it was"
ev=$(last_event 'e["result"], e["action"]')
report "$(yes_if [ "$ev" = "temperror defer" ])" "the event: temperror, defer" "$ev"

# ---------------------------------------------- the tab lines, as XMail runs them
# Split each example line on TAB, strip the quotes, substitute the macros
# and execv it (no shell), with --config/--zone added after the verb.
# The program is domauth-xmail-filter, the filter alone (with --zone it runs
# domauth beside it for the in-process check).
tabrun() { # TABFILE SPOOL RCPT AUTH
    "$py" - "$(dirname "$domauth_bin")/domauth-xmail-filter" "$W/c.conf" "$W/zone" "$@" <<'EOF'
import os, sys
binary, conf, zone, tab, spool, rcpt, auth = sys.argv[1:8]
line = open(tab).read().rstrip("\n")
fields = [f[1:-1] for f in line.split("\t")]
assert all(f for f in fields), fields
assert fields[0] == "/usr/bin/domauth-xmail-filter", fields[0]
macros = {"@@FILE": spool, "@@CRCPT": rcpt, "@@USERAUTH": auth}
args = [macros.get(f, f) for f in fields]
args = [binary] + ["--config", conf, "--zone", zone] + args[1:]
pid = os.fork()
if pid == 0:
    os.execv(binary, args)
_, st = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(st))
EOF
}
mkspool "$W/tab1" post-rcpt "[198.51.100.7]:25" mx.example.net "MAIL FROM:<x@strict.example.org>"
got=$(tabrun "$repo_root/examples/xmail/filters.post-rcpt.tab" "$W/tab1" bob@example.net - 2>/dev/null)
report "$([ "$got" = 3 ] && [ -s "$W/tab1.rej" ] && echo 1 || echo 0)" "examples/xmail/filters.post-rcpt.tab, exec'd as XMail does: refused" "$got"
mkspool "$W/tab2" pre-data "[192.0.2.9]:25" mx.example.net "MAIL FROM:<a@example.com>" bob@example.net
got=$(tabrun "$repo_root/examples/xmail/filters.pre-data.tab" "$W/tab2" "" - 2>/dev/null)
report "$(yes_if [ "$got" = 0 ])" "examples/xmail/filters.pre-data.tab: accepted" "$got"
mkspool "$W/tab3" post-data "[192.0.2.9]:25" mx.example.net "MAIL FROM:<a@example.com>" bob@example.net
got=$(tabrun "$repo_root/examples/xmail/filters.post-data.tab" "$W/tab3" "" alice 2>/dev/null)
ev=$(last_event 'e["skip_reason"]')
report "$([ "$got" = 0 ] && [ "$ev" = authenticated ] && echo 1 || echo 0)" "examples/xmail/filters.post-data.tab with @@USERAUTH: skipped as authenticated" "$got $ev"

# DMARC at post-data ([dmarc] check = yes, honor_policy): the From: domain's
# p=reject refuses an unaligned message with exit 3 and FILE.rej; an aligned
# one gets dmarc=pass in the Authentication-Results written into the file.
printf '_dmarc.example.com TXT "v=DMARC1; p=reject"\nrelay.example.net TXT "v=spf1 ip4:198.51.100.0/24 -all"\n' \
    > "$W/dmarc.zone.add"
cat "$W/zone" "$W/dmarc.zone.add" > "$W/dmarc.zone"
{ base_conf; printf '[dmarc]\ncheck = yes\nhonor_policy = yes\n'; } > "$W/dmarc.conf"
mkspool "$W/dmarc-rej" post-data "[198.51.100.7]:25" mx.relay.example.net "MAIL FROM:<list@relay.example.net>" bob@example.net
out=$("$domauth_bin" xmail-filter --config "$W/dmarc.conf" --zone "$W/dmarc.zone" --stage post-data "$W/dmarc-rej" 2>&1); rc=$?
report "$(if [ $rc = 3 ] && [ "$(tr -d '\r' < "$W/dmarc-rej.rej")" = "550 5.7.1 Rejected by the DMARC policy of example.com" ]; then echo 1; else echo 0; fi)" \
    "DMARC at post-data: an unaligned From: example.com, p=reject honoured: exit 3, FILE.rej" \
    "exit $rc: $(cat "$W/dmarc-rej.rej" 2>&1) $out"
ev=$(last_event 'e["dmarc"], e["action"]')
report "$(yes_if [ "$ev" = "fail reject" ])" "DMARC at post-data: the event's dmarc is fail" "$ev"
mkspool "$W/dmarc-pass" post-data "[192.0.2.7]:25" mx.example.net "MAIL FROM:<sender@example.com>" bob@example.net
out=$("$domauth_bin" xmail-filter --config "$W/dmarc.conf" --zone "$W/dmarc.zone" --stage post-data "$W/dmarc-pass" 2>&1); rc=$?
ar=$(tr -d '\r' < "$W/dmarc-pass" | awk '/^Authentication-Results:/{p=1;printf "%s",$0;next} p&&/^[ \t]/{printf "%s",$0;next} {p=0}')
report "$(if [ $rc = 0 ] && printf '%s' "$ar" | grep -q 'dmarc=pass (p=reject dis=none;[[:space:]]*policy of example.com)[[:space:]]*header.from=example.com'; then echo 1; else echo 0; fi)" \
    "DMARC at post-data: an aligned SPF pass, dmarc=pass in the Authentication-Results written" \
    "exit $rc: $ar $out"

out=$("$domauth_bin" xmail-filter --help); rc=$?
report "$(if [ $rc = 0 ] && printf '%s' "$out" | grep -q 'filters.post-data.tab'; then echo 1; else echo 0; fi)" "--help shows a tab line" "exit $rc"
tap_done
