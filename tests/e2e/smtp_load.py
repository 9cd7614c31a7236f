#!/usr/bin/env python3
"""smtp_load.py: bounded SMTP load for tests/e2e/postfix_e2e.sh (loopback
only). Sends COUNT messages to 127.0.0.1:PORT, CONCURRENCY sessions at a
time, each posing as a client with XCLIENT (Postfix must list 127.0.0.1 in
smtpd_authorized_xclient_hosts), and writes one line per message to --out:

  ID  OUTCOME  ATTEMPTS  SECONDS  LAST-REPLY

OUTCOME is queued (250 after DATA), rejected (5xx), deferred (4xx, also
after the retries) or error (connection trouble, also after the retries).
With --interval S, message I starts no earlier than I*S seconds after the
first (a paced run). With --retries N, a 4xx reply or a connection error is retried after
--retry-delay seconds, like a sending MTA would (N times at most).

The sender of message I is I@<domain>, where <domain> is --domain with {i}
replaced by I; the recipient is I@--rcpt-domain. Every message carries
"X-E2E-Run: RUN" and a Message-Id <I.RUN@e2e.test>.
"""
import argparse
import smtplib
import socket
import sys
import threading
import time


def one_attempt(args, i, sender, rcpt, body):
    s = smtplib.SMTP(timeout=args.timeout)
    try:
        s.connect('127.0.0.1', args.port)
        s.ehlo('load.e2e.test')
        code, msg = s.docmd('XCLIENT', 'ADDR=%s HELO=%s' % (args.client_ip, args.helo))
        if code != 220:
            return 'error', '%d %s' % (code, msg.decode(errors='replace'))
        s.ehlo(args.helo)
        code, msg = s.mail(sender)
        if code != 250:
            return classify(code), '%d %s' % (code, msg.decode(errors='replace'))
        code, msg = s.rcpt(rcpt)
        if code not in (250, 251):
            return classify(code), '%d %s' % (code, msg.decode(errors='replace'))
        code, msg = s.data(body)
        reply = '%d %s' % (code, msg.decode(errors='replace'))
        return ('queued' if code == 250 else classify(code)), reply
    finally:
        try:
            s.quit()
        except Exception:
            s.close()


def classify(code):
    return 'rejected' if 500 <= code < 600 else 'deferred' if 400 <= code < 500 else 'error'


def worker(args, queue, lock, results, t0):
    while True:
        with lock:
            if not queue:
                return
            i = queue.pop(0)
        # --interval: message i starts no earlier than t0 + i * interval.
        delay = t0 + i * args.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ident = 'm%d' % i
        domain = args.domain.replace('{i}', str(i))
        sender = '%s@%s' % (ident, domain)
        rcpt = '%s@%s' % (ident, args.rcpt_domain)
        body = ('From: <%s>\r\nTo: <%s>\r\nSubject: load %s %s\r\nMessage-Id: <%s.%s@e2e.test>\r\n'
                'X-E2E-Run: %s\r\n\r\nload test message %s of run %s\r\n'
                % (sender, rcpt, args.run, ident, ident, args.run, args.run, ident, args.run))
        start = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                outcome, reply = one_attempt(args, i, sender, rcpt, body)
            except (smtplib.SMTPException, OSError, socket.timeout) as e:
                outcome, reply = 'error', '%s: %s' % (type(e).__name__, e)
            if outcome in ('deferred', 'error') and attempts <= args.retries:
                time.sleep(args.retry_delay)
                continue
            break
        with lock:
            results.append((ident, outcome, attempts, time.monotonic() - start,
                            reply.replace('\n', ' ').replace('\t', ' ')))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--count', type=int, default=200)
    p.add_argument('--concurrency', type=int, default=200)
    p.add_argument('--client-ip', default='192.0.2.10')
    p.add_argument('--helo', default='mail.pass.test')
    p.add_argument('--domain', default='x{i}.ok.load.test')
    p.add_argument('--rcpt-domain', default='dest.test')
    p.add_argument('--run', required=True)
    p.add_argument('--retries', type=int, default=0)
    p.add_argument('--retry-delay', type=float, default=1.0)
    p.add_argument('--timeout', type=float, default=60.0)
    p.add_argument('--interval', type=float, default=0.0)
    p.add_argument('--out', required=True)
    args = p.parse_args()
    if args.count > 1000 or args.concurrency > 300:
        sys.exit('smtp_load.py: bounded on purpose: at most 1000 messages, 300 sessions')
    queue = list(range(args.count))
    lock = threading.Lock()
    results = []
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(args, queue, lock, results, t0))
               for _ in range(min(args.concurrency, args.count))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(args.out, 'w') as f:
        for r in sorted(results, key=lambda r: int(r[0][1:])):
            f.write('%s\t%s\t%d\t%.2f\t%s\n' % r)
    return 0


if __name__ == '__main__':
    sys.exit(main())
