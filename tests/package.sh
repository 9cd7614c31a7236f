#!/bin/bash
# package.sh SOURCE_ROOT: the Debian package on this machine (issue 17
# item 2). Builds it once with `make deb` (dpkg-buildpackage in a copy of
# the tree, lintian without errors), installs it with dpkg -i, checks its
# files, conffile, user, group and directories, starts domauthd as the unit
# does (systemctl when systemd runs; else the unit's ExecStartPre and
# ExecStart as its User and Group, in its RuntimeDirectory), checks that the
# postfix user can talk to the milter and policy sockets (and nobody else
# can), reloads, stops, purges, and checks that nothing is left.
# It changes the machine (a package, a user, a group), so it runs only when
# asked: make check sets DOMAUTH_PACKAGE_TEST=1. Needs root. About a minute
# on two cores, most of it the package build. TAP.
set -u
src=${1:?source root}
here=$(cd "$(dirname "$0")" && pwd)

skip() { echo "1..0 # SKIP $*"; exit 0; }
[ "${DOMAUTH_PACKAGE_TEST:-}" = 1 ] ||
    skip "installs and purges the domauth package on this machine: make check runs it (DOMAUTH_PACKAGE_TEST=1)"
[ "$(id -u)" = 0 ] || skip "needs root (dpkg -i, a system user)"
for tool in dpkg-buildpackage dh lintian setpriv python3; do
    command -v "$tool" > /dev/null || skip "needs $tool (dpkg-dev, debhelper, lintian, util-linux, python3)"
done
status=$(dpkg-query -W -f='${db:Status-Status}' domauth 2>/dev/null)
[ -z "$status" ] || [ "$status" = not-installed ] ||
    skip "a domauth package is on this machine ($status): the test would replace and purge it"
getent passwd domauth > /dev/null || getent group domauth > /dev/null &&
    skip "a domauth user or group exists without the package: the purge would delete it"
for dir in /var/lib/domauth /var/spool/postfix/domauth; do
    [ -e "$dir" ] && skip "$dir exists without the package: the purge would delete it"
done
# Other domauthd (tests in other trees) use /run/domauth/domauthd.ctl by
# default: the packaged one would take that socket from them.
ps -C domauthd -o stat= | grep -qv "^Z" && skip "another domauthd runs on this machine (it may share /run/domauth)"

. "$here/lib/tap.sh"
daemon_pid=
tap_pids=daemon_pid
tap_workdir domauth-package
chmod 755 "$workdir"
installed=0
cleanup_package() {
    [ -n "${pf_pid:-}" ] && postfix -c "$workdir/pf" stop > /dev/null 2>&1
    [ "$installed" = 1 ] && dpkg --purge domauth > /dev/null 2>&1
    tap_cleanup
}
trap cleanup_package EXIT

# --- build (one build: every check below uses these .deb files)
t0=$(date +%s)
make -C "$src" --no-print-directory deb DEB_DIR="$workdir/deb" JOBS="${JOBS:-2}" \
    > "$workdir/make-deb.log" 2>&1
rc=$?
echo "# make deb: $(( $(date +%s) - t0 )) s"
report "$(yes_if [ "$rc" = 0 ])" "make deb builds the package and lintian finds no error" \
    "$(tail -30 "$workdir/make-deb.log")"
