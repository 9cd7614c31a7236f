#!/usr/bin/python3
"""report.py: turns one benchmark run's outputs (WORK/out, WORK/world) into
the table, the agreement check and the RATIO/FIGURE lines. Reads only what
run.sh and the drivers wrote; measures nothing itself."""
import collections
import glob
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'policy'))
import report_policy  # noqa: E402  (bench/policy/report_policy.py)

IMPLS = ('domauth', 'domauth-gentle', 'domauth-walk', 'libspf2', 'libspf2-cache16', 'pyspf')
SCENARIOS = ('warm', 'cold', 'inflight10k')
TARGETS = {('warm', 'libspf2'): 5.0, ('warm', 'libspf2-cache16'): 20.0,
           ('warm', 'pyspf'): 50.0}


def parse_kv(line):
    return dict(kv.split('=', 1) for kv in line.split()[1:] if '=' in kv)


def load_runs(out):
    """label -> figures of its last (measured) pass, plus 'failed'."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(out, '*.out'))):
        label = os.path.basename(path)[:-4]
        if label == 'proxy':
            continue
        last = None
        with open(path) as f:
            for line in f:
                if line.startswith('RESULT '):
                    last = parse_kv(line)
                elif line.startswith('FAILED '):
                    last = None
        runs[label] = last
    return runs


def load_queries(out):
    """label -> {'start'|'before'|'after': (queries, udp drops)}."""
    marks = collections.defaultdict(dict)
    path = os.path.join(out, 'queries.log')
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                drops = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0
                marks[parts[0]][parts[1]] = (int(parts[2]), drops)
    return marks


def load_stream(world):
    stream = {}
    for line in open(os.path.join(world, 'stream.tsv')):
        f = line.rstrip('\n').split('\t')
        stream[int(f[0])] = {'ip': f[1], 'mail_from': f[2], 'helo': f[3], 'expected': f[4],
                             'depth': int(f[5]), 'lookups': int(f[6]), 'domain': f[7]}
    return stream


def load_results(out, label):
    """index -> (result, latency ms) of a run's measured pass."""
    path = os.path.join(out, label + '.results')
    results = {}
    if os.path.exists(path):
        for line in open(path):
            f = line.split('\t')
            results[int(f[0])] = (f[1], float(f[2]))
    return results


def load_txt(world):
    txt = {}
    pattern = re.compile(r'^(\S+)\. IN TXT (.*)$')
    for line in open(os.path.join(world, 'zone')):
        m = pattern.match(line)
        if m:
            txt[m.group(1)] = ''.join(re.findall(r'"([^"]*)"', m.group(2)))
    return txt


def port53_drops(out):
    """Receive-buffer drops of the server-side sockets (unbound and the proxy
    listen on port 53), from the last /proc/net/udp snapshot a hook took."""
    snaps = sorted(glob.glob(os.path.join(out, '*.udp')), key=os.path.getmtime)
    if not snaps:
        return None
    total = 0
    for line in open(snaps[-1]).readlines()[1:]:
        f = line.split()
        if len(f) > 12 and f[1].endswith(':0035'):
            total += int(f[-1])
    return total


def fnum(x, digits=1):
    if x is None:
        return '-'
    if abs(x) >= 1000:
        return '%.0f' % x
    return '%.*f' % (digits, x)


def figures(run, marks, results):
    """Derived figures of one run, or None when it failed."""
    if run is None:
        return None
    checks = int(run['checks'])
    fig = {'checks': checks, 'checks_per_s': float(run['checks_per_s']),
           'p50_ms': float(run['p50_ms']), 'p99_ms': float(run['p99_ms']),
           'cpu_s': float(run['cpu_s']), 'peak_rss_mib': float(run['peak_rss_mib']),
           'max_in_flight': int(run.get('max_in_flight', 1))}
    fig['cpu_us_per_check'] = fig['cpu_s'] / checks * 1e6
    fig['temperrors'] = sum(1 for r, _ in results.values() if r == 'temperror')
    if 'before' in marks and 'after' in marks:
        fig['dns_per_check'] = (marks['after'][0] - marks['before'][0]) / checks
    if 'start' in marks and 'after' in marks:
        fig['udp_drops'] = marks['after'][1] - marks['start'][1]
    return fig


