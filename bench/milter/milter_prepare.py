#!/usr/bin/python3
"""milter_prepare.py WORLD OUT --key PEM --senders N --size BYTES: the
milter scenario's senders and messages (bench/README.md, "Milter path").

From the world's stream (WORLD/stream.tsv) it takes N requests with an IPv4
client and a sender domain not taken yet: three in four whose expected SPF
result is pass, the rest fail, softfail or neutral, in stream order. For
each it writes two messages, one DKIM-signed (rsa-sha256, relaxed/relaxed,
d= the sender domain, s=bench, by dkimpy, so that neither verifier under
test made the signature) and one unsigned, and appends to WORLD/zone the
sender domain's DKIM key record and a DMARC record (p=none: nothing is
rejected on either stack). Writes OUT/plan.tsv: one line per stream of
messages with the client IP, the sender, the HELO name, the message file,
whether it is signed and the expected SPF result.
Deterministic: the stream is, and so are the messages.
"""
import argparse
import os
import sys

import dkim

RECIPIENT = 'bench@dest.bench.example'


def body_text(size, seed):
    """Plain text of about SIZE bytes, lines of varying length with runs of
    spaces and tabs, as relaxed canonicalization sees in real mail."""
    words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet,', 'consectetur', 'adipiscing',
             'elit', 'sed', 'do', 'eiusmod', 'tempor', 'incididunt', 'ut', 'labore']
    out, n, i = [], 0, seed
    while n < size:
        i = (i * 1103515245 + 12345) & 0x7fffffff
        line = ' '.join(words[(i >> k) % len(words)] for k in range(0, 24, 2))
        if i % 5 == 0:
            line += '   \t '
        out.append(line)
        n += len(line) + 2
    return '\r\n'.join(out) + '\r\n'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('world')
    ap.add_argument('out')
    ap.add_argument('--key', required=True, help='RSA private key (PEM)')
    ap.add_argument('--pubkey-record', required=True,
                    help='file with the key record text (v=DKIM1; k=rsa; p=...)')
    ap.add_argument('--senders', type=int, default=12)
    ap.add_argument('--size', type=int, default=2000)
    a = ap.parse_args()

    key = open(a.key, 'rb').read()
    record = open(a.pubkey_record).read().strip()
    want_pass = (a.senders * 3 + 3) // 4
    want_other = a.senders - want_pass
    picked, seen = [], set()
    with open(os.path.join(a.world, 'stream.tsv')) as f:
        for line in f:
            _, ip, sender, helo, expected, _, _, domain = line.rstrip('\n').split('\t')
            if ':' in ip or sender in ('', '<>') or domain in seen:
                continue
            if expected == 'pass' and want_pass > 0:
                want_pass -= 1
            elif expected in ('fail', 'softfail', 'neutral') and want_other > 0:
                want_other -= 1
            else:
                continue
            seen.add(domain)
            picked.append((ip, sender, helo, expected, domain))
            if want_pass == 0 and want_other == 0:
                break
    if len(picked) < a.senders:
        sys.exit('milter_prepare: the stream has only %d usable senders' % len(picked))

    os.makedirs(os.path.join(a.out, 'msg'), exist_ok=True)
    chunks = [record[i:i + 250] for i in range(0, len(record), 250)]
    txt = ' '.join('"%s"' % c for c in chunks)
    plan = []
    with open(os.path.join(a.world, 'zone'), 'a') as zone:
        zone.write('; milter scenario (bench/milter/milter_prepare.py)\n')
        for n, (ip, sender, helo, expected, domain) in enumerate(picked):
            zone.write('bench._domainkey.%s. 3600 IN TXT %s\n' % (domain, txt))
            zone.write('_dmarc.%s. 3600 IN TXT "v=DMARC1; p=none"\n' % domain)
            for signed in (1, 0):
                head = ('From: <%s>\r\nTo: <%s>\r\nSubject: bench message %d\r\n'
                        'Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n'
                        'Message-ID: <m%d.%d@%s>\r\nMIME-Version: 1.0\r\n'
                        'Content-Type: text/plain; charset=us-ascii\r\n'
                        % (sender, RECIPIENT, n, n, signed, domain))
                msg = (head + '\r\n' + body_text(a.size, n * 2 + signed)).encode()
                if signed:
                    sig = dkim.sign(msg, b'bench', domain.encode(), key,
                                    canonicalize=(b'relaxed', b'relaxed'),
                                    include_headers=[b'from', b'to', b'subject', b'date',
                                                     b'message-id', b'mime-version',
                                                     b'content-type'])
                    msg = sig.replace(b'\n', b'\r\n').replace(b'\r\r\n', b'\r\n') + msg
                path = os.path.join(a.out, 'msg', '%02d-%s.eml' % (n, 'signed' if signed
                                                                     else 'plain'))
                # smtp-source sends the file's lines as they are: LF line ends
                # (it adds the CR itself, as any SMTP client does).
                with open(path, 'wb') as m:
                    m.write(msg.replace(b'\r\n', b'\n'))
                plan.append((ip, sender, helo, path, signed, expected))
    with open(os.path.join(a.out, 'plan.tsv'), 'w') as f:
        for row in plan:
            f.write('%s\t%s\t%s\t%s\t%d\t%s\n' % row)


if __name__ == '__main__':
    main()
