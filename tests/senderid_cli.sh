#!/bin/bash
# senderid_cli.sh: `domauth senderid check` and `domauth spf check --scope`
# as scripts see them, over a zone file: the first line (the result), the
# PRA line and which field it came from, the exit status of each result
# (domauth(1)), the permerror of a message with no PRA, --json, usage
# errors. The engines are tested in unit/spf/senderid.c and unit/msg/pra.c.
# Environment: DOMAUTH_BIN.
set -u
bin=${DOMAUTH_BIN:?DOMAUTH_BIN is not set}
work=$(mktemp -d "${TMPDIR:-/tmp}/domauth-senderid-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat > "$work/zone" <<'ZONE'
example.com TXT "v=spf1 ip4:192.0.2.1 -all"
example.com TXT "spf2.0/pra ip4:192.0.2.2 -all"
v1.example TXT "v=spf1 ip4:192.0.2.3 ~all"
mfrom.example TXT "v=spf1 ip4:192.0.2.4 -all"
mfrom.example TXT "spf2.0/mfrom ip4:192.0.2.5 -all"
two.example TXT "spf2.0/pra -all"
two.example TXT "spf2.0/pra,mfrom +all"
neutral.example TXT "spf2.0/pra ?all"
ZONE

n=0
failed=0
# check WANT-STATUS WANT-FIRST-LINE WANT-TEXT-PART DESCRIPTION -- ARGS...
# (WANT-TEXT-PART is looked for in stdout and stderr together; "" for none;
# a WANT-FIRST-LINE of '*' is not compared.)
check() {
    local want_rc=$1 want_out=$2 want_part=$3 what=$4
    shift 5
    local out rc
    out=$("$bin" "$@" 2>"$work/err")
    rc=$?
    printf '%s\n' "$out" > "$work/out"
    n=$((n + 1))
    if [ "$rc" = "$want_rc" ] && { [ "$want_out" = '*' ] || [ "${out%%$'\n'*}" = "$want_out" ]; } &&
        { [ -z "$want_part" ] || cat "$work/out" "$work/err" | grep -qF -- "$want_part"; }; then
        echo "ok $n - $what"
    else
        failed=$((failed + 1))
        echo "not ok $n - $what"
        echo "#   exit $rc (want $want_rc), first line '${out%%$'\n'*}' (want '$want_out')"
        sed 's/^/#   stdout: /' "$work/out"
        sed 's/^/#   stderr: /' "$work/err"
    fi
}

z=(--zone "$work/zone")
sid=(senderid check "${z[@]}")
check 0 pass "header.from=a@example.com" "pra pass over spf2.0/pra, exit 0" -- \
    "${sid[@]}" --ip 192.0.2.2 --pra a@example.com
check 1 fail "" "pra fail: the v=spf1 beside spf2.0/pra is not used, exit 1" -- \
    "${sid[@]}" --ip 192.0.2.1 --pra a@example.com
check 2 softfail "" "pra over v=spf1 alone (no spf2.0 record), softfail exit 2" -- \
    "${sid[@]}" --ip 192.0.2.9 --pra a@v1.example
check 3 neutral "" "neutral, exit 3" -- "${sid[@]}" --ip 192.0.2.9 --pra a@neutral.example
check 4 none "" "pra: spf2.0/mfrom beside v=spf1 leaves none, exit 4" -- \
    "${sid[@]}" --ip 192.0.2.4 --pra a@mfrom.example
check 5 permerror "more than one record for scope pra" "two pra records: permerror, exit 5" -- \
    "${sid[@]}" --ip 192.0.2.4 --pra a@two.example
check 1 fail "does not exist" "a PRA domain that does not exist fails" -- \
    "${sid[@]}" --ip 192.0.2.4 --pra a@nowhere.example
check 0 pass "smtp.mailfrom=b@mfrom.example" "--scope mfrom over spf2.0/mfrom" -- \
    "${sid[@]}" --scope mfrom --ip 192.0.2.5 --mail-from b@mfrom.example
check 4 none "" "--scope mfrom: spf2.0/pra beside v=spf1 leaves none" -- \
    "${sid[@]}" --scope mfrom --ip 192.0.2.1 --mail-from b@example.com

# --message: the PRA is selected from the header fields.
printf 'Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\nFrom: Alice <alice@example.com>\nSubject: hi\n\nbody From: no@where.example\n' > "$work/from.eml"
check 0 pass "pra: alice@example.com (the one From field (RFC 4407 step 4))" \
    "--message: the From field, and says so" -- \
    "${sid[@]}" --ip 192.0.2.2 --message "$work/from.eml"
printf 'Resent-From: list@v1.example\r\nFrom: Alice <alice@example.com>\r\n\r\n' > "$work/resent.eml"
check 2 softfail "header.resent-from=list@v1.example" "--message: Resent-From wins, CRLF message" -- \
    "${sid[@]}" --ip 192.0.2.2 --message "$work/resent.eml"
printf 'From: a@example.com\nFrom: b@example.com\n\n' > "$work/two.eml"
check 5 permerror "pra: none: more than one From field (RFC 4407 step 4)" \
    "--message with two From fields: no PRA, permerror naming the rule" -- \
    "${sid[@]}" --ip 192.0.2.2 --message "$work/two.eml"
check 5 '{"result":"permerror","scope":"pra","pra":null,"pra_field":null,"pra_outcome":"several-from","problem":"more than one From field (RFC 4407 step 4)"}' "" \
    "--json for a message with no PRA" -- "${sid[@]}" --ip 192.0.2.2 --message "$work/two.eml" --json
check 0 '*' '{"result":"pass","scope":"pra","identity":"pra","sender":"alice@example.com","domain":"example.com","pra":"alice@example.com","pra_field":"from","pra_step":4,' "--json names the field and the step" -- \
    "${sid[@]}" --ip 192.0.2.2 --message "$work/from.eml" --json
n=$((n + 1))
out=$("$bin" "${sid[@]}" --ip 192.0.2.2 --message - < "$work/from.eml")
if [ "$?" = 0 ] && [ "${out%%$'\n'*}" = pass ]; then
    echo "ok $n - --message - reads standard input"
else
    failed=$((failed + 1))
    echo "not ok $n - --message - reads standard input"
fi
printf ' folded first\nFrom: a@example.com\n\n' > "$work/bad.eml"
check 65 "" "a continuation line with no field before it" "a header block that does not parse: 65" -- \
    "${sid[@]}" --ip 192.0.2.2 --message "$work/bad.eml"
check 66 "" "cannot read" "a message that cannot be read: 66" -- \
    "${sid[@]}" --ip 192.0.2.2 --message "$work/missing.eml"

# Usage.
check 64 "" "one of --pra ADDR and --message FILE" "no identity: 64" -- "${sid[@]}" --ip 192.0.2.2
check 64 "" "one of --pra ADDR and --message FILE" "both --pra and --message: 64" -- \
    "${sid[@]}" --ip 192.0.2.2 --pra a@example.com --message "$work/from.eml"
check 64 "" "not pra or mfrom" "--scope helo: 64" -- "${sid[@]}" --ip 192.0.2.2 --scope helo --pra a@b.example
check 64 "" "--ip is required" "no --ip: 64" -- "${sid[@]}" --pra a@example.com
check 0 "usage: domauth senderid check --ip IP (--pra ADDR | --message FILE) [options]" "Exit status" \
    "--help, with the exit statuses" -- senderid check --help

# spf check --scope.
check 1 fail "identity=pra" "spf check --scope pra" -- \
    spf check "${z[@]}" --ip 192.0.2.1 --scope pra --pra a@example.com
check 0 pass "sender-id=pass" "spf check --scope pra: the sender-id clause" -- \
    spf check "${z[@]}" --ip 192.0.2.2 --scope pra --pra a@example.com
check 0 pass "spf=pass" "spf check without --scope is SPF: v=spf1, spf2.0 ignored" -- \
    spf check "${z[@]}" --ip 192.0.2.1 --mail-from a@example.com
check 0 pass "spf=pass" "spf check --scope spf is the same" -- \
    spf check "${z[@]}" --ip 192.0.2.1 --mail-from a@example.com --scope spf
check 64 "" "--scope pra needs --pra" "spf check --scope pra without --pra: 64" -- \
    spf check "${z[@]}" --ip 192.0.2.1 --scope pra --mail-from a@example.com
check 64 "" "--pra is for --scope pra" "spf check --pra without --scope pra: 64" -- \
    spf check "${z[@]}" --ip 192.0.2.1 --pra a@example.com --mail-from a@example.com

echo "1..$n"
[ "$failed" -eq 0 ]
