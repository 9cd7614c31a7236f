#!/usr/bin/env python3
"""fake_dns.py: a misbehaving DNS server for tests/integration/async_dns.sh.

Python 3 standard library only. Listens on UDP and TCP at ADDR PORT and
answers according to the first label of the question name, letters then an
optional number ("randtail", "slow3"):

  good       NOERROR; TXT "v=spf1 ip4:192.0.2.0/24 -all" (empty for other types)
  servfail   RCODE 2, no records
  refused    RCODE 5, no records
  drop       never answers
  random     random bytes (random length), nothing of the query kept
  randtail   the query's ID, flags and question, then random bytes; ANCOUNT 1-20
  wrongid    a good answer under another ID
  wrongq     a good answer, right ID, for another question name
  short      the first 7 bytes of a good answer (a truncated header)
  counts     a good answer whose header claims 5 answers and 3 additionals
  loop       the answer's owner name is a compression pointer to itself
  loopb      two compression pointers that point at each other
  ptrfwd     the answer's owner name points past the end of the message
  rdlen      an answer whose RDLENGTH runs past the end of the message
  txtlen     a TXT record whose string length runs past its RDLENGTH
  label      an answer with a 64-byte label (labels stop at 63)
  tcclose    UDP: TC=1 and no records; TCP: reads the query, closes
  tcjunk     UDP: TC=1 and no records; TCP: a length prefix then random bytes
  tcgood     UDP: TC=1 and no records; TCP: the good answer (TCP works)
  slowN      after --delay ms: the TXT record "v=spf1 include:slow(N+1).REST -all"
             while N+1 < the number in the second label ("slow0.len4.x"),
             else "v=spf1 +all"

--all MODE answers every name in that mode. Writes "ready" on stdout once both sockets listen; logs one line per query on
stderr. Stops on SIGTERM/SIGINT.
"""
import argparse
import heapq
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import time

GOOD_TXT = b"v=spf1 ip4:192.0.2.0/24 -all"
TYPE_TXT = 16


def parse_query(data):
    """(id, flags, question bytes, labels, qtype) or None."""
    if len(data) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if qd < 1:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(data):
            return None
        n = data[pos]
        if n == 0:
            pos += 1
            break
        if n > 63 or pos + 1 + n > len(data):
            return None
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace").lower())
        pos += 1 + n
    if pos + 4 > len(data):
        return None
    qtype = struct.unpack("!H", data[pos:pos + 2])[0]
    return qid, flags, data[12:pos + 4], labels, qtype


def header(qid, rcode=0, an=0, ns=0, ar=0, tc=False, qd=1):
    flags = 0x8000 | 0x0400 | rcode  # QR, AA
    if tc:
        flags |= 0x0200
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def txt_rdata(text):
    out = b""
    while True:
        out += bytes([min(len(text), 255)]) + text[:255]
        text = text[255:]
        if not text:
            return out


def rr(owner, rtype, rdata, ttl=60):
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def encode_name(labels):
    return b"".join(bytes([len(l)]) + l.encode() for l in labels) + b"\0"


def good_answer(qid, question, qtype, text=GOOD_TXT, an_claim=None, ar_claim=0):
    records = [rr(b"\xc0\x0c", TYPE_TXT, txt_rdata(text))] if qtype == TYPE_TXT else []
    an = len(records) if an_claim is None else an_claim
    return header(qid, an=an, ar=ar_claim) + question + b"".join(records)


