#!/bin/bash
# arc_interop.sh: ARC (RFC 8617) interoperability with dkimpy (python3-dkim),
# both ways: chains of 1, 2 and 3 hops with the sealers alternating between
# domauth and dkimpy must validate in both, a tampered body or seal and an
# i=51 set must fail in both. rsa-sha256 throughout; ed25519-sha256 where
# dkimpy takes part is recorded as dkimpy's refusal (its ARC code knows
# rsa-sha256 only, the one algorithm RFC 8617 names).
#
# As root the script re-runs itself inside `unshare -n -m` with unbound on
# 127.0.0.1 serving the keys and /etc/resolv.conf bound to it, and both
# verifiers use that DNS server; otherwise they read the same records from
# a zone file (domauth --zone, dkimpy through a dnsfunc). A missing dkimpy
# gives TAP SKIP lines. Environment: DOMAUTH_BIN (build/cli/domauth).
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
yes_if() { "$@" && echo 1 || echo 0; }

have_dkimpy() { "$python" -c 'import dkim, authres' 2>/dev/null; }

# ------------------------------------------------------------- helpers

# dkimpy over the zone file, or over the system resolver when the zone
# argument is "-" (the namespace's unbound).
write_python_helpers() {
    cat > "$work/dnsfunc.py" <<'EOF'
import dkim
def make(zone_path):
    if zone_path == "-":
        return dkim.dnsplug.get_txt
    zone = {}
    for line in open(zone_path):
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] == "TXT":
            zone[parts[0].lower() + "."] = parts[2].strip().replace('" "', "").strip('"').encode()
    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        return zone.get(name.lower(), b"")
    return dnsfunc
EOF
    cat > "$work/dkimpy_arc_verify.py" <<'EOF'
import sys, dkim
sys.path.insert(0, sys.argv[3])
import dnsfunc
msg = open(sys.argv[1], "rb").read()
cv, results, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc.make(sys.argv[2]))
print((cv or b"fail").decode(), len(results), reason)
EOF
    # A hop as dkimpy's arcsign makes it: validate the chain on arrival,
    # write this host's Authentication-Results (arc= when there is a chain),
    # then seal. CRLF in and out: dkimpy writes its AAR with CRLF whatever
    # the message uses, which breaks its seals over LF-only mail.
    cat > "$work/dkimpy_arc_seal.py" <<'EOF'
import sys, dkim
msg_path, selector, domain, key_path, srv_id, zone_path, helpers = sys.argv[1:8]
sys.path.insert(0, helpers)
import dnsfunc
msg = open(msg_path, "rb").read()
key = open(key_path, "rb").read()
results = b"spf=pass smtp.mailfrom=example.com"
if b"arc-seal:" in msg.lower():
    cv, _, _ = dkim.arc_verify(msg, dnsfunc=dnsfunc.make(zone_path))
    results = b"arc=" + (cv or b"fail")
msg = b"Authentication-Results: " + srv_id.encode() + b"; " + results + b"\r\n" + msg
try:
    fields = dkim.arc_sign(msg, selector.encode(), domain.encode(), key, srv_id.encode(),
                           timestamp=1700000000, linesep=b"\r\n")
except dkim.DKIMException as e:
    sys.exit("dkimpy: %s" % e)
if not fields:
    sys.exit("dkimpy made no ARC set")
sys.stdout.buffer.write(b"".join(fields) + msg)
EOF
}

# dkimpy's own ARC vectors (dkim/tests/test_arc.py with its fixed key
# tests/data/test.private), read in place: the expected set of
# test_signs_and_verifies and the h=-in-ARC-Seal set of test_fails_h_in_as,
# each written before tests/data/test.message.
write_vectors() {
    "$python" - "$work" <<'EOF'
import ast, os, sys, dkim.tests
work = sys.argv[1]
tests = os.path.dirname(dkim.tests.__file__)
tree = ast.parse(open(os.path.join(tests, "test_arc.py")).read())
message = open(os.path.join(tests, "data", "test.message"), "rb").read()
found = {}
for fn in ast.walk(tree):
    if isinstance(fn, ast.FunctionDef):
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.List) and \
                    getattr(node.targets[0], "id", "") in ("expected_sig", "sig_lines"):
                found[fn.name] = b"".join(ast.literal_eval(node.value))
