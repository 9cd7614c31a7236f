#!/bin/bash
# dmarc_report.sh: `domauth dmarc report` end to end. Real events are made
# by the real pipeline (domauth xmail-filter at post-data, [dmarc] check)
# in a store; then a dry run (nothing sent, the .xml.gz written), a real
# run through a capturing sendmail (the mails parsed: Subject, attachment
# name, gzip, XML and counts), a second run that sends nothing, failing
# sendmails retried at the next run and given up after report_attempts,
# the external destination check (authorized, not authorized) and, when
# the RFC's schema is at hand, xmllint --schema. Offline (zone file). TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
[ -x "$domauth_bin" ] || { echo "Bail out! no domauth at $domauth_bin"; exit 1; }
. "$here/../lib/tap.sh"
tap_workdir domauth-dmarc-report
py=/usr/bin/python3
W=$workdir
. "$here/../lib/xmail_spool.sh"

cat > "$W/zone" <<'EOF'
bank.test TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.bank.test TXT "v=DMARC1; p=reject; aspf=r; rua=mailto:dmarc@bank.test, mailto:agg@reports.test,mailto:nope@other.test,https://x.test/r"
bank.test._report._dmarc.reports.test TXT "v=DMARC1"
relay.test TXT "v=spf1 ip4:198.51.100.0/24 -all"
EOF
conf() {
    cat <<EOF
[daemon]
database = $W/events.db
syslog = no
authserv_id = mx.receiver.test
[policy]
monitor = no
[dmarc]
check = yes
honor_policy = yes
report_org_name = Receiver <Test> & Co
report_email = dmarc-reports@receiver.test
report_attempts = 2
report_sendmail = $W/sendmail-ok
EOF
}
conf > "$W/c.conf"

# A sendmail that keeps what it is given; one that fails (EX_TEMPFAIL).
mkdir -p "$W/sent"
cat > "$W/sendmail-ok" <<EOF
#!/bin/sh
n=\$(ls "$W/sent" | grep -c eml)
printf '%s\n' "\$*" > "$W/sent/\$n.args"
cat > "$W/sent/\$n.eml"
EOF
printf '#!/bin/sh\ncat > /dev/null\necho "sendmail: queue full" >&2\nexit 75\n' > "$W/sendmail-fail"
chmod +x "$W/sendmail-ok" "$W/sendmail-fail"

# The events: three aligned passes from 192.0.2.7, two forged From: from
# 198.51.100.7 that DMARC rejects.
i=0
msg=$'Received: from mx by mail\r\nFrom: CEO <ceo@bank.test>\r\nTo: bob@dest.test\r\nSubject: m\r\n\r\nbody\r\n'
for ip in 192.0.2.7 192.0.2.7 192.0.2.7 198.51.100.7 198.51.100.7; do
    i=$((i + 1))
    case $ip in 192.*) from=sender@bank.test ;; *) from=list@relay.test ;; esac
    mkspool "$W/s$i" post-data "[$ip]:25" mx.sender.test "MAIL FROM:<$from>" bob@dest.test -- "$msg"
    "$domauth_bin" xmail-filter --config "$W/c.conf" --zone "$W/zone" --stage post-data "$W/s$i" > /dev/null 2>&1
done
day=$(date -u +%F)
events=$("$domauth_bin" log --database "$W/events.db" --method dmarc --json 2>/dev/null | grep -c '"dmarc":')
report "$(yes_if [ "$events" = 5 ])" "five events with a DMARC result in the store" "$events"

dr() { "$domauth_bin" dmarc report --config "$W/c.conf" --zone "$W/zone" --date "$day" "$@"; }