deb=$(ls "$workdir"/deb/domauth_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
    tap_done
    exit
fi
grep '^[EW]:' "$workdir/deb/lintian.log" 2>/dev/null | sed 's/^/# lintian: /'

# --- install
dpkg -i "$deb" > "$workdir/dpkg.log" 2>&1 ||
    DEBIAN_FRONTEND=noninteractive apt-get -f install -y -q >> "$workdir/dpkg.log" 2>&1 < /dev/null
installed=1
status=$(dpkg-query -W -f='${db:Status-Status}' domauth 2>/dev/null)
report "$(yes_if [ "$status" = installed ])" "dpkg -i installs it" "$(tail -20 "$workdir/dpkg.log")"

expected=$(sort <<EOF
/etc/domauth/domauth.conf
/etc/logrotate.d/domauth
/lib/systemd/system/domauth-web.service
/lib/systemd/system/domauthd.service
/usr/bin/domauth
/usr/bin/domauth-xmail-filter
/usr/lib/sysusers.d/domauth.conf
/usr/lib/tmpfiles.d/domauth.conf
/usr/sbin/domauth-web
/usr/sbin/domauthd
/usr/share/doc/domauth/README.md.gz
/usr/share/doc/domauth/changelog.gz
/usr/share/doc/domauth/copyright
/usr/share/doc/domauth/examples/domauth.conf
/usr/share/man/man1/domauth.1.gz
/usr/share/man/man5/domauth.conf.5.gz
/usr/share/man/man8/domauth-web.8.gz
/usr/share/man/man8/domauthd.8.gz
EOF
)
actual=$(dpkg -L domauth 2>/dev/null | while read -r f; do [ -f "$f" ] && echo "$f"; done | sort)
report "$(yes_if [ "$expected" = "$actual" ])" \
    "the package installs exactly its files (no libraries or headers), and they exist" \
    "$(diff <(echo "$expected") <(echo "$actual"))"
report "$(yes_if grep -qx ' /etc/domauth/domauth.conf [0-9a-f]*' \
    <(dpkg-query -W -f='${Conffiles}\n' domauth))" "/etc/domauth/domauth.conf is a conffile"
report "$(yes_if grep -qx ' /etc/logrotate.d/domauth [0-9a-f]*' \
    <(dpkg-query -W -f='${Conffiles}\n' domauth))" \
    "the JSON event log's logrotate file is a conffile (daily, HUP to reopen)"
report "$(yes_if cmp -s "$src/debian/domauth.conf" /etc/domauth/domauth.conf)" \
    "/etc/domauth/domauth.conf is the packaged configuration"
report "$(yes_if grep -qx 'ExecStart=/usr/sbin/domauthd -f' /lib/systemd/system/domauthd.service)" \
    "the unit runs /usr/sbin/domauthd"

# --- user, group, directories
uid=$(id -u domauth 2>/dev/null)
system_uid() { [ -n "$uid" ] && [ "$uid" -lt 1000 ]; }
report "$(yes_if system_uid)" "a domauth system user exists" "uid '$uid'"
has_group() { getent group domauth > /dev/null; }
report "$(yes_if has_group)" "a domauth group exists"
report "$(yes_if [ "$(id -gn domauth 2>/dev/null)" = domauth ])" "domauth's primary group is domauth"
report "$(yes_if [ "$(getent passwd domauth | cut -d: -f7)" = /usr/sbin/nologin ])" \
    "domauth has no login shell" "$(getent passwd domauth)"
have_postfix=0
getent passwd postfix > /dev/null && have_postfix=1
if [ "$have_postfix" = 1 ]; then
    report "$(yes_if grep -qw domauth <<<"$(id -nG postfix)")" "the postfix user is in the domauth group" \
        "$(id postfix)"
else
    echo "ok $((count += 1)) - the postfix user is in the domauth group # SKIP no postfix user"
fi
report "$(yes_if [ "$(stat -c '%U:%G %a' /var/spool/postfix/domauth 2>/dev/null)" = "domauth:domauth 750" ])" \
    "/var/spool/postfix/domauth is domauth:domauth 0750" "$(stat -c '%U:%G %a' /var/spool/postfix/domauth 2>&1)"
report "$(yes_if [ "$(stat -c '%U:%G %a' /var/lib/domauth 2>/dev/null)" = "domauth:domauth 750" ])" \
    "/var/lib/domauth is domauth:domauth 0750" "$(stat -c '%U:%G %a' /var/lib/domauth 2>&1)"

# --- start as the unit does
unit=/lib/systemd/system/domauthd.service
unit_value() { sed -n "s/^$1=//p" "$unit" | head -1; }
user=$(unit_value User)
group=$(unit_value Group)
runtime=$(unit_value RuntimeDirectory)
state=$(unit_value StateDirectory)
state_mode=$(unit_value StateDirectoryMode)
read -r -a pre <<<"$(unit_value ExecStartPre)"
read -r -a start <<<"$(unit_value ExecStart)"
read -r -a reload <<<"$(unit_value ExecReload)"
as_unit() { setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs -- "$@"; }
milter_sock=/var/spool/postfix/domauth/domauthd.sock
policy_sock=/var/spool/postfix/domauth/policy.sock
: > "$workdir/daemon.log"
if [ -d /run/systemd/system ]; then
    echo "# systemd runs: systemctl start domauthd"
    systemctl start domauthd > "$workdir/daemon.log" 2>&1
    report "$(yes_if systemctl is-active --quiet domauthd)" "systemctl start domauthd" \
        "$(journalctl -u domauthd -n 20 --no-pager 2>&1)"
else
    echo "# no systemd: the unit's ExecStartPre and ExecStart as $user:$group"
    install -d -o "$user" -g "$group" -m 0755 "/run/$runtime"
    install -d -o "$user" -g "$group" -m "${state_mode:-0755}" "/var/lib/$state"
    out=$(as_unit "${pre[@]}" 2>&1)
    rc=$?
    report "$(yes_if [ "$rc" = 0 ])" "ExecStartPre (${pre[*]}) passes as $user" "$out"
    # Not through the function: $! must be domauthd itself (setpriv execs it).
    setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs -- "${start[@]}" \
        > "$workdir/daemon.log" 2>&1 &
    daemon_pid=$!
    up=0
    for _ in $(seq 50); do
        grep -q "started" "$workdir/daemon.log" && [ -S "$milter_sock" ] && { up=1; break; }
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    report "$up" "ExecStart (${start[*]}) runs domauthd as $user" "$(tail -15 "$workdir/daemon.log")"
fi
report "$(yes_if [ "$(stat -c '%U:%G %a' "$milter_sock" 2>/dev/null)" = "domauth:domauth 660" ])" \
    "the milter socket is domauth:domauth 0660" "$(stat -c '%U:%G %a' "$milter_sock" 2>&1)"
report "$(yes_if [ "$(stat -c '%U:%G %a' "$policy_sock" 2>/dev/null)" = "domauth:domauth 660" ])" \
    "the policy socket is domauth:domauth 0660" "$(stat -c '%U:%G %a' "$policy_sock" 2>&1)"

# A milter option negotiation and a policy request, as Postfix makes them.
cat > "$workdir/client.py" <<'PY'
import socket, struct, sys
kind, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
if kind == "milter":
    body = b"O" + struct.pack("!III", 6, 0x1FF, 0x1FFFFF)
    s.sendall(struct.pack("!I", len(body)) + body)
    head = s.recv(5)
    print("milter reply", chr(head[4]) if len(head) == 5 else "none")
else:
    s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
              b"client_address=192.0.2.10\nclient_name=mail.example.com\n"
              b"helo_name=mail.example.com\nsender=alice@example.com\n"
              b"recipient=bob@example.net\ninstance=1.1\n\n")
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    print(data.decode().strip())
PY
chmod 644 "$workdir/client.py"
as_postfix() { su -s /bin/sh postfix -c "/usr/bin/python3 $workdir/client.py $1 $2" 2>&1; }
if [ "$have_postfix" = 1 ]; then
    out=$(as_postfix milter "$milter_sock")
    report "$(yes_if [ "$out" = "milter reply O" ])" "the postfix user negotiates with the milter socket" "$out"
    out=$(as_postfix policy "$policy_sock")
    report "$(yes_if grep -q '^action=' <<<"$out")" "the postfix user gets a policy answer" "$out"