for name, out in (("test_signs_and_verifies", "vector-pass.eml"),
                  ("test_fails_h_in_as", "vector-h.eml")):
    if name in found:
        open(os.path.join(work, out), "wb").write(found[name] + message)
key = open(os.path.join(tests, "data", "test.txt")).read().strip()
open(os.path.join(work, "vector.zone"), "w").write('test._domainkey.example.com TXT "%s"\n' % key)
open(os.path.join(work, "vector.bind"), "w").write('test._domainkey.example.com. IN TXT "%s"\n' % key)
open(os.path.join(work, "vector.private"), "wb").write(
    open(os.path.join(tests, "data", "test.private"), "rb").read())
open(os.path.join(work, "vector.message"), "wb").write(message)
EOF
}

write_message() {
    printf '%s\r\n' \
        'From: Alice Example <alice@example.com>' \
        'To: The list <list@lists.example.com>' \
        'Subject: ARC interoperability' \
        'Date: Tue, 14 Nov 2023 22:13:20 +0000' \
        'Message-ID: <arc-interop-1@example.com>' \
        'MIME-Version: 1.0' \
        'Content-Type: text/plain; charset=us-ascii' \
        '' \
        'Hello Bob,' \
        '  this line has   some  spaces	and a tab.' \
        '' > "$work/message.eml"
}

# Keys: example.com (rsa, and ed25519 "ed") seals the first hop, the list
# lists.example.com (rsa "lst") the others.
make_keys() {
    local ok=1
    "$domauth_bin" dkim keygen --domain example.com --selector rsa --out "$work/rsa.pem" \
        > "$work/rsa.bind" 2>/dev/null || ok=0
    "$domauth_bin" dkim keygen --domain lists.example.com --selector lst --out "$work/lst.pem" \
        > "$work/lst.bind" 2>/dev/null || ok=0
    "$domauth_bin" dkim keygen --domain example.com --selector ed --type ed25519 \
        --out "$work/ed.pem" > "$work/ed.bind" 2>/dev/null || ok=0
    report $ok "domauth dkim keygen makes the sealers' keys (two RSA, one Ed25519)"
    sed -E 's/^([^\t]+)\.\tIN\tTXT\t/\1 TXT /' "$work"/rsa.bind "$work"/lst.bind "$work"/ed.bind \
        > "$work/keys.zone"
    [ -s "$work/vector.zone" ] && cat "$work/vector.zone" >> "$work/keys.zone"
    {
        echo '$TTL 300'
        echo 'example.com. IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60'
        echo 'example.com. IN NS ns.example.com.'
        echo 'ns.example.com. IN A 127.0.0.1'
        cat "$work"/rsa.bind "$work"/lst.bind "$work"/ed.bind
        [ -s "$work/vector.bind" ] && cat "$work/vector.bind"
    } > "$work/example.com.zone"
}

# Where keys come from: the namespace's unbound, or the zone file.
domauth_dns() {
    if [ "$dns_ready" = 1 ]; then echo "--dns-server 127.0.0.1"; else echo "--zone $work/keys.zone"; fi
}
dkimpy_zone() { if [ "$dns_ready" = 1 ]; then echo -; else echo "$work/keys.zone"; fi; }

