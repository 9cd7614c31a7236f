#!/usr/bin/python3
"""dkim_bench_dkimpy.py: dkimpy's side of the DKIM benchmark (python3-dkim,
with python3-nacl for Ed25519), in-process, the same command line and RESULT
line as the C drivers (dkim_drv.h):

- sign: dkim.sign(message, selector, domain, key, canonicalize=(relaxed,
  relaxed), signature_algorithm=...) with the key text read once (dkimpy
  parses it at each call: it has no key object); RSA keys as PEM, Ed25519 as
  the base64 seed dkimpy takes;
- verify: dkim.verify(message, dnsfunc=...) where dnsfunc returns the key
  record from memory (no DNS).

Rates use the process's CPU time, like the C drivers and openssl speed."""
import sys
import time

import dkim


def parse(argv):
    opts = {'seconds': '1.0', 'min-msgs': '3', 'class': '-'}
    i = 1
    while i < len(argv) and argv[i].startswith('--'):
        opts[argv[i][2:]] = argv[i + 1]
        i += 2
    return opts, argv[i:]


def main():
    opts, files = parse(sys.argv)
    op, alg = opts['op'], opts['alg']
    seconds, min_msgs = float(opts['seconds']), int(opts['min-msgs'])
    msgs = [(p, open(p, 'rb').read()) for p in files]
    key = open(opts['key'], 'rb').read().strip()
    record = open(opts['record'], 'rb').read().strip()
    selector = b'ed' if alg == 'ed25519' else b'rsa'
    algo = b'ed25519-sha256' if alg == 'ed25519' else b'rsa-sha256'

    def dnsfunc(name, timeout=5):
        return record

    def sign(msg):
        return dkim.sign(msg, selector, b'bench.example', key,
                         canonicalize=(b'relaxed', b'relaxed'), signature_algorithm=algo)

    def verify(msg):
        try:
            return dkim.verify(msg, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            return False

    one = (lambda m: bool(sign(m))) if op == 'sign' else verify
    for path, m in msgs:   # warm-up, checked: a signature made here must verify
        ok = verify(sign(m) + m) if op == 'sign' else verify(m)
        if not ok:
            print('dkim bench: dkimpy %s %s: unexpected result for %s (warm-up)'
                  % (op, alg, path), file=sys.stderr)
    n = ok = 0
    nbytes = 0
    c0, t0 = time.process_time(), time.monotonic()
    t = t0
    while t - t0 < seconds or n < min_msgs:
        m = msgs[n % len(msgs)][1]
        ok += bool(one(m))
        nbytes += len(m)
        n += 1
        t = time.monotonic()
    cpu = time.process_time() - c0
    print('RESULT impl=dkimpy op=%s alg=%s class=%s msgs=%d ok=%d bytes=%d seconds=%.6f '
          'cpu=%.6f files=%d' % (op, alg, opts['class'], n, ok, nbytes, t - t0, cpu, len(msgs)))


if __name__ == '__main__':
    main()
