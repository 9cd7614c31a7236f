#!/bin/bash
# srs_socketmap.sh: domauthd's SRS socketmap ([srs] socketmap) as Postfix
# uses it for sender_canonical_maps (forward) and recipient_canonical_maps
# (reverse): queried with a netstring client (socketmap_client.py) and with
# Postfix's own `postmap -q ... socketmap:unix:PATH:NAME`; a round trip
# with Mail::SRS given the same secret; what is NOTFOUND (local domain, the
# null sender, no domain, not SRS, bad hash, expired) and what is PERM
# (unknown map, key too long, malformed netstring: closed); the request and
# idle timeouts; a reload with a rotated secret; secrets files that are
# empty or unreadable at start, -t and reload; the counters of domauth
# status. On a unix socket in a temporary folder; needs no root (the run-as
# user's part skips without it). About 10 s. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
python=/usr/bin/python3
client="$here/socketmap_client.py"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

[ -x "$python" ] || { echo "1..0 # SKIP /usr/bin/python3 not installed"; exit 0; }
[ -x "$domauthd_bin" ] && [ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }

. "$here/../lib/tap.sh"
daemon_pid=
tap_pids=daemon_pid
tap_workdir domauth-srs-socketmap
chmod 755 "$workdir"
sock=$workdir/srs.sock
ctl=$workdir/ctl

# json TEXT EXPRESSION-ON-o: prints the value (Python syntax)
json() { "$python" -c "import json,sys; o=json.loads(sys.argv[1]); print($2)" "$1" 2>/dev/null; }
# holds OUTPUT EXPRESSION-ON-o: 1 when the expression holds
holds() { [ "$(json "$1" "bool($2)")" = True ] && echo 1 || echo 0; }
sm() { "$python" "$client" "$@" 2>&1; }
# One lookup: prints the reply ("OK x", "NOTFOUND why", ...).
lookup() { json "$(sm query "$sock" "$1" "$2")" "o['replies'][0]"; }
wait_for_log() { # regex [grep option]: up to 5 s
    for _ in $(seq 50); do
        grep -q "${2:--E}" -- "$1" "$workdir/daemon.log" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# An SRS address holds '+' and '/' (base64): match it as text, not a regex.
wait_for_text() { wait_for_log "$1" -F; }
start_daemon() { # CONF
    : > "$workdir/daemon.log"
    "$domauthd_bin" -f -v -c "$1" >> "$workdir/daemon.log" 2>&1 &
    daemon_pid=$!
    wait_for_log "started" && [ -S "$sock" ]
}
stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
    daemon_pid=
}
reload_lines() { grep -E "configuration reloaded|reload refused" "$workdir/daemon.log"; }
reload() { # SIGHUP, then waits for its log line; 0 when the reload was accepted
    local before
    before=$(reload_lines | wc -l)
    kill -HUP "$daemon_pid"
    for _ in $(seq 50); do
        [ "$(reload_lines | wc -l)" -gt "$before" ] && break
        sleep 0.1
    done
    reload_lines | tail -n 1 | grep -q "configuration reloaded"
}

secret1=$(head -c 18 /dev/urandom | base64)
secret2=$(head -c 18 /dev/urandom | base64)
printf '%s\n' "$secret1" > "$workdir/srs.secret"
chmod 600 "$workdir/srs.secret"
cat > "$workdir/domauth.conf" <<CONF
[daemon]
milter =
policy =
control = unix:$ctl
database =
syslog = no
request_timeout = 1
[srs]
socketmap = unix:$sock
domain = fwd.test
secrets = $workdir/srs.secret
exclude_domains = local.test, .mine.test
socketmap_idle_timeout = 2
envelope_domain = bounce.fwd.test
envelope_senders = shop.test, .shop.test
envelope_rewrite = keep.test bounce.keep.test keep
CONF

# ---- -t and the start ------------------------------------------------------
out=$("$domauthd_bin" -t -c "$workdir/domauth.conf" 2>&1)
report "$(yes_if grep -q ": ok" <<< "$out")" "domauthd -t accepts the [srs] socketmap configuration" "$out"

: > "$workdir/empty.secret"
sed "s|^secrets = .*|secrets = $workdir/empty.secret|" "$workdir/domauth.conf" > "$workdir/empty.conf"
out=$("$domauthd_bin" -t -c "$workdir/empty.conf" 2>&1)
report "$(yes_if grep -q "empty.conf:11: secrets: $workdir/empty.secret holds no secret" <<< "$out")" \
    "an empty secrets file: -t fails naming the config line and the file" "$out"