domauth_cv() { # file -> pass / fail / none (the first line's cv=)
    # shellcheck disable=SC2046
    "$domauth_bin" arc verify $(domauth_dns) "$1" 2>/dev/null | head -n 1 |
        sed -E 's/^cv=([a-z]+).*/\1/'
}
domauth_instances() {
    # shellcheck disable=SC2046
    "$domauth_bin" arc verify $(domauth_dns) "$1" 2>/dev/null | head -n 1 |
        sed -E 's/.* instances=([0-9]+).*/\1/'
}
dkimpy_cv() { "$python" "$work/dkimpy_arc_verify.py" "$1" "$(dkimpy_zone)" "$work" 2>/dev/null | cut -d' ' -f1; }
dkimpy_reason() { "$python" "$work/dkimpy_arc_verify.py" "$1" "$(dkimpy_zone)" "$work" 2>/dev/null | cut -d' ' -f3-; }

# One hop. signer: domauth or dkimpy; alg: rsa or ed (domauth only).
hop() { # signer alg in out hop_number
    local signer=$1 alg=$2 in=$3 out=$4 k=$5 key sel dom
    if [ "$k" = 1 ]; then dom=example.com; [ "$alg" = ed ] && sel=ed || sel=rsa
    else dom=lists.example.com; sel=lst; fi
    key=$work/$sel.pem
    if [ "$signer" = domauth ]; then
        # shellcheck disable=SC2046
        "$domauth_bin" arc seal $(domauth_dns) --key "$key" --selector $sel --domain $dom \
            --authres "hop$k.$dom; spf=pass smtp.mailfrom=example.com" "$in" > "$out" 2>"$out.err"
    else
        "$python" "$work/dkimpy_arc_seal.py" "$in" $sel $dom "$key" "hop$k.$dom" \
            "$(dkimpy_zone)" "$work" > "$out" 2>"$out.err"
    fi
}

# Builds a chain from a signer list ("domauth dkimpy domauth"); prints its path.
chain() { # alg signers...
    local alg=$1 k=0 in=$work/message.eml out name
    shift
    name=$alg
    for s in "$@"; do name=$name-${s:0:1}; done
    for s in "$@"; do
        k=$((k + 1))
        out=$work/chain-$name-$k.eml
        hop "$s" "$alg" "$in" "$out" $k || { echo "$work/missing"; return 1; }
        in=$out
    done
    echo "$in"
}

both_say() { # file want description
    local d p
    d=$(domauth_cv "$1")
    p=$(dkimpy_cv "$1")
    report "$(yes_if [ "$d" = "$2" ])" "$3: domauth says ${d:-nothing} (want $2)"
    report "$(yes_if [ "$p" = "$2" ])" "$3: dkimpy says ${p:-nothing} (want $2)"
}

# -------------------------------------------------------------- the tests

test_chains() {
    local signers f label
    for signers in "domauth" "dkimpy" "domauth dkimpy" "dkimpy domauth" \
        "domauth dkimpy domauth" "dkimpy domauth dkimpy"; do
        label="rsa, ${signers// / then }"
        f=$(chain rsa $signers)
        if [ ! -s "$f" ]; then
            report 0 "$label: sealing failed: $(cat "$work"/chain-*.err 2>/dev/null | tail -n 1)"
            continue
        fi
        local hops
        hops=$(wc -w <<<"$signers")
        both_say "$f" pass "$label ($hops hop$([ "$hops" = 1 ] || echo s))"
        report "$(yes_if [ "$(domauth_instances "$f")" = "$hops" ])" \
            "$label: domauth counts $hops instance(s)"
        # Tampering, which both must refuse.
        sed -e 's/Hello Bob/Hello Eve/' "$f" > "$work/t.eml"
        both_say "$work/t.eml" fail "$label, body changed"
        sed -e '0,/^ARC-Authentication-Results: i=1;/s/spf=pass/spf=fail/' "$f" > "$work/t.eml"
        if cmp -s "$f" "$work/t.eml"; then
            report 0 "$label: the AAR of i=1 to tamper with was not found"
        else
            both_say "$work/t.eml" fail "$label, the AAR of i=1 changed (a seal covers it)"
        fi
        # The newest seal's b=: one base64 character changed.
        awk -v hops="$hops" '
            !done && $0 ~ "^ARC-Seal: i=" hops ";" { inseal = 1 }
            inseal && !done && match($0, /b=[A-Za-z0-9+\/]/) {
                c = substr($0, RSTART + 2, 1)
                $0 = substr($0, 1, RSTART + 1) (c == "A" ? "B" : "A") substr($0, RSTART + 3)
                done = 1
            }
            { print }' "$f" > "$work/t.eml"
        both_say "$work/t.eml" fail "$label, the newest ARC-Seal's b= changed"
    done
}

