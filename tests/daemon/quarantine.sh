#!/bin/bash
# quarantine.sh: domauthd's folder quarantine through its milter (issue 9):
# the spool file is in new/ and indexed the moment the reply (DISCARD) comes,
# it survives kill -9 and is listed and shown by domauth quarantine; purge by
# age with an injected clock; a corrupt or missing spool file is reported
# with its path; domauth log filters by action; with root, a full tmpfs
# spool gives the tempfail fallback and a log line naming the path and the
# error. No DNS: SPF temperror (no server) is the result that quarantines.
# TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
[ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }
python=/usr/bin/python3

. "$here/../lib/tap.sh"
daemon_pid=
tap_pids=daemon_pid
tap_workdir domauth-quarantine

write_conf() { # quarantine_dir
    cat > "$workdir/domauth.conf" <<CONF
[daemon]
milter = unix:$workdir/milter.sock
policy =
control =
database = $workdir/events.db
quarantine_dir = $1
syslog = no
dns_servers = 127.0.0.1:9
dns_timeout_ms = 200
dns_tries = 1
[dkim]
verify = no
[policy]
monitor = no
[spf]
temperror_action = quarantine
CONF
}

start_daemon() {
    : > "$workdir/daemon.log"
    "$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do grep -q started "$workdir/daemon.log" && break; sleep 0.1; done
}

send() { # message-file on-reply-command
    "$python" "$here/milter_client.py" "$("$python" -c 'import json, sys
print(json.dumps({"port": sys.argv[1], "client_ip": "192.0.2.10", "helo": "mx.sender.test",
                  "mail_from": "a@sender.test", "rcpt": "b@dest.test", "message": sys.argv[2],
                  "output": sys.argv[3], "on_reply": sys.argv[4]}))' \
        "$workdir/milter.sock" "$1" "$workdir/out.eml" "$2")"
}
field() { # JSON-TEXT KEY: the value, without the NUL a milter reply ends with
    "$python" -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], "").replace("\0", ""))' "$1" "$2"
}

q="$workdir/q"
write_conf "$q"
start_daemon
printf 'From: <a@sender.test>\nSubject: kept for review\n\nline one\nline two\n' > "$workdir/m1.eml"
# At the reply: the file in new/, nothing in tmp/, and the index row.
on_reply="ls $q/new | wc -l; ls $q/tmp | wc -l; $domauth_bin quarantine list --config $workdir/domauth.conf | grep -c 'quarantined  <a@sender.test> -> <b@dest.test>'"
out=$(send "$workdir/m1.eml" "$on_reply" 2>&1)
final=$(field "$out" final)
report "$([ "${final:0:1}" = d ] && echo 1 || echo 0)" "the milter reply is DISCARD" "$out"
now=$(field "$out" on_reply | tr -s '\n' ' ')
report "$([ "$now" = "1 0 1 " ] && echo 1 || echo 0)" \
    "when the reply arrives: one file in new/, none in tmp/, indexed" "got: $now; $out"

# The event goes to the database in the writer's next batch (within
# 100 ms, later under load): wait for it while domauthd runs. Only the copy
# is synced before the reply; kill -9 may lose an event not yet written.
log=
for _ in $(seq 50); do
    log=$("$domauth_bin" log --database "$workdir/events.db" --action quarantine 2>&1)
    printf '%s' "$log" | grep -q quarantine && break
    sleep 0.1
done
report "$(printf '%s' "$log" | grep -q quarantine && echo 1 || echo 0)" \
    "domauth log --action quarantine shows the event" "$log"

# kill -9 right after: the message is still there and listed.
kill -KILL "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
list=$("$domauth_bin" quarantine list --config "$workdir/domauth.conf" 2>&1)
id=$(ls "$q/new" | head -1)
report "$(printf '%s' "$list" | grep -q "$id  quarantined" && echo 1 || echo 0)" \
    "after kill -9: listed by domauth quarantine list" "$list"
show=$("$domauth_bin" quarantine show "$id" --config "$workdir/domauth.conf" 2>&1)
report "$(printf '%s\n' "$show" | grep -q '^Subject: kept for review' &&
          printf '%s\n' "$show" | grep -q '^Result: spf=temperror' &&
          printf '%s\n' "$show" | grep -q '^Told: accept' &&
          printf '%s\n' "$show" | grep -q '^line two' && echo 1 || echo 0)" \
    "show ID: the facts and the message as received" "$show"
