#!/usr/bin/python3
"""milter_latency.py PLAN PORT STACK OUT --rounds R: one message at a time
through one smtpd listener (bench/README.md, "Milter path").

For every round and every line of PLAN (client IP, sender, HELO, message
file, ...): one SMTP session from that client IP (a loopback alias inside
the benchmark's namespace, so the server sees the world's address) to
PORT, with that HELO and sender, to lat-STACK@box.bench.example, which
Postfix delivers to a Maildir of its own, where report_milter.py reads the
results each stack added. Latency is from connect to the reply after the
message's final dot: what the session waits for the checks at the end of
DATA (and at RCPT, for the policy service). One line per message in OUT:
"round index seconds code".
"""
import argparse
import smtplib
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('plan')
    ap.add_argument('port', type=int)
    ap.add_argument('stack')
    ap.add_argument('out')
    ap.add_argument('--rounds', type=int, default=1)
    ap.add_argument('--first-round', type=int, default=0, help='the number of the first round')
    a = ap.parse_args()
    plan = [line.rstrip('\n').split('\t') for line in open(a.plan)]
    msgs = [open(row[3], 'rb').read().replace(b'\n', b'\r\n') for row in plan]
    rcpt = 'lat-%s@box.bench.example' % a.stack
    with open(a.out, 'w') as out:
        for r in range(a.first_round, a.first_round + a.rounds):
            for i, (ip, sender, helo, _, _, _) in enumerate(plan):
                tag = b'X-Bench: %s %d %d\r\n' % (a.stack.encode(), r, i)
                t0 = time.perf_counter()
                try:
                    with smtplib.SMTP(ip, a.port, local_hostname=helo,
                                      source_address=(ip, 0), timeout=30) as s:
                        s.ehlo(helo)
                        s.mail(sender)
                        code, _ = s.rcpt(rcpt)
                        if code == 250:
                            code, _ = s.data(tag + msgs[i])
                except (OSError, smtplib.SMTPException) as e:
                    code = 'error:%s' % type(e).__name__
                out.write('%d %d %.6f %s\n' % (r, i, time.perf_counter() - t0, code))


if __name__ == '__main__':
    main()
