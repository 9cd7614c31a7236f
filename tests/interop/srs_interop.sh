#!/bin/bash
# srs_interop.sh: SRS interoperability with the peers Debian ships, both
# ways: addresses domauth forwards must reverse with Mail::SRS
# (libmail-srs-perl), pysrs (python3-srs) and PostSRSd 1.10 (postsrsd, over
# its tcp_table protocol on a loopback port with its own secret file), and
# theirs must reverse with domauth; for several addresses, secrets and the
# three separators, SRS1 both ways, key rotation and case-smashed hashes.
# A missing peer gives SKIP lines; no peer at all gives "1..0 # SKIP".
# Environment: DOMAUTH_BIN (build/cli/domauth).
set -u

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
python=/usr/bin/python3
postsrsd=/usr/sbin/postsrsd

have_mailsrs() { perl -MMail::SRS -e 1 2>/dev/null; }
have_pysrs() { "$python" -c 'import SRS' 2>/dev/null; }
have_postsrsd() { [ -x "$postsrsd" ] && [ -x "$python" ]; }

if ! have_mailsrs && ! have_pysrs && ! have_postsrsd; then
    echo "1..0 # SKIP none of libmail-srs-perl, python3-srs, postsrsd is installed"
    exit 0
fi
if [ ! -x "$domauth_bin" ]; then
    echo "1..0 # SKIP $domauth_bin is not built"
    exit 0
fi