class Server:
    def __init__(self, addr, port, delay_ms, rng, force_mode=None):
        self.delay = delay_ms / 1000.0
        self.force_mode = force_mode
        self.rng = rng
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.udp.bind((addr, port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((addr, port))
        self.tcp.listen(64)
        self.conns = {}  # socket -> bytes read so far
        self.pending = []  # heap of (due, seq, payload, peer)
        self.seq = 0

    def log(self, *words):
        print(" ".join(str(w) for w in words), file=sys.stderr, flush=True)

    def reply(self, data, over_tcp):
        """The reply (bytes), None for none, or ("later", bytes)."""
        q = parse_query(data)
        if q is None:
            return None
        qid, _flags, question, labels, qtype = q
        m = re.match(r"^([a-z]+)(\d*)$", labels[0] if labels else "")
        mode = m.group(1) if m else ""
        number = int(m.group(2)) if m and m.group(2) else 0
        if self.force_mode:
            mode = self.force_mode
        self.log("query", ".".join(labels), qtype, "tcp" if over_tcp else "udp", mode)
        rnd = self.rng
        if mode == "good":
            return good_answer(qid, question, qtype)
        if mode == "servfail":
            return header(qid, rcode=2) + question
        if mode == "refused":
            return header(qid, rcode=5) + question
        if mode == "drop":
            return None
        if mode == "random":
            return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600)))
        if mode == "randtail":
            tail = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400)))
            return header(qid, an=rnd.randrange(1, 21)) + question + tail
        if mode == "wrongid":
            return good_answer(qid ^ 0x5A5A, question, qtype)
        if mode == "wrongq":
            other = encode_name(["other"] + labels[1:]) + question[-4:]
            return header(qid) + other + rr(b"\xc0\x0c", TYPE_TXT, txt_rdata(b"v=spf1 +all"))
        if mode == "short":
            return good_answer(qid, question, qtype)[:7]
        if mode == "counts":
            return good_answer(qid, question, qtype, an_claim=5, ar_claim=3)
        if mode in ("loop", "loopb", "ptrfwd", "rdlen", "txtlen", "label"):
            base = header(qid, an=1) + question
            off = len(base)
            if mode == "loop":  # a pointer to itself
                owner = struct.pack("!H", 0xC000 | off)
            elif mode == "loopb":  # label "x" then a pointer back to that label
                owner = b"\x01x" + struct.pack("!H", 0xC000 | off)
            elif mode == "ptrfwd":
                owner = struct.pack("!H", 0xC000 | 0x3F00)
            elif mode == "label":
                owner = b"\x40" + b"a" * 64 + b"\xc0\x0c"
            else:
                owner = b"\xc0\x0c"
            if mode == "rdlen":
                return base + owner + struct.pack("!HHIH", TYPE_TXT, 1, 60, 400) + txt_rdata(GOOD_TXT)
            if mode == "txtlen":
                rdata = bytes([200]) + GOOD_TXT
                return base + owner + struct.pack("!HHIH", TYPE_TXT, 1, 60, len(rdata)) + rdata
            return base + rr(owner, TYPE_TXT, txt_rdata(b"v=spf1 +all"))
        if mode in ("tcclose", "tcjunk", "tcgood"):
            if not over_tcp:
                return header(qid, tc=True) + question
            if mode == "tcclose":
                return b""
            if mode == "tcjunk":
                return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
            return good_answer(qid, question, qtype)
        if mode == "slow":
            limit = 0
            if len(labels) > 1:
                m2 = re.match(r"^[a-z]+(\d+)$", labels[1])
                limit = int(m2.group(1)) if m2 else 0
            if number + 1 < limit:
                target = ".".join(["slow%d" % (number + 1)] + labels[1:])
                text = ("v=spf1 include:%s -all" % target).encode()
            else:
                text = b"v=spf1 +all"
            return ("later", good_answer(qid, question, qtype, text=text))
        # Anything else: NXDOMAIN.
        return header(qid, rcode=3) + question

    def send_udp(self, payload, peer):
        try:
            self.udp.sendto(payload, peer)
        except OSError as e:
            self.log("sendto failed:", e)

    def send_tcp(self, conn, payload):
        try:
            if payload:
                conn.sendall(struct.pack("!H", len(payload)) + payload)
        except OSError as e:
            self.log("tcp send failed:", e)

    def handle(self, data, over_tcp, peer=None, conn=None):
        out = self.reply(data, over_tcp)
        if isinstance(out, tuple):
            self.seq += 1
            heapq.heappush(self.pending, (time.monotonic() + self.delay, self.seq, out[1],
                                          peer, conn))
            return
        if out is None:
            return
        if over_tcp:
            self.send_tcp(conn, out)
            if out == b"":
                self.close(conn)
        else:
            self.send_udp(out, peer)

    def close(self, conn):
        self.conns.pop(conn, None)
        try:
            conn.close()
        except OSError:
            pass

    def serve(self):
        print("ready", flush=True)
        while True:
            now = time.monotonic()
            while self.pending and self.pending[0][0] <= now:
                _, _, payload, peer, conn = heapq.heappop(self.pending)
                if conn is None:
                    self.send_udp(payload, peer)
                elif conn in self.conns:
                    self.send_tcp(conn, payload)
            wait = max(0.0, self.pending[0][0] - now) if self.pending else None
            readers = [self.udp, self.tcp] + list(self.conns)
            ready, _, _ = select.select(readers, [], [], wait)
            for s in ready:
                if s is self.udp:
                    try:
                        data, peer = self.udp.recvfrom(65535)
                    except OSError:
                        continue
                    self.handle(data, False, peer=peer)
                elif s is self.tcp:
                    try:
                        conn, _ = self.tcp.accept()
                    except OSError:
                        continue
                    self.conns[conn] = b""
                else:
                    try:
                        chunk = s.recv(65535)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        self.close(s)
                        continue
                    buf = self.conns[s] + chunk
                    while len(buf) >= 2:
                        n = struct.unpack("!H", buf[:2])[0]
                        if len(buf) < 2 + n:
                            break
                        msg, buf = buf[2:2 + n], buf[2 + n:]
                        if s in self.conns:
                            self.conns[s] = buf
                            self.handle(msg, True, conn=s)
                    if s in self.conns:
                        self.conns[s] = buf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("--delay", type=int, default=300, help="ms before a slow answer")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--all", metavar="MODE", help="answer every name in MODE")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    print("seed %d" % seed, file=sys.stderr, flush=True)
    Server(args.addr, args.port, args.delay, random.Random(seed), args.all).serve()


if __name__ == "__main__":
    main()
