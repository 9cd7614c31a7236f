#!/usr/bin/python3
"""report_milter.py DIR: the milter scenario's section of the report
(bench/README.md, "Milter path"), from what milter.sh left in DIR: the
saturation runs (DIR/out/milter.txt), the latency runs (DIR/out/lat.*) and
the delivered latency messages (DIR/mail/STACK/new), whose result fields
are compared stack against stack. Prints a table, the agreement, the
target and the RATIO/FIGURE lines.
"""
import email.parser
import os
import re
import statistics
import sys

STACKS = ('plain', 'domauth', 'peers')


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float('nan')
    k = (len(xs) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def read_runs(path):
    plan, runs = (0, 0), {s: [] for s in STACKS}
    for line in open(path):
        w = line.split()
        if w[0] == 'PLAN':
            plan = (int(w[1]), int(w[2]))
        elif w[0] == 'SAT':
            kv = dict(x.split('=', 1) for x in w[1:] if '=' in x)
            # result=MSGS USEC FAILED: the three words after it
            i = w.index([x for x in w if x.startswith('result=')][0])
            msgs = int(w[i].split('=')[1])
            usec, failed = int(w[i + 1]), int(w[i + 2])
            runs[kv['stack']].append({
                'msgs': msgs, 'sec': usec / 1e6, 'failed': failed,
                'cpu': float(kv['cpu1']) - float(kv['cpu0']),
                'spf_procs': int(kv['spf_procs']),
                'unbound': float(kv['unbound1']) - float(kv['unbound0'])})
    return plan, runs


def read_latency(out):
    lat = {s: [] for s in STACKS}
    errors = {s: 0 for s in STACKS}
    for name in os.listdir(out):
        m = re.match(r'lat\.(\w+)\.(\d+)$', name)
        if not m or m.group(1) not in lat or m.group(2) == '0':
            continue  # round 0 warms the caches
        for line in open(os.path.join(out, name)):
            _, _, sec, code = line.split()
            if code == '250':
                lat[m.group(1)].append(float(sec) * 1000)
            else:
                errors[m.group(1)] += 1
    return lat, errors


def results_of(msg):
    """The SPF, DKIM and DMARC results the checks added to one message."""
    res = {}
    for value in msg.get_all('Authentication-Results') or []:
        value = ' '.join(value.split())
        for method, result in re.findall(r'\b(spf|dkim|dmarc)=(\w+)', value):
            res.setdefault(method, result.lower())
    for value in msg.get_all('Received-SPF') or []:
        res.setdefault('spf', value.split()[0].lower())
    return res


def read_mail(mail):
    out = {}
    parser = email.parser.BytesHeaderParser()
    for stack in STACKS:
        d = os.path.join(mail, stack, 'new')
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), 'rb') as f:
                msg = parser.parse(f)
            tag = (msg.get('X-Bench') or '').split()
            if len(tag) == 3:
                out[(stack, int(tag[1]), int(tag[2]))] = results_of(msg)
    return out


