#!/usr/bin/env python3
"""metrics_client.py: the scraper side of tests/daemon/metrics.sh.

  scrape HOST PORT       GET /metrics; checks the response and the text
                         exposition format 0.0.4 strictly (HELP and TYPE once
                         per family and before its samples, names and label
                         sets well formed and unique, histogram buckets
                         cumulative, +Inf equal to _count); prints one JSON
                         object {"name{label=value,...}": number} or exits 1
                         with what is wrong.
  raw HOST PORT HEXBYTES sends the bytes, prints the status line received
                         ("closed" when the connection ends without one).
  hold HOST PORT N       opens N connections, sends nothing, prints how many
                         the server closed within 1 s, then closes them.
  compare METRICS EVENTS [FIRST]
                         the counts of a scrape (METRICS: what scrape
                         printed) against the events of EVENTS (JSON lines
                         as event_log or `domauth log --json` write them,
                         from line FIRST on): messages, checked, skips by
                         reason, SPF and DKIM results, actions, and one
                         message timing per checked message, one SPF timing
                         per checked message with an SPF result. Prints what
                         differs and exits 1, or "same: ..." and exits 0.
Python 3 standard library only.
"""
import json
import re
import socket
import sys
import time

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def fail(why):
    print("metrics_client: " + why, file=sys.stderr)
    sys.exit(1)


def http_get(host, port, path):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/plain\r\n\r\n" %
               (path, host, port)).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return lines[0], headers, body


def parse(text):
    families = {}  # name -> type
    helped = set()
    samples = {}
    current = None
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not NAME.match(parts[2]):
                fail("line %d: bad comment: %r" % (n, line))
            name = parts[2]
            if parts[1] == "HELP":
                if name in helped:
                    fail("line %d: a second HELP for %s" % (n, name))
                helped.add(name)
            else:
                if name in families:
                    fail("line %d: a second TYPE for %s" % (n, name))
                if parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    fail("line %d: type %r" % (n, parts[3]))
                families[name] = parts[3]
            current = name
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            fail("line %d: not a sample: %r" % (n, line))
        name, labels, value = m.group(1), m.group(3) or "", m.group(4)
        base = re.sub(r"_(bucket|sum|count)$", "", name) if current and \
            families.get(current) == "histogram" else name
        if base != current or current not in families or current not in helped:
            fail("line %d: %s without its HELP and TYPE just before" % (n, name))
        if families[current] == "counter" and not name.endswith("_total"):
            fail("line %d: counter %s does not end in _total" % (n, name))
        pairs = []
        rest = labels
        while rest:
            lm = LABEL.match(rest)
            if not lm:
                fail("line %d: bad labels %r" % (n, labels))
            pairs.append((lm.group(1), lm.group(2)))
            rest = rest[lm.end():]
            if rest.startswith(","):
                rest = rest[1:]
            elif rest:
                fail("line %d: bad labels %r" % (n, labels))
        key = name + ("{" + ",".join("%s=%s" % p for p in pairs) + "}" if pairs else "")
        if key in samples:
            fail("line %d: %s twice" % (n, key))
        try:
            samples[key] = float(value)
        except ValueError:
            fail("line %d: value %r" % (n, value))
    # Histograms: cumulative buckets, +Inf == _count.
    for name, kind in families.items():
        if kind != "histogram":
            continue
        series = {}
        for key, v in samples.items():
            m = re.match(re.escape(name) + r"_bucket\{(.*),le=([^,}]*)\}$", key)
            if m:
                series.setdefault(m.group(1), []).append((m.group(2), v))
        if not series:
            fail("histogram %s has no buckets" % name)
        for labels, buckets in series.items():
            last = -1
            bounds = [float("inf") if le == "+Inf" else float(le) for le, _ in buckets]
            if bounds != sorted(bounds) or bounds[-1] != float("inf"):
                fail("%s{%s}: buckets out of order or no +Inf" % (name, labels))
            for le, v in buckets:
                if v < last:
                    fail("%s{%s}: bucket le=%s not cumulative" % (name, labels, le))
                last = v
            count = samples.get("%s_count{%s}" % (name, labels))
            if count != last:
                fail("%s{%s}: +Inf %s but _count %s" % (name, labels, last, count))
            if "%s_sum{%s}" % (name, labels) not in samples:
                fail("%s{%s}: no _sum" % (name, labels))
    return samples


# The metrics' families that count events, with every label value served.
EVENT_FAMILIES = ("domauth_messages_total", "domauth_checked_total",
                  "domauth_not_checked_total", "domauth_skipped_total",
                  "domauth_spf_results_total", "domauth_dkim_results_total",
                  "domauth_actions_total")


def compare(metrics_path, events_path, first):
    m = json.load(open(metrics_path))
    events = []
    with open(events_path) as f:
        for n, line in enumerate(f, 1):
            if n >= first and line.strip():
                events.append(json.loads(line))
    want = {}

    def add(k):
        want[k] = want.get(k, 0) + 1
    for e in events:
        add("domauth_messages_total")
        skip = e.get("skip_reason")
        checked = not skip or skip == "sender-whitelisted"
        if skip:
            add("domauth_skipped_total{reason=%s}" % skip)
        add("domauth_checked_total" if checked else "domauth_not_checked_total")
        if checked:
            add("domauth_check_duration_seconds_count{check=message}")
        results = e.get("results") or []
        if checked and any(r.get("method") == "spf" for r in results):
            add("domauth_check_duration_seconds_count{check=spf}")
        for r in results:
            if r.get("method") in ("spf", "dkim"):
                add("domauth_%s_results_total{result=%s}" % (r["method"], r["result"]))
        action = e.get("action")
        add("domauth_actions_total{action=%s}" % ("accept" if action == "redirect" else action))
    bad = ["%s: metrics %s, events %s" % (k, m.get(k), v)
           for k, v in sorted(want.items()) if m.get(k) != v]
    for k, v in sorted(m.items()):
        if k.split("{")[0] in EVENT_FAMILIES and k not in want and v != 0:
            bad.append("%s: metrics %s, events none" % (k, v))
    if bad:
        print("\n".join(bad))
        return 1
    print("same: %s" % " ".join("%s=%d" % kv for kv in sorted(want.items())))
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1))
    host, port = sys.argv[2], int(sys.argv[3])
    if cmd == "scrape":
        status, headers, body = http_get(host, port, "/metrics")
        if status != "HTTP/1.1 200 OK":
            fail("status %r" % status)
        if headers.get("content-type") != "text/plain; version=0.0.4; charset=utf-8":
            fail("content-type %r" % headers.get("content-type"))
        if int(headers.get("content-length", -1)) != len(body):
            fail("content-length %s for %d bytes" % (headers.get("content-length"), len(body)))
        print(json.dumps(parse(body.decode())))
    elif cmd == "raw":
        s = socket.create_connection((host, port), timeout=5)
        try:
            s.sendall(bytes.fromhex(sys.argv[4]))
        except OSError:
            pass
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        s.close()
        print(data.split(b"\r\n")[0].decode() if b"\r\n" in data else "closed")
    elif cmd == "hold":
        conns = [socket.create_connection((host, port), timeout=5)
                 for _ in range(int(sys.argv[4]))]
        time.sleep(1)
        closed = 0
        for c in conns:
            c.setblocking(False)
            try:
                if c.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        for c in conns:
            c.close()
        print(closed)


if __name__ == "__main__":
    main()
