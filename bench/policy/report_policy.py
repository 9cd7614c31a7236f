"""report_policy.py: the policy scenario's part of the report (imported by
bench/report.py): its table, the per-request agreement of the two servers'
Received-SPF results, the target, and its RATIO/FIGURE lines. Reads only
what policy_client and run.sh wrote."""
import collections
import os

# (label suffix, what the row is); the first domauth row is the one the
# ratio uses: the peer's own requests, one connection, same pinning.
ROWS = (
    ('policyd-spf', 'policyd-spf', 'the peer; its sample'),
    ('domauth', 'domauth', 'the same requests'),
    ('domauth-xcore', 'domauth', 'same, client on core 1'),
    ('domauth-long', 'domauth', 'whole policy stream'),
    ('domauth-4conn', 'domauth', 'whole stream, 4 conns'),
    ('domauth-16conn', 'domauth', 'whole stream, 16 conns'),
    ('domauth-wl', 'domauth', 'same sample, big whitelist'),
    ('null', 'null server', 'transport floor (DUNNO)'),
)
PEER = 'policy.policyd-spf'
OURS = 'policy.domauth'
WHITELISTED = 'policy.domauth-wl'
TARGET = 50.0


def _kv(line):
    return dict(kv.split('=', 1) for kv in line.split()[1:] if '=' in kv)


def load(out, marks):
    """label -> figures of each policy run (None when it failed)."""
    runs = {}
    for name, _, _ in ROWS:
        label = 'policy.' + name
        path = os.path.join(out, label + '.out')
        if not os.path.exists(path):
            continue
        fig = None
        for line in open(path):
            if line.startswith('RESULT '):
                kv = _kv(line)
                fig = {k: float(v) for k, v in kv.items() if k != 'label'}
            elif line.startswith('FAILED '):
                fig = None
        if fig is not None:
            fig['cpu_us_per_req'] = fig['cpu_s'] / fig['checks'] * 1e6
            fig['client_us_per_req'] = fig['client_cpu_s'] / fig['checks'] * 1e6
            m = marks.get(label, {})
            if 'before' in m and 'after' in m:
                fig['dns_per_req'] = (m['after'][0] - m['before'][0]) / fig['checks']
        runs[label] = fig
    return runs


def _results(out, label):
    path = os.path.join(out, label + '.results')
    res = {}
    if os.path.exists(path):
        for line in open(path):
            f = line.rstrip('\n').split('\t')
            res[int(f[0])] = f[1]
    return res


def _num(x, digits=1):
    if x is None:
        return '-'
    if abs(x) >= 1000:
        return '%.0f' % x
    return '%.*f' % (digits, x)


def table(runs):
    head = ('impl', 'row', 'conns', 'distinct', 'requests', 'req/s', 'p50 ms', 'p90 ms',
            'p99 ms', 'max ms', 'server CPU s', 'CPU us/req', 'peak RSS MiB', 'DNS q/req',
            'client CPU us/req')
    rows = []
    for name, impl, what in ROWS:
        label = 'policy.' + name
        if label not in runs:
            continue
        f = runs[label]
        if f is None:
            rows.append((impl, what, 'FAILED') + ('',) * (len(head) - 3))
            continue
        rows.append((impl, what, '%d' % f['conns'], '%d' % f['requests'], '%d' % f['checks'],
                     _num(f['checks_per_s']), _num(f['p50_ms'], 3), _num(f['p90_ms'], 3),
                     _num(f['p99_ms'], 3), _num(f['max_ms'], 2), _num(f['cpu_s'], 2),
                     _num(f['cpu_us_per_req'], 1), _num(f['peak_rss_mib'], 1),
                     _num(f.get('dns_per_req'), 3), _num(f['client_us_per_req'], 1)))
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = lambda r: '  '.join(c.rjust(w) if i > 1 else c.ljust(w)
                              for i, (c, w) in enumerate(zip(r, widths)))
    print(fmt(head))
    print('  '.join('-' * w for w in widths))
    for r in rows:
        print(fmt(r))


def agreement(out, stream, txt):
    """Per request: the peer's result against domauth's on the same request,
    and each against gen_world.py's model."""
    peer, ours = _results(out, PEER), _results(out, OURS)
    print()
    if not peer or not ours:
        print('policy agreement: not computed (a run is missing)')
        return
    common = sorted(set(peer) & set(ours))
    same = sum(1 for i in common if peer[i] == ours[i])
    print('policy agreement (Received-SPF result per request, the %d requests both served): '
          'same on %d, different on %d' % (len(common), same, len(common) - same))
    for name, _, _ in ROWS:
        res = _results(out, 'policy.' + name)
        if res and name != 'null':
            ok = sum(1 for i in res if res[i] == stream[i]['expected'])
            print('  %-15s = world model on %d of %d' % (name, ok, len(res)))
    wl = _results(out, WHITELISTED)
    if wl:
        both = sorted(set(wl) & set(ours))
        print('  domauth-wl      = domauth on %d of %d (its whitelist covers no client of '
              'the stream)' % (sum(1 for i in both if wl[i] == ours[i]), len(both)))
    patterns = collections.defaultdict(list)
    for i in common:
        key = (ours[i], peer[i], stream[i]['expected'])
        if len(set(key)) > 1:
            patterns[key].append(i)
    if patterns:
        print('  disagreements (domauth / policyd-spf / model: count, one example):')
    for key, idx in sorted(patterns.items(), key=lambda kv: -len(kv[1])):
        s = stream[idx[0]]
        print('    %s: %d  e.g. #%d ip=%s from=%s helo=%s' % (
            ' / '.join(key), len(idx), idx[0], s['ip'], s['mail_from'] or '<>', s['helo']))
        print('        %s: "%s"' % (s['domain'], txt.get(s['domain'], '(no TXT)')[:150]))


