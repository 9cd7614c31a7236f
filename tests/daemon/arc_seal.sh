#!/bin/bash
# arc_seal.sh: [arc] seal through domauthd's milter (issue 12, item 2): a
# message passing the milter leaves with this host's ARC set on top, made
# with the [dkim] key table's key for seal_domain over the Authentication-
# Results of the check; domauth arc verify and dkimpy's arc_verify both
# validate it; a message that already carries a valid set gets i=2 with
# cv=pass; a chain that cannot be validated now (DNS) is not sealed; a
# refused message is not sealed; -t refuses seal without check or
# seal_domain. unbound in a private network namespace serves the keys and
# the SPF records (needs root). TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
python=/usr/bin/python3
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
daemon_pid=
tap_pids="daemon_pid unbound_pid"
tap_workdir domauth-arc-seal
w=$workdir
t() { if eval "$1"; then echo 1; else echo 0; fi; } # a condition in shell words

"$domauth_bin" dkim keygen --domain fwd.test --selector arc1 --out "$w/fwd.pem" 2>/dev/null |
    sed -E 's/^([^\t]+)\.\tIN\tTXT\t/\1 TXT /' > "$w/zone"
"$domauth_bin" dkim keygen --domain list.test --selector l1 --out "$w/list.pem" 2>/dev/null |
    sed -E 's/^([^\t]+)\.\tIN\tTXT\t/\1 TXT /' >> "$w/zone"

{
    sed -E 's/^([^ ]+) TXT /\1. 300 IN TXT /' "$w/zone"
    printf 'sender.test. 300 IN TXT "v=spf1 ip4:192.0.2.10 -all"\n'
    printf 'strict.test. 300 IN TXT "v=spf1 -all"\n'
} > "$w/dns.zone"
unbound_start "$(cat "$w/dns.zone")" || { echo "Bail out! unbound did not start"; exit 1; }

write_conf() { # extra [spf] line
    cat > "$w/domauth.conf" <<CONF
[daemon]
milter = unix:$w/milter.sock
policy =
control =
database =
syslog = no
event_log = $w/events.json
dns_servers = $DNS
dns_timeout_ms = 300
dns_tries = 1
authserv_id = mx.fwd.test
[dkim]
verify = no
sign = no
key = fwd.test arc1 $w/fwd.pem
[arc]
check = yes
seal = yes
seal_domain = fwd.test
[policy]
monitor = no
[spf]
$1
CONF
}
start_daemon() {
    : > "$w/daemon.log"
    "$domauthd_bin" -f -c "$w/domauth.conf" > "$w/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do grep -q started "$w/daemon.log" && return 0; sleep 0.1; done
    echo "# domauthd did not start:"
    sed 's/^/#   /' "$w/daemon.log"
}
stop_daemon() { kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; daemon_pid=; }
send() { # message output [mail-from]
    "$python" "$here/milter_client.py" "$("$python" -c 'import json, sys
print(json.dumps({"port": sys.argv[1], "client_ip": "192.0.2.10", "helo": "mx.sender.test",
                  "mail_from": sys.argv[4], "rcpt": "list@fwd.test", "message": sys.argv[2],
                  "output": sys.argv[3]}))' "$w/milter.sock" "$1" "$2" "${3:-a@sender.test}")"
}
# dkimpy's ARC verifier with its DNS answered from the zone file.
dkimpy_cv() {
    "$python" - "$w/zone" "$1" <<'EOF'
import sys, dkim
zone = {}
for line in open(sys.argv[1]):
    parts = line.split(None, 2)
    if len(parts) == 3 and parts[1] == "TXT":
        zone[parts[0].rstrip(".") + "."] = "".join(
            s for s in parts[2].strip().split('"') if s.strip() and s.strip() != '"').encode()
def dnsfunc(name, timeout=5):
    n = name.decode() if isinstance(name, bytes) else name
    return zone.get(n if n.endswith(".") else n + ".")
cv, results, why = dkim.arc_verify(open(sys.argv[2], "rb").read(), dnsfunc=dnsfunc)
print(cv.decode() if isinstance(cv, bytes) else cv)
EOF
}

DNS=127.0.0.1
write_conf "fail_action = reject"
start_daemon
printf 'From: Alice <alice@sender.test>\nTo: list@fwd.test\nSubject: to the list\nMessage-ID: <s1@sender.test>\n\nHello list.\n' > "$w/m1.eml"
out=$(send "$w/m1.eml" "$w/o1.eml" 2>&1)
heads=$(tr -d '\r' < "$w/o1.eml" | sed '/^$/q')
report "$(t 'grep -q "^ARC-Seal: i=1; a=rsa-sha256; cv=none; d=fwd.test; s=arc1;" <<< "$heads"')" \
    "the message leaves with ARC-Seal i=1, cv=none, d=fwd.test" "$out; $heads"
