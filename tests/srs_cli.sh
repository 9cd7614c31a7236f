#!/bin/bash
# srs_cli.sh: `domauth srs` as scripts see it: the addresses printed, the
# exit status of each outcome (domauth(1), SRS) and the reason on stderr.
# The engine itself is tested in unit/srs/srs.c. Environment: DOMAUTH_BIN.
set -u
bin=${DOMAUTH_BIN:?DOMAUTH_BIN is not set}
work=$(mktemp -d "${TMPDIR:-/tmp}/domauth-srs-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf 'sekrit\n' > "$work/secret"
: > "$work/empty"
now=1796126461

n=0
failed=0
check() { # WANT-STATUS WANT-STDOUT(first line) WANT-STDERR-PART DESCRIPTION -- ARGS...
    local want_rc=$1 want_out=$2 want_err=$3 what=$4
    shift 5
    local out rc
    out=$("$bin" srs "$@" 2>"$work/err")
    rc=$?
    out=${out%%$'\n'*}
    n=$((n + 1))
    if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ] &&
        { [ -z "$want_err" ] || grep -qF -- "$want_err" "$work/err"; }; then
        echo "ok $n - $what"
    else
        failed=$((failed + 1))
        echo "not ok $n - $what"
        echo "#   exit $rc (want $want_rc), stdout '$out' (want '$want_out')"
        sed 's/^/#   stderr: /' "$work/err"
    fi
}

s=(--secrets "$work/secret" --time "$now")
srs0=SRS0=uoTY=JU=Example.COM=Alice.Smith@fwd.example.net
check 0 "$srs0" "" "forward" -- forward "${s[@]}" --srs-domain fwd.example.net Alice.Smith@Example.COM
check 0 "Alice.Smith@Example.COM" "" "reverse" -- reverse "${s[@]}" "$srs0"
check 0 "SRS1=MKVS=fwd.example.net==uoTY=JU=Example.COM=Alice.Smith@second.example.org" "" \
    "forward an SRS0 address: SRS1" -- forward "${s[@]}" --srs-domain second.example.org "$srs0"
check 0 "SRS0+rkmb=JU=example.com=bob@fwd.example.net" "" "--separator +" -- \
    forward "${s[@]}" --srs-domain fwd.example.net --separator + bob@example.com
check 0 "bob@fwd.example.net" "" "an address under the SRS domain is printed unchanged" -- \
    forward "${s[@]}" --srs-domain fwd.example.net bob@fwd.example.net
check 1 "" "not an SRS address" "reverse of a plain address: 1, says so" -- \
    reverse "${s[@]}" bob@example.com
check 1 "" "bad hash" "a wrong hash: 1, says so" -- \
    reverse "${s[@]}" SRS0=AAAA=JU=Example.COM=Alice.Smith@fwd.example.net
check 1 "" "expired" "22 days later: 1, expired" -- \
    reverse --secrets "$work/secret" --time $((now + 22 * 86400)) "$srs0"
check 0 "Alice.Smith@Example.COM" "" "--max-age 30 keeps it valid" -- \
    reverse --secrets "$work/secret" --time $((now + 22 * 86400)) --max-age 30 "$srs0"
check 66 "" "cannot read" "a missing secrets file: 66" -- \
    reverse --secrets "$work/missing" "$srs0"
check 66 "" "holds no secret" "an empty secrets file: 66" -- \
    reverse --secrets "$work/empty" "$srs0"
check 64 "" "needs --srs-domain" "forward without --srs-domain: 64" -- \
    forward "${s[@]}" bob@example.com
check 64 "" "--separator" "a bad separator: 64" -- \
    forward "${s[@]}" --srs-domain f.example --separator / bob@example.com
check 64 "" "exactly one ADDRESS" "no address: 64" -- reverse "${s[@]}"
check 64 "" "unknown command" "an unknown verb: 64" -- sideways x@y
check 65 "" "not an address" "forward of an address without @: 65" -- \
    forward "${s[@]}" --srs-domain f.example nobody
long=$(printf 'l%.0s' $(seq 1100))@example.com
check 65 "" "too long" "an over-long address: 65" -- forward "${s[@]}" --srs-domain f.example "$long"
check 0 "usage: domauth srs forward|reverse [options] ADDRESS" "" "--help" -- --help
echo "1..$n"
[ "$failed" -eq 0 ]
