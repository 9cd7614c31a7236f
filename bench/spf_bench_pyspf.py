#!/usr/bin/python3
"""spf_bench_pyspf.py: drives the benchmark's request stream through pyspf
(python3-spf, spf.check2), one check at a time, over dnspython pointed at the
benchmark's DNS server. Prints the same RESULT line as the C drivers.

pyspf keeps no DNS cache between checks; with --cache, dnspython's own
LRUCache is attached to the resolver pyspf uses (the most a pyspf deployment
gets without a local caching resolver)."""
import argparse
import os
import resource
import sys
import time

import dns.resolver
import spf


def load_stream(path, first, count):
    requests = []
    with open(path) as f:
        for n, line in enumerate(f):
            if n < first:
                continue
            if count and len(requests) == count:
                break
            fields = line.rstrip('\n').split('\t')
            requests.append((int(fields[0]), fields[1], fields[2], fields[3]))
    return requests


def use_server(server, cache):
    host, _, port = server.partition(':')
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(port or 53)
    resolver.timeout = resolver.lifetime = 2.0
    if cache:
        resolver.cache = dns.resolver.LRUCache(200000)
    dns.resolver.default_resolver = resolver


def check(request):
    _, ip, mail_from, helo = request
    try:
        result, _ = spf.check2(i=ip, s=mail_from, h=helo, receiver='mx.bench.example')
    except Exception as e:  # a crash in the peer counts as its answer
        print('pyspf raised on %r: %s' % (request, e), file=sys.stderr)
        result = 'crash'
    return result.lower()


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def percentile(sorted_values, p):
    rank = max(1, min(len(sorted_values), int(p / 100.0 * len(sorted_values) + 0.999999)))
    return sorted_values[rank - 1]


def run_pass(requests, reps):
    results, latencies = [], []
    wall0, cpu0 = time.perf_counter(), cpu_s()
    for r in requests * reps:
        t0 = time.perf_counter()
        results.append(check(r))
        latencies.append((time.perf_counter() - t0) * 1000.0)
    return results, latencies, time.perf_counter() - wall0, cpu_s() - cpu0


def report(label, requests, results, latencies, wall, cpu, results_path):
    s = sorted(latencies)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print('RESULT label=%s checks=%d wall_s=%.4f cpu_s=%.4f checks_per_s=%.1f p50_ms=%.4f '
          'p99_ms=%.4f peak_rss_mib=%.1f' % (label, len(latencies), wall, cpu,
                                             len(latencies) / wall if wall else 0.0,
                                             percentile(s, 50), percentile(s, 99), rss),
          flush=True)
    if results_path:
        with open(results_path, 'w') as f:
            tail = len(requests)  # the last round over the stream
            for r, res, lat in zip(requests, results[-tail:], latencies[-tail:]):
                f.write('%d\t%s\t%.3f\n' % (r[0], res, lat))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--server', default='127.0.0.1')
    ap.add_argument('--stream', required=True)
    ap.add_argument('--first', type=int, default=0)
    ap.add_argument('--count', type=int, default=0)
    ap.add_argument('--passes', type=int, default=1)
    ap.add_argument('--reps', type=int, default=1,
                    help='the last pass goes over the stream this many times')
    ap.add_argument('--cache', action='store_true')
    ap.add_argument('--hook')
    ap.add_argument('--results')
    ap.add_argument('--label', default='pyspf')
    args = ap.parse_args()
    use_server(args.server, args.cache)
    requests = load_stream(args.stream, args.first, args.count)
    if args.hook:
        os.system(args.hook + ' start')
    for p in range(1, args.passes + 1):
        last = p == args.passes
        if last and args.hook:
            os.system(args.hook + ' before')
        results, latencies, wall, cpu = run_pass(requests, args.reps if last else 1)
        if last and args.hook:
            os.system(args.hook + ' after')
        report('%s/pass%d' % (args.label, p), requests, results, latencies, wall, cpu,
               args.results if last else None)


if __name__ == '__main__':
    main()
