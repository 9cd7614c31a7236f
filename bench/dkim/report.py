#!/usr/bin/python3
"""report.py WORK: the DKIM benchmark's table and RATIO lines, from what
bench/dkim/run.sh wrote (WORK/out/results.txt, WORK/out/openssl.txt,
WORK/corpus/manifest.tsv). Measures nothing itself.

Rates are messages per CPU second of the measuring process (user + system),
as `openssl speed` reports its own figures; MB is 10^6 bytes of message.

The bound is measured in the same run by dkim_bench_bound (impl=bound):
per message, SHA-256 over the relaxed-canonicalized body and one key
operation (RSA-2048 or Ed25519, verify or sign) on that digest, with the
contexts, digest and key set up once: what no verifier can avoid, so no
ratio against it exceeds 1.0 but by noise. `openssl speed`'s figures are
printed for reference only (its Ed25519 loop and its SHA-256 rate at 16 KiB
blocks were measured differently, which let a ratio reach 1.57)."""
import collections
import os
import statistics
import sys

CLASSES = ('2k', '20k', '100k', '1m')
ALGS = (('rsa', 'rsa-sha256'), ('ed25519', 'ed25519-sha256'))
IMPLS = ('domauth', 'opendkim', 'dkimpy')
TARGET_BOUND = 0.85     # verify: domauth >= 0.85 x the bound (issue 16)
TARGET_OPENDKIM = 5.0   # verify: domauth >= 5 x OpenDKIM


def parse_kv(line):
    return dict(kv.split('=', 1) for kv in line.split()[1:] if '=' in kv)


def load_results(path):
    res = {}
    for line in open(path):
        if line.startswith('RESULT ') or line.startswith('FAILED '):
            kv = parse_kv(line)
            key = (kv['impl'], kv['op'], kv['alg'], kv['class'])
            res[key] = kv if line.startswith('RESULT ') else None
    return res


def load_openssl(path):
    o = {}
    for line in open(path):
        f = line.strip().split(':')
        if f[0] == '+F2' and f[2] == '2048':
            o['rsa', 'sign'], o['rsa', 'verify'] = float(f[3]), float(f[4])
        elif f[0] == '+F6' and f[3].lower() == 'ed25519':
            o['ed25519', 'sign'], o['ed25519', 'verify'] = float(f[4]), float(f[5])
        elif f[0] == '+F' and f[2] == 'sha256':
            o['sha256'] = float(f[-1])
        elif f[0] == '+VERSION':
            o['version'] = ':'.join(f[1:])
    return o


def mean_sizes(manifest):
    sizes = collections.defaultdict(list)
    for line in open(manifest):
        cls, _, n = line.rstrip('\n').split('\t')
        sizes[cls].append(int(n))
    return {c: statistics.mean(v) for c, v in sizes.items()}


def human(n):
    return '%.0f KB' % (n / 1024) if n < 1000 * 1024 else '%.2f MB' % (n / 1048576)


def fmt_rate(x):
    if x is None:
        return '-'
    return '%.0f' % x if x >= 100 else '%.1f' % x


def fmt_ratio(x):
    return '-' if x is None else ('%.2f' % x if x < 100 else '%.0f' % x)


