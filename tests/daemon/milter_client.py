#!/usr/bin/env python3
"""milter_client.py: the MTA side of the milter protocol, enough to drive
domauthd in tests without an MTA: negotiate as Postfix 3.7 does, send one
message, apply the filter's header edits, and print a JSON summary with the
final reply and the message as it would be delivered."""
import json
import socket
import struct
import sys

ALL_ACTIONS = 0x1FF
# Postfix offers every step and no-reply flag, HDR_LEADSPC included.
ALL_PROTOCOL = 0x001FFFFF


def frame(letter, payload=b""):
    return struct.pack(">I", len(payload) + 1) + letter + payload


def read_frame(sock):
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            raise EOFError("filter closed the connection")
        head += chunk
    (length,) = struct.unpack(">I", head)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise EOFError("filter closed mid-frame")
        body += chunk
    return body[:1], body[1:]


def z(*parts):
    return b"".join(p.encode() + b"\0" for p in parts)


class Session:
    def __init__(self, port):
        if isinstance(port, str):  # a unix socket's path
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(15)
            self.sock.connect(port)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.protocol = 0
        self.leadspc = False

    def send(self, letter, payload=b""):
        self.sock.sendall(frame(letter, payload))

    def expect_reply(self, flag):
        """Reads replies until a final one, unless the no-reply flag was agreed."""
        if flag and (self.protocol & flag):
            return None
        edits = []
        while True:
            letter, payload = read_frame(self.sock)
            if letter in (b"h", b"i", b"m", b"q", b"p"):
                edits.append((letter, payload))
                continue
            return letter, payload, edits

    def negotiate(self):
        self.send(b"O", struct.pack(">III", 6, ALL_ACTIONS, ALL_PROTOCOL))
        letter, payload = read_frame(self.sock)
        assert letter == b"O", letter
        _, actions, self.protocol = struct.unpack(">III", payload[:12])
        self.leadspc = bool(self.protocol & 0x00100000)
        return actions, self.protocol


def run(args):
    s = Session(args["port"])
    actions, protocol = s.negotiate()
    out = {"actions": actions, "protocol": protocol, "replies": []}

    def step(letter, payload, no_reply_flag):
        s.send(letter, payload)
        r = s.expect_reply(no_reply_flag)
        if r is not None:
            out["replies"].append((letter.decode(), r[0].decode(), r[1].decode(errors="replace")))
        return r

    s.send(b"D", b"C" + z("j", "mx.test", "{daemon_name}", "smtpd"))
    if step(b"C", z(args.get("client_name", "client.test")) + b"4" + struct.pack(">H", 25000) +
            z(args["client_ip"]), 0x1000) is not None and out["replies"][-1][1] != "c":
        return out
    step(b"H", z(args["helo"]), 0x2000)
    macros = ["i", "QUEUE1"]
    if args.get("auth"):
        macros += ["{auth_authen}", args["auth"], "{auth_type}", "PLAIN"]
    s.send(b"D", b"M" + z(*macros))
    r = step(b"M", z("<%s>" % args["mail_from"]), 0x4000)
    if r is not None and r[0] != b"c":
        out["final"] = r[0].decode() + r[1].decode(errors="replace")
        return out
    r = step(b"R", z("<%s>" % args["rcpt"]), 0x8000)
    if r is not None and r[0] != b"c":
        out["final"] = r[0].decode() + r[1].decode(errors="replace")
        return out
    raw = open(args["message"], "rb").read().replace(b"\r\n", b"\n")
    head, _, body = raw.partition(b"\n\n")
    headers = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and headers:
            headers[-1][1] += b"\n" + line
        else:
            name, _, value = line.partition(b":")
            headers.append([name, value])
    for name, value in headers:
        v = value if s.leadspc else value.lstrip(b" ")
        # Postfix sends macros before every header and body chunk too.
        s.send(b"D", b"L" + z("i", "QUEUE1"))
        step(b"L", name + b"\0" + v + b"\0", 0x80)
    step(b"N", b"", 0x40000)
    body_crlf = body.replace(b"\n", b"\r\n")
    for i in range(0, len(body_crlf), 65535):
        s.send(b"D", b"B" + z("i", "QUEUE1"))
        step(b"B", body_crlf[i:i + 65535], 0x80000)
    s.send(b"E")
    letter, payload, edits = s.expect_reply(0)
    out["final"] = letter.decode() + payload.decode(errors="replace")
    if args.get("on_reply"):
        # What is true the moment the reply has come (before QUIT).
        import subprocess
        out["on_reply"] = subprocess.run(args["on_reply"], shell=True, capture_output=True,
                                         text=True).stdout
    # Apply the edits as an MTA would.
    hs = [[n, v if s.leadspc else b" " + v] for n, v in headers]
    for kind, p in edits:
        if kind == b"h":
            name, value = p.split(b"\0")[:2]
            hs.append([name, value if s.leadspc else b" " + value])
        elif kind == b"i":
            (index,) = struct.unpack(">I", p[:4])
            name, value = p[4:].split(b"\0")[:2]
            hs.insert(index, [name, value if s.leadspc else b" " + value])
        elif kind == b"m":
            (index,) = struct.unpack(">I", p[:4])
            name, value = p[4:].split(b"\0")[:2]
            seen = 0
            for i, (n, _) in enumerate(hs):
                if n.lower() == name.lower():
                    seen += 1
                    if seen == index:
                        if value == b"":
                            del hs[i]
                        else:
                            hs[i][1] = value if s.leadspc else b" " + value
                        break
    out["edits"] = [(k.decode(), p.decode(errors="replace")) for k, p in edits]
    message = b"".join(n + b":" + v.replace(b"\n", b"\r\n") + b"\r\n" for n, v in hs)
    message += b"\r\n" + body_crlf
    open(args["output"], "wb").write(message)
    s.send(b"Q")
    return out


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
