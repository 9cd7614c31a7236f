#!/usr/bin/env python3
"""console.py: the browser half of tests/web/console.sh. Headless Chromium
through Selenium against a running domauth-web (URL), with domauthd's
capturing sendmail writing WORKDIR/released.eml; screenshots go to
ARTIFACTS. Prints TAP lines numbered from 3 and leaves the count and the
failures in WORKDIR/tap-count and WORKDIR/tap-failed."""
import atexit
import os
import re
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, StaleElementReferenceException, WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

base, workdir, artifacts = sys.argv[1], sys.argv[2], sys.argv[3]
count = 2
failed = 0


def report(ok, what, diag=""):
    global count, failed
    count += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", count, what))
    if not ok:
        failed += 1
        for line in str(diag).splitlines()[:15]:
            print("#   " + line)
    sys.stdout.flush()


def stopped(kind, value, tb):
    """An exception the checks did not expect (a wait that ran out on a
    loaded machine, a page without the element) is a failed line with its
    traceback, not a silent end of the TAP output."""
    here = [f for f in traceback.extract_tb(tb) if f.filename == __file__]
    where = "".join(traceback.format_list(here[-3:]))
    report(False, "console.py ran to its end (stopped by %s)" % kind.__name__,
           where + str(value).splitlines()[0] if str(value) else where)


def leave_counts():
    with open(os.path.join(workdir, "tap-count"), "w") as f:
        f.write(str(count - 2))
    with open(os.path.join(workdir, "tap-failed"), "w") as f:
        f.write(str(failed))


sys.excepthook = stopped
atexit.register(leave_counts)


def no_script_ran(driver, page):
    """No alert opened and no element came from a payload."""
    try:
        driver.switch_to.alert.text
        return False
    except NoAlertPresentException:
        pass
    scripts = driver.find_elements(By.TAG_NAME, "script")
    imgs = driver.find_elements(By.TAG_NAME, "img")
    return not scripts and not imgs


def left_document(element):
    """The page the element was on is gone. chromedriver says so either as a
    stale reference or, while the next page is loading, as an inspector
    error ("Node with given id does not belong to the document"), which
    staleness_of does not take for an answer."""
    def check(_driver):
        try:
            element.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
    return check


def go(driver, element):
    """Clicks a link or button and waits for the next page."""
    element.click()
    WebDriverWait(driver, 30).until(left_document(element))
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def history_rows(driver, query, want=1):
    """The History rows of a search, waiting (up to 10 s) for want of them:
    domauthd's event log stores in batches, a tenth of a second apart."""
    for _ in range(50):
        driver.get(base + "/history?" + query)
        rows = driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")
        if len(rows) >= want:
            break
        time.sleep(0.2)
    return rows


def shot(driver, name):
    driver.save_screenshot(os.path.join(artifacts, name + ".png"))


