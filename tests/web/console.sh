#!/bin/bash
# console.sh: domauth-web in a browser (issue 14). domauthd and domauth-web
# on a temporary store: a clean message and a quarantined one with a hostile
# From: and Subject go through the milter (no DNS: SPF temperror is the
# result that quarantines), then headless Chromium (python3-selenium) logs
# in, searches the History, opens a message, views and releases the
# quarantined message (a capturing sendmail stands in for the MTA), and
# screenshots each page into ARTIFACTS (default build/web-screenshots).
# Security over plain HTTP: XSS payloads never become elements, a POST
# without the CSRF token and a read-only user's release are refused, wrong
# passwords are throttled. Settings: a change in the browser is checked by
# domauthd, replaces the file, reloads domauthd and is an audit event; a
# value domauthd refuses leaves the file as it was; a domain override is
# reset. Skips (with a message) without Chromium. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
web_bin=${DOMAUTH_WEB_BIN:-$repo_root/build/web/domauth-web}
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
artifacts=${1:-$repo_root/build/web-screenshots}
python=/usr/bin/python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
[ -x "$domauthd_bin" ] && [ -x "$web_bin" ] || { echo "Bail out! build domauth first"; exit 1; }
if ! command -v chromium >/dev/null || ! [ -x /usr/bin/chromedriver ] ||
   ! "$python" -c 'import selenium' 2>/dev/null; then
    echo "1..0 # SKIP needs chromium, chromium-driver and python3-selenium (make deps)"
    exit 0
fi

. "$here/../lib/tap.sh"
daemon_pid=
web_pid=
tap_pids="daemon_pid web_pid"
tap_workdir domauth-web
mkdir -p "$artifacts"
rm -f "$artifacts"/*.png

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$workdir/sendmail" <<SH
#!/bin/sh
# A capturing sendmail: the arguments, then the message.
{ echo "ARGS: \$*"; cat; } > "$workdir/released.eml"
SH
chmod +x "$workdir/sendmail"
cat > "$workdir/domauth.conf" <<CONF
[daemon]
milter = unix:$workdir/milter.sock
policy =
control = unix:$workdir/ctl.sock
database = $workdir/events.db
quarantine_dir = $workdir/q
sendmail = $workdir/sendmail
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
users = $workdir/web-users
CONF
"$domauthd_bin" -f -c "$workdir/domauth.conf" > "$workdir/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 300); do grep -q started "$workdir/daemon.log" && break; sleep 0.1; done

send() { # client-ip from message-file
    "$python" "$here/../daemon/milter_client.py" "$("$python" -c 'import json, sys
print(json.dumps({"port": sys.argv[1], "client_ip": sys.argv[2], "helo": "mx.sender.test",
                  "mail_from": sys.argv[3], "rcpt": "bob@dest.test", "message": sys.argv[4],
                  "output": sys.argv[5], "on_reply": "true"}))' \
        "$workdir/milter.sock" "$1" "$2" "$3" "$workdir/out.eml")" > /dev/null
}
# Local clients are not checked: 127.0.0.1 is an event that is skipped.
printf 'From: <carol@local.test>\nSubject: hello\n\nfine\n' > "$workdir/m1.eml"
send 127.0.0.1 carol@local.test "$workdir/m1.eml"
printf '%s\n' 'From: "<img src=x onerror=alert(1)>" <mallory@sender.test>' \
    'Subject: <script>alert("xss")</script> invoice' '' \
    '<html><body onload=alert(2)><script>alert(3)</script>pay now</body></html>' > "$workdir/m2.eml"
send 192.0.2.66 'x"><script>alert(4)</script>@sender.test' "$workdir/m2.eml"
for _ in $(seq 300); do [ -n "$(ls "$workdir/q/new" 2>/dev/null)" ] && break; sleep 0.1; done
report "$(yes_if [ -n "$(ls "$workdir/q/new" 2>/dev/null)" ])" "a message is quarantined" \
    "$(cat "$workdir/daemon.log")"

echo admin-pass | "$web_bin" passwd admin --role admin -c "$workdir/domauth.conf" > /dev/null
echo reader-pass | "$web_bin" passwd reader --role read -c "$workdir/domauth.conf" > /dev/null
"$web_bin" -c "$workdir/domauth.conf" > "$workdir/web.log" 2>&1 &
web_pid=$!
for _ in $(seq 300); do grep -q started "$workdir/web.log" && break; sleep 0.1; done
report "$(yes_if grep -q started "$workdir/web.log")" "domauth-web starts" "$(cat "$workdir/web.log")"

# The events reach the store in the writer's next batch.
for _ in $(seq 300); do
    [ "$("$domauth_bin" log --json --database "$workdir/events.db" 2>/dev/null | wc -l)" = 2 ] && break
    sleep 0.1
done

timeout 120 "$python" "$here/console.py" "http://127.0.0.1:$port" "$workdir" "$artifacts"
rc=$?
if [ "$rc" != 0 ]; then
    echo "# console.py exited $rc; domauth-web's log:"
    sed 's/^/#   /' "$workdir/web.log" | tail -5
fi
# console.py printed its own TAP lines, numbered from 3.
count=$(( count + $(cat "$workdir/tap-count" 2>/dev/null || echo 0) ))
failed=$(( failed + $(cat "$workdir/tap-failed" 2>/dev/null || echo 1) ))

# With [web] cert and key: HTTPS only, Secure cookies, HSTS.
kill "$web_pid"; wait "$web_pid" 2>/dev/null; web_pid=
if command -v openssl >/dev/null && command -v curl >/dev/null; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$workdir/web.key" -out "$workdir/web.pem" \
        -days 1 -subj /CN=127.0.0.1 2>/dev/null
    # Under a [web] header of its own: the settings tests left a [domain] section last.
    printf '[web]\ncert = %s\nkey = %s\n' "$workdir/web.pem" "$workdir/web.key" >> "$workdir/domauth.conf"
    "$web_bin" -c "$workdir/domauth.conf" > "$workdir/web-tls.log" 2>&1 &
    web_pid=$!
    for _ in $(seq 300); do grep -q started "$workdir/web-tls.log" && break; sleep 0.1; done
    headers=$(curl -sk -D - -o /dev/null "https://127.0.0.1:$port/login")
    report "$(yes_if grep -qi '^Set-Cookie: da_login=.*; HttpOnly; SameSite=Strict; Secure' <<<"$headers")" \
        "with a certificate: HTTPS, and the cookies are Secure" "$headers $(cat "$workdir/web-tls.log")"
    report "$(yes_if grep -qi '^Strict-Transport-Security: max-age=' <<<"$headers")" \
        "with a certificate: Strict-Transport-Security"
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/login")
    report "$(yes_if [ "$code" = 000 ])" "with a certificate: no plain HTTP" "$code"
else
    echo "# SKIP the TLS checks: no openssl or curl"
fi
tap_done