def print_table(figs, latency_ms):
    head = ('scenario', 'impl', 'checks', 'checks/s', 'p50 ms', 'p99 ms', 'DNS q/check',
            'CPU s', 'CPU us/check', 'peak RSS MiB', 'in flight', 'UDP drops', 'temperr')
    rows = []
    for scenario in SCENARIOS:
        for impl in IMPLS:
            label = '%s.%s' % (scenario, impl)
            if label not in figs:
                continue
            f = figs[label]
            if f is None:
                rows.append((scenario, impl, 'FAILED') + ('',) * (len(head) - 3))
                continue
            rows.append((scenario, impl, str(f['checks']), fnum(f['checks_per_s']),
                         fnum(f['p50_ms'], 3), fnum(f['p99_ms'], 3),
                         fnum(f.get('dns_per_check'), 3), fnum(f['cpu_s'], 3),
                         fnum(f['cpu_us_per_check'], 1), fnum(f['peak_rss_mib'], 1),
                         str(f['max_in_flight']), str(f.get('udp_drops', '-')),
                         str(f['temperrors'])))
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: '  '.join(c.rjust(w) if i > 1 else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    print(line(head))
    print('  '.join('-' * w for w in widths))
    for r in rows:
        print(line(r))
    print()
    print('warm: one core (taskset -c 0), 0 ms DNS, second pass over the same requests '
          '(first pass warms the caches).')
    print('      pyspf runs a %s-request prefix of the stream (it is slow), with dnspython\'s '
          'LRUCache;' % (figs.get('warm.pyspf') or {}).get('checks', '?'))
    print('      pyspf has no cache of its own across checks. Rates are per check.')
    print('      domauth-gentle: the warming pass keeps 50 checks in flight instead of %s, '
          'so no answer is lost' % os.environ.get('BENCH_INFLIGHT', 'K'))
    print('      and the measured pass is fully warm; both measure the second pass at the '
          'same K.')
    print('      libspf2 = SPF_server_new(SPF_DNS_CACHE) (a 2^8-entry cache); '
          'libspf2-cache16 = its cache layer with 2^16 entries.')
    print('cold: %d ms per DNS query (delay proxy), no cache shared between checks; '
          'domauth %s in flight, peers serial.' % (
              latency_ms, (figs.get('cold.domauth') or {}).get('max_in_flight', '?')))
    print('inflight10k: domauth, %d ms per query, cold shared cache, up to 10,000 checks '
          'in flight.' % latency_ms)
    print('DNS q/check counted at unbound for the measured pass; UDP drops = receive-'
          'buffer overflows in the namespace')
    print('during the whole run of that driver (/proc/net/snmp RcvbufErrors); temperr = '
          'temperror results in the measured pass.')
    print('in flight = most checks waiting for DNS at once in the measured pass (1 when '
          'every answer came from cache).')


def cold_analysis(out, stream, latency_ms):
    """Per implementation: p50 latency vs the model's critical path (ideal
    parallel evaluator) and serial lookup count, over its own sample."""
    rows = {}
    for impl in IMPLS:
        results = load_results(out, 'cold.' + impl)
        if not results:
            continue
        lat = [lat for _, lat in results.values()]
        crit = [stream[i]['depth'] * latency_ms for i in results]
        serial = [stream[i]['lookups'] * latency_ms for i in results]
        per_req = [lat / (stream[i]['depth'] * latency_ms)
                   for i, (_, lat) in results.items() if stream[i]['depth'] > 0]
        rows[impl] = {'p50': statistics.median(lat), 'crit': statistics.median(crit),
                      'serial': statistics.median(serial),
                      'per_req': statistics.median(per_req)}
    if not rows:
        return rows
    print()
    print('cold: p50 latency against the record graph (model of each request, its own sample)')
    print('  %-16s %10s %16s %18s %14s %16s' % ('impl', 'p50 ms', 'crit path p50 ms',
                                               'serial lookups ms', 'p50/crit path',
                                               'median per-req'))
    for impl, r in rows.items():
        print('  %-16s %10.1f %16.1f %18.1f %14.2f %16.2f' % (
            impl, r['p50'], r['crit'], r['serial'], r['p50'] / r['crit'], r['per_req']))
    by_depth = collections.defaultdict(list)
    for i, (_, lat) in load_results(out, 'cold.domauth').items():
        by_depth[stream[i]['depth']].append((lat, stream[i]['lookups']))
    if by_depth:
        print('  domauth by depth: ' + '; '.join(
            'depth %d: n=%d p50 %.0f ms (crit %d, serial %.0f)' % (
                d, len(v), statistics.median(l for l, _ in v), d * latency_ms,
                statistics.median(n for _, n in v) * latency_ms)
            for d, v in sorted(by_depth.items())))
    print('  crit path = depth of the DNS dependency graph the evaluation walks (each level '
          'one round trip) x %d ms;' % latency_ms)
    print('  serial lookups = distinct DNS questions a one-at-a-time evaluator asks x %d ms.'
          % latency_ms)
    return rows


def compiled_agreement(out, run):
    """warm.domauth (compiled policies) against warm.domauth-walk, request by
    request: the same results are required, as in tests/unit/spf/compiled.c."""
    ours, walk = load_results(out, 'warm.domauth'), load_results(out, 'warm.domauth-walk')
    if not ours or not walk:
        return
    common = sorted(set(ours) & set(walk))
    differ = [i for i in common if ours[i][0] != walk[i][0]]
    print()
    print('compiled policies vs the walk (warm pass 2): same result on %d of %d requests' % (
        len(common) - len(differ), len(common)))
    for i in differ[:5]:
        print('    #%d: compiled %s, walk %s' % (i, ours[i][0], walk[i][0]))
    if run and 'policy_answers' in run:
        print('  warm.domauth, both passes: %s policies, %s compiles, %s checks answered by a '
              'policy, %s fell back to the walk' % (run.get('policies'), run.get('policy_compiles'),
                                                    run['policy_answers'],
                                                    run.get('policy_fallbacks')))


def agreement(out, stream, txt):
    warm = {impl: load_results(out, 'warm.' + impl) for impl in ('domauth', 'libspf2', 'pyspf')}
    common = sorted(set.intersection(*(set(r) for r in warm.values())) if all(warm.values())
                    else set())
    print()
    if not common:
        print('agreement: not computed (a run is missing)')
        return
    same = sum(1 for i in common if len({warm[m][i][0] for m in warm}) == 1)
    print('agreement (warm pass 2, the %d requests all three ran): all three agree on %d' % (
        len(common), same))
    for impl, res in warm.items():
        ok = sum(1 for i in res if res[i][0] == stream[i]['expected'])
        print('  %-8s = world model on %d of %d' % (impl, ok, len(res)))
    for impl, res in warm.items():
        wrong = collections.defaultdict(list)
        for i in res:
            if res[i][0] != stream[i]['expected']:
                wrong[(res[i][0], stream[i]['expected'])].append(i)
        for (got, want), idx in sorted(wrong.items(), key=lambda kv: -len(kv[1]))[:4]:
            s = stream[idx[0]]
            print('    %s says %s where the model says %s: %d, e.g. #%d ip=%s %s: "%s"' % (
                impl, got, want, len(idx), idx[0], s['ip'], s['domain'],
                txt.get(s['domain'], '(no TXT)')[:90]))
    patterns = collections.defaultdict(list)
    for i in common:
        key = tuple(warm[m][i][0] for m in warm) + (stream[i]['expected'],)
        if len(set(key)) > 1:
            patterns[key].append(i)
    if patterns:
        print('  disagreements (domauth / libspf2 / pyspf / model: count, one example):')
    for key, idx in sorted(patterns.items(), key=lambda kv: -len(kv[1])):
        s = stream[idx[0]]
        print('    %s: %d  e.g. #%d ip=%s from=%s helo=%s' % (
            ' / '.join(key), len(idx), idx[0], s['ip'], s['mail_from'] or '<>', s['helo']))
        print('        %s: "%s"' % (s['domain'], txt.get(s['domain'], '(no TXT)')[:150]))


def ratio_lines(figs, cold):
    lines = []
    keys = (('checks_per_s', 'checks_per_s'), ('cpu_us_per_check', 'cpu_per_check'),
            ('p50_ms', 'p50_latency'), ('p99_ms', 'p99_latency'),
            ('dns_per_check', 'dns_queries_per_check'), ('peak_rss_mib', 'peak_rss_mib'))
    # Compiled policies against the walk alone, same driver, same run.
    d, w = figs.get('warm.domauth'), figs.get('warm.domauth-walk')
    if d and w:
        lines.append('RATIO spf-warm cpu_per_check domauth-walk/domauth = %s' % fnum(
            w['cpu_us_per_check'] / d['cpu_us_per_check'], 2))
        lines.append('RATIO spf-warm checks_per_s domauth/domauth-walk = %s' % fnum(
            d['checks_per_s'] / w['checks_per_s'], 2))
    for ours in ('domauth', 'domauth-gentle', 'domauth-walk'):
        d = figs.get('warm.' + ours)
        for peer in ('libspf2', 'libspf2-cache16', 'pyspf'):
            p = figs.get('warm.' + peer)
            if not d or not p:
                continue
            for key, name in keys:
                if ours != 'domauth' and key not in ('checks_per_s', 'cpu_us_per_check'):
                    continue
                if p.get(key):
                    lines.append('RATIO spf-warm %s %s/%s = %s' % (
                        name, ours, peer, fnum(d.get(key, 0) / p[key], 2)))
    if 'domauth' in cold:
        lines.append('RATIO spf-cold p50_latency domauth/critical_path = %.2f' % (
            cold['domauth']['p50'] / cold['domauth']['crit']))
        lines.append('RATIO spf-cold median_per_check_latency domauth/critical_path = %.2f' % (
            cold['domauth']['per_req']))
    for peer in ('libspf2', 'pyspf'):
        if peer in cold:
            lines.append('RATIO spf-cold p50_latency %s/serial_lookups = %.2f' % (
                peer, cold[peer]['p50'] / cold[peer]['serial']))
            if 'domauth' in cold:
                lines.append('RATIO spf-cold p50_latency domauth/%s = %.2f' % (
                    peer, cold['domauth']['p50'] / cold[peer]['p50']))
    big = figs.get('inflight10k.domauth')
    if big:
        lines.append('FIGURE spf-inflight10k peak_rss_mib domauth = %.0f' % big['peak_rss_mib'])
        lines.append('FIGURE spf-inflight10k max_in_flight domauth = %d' % big['max_in_flight'])
        lines.append('FIGURE spf-inflight10k checks_per_s domauth = %.0f' % big['checks_per_s'])
    return lines


def targets(figs, cold):
    print()
    print('targets (benchmark figures, not assertions):')
    for ours in ('domauth', 'domauth-gentle'):
        d = figs.get('warm.' + ours)
        for (scenario, peer), want in TARGETS.items():
            p = figs.get('%s.%s' % (scenario, peer))
            if d and p:
                got = d['checks_per_s'] / p['checks_per_s']
                print('  warm checks/s %s >= %gx %s: %.1fx %s' % (
                    ours, want, peer, got, 'met' if got >= want else 'MISSED'))
    d = figs.get('warm.domauth')
    if d:
        print('  warm CPU per check <= 0.5 us (issue 16): %.2f us %s' % (
            d['cpu_us_per_check'], 'met' if d['cpu_us_per_check'] <= 0.5 else 'MISSED'))
    if 'domauth' in cold:
        got = cold['domauth']['p50'] / cold['domauth']['crit']
        print('  cold p50 latency <= 1.2 x critical path: %.2f %s' % (
            got, 'met' if got <= 1.2 else 'MISSED'))
    big = figs.get('inflight10k.domauth')
    if big:
        print('  10k in flight peak RSS < 256 MiB: %.0f MiB %s (max in flight %d)' % (
            big['peak_rss_mib'], 'met' if big['peak_rss_mib'] < 256 else 'MISSED',
            big['max_in_flight']))


def main():
    work = sys.argv[1]
    out, world = os.path.join(work, 'out'), os.path.join(work, 'world')
    latency_ms = int(os.environ.get('BENCH_LATENCY_MS', '20'))
    runs, marks = load_runs(out), load_queries(out)
    figs = {label: figures(run, marks.get(label, {}), load_results(out, label))
            for label, run in runs.items()}
    stream = load_stream(world)
    print('== world: ' + ' | '.join(l.strip() for l in open(os.path.join(world, 'world.txt'))))
    proxy = os.path.join(out, 'proxy.out')
    if os.path.exists(proxy):
        print('== ' + open(proxy).read().strip())
    server_drops = port53_drops(out)
    if server_drops is not None:
        print('== drops at the sockets on port 53 (unbound, proxy) over the whole run: %d'
              % server_drops)
    txt = load_txt(world)
    cold = {}
    if any(label.split('.')[0] in SCENARIOS for label in figs):
        print()
        print_table(figs, latency_ms)
        cold = cold_analysis(out, stream, latency_ms)
        agreement(out, stream, txt)
        compiled_agreement(out, runs.get('warm.domauth'))
        targets(figs, cold)
    policy_lines = report_policy.report(out, world, marks, stream, txt)
    print()
    for line in ratio_lines(figs, cold) + policy_lines:
        print(line)
    # The xmail scenario (bench/xmail): its own table and lines.
    xmail = os.path.join(out, 'xmail.report')
    if os.path.exists(xmail):
        print()
        print(open(xmail).read().rstrip())
    # The milter scenario (bench/milter): its own table and lines.
    milter = os.path.join(out, 'milter.report')
    if os.path.exists(milter):
        print()
        print(open(milter).read().rstrip())
    # The DKIM benchmark (bench/dkim): its own report, from WORK/dkim.
    dkim_work = os.path.join(work, 'dkim')
    if os.path.exists(os.path.join(dkim_work, 'out', 'results.txt')):
        print(flush=True)
        subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     'dkim', 'report.py'), dkim_work])


if __name__ == '__main__':
    main()
