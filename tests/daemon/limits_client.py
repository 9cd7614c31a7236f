#!/usr/bin/env python3
"""limits_client.py: clients that push domauthd's session bounds, for
tests/daemon/limits.sh (and the figures of issue 18): a DNS server that never
answers, a flood after a request, pipelined requests whose replies must come
back complete and in order, idle and half-sent sessions, and listeners
filled to their limit. Each command prints one JSON object."""
import json
import random
import select
import socket
import struct
import sys
import threading
import time

# The MTA side's framing, from the milter test client beside this file
# (no __pycache__ left in the source tree).
sys.dont_write_bytecode = True
from milter_client import ALL_ACTIONS, ALL_PROTOCOL, frame, read_frame  # noqa: E402


def unix(path, timeout=5.0):
    """Connects, waiting while the listen queue is full (EAGAIN on unix
    sockets) rather than failing."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def policy_request(state="RCPT", client="192.0.2.10", sender="alice@example.com", extra=""):
    return ("request=smtpd_access_policy\nprotocol_state=%s\nprotocol_name=ESMTP\n"
            "client_address=%s\nclient_name=mail.example.com\nhelo_name=mail.example.com\n"
            "sender=%s\nrecipient=bob@example.net\ninstance=%s\n%s\n"
            % (state, client, sender, "i%d" % random.randrange(1 << 30), extra)).encode()


def milter_optneg(sock):
    """Negotiates as an MTA; True when the filter answers with its own O."""
    sock.sendall(frame(b"O", struct.pack(">III", 6, ALL_ACTIONS, ALL_PROTOCOL)))
    try:
        letter, _ = read_frame(sock)
    except EOFError:
        return False
    return letter == b"O"


def closed_within(sock, seconds):
    """Seconds until the peer closed (EOF or reset), or None if still open."""
    start = time.monotonic()
    sock.settimeout(0.05)
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - start
    return None


def still_open(sock):
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


# ---- commands ---------------------------------------------------------


def cmd_blackhole(args):
    """A DNS server on 127.0.0.1 that reads questions and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    print(json.dumps({"port": s.getsockname()[1]}), flush=True)
    while True:
        s.recvfrom(4096)


def cmd_fill(args):
    """Opens `fill` connections to one listener, then `extra` more (counting
    those closed at once: refused), then probes the milter listener."""
    policy, milter, kind = args["policy"], args["milter"], args.get("kind", "policy")
    target = policy if kind == "policy" else milter
    held, refused, accepted_extra = [], 0, 0
    for _ in range(args["fill"]):
        s = unix(target)
        if kind == "milter":
            try:
                if not milter_optneg(s):
                    refused += 1
            except OSError:  # closed with our frame unread: a reset
                refused += 1
        held.append(s)
    time.sleep(0.3)
    fill_open = sum(1 for s in held if still_open(s))
    extras = [unix(target) for _ in range(args.get("extra", 0))]
    for s in extras:
        if closed_within(s, 2.0) is not None:
            refused += 1
        else:
            accepted_extra += 1
        s.close()
    m = unix(milter)
    try:
        milter_ok = milter_optneg(m)
    except OSError:
        milter_ok = False
    m.close()
    for s in held:
        s.close()
    print(json.dumps({"fill_open": fill_open, "extra_refused": refused,
                      "extra_accepted": accepted_extra, "milter_ok": milter_ok}))


def cmd_timeouts(args):
    """Idle, half-sent and active sessions side by side; seconds until each
    was closed by domauthd (None: still open when the test gave up)."""
    policy, milter, idle, request = args["policy"], args["milter"], args["idle"], args["request"]
    out = {}
    wait = idle + 3

    def policy_idle():
        out["policy_idle"] = closed_within(unix(policy), wait)

    def policy_slowloris():
        s = unix(policy)
        s.sendall(b"request=smtpd_access_policy\n")
        start = time.monotonic()
        s.settimeout(0.25)
        while time.monotonic() - start < wait:
            try:
                if s.recv(100) == b"":
                    break
            except socket.timeout:
                pass
            except OSError:
                break
            try:
                s.sendall(b"x")
            except OSError:
                break
        else:
            out["policy_slowloris"] = None
            return
        out["policy_slowloris"] = time.monotonic() - start

    def policy_active():
        s = unix(policy)
        start, replies, ok = time.monotonic(), 0, True
        while time.monotonic() - start < idle + 1.5:
            try:
                s.sendall(policy_request(state="CONNECT"))
                if not s.recv(4096).startswith(b"action=DUNNO"):
                    ok = False
                    break
                replies += 1
            except OSError:
                ok = False
                break
            time.sleep(1.0)
        out["policy_active_open"] = ok and still_open(s)
        out["policy_active_seconds"] = time.monotonic() - start
        out["policy_active_replies"] = replies
        s.close()

    def milter_idle():
        s = unix(milter)
        if not milter_optneg(s):
            out["milter_idle"] = "refused"
            return
        out["milter_idle"] = closed_within(s, wait)

    def milter_half():
        s = unix(milter)
        s.sendall(struct.pack(">I", 100) + b"O" + b"\0" * 9)
        out["milter_half"] = closed_within(s, wait)

    threads = [threading.Thread(target=f) for f in
               (policy_idle, policy_slowloris, policy_active, milter_idle, milter_half)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out))


