#!/bin/bash
# flatten_dns.sh: `domauth spf flatten` against a real DNS server (unbound,
# authoritative for a zone written here, TTLs of its own per record) in a
# private network namespace: the shortest TTL is the server's, a tree of
# 10 includes with 200 networks becomes a chain, a timeout is exit 2; then
# the flat records are served in place of the tree and `domauth spf check`
# gives the same result for both, over the same server, for many client
# addresses. Needs root, unshare, unbound. TAP.
set -u

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

unbound_pid=
workdir=

start_unbound() { # zone-file [extra server lines]
    stop_unbound
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
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  minimal-responses: yes
  verbosity: 1
  local-zone: "drop.example.net." deny
${2:-}
auth-zone:
  name: "."
  zonefile: "$1"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
CONF
    : > "$workdir/unbound.log"
    unbound -d -c "$workdir/unbound.conf" >> "$workdir/unbound.log" 2>&1 &
    unbound_pid=$!
    for _ in $(seq 50); do
        grep -q "start of service" "$workdir/unbound.log" && return 0
        kill -0 "$unbound_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "# unbound did not start:"
    sed 's/^/#   /' "$workdir/unbound.log"
    return 1
}

stop_unbound() {
    if [ -n "$unbound_pid" ]; then
        kill "$unbound_pid" 2>/dev/null
        wait "$unbound_pid" 2>/dev/null
        unbound_pid=
    fi
}

cleanup() {
    stop_unbound
    [ -n "$workdir" ] && rm -rf "$workdir"
}

. "$repo_root/tests/lib/tap.sh"

flatten() { out=$("$domauth_bin" spf flatten --dns-server 127.0.0.1:53 "$@" 2>&1); rc=$?; }

# The world: example.net with a, mx (/24), a redirect-free tree of ten
# includes holding 200 networks that do not merge, one include with a
# short TTL, a softfail range, and -all; negative answers live 600 s.
write_tree() { # zone-file
    {
        echo '$TTL 3600'
        echo '. 3600 IN SOA ns.example.invalid. hostmaster.example.invalid. 1 3600 600 86400 600'
        echo '. 3600 IN NS ns.example.invalid.'
        printf 'example.net. 3600 IN TXT "v=spf1 a mx/24 ~ip4:192.0.2.66'
        for i in $(seq 0 9); do
            [ "$i" = 5 ] && printf '" "'
            printf ' include:i%d.example.net' "$i"
        done
        printf ' ip6:2001:db8::/48 -all"\n'
        echo 'example.net. 900 IN A 192.0.2.65'
        echo 'example.net. 3600 IN MX 10 mx1.example.net.'
        echo 'example.net. 3600 IN MX 20 mx2.example.net.'
        echo 'mx1.example.net. 3600 IN A 198.51.100.10'
        echo 'mx2.example.net. 3600 IN A 198.51.100.200'
        echo 'mx2.example.net. 3600 IN AAAA 2001:db8:ff::25'
        for i in $(seq 0 9); do
            ttl=3600
            [ "$i" = 7 ] && ttl=420
            printf 'i%d.example.net. %d IN TXT "v=spf1' "$i" "$ttl"
            for j in $(seq 0 19); do
                [ $((j % 10)) = 0 ] && [ "$j" != 0 ] && printf '" "'
                printf ' ip4:10.%d.%d.0/24' "$i" $((j * 2))
            done
            printf ' ~all"\n'
        done
        echo 'slow.example.net. 3600 IN TXT "v=spf1 include:drop.example.net -all"'
    } > "$1"
}

