#!/bin/bash
# demo-web.sh: domauthd and domauth-web on a demo store, for a first look at
# the console (make demo-web). In DIR (default build/demo-web): 20,000
# generated events over the last week, two messages through domauthd's
# milter (one quarantined: no DNS server answers, so SPF is temperror, which
# this demo configuration quarantines), a user demo with password demo.
# domauth-web stays in the foreground on 127.0.0.1:${DEMO_WEB_PORT:-8896};
# Ctrl-C stops both.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
dir=${1:-$build/demo-web}
port=${DEMO_WEB_PORT:-8896}
for bin in "$build/daemon/domauthd" "$build/web/domauth-web" "$build/tests/fill_events"; do
    [ -x "$bin" ] || { echo "demo-web: $bin is missing (make build; domauth-web needs libmicrohttpd-dev and libargon2-dev)"; exit 1; }
done
rm -rf "$dir"
mkdir -p "$dir"
cat > "$dir/domauth.conf" <<CONF
; The demo's configuration: nothing leaves this directory.
[daemon]
milter = unix:$dir/milter.sock
policy =
control = unix:$dir/domauthd.ctl
database = $dir/events.db
quarantine_dir = $dir/quarantine
sendmail = $dir/sendmail
syslog = no
dns_servers = 127.0.0.1:9
dns_timeout_ms = 200
dns_tries = 1
[dkim]
verify = no
[policy]
monitor = no
[spf]
temperror_action = quarantine
[web]
listen = 127.0.0.1:$port
users = $dir/web-users
CONF
# A release in the demo lands in released/ instead of a mail system.
cat > "$dir/sendmail" <<SH
#!/bin/sh
mkdir -p "$dir/released"
{ echo "X-Demo-Envelope: \$*"; cat; } > "$dir/released/\$(date +%s%N).eml"
SH
chmod +x "$dir/sendmail"
"$build/tests/fill_events" "$dir/events.db" 20000 >/dev/null
"$build/daemon/domauthd" -f -c "$dir/domauth.conf" > "$dir/domauthd.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null' EXIT
for _ in $(seq 50); do grep -q started "$dir/domauthd.log" && break; sleep 0.1; done
printf 'From: Mallory <billing@bank.example>\nSubject: Your invoice <script>alert(1)</script>\n\nPlease pay at http://bank.example.invalid/\n' > "$dir/m.eml"
/usr/bin/python3 "$root/tests/daemon/milter_client.py" "{\"port\": \"$dir/milter.sock\", \"client_ip\": \"203.0.113.66\", \"helo\": \"mx.bank.example\", \"mail_from\": \"billing@bank.example\", \"rcpt\": \"alice@dest.example\", \"message\": \"$dir/m.eml\", \"output\": \"$dir/out.eml\", \"on_reply\": \"true\"}" >/dev/null
echo demo | "$build/web/domauth-web" passwd demo --role admin -c "$dir/domauth.conf" >/dev/null
echo
echo "== domauth-web: open http://127.0.0.1:$port/ and log in as demo, password demo"
echo "   (20,000 demo events, one quarantined message; Ctrl-C stops the demo)"
echo
"$build/web/domauth-web" -c "$dir/domauth.conf" &
web=$!
trap 'kill $web $daemon 2>/dev/null; wait $web $daemon 2>/dev/null' EXIT
trap 'exit 0' INT TERM
wait $web