def notes(world):
    print()
    print('policy: Postfix policy delegation requests (smtpd_access_policy, protocol_state=RCPT, '
          'the attributes')
    print('        Postfix 3.7 sends), one per message, sent one at a time per connection (the '
          'next when the')
    print('        action= reply is complete). One warming pass over the same requests first '
          '(new instance=')
    print('        values, so neither server skips them as repeated recipients); domauthd '
          'then stays up')
    print('        and warm for the later rows. Server on core 0 and, unless said, the client '
          'too; unbound')
    print('        on core 1 with 0 ms added. domauthd: bench/policy/domauthd.conf; policyd-spf '
          '(postfix-policyd-spf-python)')
    print('        with bench/policy/policyd-spf.conf, exec\'d by socat on the accepted '
          'socket (no relay).')
    print('        Both check the HELO name, then MAIL FROM, and answer every result with '
          'PREPEND Received-SPF.')
    print('        server CPU s = utime+stime of the server process (all threads) over the '
          'measured pass;')
    print('        peak RSS = its VmHWM so far; DNS q/req = queries unbound received per '
          'request.')
    path = os.path.join(world, 'policy_stream.txt')
    if os.path.exists(path):
        print('        ' + open(path).read().strip())


def whitelist_load(out):
    """The LOAD line policy.sh wrote for the domauth-wl row, as a dict."""
    path = os.path.join(out, 'policy.wl-load.txt')
    if not os.path.exists(path):
        return None
    for line in open(path):
        if line.startswith('LOAD '):
            return {k: int(v) for k, v in _kv(line).items()}
    return None


def whitelist_notes(out, runs):
    loaded = whitelist_load(out)
    if loaded is None and runs.get(WHITELISTED) is None:
        return
    print('        domauth-wl: the requests of the domauth row, served by a second '
          'domauthd whose')
    print('        configuration adds a whitelist_file (bench/policy/whitelist.py) whose '
          'entries cover no')
    if loaded:
        print('        client of the stream: %d entries, which domauthd -t loads in %d ms.'
              % (loaded['entries'], loaded['ms']))
    else:
        print('        client of the stream.')


def report(out, world, marks, stream, txt):
    """Prints the section; returns the RATIO/FIGURE lines (printed last)."""
    runs = load(out, marks)
    if not runs:
        return []
    print()
    print('== policy scenario: domauthd policy listener against policyd-spf')
    print()
    table(runs)
    notes(world)
    whitelist_notes(out, runs)
    agreement(out, stream, txt)
    lines = []
    peer, ours = runs.get(PEER), runs.get(OURS)
    print()
    print('policy target (a benchmark figure, not an assertion):')
    if peer and ours:
        got = ours['checks_per_s'] / peer['checks_per_s']
        print('  requests/s domauth >= %gx policyd-spf on one connection: %.1fx %s '
              '(p99 %.3f ms against %.3f ms)' % (TARGET, got, 'met' if got >= TARGET
                                                 else 'MISSED', ours['p99_ms'],
                                                 peer['p99_ms']))
        xcore = runs.get('policy.domauth-xcore')
        if xcore:
            x = xcore['checks_per_s'] / peer['checks_per_s']
            print('  the same with the client on the other core: %.1fx %s' % (
                x, 'met' if x >= TARGET else 'MISSED'))
        for key, name in (('checks_per_s', 'requests_per_s'), ('cpu_us_per_req',
                                                               'cpu_per_request'),
                          ('p50_ms', 'p50_latency'), ('p99_ms', 'p99_latency'),
                          ('peak_rss_mib', 'peak_rss_mib')):
            if peer.get(key):
                lines.append('RATIO policy %s domauth/policyd-spf = %.2f' % (
                    name, ours[key] / peer[key]))
        if xcore:
            lines.append('RATIO policy requests_per_s domauth-xcore/policyd-spf = %.2f' % (
                xcore['checks_per_s'] / peer['checks_per_s']))
    else:
        print('  not computed (a run is missing)')
    wl = runs.get(WHITELISTED)
    if ours and wl:
        lines.append('RATIO policy requests_per_s domauth-wl/domauth = %.4f' % (
            wl['checks_per_s'] / ours['checks_per_s']))
    for name, _, _ in ROWS:
        f = runs.get('policy.' + name)
        if f:
            lines.append('FIGURE policy requests_per_s %s = %.0f' % (name, f['checks_per_s']))
            lines.append('FIGURE policy p99_ms %s = %.3f' % (name, f['p99_ms']))
    loaded = whitelist_load(out)
    if loaded:
        lines.append('FIGURE policy whitelist_load_ms entries=%d = %d' % (loaded['entries'],
                                                                          loaded['ms']))
    return lines
