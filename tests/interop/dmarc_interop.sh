#!/bin/bash
# dmarc_interop.sh: domauthd and OpenDMARC (Debian's opendmarc 1.4.2, RFC
# 7489 with the public suffix list) as milters over the same messages and
# the same DNS (unbound in a private network namespace), driven by
# miltertest. Where RFC 7489 and RFC 9989 agree, domauth (RFC 9989) must
# give OpenDMARC's result and disposition; where they must differ (np, psd,
# the tree walk) domauth must give RFC 9989's answer, and domauth in
# [dmarc] mode = rfc7489 must give OpenDMARC's. OpenDMARC is told the DKIM
# results by an upstream Authentication-Results field (it verifies no
# signatures) and checks SPF itself; domauthd verifies the real signature.
# Prints the table of cases. TAP; skips without root, unbound, opendmarc or
# miltertest.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
python=/usr/bin/python3

skip_all() {
    echo "1..0 # SKIP $1"
    exit 0
}

if [ -z "${DOMAUTH_IN_NAMESPACE:-}" ]; then
    [ "$(id -u)" = 0 ] || skip_all "needs root (network namespace, port 53)"
    command -v unshare >/dev/null || skip_all "unshare not found"
    command -v unbound >/dev/null || skip_all "unbound not installed"
    command -v opendmarc >/dev/null || skip_all "opendmarc not installed"
    command -v miltertest >/dev/null || skip_all "miltertest not installed"
    [ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }
    exec env DOMAUTH_IN_NAMESPACE=1 unshare -n -m bash "$0" "$@"
fi

ip link set lo up
. "$here/../lib/tap.sh"
unbound_pid=
opendmarc_pid=
d9989_pid=
d7489_pid=
tap_pids="d9989_pid d7489_pid opendmarc_pid unbound_pid"
tap_workdir domauth-dmarc-interop
. "$here/../lib/unbound.sh"

# The namespace's resolver (OpenDMARC asks through libc).
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$workdir/resolv.conf"
mount --bind "$workdir/resolv.conf" /etc/resolv.conf

# ---- the zone ------------------------------------------------------------
"$domauth_bin" dkim keygen --domain example.com --selector s1 --type ed25519 \
    --out "$workdir/s1.private" > "$workdir/s1.zone" 2>/dev/null
rr() { printf '%s.\t300\tIN\t%s\t%s\n' "$1" "$2" "$3"; }
unbound_start "$(
    # Real public suffixes (com, net, org, edu are in the list OpenDMARC
    # reads), the documentation domains under them: the zone is private.
    rr relay.test TXT '"v=spf1 ip4:203.0.113.0/24 -all"'
    rr example.com A 192.0.2.1
    rr _dmarc.example.com TXT '"v=DMARC1; p=reject; sp=none; np=reject"'
    rr example.net A 192.0.2.2
    rr mail.example.net A 192.0.2.2
    rr bounce.example.net TXT '"v=spf1 ip4:192.0.2.0/24 -all"'
    rr _dmarc.example.net TXT '"v=DMARC1; p=quarantine; sp=none"'
    rr x.y.example.net A 192.0.2.2
    rr _dmarc.y.example.net TXT '"v=DMARC1; p=reject"'
    rr example.edu A 192.0.2.3
    rr example.org A 192.0.2.4
    rr _dmarc.org TXT '"v=DMARC1; p=reject; psd=y"'
    rr example.info A 192.0.2.5
    rr bounce.example.info TXT '"v=spf1 ip4:192.0.2.0/24 -all"'
    rr _dmarc.example.info TXT '"v=DMARC1; p=reject; aspf=s; adkim=s"'
    cat "$workdir/s1.zone"
    echo
)" || { echo "Bail out! unbound did not start"; exit 1; }

# ---- the filters -----------------------------------------------------------
: > "$workdir/ignore" # no client is exempt (the default exempts 127.0.0.1)
cat > "$workdir/opendmarc.conf" <<CONF
AuthservID opendmarc.test
TrustedAuthservIDs upstream.test
PidFile $workdir/opendmarc.pid
Syslog false
SPFSelfValidate true
SPFIgnoreResults true
PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat
UserID root
Background false
IgnoreHosts $workdir/ignore
RequiredHeaders false
RejectFailures true
HoldQuarantinedMessages true
CONF
opendmarc -f -c "$workdir/opendmarc.conf" -p inet:18995@127.0.0.1 > "$workdir/opendmarc.log" 2>&1 &
opendmarc_pid=$!

