#!/bin/bash
# senderid_interop.sh: Sender ID (RFC 4406) against Mail::SPF's spfquery
# (Debian spf-tools-perl) over the same zone, served by unbound inside a
# private network namespace (its own /etc/resolv.conf, bind-mounted, for
# Net::DNS). domauth's answer must be the RFC's in every case; spfquery's
# must equal domauth's where both follow the RFC, and must be the listed
# other answer where Mail::SPF departs from it on purpose:
#   v1-fallback  Mail::SPF never uses v=spf1 for scope pra, and for mfrom it
#                uses v=spf1 even beside an spf2.0 record of the other
#                scope; RFC 4406 treats v=spf1 as spf2.0/mfrom,pra exactly
#                when no spf2.0 record exists.
#   nxdomain     a PRA domain that does not exist: RFC 4406 fail, Mail::SPF
#                none (it treats NXDOMAIN as an empty answer).
#   first-record for scope mfrom Mail::SPF takes both versions and keeps
#                those of the first acceptable record's version in the
#                answer (Server.pm select_record), so beside a v=spf1
#                listed first an spf2.0/mfrom record is not used; RFC 4406
#                prefers spf2.0. unbound answers in zone order here
#                (rrset-roundrobin: no), so the case is deterministic.
# Without spfquery (Mail::SPF) the domauth half still runs over unbound and
# the comparisons are SKIP lines. Needs root, unshare, unbound. TAP.
# Environment: DOMAUTH_BIN (build/cli/domauth).
set -u

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

# The zone, served by unbound as the root zone.
zone_lines() {
    cat <<'ZONE'
. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
. 3600 IN NS ns.test.
ns.test. 3600 IN A 127.0.0.1
v1only.example. 60 IN TXT "v=spf1 ip4:192.0.2.1 -all"
both.example. 60 IN TXT "v=spf1 ip4:192.0.2.1 -all"
both.example. 60 IN TXT "spf2.0/pra ip4:192.0.2.2 -all"
mfromonly.example. 60 IN TXT "v=spf1 ip4:192.0.2.1 -all"
mfromonly.example. 60 IN TXT "spf2.0/mfrom ip4:192.0.2.3 -all"
mfrompra.example. 60 IN TXT "spf2.0/mfrom,pra ip4:192.0.2.4 ~all"
pramfrom.example. 60 IN TXT "spf2.0/pra,mfrom ip4:192.0.2.5 ?all"
twopra.example. 60 IN TXT "spf2.0/pra -all"
twopra.example. 60 IN TXT "spf2.0/mfrom,pra +all"
inc.example. 60 IN TXT "spf2.0/pra include:mfrompra.example -all"
macro.example. 60 IN TXT "spf2.0/pra exists:%{l}._ok.macro.example -all"
alice._ok.macro.example. 60 IN A 127.0.0.2
exists.example. 60 IN A 192.0.2.99
ZONE
}

# scope, ip, identity, the RFC's result, Mail::SPF's ("=": the same), why
cases() {
    cat <<'CASES'
pra	192.0.2.1	a@v1only.example	pass	none	v1-fallback
pra	192.0.2.9	a@v1only.example	fail	none	v1-fallback
mfrom	192.0.2.1	a@v1only.example	pass	=	-
pra	192.0.2.2	a@both.example	pass	=	-
pra	192.0.2.1	a@both.example	fail	=	-
mfrom	192.0.2.1	a@both.example	none	pass	v1-fallback
pra	192.0.2.1	a@mfromonly.example	none	=	-
mfrom	192.0.2.3	a@mfromonly.example	pass	fail	first-record
mfrom	192.0.2.1	a@mfromonly.example	fail	pass	first-record
pra	192.0.2.4	a@mfrompra.example	pass	=	-
pra	192.0.2.9	a@mfrompra.example	softfail	=	-
mfrom	192.0.2.5	a@pramfrom.example	pass	=	-
pra	192.0.2.9	a@pramfrom.example	neutral	=	-
pra	192.0.2.9	a@twopra.example	permerror	=	-
mfrom	192.0.2.9	a@twopra.example	pass	=	-
pra	192.0.2.4	a@inc.example	pass	=	-
pra	192.0.2.9	a@inc.example	fail	=	-
pra	192.0.2.9	alice@macro.example	pass	=	-
pra	192.0.2.9	bob@macro.example	fail	=	-
pra	192.0.2.9	a@nowhere.example	fail	none	nxdomain
pra	192.0.2.9	a@exists.example	none	=	-
CASES
}

