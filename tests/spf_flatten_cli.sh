#!/bin/bash
# spf_flatten_cli.sh: `domauth spf flatten` through the built binary,
# offline over zone files written here: the flat record and its zone
# lines, a chain with --prefix, the exit status of each outcome (0 ok,
# 1 refused, 2 temperror, 3 permerror, 64 usage, 65 a bad state file),
# --json, and --state across runs (the diff, a corrupt file named with
# its line, a state of another domain). TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
[ -x "$domauth_bin" ] || { echo "Bail out! no domauth at $domauth_bin"; exit 1; }

workdir=$(mktemp -d /tmp/domauth-spf-flatten.XXXXXX)
trap 'rm -rf "$workdir"' EXIT

. "$here/lib/tap.sh"
run() { out=$("$domauth_bin" "$@" 2>&1 </dev/null); rc=$?; }
expect_rc() { # want description
    [ "$rc" = "$1" ]; report $((1 - $?)) "$2 (exit $1)" "exit $rc; output:
$out"
}
expect_out() { # regex description
    printf '%s\n' "$out" | grep -Eq -- "$1"; report $((1 - $?)) "$2" "no line matching $1 in:
$out"
}

cat > "$workdir/w.zone" <<'ZONE'
example.com TXT "v=spf1 mx include:esp.example ip4:192.0.2.0/25 ip4:192.0.2.128/25 -all"
example.com MX 10 mx.example.com
mx.example.com A 198.51.100.10
mx.example.com AAAA 2001:db8::25
esp.example TXT "v=spf1 ip4:203.0.113.0/24 ip6:2001:db8:1::/48 ~all"
ptr.example TXT "v=spf1 ip4:192.0.2.0/24 include:bad.example -all"
bad.example TXT "v=spf1 ptr:mail.bad.example -all"
macro.example TXT "v=spf1 exists:%{i}.list.macro.example -all"
slow.example TXT "v=spf1 include:gone.example -all"
gone.example TIMEOUT
broken.example TXT "v=spf1 include:nothing.example -all"
ZONE

run spf flatten example.com --zone "$workdir/w.zone"
expect_rc 0 "a tree of mx, include and ip4 flattens"
expect_out '^    v=spf1 ip4:192\.0\.2\.0/24 ip4:198\.51\.100\.10/32 ip4:203\.0\.113\.0/24 ip6:2001:db8::25/128 ip6:2001:db8:1::/48 -all$' \
    "the flat record: halves merged, MX host addresses, the include's networks, -all kept"
expect_out '^  example\.com\.	IN	TXT	"v=spf1 ip4:192\.0\.2\.0/24 ' "the BIND zone line"
expect_out '^minimum TTL: 3600 s: the result goes stale at [0-9-]+T[0-9:]+Z' "the TTL and when it goes stale"
expect_out '^published tree: 2 DNS lookups along the worst path: example\.com\(2\) > include:esp\.example\(0\)$' "the tree's lookup count and path"

run spf flatten ptr.example --zone "$workdir/w.zone"
expect_rc 1 "ptr is refused"
expect_out '^refused: ptr\.example > include:bad\.example term 1 \(ptr:mail\.bad\.example\): .*\[ptr\]' \
    "with the term's place in the tree"
run spf flatten macro.example --zone "$workdir/w.zone"
expect_rc 1 "exists with %{i} is refused"
expect_out 'macro\.example term 1 \(exists:%\{i\}\.list\.macro\.example\).*\[macro\]' "naming the macro term"
run spf flatten slow.example --zone "$workdir/w.zone"
expect_rc 2 "an include that times out is a DNS error"
expect_out '^temperror: slow\.example > include:gone\.example: the TXT lookup for gone\.example failed \(TIMEOUT\)' \
    "which names the lookup"
run spf flatten broken.example --zone "$workdir/w.zone"
expect_rc 3 "an include without a record is a broken tree"
expect_out '^permerror: .*nothing\.example publishes no SPF record' "which says so"

run spf flatten example.com --zone "$workdir/w.zone" --json
expect_rc 0 "--json"
printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "ok" and d["exit"] == 0, d
assert d["default"] == "-all" and d["lookups"] == 0 and d["pass_ip4"] == 3 and d["pass_ip6"] == 2, d
assert d["records"][0]["name"] == "example.com" and d["records"][0]["zone_line"].startswith("example.com.\t"), d
assert d["min_ttl"] == 3600 and d["diff"] is None, d
' 2>"$workdir/err"
report $((1 - $?)) "--json has the status, the records and their zone lines" "$(cat "$workdir/err")"
run spf flatten ptr.example --zone "$workdir/w.zone" --json
printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "refused" and d["exit"] == 1, d
assert d["problems"][0]["code"] == "ptr" and "include:bad.example" in d["problems"][0]["where"], d
' 2>"$workdir/err"
report $((1 - $?)) "--json of a refusal names the problem and its place" "$(cat "$workdir/err")"