report "$(t '[ "$(grep -E "^(ARC-|Authentication-Results)" <<< "$heads" | cut -d: -f1 | tr "\n" " ")" = "ARC-Seal ARC-Message-Signature ARC-Authentication-Results Authentication-Results " ]')" \
    "the set is on top, seal first, above our Authentication-Results" "$heads"
report "$(t 'grep -q "^ARC-Authentication-Results: i=1; mx.fwd.test;" <<< "$heads" && grep -A3 "^ARC-Authentication-Results:" <<< "$heads" | tr -d "\n\t" | grep -q "spf=pass"')" \
    "its ARC-Authentication-Results carries this check's results" "$heads"
v=$("$domauth_bin" arc verify --zone "$w/zone" "$w/o1.eml" 2>&1); rc=$?
report "$(t '[ $rc = 0 ] && grep -q "^cv=pass instances=1" <<< "$v"')" "domauth arc verify: cv=pass" "exit $rc: $v"
if "$python" -c 'import dkim; dkim.arc_verify' 2>/dev/null; then
    cv=$(dkimpy_cv "$w/o1.eml" 2>&1)
    report "$(t '[ "$cv" = pass ]')" "dkimpy arc_verify: pass" "$cv"
else
    report 1 "dkimpy arc_verify # SKIP python3-dkim without arc_verify"
fi
report "$(t 'tail -n 1 "$w/events.json" | grep -q "ARC-sealed as fwd.test (cv=none)"')" \
    "the event's reasons say it was sealed" "$(tail -n 1 "$w/events.json")"

# A message sealed before (by a list) gets i=2 over a passing chain.
"$domauth_bin" arc seal --zone "$w/zone" --key "$w/list.pem" --selector l1 --domain list.test \
    --authres 'mx.list.test; spf=pass smtp.mailfrom=a@sender.test' "$w/m1.eml" > "$w/m2.eml"
send "$w/m2.eml" "$w/o2.eml" > /dev/null 2>&1
heads=$(tr -d '\r' < "$w/o2.eml" | sed '/^$/q')
report "$(t 'grep -q "^ARC-Seal: i=2; a=rsa-sha256; cv=pass; d=fwd.test;" <<< "$heads"')" \
    "over a valid chain: i=2, cv=pass" "$heads"
v=$("$domauth_bin" arc verify --zone "$w/zone" "$w/o2.eml" 2>&1); rc=$?
report "$(t '[ $rc = 0 ] && grep -q "^cv=pass instances=2" <<< "$v"')" "the two-set chain validates" "exit $rc: $v"
report "$(t 'grep -A4 "^ARC-Authentication-Results: i=2" <<< "$heads" | tr -d "\n\t" | grep -q "arc=pass"')" \
    "the AAR of i=2 records arc=pass for the chain it found" "$heads"

# A refused message is not sealed.
out=$(send "$w/m1.eml" "$w/o3.eml" x@strict.test 2>&1)
sleep 0.3
report "$(t 'grep -q "\"final\": \"y5" <<< "$out" && ! tail -n 1 "$w/events.json" | grep -q "ARC-sealed"')" \
    "a rejected message: no seal, and the event says none" "$out; $(tail -n 1 "$w/events.json")"
stop_daemon

# No DNS: the list's key cannot be looked up, so the chain cannot be
# validated now; sealing cv=fail would break it for good: no seal.
DNS=127.0.0.1:9
write_conf "temperror_action = accept"
start_daemon
send "$w/m2.eml" "$w/o4.eml" > /dev/null 2>&1
sleep 0.3
report "$(t '! tr -d "\r" < "$w/o4.eml" | grep -q "^ARC-Seal: i=2" && tail -n 1 "$w/events.json" | grep -q "not ARC-sealed: the chain could not be validated now"')" \
    "a chain DNS cannot validate now is not sealed, and the event says why" "$(tail -n 1 "$w/events.json")"
stop_daemon

# -t refuses a seal it could not make.
sed -i 's/^check = yes$/check = no/' "$w/domauth.conf"
out=$("$domauthd_bin" -t -c "$w/domauth.conf" 2>&1); rc=$?
report "$(t '[ $rc != 0 ] && grep -q "seal = yes needs check = yes" <<< "$out"')" "seal without check: refused" "exit $rc: $out"
sed -i 's/^check = no$/check = yes/; s/^seal_domain = fwd.test$/seal_domain =/' "$w/domauth.conf"
out=$("$domauthd_bin" -t -c "$w/domauth.conf" 2>&1); rc=$?
report "$(t '[ $rc != 0 ] && grep -q "seal = yes needs seal_domain" <<< "$out"')" "seal without seal_domain: refused" "exit $rc: $out"

tap_done