options = webdriver.ChromeOptions()
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(60)
started = time.monotonic()
try:
    driver.get(base + "/")
    report(driver.current_url.endswith("/login"), "an anonymous visit goes to the login page",
           driver.current_url)
    driver.find_element(By.ID, "user").send_keys("admin")
    driver.find_element(By.ID, "password").send_keys("admin-pass")
    shot(driver, "01-login")
    go(driver, driver.find_element(By.ID, "login"))
    report(driver.find_element(By.TAG_NAME, "h1").text == "Status",
           "admin logs in and sees the Status page", driver.page_source[:400])
    daemon = driver.find_element(By.ID, "daemon").text
    report("domauthd up" in daemon and "quarantine 1 message" in daemon,
           "Status: domauthd up, the quarantine holds one message", daemon)
    report(len(driver.find_elements(By.CSS_SELECTOR, "svg.chart")) == 5,
           "Status: five server-drawn SVG charts")
    shot(driver, "02-status")

    go(driver, driver.find_element(By.LINK_TEXT, "History"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")
    report(len(rows) == 2, "History lists both events", len(rows))
    report(no_script_ran(driver, "history"), "History: the hostile sender ran no script")
    field = driver.find_element(By.ID, "f-sender")
    field.send_keys("sender.test")
    go(driver, driver.find_element(By.ID, "search-button"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")
    report(len(rows) == 1 and "192.0.2.66" in rows[0].text,
           "History search by sender finds the one message", [r.text for r in rows])
    report("<script>alert(4)</script>" in rows[0].text if rows else False,
           "the hostile sender shows as text", rows[0].text if rows else "")
    shot(driver, "03-history-search")
    go(driver, rows[0].find_element(By.TAG_NAME, "a"))
    report(driver.find_element(By.TAG_NAME, "h1").text.startswith("Event "),
           "the message's own page opens")
    results = driver.find_element(By.ID, "results").text
    report("temperror" in results and "spf" in results,
           "its page lists every result with its reason", results)
    report(no_script_ran(driver, "event"), "the event page ran no script")
    shot(driver, "04-event")

    go(driver, driver.find_element(By.LINK_TEXT, "Quarantine"))
    links = driver.find_elements(By.CSS_SELECTOR, "a.qview")
    report(len(links) == 1, "the quarantine lists one message")
    shot(driver, "05-quarantine")
    go(driver, links[0])
    headers = driver.find_element(By.ID, "headers").text
    body = driver.find_element(By.ID, "body").text
    report('Subject: <script>alert("xss")</script> invoice' in headers,
           "the hostile Subject shows as text", headers)
    report("<script>alert(3)</script>pay now" in body, "the HTML body shows as plain text", body)
    report(no_script_ran(driver, "view"), "viewing the message ran no script")
    shot(driver, "06-quarantine-view")
    qid = driver.find_element(By.CSS_SELECTOR, "input[name=id]").get_attribute("value")
    go(driver, driver.find_element(By.ID, "release"))
    outcome = driver.find_element(By.ID, "action-results").text
    report("ok: released" in outcome, "Release: domauthd released it", outcome)
    shot(driver, "07-released")
    released = ""
    for _ in range(300):
        if os.path.exists(os.path.join(workdir, "released.eml")):
            released = open(os.path.join(workdir, "released.eml"), errors="replace").read()
            if "pay now" in released:
                break
        time.sleep(0.1)
    report(released.startswith("ARGS: -i -f ") and "-- bob@dest.test" in released.splitlines()[0]
           and "pay now" in released,
           "the message reached sendmail with its original envelope", released[:300])
    driver.get(base + "/quarantine?state=all")
    report("released" in driver.find_element(By.ID, "quarantine").text,
           "the quarantine shows it released")
    driver.get(base + "/history?action=release")
    rows = driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")
    report(len(rows) == 1, "the release is an audit event in the History", len(rows))
    if rows:
        go(driver, rows[0].find_element(By.TAG_NAME, "a"))
        report("by web:admin" in driver.find_element(By.ID, "event").text,
               "the audit event names the console user")
    # The purge: not yet since the start, the next one scheduled; after
    # domauthd's purge (the control socket's purge), its time and count.
    driver.get(base + "/quarantine")
    purge = driver.find_element(By.ID, "purge").text
    report("has not purged since it started" in purge and "Next: " in purge,
           "Quarantine: no purge yet, the next one's time", purge)
    import socket
    ctl = socket.socket(socket.AF_UNIX)
    ctl.connect(os.path.join(workdir, "ctl.sock"))
    ctl.sendall(b"purge\n")
    said = ctl.recv(100)
    ctl.close()
    driver.get(base + "/quarantine")
    purge = driver.find_element(By.ID, "purge").text
    report(said == b"ok\n" and "domauthd's last purge: " in purge and
           "0 messages removed" in purge and "Next: " in purge,
           "Quarantine: domauthd's last purge with its count, and the next", purge)
    go(driver, driver.find_element(By.LINK_TEXT, "Rollout"))
    table = driver.find_element(By.ID, "rollout").text
    report("the running configuration" in table and "reject SPF fail" in table,
           "the Rollout report lists the candidate policies", table)
    report(no_script_ran(driver, "rollout"), "the Rollout report ran no script")
    shot(driver, "08-rollout")
    go(driver, driver.find_element(By.LINK_TEXT, "Records"))
    driver.find_element(By.ID, "f-domain").send_keys("example.org")
    driver.find_element(By.CSS_SELECTOR, "input[name=mx]").click()
    driver.find_element(By.ID, "f-ip4").send_keys("192.0.2.0/24")
    driver.find_element(By.ID, "f-all").send_keys("-")
    go(driver, driver.find_element(By.ID, "wizard-button"))
    record = driver.find_element(By.ID, "wizard-record").text
    report(record == "v=spf1 mx ip4:192.0.2.0/24 -all", "Records: the SPF wizard's record",
           record)
    shot(driver, "09-records")
    go(driver, driver.find_element(By.LINK_TEXT, "Settings"))
    daemon_keys = driver.find_element(By.ID, "settings-daemon").text
    report("domauth.conf:" in daemon_keys and "default" in daemon_keys,
           "Settings: values with their origin (a file line or the default)", daemon_keys[:300])
    shot(driver, "10-settings")

    # Settings editing: domauthd checks the new file, the console renames it
    # over the old one, domauthd reloads and writes the audit event.
    conf_path = os.path.join(workdir, "domauth.conf")
    with open(conf_path, "rb") as f:
        conf_before = f.read()
    driver.get(base + "/")
    reload_before = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#daemon tr")
                     if r.text.startswith("last reload")]
    go(driver, driver.find_element(By.LINK_TEXT, "Settings"))
    go(driver, driver.find_element(By.ID, "edit-spf-temperror_action"))
    field = driver.find_element(By.ID, "f-value")
    report(field.get_attribute("value") == "quarantine",
           "Settings: the change form holds the value from the file", field.get_attribute("value"))
    field.clear()
    field.send_keys("accept")
    go(driver, driver.find_element(By.ID, "change-button"))
    result = driver.find_element(By.ID, "settings-result").text
    report("domauthd: ok: reloaded" in result, "a setting changed in the browser: domauthd "
           "reloaded", result)
    now = driver.find_element(By.ID, "settings-now").text
    report("temperror_action = accept" in now and "domauth.conf:" in now,
           "the page shows the new effective value with its origin", now)
    with open(conf_path, "rb") as f:
        conf_after = f.read()
    report(conf_after == conf_before.replace(b"temperror_action = quarantine",
                                             b"temperror_action = accept"),
           "the file changed in that one line only", conf_after.decode(errors="replace"))
    report(not [n for n in os.listdir(workdir) if n.startswith(".domauth.conf.")],
           "no temporary file is left beside it")
    shot(driver, "11-settings-changed")
    driver.get(base + "/")
    reload_after = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#daemon tr")
                    if r.text.startswith("last reload")]
    report(reload_after and reload_after != reload_before and reload_after[0].endswith(": ok"),
           "Status: the last reload is the change's", (reload_before, reload_after))
    rows = history_rows(driver, "action=config-set")
    report(len(rows) == 1, "the change is an audit event in the History", len(rows))
    if rows:
        go(driver, rows[0].find_element(By.TAG_NAME, "a"))
        event = driver.find_element(By.ID, "event").text
        report("[spf] temperror_action = accept (was quarantine" in event and
               "by web:admin" in event and "settings" in event,
               "the audit event names the user, the key, the old and the new value", event)

    # A value domauthd's check refuses: the file stays byte for byte.
    driver.get(base + "/settings/edit?section=spf&key=fail_action")
    field = driver.find_element(By.ID, "f-value")
    field.clear()
    field.send_keys("bogus")
    go(driver, driver.find_element(By.ID, "change-button"))
    result = driver.find_element(By.ID, "settings-result").text
    with open(conf_path, "rb") as f:
        unchanged = f.read() == conf_after
    report("domauthd's check of the changed file: refused:" in result and "fail_action" in result
           and "domauth.conf:" in result and unchanged,
           "a value domauthd refuses: the error shown, the file byte for byte as it was", result)

    # A domain override, then "reset this domain to the global settings".
    driver.get(base + "/settings/edit?section=domain+dest.test&key=spf_fail_action")
    field = driver.find_element(By.ID, "f-value")
    field.clear()
    field.send_keys("quarantine")
    go(driver, driver.find_element(By.ID, "change-button"))
    result = driver.find_element(By.ID, "settings-result").text
    report("ok: reloaded" in result and "[domain dest.test]" in open(conf_path).read(),
           "a domain override in a new [domain dest.test] section", result)
    row = driver.find_element(By.ID, "k-domain_dest_test-spf_fail_action").text
    report("quarantine" in row and "this domain" in row, "the domain's own value shows", row)
    go(driver, driver.find_element(By.ID, "reset-dest_test"))
    result = driver.find_element(By.ID, "settings-result").text
    row = driver.find_element(By.ID, "k-domain_dest_test-spf_fail_action").text \
        if driver.find_elements(By.ID, "k-domain_dest_test-spf_fail_action") else ""
    report("reset to the global settings" in result and "ok: reloaded" in result and
           "spf_fail_action = quarantine" not in open(conf_path).read(),
           "reset: the override removed, domauthd reloaded", result)
    rows = history_rows(driver, "action=config-reset&domain=dest.test")
    report(len(rows) == 1, "the reset is an audit event for that domain", len(rows))
    go(driver, driver.find_element(By.ID, "logout"))
    report(driver.current_url.endswith("/login"), "logout returns to the login page")
finally:
    driver.quit()
browser_seconds = time.monotonic() - started

# --- the same checks at the HTTP level, for what a browser would not send.
jar = {}


def http(method, path, data=None, cookies=None):
    req = urllib.request.Request(base + path, method=method)
    if data is not None:
        req.data = urllib.parse.urlencode(data).encode()
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    if cookies:
        req.add_header("Cookie", "; ".join("%s=%s" % kv for kv in cookies.items()))

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        resp = opener.open(req, timeout=60)
        status, headers, body = resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, e.headers, e.read().decode()
    found = {}
    for h in headers.get_all("Set-Cookie") or []:
        name, _, rest = h.partition("=")
        found[name] = rest.split(";")[0]
    return status, body, found


def log_in(user, password, ip_note=""):
    status, body, c = http("GET", "/login")
    token = re.search(r'name="login_token" value="([^"]+)"', body).group(1)
    status, body, c2 = http("POST", "/login", {"login_token": token, "user": user,
                                               "password": password}, c)
    c.update(c2)
    return status, body, c


status, _, reader = log_in("reader", "reader-pass")
report(status == 303 and "da_session" in reader, "the read-only user logs in")
status, body, _ = http("GET", "/quarantine?state=all", cookies=reader)
token = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
report("release-selected" not in body, "a reader gets no release or delete buttons")
status, body, _ = http("POST", "/quarantine/action", {"action": "delete", "id": "x",
                                                      "csrf": token}, reader)
report(status == 403 and "admin role" in body, "a reader's delete is refused (403)", status)
status, body, _ = http("POST", "/settings/change", {"section": "policy", "key": "monitor",
                                                    "value": "yes", "csrf": token}, reader)
report(status == 403 and "admin role" in body, "a reader's settings change is refused (403)",
       status)
status, _, admin = log_in("admin", "admin-pass")
status, body, _ = http("POST", "/quarantine/action", {"action": "delete", "id": "x"}, admin)
report(status == 403 and "CSRF" in body, "an admin POST without the CSRF token is refused",
       status)
status, body, _ = http("POST", "/quarantine/action", {"action": "delete", "id": "x",
                                                      "csrf": token}, admin)
report(status == 403, "another session's CSRF token is refused too", status)
# Each wait doubles from 1 s; a slow build (the sanitizers: a hash takes
# longer than the first waits) sees the 429 a few attempts later.
statuses = []
throttled_body, window_start = "", time.monotonic()
while len(statuses) < 10 and 429 not in statuses:
    sent = time.monotonic()
    status, throttled_body, _ = log_in("admin", "wrong")
    statuses.append(status)
    if status == 401:
        window_start = sent  # the server's window starts no earlier than this
report(statuses[:4] == [401, 401, 401, 401] and statuses[-1] == 429,
       "wrong passwords: throttled (429) after the fourth", statuses)
status, body, _ = log_in("admin", "admin-pass")
# The window that answered 429 lasts the seconds it names from the last
# failure; on a loaded machine the next attempt can arrive after it, and
# then proves nothing.
m = re.search(r"wait (\d+) seconds", throttled_body)
window = int(m.group(1)) if m else 0
if status != 429 and time.monotonic() - window_start >= window:
    count += 1
    print("ok %d - while throttled, the right password waits too # SKIP it arrived after the "
          "%d s window" % (count, window))
else:
    report(status == 429 and "wait" in body, "while throttled, the right password waits too",
           status)
status, body, _ = http("POST", "/login", {"x": "y" * 70000})
report(status == 413, "a body over 64 KiB is refused (413)", status)
print("# the browser part took %.1f s" % browser_seconds)
shots = sorted(f for f in os.listdir(artifacts) if f.endswith(".png"))
report(len(shots) == 11, "eleven screenshots kept in %s" % artifacts, shots)
sys.exit(1 if failed else 0)
