#!/bin/bash
# dmarc_report.sh: the DMARC aggregate reports over real DNS and from the
# daemon. unbound in a private network namespace serves the external
# destination authorization records (RFC 9990 section 4): reports.test
# publishes bank.test._report._dmarc.reports.test, other.test does not,
# override.test names another host (so neither address gets one). Then
# `domauth dmarc report` asks unbound, and domauthd with [dmarc] report =
# yes sends the day before's reports on its own through a capturing
# sendmail, and says so in its log. Needs root. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
py=/usr/bin/python3
skip_all() {
    echo "1..0 # SKIP $1"
    exit 0
}
if [ -z "${DOMAUTH_IN_NAMESPACE:-}" ]; then
    [ "$(id -u)" = 0 ] || skip_all "needs root (network namespace, port 53)"
    command -v unshare >/dev/null || skip_all "unshare not found"
    command -v unbound >/dev/null || skip_all "unbound not installed"
    [ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }
    exec env DOMAUTH_IN_NAMESPACE=1 unshare -n bash "$0" "$@"
fi
ip link set lo up

. "$here/../lib/tap.sh"
. "$here/../lib/unbound.sh"
. "$here/../lib/xmail_spool.sh"
daemon_pid=
tap_pids="daemon_pid unbound_pid"
tap_workdir domauth-dmarc-daemon
W=$workdir

unbound_start "$(cat <<'EOF'
bank.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.bank.test. 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@bank.test,mailto:agg@reports.test,mailto:nope@other.test,mailto:x@override.test"
bank.test._report._dmarc.reports.test. 300 IN TXT "v=DMARC1"
other.test. 300 IN TXT "v=spf1 -all"
bank.test._report._dmarc.override.test. 300 IN TXT "v=DMARC1; rua=mailto:x@elsewhere.test"
EOF
)" || { echo "Bail out! unbound did not start"; exit 1; }

# The events: two passes and one forged From: (quarantined), made by the
# real pipeline, dated the day before (what the daemon reports).
printf 'bank.test TXT "v=spf1 ip4:192.0.2.0/24 -all"\n_dmarc.bank.test TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@bank.test,mailto:agg@reports.test,mailto:nope@other.test,mailto:x@override.test"\n' > "$W/zone"
conf() { # sendmail
    cat <<EOF
[daemon]
milter = unix:$W/milter.sock
policy =
control =
database = $W/events.db
quarantine_dir = $W/quarantine
syslog = no
dns_servers = 127.0.0.1
dns_timeout_ms = 500
dns_tries = 1
[policy]
monitor = no
[dmarc]
check = yes
honor_policy = yes
report = yes
report_hour = 0
report_org_name = Receiver
report_email = dmarc@receiver.test
report_sendmail = $1
EOF
}
mkdir -p "$W/sent"
cat > "$W/sendmail" <<EOF
#!/bin/sh
n=\$(ls "$W/sent" | grep -c eml)
printf '%s\n' "\$*" > "$W/sent/\$n.args"
cat > "$W/sent/\$n.eml"
EOF
chmod +x "$W/sendmail"
conf "$W/sendmail" > "$W/c.conf"
msg=$'From: CEO <ceo@bank.test>\r\nSubject: m\r\n\r\nbody\r\n'
i=0
for ip in 192.0.2.7 192.0.2.8 198.51.100.7; do
    i=$((i + 1))
    case $ip in 192.*) from=s@bank.test ;; *) from=x@relay.test ;; esac
    mkspool "$W/s$i" post-data "[$ip]:25" mx.sender.test "MAIL FROM:<$from>" bob@dest.test -- "$msg"
    "$domauth_bin" xmail-filter --config "$W/c.conf" --zone "$W/zone" --stage post-data "$W/s$i" > /dev/null 2>&1
done
"$py" -c "import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); db.execute('update events set time = time - 86400'); db.commit()" "$W/events.db"
yesterday=$(date -u -d yesterday +%F)

# ------------------------------------------- the CLI over real DNS
out=$("$domauth_bin" dmarc report --config "$W/c.conf" --date "$yesterday" --dry-run --json 2>"$W/err"); rc=$?
st=$(printf '%s\n' "$out" | "$py" -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if "status" in o: print(o["status"], o["destination"])
' 2>&1 | sort | tr '\n' ';')
report "$(yes_if [ "$st" = "not authorized nope@other.test;not authorized x@override.test;would send agg@reports.test;would send dmarc@bank.test;" ])" \
    "over unbound: reports.test authorized, other.test not, override.test's record names another host" "exit $rc: $st $(cat "$W/err")"
report "$(if grep -q 'bank.test._report._dmarc.other.test has no v=DMARC1 record (NXDOMAIN)' "$W/err" && grep -q "overrides with 'mailto:x@elsewhere.test'" "$W/err"; then echo 1; else echo 0; fi)" \
    "the refusals are logged with the names asked" "$(cat "$W/err")"

# ------------------------------------------- the daemon's daily run
"$domauthd_bin" -f -c "$W/c.conf" > "$W/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do
    grep -q "DMARC reports of the day at .* sent," "$W/daemon.log" && break
    sleep 0.1
done
report "$(yes_if [ "$(ls "$W/sent" | grep -c eml)" = 2 ])" "domauthd sent the day before's report to the two authorized addresses" \
    "$(ls "$W/sent"; cat "$W/daemon.log")"
report "$(if grep -q 'DMARC reports of the day at .*: 1 reports from 3 events: 2 sent, 0 failed, 0 sent before, 0 given up, 2 not authorized' "$W/daemon.log"; then echo 1; else echo 0; fi)" \
    "its log says what the run did" "$(cat "$W/daemon.log")"
counts=$("$py" - "$W/sent/0.eml" <<'EOF' 2>&1
import email, gzip, sys, xml.etree.ElementTree as ET
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
part = [p for p in m.walk() if p.get_content_type() == "application/gzip"][0]
root = ET.fromstring(gzip.decompress(part.get_payload(decode=True)))
ns = {"d": "urn:ietf:params:xml:ns:dmarc-2.0"}
print(sorted((r.find("d:row/d:source_ip", ns).text, r.find("d:row/d:policy_evaluated/d:disposition", ns).text)
             for r in root.iterfind("d:record", ns)))
EOF
)
report "$(yes_if [ "$counts" = "[('192.0.2.7', 'pass'), ('192.0.2.8', 'pass'), ('198.51.100.7', 'quarantine')]" ])" \
    "the report: the two passes and the quarantined forgery" "$counts"
kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; daemon_pid=
# A restart runs the day again: nothing goes twice.
"$domauthd_bin" -f -c "$W/c.conf" > "$W/daemon2.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do grep -q "sent before" "$W/daemon2.log" && break; sleep 0.1; done
report "$(if [ "$(ls "$W/sent" | grep -c eml)" = 2 ] && grep -q '0 sent, 0 failed, 2 sent before' "$W/daemon2.log"; then echo 1; else echo 0; fi)" \
    "after a restart the day is run again and nothing is sent twice" "$(cat "$W/daemon2.log")"
kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; daemon_pid=
tap_done
