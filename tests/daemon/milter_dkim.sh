#!/bin/bash
# milter_dkim.sh: domauthd's milter with DKIM, driven by an MTA-side milter
# client (milter_client.py) against unbound in a private network namespace:
# outbound mail is signed (and the signature verifies with domauth and with
# dkimpy), inbound signatures are verified into Authentication-Results, a
# DKIM fail adds its score, and past a threshold enforcement rejects. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
# Debian's python3 has python3-dkim; another python3 on PATH may not.
python=/usr/bin/python3

skip_all() {
    echo "1..0 # SKIP $1"
    exit 0
}

if [ -z "${DOMAUTH_IN_NAMESPACE:-}" ]; then
    [ "$(id -u)" = 0 ] || skip_all "needs root (network namespace, port 53)"
    command -v unshare >/dev/null || skip_all "unshare not found"
    command -v unbound >/dev/null || skip_all "unbound not installed"
    "$python" -c 'import dkim, nacl' 2>/dev/null || skip_all "python3-dkim or python3-nacl not installed"
    [ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }
    exec env DOMAUTH_IN_NAMESPACE=1 unshare -n bash "$0" "$@"
fi

ip link set lo up
. "$here/../lib/tap.sh"
. "$here/../lib/unbound.sh"
daemon_pid=
tap_pids="daemon_pid unbound_pid"
tap_workdir domauth-milter-dkim

matches() { printf '%s\n' "$1" | grep -q -- "$2"; } # text regex

# ---- keys and the zone -------------------------------------------------
"$domauth_bin" dkim keygen --domain sign.test --selector s1 --out "$workdir/s1.private" \
    > "$workdir/s1.zone" 2>/dev/null
"$domauth_bin" dkim keygen --domain peer.test --selector p1 --type ed25519 \
    --out "$workdir/p1.private" > "$workdir/p1.zone" 2>/dev/null
unbound_start "$(
    printf 'peer.test.\t300\tIN\tTXT\t"v=spf1 ip4:192.0.2.0/24 -all"\n'
    printf 'sign.test.\t300\tIN\tTXT\t"v=spf1 ip4:198.51.100.0/24 -all"\n'
    printf '_dmarc.peer.test.\t300\tIN\tTXT\t"v=DMARC1; p=reject"\n'
    printf 'forwarder.test.\t300\tIN\tTXT\t"v=spf1 ip4:203.0.113.0/24 -all"\n'
    cat "$workdir/s1.zone"
    echo
    cat "$workdir/p1.zone"
)" || { echo "Bail out! unbound did not start"; exit 1; }

# ---- the daemon ---------------------------------------------------------
port=18990
start_daemon() { # an extra [policy] line
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
    fi
    cat > "$workdir/domauth.conf" <<CONF
[daemon]
milter = inet:127.0.0.1:$port
control = unix:$workdir/control.sock
policy =
database =
syslog = no
event_log = $workdir/events.jsonl
dns_servers = 127.0.0.1
authserv_id = mx.test
[dkim]
key = sign.test s1 $workdir/s1.private
[policy]
dkim_fail_score = 7
reject_threshold = 6
$1
CONF
    : > "$workdir/daemon.log"
    "$domauthd_bin" -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do
        grep -q "started" "$workdir/daemon.log" && return 0
        sleep 0.1
    done
    echo "# domauthd did not start:"
    sed 's/^/#   /' "$workdir/daemon.log"
}

# session NAME CLIENT-IP HELO MAIL-FROM MESSAGE-FILE [AUTH]: output in
# $workdir/NAME.json, the message as delivered in $workdir/NAME.eml
session() {
    local args
    args=$(printf '{"port": %s, "client_ip": "%s", "helo": "%s", "mail_from": "%s", "rcpt": "dave@mx.test", "message": "%s", "output": "%s", "auth": "%s"}' \
        "$port" "$2" "$3" "$4" "$5" "$workdir/$1.eml" "${6:-}")
    : > "$workdir/$1.eml"
    "$python" "$here/milter_client.py" "$args" > "$workdir/$1.json" 2> "$workdir/$1.err"
}
field() { # NAME python-expression-on-o
    "$python" -c "import json; o=json.load(open('$workdir/$1.json')); print(str($2).replace(chr(0), ''))" 2>/dev/null
}
header_block() { # NAME HEADER: the unfolded header, CR removed
    tr -d '\r' < "$workdir/$1.eml" |
        awk -v h="$2:" 'tolower(substr($0,1,length(h)))==tolower(h){p=1;print;next} p&&/^[ \t]/{print;next} {p=0}' |
        tr -d '\n\t'
}