def cmd_flood(args):
    """One request whose check stays pending, then as many bytes as the
    daemon takes for `seconds`; its RSS before and after."""
    pid, seconds, cap = args["pid"], args["seconds"], args.get("max_bytes", 1 << 30)
    s = unix(args["policy"])
    s.sendall(policy_request(sender="flood@flood.example"))
    time.sleep(0.3)  # the check is pending now
    before = rss_kb(pid)
    chunk = b"a" * 65536
    sent, start = 0, time.monotonic()
    s.setblocking(False)
    while time.monotonic() - start < seconds and sent < cap:
        _, writable, _ = select.select([], [s], [], 0.05)
        if not writable:
            continue
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            continue
        except OSError:
            break
    elapsed = time.monotonic() - start
    after = rss_kb(pid)
    s.close()
    print(json.dumps({"sent": sent, "seconds": elapsed, "rss_before_kb": before,
                      "rss_after_kb": after, "growth_kb": after - before}))


def cmd_noread(args):
    """Requests answered at once, sent for `seconds` by a client that never
    reads a reply; the daemon's RSS before and after."""
    pid, seconds = args["pid"], args["seconds"]
    s = unix(args["policy"])
    blob = b"".join(policy_request(state="CONNECT") for _ in range(300))
    time.sleep(0.2)
    before = rss_kb(pid)
    sent, start = 0, time.monotonic()
    s.setblocking(False)
    view = memoryview(blob)
    offset = 0
    while time.monotonic() - start < seconds:
        _, writable, _ = select.select([], [s], [], 0.05)
        if not writable:
            continue
        try:
            n = s.send(view[offset:])
        except BlockingIOError:
            continue
        except OSError:
            break
        sent += n
        offset = (offset + n) % len(blob)
    after = rss_kb(pid)
    s.close()
    print(json.dumps({"sent": sent, "seconds": time.monotonic() - start, "rss_before_kb": before,
                      "rss_after_kb": after, "growth_kb": after - before}))


def cmd_order(args):
    """A request whose check stays pending, then `count` requests sent at
    once, each answered at once (DUNNO, or DEFER_IF_PERMIT for a malformed
    one, in a random pattern): every reply must come back, in order."""
    count = args["count"]
    rng = random.Random(18)
    pattern = [rng.random() < 0.0625 for _ in range(count)]  # True: malformed
    s = unix(args["policy"], timeout=20)
    s.sendall(policy_request(sender="order@order.example"))
    requests = b"".join(b"bogus line %d\n\n" % i if bad else policy_request(state="CONNECT")
                        for i, bad in enumerate(pattern))

    def send():
        try:
            s.sendall(requests)
        except OSError:
            pass

    sender = threading.Thread(target=send)
    start = time.monotonic()
    sender.start()
    buf, replies = b"", []
    while len(replies) < count + 1:
        try:
            chunk = s.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            reply, buf = buf.split(b"\n\n", 1)
            replies.append(reply.decode(errors="replace"))
    sender.join()
    s.close()
    expected = ["action=DEFER_IF_PERMIT domauth: malformed policy request" if bad
                else "action=DUNNO" for bad in pattern]
    mismatches = [i for i, (got, want) in enumerate(zip(replies[1:], expected)) if got != want]
    print(json.dumps({"requests": count + 1, "bytes": len(requests), "replies": len(replies),
                      "first": replies[0] if replies else None,
                      "mismatches": len(mismatches), "first_mismatch": mismatches[:1],
                      "seconds": time.monotonic() - start}))


COMMANDS = {"blackhole": cmd_blackhole, "fill": cmd_fill, "timeouts": cmd_timeouts,
            "flood": cmd_flood, "noread": cmd_noread, "order": cmd_order}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
