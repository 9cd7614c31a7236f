#!/bin/bash
# status_timing.sh: the Status page's first load (its charts not yet
# cached: domauth-web just started) over an event database, measured in
# headless Chromium (Navigation Timing), N rounds, each with a fresh
# domauth-web. Not part of meson test; doc/domauth-web.8 (PERFORMANCE)
# quotes it:
#   build/tests/fill_events DB 1000000
#   tests/web/status_timing.sh DB [N]
# Prints each round's load and server time, then p50/p99.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
web_bin=${DOMAUTH_WEB_BIN:-$repo_root/build/web/domauth-web}
db=$1
n=${2:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/domauth-status-timing.XXXXXX")
web_pid=
trap '[ -n "$web_pid" ] && kill "$web_pid" 2>/dev/null; rm -rf "$work"' EXIT
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/domauth.conf" <<CONF
[daemon]
database = $db
control = unix:$work/no-daemon.sock
quarantine_dir = $work/q
[web]
listen = 127.0.0.1:$port
users = $work/users
CONF
echo timing-pass | "$web_bin" passwd admin --role admin -c "$work/domauth.conf" > /dev/null
for i in $(seq "$n"); do
    "$web_bin" -c "$work/domauth.conf" > "$work/web.log" 2>&1 &
    web_pid=$!
    for _ in $(seq 100); do grep -q started "$work/web.log" && break; sleep 0.1; done
    echo "round $i"
    # A new process each round, so each load is a first one; wait for
    # the browser's result before stopping it.
    /usr/bin/python3 - "http://127.0.0.1:$port" >> "$work/times" <<'PY'
import sys
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
base = sys.argv[1]
o = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
    o.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
d.set_page_load_timeout(120)
d.get(base + "/login")
d.find_element(By.ID, "user").send_keys("admin")
d.find_element(By.ID, "password").send_keys("timing-pass")
d.find_element(By.ID, "login").click()      # the redirect to / is the first load
d.find_element(By.ID, "daemon")
t = d.execute_script("const e = performance.getEntriesByType('navigation')[0];"
                     "return [e.loadEventEnd - e.startTime, e.responseEnd - e.requestStart];")
print("%.0f %.0f" % (t[0], t[1]))
d.quit()
PY
    kill "$web_pid"; wait "$web_pid" 2>/dev/null; web_pid=
done
/usr/bin/python3 - "$work/times" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
for r in rows:
    print("load %6.0f ms  server %6.0f ms" % r)
load = [r[0] for r in rows]; server = [r[1] for r in rows]
print("Status first load, %d rounds: load p50 %.0f p99 %.0f ms; server p50 %.0f p99 %.0f ms"
      % (len(rows), pct(load, 50), pct(load, 99), pct(server, 50), pct(server, 99)))
PY
