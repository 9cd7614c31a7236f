# tests/lib/unbound.sh: a real DNS server for a test, in the test's own
# network namespace (source it after tap.sh, once the script runs under
# `unshare -n` with lo up). unbound_start ZONE-BODY writes a root zone
# holding the SOA and NS lines and ZONE-BODY (zone-file lines, absolute
# names), starts unbound on 127.0.0.1:53 answering from it, and waits for
# it; its pid is in $unbound_pid (add unbound_pid to $tap_pids).
unbound_pid=
unbound_start() {
    {
        printf '$TTL 300\n'
        printf '.\t3600\tIN\tSOA\tns.test. admin.test. 1 3600 600 86400 300\n'
        printf '.\t3600\tIN\tNS\tns.test.\n'
        printf 'ns.test.\t3600\tIN\tA\t127.0.0.1\n'
        printf '%s\n' "$1"
    } > "$workdir/root.zone"
    cat > "$workdir/unbound.conf" <<CONF
server:
  interface: 127.0.0.1@53
  do-daemonize: no
  use-syslog: no
  logfile: "$workdir/unbound.log"
  chroot: ""
  username: ""
  directory: "$workdir"
  pidfile: "$workdir/unbound.pid"
  module-config: "iterator"
  access-control: 127.0.0.0/8 allow
  # unbound answers test. itself (RFC 6761) unless told not to.
  local-zone: "test." nodefault
auth-zone:
  name: "."
  zonefile: "$workdir/root.zone"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
CONF
    unbound -d -c "$workdir/unbound.conf" > /dev/null 2>&1 &
    unbound_pid=$!
    local _
    for _ in $(seq 50); do
        grep -q "start of service" "$workdir/unbound.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "# unbound did not start:"
    sed 's/^/#   /' "$workdir/unbound.log" 2>/dev/null
    return 1
}
