#!/bin/bash
# spf_record_cli.sh: `domauth spf lint` and `domauth spf wizard` through the
# built binary, offline over zone files written here (the source document's
# pocketstudio.jp among them): findings, --json, and the exit statuses
# (lint: 0 clean, 1 warnings, 2 errors; the syntax-only form 0/65), and
# the interactive wizard on a pseudo-terminal (pty_answers.py). TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
[ -x "$domauth_bin" ] || { echo "Bail out! no domauth at $domauth_bin"; exit 1; }

workdir=$(mktemp -d /tmp/domauth-spf-record.XXXXXX)
trap 'rm -rf "$workdir"' EXIT

count=0
failed=0
report() { # ok? description [diagnostics]
    count=$((count + 1))
    if [ "$1" = 1 ]; then
        echo "ok $count - $2"
    else
        failed=$((failed + 1))
        echo "not ok $count - $2"
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
    fi
}
# run: sets $out and $rc from the binary's stdout (stderr appended).
run() { out=$("$domauth_bin" "$@" 2>&1 </dev/null); rc=$?; }
expect_rc() { # want description
    [ "$rc" = "$1" ]; report $((1 - $?)) "$2 (exit $1)" "exit $rc; output:
$out"
}
expect_out() { # regex description
    printf '%s\n' "$out" | grep -Eq -- "$1"; report $((1 - $?)) "$2" "no line matching $1 in:
$out"
}

doc_record='v=spf1 a mx ptr ip4:210.239.46.254 mx:sv.pocketstudio.jp ip4:210.128.158.225 a:pockets.to a:cyberteam.jp mx:pocketstudio.jp -all'
cat > "$workdir/doc.zone" <<ZONE
# The source document's zone (pocketstudio.jp, 2005), in domauth's format.
pocketstudio.jp TXT "$doc_record"
pocketstudio.jp MX 10 sv.pocketstudio.jp
pocketstudio.jp A 210.239.46.254
sv.pocketstudio.jp A 210.239.46.254
sv.pocketstudio.jp MX 10 sv.pocketstudio.jp
nsx.pocketstudio.jp A 210.128.158.225
nsx.pocketstudio.jp MX 10 nsx.pocketstudio.jp
pockets.to A 210.239.46.254
cyberteam.jp A 203.0.113.80
ZONE

cat > "$workdir/bad.zone" <<'ZONE'
bad.example TXT "v=spf1 include:loop.example include:gone.example +all"
loop.example TXT "v=spf1 redirect=bad.example"
clean.example TXT "v=spf1 ip4:192.0.2.0/24 include:esp.example -all"
esp.example TXT "v=spf1 ip4:198.51.100.0/24 ~all"
two.example TXT "v=spf1 -all"
two.example TXT "v=spf1 ~all"
ZONE

# The old form: a record, syntax only.
run spf lint 'v=spf1 mx include:_spf.example.net -all'
expect_rc 0 "a record alone is checked for syntax"
expect_out '^ok$' "and prints ok"
run spf lint 'v=spf1 mx bogus -all'
expect_rc 65 "a record with a bad term"
expect_out '^permerror: term 2 \(bogus\)' "names the term"

# The document's record, published.
run spf lint pocketstudio.jp --zone "$workdir/doc.zone"
expect_rc 1 "the document's record has warnings only"
expect_out '^warning pocketstudio\.jp term 3 \(ptr\): ptr is deprecated' "ptr is deprecated"
expect_out '^note pocketstudio\.jp term 5 \(mx:sv\.pocketstudio\.jp\): .*MX hosts .*term 2.*\[redundant\]' \
    "mx:sv.pocketstudio.jp repeats the domain's own MX"
expect_out '^warning pocketstudio\.jp term 9 \(mx:pocketstudio\.jp\): .*the same as term 2 \(mx\)' \
    "mx:pocketstudio.jp is mx"
expect_out '7 of 10 DNS lookups' "the lookup count"

# The same record, unpublished.
run spf lint pocketstudio.jp --record "$doc_record" --zone "$workdir/doc.zone"
expect_rc 1 "--record for the domain"
expect_out 'term 3 \(ptr\)' "finds ptr too"
run spf lint --record 'v=spf1 ip4:192.0.2.1 -all' --zone "$workdir/doc.zone"
expect_rc 0 "--record without a domain, clean"

run spf lint --json pocketstudio.jp --zone "$workdir/doc.zone"
expect_rc 1 "--json keeps the exit status"
printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["warnings"]==2 and d["lookups"]==7 and any(f["code"]=="ptr" and f["term"]==3 for f in d["findings"])' 2>/dev/null
report $((1 - $?)) "--json is JSON with the findings" "$out"

run spf lint clean.example --zone "$workdir/bad.zone"
expect_rc 0 "a clean tree"
run spf lint bad.example --zone "$workdir/bad.zone"
expect_rc 2 "a tree with errors"
expect_out '^error loop\.example term 1: redirect:bad\.example leads back' "the loop"
expect_out '^error bad\.example term 2 \(include:gone\.example\): include:gone\.example: gone\.example publishes no SPF record' \
    "the include without a record"
expect_out '^error bad\.example term 3 \(\+all\)' "+all"
run spf lint two.example --zone "$workdir/bad.zone"
expect_rc 2 "two records"
expect_out 'many-records' "are reported"
run spf lint nothing.example --zone "$workdir/bad.zone"
expect_rc 2 "no record"
run spf lint --zone "$workdir/missing.zone" bad.example
expect_rc 66 "a zone file that cannot be read"
run spf lint
expect_rc 64 "no argument"

