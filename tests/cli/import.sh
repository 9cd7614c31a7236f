#!/bin/bash
# import.sh: `domauth import opendkim|policyd-spf` over configuration files
# written here in the forms their man pages give (opendkim.conf(5) with a
# refile KeyTable and SigningTable and a hosts file; policyd-spf.conf(5)):
# the domauth.conf lines that come out, what is named as not carried over,
# that the output is itself a valid domauth.conf, and the exit statuses. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
[ -x "$domauth_bin" ] || { echo "Bail out! no domauth at $domauth_bin"; exit 1; }
. "$here/../lib/tap.sh"
tap_workdir domauth-import
w=$workdir
has() { printf '%s\n' "$out" | grep -qxF -- "$1"; } # an exact output line
has_re() { printf '%s\n' "$out" | grep -qE -- "$1"; }

# ---- OpenDKIM -----------------------------------------------------------
cat > "$w/opendkim.conf" <<CONF
# Debian's layout, with tables (opendkim.conf(5))
Syslog			yes
SyslogSuccess		yes
UMask			007
Canonicalization	relaxed/simple
Mode			sv
OversignHeaders		From
AuthservID		mx.example.com
UserID			opendkim:opendkim
Socket			local:/run/opendkim/opendkim.sock
PidFile			/run/opendkim/opendkim.pid
KeyTable		refile:$w/KeyTable
SigningTable		refile:$w/SigningTable
InternalHosts		$w/TrustedHosts   # signed, not verified
SignHeaders		From,To,Subject
CONF
cat > "$w/KeyTable" <<'T'
# name  domain:selector:keyfile
mail._domainkey.example.com example.com:mail:/etc/opendkim/keys/example.com/mail.private
mail._domainkey.example.org example.org:mail2026:/etc/opendkim/keys/example.org/mail.private
any %:any:/etc/opendkim/keys/any.private
inline example.net:x:MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC
T
cat > "$w/SigningTable" <<'T'
*@example.com     mail._domainkey.example.com
*@*.example.org   mail._domainkey.example.org
alice@example.net mail._domainkey.example.com
*@example.biz     nosuchkey
*                 any
T
printf '127.0.0.1\n::1\nlocalhost\n192.168.0.0/24\n*.example.com\n!10.1.1.1\n' > "$w/TrustedHosts"

out=$("$domauth_bin" import opendkim "$w/opendkim.conf" 2>"$w/err")
rc=$?
report "$(yes_if [ $rc = 0 ])" "opendkim: exit 0" "exit $rc: $(cat "$w/err")"
report "$(has "[dkim]" && has "sign = yes" && has "verify = yes" && has "canonicalization = relaxed/simple" && has "sign_headers = From:To:Subject" && echo 1 || echo 0)" \
    "opendkim: Mode, Canonicalization and SignHeaders map to [dkim]" "$out"
report "$(has "key = example.com mail /etc/opendkim/keys/example.com/mail.private ; SigningTable *@example.com" && echo 1 || echo 0)" \
    "opendkim: *@example.com with its KeyTable entry is a key line" "$out"
report "$(has "key = example.org mail2026 /etc/opendkim/keys/example.org/mail.private ; SigningTable *@*.example.org" && has_re '^; \(this key also signs example.org itself' && echo 1 || echo 0)" \
    "opendkim: *@*.example.org is the parent's key, with the note that example.org itself is signed too" "$out"
report "$(has "key = * any /etc/opendkim/keys/any.private ; SigningTable *" && echo 1 || echo 0)" \
    "opendkim: * with d=% is domauth's * entry" "$out"
report "$(has "milter = unix:/run/opendkim/opendkim.sock" && has "user = opendkim" && has "group = opendkim" && has "authserv_id = mx.example.com" && has "syslog = yes" && echo 1 || echo 0)" \
    "opendkim: Socket, UserID, AuthservID, Syslog map to [daemon]" "$out"
report "$(has "trusted = 192.168.0.0/24 ; from InternalHosts" && has "trusted = 127.0.0.1 ; from InternalHosts localhost" && echo 1 || echo 0)" \
    "opendkim: InternalHosts' addresses are trusted relays (signed)" "$out"
for want in "SyslogSuccess yes: no domauth equivalent" "UMask 007: set socket_mode" \
    "SigningTable:3: alice@example.net: a key for one sender" "SigningTable:4: \*@example.biz nosuchkey: no key of that name" \
    "KeyTable:5: key inline: the key itself in the table" "TrustedHosts:5: InternalHosts \*.example.com: a host name" \
    "TrustedHosts:6: InternalHosts !10.1.1.1: a negated entry"; do
    report "$(has_re "^;   .*$want" && echo 1 || echo 0)" "opendkim: named as not carried over: $want" "$out"
done
report "$(grep -q 'settings of .* not carried over' "$w/err" && echo 1 || echo 0)" \
    "opendkim: stderr says how many were not carried over" "$(cat "$w/err")"
# The output is a domauth.conf: with a [daemon] that domauthd -t can start.
{ printf '%s\n' "$out" | sed -e '/^user = /d' -e '/^group = /d' -e '/^key = /d' -e '/^milter = /d' -e '/^pidfile = /d'
  printf '[daemon]\nmilter = inet:127.0.0.1:18995\ncontrol =\ndatabase =\n'
} > "$w/imported.conf"
t_out=$("$domauthd_bin" -t -c "$w/imported.conf" 2>&1)
report "$(yes_if [ $? = 0 ])" "opendkim: the output (keys and accounts aside) passes domauthd -t" "$t_out"

