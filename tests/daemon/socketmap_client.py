#!/usr/bin/env python3
"""socketmap_client.py: a Postfix socketmap client for
tests/daemon/srs_socketmap.sh: netstrings over a unix socket, one request
and one reply at a time as Postfix sends them, or raw bytes to see what a
malformed stream gets. Each command prints one JSON object.

  query SOCK NAME KEY [NAME KEY]...   the replies, on one connection
  pipeline SOCK N NAME KEY            N requests in one write, replies in order
  raw SOCK BYTES                      BYTES (Python escapes) then the replies
                                      until the daemon closes or 1 s of quiet
  slow SOCK BYTES                     BYTES, then silence: seconds until closed
  bench SOCK SECONDS [CONNS]          forward lookups in a loop on CONNS
                                      connections (threads): lookups per second
"""
import json
import socket
import sys
import threading
import time


def connect(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def netstring(payload):
    return str(len(payload)).encode() + b":" + payload + b","


class Reader:
    """Reads netstrings from a socket; None when it closes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def next(self):
        while True:
            colon = self.buf.find(b":")
            if colon > 0:
                length = int(self.buf[:colon])
                end = colon + 1 + length
                if len(self.buf) > end:
                    if self.buf[end:end + 1] != b",":
                        raise ValueError("no comma after netstring: %r" % self.buf[:end + 1])
                    payload = self.buf[colon + 1:end]
                    self.buf = self.buf[end + 1:]
                    return payload.decode("utf-8", "replace")
            if not self.fill():
                return None


def cmd_query(path, pairs):
    s = connect(path)
    r = Reader(s)
    replies = []
    for name, key in pairs:
        s.sendall(netstring((name + " " + key).encode()))
        replies.append(r.next())
    s.close()
    return {"replies": replies}


def cmd_pipeline(path, n, name, key):
    s = connect(path)
    s.sendall(netstring((name + " " + key).encode()) * n)
    r = Reader(s)
    replies = [r.next() for _ in range(n)]
    s.close()
    return {"count": len(replies), "distinct": sorted(set(replies))}


def cmd_raw(path, data):
    """Sends data; reads replies until the daemon closes, or for a second
    of quiet (less than any timeout the test sets: then it is open)."""
    s = connect(path, timeout=1.0)
    s.sendall(data)
    r = Reader(s)
    replies = []
    closed = False
    try:
        while True:
            p = r.next()
            if p is None:
                closed = True
                break
            replies.append(p)
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    return {"replies": replies, "closed": closed}


def cmd_slow(path, data):
    s = connect(path, timeout=20.0)
    s.sendall(data)
    start = time.monotonic()
    try:
        rest = s.recv(65536)
    except ConnectionResetError:
        rest = b""
    return {"closed_after": round(time.monotonic() - start, 2), "got": rest.decode("latin-1")}


def cmd_bench(path, seconds, conns):
    counts = [0] * conns
    errors = []
    deadline = time.monotonic() + seconds

    def run(i):
        try:
            s = connect(path)
            r = Reader(s)
            n = 0
            while time.monotonic() < deadline:
                s.sendall(netstring(b"forward user%d@example.org" % (n % 1000)))
                reply = r.next()
                if reply is None or not reply.startswith("OK "):
                    errors.append(reply)
                    return
                n += 1
            counts[i] = n
            s.close()
        except OSError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return {"lookups": sum(counts), "seconds": round(elapsed, 2),
            "per_second": round(sum(counts) / elapsed), "errors": errors[:3]}


def main(argv):
    cmd, path = argv[1], argv[2]
    if cmd == "query":
        rest = argv[3:]
        out = cmd_query(path, list(zip(rest[0::2], rest[1::2])))
    elif cmd == "pipeline":
        out = cmd_pipeline(path, int(argv[3]), argv[4], argv[5])
    elif cmd == "raw":
        out = cmd_raw(path, argv[3].encode("latin-1").decode("unicode_escape").encode("latin-1"))
    elif cmd == "slow":
        out = cmd_slow(path, argv[3].encode())
    elif cmd == "bench":
        out = cmd_bench(path, float(argv[3]), int(argv[4]) if len(argv) > 4 else 1)
    else:
        raise SystemExit("unknown command " + cmd)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
