#!/bin/bash
# sockets.sh: the unix sockets an MTA connects to (issue 17 item 3):
# socket_mode and socket_group on the milter and policy sockets, kept when
# domauthd drops to its user; a client in that group connects, one outside
# it is refused; the control socket keeps its own mode; an unknown
# socket_group is named by -t and stops the start. Needs root (to set a
# group and to drop to nobody); clients run with setpriv as nobody with or
# without the group, so no user or group is added. No network. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1 || ! getent group mail >/dev/null ||
    ! command -v setpriv >/dev/null; then
    echo "1..0 # SKIP needs root, a 'nobody' user, a 'mail' group and setpriv"
    exit 0
fi
[ -x "$domauthd_bin" ] || { echo "Bail out! no domauthd at $domauthd_bin"; exit 1; }

. "$here/../lib/tap.sh"
daemon_pid=
tap_pids=daemon_pid
tap_workdir domauth-sockets
chmod 755 "$workdir"
nobody_group=$(id -gn nobody)

log_tail() { sed 's/^/  /' "$workdir/daemon.log" | tail -15; }

write_config() { # extra [daemon] lines
    {
        echo "[daemon]"
        echo "milter = unix:$workdir/run/milter.sock"
        echo "policy = unix:$workdir/run/policy.sock"
        echo "control = unix:$workdir/run/ctl.sock"
        echo "database ="
        echo "syslog = no"
        echo "dns_servers = 127.0.0.1"
        printf '%s\n' "$@"
    } > "$workdir/domauth.conf"
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

stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
    daemon_pid=
}

# can_connect PATH [setpriv options]: connects as nobody (with the groups
# the options give) and says whether the socket let it in.
can_connect() {
    local path=$1
    shift
    setpriv --reuid=nobody --regid="$nobody_group" "$@" \
        /usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])' "$path" 2>/dev/null
}

cannot_connect() { ! can_connect "$@"; }

owner_of() { stat -c '%U:%G %a' "$1" 2>/dev/null; }

# The run directory belongs to nobody, as /var/spool/postfix/domauth does to
# the domauth user, so that the sockets can be removed after the drop.
mkdir -p "$workdir/run"
chown nobody "$workdir/run"
chmod 755 "$workdir/run"

# 1. As root: the group is set at bind, the mode is socket_mode.
write_config "socket_mode = 0660" "socket_group = mail"
if start_daemon; then
    report "$(yes_if [ "$(owner_of "$workdir/run/milter.sock")" = "root:mail 660" ])" \
        "as root: the milter socket is root:mail 0660" "$(owner_of "$workdir/run/milter.sock")"
    report "$(yes_if [ "$(owner_of "$workdir/run/policy.sock")" = "root:mail 660" ])" \
        "as root: the policy socket is root:mail 0660" "$(owner_of "$workdir/run/policy.sock")"
    report "$(yes_if [ "$(owner_of "$workdir/run/ctl.sock")" = "root:root 600" ])" \
        "the control socket keeps its own group and control_mode" \
        "$(owner_of "$workdir/run/ctl.sock")"
    report "$(yes_if can_connect "$workdir/run/milter.sock" --groups=mail)" \
        "a client in group mail connects to the milter socket"
    report "$(yes_if can_connect "$workdir/run/policy.sock" --groups=mail)" \
        "a client in group mail connects to the policy socket"
    report "$(yes_if cannot_connect "$workdir/run/milter.sock" --clear-groups)" \
        "a client outside the group is refused"
else
    report 0 "as root with socket_group = mail: domauthd starts" "$(log_tail)"
fi
stop_daemon

# 2. Dropping to user = nobody keeps socket_group (the drop used to set the
# user's own group on every socket).
write_config "socket_mode = 0660" "socket_group = mail" "user = nobody"
if start_daemon; then
    report "$(yes_if [ "$(owner_of "$workdir/run/milter.sock")" = "nobody:mail 660" ])" \
        "user = nobody: the milter socket is nobody:mail 0660" \
        "$(owner_of "$workdir/run/milter.sock")"
    report "$(yes_if can_connect "$workdir/run/milter.sock" --groups=mail)" \
        "user = nobody: a client in group mail connects"
    stop_daemon
    report "$(yes_if [ ! -e "$workdir/run/milter.sock" ])" \
        "after the stop the sockets are removed (by the run-as user)"
else
    report 0 "user = nobody with socket_group = mail: domauthd starts" "$(log_tail)"
fi
stop_daemon

# 3. No socket_group: the run-as user's group, as before.
write_config "socket_mode = 0660" "user = nobody"
if start_daemon; then
    report "$(yes_if [ "$(owner_of "$workdir/run/milter.sock")" = "nobody:$nobody_group 660" ])" \
        "no socket_group: the socket gets the run-as user's group" \
        "$(owner_of "$workdir/run/milter.sock")"
else
    report 0 "user = nobody without socket_group: domauthd starts" "$(log_tail)"
fi
stop_daemon

# 4. Started as its user already, as systemd's User= and Group= start it,
# with the group in its supplementary groups: user = that user is no error,
# and the socket gets socket_group.
write_config "socket_mode = 0660" "socket_group = mail" "user = nobody"
: > "$workdir/daemon.log"
setpriv --reuid=nobody --regid="$nobody_group" --groups=mail \
    "$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
daemon_pid=$!
started=0
for _ in $(seq 50); do
    grep -q "started" "$workdir/daemon.log" && { started=1; break; }
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
done
report "$started" "started as nobody with user = nobody: domauthd runs" "$(log_tail)"
report "$(yes_if [ "$(owner_of "$workdir/run/milter.sock")" = "nobody:mail 660" ])" \
    "started as nobody in group mail: the socket is nobody:mail 0660" \
    "$(owner_of "$workdir/run/milter.sock")"
stop_daemon

# 5. A group that does not exist: -t names file, line and group; the start
# stops with it.
write_config "socket_group = no-such-group-da"
out=$("$domauthd_bin" -t -c "$workdir/domauth.conf" 2>&1)
status=$?
report "$(yes_if [ "$status" = 78 ])" "-t with an unknown socket_group exits 78" "status $status"
line=$(grep -n '^socket_group' "$workdir/domauth.conf" | cut -d: -f1)
report "$(yes_if grep -q "domauth.conf:$line: socket_group: no group 'no-such-group-da'" <<<"$out")" \
    "-t names the file, line and group" "$out"
: > "$workdir/daemon.log"
"$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1
status=$?
refused() { [ "$status" != 0 ] && grep -q "socket_group: no group 'no-such-group-da'" "$workdir/daemon.log"; }
report "$(yes_if refused)" "the start refuses an unknown socket_group" "status $status
$(log_tail)"

tap_done