printf 'Mode sv\nDomain example.com,example.net\nSelector s1\nKeyFile /etc/dkim/s1.key\n' > "$w/single.conf"
out=$("$domauth_bin" import opendkim "$w/single.conf" 2>/dev/null)
report "$(has "key = example.com s1 /etc/dkim/s1.key" && has "key = example.net s1 /etc/dkim/s1.key" && echo 1 || echo 0)" \
    "opendkim: Domain (a list), Selector and KeyFile without tables" "$out"

# ---- policyd-spf --------------------------------------------------------
cat > "$w/policyd-spf.conf" <<'CONF'
#  For a fully commented sample config file see policyd-spf.conf.commented
debugLevel = 1
TestOnly = 1
HELO_reject = Fail
Mail_From_reject = Softfail
PermError_reject = True
TempError_Defer = True
skip_addresses = 127.0.0.0/8,::ffff:127.0.0.0/104,::1
Whitelist = 192.168.0.0/31,192.168.1.0/30
HELO_Whitelist = relay.example.com,sender.example.org
Domain_Whitelist = pobox.com,trustedforwarder.org
Domain_Whitelist_PTR = yahoo.com
Header_Type = AR
Authserv_Id = mx.example.com
Lookup_Time = 20
Reason_Message = Message {rejectdefer} due to: {spf}.
CONF
out=$("$domauth_bin" import policyd-spf "$w/policyd-spf.conf" 2>"$w/err")
rc=$?
report "$(yes_if [ $rc = 0 ])" "policyd-spf: exit 0" "exit $rc: $(cat "$w/err")"
report "$(has "fail_action = reject" && has "softfail_action = reject" && has "softfail_reply = 550 5.7.23 SPF softfail for %{domain}" && has "permerror_action = reject" && has "temperror_action = defer" && echo 1 || echo 0)" \
    "policyd-spf: Mail_From_reject = Softfail, PermError_reject, TempError_Defer map to [spf] (with a 5xx softfail reply)" "$out"
report "$(has_re "^check_helo = yes" && has_re "^check_local = no" && has "received_spf = no" && has "authentication_results = yes" && echo 1 || echo 0)" \
    "policyd-spf: HELO_reject, skip_addresses, Header_Type map to [policy]" "$out"
report "$(has "local_networks = 127.0.0.0/8 ; from skip_addresses" && has "local_networks = 127.0.0.0/8 ; from skip_addresses ::ffff:127.0.0.0/104 (IPv4-mapped)" && has "local_networks = ::1 ; from skip_addresses" && echo 1 || echo 0)" \
    "policyd-spf: skip_addresses become local_networks (the IPv4-mapped range as IPv4)" "$out"
report "$(has "whitelist = 192.168.1.0/30 ; from Whitelist" && has "whitelist_helo = relay.example.com ; from HELO_Whitelist" && has "whitelist_ptr = yahoo.com *.yahoo.com ; from Domain_Whitelist_PTR" && echo 1 || echo 0)" \
    "policyd-spf: Whitelist, HELO_Whitelist, Domain_Whitelist_PTR map to [hosts]" "$out"
report "$(has "authserv_id = mx.example.com" && has "spf_deadline_ms = 20000" && has ";monitor = no" && echo 1 || echo 0)" \
    "policyd-spf: Authserv_Id, Lookup_Time; enforcement suggested, not turned on" "$out"
report "$(has_re "^;   .*Domain_Whitelist = pobox.com,trustedforwarder.org: skips clients" && has_re "^;   .*HELO_Whitelist: policyd-spf also checks" && has_re "^;   .*Reason_Message" && echo 1 || echo 0)" \
    "policyd-spf: Domain_Whitelist, HELO_Whitelist's A check and Reason_Message named as not carried over" "$out"
printf 'TestOnly = 0\n' > "$w/test.conf"
out=$("$domauth_bin" import policyd-spf "$w/test.conf" 2>/dev/null)
report "$(has "monitor = yes ; TestOnly = 0: observe, never reject" && has "fail_action = reject ; policyd-spf's default Mail_From_reject = Fail" && echo 1 || echo 0)" \
    "policyd-spf: TestOnly = 0 is monitor mode; the defaults it does not write are carried too" "$out"

# ---- errors -------------------------------------------------------------
"$domauth_bin" import opendkim "$w/missing.conf" >/dev/null 2>&1
report "$(yes_if [ $? = 66 ])" "a missing file is exit 66"
printf 'this line has no equals sign\n' > "$w/bad.conf"
"$domauth_bin" import policyd-spf "$w/bad.conf" >/dev/null 2>"$w/err"
rc=$?
report "$(if [ $rc = 65 ] && grep -q 'bad.conf:1: expected Key = Value' "$w/err"; then echo 1; else echo 0; fi)" \
    "a line that does not parse is exit 65, naming it" "exit $rc: $(cat "$w/err")"
printf 'Mode sv\nAuthservID mx\001\n' > "$w/ctl.conf"
"$domauth_bin" import opendkim "$w/ctl.conf" >/dev/null 2>"$w/err"
report "$(if [ $? = 65 ] && grep -q 'ctl.conf:2: a line too long or with control bytes' "$w/err"; then echo 1; else echo 0; fi)" \
    "a control byte is refused with its line, never copied into domauth.conf"
"$domauth_bin" import sendmail x >/dev/null 2>&1
report "$(yes_if [ $? = 64 ])" "an unknown peer is a usage error"
tap_done
