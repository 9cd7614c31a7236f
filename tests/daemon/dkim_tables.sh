#!/bin/bash
# dkim_tables.sh: [dkim] key_table and signing_table, OpenDKIM's own files
# read directly (issue 17 item 5). The same messages go through domauthd's
# milter (milter_client.py, local submissions, so no DNS) once with native
# key lines and once with a KeyTable and a refile SigningTable naming the
# same keys: every DKIM-Signature must be the same (d=, s=, a=, c=, h=, bh=;
# b= too when t= is), and each verifies with domauth (--zone) and dkimpy.
# Then what -t says of tables it cannot take: the file and line each time.
# No root, no network. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
python=/usr/bin/python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
[ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }

. "$here/../lib/tap.sh"
daemon_pid=
tap_pids=daemon_pid
tap_workdir domauth-dkim-tables
has_dkimpy=no
"$python" -c 'import dkim, nacl' 2>/dev/null && has_dkimpy=yes

# ---- keys, their zone, the tables -------------------------------------
"$domauth_bin" dkim keygen --domain sign.test --selector s1 --out "$workdir/s1.private" \
    > "$workdir/s1.zone" 2>/dev/null
"$domauth_bin" dkim keygen --domain other.test --selector o1 --type ed25519 \
    --out "$workdir/o1.private" > "$workdir/o1.zone" 2>/dev/null
# keygen writes BIND lines; domauth's zone files are "name TYPE data".
sed -E 's/^([^\t]+)\.\tIN\tTXT\t/\1 TXT /' "$workdir/s1.zone" "$workdir/o1.zone" > "$workdir/keys.zone"
# As opendkim.conf(5) writes them, comments included.
cat > "$workdir/KeyTable" <<EOF
# name        domain:selector:key file
sign-key      sign.test:s1:$workdir/s1.private
other-key     %:o1:$workdir/o1.private   # d= the sender's domain
EOF
cat > "$workdir/SigningTable" <<EOF
# refile patterns
*@sign.test        sign-key
*@*.sign.test      sign-key
*@other.test       other-key
EOF

conf() { # NAME [dkim]-lines...
    local name=$1
    shift
    {
        cat <<CONF
[daemon]
milter = unix:$workdir/$name.sock
policy =
control =
database =
syslog = no
dns_servers = 127.0.0.1:9
[dkim]
CONF
        printf '%s\n' "$@"
    } > "$workdir/$name.conf"
}
conf native "key = sign.test s1 $workdir/s1.private" "key = other.test o1 $workdir/o1.private"
conf tables "key_table = file:$workdir/KeyTable" "signing_table = refile:$workdir/SigningTable"

out=$("$domauthd_bin" -t -c "$workdir/tables.conf" 2>&1)
report "$([ $? = 0 ] && printf '%s' "$out" | grep -q ': ok' && echo 1 || echo 0)" \
    "domauthd -t takes OpenDKIM's KeyTable and refile SigningTable" "$out"
report "$(printf '%s' "$out" | grep -q "SigningTable:3: \*@\*\.sign\.test: this key also signs sign.test itself" && echo 1 || echo 0)" \
    "-t warns, with the line, that the subdomain pattern's key signs the domain too" "$out"

printf 'From: Alice <alice@sign.test>\nTo: bob@elsewhere.example\nSubject: figures\nDate: Sun, 22 Nov 2026 10:00:00 +0000\nMessage-ID: <m1@sign.test>\n\nHello Bob,\nthe figures.\n' \
    > "$workdir/sign.txt"
sed 's/alice@sign.test/carol@other.test/; s/m1@sign/m2@other/' "$workdir/sign.txt" > "$workdir/other.txt"
sed 's/alice@sign.test/dan@mail.sign.test/; s/m1@sign/m3@mail.sign/' "$workdir/sign.txt" > "$workdir/sub.txt"
sed 's/alice@sign.test/eve@unlisted.test/; s/m1@sign/m4@unlisted/' "$workdir/sign.txt" > "$workdir/unlisted.txt"

