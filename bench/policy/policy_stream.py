#!/usr/bin/python3
"""policy_stream.py: the request stream of the policy scenario, taken from
the generated world's stream (bench/gen_world.py's stream.tsv): the requests
whose sender domain is one of the N domains the stream names most often,
plus the bounces (empty MAIL FROM, the HELO identity is checked), in stream
order and with their original index and expected result.

gen_world.py draws the domain of each request by Zipf rank over all the
customer domains; keeping the N most frequent keeps a Zipf distribution
over N domains (the same law, cut at rank N). Writes policy_stream.tsv (the
format of stream.tsv) and policy_stream.txt (a summary) into the world
directory."""
import argparse
import collections
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('world')
    ap.add_argument('--domains', type=int, default=300)
    args = ap.parse_args()
    rows = []
    for line in open(os.path.join(args.world, 'stream.tsv')):
        f = line.rstrip('\n').split('\t')
        sender_domain = f[2].rpartition('@')[2] if f[2] else ''
        rows.append((line, sender_domain, f[4]))
    freq = collections.Counter(d for _, d, _ in rows if d)
    first = {}
    for i, (_, d, _) in enumerate(rows):
        first.setdefault(d, i)
    # Most frequent first; ties by first appearance, so the choice is stable.
    ranked = sorted(freq, key=lambda d: (-freq[d], first[d]))
    keep = set(ranked[:args.domains])
    picked = [(line, d, res) for line, d, res in rows if d in keep or not d]
    with open(os.path.join(args.world, 'policy_stream.tsv'), 'w') as out:
        for line, _, _ in picked:
            out.write(line)
    results = collections.Counter(res for _, _, res in picked)
    top = freq[ranked[0]] if ranked else 0
    with open(os.path.join(args.world, 'policy_stream.txt'), 'w') as out:
        out.write('policy stream: %d requests of %d, %d sender domains (the most frequent; '
                  'top domain %d requests), %d bounces; expected %s\n' % (
                      len(picked), len(rows), len(keep), top,
                      sum(1 for _, d, _ in picked if not d),
                      ' '.join('%s=%d' % kv for kv in sorted(results.items()))))


if __name__ == '__main__':
    main()
