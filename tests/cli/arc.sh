#!/bin/bash
# arc.sh: `domauth arc verify | seal` as scripts see them, offline over a
# zone file: output, the documented exit codes, line ends kept, the
# --fields-only and --cv forms, the sealer's refusals. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
[ -x "$domauth_bin" ] || { echo "Bail out! no domauth at $domauth_bin"; exit 1; }
. "$here/../lib/tap.sh"
tap_workdir domauth-arc-cli
w=$workdir

"$domauth_bin" dkim keygen --domain example.com --selector ed --type ed25519 --out "$w/ed.pem" \
    2>/dev/null | sed -E 's/^([^\t]+)\.\tIN\tTXT\t/\1 TXT /' > "$w/keys.zone"
printf 'From: a@example.com\nTo: b@example.net\nSubject: s\n\nbody\n' > "$w/m.eml"
seal() { "$domauth_bin" arc seal --zone "$w/keys.zone" --key "$w/ed.pem" --selector ed \
    --domain example.com "$@"; }
verify() { "$domauth_bin" arc verify --zone "$w/keys.zone" "$@"; }

out=$(verify "$w/m.eml"); rc=$?
report "$(yes_if [ $rc = 4 ])" "no ARC fields: exit 4" "exit $rc: $out"
report "$(yes_if grep -q '^cv=none instances=0' <<<"$out")" "the first line says cv=none" "$out"

seal --authres 'mx.example.com; spf=pass' "$w/m.eml" > "$w/1.eml"; rc=$?
report "$(yes_if [ $rc = 0 ])" "seal: exit 0" "exit $rc"
report "$(yes_if [ "$(grep -c $'\r' "$w/1.eml")" = 0 ])" "an LF message stays LF" "$(od -c "$w/1.eml" | head -3)"
report "$(yes_if cmp -s <(tail -n 5 "$w/1.eml") "$w/m.eml")" "the message follows the set unchanged"
out=$(verify --remote-ip 192.0.2.1 --receiver mx.example.org "$w/1.eml"); rc=$?
report "$(yes_if [ $rc = 0 ])" "one set: exit 0" "exit $rc: $out"
report "$(yes_if grep -q '^Authentication-Results: mx.example.org; arc=pass (i=1; sealed by example.com) header.oldest-pass=1 smtp.remote-ip=192.0.2.1$' <<<"$out")" \
    "the Authentication-Results line" "$out"
report "$(yes_if grep -q '^  aar: mx.example.com; spf=pass$' <<<"$out")" "the set's AAR payload" "$out"
out=$(verify < "$w/1.eml"); rc=$?
report "$(yes_if [ $rc = 0 ])" "the message on stdin" "exit $rc"

seal --authres 'lists.example.com; arc=pass' --fields-only < "$w/1.eml" > "$w/f.txt"; rc=$?
report "$(if [ $rc = 0 ] && [ "$(grep -c '^ARC-' "$w/f.txt")" = 3 ] && ! grep -q '^From:' "$w/f.txt"; then echo 1; else echo 0; fi)" \
    "--fields-only prints the three fields alone" "$(cat "$w/f.txt")"
report "$(yes_if grep -q '^ARC-Seal: i=2; a=ed25519-sha256; cv=pass;' "$w/f.txt")" \
    "the second seal, validated here first, says cv=pass" "$(head -1 "$w/f.txt")"
cat "$w/f.txt" "$w/1.eml" > "$w/2.eml"
out=$(verify "$w/2.eml"); rc=$?
report "$(if [ $rc = 0 ] && grep -q '^cv=pass instances=2 oldest-pass=1' <<<"$out"; then echo 1; else echo 0; fi)" "two sets validate" "$out"

sed 's/^body$/changed/' "$w/2.eml" > "$w/t.eml"
out=$(verify "$w/t.eml"); rc=$?
report "$(if [ $rc = 1 ] && grep -q '^cv=fail .*ARC-Message-Signature i=2.*body hash' <<<"$out"; then echo 1; else echo 0; fi)" \
    "a changed body: exit 1, the newest AMS named" "exit $rc: $out"
seal --authres 'x.example.com; arc=fail' "$w/t.eml" > "$w/t2.eml"; rc=$?
report "$(if [ $rc = 0 ] && grep -q '^ARC-Seal: i=3; a=ed25519-sha256; cv=fail;' "$w/t2.eml"; then echo 1; else echo 0; fi)" \
    "sealing a failed chain: cv=fail" "$(head -1 "$w/t2.eml")"
out=$(seal --cv none --authres 'x; none' "$w/2.eml" 2>&1 >/dev/null); rc=$?
report "$(if [ $rc = 1 ] && grep -q 'cv must be pass or fail' <<<"$out"; then echo 1; else echo 0; fi)" \
    "--cv none on a message with sets: exit 1" "exit $rc: $out"
out=$(seal --authres $'x; none\nBcc: y@z' "$w/m.eml" 2>&1 >/dev/null); rc=$?
report "$(yes_if [ $rc = 64 ])" "an Authentication-Results text with a line break: exit 64" "exit $rc: $out"
out=$(seal "$w/m.eml" 2>&1); rc=$?
report "$(yes_if [ $rc = 64 ])" "seal without --authres: exit 64" "exit $rc: $out"
out=$(verify "$w/missing.eml" 2>&1); rc=$?
report "$(yes_if [ $rc = 66 ])" "a message that cannot be read: exit 66" "exit $rc: $out"
printf 'bad line\n' > "$w/bad.zone"
out=$("$domauth_bin" arc verify --zone "$w/bad.zone" "$w/1.eml" 2>&1); rc=$?
report "$(yes_if [ $rc = 65 ])" "a zone file that does not parse: exit 65" "exit $rc: $out"
out=$(printf 'ed._domainkey.example.com TXT "v=DKIM1; k=ed25519; p="\n' > "$w/revoked.zone";
      "$domauth_bin" arc verify --zone "$w/revoked.zone" "$w/1.eml" 2>&1); rc=$?
report "$(if [ $rc = 1 ] && grep -q 'revoked' <<<"$out"; then echo 1; else echo 0; fi)" "a revoked sealer key: exit 1" "exit $rc: $out"
out=$("$domauth_bin" arc bogus 2>&1); rc=$?
report "$(yes_if [ $rc = 64 ])" "an unknown arc verb: exit 64" "exit $rc"
tap_done
