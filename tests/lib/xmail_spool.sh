# tests/lib/xmail_spool.sh: spool files as the XMail mail server writes them
# for its SMTP filters (source it; needs $py, a python3).

# mkspool FILE STAGE CLIENT HELO MAILFROM-LINE RCPT... [-- MESSAGE]: a
# spool file as XMail writes it, CRLF lines.
mkspool() {
    "$py" - "$@" <<'EOF'
import sys
a = sys.argv[1:]
path, stage, client, helo, mail = a[:5]
rest = a[5:]
msg = None
if "--" in rest:
    i = rest.index("--")
    rest, msg = rest[:i], rest[i + 1]
lines = ["%s;%s;mail.example.org;[198.51.100.1]:25;Mon, 2 Dec 2026 10:00:00 +0000;"
         "[XMail 1.27 ESMTP Server]" % (helo, client), "mail.example.org",
         "S%d@mail.example.org" % (abs(hash(path)) % 100000), mail]
lines += ["RCPT TO:<%s> {ra=%s}" % (r, r) for r in rest]
out = "".join(l + "\r\n" for l in lines)
if stage == "post-data":
    out += "<<MAIL-DATA>>\r\n" + (msg if msg is not None else
           "Received: from mx.example.net by mail.example.org\r\n"
           "From: Sender <sender@example.com>\r\nSubject: hello\r\n\r\nbody\r\n")
open(path, "wb").write(out.encode())
EOF
}