# A record with an escape sequence in it reaches the terminal escaped.
printf '%s\n' 'evil.example TXT "v=spf1 \027]0;title\007\027[2J -all"' > "$workdir/evil.zone"
run spf lint evil.example --zone "$workdir/evil.zone"
expect_rc 2 "a record with control characters is an error"
expect_out '^evil.example: v=spf1 \\x1b\]0;title\\x07\\x1b\[2J -all$' "it is printed with \\xHH escapes"
printf '%s' "$out" | LC_ALL=C grep -q "$(printf '\033')"
report $? "no ESC byte reaches the terminal" "$out"
run spf wizard evil.example --zone "$workdir/evil.zone" --a
printf '%s' "$out" | LC_ALL=C grep -q "$(printf '\033')"
report $? "nor through the wizard's current DNS" "$out"

# The wizard: the document's answers over its own zone.
run spf wizard pocketstudio.jp --zone "$workdir/doc.zone" --mx --a --ptr \
    --ip4 210.239.46.254 --ip4 210.128.158.225 --host pockets.to --host cyberteam.jp --all fail
expect_rc 1 "the wizard's record with ptr has a warning"
expect_out '^  SPF   v=spf1 a mx ptr ip4:210\.239\.46\.254 mx:sv' "shows the current SPF"
expect_out '^  MX    10 sv\.pocketstudio\.jp$' "shows the MX"
expect_out '^  A     210\.239\.46\.254$' "shows the A record"
expect_out '^  v=spf1 a mx ip4:210\.239\.46\.254 ip4:210\.128\.158\.225 a:pockets\.to a:cyberteam\.jp ptr -all$' \
    "builds the record"
expect_out '^  pocketstudio\.jp\.	IN	TXT	"v=spf1 a mx ' "prints the BIND line"
expect_out '^warning pocketstudio\.jp term 7 \(ptr\)' "and checks it"

run spf wizard pocketstudio.jp --zone "$workdir/doc.zone" --mx --a --all fail
expect_rc 0 "mx and a only: clean"
expect_out '^  v=spf1 a mx -all$' "the record"

run spf wizard nomail.pocketstudio.jp --zone "$workdir/doc.zone" --no-mail
expect_rc 0 "a domain that sends no mail"
expect_out '^  v=spf1 -all$' "gets v=spf1 -all"
expect_out '^advice: SPF is not inherited' "and the advice for its subdomains"

run spf wizard pocketstudio.jp --zone "$workdir/doc.zone"
expect_out 'proposing --mx --a' "without answers it proposes what DNS shows"
expect_out '^  v=spf1 a mx ~all$' "softfail by default"

nets=()
for i in $(seq 0 40); do nets+=(--ip4 "198.51.$i.0/24"); done
run spf wizard pocketstudio.jp --zone "$workdir/doc.zone" "${nets[@]}"
expect_out '^warning: the answer would be [0-9]+ bytes, over 512' "a long record warns about 512 bytes"
expect_out '	TXT	"v=spf1 ip4:[^"]*" "[^"]*" "' "and is split into 255-byte strings"
expect_out 'record-size' "the check says so too"

run spf wizard pocketstudio.jp --zone "$workdir/doc.zone" --ip4 192.0.2.0/33
expect_rc 64 "a bad network is refused"
run spf wizard pocketstudio.jp --zone "$workdir/doc.zone" --all pass
expect_rc 64 "--all pass is refused"
run spf wizard
expect_rc 64 "no domain"

# Interactive, on a pseudo-terminal: the document's questions.
pty_run() { # answers args...
    local answers=$1; shift
    out=$(python3 "$here/pty_answers.py" "$answers" "$domauth_bin" "$@" 2>&1); rc=$?
}
pty_run 'y|y|y|210.239.46.254 2001:db8::25|pockets.to|y|spf.esp.example|fail' \
    spf wizard pocketstudio.jp --zone "$workdir/doc.zone"
expect_out '^Is pocketstudio\.jp used to send mail\? \[Y/n\]' "asks whether the domain sends mail"
expect_out 'inbound mail servers .*\[Y/n\]' "asks about the MX hosts (yes by default: it has MX)"
expect_out 'reverse DNS .*discouraged.*\[y/N\]' "asks about ptr, no by default"
expect_out '^  v=spf1 a mx ip4:210\.239\.46\.254 ip6:2001:db8::25 a:pockets\.to include:spf\.esp\.example ptr -all$' \
    "builds the record from the typed answers"
expect_out '^warning pocketstudio\.jp term 7 \(ptr\)' "and checks it"
expect_out '^error pocketstudio\.jp term 6 \(include:spf\.esp\.example\)' \
    "including a domain without a record is an error"
expect_rc 2 "the interactive wizard exits with the check's status"

pty_run 'n' spf wizard nomail.example --zone "$workdir/doc.zone"
expect_out '^  v=spf1 -all$' "answering no mail gives v=spf1 -all"
expect_rc 0 "and is clean"

pty_run 'y|||||||' spf wizard pocketstudio.jp --zone "$workdir/doc.zone"
expect_out '^  v=spf1 a mx ~all$' "Enter everywhere takes the defaults from DNS"

echo "1..$count"
[ "$failed" = 0 ]
