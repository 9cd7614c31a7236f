#!/bin/bash
# control.sh: domauthd's control socket through `domauth status` and
# `domauth reload` (issue 8 item 8, issue 18 item 12): the counters after a
# message, a reload that takes (exit 0) and one that is refused (exit 1, the
# reason shown, and kept in status), JSON for scripts; domauth-web's
# config-check (only a candidate beside the file) and config-changed. No root, no DNS: unix
# sockets in a temporary directory and a whitelisted client. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
[ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }

. "$here/../lib/tap.sh"
daemon_pid=
tap_pids=daemon_pid
tap_workdir domauth-control

write_conf() { # extra line
    cat > "$workdir/domauth.conf" <<CONF
[daemon]
milter = unix:$workdir/milter.sock
policy = unix:$workdir/policy.sock
control = unix:$workdir/run/control.sock
database =
syslog = no
dns_servers = 127.0.0.1:9
[hosts]
whitelist = 192.0.2.10
$1
CONF
}
write_conf ""
"$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 50); do grep -q started "$workdir/daemon.log" && break; sleep 0.1; done

st() { "$domauth_bin" status --config "$workdir/domauth.conf" "$@"; }
out=$(st 2>&1)
report "$(printf '%s' "$out" | grep -q "^listener: *control" && echo 1 || echo 0)" \
    "domauth status answers over the control socket (made in a new directory)" "$out"

# One policy request from the whitelisted client; the event is written when
# the connection closes.
/usr/bin/python3 - "$workdir/policy.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\n"
          b"helo_name=mx.example\nsender=a@example.com\nrecipient=b@example.org\ninstance=1\n\n")