start_domauthd() { # PORT MODE: sets $started_pid
    cat > "$workdir/domauth-$2.conf" <<CONF
[daemon]
milter = inet:127.0.0.1:$1
control = unix:$workdir/control-$2.sock
policy =
database =
syslog = no
dns_servers = 127.0.0.1
authserv_id = domauth.test
[dmarc]
check = yes
mode = $2
CONF
    "$domauthd_bin" -c "$workdir/domauth-$2.conf" > "$workdir/domauthd-$2.log" 2>&1 &
    started_pid=$!
    for _ in $(seq 50); do
        grep -q "started" "$workdir/domauthd-$2.log" && return 0
        sleep 0.1
    done
    echo "# domauthd ($2) did not start:"
    sed 's/^/#   /' "$workdir/domauthd-$2.log"
}
start_domauthd 18996 rfc9989
d9989_pid=$started_pid
start_domauthd 18997 rfc7489
d7489_pid=$started_pid
sleep 0.5

# ---- the cases -------------------------------------------------------------
# name | From | MAIL FROM | client | DKIM d= (signed, and claimed upstream) |
# RFC 9989 result/disposition | RFC 7489 result/disposition. agree-*: the
# RFCs agree; differ-*: they must differ (np, psd, the tree walk finding a
# record the list does not); peerbug-*: OpenDMARC departs from both.
cat > "$workdir/cases" <<'CASES'
agree-dkim-pass|carol@example.com|list@relay.test|203.0.113.9|example.com|pass/none|pass/none
agree-dkim-relaxed|carol@mail.example.com|list@relay.test|203.0.113.9|example.com|pass/none|pass/none
agree-fail-p|carol@example.com|list@relay.test|203.0.113.9||fail/reject|fail/reject
agree-spf-relaxed|a@mail.example.net|b@bounce.example.net|192.0.2.10||pass/none|pass/none
agree-fail-sp|a@mail.example.net|list@relay.test|203.0.113.9||fail/none|fail/none
agree-fail-quarantine|a@example.net|list@relay.test|203.0.113.9||fail/quarantine|fail/quarantine
peerbug-spf-strict|a@example.info|b@bounce.example.info|192.0.2.10||fail/reject|fail/reject
agree-none|a@example.edu|list@relay.test|203.0.113.9||none/none|none/none
differ-np|a@ghost.example.com|list@relay.test|203.0.113.9||fail/reject|fail/none
differ-psd|a@example.org|list@relay.test|203.0.113.9||fail/reject|none/none
differ-treewalk|a@x.y.example.net|list@relay.test|203.0.113.9||fail/reject|fail/none
CASES

# One Lua script: every case through the three filters, one line each:
# "CASE FILTER Authentication-Results-value".
"$python" - "$workdir" "$domauth_bin" <<'PY'
import subprocess, sys
w, domauth = sys.argv[1], sys.argv[2]

