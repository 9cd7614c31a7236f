#!/usr/bin/env python3
"""history_timing.py: page load times of the console's History, measured by
the browser (Navigation Timing: responseEnd and loadEventEnd of each
navigation), over a running domauth-web. Not part of meson test; the
numbers in doc/domauth-web.8 come from it:

  build/tests/fill_events DB 1000000
  domauth-web -c CONF &            # [daemon] database = DB
  tests/web/history_timing.py http://127.0.0.1:8896 USER PASSWORD [N]

Loads N times each: the first page, a page 20 pages deep (following
"Older" links), and searches (a sender, a result, a client network);
prints p50/p99 of the load time per kind."""
import statistics
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 50
options = webdriver.ChromeOptions()
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def load(url):
    driver.get(url)
    t = driver.execute_script(
        "const e = performance.getEntriesByType('navigation')[0];"
        "return [e.loadEventEnd - e.startTime, e.responseEnd - e.requestStart];")
    return t


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


try:
    driver.get(base + "/login")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    deep = base + "/history"
    for _ in range(20):
        driver.get(deep)
        deep = driver.find_element(By.ID, "next").get_attribute("href")
    kinds = {
        "first page": base + "/history",
        "page 21 (keyset)": deep,
        "sender search": base + "/history?sender=billing%40bank",
        "result=fail": base + "/history?result=fail",
        "client /16": base + "/history?client=198.51.0.0%2F16",
        "method dkim fail": base + "/history?method=dkim&result=fail",
    }
    print("%-20s %8s %8s %8s %8s  (ms, n=%d)" % ("History", "p50", "p99", "srv p50", "srv p99", n))
    for name, url in kinds.items():
        load(url)  # warm
        runs = [load(url) for _ in range(n)]
        total = [r[0] for r in runs]
        server = [r[1] for r in runs]
        rows = len(driver.find_elements(By.CSS_SELECTOR, "#events tbody tr"))
        print("%-20s %8.1f %8.1f %8.1f %8.1f  (%d rows)" % (name, pct(total, 50), pct(total, 99),
                                                             pct(server, 50), pct(server, 99), rows))
finally:
    driver.quit()
