#!/usr/bin/python3
"""gen_corpus.py: writes the DKIM benchmark's corpus, deterministic from
--seed. Four size classes of realistic mail, CRLF line ends (as a milter sees
them), unsigned:

  2k    text/plain, a few paragraphs (with the odd double space, tab and
        trailing blank, so relaxed canonicalization has work to do)
  20k   multipart/alternative: the text and an HTML-ish rendering of it
  100k  multipart/mixed: a text part and a base64 attachment
  1m    multipart/mixed: an HTML part and a base64 attachment of ~1 MB

Each message has the header block of delivered mail: Return-Path, three
Received fields, Authentication-Results, From/To/Cc/Subject/Date/Message-ID,
MIME fields, X-Mailer, List-Unsubscribe. Writes OUT/<class>/NN.eml and
OUT/manifest.tsv (class, file, bytes)."""
import argparse
import base64
import os
import random

CLASSES = (('2k', 2 * 1024, 32), ('20k', 20 * 1024, 16), ('100k', 100 * 1024, 8),
           ('1m', 1024 * 1024, 4))

WORDS = ('the quarterly report shows that our delivery pipeline handled more mail than '
         'expected while the new relay kept latency low and the team reviewed every '
         'bounce message before the weekly meeting so please find the updated numbers '
         'attached and let me know if anything looks wrong invoice shipment order '
         'customer account password reset newsletter conference schedule agenda '
         'budget forecast deadline').split()
NAMES = ('Alice Martin', 'Bob Nguyen', 'Carol Schmidt', 'Dave Okafor', 'Erin Rossi',
         'Frank Dubois', 'Grace Kowalski', 'Heidi Tanaka', 'Ivan Petrov', 'Judy Silva')
DAYS = ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')
MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')


def addr(rng, domain):
    name = rng.choice(NAMES)
    local = name.split()[0].lower() + '.' + name.split()[1].lower()
    return name, '%s@%s' % (local, domain)


def date(rng):
    return '%s, %d %s 2024 %02d:%02d:%02d +0000' % (
        rng.choice(DAYS), rng.randint(1, 28), rng.choice(MONTHS), rng.randint(0, 23),
        rng.randint(0, 59), rng.randint(0, 59))