def lua(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"').replace('\r', '\\r') \
        .replace('\n', '\\n').replace('\t', '\\t') + '"'

out = ['mt.set_timeout(10)']
for line in open(w + '/cases'):
    name, frm, mfrom, ip, dkim_d, _, _ = line.rstrip('\n').split('|')
    msg = ('From: <%s>\nTo: dave@mx.test\nSubject: %s\n'
           'Date: Sun, 22 Nov 2026 11:00:00 +0000\n\nA message.\n' % (frm, name))
    if dkim_d:
        msg = subprocess.run([domauth, 'dkim', 'sign', '--domain', dkim_d, '--selector', 's1',
                              '--key', w + '/s1.private'], input=msg.encode(),
                             capture_output=True, check=True).stdout.decode()
    head, body = msg.split('\n\n', 1)
    fields = []
    for l in head.split('\n'):
        if l[:1] in ' \t':
            fields[-1][1] += '\r\n' + l
        else:
            n, v = l.split(':', 1)
            fields.append([n, v.lstrip(' ')])
    if dkim_d:
        fields.insert(0, ['Authentication-Results',
                          'upstream.test; dkim=pass header.d=%s header.s=s1' % dkim_d])
    for flt, sock in (('opendmarc', 'inet:18995@127.0.0.1'),
                      ('rfc9989', 'inet:18996@127.0.0.1'),
                      ('rfc7489', 'inet:18997@127.0.0.1')):
        out.append('conn = mt.connect(%s, 10, 0.3)' % lua(sock))
        out.append('if conn == nil then error("cannot connect to %s") end' % flt)
        out.append('mt.conninfo(conn, "mx.client.test", %s)' % lua(ip))
        out.append('mt.helo(conn, "mx.client.test")')
        out.append('mt.macro(conn, SMFIC_MAIL, "i", "Q%s")' % name.replace('-', ''))
        out.append('mt.mailfrom(conn, %s)' % lua(mfrom))
        out.append('mt.rcptto(conn, "dave@mx.test")')
        for n, v in fields:
            out.append('mt.header(conn, %s, %s)' % (lua(n), lua(v)))
        out.append('mt.eoh(conn)')
        out.append('pcall(mt.bodystring, conn, %s)' % lua(body.replace('\n', '\r\n')))
        out.append('mt.eom(conn)')
        # domauthd inserts its field at the top, OpenDMARC adds one: the
        # filter's own is the one with its authserv-id.
        # (unfolded; the reply code too: OpenDMARC refuses a reject
        # rather than adding a field).
        out.append('mt.echo("%s %s reply " .. tostring(mt.getreply(conn)))' % (name, flt))
        out.append('for i = 0, 3 do local h = mt.getheader(conn, "Authentication-Results", i)'
                   ' if h ~= nil then mt.echo("%s %s " .. string.gsub(h, "[\\r\\n\\t]+", " ")) end end'
                   % (name, flt))
        out.append('mt.disconnect(conn)')
open(w + '/cases.lua', 'w').write('\n'.join(out) + '\n')
PY
miltertest -s "$workdir/cases.lua" > "$workdir/results" 2> "$workdir/miltertest.err"
mt_rc=$?
report "$(yes_if [ $mt_rc = 0 ])" "miltertest ran every case through the three filters" \
    "exit $mt_rc: $(head -c 2000 "$workdir/miltertest.err")"

# result/disposition of FILTER for CASE from its own Authentication-Results.
# A refusal (SMFIR_REPLYCODE, SMFIR_REJECT) is OpenDMARC's reject.
outcome() {
    local line reply
    reply=$(grep "^$1 $2 reply " "$workdir/results" | head -1)
    line=$(grep "^$1 $2 " "$workdir/results" | grep -E "(opendmarc|domauth)\.test;" | head -1)
    "$python" - "$line" "${reply##* }" <<'PY'
import re, sys
line, reply = sys.argv[1], sys.argv[2]
if reply.split('.')[0] in ('121', '114'):  # 'y', 'r'
    print('fail/reject')
    sys.exit()
m = re.search(r'dmarc=(\w+)', line)
if not m:
    print('missing')
    sys.exit()
d = re.search(r'dis=(\w+)', line)
print('%s/%s' % (m.group(1), d.group(1).lower() if d else 'none'))
PY
}

agree=0 agree_total=0
printf '# %-18s %-16s %-16s %-16s %s\n' case opendmarc domauth-9989 domauth-7489 expected-9989
while IFS='|' read -r name _ _ _ _ want9989 want7489; do
    od=$(outcome "$name" opendmarc)
    d9=$(outcome "$name" rfc9989)
    d7=$(outcome "$name" rfc7489)
    printf '# %-18s %-16s %-16s %-16s %s\n' "$name" "$od" "$d9" "$d7" "$want9989"
    if [ "${name%%-*}" = peerbug ]; then
        # OpenDMARC 1.4.2 passes aspf=s with a MAIL FROM that is a
        # subdomain of the From domain; both RFCs say fail (strict is the
        # same name). Its strict alignment goes through the public suffix
        # list, which upstream corrected in part in 2026 (OpenDMARC pull
        # request 354). domauth is checked against the RFCs, OpenDMARC's
        # answer only noted, so a fixed OpenDMARC does not fail this.
        echo "# $name: OpenDMARC gives $od, RFC 7489 and RFC 9989 say $want7489"
        report "$(if [ "$d7" = "$want7489" ] && [ "$d9" = "$want9989" ]; then echo 1; else echo 0; fi)" \
            "$name: domauth gives the RFCs' $want9989 in both modes (OpenDMARC 1.4.2: $od)" \
            "rfc9989: $d9; rfc7489: $d7"
        continue
    fi
    report "$(yes_if [ "$od" = "$want7489" ])" "$name: OpenDMARC gives $want7489 (RFC 7489)" \
        "opendmarc: $od; $(grep "^$name opendmarc " "$workdir/results")"
    report "$(yes_if [ "$d7" = "$od" ])" "$name: domauth mode = rfc7489 gives OpenDMARC's $od" \
        "rfc7489: $d7; $(grep "^$name rfc7489 " "$workdir/results")"
    if [ "${name%%-*}" = agree ]; then
        agree_total=$((agree_total + 1))
        [ "$d9" = "$od" ] && agree=$((agree + 1))
        report "$(yes_if [ "$d9" = "$od" ])" "$name: RFC 9989 and 7489 agree: domauth gives OpenDMARC's $od" \
            "rfc9989: $d9; $(grep "^$name rfc9989 " "$workdir/results")"
    else
        report "$(if [ "$d9" = "$want9989" ] && [ "$d9" != "$od" ]; then echo 1; else echo 0; fi)" \
            "$name: where the RFCs differ, domauth gives RFC 9989's $want9989 (OpenDMARC: $od)" \
            "rfc9989: $d9; $(grep "^$name rfc9989 " "$workdir/results")"
    fi
done < "$workdir/cases"
echo "# agreement with OpenDMARC where RFC 7489 and RFC 9989 agree: $agree of $agree_total"
tap_done