else
    echo "ok $((count += 1)) - the postfix user reaches the sockets # SKIP no postfix user"
fi
out=$(setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups \
    /usr/bin/python3 "$workdir/client.py" milter "$milter_sock" 2>&1)
report "$(yes_if grep -q 'PermissionError' <<<"$out")" "a user outside the group is refused" "$out"

# --- Postfix, with the lines of README.md, chrooted and not
# A private Postfix instance in its own network and mount namespaces: its
# queue directory has the real /var/spool/postfix/domauth bound in, as the
# system instance's has, so `unix:domauth/domauthd.sock` (relative to the
# queue directory) reaches the packaged domauthd from a chrooted smtpd and
# from one that is not. milter_default_action = tempfail: mail is
# delivered only when the milter answered.
pf=$workdir/pf
pf_pid=
run_postfix() {
    local q=$pf/queue uid gid
    uid=$(id -u postfix) gid=$(id -g postfix)
    mkdir -p "$q/domauth" "$pf/data" "$workdir/mail"
    chown postfix:postfix "$pf/data" "$workdir/mail"
    cat > "$pf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $q
data_directory = $pf/data
maillog_file = $pf/maillog
maillog_file_prefixes = $workdir
myhostname = mx.package.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
virtual_mailbox_domains = dest.test
virtual_mailbox_base = $workdir/mail
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_minimum_uid = 1
default_transport = error:package test: nothing leaves
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0
biff = no
EOF
    # README.md's lines, as -o options of three smtpd: 2525 chrooted
    # (Debian's default), 2526 not, 2527 chrooted with the policy service.
    cat > "$pf/master.cf" <<EOF
127.0.0.1:2525 inet n - y - 10 smtpd
  -o smtpd_milters=unix:domauth/domauthd.sock
  -o milter_default_action=tempfail
127.0.0.1:2526 inet n - n - 10 smtpd
  -o smtpd_milters=unix:domauth/domauthd.sock
  -o milter_default_action=tempfail
127.0.0.1:2527 inet n - y - 10 smtpd
  -o smtpd_recipient_restrictions=reject_unauth_destination,check_policy_service,unix:domauth/policy.sock
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
proxymap   unix  -       -       n       -       -       proxymap
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
virtual    unix  -       n       n       -       -       virtual
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
EOF
    unshare -n -m --propagation private sh -c "ip link set lo up &&
        mount --bind /var/spool/postfix/domauth '$q/domauth' &&
        postfix -c '$pf' start" > "$pf/start.log" 2>&1 || return 1
    for _ in $(seq 50); do
        pf_pid=$(cat "$q/pid/master.pid" 2>/dev/null | tr -d ' ')
        [ -n "$pf_pid" ] && nsenter -t "$pf_pid" -n bash -c '(exec 3<>/dev/tcp/127.0.0.1/2527)' \
            2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
stop_postfix() {
    [ -n "$pf_pid" ] || return 0
    postfix -c "$pf" stop > /dev/null 2>&1
    for _ in $(seq 50); do kill -0 "$pf_pid" 2>/dev/null || break; sleep 0.1; done
    pf_pid=
}
send_to() { # port name
    nsenter -t "$pf_pid" -n swaks --server "127.0.0.1:$1" --helo client.package.test \
        --from "alice@example.com" --to "bob@dest.test" --header "Subject: $2" \
        --timeout 30 > "$workdir/swaks-$1.log" 2>&1
}
delivered() { grep -rlq "^Subject: $1\$" "$workdir/mail" 2>/dev/null; }
if [ "$have_postfix" != 1 ] || ! command -v swaks > /dev/null || ! command -v postfix > /dev/null ||
    ! command -v unshare > /dev/null || ! command -v nsenter > /dev/null; then
    echo "ok $((count += 1)) - Postfix reaches domauthd with README.md's lines # SKIP needs postfix, swaks, unshare"
elif ! run_postfix; then
    report 0 "a private Postfix starts" "$(cat "$pf/start.log" "$pf/maillog" 2>/dev/null | tail -15)"
    stop_postfix
else
    for port in 2525 2526 2527; do
        case $port in
        2525) what="chrooted smtpd, smtpd_milters = unix:domauth/domauthd.sock" ;;
        2526) what="smtpd not chrooted, the same smtpd_milters line" ;;
        2527) what="chrooted smtpd, check_policy_service unix:domauth/policy.sock" ;;
        esac
        send_to "$port" "package test $port"
        for _ in $(seq 50); do delivered "package test $port" && break; sleep 0.1; done
        report "$(yes_if delivered "package test $port")" "$what: mail is checked and delivered" \
            "$(tail -5 "$workdir/swaks-$port.log"; grep -E 'warning|fatal|reject' "$pf/maillog" | tail -5)"
    done
    # The policy event is written when Postfix lets go of the connection
    # it keeps for reuse: count after the stop.
    stop_postfix
    all_logged() {
        [ -d /run/systemd/system ] && journalctl -u domauthd --no-pager > "$workdir/daemon.log" 2>&1
        milters=$(grep -c 'listener="milter".*rcpt="bob@dest.test"' "$workdir/daemon.log")
        policies=$(grep -c 'listener="policy".*rcpt="bob@dest.test"' "$workdir/daemon.log")
        [ "$milters" -ge 2 ] && [ "$policies" -ge 1 ]
    }
    for _ in $(seq 30); do all_logged && break; sleep 0.1; done
    report "$(yes_if all_logged)" \
        "domauthd logged the two milter sessions and the policy request" \
        "milter events $milters, policy events $policies"
