#!/bin/bash
# arc_policy.sh: ARC in the message service (issue 12, item 1's policy
# part), through domauth verify offline over a zone file: a message from
# orig.test (SPF -all, DMARC p=reject) forwarded by fwd.test, which sealed
# what it saw. The final hop sees the forwarder's address, so SPF and DMARC
# fail; a trusted sealer's recorded pass lifts the SPF reject, an untrusted
# one, a broken chain or a recorded fail do not; arc= is in the
# Authentication-Results either way and the reasons say who vouched. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
[ -x "$domauth_bin" ] || { echo "Bail out! no domauth at $domauth_bin"; exit 1; }
. "$here/../lib/tap.sh"
tap_workdir domauth-arc-policy
w=$workdir
t() { if eval "$1"; then echo 1; else echo 0; fi; } # a condition in shell words

"$domauth_bin" dkim keygen --domain fwd.test --selector arc --out "$w/fwd.pem" 2>/dev/null |
    sed -E 's/^([^\t]+)\.\tIN\tTXT\t/\1 TXT /' > "$w/zone"
"$domauth_bin" dkim keygen --domain other.test --selector arc --out "$w/other.pem" 2>/dev/null |
    sed -E 's/^([^\t]+)\.\tIN\tTXT\t/\1 TXT /' >> "$w/zone"
cat >> "$w/zone" <<'EOF'
orig.test TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.orig.test TXT "v=DMARC1; p=reject"
EOF
printf 'From: Alice <alice@orig.test>\nTo: list@fwd.test\nSubject: hi\nMessage-ID: <a1@orig.test>\n\nbody\n' > "$w/m.eml"
seal() { # KEY-DOMAIN AUTHRES IN OUT
    "$domauth_bin" arc seal --zone "$w/zone" --key "$w/$1.pem" --selector arc --domain "$1.test" \
        --authres "$2" "$3" > "$4"
}
seal fwd 'mx.fwd.test; spf=pass smtp.mailfrom=alice@orig.test; dmarc=pass header.from=orig.test' \
    "$w/m.eml" "$w/good.eml"
seal other 'mx.other.test; spf=pass smtp.mailfrom=alice@orig.test' "$w/m.eml" "$w/other.eml"
seal fwd 'mx.fwd.test; spf=fail smtp.mailfrom=alice@orig.test' "$w/m.eml" "$w/recfail.eml"
sed 's/^body$/body, with a footer the list added after sealing/' "$w/good.eml" > "$w/broken.eml"

conf() { # TRUSTED-SEALERS
    printf '[policy]\nmonitor = no\n[spf]\nfail_action = reject\n[dmarc]\ncheck = yes\n[arc]\ncheck = yes\ntrusted_sealers = %s\n' "$1" > "$w/c.conf"
}
v() { "$domauth_bin" verify --config "$w/c.conf" --zone "$w/zone" --ip 198.51.100.50 \
    --mail-from alice@orig.test "$@" 2>&1; }

conf fwd.test
out=$(v "$w/m.eml"); rc=$?
report "$(t '[ $rc = 1 ] && grep -q "^verdict: reject" <<< "$out" && grep -q "^arc  *none" <<< "$out"')" \
    "not sealed: the forwarded message's SPF fail rejects; arc=none" "exit $rc: $out"
out=$(v "$w/good.eml"); rc=$?
report "$(t '[ $rc = 0 ] && grep -q "^verdict: accept" <<< "$out"')" \
    "sealed by a trusted sealer that recorded spf=pass: accepted" "exit $rc: $out"
report "$(t 'grep -q "spf=fail: not acted on: ARC set i=1 sealed by fwd.test (trusted_sealers) recorded spf=pass" <<< "$out"')" \
    "the reasons say who vouched, and for what" "$out"
report "$(t 'grep -q "^Authentication-Results: .*spf=fail .*dmarc=fail .*arc=pass (sealed by i=1 fwd.test) header.oldest-pass=1 smtp.remote-ip=198.51.100.50" <<< "$out"')" \
    "the Authentication-Results keep spf=fail and dmarc=fail as found, with arc=pass" "$out"

conf '*.fwd.test, other.test'
out=$(v "$w/good.eml"); rc=$?
report "$(t '[ $rc = 1 ]')" "fwd.test not in trusted_sealers (only its subdomains): rejected" "exit $rc: $out"
out=$(v "$w/other.eml"); rc=$?
report "$(t '[ $rc = 0 ] && grep -q "sealed by other.test" <<< "$out"')" \
    "another trusted sealer vouches the same way" "exit $rc: $out"

conf fwd.test
out=$(v "$w/other.eml"); rc=$?
report "$(t '[ $rc = 1 ] && grep -q "^arc  *pass" <<< "$out"')" \
    "a valid chain from an untrusted sealer: arc pass, still rejected" "exit $rc: $out"
out=$(v "$w/recfail.eml"); rc=$?
report "$(t '[ $rc = 1 ]')" "the trusted sealer recorded spf=fail: rejected" "exit $rc: $out"
out=$(v "$w/broken.eml"); rc=$?
report "$(t '[ $rc = 1 ] && grep -q "^arc  *fail .*body hash" <<< "$out"')" \
    "the body changed after sealing: arc=fail, rejected" "exit $rc: $out"

printf '[policy]\nmonitor = no\n[spf]\nfail_action = reject\n' > "$w/c.conf"
out=$(v "$w/good.eml"); rc=$?
report "$(t '[ $rc = 1 ] && ! grep -q "^arc " <<< "$out"')" \
    "[arc] check off (the default): no arc= and no vouching" "exit $rc: $out"
printf '[arc]\ntrusted_sealers = .fwd.test\n' > "$w/bad.conf"
out=$("$domauth_bin" verify --config "$w/bad.conf" --zone "$w/zone" --ip 198.51.100.50 \
    --mail-from alice@orig.test "$w/good.eml" 2>&1); rc=$?
report "$(t '[ $rc != 0 ] && grep -q "bad.conf:2: trusted_sealers" <<< "$out"')" \
    "a bad trusted_sealers entry is an error naming the file and line" "exit $rc: $out"

tap_done
