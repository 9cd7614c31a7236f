#!/bin/bash
# pidfile_user.sh: the pidfile when domauthd starts as root and drops to
# user (issue 17): written as root, given to user, removed at stop by user.
# A missing directory is made for user (as /run/domauth is); a directory
# user cannot write is refused by -t and at start, naming the line; a
# sticky one (/tmp's mode) works because the file is user's. Needs root and
# a 'nobody' user; no network. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
    echo "1..0 # SKIP needs root and a 'nobody' user"
    exit 0
fi
[ -x "$domauthd_bin" ] || { echo "Bail out! no domauthd at $domauthd_bin"; exit 1; }

. "$here/../lib/tap.sh"
daemon_pid=
tap_pids=daemon_pid
tap_workdir domauth-pidfile
chmod 755 "$workdir"
# The sockets' directory is nobody's, so that only the pidfile is at stake.
install -d -o nobody -m 0755 "$workdir/sock"
# root's own directories, as /run is.
install -d -o root -g root -m 0755 "$workdir/run" "$workdir/rootonly"
install -d -o root -g root -m 1777 "$workdir/sticky"

write_config() { # pidfile
    cat > "$workdir/domauth.conf" <<CONF
[daemon]
milter = unix:$workdir/sock/milter.sock
policy =
control =
database =
syslog = no
dns_servers = 127.0.0.1
user = nobody
pidfile = $1
CONF
    chmod 644 "$workdir/domauth.conf"
}

start_daemon() {
    : > "$workdir/daemon.log"
    "$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do
        grep -q "started" "$workdir/daemon.log" && return 0
        kill -0 "$daemon_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# cycle NAME PIDFILE: start, check the file, stop, check it is gone.
cycle() {
    local name=$1 pidfile=$2 rc
    write_config "$pidfile"
    out=$("$domauthd_bin" -t -c "$workdir/domauth.conf" 2>&1)
    report "$([ $? = 0 ] && echo 1 || echo 0)" "$name: domauthd -t accepts it" "$out"
    if ! start_daemon; then
        report 0 "$name: domauthd starts as root and drops to nobody" "$(cat "$workdir/daemon.log")"
        return
    fi
    report "$([ "$(ps -o user= -p $daemon_pid)" = nobody ] && echo 1 || echo 0)" \
        "$name: domauthd runs as nobody" "$(ps -o user=,pid= -p $daemon_pid)"
    report "$([ "$(cat "$pidfile" 2>/dev/null)" = "$daemon_pid" ] &&
              [ "$(stat -c %U "$pidfile")" = nobody ] && echo 1 || echo 0)" \
        "$name: the pidfile holds the pid and belongs to nobody" \
        "$(ls -l "$pidfile" 2>&1; cat "$pidfile" 2>&1)"
    kill -TERM "$daemon_pid"
    wait "$daemon_pid"
    rc=$?
    daemon_pid=
    report "$([ $rc = 0 ] && [ ! -e "$pidfile" ] && ! grep -q "cannot remove pidfile" "$workdir/daemon.log" &&
              echo 1 || echo 0)" \
        "$name: stopped (exit 0), the pidfile removed by nobody, no warning" \
        "exit $rc; $(ls -l "$pidfile" 2>&1); $(tail -3 "$workdir/daemon.log")"
}

# 1. A directory that does not exist, in root's /run: made for nobody.
cycle "missing directory" "$workdir/run/domauth/domauthd.pid"
report "$([ "$(stat -c '%U %a' "$workdir/run/domauth")" = "nobody 755" ] &&
          grep -q "pidfile: made $workdir/run/domauth for nobody" "$workdir/daemon.log" && echo 1 || echo 0)" \
    "missing directory: made 0755 for nobody, and logged" "$(ls -ld "$workdir/run/domauth"; cat "$workdir/daemon.log")"
# 2. The directory exists and is nobody's (the unit's RuntimeDirectory=).
cycle "nobody's directory" "$workdir/run/domauth/domauthd.pid"
# 3. A sticky directory anyone may write (/tmp's 1777).
cycle "sticky directory" "$workdir/sticky/domauthd.pid"

# 4. Root's own directory: refused before anything is written.
write_config "$workdir/rootonly/domauthd.pid"
out=$("$domauthd_bin" -t -c "$workdir/domauth.conf" 2>&1)
rc=$?
report "$([ $rc != 0 ] && printf '%s' "$out" |
          grep -q "domauth.conf:9: pidfile: $workdir/rootonly/domauthd.pid: user nobody could not remove it at stop: $workdir/rootonly is not writable by nobody; put it in a directory of that user's, such as /run/domauth/" &&
          echo 1 || echo 0)" \
    "root's directory: domauthd -t refuses, naming the line, the directory and the fix" "exit $rc: $out"
timeout 20 "$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1
rc=$?
report "$([ $rc = 78 ] && [ ! -e "$workdir/rootonly/domauthd.pid" ] && grep -q "could not remove it at stop" "$workdir/daemon.log" &&
          echo 1 || echo 0)" \
    "root's directory: the start is refused (exit 78), no pidfile left" "exit $rc; $(cat "$workdir/daemon.log")"
# 5. Without user, root's directory is fine (root removes it).
sed -i '/^user = /d' "$workdir/domauth.conf"
out=$("$domauthd_bin" -t -c "$workdir/domauth.conf" 2>&1)
report "$([ $? = 0 ] && echo 1 || echo 0)" "without user, a pidfile in root's directory is accepted" "$out"
tap_done
