#!/usr/bin/env python3
"""whitelist.py: writes a large whitelist_file for the policy benchmark's
domauth-wl row (bench/README.md): N entries, deterministic from --seed, in the forms
administrators write, none of which covers an address of the world's stream.
Not a test fixture: the unit tests build their own sets."""
import argparse
import random

# The stream's clients come from 16.0.0.0/5 (the world's ranges and hosts),
# 198.18.0.0/15 (random IPv4) and 2001:db8::/32 (IPv6): the entries are drawn
# from 32.0.0.0-191.255.255.255 and 2a00::/12, which hold none of them.
V4_LOW, V4_HIGH = 32 << 24, (192 << 24) - 1


def v4(n):
    return '%d.%d.%d.%d' % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


def v6(n):
    return ':'.join('%x' % ((n >> (112 - 16 * i)) & 0xffff) for i in range(8))


def entry(rng):
    kind = rng.random()
    if kind < 0.80:  # IPv4
        a = rng.randint(V4_LOW, V4_HIGH - 1024)
        form = rng.random()
        if form < 0.70:
            return v4(a)
        if form < 0.85:
            prefix = rng.randint(24, 31)
            return '%s/%d' % (v4(a & ~((1 << (32 - prefix)) - 1)), prefix)
        if form < 0.90:
            mask = (0xffffffff << 8) & 0xffffffff
            return '%s/%s' % (v4(a & mask), v4(mask))
        return '%s-%s' % (v4(a), v4(a + rng.randint(1, 300)))
    a = (0x2a0 << 116) | rng.getrandbits(116)
    prefix = rng.choice((48, 56, 64, 128))
    a &= ~((1 << (128 - prefix)) - 1)
    return v6(a) if prefix == 128 else '%s/%d' % (v6(a), prefix)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('path')
    ap.add_argument('--entries', type=int, default=1000000)
    ap.add_argument('--seed', type=int, default=7208)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.path, 'w') as f:
        f.write('# %d generated whitelist entries (bench/policy/whitelist.py, seed %d)\n'
                % (args.entries, args.seed))
        f.writelines(entry(rng) + '\n' for _ in range(args.entries))


if __name__ == '__main__':
    main()
