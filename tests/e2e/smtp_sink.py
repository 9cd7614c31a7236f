#!/usr/bin/env python3
"""smtp_sink.py PORT LOGFILE: a minimal SMTP server for the e2e suite, the
"rest of the Internet": it accepts every message and appends one line per
message to LOGFILE, "MAIL FROM:<...> RCPT TO:<...>[ RCPT TO:<...>...]", so a
test can see the envelope Postfix sent. Runs until killed."""
import socketserver
import sys


class Session(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        self.reply("220 sink.e2e.test ESMTP")
        mail, rcpts = None, []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink.e2e.test")
            elif verb == "MAIL":
                mail, rcpts = line[10:].strip(), []
                self.reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(line[8:].strip())
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                while True:
                    data = self.rfile.readline(1 << 20)
                    if not data or data in (b".\r\n", b".\n"):
                        break
                with open(sys.argv[2], "a") as log:
                    log.write("MAIL FROM:%s %s\n" % (mail, " ".join("RCPT TO:" + r for r in rcpts)))
                self.reply("250 queued")
            elif verb == "RSET":
                mail, rcpts = None, []
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Session).serve_forever()
