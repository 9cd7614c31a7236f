#!/bin/bash
# real_dns.sh: runs `domauth spf check` against a real DNS server (unbound,
# authoritative for zones generated at test time from the openspf RFC 7208
# suite) inside a private network namespace; also checks TCP fallback for a
# >512-byte TXT record and a bounded temperror for a name the server drops.
#
# Needs root, unshare, unbound and python3 with yaml. Output is TAP.
# Environment: DOMAUTH_BIN (default build/cli/domauth), DOMAUTH_CONFORMANCE
# (default ../shared/conformance beside the repository).
set -u

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
conformance=${DOMAUTH_CONFORMANCE:-$repo_root/../shared/conformance}
suite=$conformance/spf/rfc7208-tests.yml

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

# Tests picked from the suite: (scenario description, test name). Each
# scenario's whole zone is served; these tests need neither typed TIMEOUT
# values nor the driver's "error." convention.
selected_tests() {
    cat <<'EOF'
Include mechanism semantics and syntax	include-fail
Include mechanism semantics and syntax	include-softfail
Include mechanism semantics and syntax	include-neutral
Include mechanism semantics and syntax	include-temperror
Include mechanism semantics and syntax	include-permerror
Include mechanism semantics and syntax	include-none
PTR mechanism syntax	ptr-match-target
PTR mechanism syntax	ptr-match-implicit
PTR mechanism syntax	ptr-nomatch-invalid
PTR mechanism syntax	ptr-match-ip6
PTR mechanism syntax	ptr-case-change
PTR mechanism syntax	ptr-cname-loop
MX mechanism syntax	mx-implicit
MX mechanism syntax	mx-multi-ip1
MX mechanism syntax	mx-nxdomain
MX mechanism syntax	mx-cidr6
Semantics of exp and other modifiers	exp-multiple-txt
Semantics of exp and other modifiers	exp-no-txt
Semantics of exp and other modifiers	redirect-cancels-exp
Macro expansion rules	p-macro-ip4-valid
Macro expansion rules	v-macro-ip6
Macro expansion rules	domain-name-truncation
Processing limits	include-loop
Processing limits	mx-limit
Processing limits	void-over-limit
Test cases from implementation bugs	bytes-bug
Test cases from implementation bugs	cname-aliasing
EOF
}

# Writes one zone file (root zone, served by an unbound auth-zone) and one
# unbound config fragment per scenario, plus tests.tsv:
#   scenario-number TAB test TAB ip TAB mail-from TAB helo TAB results...
generate_zones() { # output-dir: reads the selected tests from output-dir/selected
    "$python" - "$suite" "$1" <<'PYEOF'
import ipaddress, os, sys, yaml

suite_path, out = sys.argv[1], sys.argv[2]
wanted = {}
for line in open(os.path.join(out, 'selected')).read().splitlines():
    scenario, test = line.split('\t')
    wanted.setdefault(scenario, []).append(test)

def escape_bytes(data, allowed):
    return ''.join(chr(b) if chr(b) in allowed else '\\%03d' % b for b in data)

NAME_CHARS = set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*')
TEXT_CHARS = set(chr(c) for c in range(32, 127)) - {'"', '\\'}

def zone_name(name):
    """Absolute zone-file name, or None when DNS cannot carry it."""
    name = str(name)
    if name in ('', '.'):
        return '.'
    labels = name[:-1].split('.') if name.endswith('.') else name.split('.')
    raw = [l.encode() for l in labels]
    if any(len(l) == 0 or len(l) > 63 for l in raw) or sum(len(l) + 1 for l in raw) + 1 > 255:
        return None
    return '.'.join(escape_bytes(l, NAME_CHARS) for l in raw) + '.'

def txt_data(value):
    strings = value if isinstance(value, list) else [value]
    pieces = []
    for s in strings:
        data = str(s).encode('utf-8')
        chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b'']
        pieces += ['"%s"' % escape_bytes(c, TEXT_CHARS) for c in chunks]
    return ' '.join(pieces)

def records_for(name, items):
    """Zone lines for one name; None for a name that only times out."""
    owner = zone_name(name)
    if owner is None:
        return [], False
    if items == ['TIMEOUT']:
        return [], True
    lines, has_txt = [], any(isinstance(i, dict) and 'TXT' in i for i in items)
    for item in items:
        if not isinstance(item, dict):
            continue  # a bare TIMEOUT after records: not served here
        for rtype, value in item.items():
            if value == 'TIMEOUT':
                continue
            if value == 'NONE':
                lines.append('%s 3600 IN HINFO "exists" "no-record"' % owner)
            elif rtype in ('TXT', 'SPF'):
                lines.append('%s 3600 IN %s %s' % (owner, rtype, txt_data(value)))
                if rtype == 'SPF' and not has_txt:  # the suite drivers' convention
                    lines.append('%s 3600 IN TXT %s' % (owner, txt_data(value)))
            elif rtype in ('A', 'AAAA'):
                try:
                    addr = ipaddress.ip_address(str(value))
                except ValueError:
                    continue
                if (addr.version == 4) == (rtype == 'A'):
                    lines.append('%s 3600 IN %s %s' % (owner, rtype, addr))
            elif rtype == 'MX':
                target = zone_name(value[1])
                if target is not None:
                    lines.append('%s 3600 IN MX %d %s' % (owner, int(value[0]), target))
            elif rtype in ('PTR', 'CNAME'):
                target = zone_name(value)
                if target is not None:
                    lines.append('%s 3600 IN %s %s' % (owner, rtype, target))
    return lines, False

