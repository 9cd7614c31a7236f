#!/usr/bin/env python3
"""summarize.py: the summary of `make check`. Counts TAP lines in the output of
every test that meson ran (build*/meson-logs/testlog.json), the fuzz run's TAP
and failed build steps; the last line printed is "N passed, N failed, N skipped".
"""
import argparse
import json
import os
import re
import sys

TAP_LINE = re.compile(r'^(not ok|ok)\b(.*)$')
DIRECTIVE = re.compile(r'#\s*(SKIP|TODO)\b', re.IGNORECASE)
PLAN_SKIP = re.compile(r'^1\.\.0\b.*#\s*SKIP\b(.*)$', re.IGNORECASE)
SUITE_COUNT = re.compile(r'^#\s*(.+?:\s*\d+ of \d+ passed.*)$')
OK_RESULTS = {'OK', 'EXPECTEDFAIL'}


class Counts:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failures = []  # (where, line) or (where, line, the output's last lines)

    def add(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.failures += other.failures


def count_tap(text, where):
    """Counts top-level TAP lines; returns (Counts, saw_tap, suite lines)."""
    c = Counts()
    saw_tap = False
    plan_skip = None
    suites = []
    for line in text.splitlines():
        m = TAP_LINE.match(line)
        if m:
            saw_tap = True
            directive = DIRECTIVE.search(m.group(2))
            if directive:
                c.skipped += 1
            elif m.group(1) == 'ok':
                c.passed += 1
            else:
                c.failed += 1
                c.failures.append((where, line))
            continue
        m = PLAN_SKIP.match(line)
        if m:
            plan_skip = m.group(1).strip()
            continue
        m = SUITE_COUNT.match(line)
        if m:
            suites.append(m.group(1))
    if not saw_tap and plan_skip is not None:
        c.skipped += 1
        saw_tap = True
    return c, saw_tap, suites


def read_testlog(tree):
    """Every test run logged in the tree: testlog.json and the logs of runs
    made with --logbase (integration.json)."""
    logs = os.path.join(tree, 'meson-logs')
    paths = [os.path.join(logs, name) for name in ('testlog.json', 'integration.json')]
    paths = [p for p in paths if os.path.exists(p)]
    if not paths:
        return None
    entries = []
    for path in paths:
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        entries.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    return entries


def last_lines(out, n=12):
    """What a test printed last, for a failure no "not ok" line explains
    (a crash, a timeout, a traceback on stderr)."""
    lines = [l for l in out.splitlines() if l.strip()]
    return lines[-n:]


def summarize_tree(tree, failed_steps):
    total = Counts()
    lines = []
    entries = read_testlog(tree)
    name = os.path.basename(os.path.normpath(tree))
    if entries is None:
        if not any(step.startswith(name + ':') for step in failed_steps):
            total.failed += 1
            total.failures.append((name, 'no test results (meson test did not run)'))
        lines.append('# %s: no test results' % name)
        return total, lines
    for e in entries:
        # "domauth:conformance / spf-conformance" -> "spf-conformance"
        test = e.get('name', '?').split(' / ')[-1]
        where = '%s/%s' % (name, test)
        out = (e.get('stdout') or '') + '\n' + (e.get('stderr') or '')
        c, saw_tap, suites = count_tap(out, where)
        result = e.get('result', '')
        if not saw_tap:
            if result in OK_RESULTS:
                c.passed += 1
            elif result == 'SKIP':
                c.skipped += 1
            else:
                c.failed += 1
                c.failures.append((where, '%s (exit %s), no TAP output'
                                   % (result, e.get('returncode'))))
        elif result not in OK_RESULTS and result != 'SKIP' and c.failed == 0:
            # Printed only passing lines, then crashed or timed out.
            c.failed += 1
            c.failures.append((where, '%s (exit %s) after its TAP lines'
                               % (result, e.get('returncode')), last_lines(out)))
        for s in suites:
            lines.append('# %s: %s' % (where, s))
        total.add(c)
    lines.insert(0, '# %s: %d passed, %d failed, %d skipped (%d test programs)'
                 % (name, total.passed, total.failed, total.skipped, len(entries)))
    return total, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--tree', action='append', default=[],
                    help='a meson build directory whose tests ran')
    ap.add_argument('--fuzz', help="run-fuzz.sh's output")
    ap.add_argument('--steps', help='file listing failed steps, one a line')
    ap.add_argument('--elapsed', type=int, help='seconds the whole check took')
    ap.add_argument('--max-failures', type=int, default=40)
    args = ap.parse_args()

    failed_steps = []
    if args.steps and os.path.exists(args.steps):
        with open(args.steps, encoding='utf-8') as f:
            failed_steps = [l.strip() for l in f if l.strip()]

    total = Counts()
    print('#')
    print('# ---- summary ----')
    for tree in args.tree:
        c, lines = summarize_tree(tree, failed_steps)
        total.add(c)
        for line in lines:
            print(line)

    if args.fuzz is not None:
        if os.path.exists(args.fuzz):
            with open(args.fuzz, encoding='utf-8', errors='replace') as f:
                c, saw_tap, _ = count_tap(f.read(), 'fuzz')
            if not saw_tap and not any(s.startswith('fuzz') for s in failed_steps):
                c.failed += 1
                c.failures.append(('fuzz', 'no fuzz results'))
        else:
            c = Counts()
            if not any(s.startswith('fuzz') for s in failed_steps):
                c.failed += 1
                c.failures.append(('fuzz', 'no fuzz results'))
        print('# fuzz: %d passed, %d failed, %d skipped' % (c.passed, c.failed, c.skipped))
        total.add(c)

    for step in failed_steps:
        total.failed += 1
        total.failures.append(('step', step))

    if total.failures:
        print('# failures:')
        for failure in total.failures[:args.max_failures]:
            print('#   [%s] %s' % failure[:2])
            for tail in (failure[2] if len(failure) > 2 else []):
                print('#       | %s' % tail[:200])
        if len(total.failures) > args.max_failures:
            print('#   ... and %d more' % (len(total.failures) - args.max_failures))
    if args.elapsed is not None:
        print('# make check took %d s' % args.elapsed)
    line = '%d passed, %d failed' % (total.passed, total.failed)
    if total.skipped:
        line += ', %d skipped' % total.skipped
    print(line)
    return 1 if total.failed else 0


if __name__ == '__main__':
    sys.exit(main())
