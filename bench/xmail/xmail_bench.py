#!/usr/bin/python3
"""xmail_bench.py: the XMail filter's wall time per message at post-data, as
an XMail administrator feels it on every message: XMail starts a process per
check and waits for it. Rows, over the same messages (the first N of the
bench world's request stream, as post-data spool files):

  warm        domauth xmail-filter, the check sent to a running domauthd
              (its cache warmed by one pass over the same messages)
  warm-fast   domauth-xmail-filter (the filter alone, linked with libc only),
              the same check through domauthd
  warm-fast-tmpfs  the same with the spool files on tmpfs, where fsync costs
              nothing: the filter's own cost, apart from the disk's
  cold        domauth xmail-filter --in-process: a new process, a cold cache,
              the site's configuration read, events written to its store
  spfquery    libspf2's spfquery CLI per message, as a shell filter would
              run it (a check-per-process baseline: no configuration, no
              events, no header fields)

Usage: xmail_bench.py STREAM DOMAUTH FAST_FILTER CONF SPFQUERY N OUTDIR TMPFS_DIR
Writes OUTDIR/xmail.report: a table, then RATIO and FIGURE lines. Every
row's verdicts are checked against the stream's expected SPF results.
"""
import os
import statistics
import subprocess
import sys
import time


def spool(path, ip, mail_from, helo, i):
    lines = ['%s;[%s]:4000;mx.bench.test;[127.0.0.1]:25;Tue, 1 Dec 2026 10:00:00 +0000;'
             '[XMail 1.27 ESMTP Server]' % (helo, ip), 'mx.bench.test',
             'S%d@mx.bench.test' % i, 'MAIL FROM:<%s>' % mail_from,
             'RCPT TO:<user@mx.bench.test> {ra=user@mx.bench.test}']
    body = ('<<MAIL-DATA>>\r\nReceived: from %s by mx.bench.test\r\nFrom: <%s>\r\n'
            'Subject: bench %d\r\n\r\nline\r\n' % (helo, mail_from or 'postmaster@' + helo, i))
    with open(path, 'wb') as f:
        f.write(''.join(l + '\r\n' for l in lines).encode() + body.encode())


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def spf_of(path):
    """The spf= result the filter wrote into the file (or None)."""
    with open(path, 'rb') as f:
        for line in f.read().decode('latin-1').split('\r\n'):
            if line.startswith('\t') or line.startswith(' ') or line.startswith('Authentication-Results:'):
                k = line.find('spf=')
                if k >= 0:
                    return line[k + 4:].split()[0].rstrip(';')
    return None


def main():
    stream, domauth, fast, conf, spfquery, n, outdir, tmpfs = sys.argv[1:9]
    n = int(n)
    reqs = []
    with open(stream) as f:
        for line in f:
            i, ip, mail_from, helo, result = line.rstrip('\n').split('\t')[:5]
            if ':' in ip:
                continue
            reqs.append((int(i), ip, mail_from, helo, result))
            if len(reqs) == n:
                break
    work = os.path.join(outdir, 'xmail')
    os.makedirs(work, exist_ok=True)
    rows = {}
    agree = {}

    def run_filter(label, command, extra, passes, where=work):
        times, ok = [], 0
        for p in range(passes):
            times = []
            ok = 0
            for i, ip, mail_from, helo, result in reqs:
                path = os.path.join(where, '%s.%d' % (label, i))
                spool(path, ip, mail_from, helo, i)
                t0 = time.perf_counter()
                subprocess.run(command + ['--stage', 'post-data', '--auth', '-',
                                          '--config', conf] + extra + [path],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times.append((time.perf_counter() - t0) * 1000)
                ok += spf_of(path) == result
        rows[label] = times
        agree[label] = ok

    def run_spfquery():
        times, ok = [], 0
        for i, ip, mail_from, helo, result in reqs:
            args = [spfquery, '-ip', ip, '-helo', helo]
            if mail_from:
                args += ['-sender', mail_from]
            t0 = time.perf_counter()
            r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            times.append((time.perf_counter() - t0) * 1000)
            ok += r.stdout.decode('latin-1').split('\n')[0].strip() == result
        rows['spfquery'] = times
        agree['spfquery'] = ok

    run_filter('warm', [domauth, 'xmail-filter'], [], 2)  # the first pass warms domauthd
    run_filter('warm-fast', [fast], [], 1)
    shm = os.path.join(tmpfs, 'domauth-xmail-bench')
    os.makedirs(shm, exist_ok=True)
    run_filter('warm-fast-tmpfs', [fast], [], 1, shm)
    subprocess.run(['rm', '-rf', shm])
    run_filter('cold', [domauth, 'xmail-filter'], ['--in-process'], 1)
    if os.access(spfquery, os.X_OK):
        run_spfquery()
    out = []
    out.append('== xmail: the filter at post-data, wall time per message including process '
               'start (ms), %d messages' % len(reqs))
    out.append('%-16s %8s %8s %8s %10s' % ('row', 'p50', 'p99', 'mean', 'agree'))
    for label, t in rows.items():
        out.append('%-16s %8.2f %8.2f %8.2f %6d/%d' % (label, statistics.median(t), pct(t, 99),
                                                        statistics.mean(t), agree[label],
                                                        len(reqs)))
    out.append('')
    for label, t in rows.items():
        out.append('FIGURE xmail p50_ms %s = %.2f' % (label, statistics.median(t)))
        out.append('FIGURE xmail p99_ms %s = %.2f' % (label, pct(t, 99)))
    p50 = {label: statistics.median(t) for label, t in rows.items()}
    if 'spfquery' in rows:
        for label in ('warm', 'warm-fast'):
            out.append('RATIO xmail p50 %s/spfquery = %.2f' % (label, p50[label] / p50['spfquery']))
    out.append('RATIO xmail p50 warm-fast/cold = %.2f' % (p50['warm-fast'] / p50['cold']))
    for label in ('warm-fast', 'warm-fast-tmpfs'):
        out.append('TARGET xmail %s p50 < 2 ms: %s (%.2f ms)' % (
            label, 'met' if p50[label] < 2 else 'missed', p50[label]))
    with open(os.path.join(outdir, 'xmail.report'), 'w') as f:
        f.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