"$domauthd_bin" -f -c "$workdir/empty.conf" > "$workdir/start.log" 2>&1
status=$?
report "$(yes_if [ $status = 78 ])" "... and domauthd will not start (exit 78)" "exit $status: $(cat "$workdir/start.log")"
sed "s|^secrets = .*|secrets = $workdir/missing.secret|" "$workdir/domauth.conf" > "$workdir/missing.conf"
out=$("$domauthd_bin" -t -c "$workdir/missing.conf" 2>&1)
report "$(yes_if grep -q "missing.conf:11: secrets: cannot read $workdir/missing.secret" <<< "$out")" \
    "an unreadable secrets file: -t fails naming the file" "$out"
printf '[daemon]\nmilter =\npolicy =\n[srs]\nsocketmap = unix:%s\n' "$sock" > "$workdir/nodomain.conf"
out=$("$domauthd_bin" -t -c "$workdir/nodomain.conf" 2>&1)
report "$(yes_if grep -q "nodomain.conf:5: socketmap needs domain in \[srs\]" <<< "$out")" \
    "a socketmap without [srs] domain is refused by -t" "$out"

if start_daemon "$workdir/domauth.conf"; then
    report 1 "domauthd starts with only the socketmap listener"
else
    report 0 "domauthd starts with only the socketmap listener" "$(cat "$workdir/daemon.log")"
    tap_done
    exit 1
fi
mode=$(stat -c %a "$sock")
report "$(yes_if [ "$mode" = 660 ])" "the unix socket has socket_mode (0660)" "mode $mode"

