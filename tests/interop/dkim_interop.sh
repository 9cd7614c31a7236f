#!/bin/bash
# dkim_interop.sh: DKIM interoperability with the peers Debian ships, both
# ways: messages signed by domauth must verify with dkimpy (python3-dkim) and
# OpenDKIM (opendkim -t, opendkim-testmsg), and messages they sign must verify
# with domauth; rsa-sha256 and ed25519-sha256, every canonicalization pair,
# and tampered messages must fail (or pass) in all of them as RFC 6376 says.
#
# OpenDKIM verifies over DNS: as root the script re-runs itself inside
# `unshare -n -m` with unbound on 127.0.0.1 serving the keys and
# /etc/resolv.conf bound to it. A missing peer (or no namespace) gives TAP
# SKIP lines with the reason. Environment: DOMAUTH_BIN (build/cli/domauth).
set -u

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
python=/usr/bin/python3

n=0
failed=0
report() { # ok(0/1) description
    n=$((n + 1))
    if [ "$1" = 1 ]; then
        echo "ok $n - $2"
    else
        failed=$((failed + 1))
        echo "not ok $n - $2"
    fi
}
skip() {
    n=$((n + 1))
    echo "ok $n # SKIP $*"
}

# ------------------------------------------------------------- helpers

have_dkimpy() { "$python" -c 'import dkim, nacl' 2>/dev/null; }
have_opendkim() { command -v opendkim >/dev/null 2>&1; }
have_testmsg() { command -v opendkim-testmsg >/dev/null 2>&1; }

# dkimpy, offline: keys come from the domauth-format zone file.
write_python_helpers() {
    cat > "$work/dkimpy_verify.py" <<'EOF'
import sys, dkim
zone = {}
for line in open(sys.argv[2]):
    parts = line.split(None, 2)
    if len(parts) == 3 and parts[1] == "TXT":
        zone[parts[0].lower() + "."] = parts[2].strip().replace('" "', "").strip('"').encode()
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    return zone.get(name.lower(), b"")
msg = open(sys.argv[1], "rb").read()
try:
    ok = dkim.DKIM(msg).verify(dnsfunc=dnsfunc)
except dkim.DKIMException:
    ok = False
print("pass" if ok else "fail")
EOF
    cat > "$work/dkimpy_sign.py" <<'EOF'
import sys, dkim
msg_path, selector, domain, key_path, canon, algo = sys.argv[1:7]
msg = open(msg_path, "rb").read()
key = open(key_path, "rb").read().strip()
h, b = canon.split("/")
sig = dkim.sign(msg, selector.encode(), domain.encode(), key,
                canonicalize=(h.encode(), b.encode()),
                signature_algorithm=algo.encode(), linesep=b"\n")
sys.stdout.buffer.write(sig + msg)
EOF
}

write_message() {
    cat > "$work/message.eml" <<'EOF'
From: Alice Example <alice@example.com>
To: Bob Example <bob@example.net>
Subject: Interoperability test
Date: Tue, 14 Nov 2023 22:13:20 +0000
Message-ID: <interop-1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello Bob,
  this line has   some  spaces	and a tab.

Trailing empty lines follow.


EOF
}