def main():
    work = sys.argv[1]
    res = load_results(os.path.join(work, 'out', 'results.txt'))
    ossl = load_openssl(os.path.join(work, 'out', 'openssl.txt'))
    sizes = mean_sizes(os.path.join(work, 'corpus', 'manifest.tsv'))

    def rate(impl, op, alg, cls):
        r = res.get((impl, op, alg, cls))
        if not r or float(r['cpu']) <= 0:
            return None
        return int(r['msgs']) / float(r['cpu'])

    def bound(op, alg, cls):
        return rate('bound', op, alg, cls)

    def ratio(a, b):
        return a / b if a is not None and b else None

    print('== DKIM: sign and verify, relaxed/relaxed, per CPU second (bench/dkim)')
    print('openssl speed (reference, not the bound): %s; RSA-2048 sign %.0f/s verify %.0f/s; Ed25519 sign %.0f/s verify %.0f/s;'
          ' SHA-256 %.0f MB/s (16 KiB blocks)' % (
              ossl.get('version', '?'), ossl.get(('rsa', 'sign'), 0),
              ossl.get(('rsa', 'verify'), 0), ossl.get(('ed25519', 'sign'), 0),
              ossl.get(('ed25519', 'verify'), 0), ossl.get('sha256', 0) / 1e6))
    print('corpus: %s' % ', '.join('%s = %d B mean' % (c, sizes[c]) for c in CLASSES
                                   if c in sizes))
    print()
    head = ('%-6s %-14s %-8s | %9s %8s | %9s %8s | %9s %8s | %9s %8s | %7s %7s %7s'
            % ('op', 'algorithm', 'size', 'domauth', 'MB/s', 'opendkim', 'MB/s', 'dkimpy',
               'MB/s', 'bound', 'MB/s', 'd/odkim', 'd/py', 'd/bound'))
    print(head)
    print('-' * len(head))
    ratios = collections.defaultdict(list)   # (op, peer) -> [(alg, cls, ratio)]
    problems = []
    for op in ('sign', 'verify'):
        for alg, alg_name in ALGS:
            for cls in CLASSES:
                if cls not in sizes:
                    continue
                mb = sizes[cls] / 1e6
                cells = []
                rates = {}
                for impl in IMPLS + ('bound',):
                    r = rate(impl, op, alg, cls)
                    rates[impl] = r
                    if impl != 'bound':
                        cells += [fmt_rate(r), fmt_rate(r * mb if r else None)]
                    kv = res.get((impl, op, alg, cls))
                    if kv is None:
                        problems.append('%s %s %s %s: no result' % (impl, op, alg, cls))
                    elif kv['ok'] != kv['msgs']:
                        problems.append('%s %s %s %s: %s of %s messages not %s' % (
                            impl, op, alg, cls, int(kv['msgs']) - int(kv['ok']), kv['msgs'],
                            'signed' if op == 'sign' else 'passing'))
                b = bound(op, alg, cls)
                cells += [fmt_rate(b), fmt_rate(b * mb if b else None)]
                d = rates['domauth']
                rs = {'opendkim': ratio(d, rates['opendkim']), 'dkimpy': ratio(d, rates['dkimpy']),
                      'openssl_bound': ratio(d, b)}
                for peer, x in rs.items():
                    if x is not None:
                        ratios[op, peer].append((alg_name, cls, x))
                print('%-6s %-14s %-8s | %9s %8s | %9s %8s | %9s %8s | %9s %8s | %7s %7s %7s'
                      % (op, alg_name, human(sizes[cls]), *cells, fmt_ratio(rs['opendkim']),
                         fmt_ratio(rs['dkimpy']), fmt_ratio(rs['openssl_bound'])))
        print()
    print('msgs/s columns: messages per CPU second; MB/s = msgs/s x mean size (10^6 bytes);')
    print('bound = measured here: SHA-256 of the canonical body + one key operation per message;')
    print('d/x = domauth msgs/s over x.')
    for p in problems:
        print('PROBLEM %s' % p)
    print()
    print('Targets (verify; figures, not assertions):')
    for alg, alg_name in ALGS:
        for cls in CLASSES:
            d = rate('domauth', 'verify', alg, cls)
            b = ratio(d, bound('verify', alg, cls))
            o = ratio(d, rate('opendkim', 'verify', alg, cls))
            print('  verify %-14s %-5s domauth/openssl_bound %5s (>= %.1f: %s)   '
                  'domauth/opendkim %5s (>= %.0f: %s)' % (
                      alg_name, cls, fmt_ratio(b), TARGET_BOUND,
                      'met' if b is not None and b >= TARGET_BOUND else 'MISSED',
                      fmt_ratio(o), TARGET_OPENDKIM,
                      'met' if o is not None and o >= TARGET_OPENDKIM else 'MISSED'))
    print()
    # Per (algorithm, size class), then the median over the 8 cells.
    for op in ('verify', 'sign'):
        for peer in ('opendkim', 'dkimpy', 'openssl_bound'):
            for alg_name, cls, x in ratios[op, peer]:
                print('RATIO dkim-%s %s %s msgs_per_s domauth/%s = %.2f'
                      % (op, alg_name, cls, peer, x))
    for op in ('verify', 'sign'):
        for peer in ('opendkim', 'dkimpy', 'openssl_bound'):
            xs = [x for _, _, x in ratios[op, peer]]
            if xs:
                print('RATIO dkim-%s msgs_per_s domauth/%s = %.2f (median of %d: 2 algorithms'
                      ' x 4 sizes)' % (op, peer, statistics.median(xs), len(xs)))


if __name__ == '__main__':
    main()