def arpa_suffixes(owner):
    labels = owner.rstrip('.').split('.')
    return ['.'.join(labels[i:]) + '.' for i in range(len(labels))
            if labels[-1].lower() == 'arpa']

with open(os.path.join(out, 'tests.tsv'), 'w') as tests_out:
    number = 0
    for doc in yaml.safe_load_all(open(suite_path, encoding='utf-8')):
        if not doc or doc.get('description') not in wanted:
            continue
        number += 1
        zone = ['$TTL 3600',
                '. 3600 IN SOA ns.example.invalid. hostmaster.example.invalid. 1 3600 600 86400 300',
                '. 3600 IN NS ns.example.invalid.']
        conf = []
        for name, items in (doc.get('zonedata') or {}).items():
            lines, drops = records_for(name, items)
            zone += lines
            owner = zone_name(name)
            if drops:
                conf.append('  local-zone: "%s" deny' % owner)
            for suffix in arpa_suffixes(owner or ''):
                conf.append('  local-zone: "%s" nodefault' % suffix)
        with open(os.path.join(out, 'zone%d' % number), 'w') as f:
            f.write('\n'.join(zone) + '\n')
        with open(os.path.join(out, 'conf%d' % number), 'w') as f:
            f.write('\n'.join(sorted(set(conf))) + '\n')
        for test in wanted[doc['description']]:
            t = doc['tests'].get(test)
            if t is None:
                tests_out.write('%d\t%s\tMISSING\t\t\t\n' % (number, test))
                continue
            results = t['result'] if isinstance(t['result'], list) else [t['result']]
            results = [{'unknown': 'permerror', 'error': 'temperror'}.get(r, r) for r in results]
            fields = [str(number), test, str(t['host']), str(t.get('mailfrom') or ''),
                      str(t.get('helo') or ''), ' '.join(results)]
            if any('\t' in f or '\n' in f for f in fields):
                raise SystemExit('test %s has a tab or newline in a field' % test)
            tests_out.write('\t'.join(fields) + '\n')
PYEOF
}

# ---------------------------------------------------------------- server

unbound_pid=
workdir=