# Keys made by domauth keygen; zone files for domauth (--zone) and unbound.
make_keys() {
    local ok=1
    "$domauth_bin" dkim keygen --domain example.com --selector rsa --out "$work/rsa.pem" \
        > "$work/rsa.bind" 2>/dev/null || ok=0
    "$domauth_bin" dkim keygen --domain example.com --selector ed --type ed25519 \
        --out "$work/ed.pem" > "$work/ed.bind" 2>/dev/null || ok=0
    report $ok "domauth dkim keygen makes an RSA and an Ed25519 key"
    # dkimpy and OpenDKIM's KeyFile take an Ed25519 key as its base64 seed too.
    openssl pkey -in "$work/ed.pem" -outform DER 2>/dev/null | tail -c 32 | base64 \
        > "$work/ed.seed"
    # The record of an existing key: what keygen printed, from the PEM or the seed.
    ok=1
    for k in rsa ed; do
        "$domauth_bin" dkim record --key "$work/$k.pem" --domain example.com --selector $k \
            2>/dev/null | cmp -s - "$work/$k.bind" || ok=0
    done
    "$domauth_bin" dkim record --key "$work/ed.seed" --domain example.com --selector ed \
        2>/dev/null | cmp -s - "$work/ed.bind" || ok=0
    report $ok "domauth dkim record prints keygen's record again from the PEM (RSA, Ed25519) and the seed"
    if command -v opendkim-genkey >/dev/null; then
        mkdir -p "$work/genkey"
        opendkim-genkey -D "$work/genkey" -d example.org -s og >/dev/null 2>&1
        want=$(tr -d '\n\t "()' < "$work/genkey/og.txt" | sed -E 's/.*p=([A-Za-z0-9+\/=]+).*/\1/')
        got=$("$domauth_bin" dkim record --key "$work/genkey/og.private" --domain example.org \
            --selector og 2>/dev/null | tr -d '\n\t "' | sed -E 's/.*p=([A-Za-z0-9+\/=]+).*/\1/')
        report "$([ -n "$want" ] && [ "$want" = "$got" ] && echo 1 || echo 0)" \
            "domauth dkim record of an opendkim-genkey key has OpenDKIM's p= (${#got} bytes)"
    fi
    "$domauth_bin" dkim record --key "$work/missing.pem" --domain example.com --selector x \
        > /dev/null 2>&1
    report "$([ $? = 66 ] && echo 1 || echo 0)" "domauth dkim record: a missing key is exit 66"
    sed -E 's/^([^\t]+)\.\tIN\tTXT\t/\1 TXT /' "$work/rsa.bind" "$work/ed.bind" > "$work/keys.zone"
    {
        echo '$TTL 300'
        echo 'example.com. IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60'
        echo 'example.com. IN NS ns.example.com.'
        echo 'ns.example.com. IN A 127.0.0.1'
        cat "$work/rsa.bind" "$work/ed.bind"
    } > "$work/example.com.zone"
}

domauth_verify() { # file [extra args] -> prints the first line's result word
    "$domauth_bin" dkim verify --zone "$work/keys.zone" "${@:2}" < "$1" 2>/dev/null \
        | head -n 1 | cut -d' ' -f1 | tr -d ':'
}

dkimpy_verify() { "$python" "$work/dkimpy_verify.py" "$1" "$work/keys.zone" 2>/dev/null; }

# OpenDKIM in test mode (-t): signs, or verifies and prints an
# Authentication-Results header we read the dkim= result from.
opendkim_conf() { # mode selector key canon algorithm
    cat <<EOF
Mode $1
Syslog no
RequireSafeKeys no
Domain example.com
Selector $2
KeyFile $3
Canonicalization $4
SignatureAlgorithm $5
OversignHeaders From
Nameservers 127.0.0.1
DNSTimeout 2
EOF
}

# Verifying: the test client (127.0.0.1) must not count as internal, or
# OpenDKIM takes the message as outgoing and leaves it alone.
opendkim_verify() { # file -> pass / fail / error
    printf 'Mode v\nSyslog no\nInternalHosts 192.0.2.1\nNameservers 127.0.0.1\nDNSTimeout 2\n' \
        > "$work/verify.conf"
    local out
    out=$(opendkim -x "$work/verify.conf" -t "$1" -vvv 2>&1)
    if grep -qE 'dkim=pass|verification .* succeeded' <<<"$out"; then echo pass
    elif grep -qE 'dkim=(fail|neutral|permerror)|verification .* failed|bad signature' <<<"$out"
    then echo fail
    else echo "error"; fi
}

opendkim_sign() { # message selector key canon algorithm -> signed message
    opendkim_conf s "$2" "$3" "$4" "$5" > "$work/sign.conf"
    local out
    out=$(opendkim -x "$work/sign.conf" -t "$1" 2>/dev/null) || return 1
    grep -q '^DKIM-Signature:' <<<"$out" || return 1
    sed -n '/^DKIM-Signature:/,$p' <<<"$out" | tr -d '\r'
    cat "$1"
}