json=$("$domauth_bin" quarantine list --json --config "$workdir/domauth.conf" 2>&1)
report "$(printf '%s' "$json" | "$python" -c 'import json, sys
o = json.loads(sys.stdin.readline())
sys.exit(0 if o["sender"] == "a@sender.test" and o["rcpts"] == ["b@dest.test"] and
         o["results"] == ["spf=temperror"] and o["problem"] is None else 1)' && echo 1 || echo 0)" \
    "list --json: sender, recipients, results" "$json"
for filter in "--result temperror" "--result spf=temperror" "--rcpt B@dest.test" "--since 1h"; do
    # shellcheck disable=SC2086
    n=$("$domauth_bin" quarantine list $filter --config "$workdir/domauth.conf" | grep -c "$id")
    report "$([ "$n" = 1 ] && echo 1 || echo 0)" "list $filter finds it"
done
n=$("$domauth_bin" quarantine list --result fail --config "$workdir/domauth.conf" | grep -c "$id")
report "$([ "$n" = 0 ] && echo 1 || echo 0)" "list --result fail does not"

# Retention with an injected clock: 29 days later it stays, 31 days later it goes.
t=$(date +%s)
"$domauth_bin" quarantine purge --now "@$((t + 29 * 86400))" --config "$workdir/domauth.conf" > "$workdir/p1" 2>&1
report "$([ -f "$q/new/$id" ] && grep -q 'purged 0' "$workdir/p1" && echo 1 || echo 0)" \
    "purge at +29 days keeps a message younger than quarantine_days" "$(cat "$workdir/p1")"
"$domauth_bin" quarantine purge --now "@$((t + 31 * 86400))" --config "$workdir/domauth.conf" > "$workdir/p2" 2>&1
report "$([ ! -f "$q/new/$id" ] && grep -q 'purged 1' "$workdir/p2" && echo 1 || echo 0)" \
    "purge at +31 days removes it" "$(cat "$workdir/p2")"
n=$("$domauth_bin" quarantine list --state deleted --config "$workdir/domauth.conf" | grep -c "$id  deleted")
report "$([ "$n" = 1 ] && echo 1 || echo 0)" "its index row says deleted"

# Corrupt and missing spool files are reported with their paths.
start_daemon
send "$workdir/m1.eml" "" > /dev/null 2>&1
send "$workdir/m1.eml" "" > /dev/null 2>&1
kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
set -- $(ls "$q/new")
truncate -s -3 "$q/new/$1"
rm -f "$q/new/$2"
list=$("$domauth_bin" quarantine list --config "$workdir/domauth.conf" 2>&1); rc=$?
report "$([ $rc = 1 ] && printf '%s' "$list" | grep -q "problem: $q/new/$1: corrupt spool file: the message has" &&
          printf '%s' "$list" | grep -q "problem: $q/new/$2: No such file" && echo 1 || echo 0)" \
    "list reports a truncated and a missing spool file with their paths (exit 1)" "rc $rc: $list"
show=$("$domauth_bin" quarantine show "$1" --config "$workdir/domauth.conf" 2>&1); rc=$?
report "$([ $rc = 1 ] && printf '%s' "$show" | grep -q "$q/new/$1: corrupt spool file" && echo 1 || echo 0)" \
    "show reports the corrupt file (exit 1)" "rc $rc: $show"
# A file in new/ the index does not know (domauthd died between the two).
cp "$q/new/$1" "$q/new/1.P1Q1R00000000"
truncate -s +3 "$q/new/$1"
list=$("$domauth_bin" quarantine list --config "$workdir/domauth.conf" 2>&1)
report "$(printf '%s' "$list" | grep -q "1.P1Q1R00000000  unindexed" && echo 1 || echo 0)" \
    "a file in new/ missing from the index is listed as unindexed" "$list"
# reindex gives a whole unindexed file its row (as domauthd does at start
# and daily, for messages stored while the database was down) and names the
# one it cannot read.
cp "$q/new/$1" "$q/new/2.P1Q1R00000000"
out=$("$domauth_bin" quarantine reindex --config "$workdir/domauth.conf" 2>&1); rc=$?
list=$("$domauth_bin" quarantine list --config "$workdir/domauth.conf" 2>&1)
report "$([ $rc = 1 ] && printf '%s' "$out" | grep -q "1 rows added for files the index lacked; 1 files unreadable" &&
          printf '%s' "$out" | grep -q "$q/new/1.P1Q1R00000000: not indexed: " &&
          printf '%s' "$list" | grep -q "2.P1Q1R00000000  quarantined" && echo 1 || echo 0)" \
    "reindex indexes the whole file and names the unreadable one (exit 1)" "rc $rc: $out $list"