print(s.recv(1000).decode().strip())
s.close()
PY
sleep 0.3
json=$(st --json)
got=$(printf '%s' "$json" | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
print(o["messages"]["events"], o["messages"]["skipped"], o["messages"]["accepted"],
      o["sessions"]["connections"], len(o["listeners"]), o["monitor"],
      o["messages"]["skipped_by"]["whitelisted"], o["messages"]["skipped_by"]["local"])')
purge=$(printf '%s' "$json" | /usr/bin/python3 -c '
import json, sys
p = json.load(sys.stdin)["quarantine_purge"]
print(p["last_time"], p["last_removed"], p["last_error"], p["next_time"], p["days"])')
report "$([ "$purge" = "0 0 None 0 30" ] && echo 1 || echo 0)" \
    "status --json: the quarantine purge (none: this configuration quarantines nothing)" "$purge"
report "$([ "$got" = "1 1 1 3 3 yes 1 0" ] && echo 1 || echo 0)" \
    "status --json counts the message (1 event, skipped as whitelisted, accepted), sessions and listeners" \
    "got: $got; $json"
out=$(st 2>&1)
report "$(printf '%s' "$out" | grep -q "^skips: *whitelisted 1$" && echo 1 || echo 0)" \
    "domauth status: the skips by reason (so 'nothing is checked' shows at once)" "$out"

"$domauth_bin" reload --config "$workdir/domauth.conf" > "$workdir/reload.out" 2>&1
rc=$?
report "$([ $rc = 0 ] && grep -q '^ok' "$workdir/reload.out" && echo 1 || echo 0)" \
    "domauth reload: ok, exit 0" "exit $rc: $(cat "$workdir/reload.out")"

write_conf "this is not a key"
"$domauth_bin" reload --config "$workdir/domauth.conf" > "$workdir/reload.out" 2>&1
rc=$?
report "$([ $rc = 1 ] && grep -q '^refused: .*domauth.conf:10' "$workdir/reload.out" && echo 1 || echo 0)" \
    "a refused reload is exit 1 with the file and line (what ExecReload reports)" \
    "exit $rc: $(cat "$workdir/reload.out")"
out=$(st 2>/dev/null)
report "$(printf '%s' "$out" | grep -q "^reload: *refused: .*(1 ok, 1 refused)" && echo 1 || echo 0)" \
    "status shows the refused reload and the counts" "$out"

# domauth-web's verbs: config-check loads a candidate beside the file (and
# nothing else), config-changed reloads (and writes the audit event).
. "$here/../lib/control.sh"
ctl() { control_send "$workdir/run/control.sock" "$1"; }
out=$(ctl "config-check /etc/passwd")
report "$(grep -q '^refused: config-check takes a file beside .*domauth.conf named .domauth.conf.\*' <<<"$out" && echo 1 || echo 0)" \
    "config-check refuses a file that is not beside the configuration" "$out"
printf '[policy]\nmonitor = no\n' > "$workdir/other.conf"
out=$(ctl "config-check $workdir/other.conf")
report "$(grep -q '^refused: config-check takes' <<<"$out" && echo 1 || echo 0)" \
    "config-check refuses a file beside it under another name" "$out"
printf '[daemon]\nuser = no-such-user-here\n' > "$workdir/.domauth.conf.web-a"
out=$(ctl "config-check $workdir/.domauth.conf.web-a")
report "$(grep -q "^refused: $workdir/.domauth.conf.web-a:2: user: no user 'no-such-user-here'" <<<"$out" && echo 1 || echo 0)" \
    "config-check: what -t refuses beyond the parser (a user that does not exist), with its line" "$out"
printf 'secret line one\n' > "$workdir/secret"
ln -s "$workdir/secret" "$workdir/.domauth.conf.web-link"
out=$(ctl "config-check $workdir/.domauth.conf.web-link")
report "$(grep -q '^refused: .* is not a plain file of its own$' <<<"$out" && ! grep -q secret <<<"${out#*web-link}" && echo 1 || echo 0)" \
    "config-check refuses a symbolic link (and quotes nothing of its target)" "$out"
# A candidate naming another file: that file's text (quoted by a parse
# error) is domauthd's to read, not the client's; only the log has it.
printf '[hosts]\nwhitelist_file = %s\n' "$workdir/secret" > "$workdir/.domauth.conf.web-named"
out=$(ctl "config-check $workdir/.domauth.conf.web-named")
report "$(grep -q "^refused: $workdir/.domauth.conf.web-named does not load; the reason is in domauthd's log$" <<<"$out" &&
          ! grep -q secret <<<"${out#*web-named}" && echo 1 || echo 0)" \
    "config-check quotes nothing of a file the candidate names" "$out"
cp "$workdir/domauth.conf" "$workdir/.domauth.conf.web-b"
sed -i '/this is not a key/d' "$workdir/.domauth.conf.web-b"
out=$(ctl "config-check $workdir/.domauth.conf.web-b")
report "$([ "$out" = ok ] && echo 1 || echo 0)" "config-check: a good candidate is ok" "$out"
out=$(ctl "config-changed web:tester set - [policy] monitor = no")
report "$(grep -q '^refused: .*domauth.conf:10' <<<"$out" && echo 1 || echo 0)" \
    "config-changed reloads: refused while the file is broken" "$out"
mv "$workdir/.domauth.conf.web-b" "$workdir/domauth.conf"
out=$(ctl "config-changed web:tester set - [policy] monitor = no")
report "$([ "$out" = "ok: reloaded" ] && echo 1 || echo 0)" "config-changed: ok: reloaded" "$out"
out=$(ctl "config-changed web:tester")
report "$(grep -q '^error: usage: config-changed' <<<"$out" && echo 1 || echo 0)" \
    "config-changed without its words: usage" "$out"
report "$(kill -0 $daemon_pid 2>/dev/null && echo 1 || echo 0)" "the daemon runs on"

kill -TERM $daemon_pid
wait $daemon_pid
rc=$?
daemon_pid=
report "$([ $rc = 0 ] && [ ! -e "$workdir/run/control.sock" ] && echo 1 || echo 0)" \
    "stopped cleanly, the control socket removed" "exit $rc"
tap_done