# Tampering: (name, sed expression, result under simple, under relaxed)
tampers() {
    cat <<'EOF'
body text changed	s/Hello Bob/Hello Eve/	fail	fail
subject changed	s/^Subject: Interop.*/Subject: Changed/	fail	fail
body whitespace added	s/some  spaces/some    spaces/	fail	pass
From instance added	1i From: Mallory <mallory@example.org>	fail	fail
trailing empty lines added	$s/$/\n\n/	pass	pass
EOF
}

# -------------------------------------------------------------- the tests

canons="simple/simple simple/relaxed relaxed/simple relaxed/relaxed"

# A peer-signed message must pass domauth. When it does not, dkimpy is the
# referee: if it rejects the message too, the peer made a bad signature
# (OpenDKIM 2.11 does, for ed25519 with simple header canonicalization), and
# the message is left out of the tampering tests.
peer_signed_check() { # file description
    local r ref
    r=$(domauth_verify "$1")
    if [ "$r" = pass ]; then
        report 1 "$2; domauth verifies"
        return
    fi
    ref=$(have_dkimpy && dkimpy_verify "$1")
    report $([ "$ref" = fail ] && echo 1 || echo 0) \
        "$2; domauth says $r, and so does dkimpy (${ref:-not run}): the peer's signature is bad"
    mv "$1" "$1.bad"
}

