#!/bin/bash
# signals.sh: domauthd's life cycle with a pidfile: start in the foreground,
# reload with SIGHUP (once with the same file, once with a file that names
# another pidfile), stop with SIGTERM. The daemon must exit 0, remove the
# pidfile it wrote (not the one the reloaded file names) and, in a sanitizer
# build, report nothing (issue 18 item 10: a use after free at shutdown after
# any SIGHUP). No root, no network: a unix milter socket in a temporary
# directory and no DNS query. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
[ -x "$domauthd_bin" ] || { echo "Bail out! no domauthd at $domauthd_bin"; exit 1; }

# Sanitizer builds: stop at the first report, and keep it in the log.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

. "$here/../lib/tap.sh"
daemon_pid=
tap_pids=daemon_pid
tap_workdir domauth-signals

wait_for_log() { # regex [tenths of a second]
    for _ in $(seq "${2:-100}"); do
        grep -q -- "$1" "$workdir/daemon.log" 2>/dev/null && return 0
        kill -0 "$daemon_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
no_sanitizer_report() { ! grep -q "Sanitizer\|runtime error" "$workdir/daemon.log"; }
log_tail() { sed 's/^/  /' "$workdir/daemon.log" | tail -25; }

write_config() { # pidfile
    cat > "$workdir/domauth.conf" <<CONF
[daemon]
milter = unix:$workdir/milter.sock
policy =
pidfile = $1
control = unix:$workdir/control.sock
database =
syslog = no
dns_servers = 127.0.0.1
CONF
}

# run_cycle NAME HUPS PIDFILE-AFTER-RELOAD: start, HUP that many times (the
# file rewritten to name PIDFILE-AFTER-RELOAD first), TERM; checks each step.
run_cycle() {
    local name=$1 hups=$2 later_pidfile=$3
    rm -f "$workdir"/*.pid
    write_config "$workdir/domauthd.pid"
    : > "$workdir/daemon.log"
    "$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
    daemon_pid=$!
    if ! wait_for_log "started"; then
        report 0 "$name: domauthd starts" "$(log_tail)"
        kill -KILL "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
        daemon_pid=
        return
    fi
    report "$(yes_if [ "$(cat "$workdir/domauthd.pid" 2>/dev/null)" = "$daemon_pid" ])" \
        "$name: the pidfile holds the daemon's pid"
    write_config "$later_pidfile"
    for i in $(seq "$hups"); do
        kill -HUP "$daemon_pid"
        wait_for_log "configuration reloaded" 50 &&
            [ "$(grep -c "configuration reloaded" "$workdir/daemon.log")" -ge "$i" ] ||
            sleep 0.5
    done
    if [ "$hups" -gt 0 ]; then
        report "$(yes_if [ "$(grep -c "configuration reloaded" "$workdir/daemon.log")" = "$hups" ])" \
            "$name: $hups reload(s) logged" "$(log_tail)"
    fi
    kill -TERM "$daemon_pid"
    local status=
    for _ in $(seq 100); do
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$daemon_pid" 2>/dev/null; then
        kill -KILL "$daemon_pid"
        status=killed
    fi
    wait "$daemon_pid" 2>/dev/null
    status=${status:-$?}
    daemon_pid=
    report "$(yes_if [ "$status" = 0 ])" "$name: exit status 0 after TERM" \
        "status $status$(printf '\n')$(log_tail)"
    report "$(yes_if [ ! -e "$workdir/domauthd.pid" ])" "$name: the pidfile written is removed"
    if [ "$later_pidfile" != "$workdir/domauthd.pid" ]; then
        report "$(yes_if [ ! -e "$later_pidfile" ])" \
            "$name: the pidfile named only by the reloaded file is neither written nor left"
    fi
    report "$(yes_if no_sanitizer_report)" \
        "$name: no sanitizer report" "$(log_tail)"
}

run_cycle "no reload" 0 "$workdir/domauthd.pid"
run_cycle "one HUP" 1 "$workdir/domauthd.pid"
run_cycle "two HUPs, the pidfile renamed" 2 "$workdir/other.pid"

tap_done