n=0
failed=0
report() { # ok(0/1) description [detail]
    n=$((n + 1))
    if [ "$1" = 1 ]; then
        echo "ok $n - $2"
    else
        failed=$((failed + 1))
        echo "not ok $n - $2"
        [ -n "${3:-}" ] && echo "#   $3"
    fi
}
skip() {
    n=$((n + 1))
    echo "ok $n # SKIP $*"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/domauth-srs-interop.XXXXXX")
postsrsd_pid=""
all_postsrsd_pids=()
stop_postsrsd() {
    if [ -n "$postsrsd_pid" ]; then
        kill "$postsrsd_pid" 2>/dev/null
        wait "$postsrsd_pid" 2>/dev/null
        postsrsd_pid=""
    fi
}
cleanup() {
    stop_postsrsd
    local pid
    for pid in "${all_postsrsd_pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

# ------------------------------------------------------------- the peers

# Each helper: MODE(forward|reverse) SECRETS-FILE SRS-DOMAIN SEPARATOR ADDRESS;
# prints the address, or ERR and a reason with exit 1.
cat > "$work/mailsrs.pl" <<'EOF'
use strict; use warnings; use Mail::SRS;
my ($mode, $file, $domain, $sep, $addr) = @ARGV;
open my $fh, '<', $file or die "open $file: $!";
my @secrets = grep { length } map { s/\r?\n\z//r } <$fh>;
my $srs = Mail::SRS->new(Secret => \@secrets, MaxAge => 21, HashLength => 4,
                         HashMin => 4, Separator => $sep);
local $SIG{__WARN__} = sub {};
my $out = eval { $mode eq 'forward' ? $srs->forward($addr, $domain) : $srs->reverse($addr) };
if (!defined $out) { my $e = $@ // 'undef'; $e =~ s/\n/ /g; print "ERR $e\n"; exit 1; }
print "$out\n";
EOF
cat > "$work/pysrs.py" <<'EOF'
import sys, io, contextlib, SRS
mode, path, domain, sep, addr = sys.argv[1:6]
secrets = [l.rstrip("\r\n") for l in open(path)]
srs = SRS.new(secret=[s for s in secrets if s], maxage=21, hashlength=4, hashmin=4,
              separator=sep)
try:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        out = srs.forward(addr, domain) if mode == "forward" else srs.reverse(addr)
except Exception as e:
    print("ERR", type(e).__name__, e)
    sys.exit(1)
print(out)
EOF
# PostSRSd's tcp_table: "get ADDRESS\n" -> "200 ADDRESS\n" (URL-encoded).
cat > "$work/tcp_table.py" <<'EOF'
import sys, socket, urllib.parse
port, addr = int(sys.argv[1]), sys.argv[2]
with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
    s.sendall(b"get " + urllib.parse.quote(addr, safe="@=+-._/").encode() + b"\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
code, _, text = reply.decode().strip().partition(" ")
if code != "200":
    print("ERR", code, urllib.parse.unquote(text))
    sys.exit(1)
print(urllib.parse.unquote(text))
EOF
cat > "$work/free_ports.py" <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF

# postsrsd runs with one secret file, domain and separator at a time.
postsrsd_key=""
postsrsd_fport=""
postsrsd_rport=""
start_postsrsd() { # SECRETS DOMAIN SEPARATOR
    local key="$1|$2|$3"
    [ "$key" = "$postsrsd_key" ] && [ -n "$postsrsd_pid" ] && return 0
    stop_postsrsd
    local ports tries
    for tries in 1 2 3; do
        ports=$("$python" "$work/free_ports.py") || return 1
        postsrsd_fport=${ports% *}
        postsrsd_rport=${ports#* }
        "$postsrsd" -s"$1" -d"$2" -a"$3" -l127.0.0.1 -f"$postsrsd_fport" -r"$postsrsd_rport" \
            -4 -t30 >"$work/postsrsd.log" 2>&1 &
        postsrsd_pid=$!
        all_postsrsd_pids+=("$postsrsd_pid")
        local i
        for i in $(seq 50); do
            if "$python" "$work/tcp_table.py" "$postsrsd_fport" probe@example.invalid \
                >/dev/null 2>&1; then
                postsrsd_key=$key
                return 0
            fi
            kill -0 "$postsrsd_pid" 2>/dev/null || break
            sleep 0.1
        done
        stop_postsrsd
    done
    return 1
}

# Sets $out (not through $(...): postsrsd must be started by this shell,
# which alone knows and stops it).
peer() { # PEER MODE SECRETS DOMAIN SEPARATOR ADDRESS
    local who=$1 mode=$2 file=$3 domain=$4 sep=$5 addr=$6
    case $who in
    mail-srs) out=$(perl "$work/mailsrs.pl" "$mode" "$file" "$domain" "$sep" "$addr" 2>&1) ;;
    pysrs) out=$("$python" "$work/pysrs.py" "$mode" "$file" "$domain" "$sep" "$addr" 2>&1) ;;
    postsrsd)
        if ! start_postsrsd "$file" "$domain" "$sep"; then
            out="ERR postsrsd did not start"
            return 1
        fi
        local port=$postsrsd_fport
        [ "$mode" = reverse ] && port=$postsrsd_rport
        out=$("$python" "$work/tcp_table.py" "$port" "$addr" 2>&1) ;;
    esac
}

da() { # MODE SECRETS DOMAIN SEPARATOR ADDRESS
    if [ "$1" = forward ]; then
        "$domauth_bin" srs forward --secrets "$2" --srs-domain "$3" --separator "$4" "$5" 2>&1
    else
        "$domauth_bin" srs reverse --secrets "$2" "$5" 2>&1
    fi
}

# ---------------------------------------------------------- the worlds

printf 'sekrit\n' > "$work/s1"
printf 'A much longer secret, with spaces and punctuation: %%$!\n' > "$work/s2"
printf 'f0e1d2c3b4a5968778695a4b3c2d1e0f\r\n' > "$work/s3"
printf 'new-secret\nold-secret\n' > "$work/rot-both"
printf 'the first forwarder keeps its own secret\n' > "$work/foreign"
printf 'old-secret\n' > "$work/rot-old"

addresses=(alice@example.com Alice.Smith@Example.COM "bob+tag@sub.example.org"
           "x_y-z@mail.example.net" "u4@example.com" "u12@example.com" "a=b@c.example")
srs_domain=fwd.example.net
second_domain=second.example.org

peers=()
have_mailsrs && peers+=(mail-srs) || skip "Mail::SRS: libmail-srs-perl is not installed"
have_pysrs && peers+=(pysrs) || skip "pysrs: python3-srs is not installed (for $python)"
have_postsrsd && peers+=(postsrsd) || skip "postsrsd: $postsrsd is not installed"

for who in "${peers[@]}"; do
    if [ "$who" = postsrsd ] && ! start_postsrsd "$work/s1" "$srs_domain" "="; then
        skip "postsrsd: did not start on a loopback port ($(head -c 200 "$work/postsrsd.log"))"
        continue
    fi
    for secrets in s1 s2 s3; do
        file=$work/$secrets
        for sep in = + -; do
            for addr in "${addresses[@]}"; do
                ours=$(da forward "$file" "$srs_domain" "$sep" "$addr")
                peer "$who" forward "$file" "$srs_domain" "$sep" "$addr"; theirs=$out
                report "$([ "$ours" = "$theirs" ] && echo 1)" \
                    "$who $secrets '$sep' $addr: domauth and $who forward alike" \
                    "domauth '$ours', $who '$theirs'"
                peer "$who" reverse "$file" "$srs_domain" "$sep" "$ours"; got=$out
                report "$([ "$got" = "$addr" ] && echo 1)" \
                    "$who $secrets '$sep' $addr: $who reverses domauth's $ours" "got '$got'"
                got=$(da reverse "$file" "$srs_domain" "$sep" "$theirs")
                report "$([ "$got" = "$addr" ] && echo 1)" \
                    "$who $secrets '$sep' $addr: domauth reverses $who's $theirs" "got '$got'"
            done
            # SRS1: an SRS0 address forwarded again, by each side, reversed by the other.
            # The SRS0 address comes from another forwarder (its own secret), as
            # in life; postsrsd would not wrap an SRS0 address it made itself.
            srs0=$(da forward "$work/foreign" "$srs_domain" "$sep" "${addresses[1]}")
            ours=$(da forward "$file" "$second_domain" "$sep" "$srs0")
            peer "$who" forward "$file" "$second_domain" "$sep" "$srs0"; theirs=$out
            report "$([ "$ours" = "$theirs" ] && echo 1)" \
                "$who $secrets '$sep': SRS1 alike ($ours)" "domauth '$ours', $who '$theirs'"
            peer "$who" reverse "$file" "$second_domain" "$sep" "$ours"; got=$out
            report "$([ "$got" = "$srs0" ] && echo 1)" \
                "$who $secrets '$sep': $who reverses domauth's SRS1 to the SRS0" "got '$got'"
            got=$(da reverse "$file" "$second_domain" "$sep" "$theirs")
            report "$([ "$got" = "$srs0" ] && echo 1)" \
                "$who $secrets '$sep': domauth reverses $who's SRS1 to the SRS0" "got '$got'"
        done
    done

    # Rotation: the peer still signs with the old secret; domauth has both.
    peer "$who" forward "$work/rot-old" "$srs_domain" "=" carol@example.com; theirs=$out
    got=$(da reverse "$work/rot-both" "$srs_domain" "=" "$theirs")
    report "$([ "$got" = carol@example.com ] && echo 1)" \
        "$who: domauth with a new first secret reverses $who's old-secret address" "got '$got'"
    ours=$(da forward "$work/rot-old" "$srs_domain" "=" carol@example.com)
    peer "$who" reverse "$work/rot-both" "$srs_domain" "=" "$ours"; got=$out
    report "$([ "$got" = carol@example.com ] && echo 1)" \
        "$who with a new first secret reverses domauth's old-secret address" "got '$got'"

    # Case smashed by an MTA on the way back: both still reverse.
    peer "$who" forward "$work/s1" "$srs_domain" "=" dave@example.com; theirs=$out
    lower=$(printf '%s' "$theirs" | tr 'A-Z' 'a-z')
    got=$(da reverse "$work/s1" "$srs_domain" "=" "$lower")
    report "$([ "$got" = dave@example.com ] && echo 1)" \
        "$who: domauth reverses $who's address lowercased ($lower)" "got '$got'"
    ours=$(da forward "$work/s1" "$srs_domain" "=" dave@example.com)
    upper=$(printf '%s' "$ours" | tr 'a-z' 'A-Z')
    peer "$who" reverse "$work/s1" "$srs_domain" "=" "$upper"; got=$out
    report "$([ "$(printf '%s' "$got" | tr 'A-Z' 'a-z')" = dave@example.com ] && echo 1)" \
        "$who reverses domauth's address uppercased ($upper)" "got '$got'"

    # A wrong hash is refused by both.
    bad=$(printf '%s' "$ours" | sed 's/^SRS0=..../SRS0=AAAA/')
    peer "$who" reverse "$work/s1" "$srs_domain" "=" "$bad"; got=$out
    "$domauth_bin" srs reverse --secrets "$work/s1" "$bad" >/dev/null 2>&1
    rc=$?
    report "$([ "$rc" = 1 ] && [ "${got#ERR}" != "$got" ] && echo 1)" \
        "$who: a wrong hash ($bad) is refused by both" "domauth exit $rc, $who '$got'"
    stop_postsrsd
done

echo "1..$n"
[ "$failed" -eq 0 ]