out=$("$domauth_bin" quarantine reindex --json --config "$workdir/domauth.conf" 2>/dev/null)
report "$(yes_if [ "$out" = '{"added":0,"unreadable":1}' ])" "a second reindex adds nothing" "$out"
"$domauth_bin" quarantine delete 2.P1Q1R00000000 --config "$workdir/domauth.conf" > /dev/null 2>&1
del=$("$domauth_bin" quarantine delete "$1" --config "$workdir/domauth.conf" 2>&1)
report "$([ ! -f "$q/new/$1" ] && printf '%s' "$del" | grep -q "deleted $1" && echo 1 || echo 0)" \
    "delete removes the file and marks it" "$del"

# release: sendmail -i -f SENDER -- RCPTS with the message, then marked.
cat > "$workdir/sendmail" <<SH
#!/bin/sh
printf '%s\n' "\$@" > "$workdir/sendmail.args"
cat > "$workdir/sendmail.in"
SH
chmod +x "$workdir/sendmail"
start_daemon
send "$workdir/m1.eml" "" > /dev/null 2>&1
kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
rid=$("$domauth_bin" quarantine list --json --config "$workdir/domauth.conf" 2>/dev/null |
      "$python" -c 'import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if o["state"] == "quarantined" and o["problem"] is None: print(o["id"]); break')
rel=$("$domauth_bin" quarantine release "$rid" --sendmail "$workdir/sendmail" --config "$workdir/domauth.conf" 2>&1)
args=$(tr '\n' ' ' < "$workdir/sendmail.args" 2>/dev/null)
report "$([ "$args" = "-i -f a@sender.test -- b@dest.test " ] &&
          printf '%s' "$rel" | grep -q "released $rid to 1 recipient" && echo 1 || echo 0)" \
    "release runs sendmail -i -f SENDER -- RCPTS" "args: $args; $rel"
report "$(printf 'From: <a@sender.test>\nSubject: kept for review\n\nline one\nline two\n' | cmp -s - "$workdir/sendmail.in" && echo 1 || echo 0)" \
    "sendmail gets the message as received (line ends as LF)" "$(od -c "$workdir/sendmail.in" | head -5)"
st=$("$domauth_bin" quarantine list --state released --json --config "$workdir/domauth.conf" 2>&1)
report "$(printf '%s' "$st" | grep -q "\"id\":\"$rid\".*\"state\":\"released\"" &&
          printf '%s' "$st" | grep -q "\"state_by\":\"$(id -un)\"" && [ ! -f "$q/new/$rid" ] && echo 1 || echo 0)" \
    "released: marked with who, the copy removed" "$st"
# The spam log: release, delete and purge are events beside domauthd's.
spam=$("$domauth_bin" log --database "$workdir/events.db" --action release,delete,purge --json 2>&1)
report "$(printf '%s' "$spam" | "$python" -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
by = {r["action"]: r for r in rows}
ok = ("release" in by and "delete" in by and "purge" in by and
      by["release"]["listener"] == "quarantine" and
      "released from quarantine" in by["release"]["reasons"] and
      by["release"]["recipients"] and "deleted from quarantine" in by["delete"]["reasons"] and
      "purged by" in by["purge"]["reasons"])
sys.exit(0 if ok else 1)' && echo 1 || echo 0)" \
    "the spam log: release, delete and purge are events (domauth log --action)" "$spam"
again=$("$domauth_bin" quarantine release "$rid" --sendmail "$workdir/sendmail" --config "$workdir/domauth.conf" 2>&1); rc=$?
report "$([ $rc = 1 ] && printf '%s' "$again" | grep -q "is released, not quarantined" && echo 1 || echo 0)" \
    "a second release is refused" "rc $rc: $again"
printf '#!/bin/sh\ncat > /dev/null\nexit 75\n' > "$workdir/sendmail-fails"; chmod +x "$workdir/sendmail-fails"
start_daemon
send "$workdir/m1.eml" "" > /dev/null 2>&1
kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
fid=$(ls -t "$q/new" | head -1)
out=$("$domauth_bin" quarantine release "$fid" --to postmaster@dest.test --sendmail "$workdir/sendmail-fails" --config "$workdir/domauth.conf" 2>&1); rc=$?
report "$([ $rc = 1 ] && [ -f "$q/new/$fid" ] && printf '%s' "$out" | grep -q "failed (exit status 75); still quarantined" && echo 1 || echo 0)" \
    "a sendmail that fails leaves the message quarantined" "rc $rc: $out"