test_ed25519() {
    local f r
    f=$(chain ed domauth)
    report "$(yes_if [ "$(domauth_cv "$f")" = pass ])" "ed25519, domauth: domauth validates"
    r=$(dkimpy_reason "$f")
    report "$(yes_if grep -q "unknown signature algorithm: b'ed25519-sha256'" <<<"$r")" \
        "ed25519, domauth: dkimpy refuses the algorithm, which its ARC code lacks ($r)"
    f=$(chain ed domauth domauth)
    report "$(yes_if [ "$(domauth_cv "$f")" = pass ])" \
        "ed25519 then rsa, domauth twice: domauth validates"
    hop dkimpy ed "$work/message.eml" "$work/ed-dkimpy.eml" 1
    r=$?
    report "$(if [ $r != 0 ] && ! grep -q '^ARC-Seal:' "$work/ed-dkimpy.eml"; then echo 1; else echo 0; fi)" \
        "ed25519: dkimpy's arc_sign cannot seal with an Ed25519 key (exit $r: $(tail -n 1 "$work/ed-dkimpy.eml.err"))"
    # A dkimpy rsa hop, then a domauth ed25519 hop: domauth validates.
    hop dkimpy rsa "$work/message.eml" "$work/mixed-1.eml" 1
    # shellcheck disable=SC2046
    "$domauth_bin" arc seal $(domauth_dns) --key "$work/ed.pem" --selector ed \
        --domain example.com --authres "hop2.example.com; arc=pass" "$work/mixed-1.eml" \
        > "$work/mixed-2.eml" 2>/dev/null
    report "$(yes_if [ "$(domauth_cv "$work/mixed-2.eml")" = pass ])" \
        "dkimpy rsa then domauth ed25519: domauth validates"
}

test_vectors() {
    if [ ! -s "$work/vector-pass.eml" ] || [ ! -s "$work/vector-h.eml" ]; then
        report 0 "dkimpy's ARC vectors found in its test_arc.py"
        return
    fi
    report "$(yes_if [ "$(domauth_cv "$work/vector-pass.eml")" = pass ])" \
        "dkimpy's fixed-key vector (test_signs_and_verifies): domauth validates it"
    report "$(yes_if [ "$(dkimpy_cv "$work/vector-pass.eml")" = pass ])" \
        "dkimpy's fixed-key vector: dkimpy validates it here too"
    report "$(yes_if [ "$(domauth_cv "$work/vector-h.eml")" = fail ])" \
        "dkimpy's vector with h= in the ARC-Seal (test_fails_h_in_as): domauth fails it"
    # domauth seals dkimpy's test message with dkimpy's test key, as dkimpy's
    # test does (t=12345, its header list); dkimpy validates the result.
    # shellcheck disable=SC2046
    "$domauth_bin" arc seal $(domauth_dns) --key "$work/vector.private" --selector test \
        --domain example.com --timestamp 12345 --headers message-id:date:from:to:subject \
        --authres "lists.example.org; arc=none; spf=pass smtp.mfrom=jqd@d1.example" \
        "$work/vector.message" > "$work/vector-domauth.eml" 2>/dev/null
    both_say "$work/vector-domauth.eml" pass "domauth seals dkimpy's test message with its test key"
}