printf 'From: Alice <alice@sign.test>\nTo: bob@elsewhere.example\nSubject: quarterly figures\nDate: Sun, 22 Nov 2026 10:00:00 +0000\nMessage-ID: <m1@sign.test>\n\nHello Bob,\nthe figures are attached in spirit.\n' \
    > "$workdir/outbound.txt"

start_daemon "monitor = yes"

session out 127.0.0.1 localhost alice@sign.test "$workdir/outbound.txt"
protocol=$(field out "o['protocol']")
protocol=${protocol:-0}
report "$(if [ $((protocol & 0x00100000)) != 0 ] && [ $((protocol & 0x10)) = 0 ]; then echo 1; else echo 0; fi)" \
    "with DKIM on, the milter asks for the body and exact headers (HDR_LEADSPC)" \
    "protocol=$protocol $(cat "$workdir/out.err")"
sig=$(header_block out DKIM-Signature)
report "$(yes_if matches "$sig" 'v=1; a=rsa-sha256; .*d=sign.test; s=s1')" \
    "a local submission is signed: DKIM-Signature d=sign.test s=s1" "$(head -4 "$workdir/out.eml")"
report "$(yes_if matches "$(head -1 "$workdir/out.eml")" '^DKIM-Signature:')" "the signature is the top header"
verdict=$("$domauth_bin" dkim verify --dns-server 127.0.0.1 < "$workdir/out.eml" 2>&1 | head -1)
report "$(yes_if matches "$verdict" '^pass')" "domauth dkim verify passes the signed message" "$verdict"
peer=$("$python" - "$workdir" <<'PY'
import sys, dkim
w = sys.argv[1]
zone = open(w + "/s1.zone").read()
record = "".join(zone.split('"')[1::2]).encode()
def dnsfunc(name, timeout=5):
    return record if name.startswith(b"s1._domainkey.sign.test") else None
print(dkim.verify(open(w + "/out.eml", "rb").read(), dnsfunc=dnsfunc))
PY
)
report "$(yes_if [ "$peer" = True ])" "dkimpy verifies domauthd's signature" "dkimpy: $peer"
report "$(yes_if [ -z "$(header_block out Authentication-Results)" ])" \
    "our own outgoing mail is signed, not verified"

session auth 203.0.113.50 laptop alice@sign.test "$workdir/outbound.txt" alice
report "$(yes_if grep -q '^DKIM-Signature:' "$workdir/auth.eml")" "an SMTP AUTH session is signed" \
    "$(cat "$workdir/auth.err")"
session stranger 203.0.113.51 somewhere alice@sign.test "$workdir/outbound.txt"
report "$(yes_if [ -z "$(header_block stranger DKIM-Signature | grep 'd=sign.test')" ])" \
    "a stranger sending as our domain is not signed"

# Inbound: signed by the peer with dkimpy (ed25519), from its SPF address.
"$python" - "$workdir" <<'PY'
import sys, dkim
w = sys.argv[1]
msg = (b"From: Carol <carol@peer.test>\r\nTo: dave@mx.test\r\nSubject: hello\r\n"
       b"Date: Sun, 22 Nov 2026 11:00:00 +0000\r\n\r\nA signed hello.\r\n")
import base64
pem = open(w + "/p1.private").read()
der = base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----")))
seed = base64.b64encode(der[-32:])  # PKCS#8 Ed25519: the seed is the last 32 bytes
sig = dkim.sign(msg, b"p1", b"peer.test", seed, signature_algorithm=b"ed25519-sha256",
                include_headers=[b"from", b"to", b"subject", b"date"])
open(w + "/inbound.txt", "wb").write((sig + msg).replace(b"\r\n", b"\n"))
bad = (sig + msg).replace(b"A signed hello", b"A forged hello")
open(w + "/tampered.txt", "wb").write(bad.replace(b"\r\n", b"\n"))
PY

session in 192.0.2.10 mail.peer.test carol@peer.test "$workdir/inbound.txt"
ar=$(header_block in Authentication-Results)
report "$(yes_if matches "$ar" 'mx.test; spf=pass .*dkim=pass .*header.d=peer.test')" \
    "inbound: Authentication-Results has spf=pass and dkim=pass header.d=peer.test" \
    "$ar $(cat "$workdir/in.err")"
report "$(yes_if [ -z "$(header_block in DKIM-Signature | grep 'd=sign.test')" ])" \
    "inbound mail is not signed by us"
score=$(header_block in X-Domauth-Score)
report "$(yes_if [ "$score" = "X-Domauth-Score: 0.0" ])" "a DKIM pass adds no score by default" "$score"