test_domauth_signs() {
    local alg key sel canon f
    for alg in rsa ed25519; do
        [ $alg = rsa ] && { key=$work/rsa.pem; sel=rsa; } || { key=$work/ed.pem; sel=ed; }
        for canon in $canons; do
            f=$work/domauth-$alg-${canon/\//-}.eml
            "$domauth_bin" dkim sign --domain example.com --selector $sel --key "$key" \
                --canon $canon < "$work/message.eml" > "$f" 2>/dev/null
            report $([ "$(domauth_verify "$f")" = pass ] && echo 1 || echo 0) \
                "domauth signs $alg $canon; domauth verifies"
            if have_dkimpy; then
                report $([ "$(dkimpy_verify "$f")" = pass ] && echo 1 || echo 0) \
                    "domauth signs $alg $canon; dkimpy verifies"
            else
                skip "dkimpy (python3-dkim, python3-nacl) not installed"
            fi
            if [ "$dns_ready" = 1 ]; then
                local r
                r=$(opendkim_verify "$f")
                report $([ "$r" = pass ] && echo 1 || echo 0) \
                    "domauth signs $alg $canon; OpenDKIM verifies ($r)"
            else
                skip "OpenDKIM verification: $dns_why"
            fi
        done
    done
}

test_peers_sign() {
    local alg canon f
    for alg in rsa ed25519; do
        for canon in $canons; do
            if have_dkimpy; then
                f=$work/dkimpy-$alg-${canon/\//-}.eml
                if [ $alg = rsa ]; then
                    "$python" "$work/dkimpy_sign.py" "$work/message.eml" rsa example.com \
                        "$work/rsa.pem" $canon rsa-sha256 > "$f" 2>/dev/null
                else
                    "$python" "$work/dkimpy_sign.py" "$work/message.eml" ed example.com \
                        "$work/ed.seed" $canon ed25519-sha256 > "$f" 2>/dev/null
                fi
                peer_signed_check "$f" "dkimpy signs $alg $canon"
            else
                skip "dkimpy (python3-dkim, python3-nacl) not installed"
            fi
            if have_opendkim; then
                f=$work/opendkim-$alg-${canon/\//-}.eml
                if [ $alg = rsa ]; then
                    opendkim_sign "$work/message.eml" rsa "$work/rsa.pem" $canon rsa-sha256 > "$f"
                else
                    opendkim_sign "$work/message.eml" ed "$work/ed.pem" $canon ed25519-sha256 > "$f"
                fi
                peer_signed_check "$f" "OpenDKIM signs $alg $canon"
            else
                skip "OpenDKIM (opendkim) not installed"
            fi
        done
    done
}

# rsa-sha1 (made by dkimpy and by OpenDKIM): RFC 8301 says it is not valid;
# domauth checks the cryptography and reports fail, or neutral if asked.
test_rsa_sha1() {
    local f signer neutral
    for signer in dkimpy OpenDKIM; do
        f=$work/sha1-$signer.eml
        if [ $signer = dkimpy ]; then
            have_dkimpy || { skip "dkimpy (python3-dkim) not installed"; continue; }
            "$python" "$work/dkimpy_sign.py" "$work/message.eml" rsa example.com \
                "$work/rsa.pem" relaxed/simple rsa-sha1 > "$f" 2>/dev/null
        else
            have_opendkim || { skip "OpenDKIM (opendkim) not installed"; continue; }
            opendkim_sign "$work/message.eml" rsa "$work/rsa.pem" relaxed/simple rsa-sha1 > "$f"
        fi
        neutral=$("$domauth_bin" dkim verify --zone "$work/keys.zone" --sha1 neutral < "$f" 2>/dev/null)
        report $(grep -q '^neutral .*rsa-sha1 signature verified' <<<"$neutral" && echo 1 || echo 0) \
            "$signer signs rsa-sha1; domauth --sha1 neutral: verified, reported neutral"
        report $([ "$(domauth_verify "$f")" = fail ] && echo 1 || echo 0) \
            "$signer signs rsa-sha1; domauth by default: fail (RFC 8301)"
    done
}

# opendkim-testmsg: verifies over DNS; its signing output is only checked
# for agreement between domauth and dkimpy (it can print a damaged b=).
test_testmsg() {
    if ! have_testmsg; then
        skip "opendkim-testmsg (opendkim-tools) not installed"
        return
    fi
    local f=$work/testmsg.eml r ref out rc
    opendkim-testmsg -d example.com -s rsa -k "$work/rsa.pem" < "$work/message.eml" > "$f" 2>/dev/null
    r=$(domauth_verify "$f" --sha1 neutral)
    if have_dkimpy; then
        ref=$(dkimpy_verify "$f")
        report $( { [ "$r" = neutral ] && [ "$ref" = pass ]; } ||
                  { [ "$r" != neutral ] && [ "$ref" = fail ]; } && echo 1 || echo 0) \
            "opendkim-testmsg signs rsa-sha1; domauth ($r) agrees with dkimpy ($ref)"
    fi
    if [ "$dns_ready" = 1 ]; then
        out=$(opendkim-testmsg < "$work/domauth-rsa-relaxed-relaxed.eml" 2>&1)
        rc=$?
        report $([ $rc = 0 ] && [ -z "$out" ] && echo 1 || echo 0) \
            "domauth signs rsa relaxed/relaxed; opendkim-testmsg verifies (exit $rc${out:+: $out})"
        out=$(sed 's/Hello Bob/Hello Eve/' "$work/domauth-rsa-relaxed-relaxed.eml" \
            | opendkim-testmsg 2>&1)
        rc=$?
        report $([ $rc != 0 ] && echo 1 || echo 0) \
            "tampered body: opendkim-testmsg refuses it too (exit $rc)"
    else
        skip "opendkim-testmsg verification: $dns_why"
    fi
}

# Each tamper, on domauth-signed messages checked by every verifier, and on
# peer-signed messages checked by domauth.
test_tampering() {
    local name expr simple relaxed alg canon want f t r
    while IFS=$'\t' read -r name expr simple relaxed; do
        for alg in rsa ed25519; do
            for canon in simple/simple relaxed/relaxed; do
                [ $canon = simple/simple ] && want=$simple || want=$relaxed
                f=$work/domauth-$alg-${canon/\//-}.eml
                t=$work/tampered.eml
                sed -e "$expr" "$f" > "$t"
                r=$(domauth_verify "$t")
                report $([ "$r" = "$want" ] && echo 1 || echo 0) \
                    "$name, domauth-signed $alg $canon: domauth says $r (want $want)"
                if have_dkimpy; then
                    r=$(dkimpy_verify "$t")
                    report $([ "$r" = "$want" ] && echo 1 || echo 0) \
                        "$name, domauth-signed $alg $canon: dkimpy says $r (want $want)"
                fi
                if [ "$dns_ready" = 1 ]; then
                    r=$(opendkim_verify "$t")
                    report $([ "$r" = "$want" ] && echo 1 || echo 0) \
                        "$name, domauth-signed $alg $canon: OpenDKIM says $r (want $want)"
                fi
                for peer in dkimpy opendkim; do
                    f=$work/$peer-$alg-${canon/\//-}.eml
                    [ -s "$f" ] || continue
                    sed -e "$expr" "$f" > "$t"
                    r=$(domauth_verify "$t")
                    report $([ "$r" = "$want" ] && echo 1 || echo 0) \
                        "$name, $peer-signed $alg $canon: domauth says $r (want $want)"
                done
            done
        done
    done < <(tampers)
}

# --------------------------------------------------------- DNS for OpenDKIM

unbound_pid=
start_dns() {
    dns_ready=0
    ip link set lo up 2>/dev/null || { dns_why="cannot bring up lo"; return; }
    cat > "$work/unbound.conf" <<EOF
server:
  interface: 127.0.0.1@53
  do-daemonize: no
  use-syslog: no
  logfile: "$work/unbound.log"
  chroot: ""
  username: ""
  directory: "$work"
  pidfile: "$work/unbound.pid"
  module-config: "iterator"
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  verbosity: 1
auth-zone:
  name: "example.com"
  zonefile: "$work/example.com.zone"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
EOF
    unbound -d -c "$work/unbound.conf" >> "$work/unbound.log" 2>&1 &
    unbound_pid=$!
    for _ in $(seq 50); do
        if grep -q "start of service" "$work/unbound.log" 2>/dev/null; then
            printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$work/resolv.conf"
            mount --bind "$work/resolv.conf" /etc/resolv.conf \
                || { dns_why="cannot bind-mount /etc/resolv.conf"; return; }
            dns_ready=1
            return
        fi
        kill -0 "$unbound_pid" 2>/dev/null || break
        sleep 0.1
    done
    dns_why="unbound did not start: $(tail -n 1 "$work/unbound.log")"
}

stop_dns() {
    [ -n "$unbound_pid" ] && kill "$unbound_pid" 2>/dev/null && wait "$unbound_pid" 2>/dev/null
}

main() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/domauth-dkim-interop.XXXXXX")
    trap 'stop_dns; [ -n "${DKIM_INTEROP_KEEP:-}" ] || rm -rf "$work"' EXIT
    dns_ready=0
    dns_why=${DKIM_INTEROP_DNS_WHY:-"no private network namespace"}
    write_python_helpers
    write_message
    make_keys
    if [ "${DKIM_INTEROP_INSIDE:-}" = 1 ]; then
        if ! have_opendkim; then
            dns_why="OpenDKIM (opendkim) not installed"
        elif ! command -v unbound >/dev/null; then
            dns_why="unbound not installed"
        else
            start_dns
        fi
    fi
    test_domauth_signs
    test_peers_sign
    test_rsa_sha1
    test_testmsg
    test_tampering
    echo "1..$n"
    [ "$failed" = 0 ]
}

if [ ! -x "$domauth_bin" ]; then
    echo "Bail out! domauth binary not found at $domauth_bin (build first or set DOMAUTH_BIN)"
    exit 1
fi
domauth_bin=$(cd "$(dirname "$domauth_bin")" && pwd)/$(basename "$domauth_bin")
export DOMAUTH_BIN=$domauth_bin

if [ "${DKIM_INTEROP_INSIDE:-}" != 1 ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
    unshare -n -m true 2>/dev/null; then
    DKIM_INTEROP_INSIDE=1 exec unshare -n -m -- bash "${BASH_SOURCE[0]}"
fi
[ "$(id -u)" = 0 ] || export DKIM_INTEROP_DNS_WHY="needs root for a private network namespace"
main