# 50 sets are the limit (RFC 8617 section 4.2.1).
test_fifty() {
    local f=$work/message.eml k
    for k in $(seq 50); do
        # shellcheck disable=SC2046
        "$domauth_bin" arc seal $(domauth_dns) --key "$work/lst.pem" --selector lst \
            --domain lists.example.com --authres "hop$k.lists.example.com; arc=pass" \
            --timestamp 1700000000 "$f" > "$work/fifty-$k.eml" 2>/dev/null || break
        f=$work/fifty-$k.eml
    done
    report "$(yes_if [ "$f" = "$work/fifty-50.eml" ])" "domauth seals 50 hops"
    both_say "$f" pass "a chain of 50 sets"
    # shellcheck disable=SC2046
    "$domauth_bin" arc seal $(domauth_dns) --key "$work/lst.pem" --selector lst \
        --domain lists.example.com --authres "hop51.lists.example.com; arc=pass" "$f" \
        > "$work/fifty-51.eml" 2>"$work/fifty-51.err"
    report "$(if [ $? = 1 ] && grep -q '50 ARC sets already' "$work/fifty-51.err"; then echo 1; else echo 0; fi)" \
        "domauth refuses to seal a 51st set (exit 1: $(cat "$work/fifty-51.err"))"
    hop dkimpy rsa "$f" "$work/fifty-51p.eml" 2
    report "$(yes_if grep -q 'Maximum instance' "$work/fifty-51p.eml.err")" \
        "dkimpy refuses to seal a 51st set too"
    # A forged set 51 on top: the newest set relabelled from i=50 to i=51.
    sed -E '1,/^ARC-Authentication-Results: i=50;/s/^(ARC-[A-Za-z-]+: i=)50;/\151;/' "$f" \
        > "$work/i51.eml"
    report "$(yes_if [ "$(grep -c '^ARC-[A-Za-z-]*: i=51;' "$work/i51.eml")" = 3 ])" \
        "the i=51 message has three fields with i=51"
    both_say "$work/i51.eml" fail "a set with i=51"
}

# --------------------------------------------------------- DNS in a namespace

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
    work=$(mktemp -d "${TMPDIR:-/tmp}/domauth-arc-interop.XXXXXX")
    trap 'stop_dns; [ -n "${ARC_INTEROP_KEEP:-}" ] || rm -rf "$work"' EXIT
    dns_ready=0
    dns_why=${ARC_INTEROP_DNS_WHY:-"no private network namespace"}
    write_python_helpers
    write_message
    have_dkimpy && write_vectors
    make_keys
    if [ "${ARC_INTEROP_INSIDE:-}" = 1 ]; then
        if command -v unbound >/dev/null; then start_dns; else dns_why="unbound not installed"; fi
    fi
    if [ "$dns_ready" = 1 ]; then
        echo "# keys from unbound on 127.0.0.1 in a private network namespace"
    else
        echo "# keys from a zone file: $dns_why"
    fi
    if ! have_dkimpy; then
        skip "dkimpy (python3-dkim, python3-authres) not installed: no ARC interop"
        echo "1..$n"
        [ "$failed" = 0 ]
        return
    fi
    test_chains
    test_vectors
    test_ed25519
    test_fifty
    echo "1..$n"
    [ "$failed" = 0 ]
}

if [ ! -x "$domauth_bin" ]; then
    echo "Bail out! domauth binary not found at $domauth_bin (build first or set DOMAUTH_BIN)"
    exit 1
fi
domauth_bin=$(cd "$(dirname "$domauth_bin")" && pwd)/$(basename "$domauth_bin")
export DOMAUTH_BIN=$domauth_bin

if [ "${ARC_INTEROP_INSIDE:-}" != 1 ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
    unshare -n -m true 2>/dev/null; then
    ARC_INTEROP_INSIDE=1 exec unshare -n -m -- bash "${BASH_SOURCE[0]}"
fi
[ "$(id -u)" = 0 ] || export ARC_INTEROP_DNS_WHY="needs root for a private network namespace"
main