session bad 192.0.2.10 mail.peer.test carol@peer.test "$workdir/tampered.txt"
ar=$(header_block bad Authentication-Results)
score=$(header_block bad X-Domauth-Score)
final=$(field bad "o.get('final','')")
report "$(if matches "$ar" 'dkim=fail' && [ "$score" = "X-Domauth-Score: 7.0" ] && [ "${final:0:1}" = c ]; then echo 1; else echo 0; fi)" \
    "tampered body: dkim=fail, score 7.0 past the threshold, still accepted in monitor mode" \
    "final=$final; $score; $ar"

start_daemon "monitor = no"
session enforce 192.0.2.10 mail.peer.test carol@peer.test "$workdir/tampered.txt"
final=$(field enforce "o.get('final','')")
report "$(yes_if matches "$final" '^y550 5.7.1 Message scored too high')" \
    "enforcing: the DKIM fail's score reaches reject_threshold: 550 at the end of DATA" \
    "final=$final"
# The event says what the MTA was told (it used to say accept: it was
# written at the SPF decision, before DKIM's score existed).
event=$("$python" - "$workdir/events.jsonl" <<'PY'
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
dkim = [r for r in last.get("results", []) if r.get("method") == "dkim"]
print(last.get("action"), last.get("score"), dkim[0].get("result") if dkim else "none",
      (last.get("reply") or "")[:30])
PY
)
report "$(yes_if matches "$event" '^reject 7\(\.0\)\? fail 550 5.7.1 Message scored too h')" \
    "enforcing: the event of the DKIM reject says reject, score 7, dkim=fail, with the reply" \
    "event: $event"
session enforce_ok 192.0.2.10 mail.peer.test carol@peer.test "$workdir/inbound.txt"
final=$(field enforce_ok "o.get('final','')")
report "$(yes_if [ "${final:0:1}" = c ])" "enforcing: the untampered message is accepted" "final=$final"

# DMARC through the milter, over real DNS: a forwarded message whose SPF
# passes for the forwarder only is a DMARC pass by the peer's DKIM; the
# tampered copy fails, and with honor_policy the peer's p=reject refuses it.
start_daemon "monitor = no
[dmarc]
check = yes
honor_policy = yes"
session dmarc_fwd 203.0.113.70 mx.forwarder.test list@forwarder.test "$workdir/inbound.txt"
ar=$(header_block dmarc_fwd Authentication-Results)
final=$(field dmarc_fwd "o.get('final','')")
report "$(if matches "$ar" 'smtp.mailfrom=list@forwarder.test; dkim=pass .*header.d=peer.test.*; dmarc=pass (p=reject *dis=none; *policy *of *peer.test) *header.from=peer.test *policy.dmarc=reject *policy.published-domain-policy=reject' && [ "${final:0:1}" = c ]; then echo 1; else echo 0; fi)" \
    "milter: forwarded, DKIM-aligned: dmarc=pass with header.from and policy.* in Authentication-Results" \
    "final=$final; $ar $(cat "$workdir/dmarc_fwd.err")"
session dmarc_bad 203.0.113.70 mx.forwarder.test list@forwarder.test "$workdir/tampered.txt"
final=$(field dmarc_bad "o.get('final','')")
event=$("$python" - "$workdir/events.jsonl" <<'PY'
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
print(last.get("action"), last.get("dmarc"), last.get("reasons"))
PY
)
report "$(if matches "$final" '^y550 5.7.1 Rejected by the DMARC policy of peer.test' && matches "$event" "^reject fail .*dmarc=fail: the domain's policy reject (honored)"; then echo 1; else echo 0; fi)" \
    "milter: the tampered copy is a DMARC fail; p=reject honoured: 550, and the event's dmarc is fail" \
    "final=$final; event: $event"

# Hostile header bytes must not break the session or the daemon.
{
    printf 'From: x@peer.test\nSubject: \001\177 odd\nX-Long: '
    head -c 3000 /dev/zero | tr '\0' a
    printf '\n\nbody\n'
} > "$workdir/odd.txt"
session odd 192.0.2.10 mail.peer.test carol@peer.test "$workdir/odd.txt"
final=$(field odd "o.get('final','')")
alive=$(kill -0 "$daemon_pid" 2>/dev/null && echo yes)
report "$(if [ "${final:0:1}" = c ] && [ "$alive" = yes ]; then echo 1; else echo 0; fi)" \
    "control bytes and a 3000-byte header line: answered, daemon alive" \
    "final=$final alive=$alive $(cat "$workdir/odd.err")"

tap_done
