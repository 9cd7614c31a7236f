#!/usr/bin/python3
"""milter_cpu.py [--spf-dir DIR] PID...: CPU seconds used so far (user +
system, threads included) by the given processes and, with --spf-dir, by
every policyd-spf the wrapper of milter.sh ever started: the ones still
running (each wrapper shell's child, found by its parent PID in /proc) plus
the ones that exited (the times each wrapper wrote at exit, DIR/*.t).
The difference of two readings is what the checking processes used in
between (bench/README.md, "Milter path")."""
import os
import re
import sys

TCK = os.sysconf('SC_CLK_TCK')


def stat(pid):
    try:
        s = open('/proc/%s/stat' % pid).read()
    except OSError:
        return None
    w = s[s.rindex(')') + 2:].split()
    return int(w[1]), (int(w[11]) + int(w[12])) / TCK  # ppid, utime + stime


def main():
    args = sys.argv[1:]
    spf_dir = None
    if args[:1] == ['--spf-dir']:
        spf_dir, args = args[1], args[2:]
    total = 0.0
    for pid in args:
        st = stat(pid)
        total += st[1] if st else 0.0
    if spf_dir:
        shells = set()
        for name in os.listdir(spf_dir):
            if name.endswith('.t'):
                lines = open(os.path.join(spf_dir, name)).read().splitlines()
                if len(lines) >= 2:  # the second line: the children's times
                    for m, s in re.findall(r'(\d+)m([\d.]+)s', lines[1]):
                        total += int(m) * 60 + float(s)
            else:
                shells.add(int(name))
        if shells:
            for pid in os.listdir('/proc'):
                if pid.isdigit():
                    st = stat(pid)
                    if st and st[0] in shells:
                        total += st[1]
    print('%.3f' % total)


if __name__ == '__main__':
    main()
