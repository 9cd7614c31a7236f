#!/bin/bash
# keys.sh: the key model (domauthd(8), KEYS AND RELOADS). Keys are read
# before privileges are dropped; a reload reads everything again as the
# run-as user. So a key that user cannot read stops the start with its name
# (before: the start went on and every later SIGHUP was refused, or re-read
# the key as the unprivileged user and failed), and a reload that cannot
# read a key is refused, named in the log, and the running keys stay. Needs
# root (to drop to nobody); a unix milter socket, no DNS. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
    echo "1..0 # SKIP needs root and a 'nobody' user"
    exit 0
fi
[ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }

. "$here/../lib/tap.sh"
daemon_pid=
tap_pids=daemon_pid
tap_workdir domauth-keys
chmod 755 "$workdir"

wait_for_log() { # regex: up to 5 s
    for _ in $(seq 50); do
        grep -q -- "$1" "$workdir/daemon.log" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

key=$workdir/s1.private
"$domauth_bin" dkim keygen --domain sign.test --selector s1 --out "$key" > /dev/null 2>&1
chown root:root "$key"
chmod 600 "$key"
cat > "$workdir/domauth.conf" <<CONF
[daemon]
user = nobody
control = unix:$workdir/control.sock
milter = unix:$workdir/milter.sock
policy =
database =
syslog = no
[dkim]
key = sign.test s1 $key
CONF
chmod 644 "$workdir/domauth.conf"

# 1. A key readable by root only: the start stops, naming the key.
"$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$daemon_pid" 2>/dev/null; then
    report 0 "a key the run-as user cannot read stops the start" "$(cat "$workdir/daemon.log")"
    kill -KILL "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null
else
    wait "$daemon_pid"
    status=$?
    report "$([ $status = 78 ] && echo 1 || echo 0)" \
        "a key the run-as user cannot read stops the start (exit 78)" "exit $status"
    report "$(grep -q "as user nobody.*$key" "$workdir/daemon.log" && echo 1 || echo 0)" \
        "the error names the user and the key" "$(cat "$workdir/daemon.log")"
fi
daemon_pid=

# 2. Readable by nobody: the daemon runs.
chown nobody "$key"
: > "$workdir/daemon.log"
"$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
daemon_pid=$!
if wait_for_log "started"; then
    report 1 "with the key readable by the run-as user, domauthd starts"
else
    report 0 "with the key readable by the run-as user, domauthd starts" "$(cat "$workdir/daemon.log")"
fi

# 3. The key becomes unreadable: the reload is refused, the key named, and
# the daemon goes on with the keys it has.
chmod 000 "$key"
kill -HUP "$daemon_pid"
if wait_for_log "reload refused"; then
    line=$(grep "reload refused" "$workdir/daemon.log" | tail -1)
    report "$(printf '%s' "$line" | grep -q "$key" && echo 1 || echo 0)" \
        "a reload that cannot read a key is refused and names it" "$line"
else
    report 0 "a reload that cannot read a key is refused and names it" "$(cat "$workdir/daemon.log")"
fi
report "$(kill -0 "$daemon_pid" 2>/dev/null && echo 1 || echo 0)" \
    "after the refused reload the daemon still runs"

# 4. Readable again: the next reload applies.
chmod 600 "$key"
kill -HUP "$daemon_pid"
report "$(wait_for_log "configuration reloaded" && echo 1 || echo 0)" \
    "once readable again, the next reload applies" "$(tail -3 "$workdir/daemon.log")"
kill -TERM "$daemon_pid"
wait "$daemon_pid"
status=$?
daemon_pid=
report "$([ $status = 0 ] && echo 1 || echo 0)" "domauthd stops cleanly (exit 0)" "exit $status"

tap_done