# ------------------------------------------------------------- dry run
mkdir "$W/out"
out=$(dr --dry-run --json --output "$W/out" 2>"$W/err"); rc=$?
st=$(printf '%s\n' "$out" | "$py" -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if "status" in o: print(o["status"], o["destination"] or "-")
' 2>&1 | sort | tr '\n' ';')
report "$(yes_if [ $rc = 0 ])" "dry run: exit 0" "exit $rc: $out $(cat "$W/err")"
report "$(yes_if [ "$st" = "not authorized nope@other.test;skipped https://x.test/r;would send agg@reports.test;would send dmarc@bank.test;written -;" ])" \
    "dry run: would send to the domain's own address and the authorized reports.test, not to other.test (no authorization record), skips https:" "$st"
report "$(yes_if [ -z "$(ls "$W/sent")" ])" "dry run: sendmail never ran" "$(ls "$W/sent")"
report "$(if grep -q 'not sent to nope@other.test: bank.test._report._dmarc.other.test has no v=DMARC1 record' "$W/err"; then echo 1; else echo 0; fi)" \
    "the unauthorized destination is logged with the name asked" "$(cat "$W/err")"
name="receiver.test!bank.test!$(date -u -d "$day" +%s)!$(( $(date -u -d "$day" +%s) + 86399 )).xml.gz"
report "$(yes_if [ -s "$W/out/$name" ])" "--output: the report is written as $name" "$(ls "$W/out")"
check_xml() { # FILE.xml.gz -> "records counts dispositions p discovery"
    "$py" - "$1" <<'EOF'
import gzip, sys, xml.etree.ElementTree as ET
ns = {"d": "urn:ietf:params:xml:ns:dmarc-2.0"}
root = ET.fromstring(gzip.open(sys.argv[1]).read())
recs = root.findall("d:record", ns)
rows = sorted((r.find("d:row/d:source_ip", ns).text, int(r.find("d:row/d:count", ns).text),
               r.find("d:row/d:policy_evaluated/d:disposition", ns).text,
               r.find("d:row/d:policy_evaluated/d:spf", ns).text,
               r.find("d:auth_results/d:spf/d:scope", ns).text) for r in recs)
pp = root.find("d:policy_published", ns)
print(len(recs), rows, pp.find("d:p", ns).text, pp.find("d:discovery_method", ns).text,
      root.find("d:report_metadata/d:org_name", ns).text)
EOF
}
want="2 [('192.0.2.7', 3, 'pass', 'pass', 'mfrom'), ('198.51.100.7', 2, 'reject', 'fail', 'mfrom')] reject treewalk Receiver <Test> & Co"
got=$(check_xml "$W/out/$name" 2>&1)
report "$(yes_if [ "$got" = "$want" ])" "the XML parses: two records, counts 3 and 2, pass and reject, mfrom, p=reject by treewalk" "$got"
if [ -f "$W/events.db" ]; then
    n=$(/usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from dmarc_reports').fetchone()[0])" "$W/events.db" 2>&1)
    report "$(yes_if [ "$n" = 0 ])" "dry run: no ledger row" "$n"
fi

# XSD validation, when the RFC's schema is at hand (never kept in the repo).
xsd=""
for f in ${DMARC_XSD:-} /work/shared/conformance/dmarc/rfc9990.xsd "$repo_root/../shared/conformance/dmarc/rfc9990.xsd"; do
    [ -f "$f" ] && { xsd=$f; break; }
done
if [ -z "$xsd" ]; then
    count=$((count + 1))
    echo "ok $count # SKIP XSD validation: no dmarc/rfc9990.xsd in /work/shared/conformance or ../shared/conformance (RFC 9990's schema, section 7)"
elif ! command -v xmllint > /dev/null; then
    count=$((count + 1))
    echo "ok $count # SKIP XSD validation: xmllint (libxml2-utils) is not installed"
else
    gzip -dc "$W/out/$name" > "$W/report.xml"
    v=$(xmllint --noout --schema "$xsd" "$W/report.xml" 2>&1); rc=$?
    report "$(yes_if [ $rc = 0 ])" "the report validates against $xsd" "$v"
fi

# ------------------------------------------------------------- real run
out=$(dr 2>"$W/err"); rc=$?
report "$(yes_if [ $rc = 0 ])" "real run: exit 0" "exit $rc: $out $(cat "$W/err")"
report "$(yes_if [ "$(ls "$W/sent" | grep -c eml)" = 2 ])" "two mails handed to sendmail" "$(ls "$W/sent") $out"
args=$(cat "$W/sent/0.args" "$W/sent/1.args" 2>/dev/null | sort | tr '\n' ';')
report "$(yes_if [ "$args" = "-i -f dmarc-reports@receiver.test -- agg@reports.test;-i -f dmarc-reports@receiver.test -- dmarc@bank.test;" ])" \
    "sendmail -i -f report_email -- destination" "$args"
mail=$("$py" - "$W/sent/0.eml" <<'EOF' 2>&1
import email, gzip, sys, xml.etree.ElementTree as ET
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
subj = " ".join(m["Subject"].split())
parts = [p for p in m.walk() if p.get_content_type() == "application/gzip"]
xmlb = gzip.decompress(parts[0].get_payload(decode=True))
root = ET.fromstring(xmlb)
ns = {"d": "urn:ietf:params:xml:ns:dmarc-2.0"}
print(subj, "|", parts[0].get_filename(), "|", m["Message-ID"], "|",
      sum(int(c.text) for c in root.iterfind("d:record/d:row/d:count", ns)))
EOF
)
rid="bank.test.$(date -u -d "$day" +%s).$(( $(date -u -d "$day" +%s) + 86399 ))@receiver.test"
report "$(yes_if [ "$mail" = "Report Domain: bank.test Submitter: receiver.test Report-ID: <$rid> | $name | <$rid> | 5" ])" \
    "the mail: the RFC's Subject, the attachment named as the RFC says, gzip of an XML counting 5 messages" "$mail"

out=$(dr 2>&1); rc=$?
report "$(yes_if [ "$(ls "$W/sent" | grep -c eml)" = 2 ])" "a second run sends nothing" "$(ls "$W/sent") $out"
report "$(if [ $rc = 0 ] && printf '%s' "$out" | grep -q '2 sent before'; then echo 1; else echo 0; fi)" \
    "it says both were sent before" "$out"

# ------------------------------------------------------ failures, retries
# Another reporting domain is another report (Report-ID), not yet sent.
out=$(dr --reporting-domain b.receiver.test --sendmail "$W/sendmail-fail" 2>&1); rc=$?
report "$(if [ $rc = 1 ] && printf '%s' "$out" | grep -q 'to dmarc@bank.test failed (attempt 1 of 2): .*sendmail-fail failed (exit status 75)'; then echo 1; else echo 0; fi)" \
    "a failing sendmail: exit 1, logged as attempt 1 of 2" "exit $rc: $out"
out=$(dr --reporting-domain b.receiver.test 2>&1); rc=$?
report "$(if [ $rc = 0 ] && [ "$(ls "$W/sent" | grep -c eml)" = 4 ]; then echo 1; else echo 0; fi)" \
    "the next run retries and sends both" "exit $rc: $out"
dr --reporting-domain c.receiver.test --sendmail "$W/sendmail-fail" > /dev/null 2>&1
out=$(dr --reporting-domain c.receiver.test --sendmail "$W/sendmail-fail" 2>&1); rc=$?
report "$(if [ $rc = 1 ] && printf '%s' "$out" | grep -q 'failed (attempt 2 of 2)'; then echo 1; else echo 0; fi)" \
    "the second failure is attempt 2 of 2" "exit $rc: $out"
out=$(dr --reporting-domain c.receiver.test 2>&1); rc=$?
report "$(if [ "$(ls "$W/sent" | grep -c eml)" = 4 ] && printf '%s' "$out" | grep -q '2 given up'; then echo 1; else echo 0; fi)" \
    "after report_attempts failures it is given up, not sent" "exit $rc: $out"
ledger=$("$py" -c "
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for r in db.execute(\"select destination, state, attempts, last_error is not null from dmarc_reports where report_id like 'bank.test.%@c.receiver.test' order by destination\"):
    print(*r)" "$W/events.db" 2>&1 | tr '\n' ';')
report "$(yes_if [ "$ledger" = "agg@reports.test failed 2 1;dmarc@bank.test failed 2 1;" ])" \
    "the ledger: failed, 2 attempts, the last error kept" "$ledger"

# --domain: another policy domain has no report.
out=$(dr --domain other.test --json 2>&1)
report "$(if printf '%s' "$out" | grep -q '"reports":0'; then echo 1; else echo 0; fi)" "--domain other.test: no report" "$out"
# Bad usage.
"$domauth_bin" dmarc report --date 2026-02-30 > /dev/null 2>&1; rc=$?
report "$(yes_if [ $rc = 64 ])" "--date 2026-02-30: exit 64" "exit $rc"
out=$("$domauth_bin" dmarc report --config /dev/null --date "$day" 2>&1); rc=$?
report "$(if [ $rc = 64 ] && printf '%s' "$out" | grep -q 'report_org_name'; then echo 1; else echo 0; fi)" \
    "no org name or address: exit 64, naming the keys" "exit $rc: $out"
tap_done