run_daemon() { # NAME: starts it, sends every message, stops it
    local name=$1 msg
    "$domauthd_bin" -f -c "$workdir/$name.conf" > "$workdir/$name.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do grep -q started "$workdir/$name.log" && break; sleep 0.1; done
    for msg in sign other sub unlisted; do
        "$python" "$here/milter_client.py" "$(printf '{"port": "%s", "client_ip": "127.0.0.1", "helo": "localhost", "mail_from": "x@sign.test", "rcpt": "bob@elsewhere.example", "message": "%s", "output": "%s"}' \
            "$workdir/$name.sock" "$workdir/$msg.txt" "$workdir/$name-$msg.eml")" \
            > "$workdir/$name-$msg.json" 2> "$workdir/$name-$msg.err"
    done
    kill -TERM $daemon_pid
    wait $daemon_pid
    daemon_pid=
}
run_daemon native
run_daemon tables

# The DKIM-Signature's tags, unfolded, as "tag=value" lines.
tags() { # FILE: prints tags without t= and b= (those depend on the second)
    "$python" - "$1" "${2:-}" <<'PY'
import re, sys
raw = open(sys.argv[1], "rb").read().decode().replace("\r\n", "\n")
m = re.search(r"^DKIM-Signature:(.*(?:\n[ \t].*)*)", raw, re.M | re.I)
if not m:
    print("(no signature)")
    sys.exit()
value = re.sub(r"\s+", "", m.group(1))
tags = dict(t.split("=", 1) for t in value.split(";") if t)
keep = sys.argv[2] == "all"
for k in sorted(tags):
    if keep or k not in ("t", "b"):
        print("%s=%s" % (k, tags[k]))
PY
}
for msg in sign other sub; do
    a=$(tags "$workdir/native-$msg.eml")
    b=$(tags "$workdir/tables-$msg.eml")
    want_d=$([ $msg = other ] && echo other.test || echo sign.test)
    want_s=$([ $msg = other ] && echo o1 || echo s1)
    report "$([ "$a" = "$b" ] && printf '%s' "$a" | grep -qx "d=$want_d" && printf '%s' "$a" | grep -qx "s=$want_s" &&
              echo 1 || echo 0)" \
        "$msg: the tables sign as the key lines do (d=$want_d s=$want_s, same a= c= h= bh=)" \
        "native:
$a
tables:
$b
$(cat "$workdir/tables-$msg.err")"
    ta=$(tags "$workdir/native-$msg.eml" all | grep '^t=')
    tb=$(tags "$workdir/tables-$msg.eml" all | grep '^t=')
    if [ "$ta" = "$tb" ]; then
        report "$([ "$(tags "$workdir/native-$msg.eml" all)" = "$(tags "$workdir/tables-$msg.eml" all)" ] && echo 1 || echo 0)" \
            "$msg: made in the same second: the whole signature, b= included, is the same"
    else
        report 1 "$msg: # SKIP made in different seconds ($ta, $tb): b= differs by t="
    fi
    verdict=$("$domauth_bin" dkim verify --zone "$workdir/keys.zone" < "$workdir/tables-$msg.eml" 2>&1 | head -1)
    report "$(printf '%s' "$verdict" | grep -q "^pass" && echo 1 || echo 0)" \
        "$msg: the tables' signature verifies (domauth dkim verify)" "$verdict"
    if [ $has_dkimpy = yes ]; then
        peer=$("$python" - "$workdir" "$msg" <<'PY'
import sys, dkim
w, msg = sys.argv[1], sys.argv[2]
zone = open(w + "/keys.zone").read()
records = {}
for line in zone.splitlines():
    if "._domainkey." in line and " TXT " in line:
        name = line.split()[0].rstrip(".").lower().encode()
        records[name] = "".join(line.split('"')[1::2]).encode()
def dnsfunc(name, timeout=5):
    return records.get(name.rstrip(b".").lower())
print(dkim.verify(open("%s/tables-%s.eml" % (w, msg), "rb").read(), dnsfunc=dnsfunc))
PY
)
        report "$([ "$peer" = True ] && echo 1 || echo 0)" "$msg: dkimpy verifies it too" "dkimpy: $peer"
    else
        report 1 "$msg: dkimpy verifies it too # SKIP python3-dkim not installed"
    fi
