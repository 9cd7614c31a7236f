#!/usr/bin/env python3
"""e2e_helper.py: small readers for tests/e2e/postfix_e2e.sh.

  event JSONL ID [RCPT]        the last event whose mail_from or rcpt contains
                               ID (or whose rcpt is RCPT), as one JSON line;
                               exit 1 when there is none
  match JSONL ID RCPT k=v...   like event, then compares fields (v "null" is
                               JSON null; result.METHOD is the result of the
                               first entry of METHOD in "results"); prints the
                               mismatches, exit 1 on any
  count JSONL [k=v...]         number of events whose fields all match (k!=v: differs; k~v:
                               the field contains v)
  dbcount DBJSON [k=v...]      the same over `domauth log --json` output
  headers FILE                 the header block of a message, one unfolded
                               header per line
"""
import json
import sys


def load(path):
    events = []
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    events.append(json.loads(line))
                except ValueError:
                    events.append({'_bad_line': line})
    except FileNotFoundError:
        pass
    return events


def recipients(e):
    return [r.get('address') for r in (e.get('recipients') or []) if isinstance(r, dict)]


def find(events, ident, rcpt=None):
    """The last event of a message: one event per message, found by its
    sender, its first recipient or (with rcpt) any of its recipients. The
    event gets rcpt_action: what was done for that recipient."""
    last = None
    for e in events:
        if rcpt:
            if e.get('rcpt') == rcpt or rcpt in recipients(e):
                last = dict(e)
                for r in e.get('recipients') or []:
                    if isinstance(r, dict) and r.get('address') == rcpt:
                        last['rcpt_action'] = r.get('action')
        elif ident in (e.get('mail_from') or '') or ident in (e.get('rcpt') or ''):
            last = e
    return last


def parse_conds(args):
    conds = []
    for a in args:
        if '!=' in a:
            k, v = a.split('!=', 1)
            conds.append((k, '!=', v))
        elif '~' in a and ('=' not in a or a.index('~') < a.index('=')):
            k, v = a.split('~', 1)
            conds.append((k, '~', v))
        else:
            k, v = a.split('=', 1)
            conds.append((k, '=', v))
    return conds


def field(e, k):
    """A top-level field, or result.METHOD: the first result of METHOD."""
    if k.startswith('result.'):
        method = k[len('result.'):]
        for r in e.get('results') or []:
            if isinstance(r, dict) and r.get('method') == method:
                return r.get('result')
        return None
    return e.get(k)


def value_text(v):
    if v is None:
        return 'null'
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    return str(v)


def matches(e, conds):
    for k, op, v in conds:
        got = value_text(field(e, k))
        if op == '=' and got != v:
            return False
        if op == '~' and v not in got:
            return False
        if op == '!=' and got == v:
            return False
    return True


def main(argv):
    cmd = argv[1]
    if cmd == 'event':
        e = find(load(argv[2]), argv[3], argv[4] if len(argv) > 4 and argv[4] else None)
        if e is None:
            return 1
        print(json.dumps(e, sort_keys=True))
        return 0
    if cmd == 'match':
        e = find(load(argv[2]), argv[3], argv[4] or None)
        if e is None:
            print('no event for %s' % argv[3])
            return 1
        bad = 0
        for k, op, v in parse_conds(argv[5:]):
            got = value_text(field(e, k))
            if (op == '=' and got != v) or (op == '~' and v not in got):
                print('%s: got %r, want %s %r' % (k, got, 'containing' if op == '~' else '', v))
                bad += 1
        return 1 if bad else 0
    if cmd == 'count':
        conds = parse_conds(argv[3:])
        print(sum(1 for e in load(argv[2]) if matches(e, conds)))
        return 0
    if cmd == 'dbcount':
        conds = parse_conds(argv[3:])
        print(sum(1 for e in load(argv[2]) if matches(e, conds)))
        return 0
    if cmd == 'headers':
        out = []
        with open(argv[2], encoding='utf-8', errors='replace') as f:
            for line in f:
                line = line.rstrip('\r\n')
                if line == '':
                    break
                if line[:1] in (' ', '\t') and out:
                    out[-1] += ' ' + line.strip()
                else:
                    out.append(line)
        print('\n'.join(out))
        return 0
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == '__main__':
    sys.exit(main(sys.argv))