fi

# ExecReload, as the unit's user.
out=$(as_unit "${reload[@]}" 2>&1)
rc=$?
report "$(yes_if [ "$rc" = 0 ])" "ExecReload (${reload[*]}) succeeds" "$out"

# --- stop
if [ -d /run/systemd/system ]; then
    systemctl stop domauthd
else
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid"
    rc=$?
    daemon_pid=
    report "$(yes_if [ "$rc" = 0 ])" "domauthd stops cleanly on SIGTERM" "status $rc
$(tail -10 "$workdir/daemon.log")"
fi
report "$(yes_if [ ! -e "$milter_sock" ])" "its sockets are removed at the stop"

# --- purge
dpkg --purge domauth > "$workdir/purge.log" 2>&1
rc=$?
installed=0
report "$(yes_if [ "$rc" = 0 ])" "dpkg --purge domauth" "$(tail -10 "$workdir/purge.log")"
left=
for f in /usr/sbin/domauthd /usr/bin/domauth /lib/systemd/system/domauthd.service /etc/domauth /etc/logrotate.d/domauth \
    /var/lib/domauth /var/spool/postfix/domauth /usr/share/doc/domauth; do
    [ -e "$f" ] && left="$left $f"
done
report "$(yes_if [ -z "$left" ])" "the purge leaves no file behind" "left:$left"
report "$(yes_if [ -z "$(getent passwd domauth)$(getent group domauth)" ])" \
    "the purge removes the domauth user and group"
if [ "$have_postfix" = 1 ]; then
    report "$(yes_if [ -z "$(id -nG postfix | tr ' ' '\n' | grep -x domauth)" ])" \
        "postfix is in no domauth group any more" "$(id postfix)"
fi
status=$(dpkg-query -W -f='${db:Status-Status}' domauth 2>/dev/null)
gone() { [ -z "$status" ] || [ "$status" = not-installed ]; }
report "$(yes_if gone)" "dpkg knows no domauth any more" \
    "status '$status'"

tap_done