# ---- forward and reverse ----------------------------------------------------
fwd=$(lookup forward alice@example.org)
addr=${fwd#OK }
report "$(yes_if grep -qE '^OK SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=example\.org=alice@fwd\.test$' <<< "$fwd")" \
    "forward alice@example.org is OK SRS0=HHHH=TT=example.org=alice@fwd.test" "$fwd"
expected=$("$domauth_bin" srs forward --secrets "$workdir/srs.secret" --srs-domain fwd.test alice@example.org 2>&1)
report "$(yes_if [ "$addr" = "$expected" ])" "the socketmap's address is domauth srs forward's" "$addr / $expected"
rev=$(lookup reverse "$addr")
report "$(yes_if [ "$rev" = "OK alice@example.org" ])" "reverse of it gives alice@example.org back" "$rev"
srs1=$(lookup forward "SRS0=abcd=TT=orig.test=bob@other.test")
report "$(yes_if grep -qE '^OK SRS1=[A-Za-z0-9+/]{4}=other\.test==abcd=TT=orig\.test=bob@fwd\.test$' <<< "$srs1")" \
    "forward of another forwarder's SRS0 address is SRS1" "$srs1"
rev1=$(lookup reverse "${srs1#OK }")
report "$(yes_if [ "$rev1" = "OK SRS0=abcd=TT=orig.test=bob@other.test" ])" \
    "reverse of that SRS1 address is the first forwarder's SRS0 address" "$rev1"

# The envelope rewrite for alignment (BNC addresses) and bounce forwarding.
env=$(lookup envelope alice@shop.test)
report "$(yes_if grep -qE '^OK BNC=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=shop\.test=alice@bounce\.fwd\.test$' <<< "$env")" \
    "envelope alice@shop.test is OK BNC=HHHH=TT=shop.test=alice@bounce.fwd.test (envelope_senders)" "$env"
back=$(lookup reverse "${env#OK }")
report "$(yes_if [ "$back" = "OK alice@shop.test" ])" \
    "a bounce to it reverses to alice@shop.test (envelope_bounces = forward)" "$back"
sub=$(lookup envelope news@mail.shop.test)
report "$(yes_if grep -q '^OK BNC=.*=mail\.shop\.test=news@bounce\.fwd\.test$' <<< "$sub")" \
    "envelope_senders .shop.test covers mail.shop.test" "$sub"
kept=$(lookup envelope bob@keep.test)
report "$(yes_if grep -qE '^OK BNC=.*=keep\.test=bob@bounce\.keep\.test$' <<< "$kept")" \
    "envelope_rewrite keep.test beats the global: its own bounce domain" "$kept"
kback=$(lookup reverse "${kept#OK }")
report "$(yes_if grep -q '^NOTFOUND bounces kept' <<< "$kback")" \
    "... and its bounces stay (keep): reverse is NOTFOUND" "$kback"
other=$(lookup envelope carol@other.test)
report "$(yes_if grep -q '^NOTFOUND not a sender domain of the site' <<< "$other")" \
    "envelope of a sender domain that is not the site's is NOTFOUND" "$other"
moved=${env#OK }
moved=${moved%@*}@bounce.keep.test
mback=$(lookup reverse "$moved")
report "$(yes_if grep -q "^NOTFOUND not this sender domain's bounce domain" <<< "$mback")" \
    "a BNC address moved to another bounce domain is not forwarded" "$mback"
forged=$(printf '%s' "${env#OK }" | sed -E 's/^BNC=[^=]{4}=/BNC=AAAA=/')
fback=$(lookup reverse "$forged")
report "$(yes_if grep -q '^NOTFOUND bad hash' <<< "$fback")" "a forged BNC hash is refused (bad hash)" "$fback"

check_reply() { # NAME KEY WANT DESCRIPTION
    local got
    got=$(lookup "$1" "$2")
    report "$(yes_if [ "$got" = "$3" ])" "$4: '$3'" "got '$got'"
}
check_reply forward bob@local.test "NOTFOUND local domain" "forward of an excluded domain"
check_reply forward bob@Sub.Mine.Test "NOTFOUND local domain" "forward of a name under .mine.test"
check_reply forward "" "NOTFOUND null sender" "forward of the null sender"
check_reply forward postmaster "NOTFOUND no domain" "forward of an address without domain"
check_reply forward "@example.org" "NOTFOUND not an address (no local part or no domain)" \
    "forward of Postfix's partial key @domain"
check_reply forward "$addr" "NOTFOUND already under the SRS domain" "forward of an address already under the SRS domain"
check_reply reverse alice@example.org "NOTFOUND not an SRS address" "reverse of a plain address"
forged=$(sed 's/^SRS0=..../SRS0=AAAA/' <<< "$addr")
[ "$forged" = "$addr" ] && forged=$(sed 's/^SRS0=..../SRS0=BBBB/' <<< "$addr")
check_reply reverse "$forged" "NOTFOUND bad hash" "reverse of a forged hash"
report "$(yes_if wait_for_text "reverse <$forged> refused: bad hash")" "the bad hash is logged with the address"
old=$("$domauth_bin" srs forward --secrets "$workdir/srs.secret" --srs-domain fwd.test \
      --time $(( $(date +%s) - 30 * 86400 )) carol@example.org 2>&1)
check_reply reverse "$old" "NOTFOUND expired" "reverse of an address forwarded 30 days ago (max_age 21)"
report "$(yes_if wait_for_text "reverse <$old> refused: expired")" "the expired stamp is logged"
check_reply lookup x@y.test "PERM unknown map name: expected forward, reverse or envelope" "an unknown map name"
long="$(head -c 1100 /dev/zero | tr '\0' a)@example.org"
check_reply forward "$long" "PERM key too long" "a key longer than an address can be"

got=$(lookup forward bob@mine.test.example)
report "$(yes_if grep -q "^OK SRS0=.*=mine.test.example=bob@fwd.test$" <<< "$got")" \
    "mine.test.example is not under .mine.test: it is rewritten" "$got"

# ---- the stream ----------------------------------------------------------------
out=$(sm pipeline "$sock" 200 forward dave@example.org)
report "$(holds "$out" "o['count'] == 200 and len(o['distinct']) == 1 and o['distinct'][0].startswith('OK SRS0=')")" \
    "200 pipelined requests in one write get 200 replies, in step" "$out"
out=$(sm raw "$sock" '5:hello,25:forward alice@example.org,')
report "$(holds "$out" "o['replies'][0] == 'PERM bad request: no space between the map name and the key' and o['replies'][1].startswith('OK SRS0=') and not o['closed']")" \
    "a bad request in a sound netstring gets PERM, and the next request is answered" "$out"
out=$(sm raw "$sock" 'forward alice@example.org\n25:forward alice@example.org,')
report "$(holds "$out" "o['replies'] == ['PERM bad request: netstring length: expected a digit, not \'f\''] and o['closed']")" \
    "a malformed netstring gets one PERM and the connection is closed" "$out"
out=$(sm raw "$sock" '99999:forward ')
report "$(holds "$out" "o['replies'] == ['PERM bad request: netstring longer than 2048 bytes'] and o['closed']")" \
    "an oversize netstring is refused at its length (PERM, closed)" "$out"
out=$(sm raw "$sock" '9:forward a;')
report "$(holds "$out" "o['replies'] == ['PERM bad request: expected \',\' after the 9 bytes of the netstring, not \';\''] and o['closed']")" \
    "a netstring without its comma: PERM, closed" "$out"
out=$(sm slow "$sock" '25:forward alice')
report "$(holds "$out" "1.0 <= o['closed_after'] < 2.0 and o['got'] == ''")" \
    "a request begun and not finished is closed after request_timeout (1 s)" "$out"
report "$(yes_if wait_for_log "socketmap unix: a request not whole after 1 s \(request_timeout\)")" \
    "the request timeout is logged"
out=$(sm slow "$sock" '')
report "$(holds "$out" "2.0 <= o['closed_after'] < 3.5")" \
    "an idle connection is closed after socketmap_idle_timeout (2 s)" "$out"

# ---- Postfix's own client --------------------------------------------------------
if command -v postmap > /dev/null; then
    mkdir -p "$workdir/postfix"
    printf 'compatibility_level = 3.6\n' > "$workdir/postfix/main.cf"
    pq() { postmap -c "$workdir/postfix" -q "$1" "socketmap:unix:$sock:$2" 2>&1; }
    # As Postfix's cleanup runs it: another user than the daemon's.
    if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
        chmod 666 "$sock"
        pq() { su nobody -s /bin/sh -c 'postmap -c "$1" -q "$2" "socketmap:unix:$3:$4" 2>&1' \
               -- sh "$workdir/postfix" "$1" "$sock" "$2"; }
    fi
    p_fwd=$(pq Erin@Example.ORG forward)
    report "$(yes_if grep -qE '^SRS0=....=..=Example\.ORG=Erin@fwd\.test$' <<< "$p_fwd")" \
        "postmap -q Erin@Example.ORG socketmap:unix:...:forward" "$p_fwd"
    p_rev=$(pq "$p_fwd" reverse)
    report "$(yes_if [ "$p_rev" = "Erin@Example.ORG" ])" "postmap -q ... :reverse gives the sender back" "$p_rev"
    pq bob@local.test forward > /dev/null
    report "$(yes_if [ $? = 1 ])" "postmap finds nothing for an excluded domain (exit 1)"
    p_bad=$(pq erin@example.org other)
    report "$(yes_if grep -q "unknown map name" <<< "$p_bad")" "postmap reports the PERM of an unknown map" "$p_bad"
else
    report 1 "postmap checks # SKIP postfix is not installed"
fi

# ---- Mail::SRS with the same secret ----------------------------------------------
cat > "$workdir/mailsrs.pl" <<'EOF'
use strict; use warnings; use Mail::SRS;
my ($mode, $file, $addr) = @ARGV;
open my $fh, '<', $file or die "open $file: $!";
my @secrets = grep { length } map { s/\r?\n\z//r } <$fh>;
my $srs = Mail::SRS->new(Secret => \@secrets, MaxAge => 21, HashLength => 4, HashMin => 4);
local $SIG{__WARN__} = sub {};
my $out = eval { $mode eq 'forward' ? $srs->forward($addr, 'fwd.test') : $srs->reverse($addr) };
print defined $out ? "$out\n" : "ERR\n";
EOF
if perl -MMail::SRS -e 1 2>/dev/null; then
    m_rev=$(perl "$workdir/mailsrs.pl" reverse "$workdir/srs.secret" "$addr")
    report "$(yes_if [ "$m_rev" = "alice@example.org" ])" "Mail::SRS reverses the socketmap's SRS0 address" "$m_rev"
    m_rev1=$(perl "$workdir/mailsrs.pl" reverse "$workdir/srs.secret" "${srs1#OK }")
    report "$(yes_if [ "$m_rev1" = "SRS0=abcd=TT=orig.test=bob@other.test" ])" \
        "Mail::SRS reverses the socketmap's SRS1 address" "$m_rev1"
    m_fwd=$(perl "$workdir/mailsrs.pl" forward "$workdir/srs.secret" frank@example.com)
    check_reply reverse "$m_fwd" "OK frank@example.com" "the socketmap reverses Mail::SRS's $m_fwd"
else
    report 1 "Mail::SRS round trip # SKIP libmail-srs-perl is not installed"
fi

# ---- a reload with a rotated secret -----------------------------------------------
printf '%s\n%s\n' "$secret2" "$secret1" > "$workdir/srs.secret"
report "$(yes_if reload)" "SIGHUP with a new first secret is accepted" "$(tail -n 3 "$workdir/daemon.log")"
check_reply reverse "$addr" "OK alice@example.org" "an address signed before the rotation still reverses"
new=$(lookup forward alice@example.org)
printf '%s\n' "$secret2" > "$workdir/new-only.secret"
printf '%s\n' "$secret1" > "$workdir/old-only.secret"
by_new=$("$domauth_bin" srs reverse --secrets "$workdir/new-only.secret" "${new#OK }" 2>&1)
by_old=$("$domauth_bin" srs reverse --secrets "$workdir/old-only.secret" "${new#OK }" 2>&1)
report "$(if [ "$by_new" = "alice@example.org" ] && [ "$by_old" != "alice@example.org" ]; then echo 1; else echo 0; fi)" \
    "a new forward is signed by the new secret, not the old one" "$new: new '$by_new', old '$by_old'"
printf '%s\n' "$secret2" > "$workdir/srs.secret"
reload
check_reply reverse "$addr" "NOTFOUND bad hash" "once the old secret leaves the file, its addresses no longer reverse"
: > "$workdir/srs.secret"
reload
report "$(yes_if wait_for_log "reload refused, keeping the running configuration: .*secrets: $workdir/srs.secret holds no secret")" \
    "a reload with an empty secrets file is refused, naming the file"
check_reply reverse "${new#OK }" "OK alice@example.org" "... and the running secrets stay"

# ---- the counters ----------------------------------------------------------------
st=$("$domauth_bin" status --json --socket "$ctl" 2>&1)
report "$(holds "$st" "o['socketmap']['requests'] == o['socketmap']['ok'] + o['socketmap']['notfound'] + o['socketmap']['temp'] + o['socketmap']['perm'] and o['socketmap']['ok'] > 200 and o['socketmap']['notfound'] >= 10 and o['socketmap']['perm'] >= 6")" \
    "domauth status counts the socketmap's requests by reply" "$(json "$st" "o['socketmap']")"
text=$("$domauth_bin" status --socket "$ctl" 2>&1)
report "$(yes_if grep -qE "^socketmap: +[0-9]+ requests: ok [0-9]+, notfound [0-9]+, temp 0, perm [0-9]+" <<< "$text")" \
    "domauth status shows the socketmap line" "$text"
stop_daemon

# ---- the run-as user must read the secrets (root only) ----------------------------
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
    printf '%s\n' "$secret1" > "$workdir/srs.secret"
    chown root:root "$workdir/srs.secret"
    chmod 600 "$workdir/srs.secret"
    sed 's/^\[daemon\]$/[daemon]\nuser = nobody/' "$workdir/domauth.conf" > "$workdir/user.conf"
    "$domauthd_bin" -f -c "$workdir/user.conf" > "$workdir/user.log" 2>&1
    status=$?
    report "$(if [ $status = 78 ] && grep -q "as user nobody.*$workdir/srs.secret" "$workdir/user.log"; then echo 1; else echo 0; fi)" \
        "secrets the run-as user cannot read stop the start, naming the file" "exit $status: $(cat "$workdir/user.log")"
    chown nobody "$workdir/srs.secret"
    if start_daemon "$workdir/user.conf"; then
        got=$(lookup forward alice@example.org)
        report "$(yes_if [ "$got" = "OK $expected" ])" "readable by that user, it starts and forwards" "$got"
        owner=$(stat -c %U "$sock")
        report "$(yes_if [ "$owner" = nobody ])" "the socket belongs to the run-as user" "owner $owner"
    else
        report 0 "readable by that user, it starts" "$(cat "$workdir/daemon.log")"
    fi
    stop_daemon
else
    report 1 "run-as user checks # SKIP needs root and a 'nobody' user"
fi

tap_done