# A chain: 120 networks that do not merge, parts named with --prefix.
{
    printf 'big.example TXT "v=spf1 include:many.example -all"\n'
    printf 'many.example TXT "v=spf1'
    n=0
    for i in $(seq 0 2 238); do
        printf ' ip4:10.1.%d.%d' $((i / 200)) $((i % 200))
        n=$((n + 1))
        [ $((n % 15)) = 0 ] && printf '" "'
    done
    printf ' ~all"\n'
} > "$workdir/big.zone"
run spf flatten big.example --zone "$workdir/big.zone" --prefix _flat
expect_rc 0 "120 networks flatten"
expect_out '^records: [3-9] \([2-8] DNS lookups for receivers\)' "into a chain"
expect_out '^    v=spf1 ip4:10\.1\.0\.0/32 .* include:_flat1\.big\.example include:_flat2\.big\.example.* -all$' \
    "the head includes the parts named with --prefix"
expect_out '^  _flat1\.big\.example \(4[0-9][0-9] bytes, answer about [0-5][0-9][0-9] bytes\)' "parts within 450 bytes"
expect_out '^  _flat1\.big\.example\.	IN	TXT	"v=spf1 [^"]*" "[^"]*"$' "a part's zone line in two strings of at most 255 bytes"
run spf flatten big.example --zone "$workdir/big.zone" --prefix 'bad prefix'
expect_rc 64 "a bad --prefix is a usage error"

# --state across runs.
state=$workdir/state
run spf flatten example.com --zone "$workdir/w.zone" --state "$state"
expect_rc 0 "first run with --state"
expect_out '^changes: none known \(no previous state\)' "knows no earlier run"
expect_out "^state: saved to $state" "and saves the state"
head -n 1 "$state" | grep -qx 'domauth-spf-flatten 1'
report $((1 - $?)) "the state file starts with its magic line"
run spf flatten example.com --zone "$workdir/w.zone" --state "$state"
expect_out '^changes since .*: none$' "an unchanged tree: no changes"
sed -i 's|ip6:2001:db8:1::/48|ip6:2001:db8:1::/48 ip4:198.51.100.128/25|; s|ip4:203.0.113.0/24 ||' "$workdir/w.zone"
run spf flatten example.com --zone "$workdir/w.zone" --state "$state"
expect_rc 0 "a changed tree"
expect_out '^changes since .*: 1 added, 1 removed$' "counts what changed"
expect_out '^  added   ip4:198\.51\.100\.128/25$' "names the network added"
expect_out '^  removed ip4:203\.0\.113\.0/24$' "and the one removed"
run spf flatten example.com --zone "$workdir/w.zone" --state "$state" --json
printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["diff"]["added"] == [] and d["diff"]["removed"] == [] and d["state_saved"], d
' 2>"$workdir/err"
report $((1 - $?)) "--json carries the diff" "$(cat "$workdir/err")"
cp "$state" "$workdir/good-state"
sed -i '7s|.*|term ip4:198.51.100.129/25|' "$state"
cp "$state" "$workdir/corrupt-state"
run spf flatten example.com --zone "$workdir/w.zone" --state "$state"
expect_rc 65 "a corrupt state file"
expect_out "^domauth: $state: line 7: not a flat term" "is named with its line"
cmp -s "$state" "$workdir/corrupt-state"
report $((1 - $?)) "and is left as it was"
cp "$workdir/good-state" "$state"
run spf flatten big.example --zone "$workdir/big.zone" --state "$state"
expect_rc 65 "a state of another domain"
expect_out 'the state of example\.com, not of big\.example' "says whose it is"
run spf flatten ptr.example --zone "$workdir/w.zone" --state "$workdir/new-state"
expect_rc 1 "a refusal with --state"
[ ! -e "$workdir/new-state" ]
report $((1 - $?)) "saves no state"

run spf flatten
expect_rc 64 "no domain is a usage error"
run spf flatten --help
expect_rc 0 "--help"
expect_out '^Exit status: 0 flattened; 1 refused' "documents the exit statuses"

tap_done