def main():
    d = sys.argv[1]
    out = os.path.join(d, 'out')
    plan, runs = read_runs(os.path.join(out, 'milter.txt'))
    lat, lat_errors = read_latency(out)
    print('== milter path through one Postfix (bench/milter): %d message streams '
          '(%d DKIM-signed), smtp-source, saturation runs interleaved' % plan)
    print('%-8s %5s %9s %7s %12s %12s %12s %10s %10s' % (
        'stack', 'runs', 'msgs/run', 'fails', 'msgs/s', 'CPU ms/msg', '+unbound', 'p50 ms',
        'p99 ms'))
    fig = {}
    for s in STACKS:
        rs = runs[s]
        if not rs:
            continue
        rate = statistics.median(r['msgs'] / r['sec'] for r in rs)
        cpu = statistics.median(r['cpu'] / r['msgs'] * 1000 for r in rs)
        ub = statistics.median(r['unbound'] / r['msgs'] * 1000 for r in rs)
        fig[s] = {'rate': rate, 'cpu': cpu, 'ub': ub,
                  'p50': pct(lat[s], 50), 'p99': pct(lat[s], 99)}
        print('%-8s %5d %9d %7d %12.1f %12.3f %12.3f %10.2f %10.2f' % (
            s, len(rs), rs[0]['msgs'], sum(r['failed'] for r in rs), rate,
            cpu if s != 'plain' else float('nan'), ub if s != 'plain' else float('nan'),
            fig[s]['p50'], fig[s]['p99']))
    for s in STACKS:
        if lat_errors[s]:
            print('!! %s: %d latency messages not accepted with 250' % (s, lat_errors[s]))
    if 'peers' in runs and runs['peers']:
        r = runs['peers']
        print('   peers CPU = OpenDKIM + OpenDMARC (/proc/PID/stat) + policyd-spf (those '
              'running read from /proc, those that exited from their times; %s had exited '
              'after each run)' % '/'.join(str(x['spf_procs']) for x in r))
    print('   msgs/s: median over runs of messages / wall-clock time of the run (all '
          'smtp-source processes done); CPU: the checking processes only, and with '
          "unbound's CPU added (+unbound); latency: one message at a time, connect to "
          "the reply to the final dot, %d messages per stack" % len(lat.get('plain', [])))
    if 'plain' in fig:
        for s in ('domauth', 'peers'):
            if s in fig:
                print('   %s adds p50 %.2f ms, p99 %.2f ms over the plain listener' % (
                    s, fig[s]['p50'] - fig['plain']['p50'], fig[s]['p99'] - fig['plain']['p99']))

    mail = read_mail(os.path.join(d, 'mail'))
    agree = differ = 0
    examples = []
    for (stack, r, i), res in sorted(mail.items()):
        if stack != 'domauth' or r == 0:
            continue
        peer = mail.get(('peers', r, i))
        if peer is None:
            continue
        a = tuple(res.get(k, '-') for k in ('spf', 'dkim', 'dmarc'))
        b = tuple(peer.get(k, '-') for k in ('spf', 'dkim', 'dmarc'))
        if a == b:
            agree += 1
        else:
            differ += 1
            if len(examples) < 3:
                examples.append('stream %d: domauth spf/dkim/dmarc=%s, peers %s' % (
                    i, '/'.join(a), '/'.join(b)))
    print('   agreement (the measured latency messages as delivered, spf/dkim/dmarc): '
          '%d agree, %d differ'
          % (agree, differ))
    for e in examples:
        print('     ' + e)

    if 'domauth' in fig and 'peers' in fig:
        rr = fig['domauth']['rate'] / fig['peers']['rate']
        cr = fig['domauth']['cpu'] / fig['peers']['cpu']
        met = 'met' if rr >= 3 and cr <= 1 / 3 else 'MISSED'
        print('   target: >= 3x messages/s at <= 1/3 CPU per message: %s' % met)
        if 'plain' in fig:
            print('   (the plain listener, no check: %.1f msgs/s, the ceiling of this '
                  'Postfix on this machine)' % fig['plain']['rate'])
        print()
        print('RATIO milter msgs_per_s domauth/peers = %.2f' % rr)
        print('RATIO milter cpu_per_msg domauth/peers = %.3f' % cr)
        print('RATIO milter cpu_per_msg_with_unbound domauth/peers = %.3f' % (
            (fig['domauth']['cpu'] + fig['domauth']['ub']) /
            (fig['peers']['cpu'] + fig['peers']['ub'])))
        if 'plain' in fig:
            print('RATIO milter msgs_per_s domauth/plain = %.2f' % (
                fig['domauth']['rate'] / fig['plain']['rate']))
        print('FIGURE milter latency_added_ms domauth p50=%.2f p99=%.2f peers p50=%.2f '
              'p99=%.2f' % (fig['domauth']['p50'] - fig['plain']['p50'],
                            fig['domauth']['p99'] - fig['plain']['p99'],
                            fig['peers']['p50'] - fig['plain']['p50'],
                            fig['peers']['p99'] - fig['plain']['p99']))


if __name__ == '__main__':
    main()