def sentence(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
    s = ' '.join(words)
    if rng.random() < 0.15:
        s = s.replace(' ', '  ', 1)      # a double space
    if rng.random() < 0.05:
        s = s.replace(' ', '\t', 1)      # a tab
    return s[0].upper() + s[1:] + '.'


def paragraph_lines(rng, width=72):
    text = ' '.join(sentence(rng) for _ in range(rng.randint(2, 5)))
    lines, line = [], ''
    for w in text.split(' '):
        if line and len(line) + 1 + len(w) > width:
            lines.append(line + (' ' if rng.random() < 0.05 else ''))  # trailing blank
            line = w
        else:
            line = (line + ' ' + w) if line else w
    lines.append(line)
    return lines


def text_body(rng, size):
    lines = ['Hi,', '']
    while sum(len(x) + 2 for x in lines) < size:
        lines += paragraph_lines(rng) + ['']
    lines += ['Best regards,', rng.choice(NAMES), '', '']
    return lines


def html_body(rng, size):
    lines = ['<!DOCTYPE html>', '<html>', '<head>',
             '  <meta http-equiv="Content-Type" content="text/html; charset=utf-8">',
             '  <style>td { padding: 4px 8px; font-family: Arial, sans-serif; }</style>',
             '</head>', '<body style="margin:0;padding:0;background:#f4f4f4">',
             '<table role="presentation" width="100%" cellspacing="0" cellpadding="0">']
    while sum(len(x) + 2 for x in lines) < size:
        lines.append('  <tr>')
        lines.append('    <td class="content" style="color:#333333;font-size:14px;'
                     'line-height:20px" align="left">')
        for pl in paragraph_lines(rng, 68):
            lines.append('      ' + pl)
        lines.append('    </td>')
        lines.append('  </tr>')
    lines += ['</table>', '</body>', '</html>', '']
    return lines


def b64_lines(rng, nbytes):
    data = rng.randbytes(nbytes)
    enc = base64.b64encode(data).decode()
    return [enc[i:i + 76] for i in range(0, len(enc), 76)]


def headers(rng, i, cls, content_type):
    sender_domain = 'bench.example'
    fname, faddr = addr(rng, sender_domain)
    tname, taddr = addr(rng, 'recv.example')
    cname, caddr = addr(rng, 'partner.example')
    qid = ''.join(rng.choice('0123456789ABCDEFGHJKLMNPQRSTVWXYZ') for _ in range(12))
    h = [
        'Return-Path: <%s>' % faddr,
        'Received: from mx-in.recv.example (mx-in.recv.example [198.51.100.25])',
        '\tby mailstore.recv.example (Postfix) with ESMTPS id %s' % qid,
        '\tfor <%s>; %s' % (taddr, date(rng)),
        'Received: from out-3.bench.example (out-3.bench.example [192.0.2.33])',
        '\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)',
        '\t key-exchange X25519 server-signature RSA-PSS (2048 bits))',
        '\t(No client certificate requested)',
        '\tby mx-in.recv.example (Postfix) with ESMTPS id %s' % qid[::-1],
        '\tfor <%s>; %s' % (taddr, date(rng)),
        'Received: from [10.20.30.%d] (unknown [203.0.113.%d])' % (rng.randint(2, 250),
                                                                   rng.randint(2, 250)),
        '\tby out-3.bench.example (Postfix) with ESMTPSA id %s' % qid.lower(),
        '\tfor <%s>; %s' % (taddr, date(rng)),
        'Authentication-Results: mx-in.recv.example; spf=pass',
        '\tsmtp.mailfrom=%s' % faddr,
        'From: "%s" <%s>' % (fname, faddr),
        'To: "%s" <%s>' % (tname, taddr),
        'Cc: "%s" <%s>' % (cname, caddr),
        'Subject: %s' % sentence(rng)[:60].rstrip('.'),
        'Date: %s' % date(rng),
        'Message-ID: <%s.%d.%s@%s>' % (cls, i, qid.lower(), sender_domain),
        'MIME-Version: 1.0',
        'Content-Type: %s' % content_type,
        'X-Mailer: BenchMailer 4.2 (build 1187)',
        'List-Unsubscribe: <mailto:unsubscribe+%s@%s>,' % (qid.lower(), sender_domain),
        ' <https://%s/unsubscribe?id=%s>' % (sender_domain, qid.lower()),
    ]
    return h


def message(rng, cls, i, size):
    boundary = '==_bench_%s_%d_%08x' % (cls, i, rng.getrandbits(32))
    if cls == '2k':
        hdr = headers(rng, i, cls, 'text/plain; charset="utf-8"')
        hdr.append('Content-Transfer-Encoding: 7bit')
        room = size - sum(len(x) + 2 for x in hdr) - 2
        body = text_body(rng, room - 120)
    elif cls == '20k':
        hdr = headers(rng, i, cls, 'multipart/alternative;\r\n boundary="%s"' % boundary)
        room = size - sum(len(x) + 2 for x in hdr)
        body = ['This is a multi-part message in MIME format.', '', '--' + boundary,
                'Content-Type: text/plain; charset="utf-8"',
                'Content-Transfer-Encoding: 7bit', '']
        body += text_body(rng, room // 3)
        body += ['--' + boundary, 'Content-Type: text/html; charset="utf-8"',
                 'Content-Transfer-Encoding: 7bit', '']
        body += html_body(rng, room - sum(len(x) + 2 for x in body) - 200)
        body += ['--' + boundary + '--', '']
    else:
        hdr = headers(rng, i, cls, 'multipart/mixed;\r\n boundary="%s"' % boundary)
        body = ['This is a multi-part message in MIME format.', '', '--' + boundary]
        if cls == '100k':
            body += ['Content-Type: text/plain; charset="utf-8"',
                     'Content-Transfer-Encoding: 7bit', '']
            body += text_body(rng, 3000)
            name, ctype = 'report-%d.pdf' % i, 'application/pdf'
        else:
            body += ['Content-Type: text/html; charset="utf-8"',
                     'Content-Transfer-Encoding: 7bit', '']
            body += html_body(rng, 12000)
            name, ctype = 'photos-%d.zip' % i, 'application/zip'
        body += ['--' + boundary, 'Content-Type: %s; name="%s"' % (ctype, name),
                 'Content-Disposition: attachment; filename="%s"' % name,
                 'Content-Transfer-Encoding: base64', '']
        used = sum(len(x) + 2 for x in hdr + body) + len(boundary) + 12
        raw = max(0, (size - used) * 76 // 78 * 3 // 4)
        body += b64_lines(rng, raw)
        body += ['', '--' + boundary + '--', '']
    return '\r\n'.join(hdr + [''] + body).encode() + b'\r\n'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--seed', type=int, default=6376)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(os.path.join(args.out, 'manifest.tsv'), 'w') as manifest:
        for cls, size, count in CLASSES:
            os.makedirs(os.path.join(args.out, cls), exist_ok=True)
            for i in range(count):
                data = message(rng, cls, i, size)
                path = os.path.join(args.out, cls, '%02d.eml' % i)
                with open(path, 'wb') as f:
                    f.write(data)
                manifest.write('%s\t%s\t%d\n' % (cls, path, len(data)))


if __name__ == '__main__':
    main()
