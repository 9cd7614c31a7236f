#!/bin/bash
# check_config.sh: `domauthd -t` refuses, with file:line and what was
# expected, what the daemon would refuse at start or misread (issue 18 item
# 11): a user or group that does not exist, a DNS server list the resolver
# does not take, and a sample of the parser's checks through the binary. A
# refused file exits 78 (EX_CONFIG) and the daemon refuses it the same way
# at start. No root, no network. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
[ -x "$domauthd_bin" ] || { echo "Bail out! no domauthd at $domauthd_bin"; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

. "$here/../lib/tap.sh"
tap_workdir domauth-check-config
conf=$workdir/domauth.conf

# A user and a group that exist here, and names that do not.
me=$(id -un)
my_group=$(id -gn)
no_user=domauth-no-such-user-$$
no_group=domauth-no-such-group-$$
getent passwd "$no_user" >/dev/null && { echo "Bail out! $no_user exists"; exit 1; }
getent group "$no_group" >/dev/null && { echo "Bail out! $no_group exists"; exit 1; }

# refused DESCRIPTION EXPECTED-TEXT: the file in $conf must fail -t with
# exit 78 and a message holding EXPECTED-TEXT (a fixed string).
refused() {
    local out status
    out=$("$domauthd_bin" -t -c "$conf" 2>&1)
    status=$?
    if [ "$status" = 78 ] && printf '%s' "$out" | grep -qF -- "$2"; then
        report 1 "$1"
    else
        report 0 "$1" "exit $status, want 78 and '$2'; got: $out"
    fi
}
accepted() { # DESCRIPTION
    local out status
    out=$("$domauthd_bin" -t -c "$conf" 2>&1)
    status=$?
    report "$([ "$status" = 0 ] && echo 1 || echo 0)" "$1" "exit $status: $out"
}

daemon_header() {
    printf '[daemon]\nmilter = unix:%s/milter.sock\npolicy =\ndatabase =\nsyslog = no\n' "$workdir"
}

{ daemon_header; printf 'user = %s\n' "$no_user"; } > "$conf"
refused "-t: user that does not exist" "$conf:6: user: no user '$no_user' on this system"

{ daemon_header; printf 'user = %s\ngroup = %s\n' "$me" "$no_group"; } > "$conf"
refused "-t: group that does not exist" "$conf:7: group: no group '$no_group' on this system"

{ daemon_header; printf 'user = %s\ngroup = %s\n' "$me" "$my_group"; } > "$conf"
accepted "-t: an existing user and group pass"

{ daemon_header; printf 'group = %s\n' "$my_group"; } > "$conf"
refused "-t: group without user" "$conf:6: group = $my_group needs user"

{ daemon_header; printf 'dns_servers = 127.0.0.1, resolver.example\n'; } > "$conf"
refused "-t: a DNS server the resolver does not take" \
    "$conf:6: dns_servers: bad DNS server \"resolver.example\": not an IPv4 address"

{ daemon_header; printf 'dns_servers = 127.0.0.1:5353,[::1]:53\n'; } > "$conf"
accepted "-t: DNS servers with ports pass"

{ daemon_header; printf 'socket_mode = 77777777\n'; } > "$conf"
refused "-t: socket_mode past 0777" "$conf:6: socket_mode: expected an octal mode such as 0660, at most 0777"

{ daemon_header; printf 'syslog_facility = bogus\n'; } > "$conf"
refused "-t: unknown syslog facility, the known ones listed" \
    "$conf:6: syslog_facility: expected one of mail, daemon, user, local0"

{ daemon_header; printf 'max_sessions = 0\n'; } > "$conf"
refused "-t: max_sessions = 0" "$conf:6: max_sessions: expected a whole number from 1 to"

printf '[domain example.org]\nfail_action = defer\nfail_reply = 451 4.7.1 later\nfail_action = reject\n' > "$conf"
refused "-t: a key repeated in a [domain] section names both lines" \
    "$conf:4: 'fail_action' is given twice in [domain example.org] (first on line 2)"

printf '[domain a.example b.example]\nmonitor = no\n' > "$conf"
refused "-t: one domain per [domain] section" "$conf:1: [domain a.example b.example]: one domain per section"

{
    daemon_header
    printf '[dkim]\nsign_headers = from:to:cc:subject:date:message-id:reply-to:in-reply-to\n'
    for i in $(seq 10); do
        printf '    :references:mime-version:content-type:x-header-%02d\n' "$i"
    done
} > "$conf"
accepted "-t: a sign_headers list of $(($(wc -c < "$conf") - 100)) or so characters on continuation lines"

{
    daemon_header
    printf '[dkim]\nsign_headers = from:'
    head -c 5000 /dev/zero | tr '\0' x
    printf '\n'
} > "$conf"
refused "-t: a line past the limit names the line and the limit" "$conf:7: line longer than 4096 characters"

# The daemon refuses at start what -t refuses, the same way.
{ daemon_header; printf 'user = %s\n' "$no_user"; } > "$conf"
out=$(timeout 10 "$domauthd_bin" -f -c "$conf" 2>&1)
status=$?
report "$([ "$status" = 78 ] && printf '%s' "$out" | grep -qF "$conf:6: user: no user" && echo 1 || echo 0)" \
    "start: a user that does not exist stops domauthd before it listens (exit 78)" \
    "exit $status: $out"
report "$([ ! -e "$workdir/milter.sock" ] && echo 1 || echo 0)" "start: no socket was made"

tap_done