done
report "$(! grep -q '^DKIM-Signature' "$workdir/native-unlisted.eml" &&
          ! grep -q '^DKIM-Signature' "$workdir/tables-unlisted.eml" && echo 1 || echo 0)" \
    "a domain in neither is signed by neither"

# ---- what -t refuses, with the file and line ----------------------------
refused() { # DESCRIPTION EXPECTED-REGEX [dkim]-lines...
    local what=$1 want=$2
    shift 2
    conf bad "$@"
    out=$("$domauthd_bin" -t -c "$workdir/bad.conf" 2>&1)
    rc=$?
    report "$([ $rc = 78 ] && printf '%s' "$out" | grep -qE -- "$want" && echo 1 || echo 0)" \
        "-t refuses $what (exit 78)" "exit $rc: $out"
}
table() { # FILE LINES...: writes a table
    local f=$workdir/$1
    shift
    printf '%s\n' "$@" > "$f"
}
table KT1 "sign-key sign.test:s1:$workdir/s1.private"
table ST-user "# one user" "*@sign.test sign-key" "alice@sign.test sign-key"
refused "a pattern for one sender, naming the SigningTable and its line" \
    "ST-user:3: alice@sign.test: a key for one sender" \
    "key_table = $workdir/KT1" "signing_table = refile:$workdir/ST-user"
table ST-unknown "*@sign.test no-such-key"
refused "a key name the KeyTable lacks" "ST-unknown:1: \*@sign.test no-such-key: no key of that name" \
    "key_table = $workdir/KT1" "signing_table = refile:$workdir/ST-unknown"
table KT-bad "sign-key sign.test:s1:$workdir/s1.private" "broken-line-without-a-value"
refused "a KeyTable line that does not parse" "KT-bad:2: a KeyTable line is NAME DOMAIN:SELECTOR:KEY" \
    "key_table = $workdir/KT-bad" "signing_table = refile:$workdir/SigningTable"
table KT-rel "sign-key sign.test:s1:./s1.private"
table ST1 "*@sign.test sign-key"
refused "a relative key path, naming both tables' lines" \
    "KT-rel:1: key sign-key \(for \*@sign.test in .*ST1:1\): the key file must be an absolute path" \
    "key_table = $workdir/KT-rel" "signing_table = refile:$workdir/ST1"
table KT-missing "sign-key sign.test:s1:$workdir/nothing.private"
refused "a key file that cannot be read, naming the KeyTable line" "KT-missing:1: key: .*nothing.private" \
    "key_table = $workdir/KT-missing" "signing_table = refile:$workdir/ST1"
table KT-d "sign-key elsewhere.test:s1:$workdir/s1.private"
refused "a d= that is neither the From: domain nor a parent" \
    "ST1:1: \*@sign.test: signed with d=elsewhere.test" \
    "key_table = $workdir/KT-d" "signing_table = refile:$workdir/ST1"
refused "a key_table without a signing_table, naming the configuration line" \
    "bad.conf:9: key_table without signing_table signs nothing" "key_table = $workdir/KT1"
refused "a refile: KeyTable" "bad.conf:9: a KeyTable is looked up by key name" \
    "key_table = refile:$workdir/KT1" "signing_table = refile:$workdir/ST1"
refused "a data set that is no file" "bad.conf:9: key_table: expected file:/path, refile:/path or /path" \
    "key_table = db:$workdir/KT1" "signing_table = refile:$workdir/ST1"
refused "a table that does not exist" "$workdir/none" \
    "key_table = $workdir/none" "signing_table = refile:$workdir/ST1"
table ST-order "*@*.sign.test sign-key" "*@mail.sign.test sign-key z@sign.test"
conf order "key_table = $workdir/KT1" "signing_table = refile:$workdir/ST-order"
out=$("$domauthd_bin" -t -c "$workdir/order.conf" 2>&1)
report "$([ $? = 0 ] && printf '%s' "$out" | grep -q "ST-order:2: \*@mail.sign.test: the signer (i=) z@sign.test is not carried over" &&
          printf '%s' "$out" | grep -q "ST-order:2: mail.sign.test: OpenDKIM signs this with line 1's key" && echo 1 || echo 0)" \
    "-t warns of a dropped signer (i=) and of OpenDKIM's first-match order, with the line" "$out"
tap_done