find_mailspf() {
    local c
    perl -MMail::SPF -e 1 2>/dev/null || return 1
    for c in /usr/bin/spfquery.mail-spf-perl /usr/bin/spfquery; do
        [ -x "$c" ] || continue
        if [ "$c" = /usr/bin/spfquery.mail-spf-perl ] || "$c" --version 2>&1 | grep -q 'Mail::SPF'; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

inside() {
    ip link set lo up || { echo "Bail out! cannot bring up lo"; exit 1; }
    workdir=$(mktemp -d "${TMPDIR:-/tmp}/domauth-senderid.XXXXXX")
    unbound_pid=
    trap '[ -n "$unbound_pid" ] && kill "$unbound_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$workdir"' EXIT
    zone_lines > "$workdir/root.zone"
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
  rrset-roundrobin: no
  access-control: 127.0.0.0/8 allow
  verbosity: 1
auth-zone:
  name: "."
  zonefile: "$workdir/root.zone"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
CONF
    unbound -d -c "$workdir/unbound.conf" >> "$workdir/unbound.log" 2>&1 &
    unbound_pid=$!
    for _ in $(seq 50); do
        grep -q "start of service" "$workdir/unbound.log" && break
        sleep 0.1
    done
    if ! grep -q "start of service" "$workdir/unbound.log"; then
        echo "Bail out! unbound did not start"
        sed 's/^/#   /' "$workdir/unbound.log"
        exit 1
    fi
    printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$workdir/resolv.conf"
    mount --bind "$workdir/resolv.conf" /etc/resolv.conf ||
        { echo "Bail out! cannot bind-mount /etc/resolv.conf"; exit 1; }

    local mailspf
    mailspf=$(find_mailspf) || mailspf=
    local n=0 failed=0 same=0 compared=0 differ_expected=0
    local scope ip id rfc peer why out rc got want pout pgot flag
    while IFS=$'\t' read -r scope ip id rfc peer why; do
        flag=--mail-from
        [ "$scope" = pra ] && flag=--pra
        out=$("$domauth_bin" senderid check --dns-server 127.0.0.1 --scope "$scope" --ip "$ip" \
              "$flag" "$id" --helo helo.example 2>&1)
        rc=$?
        got=${out%%$'\n'*}
        n=$((n + 1))
        if [ "$got" = "$rfc" ]; then
            echo "ok $n - domauth $scope $id from $ip: $rfc (RFC 4406)"
        else
            failed=$((failed + 1))
            echo "not ok $n - domauth $scope $id from $ip: got '$got' (exit $rc), want $rfc"
            printf '%s\n' "$out" | sed 's/^/#   /'
        fi
        n=$((n + 1))
        if [ -z "$mailspf" ]; then
            echo "ok $n # SKIP Mail::SPF (spf-tools-perl) is not installed: $scope $id from $ip"
            continue
        fi
        want=$rfc
        [ "$peer" != "=" ] && want=$peer
        pout=$("$mailspf" --scope "$scope" --id "$id" --ip "$ip" --helo-id helo.example 2>&1)
        pgot=$(printf '%s\n' "$pout" | head -n 1 | awk '{print tolower($1)}')
        compared=$((compared + 1))
        [ "$pgot" = "$got" ] && same=$((same + 1))
        if [ "$pgot" = "$want" ]; then
            if [ "$peer" = "=" ]; then
                echo "ok $n - Mail::SPF agrees: $scope $id from $ip: $pgot"
            else
                differ_expected=$((differ_expected + 1))
                echo "ok $n - Mail::SPF differs as expected ($why): $scope $id from $ip: $pgot, RFC $rfc"
            fi
        else
            failed=$((failed + 1))
            echo "not ok $n - Mail::SPF $scope $id from $ip: got '$pgot', want $want"
            printf '%s\n' "$pout" | sed 's/^/#   /'
        fi
    done < <(cases)
    if [ -n "$mailspf" ]; then
        echo "# Mail::SPF: $same of $compared the same as domauth; $differ_expected differ as listed"
    fi
    echo "1..$n"
    [ "$failed" -eq 0 ]
}

if [ "${DOMAUTH_SENDERID_INSIDE:-}" = 1 ]; then
    inside
    exit $?
fi
[ "$(id -u)" = 0 ] || skip_all "needs root for a network namespace"
command -v unshare >/dev/null || skip_all "unshare not installed"
command -v unbound >/dev/null || skip_all "unbound not installed"
[ -x "$domauth_bin" ] || skip_all "$domauth_bin is not built"
unshare -n -m true 2>/dev/null || skip_all "unshare -n -m not permitted here"
DOMAUTH_SENDERID_INSIDE=1 DOMAUTH_BIN=$domauth_bin exec unshare -n -m -- bash "${BASH_SOURCE[0]}"