# The control socket's quarantine-release and quarantine-delete (what
# domauth-web uses): the same release, its audit event naming BY, refusals.
cq="$workdir/cq"
write_conf "$cq"
sed -i "s|^control =\$|control = unix:$workdir/ctl.sock|" "$workdir/domauth.conf"
cat >> "$workdir/domauth.conf" <<CONF
[daemon]
sendmail = $workdir/ctl-sendmail
CONF
printf '#!/bin/sh\n{ echo "ARGS: $*"; cat; } > %s/ctl-released\n' "$workdir" > "$workdir/ctl-sendmail"
chmod +x "$workdir/ctl-sendmail"
start_daemon
send "$workdir/m1.eml" "" > /dev/null 2>&1
send "$workdir/m1.eml" "" > /dev/null 2>&1
. "$here/../lib/control.sh"
ctl() { control_send "$workdir/ctl.sock" "$1"; }
ids=$(ls "$cq/new")
id1=$(echo "$ids" | head -1); id2=$(echo "$ids" | tail -1)
out=$(ctl "quarantine-release $id1 web:alice")
report "$(yes_if [ "$out" = "ok: released $id1 to 1 recipient" ])" \
    "control quarantine-release: released" "$out"
report "$(yes_if grep -q '^ARGS: -i -f a@sender.test -- b@dest.test' "$workdir/ctl-released")" \
    "control quarantine-release runs [daemon] sendmail with the original envelope" \
    "$(head -3 "$workdir/ctl-released" 2>&1)"
out=$(ctl "quarantine-release $id1 web:alice")
report "$(yes_if grep -q "^error: $id1 is released, not quarantined" <<<"$out")" \
    "control: a second release is refused" "$out"
out=$(ctl "quarantine-release $id2 web:bob postmaster@dest.test")
report "$(yes_if [ "$out" = "ok: released $id2 to 1 recipient" ] &&
          grep -q -- '-- postmaster@dest.test$' "$workdir/ctl-released")" \
    "control quarantine-release ID BY TO: to another recipient" "$out"
send "$workdir/m1.eml" "" > /dev/null 2>&1
id3=$(ls "$cq/new" | head -1)
out=$(ctl "quarantine-delete $id3 web:alice")
report "$(yes_if [ "$out" = "ok: deleted $id3" ] && [ ! -e "$cq/new/$id3" ])" \
    "control quarantine-delete: the copy is gone" "$out"
for bad in "quarantine-delete ../x web:a" "quarantine-delete $id3" "quarantine-release a b c d"; do
    out=$(ctl "$bad")
    report "$(yes_if grep -q '^error: ' <<<"$out")" "control refuses '$bad'" "$out"
done
kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
audit=$("$domauth_bin" log --database "$workdir/events.db" --action release,delete --json 2>&1)
report "$(yes_if grep -q "released from quarantine $id1 by web:alice" <<<"$audit" &&
          grep -q "released from quarantine $id2 by web:bob to postmaster@dest.test" <<<"$audit" &&
          grep -q "deleted from quarantine $id3 by web:alice" <<<"$audit")" \
    "control: each release and delete is an audit event naming who asked" "$audit"

# A full spool (a 64 KiB tmpfs, with root): tempfail and the log line.
if [ "$(id -u)" = 0 ] && command -v unshare > /dev/null; then
    mkdir -p "$workdir/full"
    write_conf "$workdir/full"
    head -c 200000 /dev/urandom | base64 > "$workdir/big.txt"
    { printf 'From: <a@sender.test>\nSubject: big\n\n'; cat "$workdir/big.txt"; } > "$workdir/big.eml"
    # domauthd in a mount namespace of its own, with the tmpfs there.
    : > "$workdir/daemon.log"
    unshare -m sh -c "mount -t tmpfs -o size=64k tmpfs '$workdir/full' && exec '$domauthd_bin' -f -c '$workdir/domauth.conf'" \
        > "$workdir/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do grep -q started "$workdir/daemon.log" && break; sleep 0.1; done
    out=$(send "$workdir/big.eml" "" 2>&1)
    final=$(field "$out" final)
    report "$(printf '%s' "$final" | grep -q '^y451 4.3.0' && echo 1 || echo 0)" \
        "a full spool: the sender is told 451 4.3.0 (quarantine_failure = tempfail)" "$out"
    sleep 0.2
    report "$(grep -q "quarantine of queue QUEUE1 from <a@sender.test> failed: $workdir/full/tmp/.*: .*No space left on device; deferred" "$workdir/daemon.log" && echo 1 || echo 0)" \
        "the log line names the path and the error" "$(cat "$workdir/daemon.log")"
    kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
else
    report 1 "# SKIP full tmpfs spool: needs root for a mount namespace"
fi
tap_done