main_in_namespace() {
    workdir=$(mktemp -d /tmp/domauth-flatten-dns.XXXXXX) || exit 1
    trap cleanup EXIT
    trap 'exit 1' INT TERM
    ip link set lo up || { echo "Bail out! cannot bring up lo"; exit 1; }
    write_tree "$workdir/tree.zone"
    start_unbound "$workdir/tree.zone" || { echo "Bail out! unbound did not start"; exit 1; }

    local start end
    start=$(date +%s%N)
    flatten example.net --json
    end=$(date +%s%N)
    echo "# flatten of 10 includes with 200 networks over unbound: $(((end - start) / 1000000)) ms"
    printf '%s' "$out" > "$workdir/flat.json"
    report $((rc == 0)) "the tree of 10 includes and 200 networks flattens over real DNS" "exit $rc: $out"
    python3 - "$workdir/flat.json" > "$workdir/checks" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
def check(ok, what):
    print(("1" if ok else "0") + "\t" + what)
check(d["tree_lookups"] == 12, "the tree needs 12 lookups (a, mx, 10 includes): %d" % d["tree_lookups"])
check(d["min_ttl"] == 420, "the minimum TTL is the server's shortest, 420 s: %d" % d["min_ttl"])
check(len(d["records"]) >= 2 and d["lookups"] == len(d["records"]) - 1 <= 10,
      "a chain of %d records, %d lookups" % (len(d["records"]), d["lookups"]))
check(all(r["bytes"] <= 450 and r["answer_size"] <= 512 for r in d["records"]),
      "every record within 450 bytes and 512 of answer")
check("~ip4:192.0.2.66/32" in d["terms"] and "ip4:192.0.2.65/32" in d["terms"] and
      "ip4:198.51.100.0/24" in d["terms"] and d["terms"][0].startswith("~"),
      "the a, the mx/24 and the softfail range (first, in the head) are kept exactly")
check(d["pass_ip4"] > 100, "%d IPv4 pass prefixes" % d["pass_ip4"])
check(any("over the limit of 10" in n for n in d["notes"]), "a note that the tree is over the limit")
with open(sys.argv[1] + ".zone", "w") as z:
    for r in d["records"]:
        z.write(r["zone_line"].replace("\tIN\tTXT\t", " 3600 IN TXT ") + "\n")
PY
    while IFS=$'\t' read -r ok what; do report "$ok" "$what"; done < "$workdir/checks"

    flatten slow.example.net
    report $((rc == 2)) "an include the server drops gives exit 2 (temperror)" "exit $rc: $out"

    # Serve the flat chain in place of the tree and compare, address by address.
    grep -v '^example\.net\. 3600 IN TXT' "$workdir/tree.zone" > "$workdir/flat.zone"
    cat "$workdir/flat.json.zone" >> "$workdir/flat.zone"
    local ips=() i
    for i in $(seq 1 60); do
        ips+=("10.$((RANDOM % 11)).$((RANDOM % 42)).$((RANDOM % 256))")
    done
    ips+=(192.0.2.65 192.0.2.66 192.0.2.64 198.51.100.1 198.51.100.200 203.0.113.5
          2001:db8::1 2001:db8:1::1 2001:db8:ff::25 2001:db8:ff::26 ::ffff:10.3.4.5)
    for ip in "${ips[@]}"; do
        "$domauth_bin" spf check --ip "$ip" --mail-from u@example.net --helo h.example.net \
            --dns-server 127.0.0.1:53 --max-lookups 20 2>&1 | head -n 1
    done > "$workdir/tree.results"
    start_unbound "$workdir/flat.zone" || { echo "Bail out! unbound did not serve the flat zone"; exit 1; }
    for ip in "${ips[@]}"; do
        "$domauth_bin" spf check --ip "$ip" --mail-from u@example.net --helo h.example.net \
            --dns-server 127.0.0.1:53 2>&1 | head -n 1
    done > "$workdir/flat.results"
    local differ
    differ=$(paste <(printf '%s\n' "${ips[@]}") "$workdir/tree.results" "$workdir/flat.results" |
        awk -F'\t' '$2 != $3')
    report $([ -z "$differ" ] && echo 1 || echo 0) \
        "spf check gives the flat chain the tree's result for ${#ips[@]} addresses ($(sort "$workdir/tree.results" | uniq -c | tr -s ' ' | tr '\n' ','))" \
        "$differ"
    grep -q pass "$workdir/flat.results" && grep -q fail "$workdir/flat.results"
    report $((1 - $?)) "the addresses reach both pass and fail"

    tap_done
}

if [ "${DOMAUTH_FLATTEN_DNS_INSIDE:-}" = 1 ]; then
    main_in_namespace
    exit $?
fi

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespace, port 53)"
command -v unshare >/dev/null || skip_all "unshare not installed"
command -v unbound >/dev/null || skip_all "unbound not installed"
command -v ip >/dev/null || skip_all "ip (iproute2) not installed"
unshare -n true 2>/dev/null || skip_all "unshare -n not permitted here"
if [ ! -x "$domauth_bin" ]; then
    echo "Bail out! domauth binary not found at $domauth_bin (build first or set DOMAUTH_BIN)"
    exit 1
fi
domauth_bin=$(cd "$(dirname "$domauth_bin")" && pwd)/$(basename "$domauth_bin")
DOMAUTH_FLATTEN_DNS_INSIDE=1 DOMAUTH_BIN=$domauth_bin exec unshare -n -- bash "${BASH_SOURCE[0]}"