start_unbound() { # zone-file conf-fragment [extra server lines]
    stop_unbound
    cat > "$workdir/unbound.conf" <<EOF
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
$(cat "$2")
${3:-}
auth-zone:
  name: "."
  zonefile: "$1"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
EOF
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

# ------------------------------------------------------------------ TAP

count=0
failed=0

report() { # ok? description [diagnostics]
    count=$((count + 1))
    if [ "$1" = 1 ]; then
        echo "ok $count - $2"
    else
        failed=$((failed + 1))
        echo "not ok $count - $2"
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
    fi
}

# Runs the CLI; sets $verdict to the first output line and $elapsed_ms.
spf_check() { # ip mail-from helo [extra flags...]
    local ip=$1 mail_from=$2 helo=$3
    shift 3
    local start end
    start=$(date +%s%N)
    output=$("$domauth_bin" spf check --ip "$ip" --mail-from "$mail_from" --helo "$helo" \
        --dns-server 127.0.0.1:53 "$@" 2>"$workdir/stderr")
    end=$(date +%s%N)
    elapsed_ms=$(((end - start) / 1000000))
    verdict=$(printf '%s\n' "$output" | head -n 1 | tr -d '[:space:]' | tr '[:upper:]' '[:lower:]')
}

expect_verdict() { # description acceptable-results
    local want
    for want in $2; do
        if [ "$verdict" = "$want" ]; then
            report 1 "$1"
            return
        fi
    done
    report 0 "$1" "got '$verdict', want one of: $2
stderr: $(head -c 600 "$workdir/stderr")"
}

run_conformance() {
    local current=0 scenario test ip mail_from helo results
    while IFS=$'\t' read -r scenario test ip mail_from helo results; do
        if [ "$ip" = MISSING ]; then
            report 0 "rfc7208 $test" "test not found in $suite"
            continue
        fi
        if [ "$scenario" != "$current" ]; then
            current=$scenario
            start_unbound "$workdir/zone$scenario" "$workdir/conf$scenario" || {
                report 0 "rfc7208 scenario $scenario: unbound serves its zone"
                continue
            }
        fi
        # Names that time out are dropped by the server: keep that quick.
        spf_check "$ip" "$mail_from" "$helo" --dns-timeout 500 --dns-tries 1
        expect_verdict "rfc7208 $test ($ip, '$mail_from', $helo)" "$results"
    done < "$workdir/tests.tsv"
}

# A TXT record of 600+ bytes in 255-byte strings, a dropped name, and a
# second server config without TCP to show the big answer needs TCP.
run_transport_tests() {
    local terms="" i
    for i in $(seq 1 60); do terms="$terms ip4:192.0.2.$i"; done
    local record="v=spf1$terms -all" data="" rest
    rest=$record
    while [ -n "$rest" ]; do
        data="$data \"${rest:0:255}\""
        rest=${rest:255}
    done
    cat > "$workdir/zone-transport" <<EOF
\$TTL 3600
. 3600 IN SOA ns.example.invalid. hostmaster.example.invalid. 1 3600 600 86400 300
. 3600 IN NS ns.example.invalid.
big.example.net. 3600 IN TXT$data
EOF
    echo '  local-zone: "drop.example.net." deny' > "$workdir/conf-transport"
    echo "# big TXT record: ${#record} bytes"

    start_unbound "$workdir/zone-transport" "$workdir/conf-transport" || {
        report 0 "transport tests: unbound serves their zone"
        return
    }
    spf_check 192.0.2.59 user@big.example.net mail.example.net --no-edns0
    expect_verdict "TXT record of ${#record} bytes without EDNS0 (TCP fallback) matches late ip4" pass
    spf_check 198.51.100.1 user@big.example.net mail.example.net --no-edns0
    expect_verdict "TXT record of ${#record} bytes without EDNS0 reaches -all" fail
    spf_check 192.0.2.59 user@big.example.net mail.example.net
    expect_verdict "TXT record of ${#record} bytes with EDNS0 (one UDP answer)" pass

    spf_check 192.0.2.1 user@drop.example.net mail.example.net --dns-timeout 500 --dns-tries 1
    expect_verdict "name the server drops gives temperror" temperror
    if [ "$elapsed_ms" -lt 3000 ]; then
        report 1 "temperror for a dropped name came within 3 s (${elapsed_ms} ms)"
    else
        report 0 "temperror for a dropped name came within 3 s" "took ${elapsed_ms} ms"
    fi

    start_unbound "$workdir/zone-transport" "$workdir/conf-transport" "  do-tcp: no" || {
        report 0 "transport tests: unbound without TCP starts"
        return
    }
    spf_check 192.0.2.59 user@big.example.net mail.example.net --no-edns0 \
        --dns-timeout 500 --dns-tries 1
    expect_verdict "same query against a server without TCP fails (so TCP carried it)" temperror
}

# ------------------------------------------------------------------ main

main_in_namespace() {
    workdir=$(mktemp -d /tmp/domauth-real-dns.XXXXXX) || exit 1
    trap cleanup EXIT
    trap 'exit 1' INT TERM
    ip link set lo up || { echo "Bail out! cannot bring up lo"; exit 1; }
    selected_tests > "$workdir/selected"
    generate_zones "$workdir" || { echo "Bail out! zone generation failed"; exit 1; }
    run_conformance
    run_transport_tests
    echo "1..$count"
    [ "$failed" -eq 0 ]
}

if [ "${DOMAUTH_REAL_DNS_INSIDE:-}" = 1 ]; then
    python=$DOMAUTH_REAL_DNS_PYTHON
    main_in_namespace
    exit $?
fi

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespace, port 53)"
command -v unshare >/dev/null || skip_all "unshare not installed"
command -v unbound >/dev/null || skip_all "unbound not installed"
command -v ip >/dev/null || skip_all "ip (iproute2) not installed"
unshare -n true 2>/dev/null || skip_all "unshare -n not permitted here"
[ -f "$suite" ] || skip_all "conformance suite not found at $suite (set DOMAUTH_CONFORMANCE)"
python=
for candidate in /usr/bin/python3 python3; do
    if "$candidate" -c 'import yaml' 2>/dev/null; then
        python=$candidate
        break
    fi
done
[ -n "$python" ] || skip_all "python3 with yaml missing (apt-get install -y python3-yaml)"
if [ ! -x "$domauth_bin" ]; then
    echo "Bail out! domauth binary not found at $domauth_bin (build first or set DOMAUTH_BIN)"
    exit 1
fi
domauth_bin=$(cd "$(dirname "$domauth_bin")" && pwd)/$(basename "$domauth_bin")

DOMAUTH_REAL_DNS_INSIDE=1 DOMAUTH_REAL_DNS_PYTHON=$python DOMAUTH_BIN=$domauth_bin \
    exec unshare -n -- bash "${BASH_SOURCE[0]}"
