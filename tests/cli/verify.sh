#!/bin/bash
# verify.sh: `domauth verify` end to end over the demo zone: the verdict,
# the results, the header fields, --json, --config, and its exit codes
# (it once crashed at every exit that had looked anything up). TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
[ -x "$domauth_bin" ] || { echo "Bail out! no domauth at $domauth_bin"; exit 1; }
. "$here/../lib/tap.sh"
workdir=$(mktemp -d /tmp/domauth-verify.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
zone=$repo_root/examples/demo.zone
msg=$repo_root/examples/demo.eml
v() { "$domauth_bin" verify --zone "$zone" --helo mx.example.net "$@"; }

out=$(v --ip 203.0.113.99 --mail-from carol@explained.example.org --rcpt dave@example.com "$msg" 2>&1)
rc=$?
report "$(yes_if [ $rc = 1 ])" "an SPF fail: exit 1 (the enforced action, even in monitor mode)" "exit $rc: $out"
report "$(printf '%s' "$out" | grep -q '^verdict: accept (monitor mode; enforcing would reject), score 5.0' && echo 1 || echo 0)" \
    "the verdict says accept, and what enforcing would do" "$out"
report "$(printf '%s' "$out" | grep -q '^Authentication-Results: .*spf=fail .*smtp.mailfrom=carol@explained.example.org; dkim=none' && echo 1 || echo 0)" \
    "the Authentication-Results field domauthd would add" "$out"
report "$(printf '%s' "$out" | grep -q '^reply: 550 5.7.23 203.0.113.99 is not a mail server of explained.example.org' && echo 1 || echo 0)" \
    "the reply with the domain's own explanation (exp=)" "$out"

out=$(v --ip 192.0.2.10 --mail-from alice@example.com "$msg" --json 2>&1)
rc=$?
got=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["action"], o["results"][0]["method"], o["results"][0]["result"], o["results"][1]["result"])' 2>&1)
report "$(if [ $rc = 0 ] && [ "$got" = "accept spf pass none" ]; then echo 1; else echo 0; fi)" "--json: one object; a pass exits 0" "exit $rc: $got; $out"

printf '[policy]\nmonitor = no\n[spf]\nfail_action = quarantine\n' > "$workdir/q.conf"
out=$(v --config "$workdir/q.conf" --ip 203.0.113.99 --mail-from carol@explained.example.org "$msg" 2>&1)
rc=$?
report "$(if [ $rc = 3 ] && printf '%s' "$out" | grep -q '^verdict: quarantine, score 5.0'; then echo 1; else echo 0; fi)" \
    "fail_action = quarantine: the verdict says quarantine, exit 3 (no copy kept)" "exit $rc: $out"

printf '[policy]\nmonitor = no\n[spf]\nfail_action = defer\nfail_reply = 451 4.7.23 later\n' > "$workdir/c.conf"
out=$(v --config "$workdir/c.conf" --ip 203.0.113.99 --mail-from carol@explained.example.org "$msg" 2>&1)
rc=$?
report "$(yes_if [ $rc = 2 ])" "--config applies the site's policy: a defer exits 2" "exit $rc: $out"

printf ' continued\nFrom: x\n\nbody\n' > "$workdir/bad.eml"
v --ip 192.0.2.10 --mail-from a@example.com "$workdir/bad.eml" > /dev/null 2>&1
rc=$?
report "$(yes_if [ $rc = 65 ])" "a message that starts with a continuation line: exit 65" "exit $rc"
v --ip 192.0.2.10 --mail-from a@example.com "$workdir/none.eml" > /dev/null 2>&1
rc=$?
report "$(yes_if [ $rc = 66 ])" "a message that cannot be read: exit 66" "exit $rc"
v --mail-from a@example.com "$msg" > /dev/null 2>&1
rc=$?
report "$(yes_if [ $rc = 64 ])" "no --ip: exit 64" "exit $rc"
# DMARC ([dmarc] check = yes) over a zone of its own: dmarc= in the
# results and the header, honor_policy, exit codes as the verdict says.
cat > "$workdir/dmarc.zone" <<'ZONE'
bank.test TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.bank.test TXT "v=DMARC1; p=reject; sp=quarantine"
relay.test TXT "v=spf1 ip4:203.0.113.0/24 -all"
ZONE
printf 'From: ceo@bank.test\nTo: bob@dest.test\nSubject: pay\n\nplease pay\n' > "$workdir/dmarc.eml"
printf '[policy]\nmonitor = no\n[dmarc]\ncheck = yes\nhonor_policy = yes\n' > "$workdir/dmarc.conf"
dv() { "$domauth_bin" verify --zone "$workdir/dmarc.zone" --helo mx.relay.test "$@"; }
out=$(dv --config "$workdir/dmarc.conf" --ip 203.0.113.9 --mail-from fwd@relay.test "$workdir/dmarc.eml" 2>&1)
rc=$?
report "$(if [ $rc = 1 ] && printf '%s' "$out" | grep -q '^dmarc fail  *bank.test (p=reject sp=quarantine dis=reject; policy of bank.test)'; then echo 1; else echo 0; fi)" \
    "DMARC: a fail is listed with the policy; p=reject honoured exits 1" "exit $rc: $out"
printf '[dmarc]\ncheck = yes\n' > "$workdir/dmarc-monitor.conf"
out=$(dv --config "$workdir/dmarc-monitor.conf" --ip 203.0.113.9 --mail-from fwd@relay.test "$workdir/dmarc.eml" 2>&1)
report "$(printf '%s' "$out" | grep -q '^Authentication-Results: .*; dkim=none; dmarc=fail (p=reject sp=quarantine dis=reject; policy of bank.test) header.from=bank.test policy.dmarc=reject policy.published-domain-policy=reject policy.published-subdomain-policy=quarantine$' && echo 1 || echo 0)" \
    "DMARC: dmarc= with header.from and policy.* in Authentication-Results (not honoured: accepted)" "$out"
out=$(dv --config "$workdir/dmarc.conf" --ip 192.0.2.10 --mail-from alice@bank.test "$workdir/dmarc.eml" --json 2>&1)
rc=$?
got=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); d=[r for r in o["results"] if r["method"]=="dmarc"][0]; print(o["action"], d["result"], d["properties"]["header.from"])' 2>&1)
report "$(if [ $rc = 0 ] && [ "$got" = "accept pass bank.test" ]; then echo 1; else echo 0; fi)" "DMARC: an aligned SPF pass, --json" "exit $rc: $got; $out"

# The message on a pipe a root process made, read as another user (as a
# pipe(8) or alias command runs it): standard input is read as it is,
# never reopened through /dev/stdin (which that user may not open).
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && [ -r "$zone" ] &&
   su nobody -s /bin/sh -c "test -x '$domauth_bin'" 2>/dev/null; then
    out=$(printf 'From: a@example.com\n\nhello\n' |
          su nobody -s /bin/sh -c "exec '$domauth_bin' verify --zone '$zone' --helo mx.example.net --ip 192.0.2.10 --mail-from alice@example.com" 2>&1)
    rc=$?
    report "$(if [ $rc = 0 ] && printf '%s' "$out" | grep -q '^spf   pass'; then echo 1; else echo 0; fi)" \
        "a message on a root-made pipe, read as nobody" "exit $rc: $out"
else
    report 1 "a message on a root-made pipe, read as nobody # SKIP needs root and a nobody user who can run the build"
fi
tap_done
