#!/usr/bin/python3
"""gen_world.py: writes a synthetic SPF world and a Zipf request stream for the
benchmark, deterministic from a seed. Not a general SPF evaluator: the model in
Evaluator understands exactly the terms this generator writes.

Outputs in OUTDIR: zone (root zone file for unbound), stream.tsv (one request a
line with its expected result, critical-path depth and serial lookup count) and
world.txt (a summary).
"""
import argparse
import ipaddress
import os
import random
import bisect

TTL = 3600
QUALIFIERS = [('-', 35), ('~', 45), ('?', 15), ('', 5)]  # '' = no "all" term
RESULT_OF = {'+': 'pass', '-': 'fail', '~': 'softfail', '?': 'neutral'}
WORDS = ('acme alpha bravo cargo delta ember flux gamma harbor indigo jolt kilo lumen '
         'metro nova orbit pixel quartz radar sigma terra ultra vector willow xenon '
         'yonder zephyr apex birch cobalt dune').split()


def weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for value, w in pairs:
        x -= w
        if x <= 0:
            return value
    return pairs[-1][0]


class World:
    """Names -> records. txt: name -> list of TXT strings; a/aaaa/mx likewise.
    exists_ok: names that have an A record because an exists term probes them."""

    def __init__(self, rng):
        self.rng = rng
        self.txt, self.a, self.aaaa, self.mx = {}, {}, {}, {}
        self.sources = {}     # domain -> list of ways to pick an authorised IP
        self.kind = {}        # customer domain -> kind
        self.net4 = ipaddress.ip_network('16.0.0.0/5')  # carved into /24s
        self.next_block = 0
        self.next_block6 = 0

    # -- address space: unique ranges so a random IP rarely matches by accident
    def block4(self, prefix):
        base = int(self.net4.network_address) + self.next_block * 256
        self.next_block += 1
        return ipaddress.ip_network((base, 24)).subnets(new_prefix=prefix).__next__()

    def block6(self, prefix):
        # 2001:db8:N::/48 for N below 0xff00; random clients use 2001:db8:ff00::/40
        self.next_block6 += 1
        assert self.next_block6 < 0xff00, 'world too large for the IPv6 plan'
        return ipaddress.ip_network('2001:db8:%x::/%d' % (self.next_block6, prefix),
                                    strict=False)

    def host4(self):
        return self.block4(32).network_address

    def add_txt(self, name, text):
        self.txt.setdefault(name, []).append(text)


def ip_terms(world, n4, n6):
    terms, sources = [], []
    for _ in range(n4):
        net = world.block4(world.rng.choice((24, 25, 26, 27, 28, 32)))
        terms.append('ip4:%s' % (net.network_address if net.prefixlen == 32 else net))
        sources.append(('net', net))
    for _ in range(n6):
        net = world.block6(world.rng.choice((48, 56, 64)))
        terms.append('ip6:%s' % net)
        sources.append(('net', net))
    return terms, sources


def make_providers(world, count):
    """Large senders: include chains 2 to 4 deep from the customer's record.
    Returns a list of (name customers include, sources, weight)."""
    rng, providers = world.rng, []
    for p in range(count):
        base = 'prov%d-%s.example' % (p, WORDS[p % len(WORDS)])
        depth = (2, 3, 4)[p % 3]            # TXT levels below the customer's record
        blocks = []
        for b in range(rng.choice((2, 3))):
            name = '_netblocks%d.%s' % (b + 1, base) if b else '_netblocks.%s' % base
            terms, src = ip_terms(world, rng.randint(6, 10), rng.randint(1, 3))
            world.add_txt(name, 'v=spf1 %s ~all' % ' '.join(terms))
            blocks.append(name)
            world.sources.setdefault(base, []).extend(src)
        top = '_spf.' + base
        world.add_txt(top, 'v=spf1 %s ~all' % ' '.join('include:' + b for b in blocks))
        for level in range(depth - 2):      # wrappers: spf.X -> _spf.X, spf2.X -> spf.X
            outer = ('spf.' if level == 0 else 'spf%d.' % (level + 1)) + base
            world.add_txt(outer, 'v=spf1 include:%s ~all' % top)
            top = outer
        if p % 5 == 4:  # a provider that also lists customers' IPs with exists + %{i}
            listed = [world.host4() for _ in range(20)]
            for ip in listed:
                world.a['%s._ip.%s' % (ip, base)] = [ipaddress.ip_address('127.0.0.2')]
            world.txt[top] = ['v=spf1 exists:%%{i}._ip.%s %s' % (base, world.txt[top][0][7:])]
            world.sources[base].extend(('ip', ip) for ip in listed)
        cost = len(blocks) + depth - 1 + (1 if p % 5 == 4 else 0)
        providers.append((top, base, cost, 1.0 / (p + 1)))
    return providers


def all_term(rng):
    q = weighted(rng, QUALIFIERS)
    return (' %sall' % q) if q else ''


def customer_inc(world, d, providers, limit=9):
    rng, terms, sources, cost = world.rng, [], [], 0
    weights = [w for *_, w in providers]
    picked = []
    for _ in range(rng.choice((1, 1, 2))):
        top, base, pcost, _w = rng.choices(providers, weights)[0]
        if base in [b for b, _ in picked] or cost + pcost > limit:
            continue
        picked.append((base, top))
        cost += pcost
    if cost < limit and rng.random() < 0.3:
        terms.append('mx')
        add_mx(world, d, sources)
    for base, top in picked:
        terms.append('include:' + top)
        sources.append(('prov', base))
    more, src = ip_terms(world, rng.randint(0, 2), 0)
    return ' '.join(terms + more), sources + src


def add_mx(world, d, sources):
    hosts = ['mx%d.%s' % (i + 1, d) for i in range(world.rng.randint(1, 3))]
    world.mx[d] = [(10 * (i + 1), h) for i, h in enumerate(hosts)]
    for h in hosts:
        ip = world.host4()
        world.a[h] = [ip]
        sources.append(('ip', ip))
        if world.rng.random() < 0.3:
            ip6 = world.block6(128).network_address
            world.aaaa[h] = [ip6]
            sources.append(('ip', ip6))


def customer(world, d, providers, groups):
    rng = world.rng
    kind = weighted(rng, [('ip', 20), ('amx', 20), ('inc', 33), ('redirect', 10),
                          ('exists', 10), ('none', 5), ('broken', 2)])
    world.kind[d] = kind
    sources = []
    if kind == 'ip':
        terms, sources = ip_terms(world, rng.randint(1, 6), rng.randint(0, 2))
        body = ' '.join(terms)
    elif kind == 'amx':
        ip = world.host4()
        world.a[d] = [ip]
        sources.append(('ip', ip))
        add_mx(world, d, sources)
        more, src = ip_terms(world, rng.randint(0, 2), 0)
        body, sources = ' '.join(['a', 'mx'] + more), sources + src
    elif kind == 'inc':
        body, sources = customer_inc(world, d, providers)
    elif kind == 'redirect':
        group = rng.choice(groups)
        world.add_txt(d, 'v=spf1 redirect=%s' % group)
        world.sources[d] = [('prov', group)]
        return
    elif kind == 'exists':
        listed = [world.host4() for _ in range(rng.randint(2, 8))]
        for ip in listed:
            world.a['%s._spf.%s' % (ip, d)] = [ipaddress.ip_address('127.0.0.2')]
        body, sources = 'exists:%{i}._spf.%{d}', [('ip', ip) for ip in listed]
    elif kind == 'none':
        world.add_txt(d, 'site-verification=%08x' % rng.getrandbits(32))
        world.sources[d] = []
        return
    else:  # broken: one kind of permerror each
        body = rng.choice(('ip4:300.1.2.3', 'include:missing-%d.example' % rng.getrandbits(20),
                           'a:%{z}.example'))
    world.add_txt(d, 'v=spf1 %s%s' % (body, all_term(rng)))
    world.sources[d] = sources


def make_groups(world, providers, count):
    """Shared policies that customers reach with redirect= (like _spf.corp)."""
    groups = []
    for g in range(count):
        name = '_spf.group%d.example' % g
        body, sources = customer_inc(world, name, providers, limit=8)
        world.add_txt(name, 'v=spf1 %s%s' % (body, all_term(world.rng)))
        world.sources[name] = sources
        world.kind[name] = 'group'
        groups.append(name)
    return groups


# ----------------------------------------------------------------- the model

class Result(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


class Evaluator:
    """check_host() over the world for the terms we generate, in RFC order,
    noting each distinct DNS question and the round trip (level) at which an
    ideal evaluator that asks every independent question at once has it."""

    def __init__(self, world, ip):
        self.world, self.ip = world, ip
        self.asked = {}
        self.terms = self.voids = 0

    def lookup(self, name, rtype, level):
        key = (name.lower(), rtype)
        self.asked[key] = min(level, self.asked.get(key, level))
        table = {'TXT': self.world.txt, 'A': self.world.a, 'AAAA': self.world.aaaa,
                 'MX': self.world.mx}[rtype]
        return table.get(name.lower(), [])

    def count_term(self):
        self.terms += 1
        if self.terms > 10:
            raise Result('permerror')

    def void(self, records):
        if not records:
            self.voids += 1
            if self.voids > 2:
                raise Result('permerror')

    def addrs(self, name, level):
        rtype = 'A' if self.ip.version == 4 else 'AAAA'
        return self.lookup(name, rtype, level)

    def check_host(self, domain, level):
        spf = [t for t in self.lookup(domain, 'TXT', level) if t.startswith('v=spf1')]
        if not spf:
            return 'none'
        terms = spf[0].split()[1:]
        redirect = None
        for term in terms:
            if term.startswith('redirect='):
                redirect = term[9:]
                continue
            qual = term[0] if term[0] in '+-~?' else '+'
            mech = term[1:] if term[0] in '+-~?' else term
            if self.mechanism(mech, domain, level):
                return RESULT_OF[qual]
        if redirect:
            self.count_term()
            result = self.check_host(redirect, level + 1)
            return 'permerror' if result == 'none' else result
        return 'neutral'

    def mechanism(self, mech, domain, level):
        name, _, arg = mech.partition(':')
        if name in ('ip4', 'ip6'):
            net = ipaddress.ip_network(arg, strict=False)  # 300.x raises
            return net.version == self.ip.version and self.ip in net
        if name == 'all':
            return True
        self.count_term()
        if name == 'a':
            if '%{z}' in arg:
                raise Result('permerror')
            records = self.addrs(arg or domain, level + 1)
            self.void(records)
            return self.ip in records
        if name == 'mx':
            hosts = self.lookup(arg or domain, 'MX', level + 1)
            self.void(hosts)
            return any(self.ip in self.addrs(h, level + 2) for _, h in sorted(hosts))
        if name == 'include':
            result = self.check_host(arg, level + 1)
            if result in ('temperror', 'permerror'):
                raise Result(result)
            if result == 'none':
                raise Result('permerror')
            return result == 'pass'
        if name == 'exists':
            probe = arg.replace('%{i}', self.macro_i()).replace('%{d}', domain)
            records = self.lookup(probe, 'A', level + 1)
            self.void(records)
            return bool(records)
        raise ValueError('model does not know ' + mech)

    def macro_i(self):
        if self.ip.version == 4:
            return str(self.ip)
        return '.'.join('%x' % int(c, 16) for c in self.ip.exploded.replace(':', ''))

    def run(self, domain):
        try:
            result = self.check_host(domain, 1)
        except Result as r:
            result = r.result
        except ValueError:
            result = 'permerror'
        depth = max(self.asked.values()) if self.asked else 0
        return result, depth, len(self.asked)


# ------------------------------------------------------------- the stream

def authorised_ip(world, domain, rng, seen=None):
    seen = seen or set()
    if domain in seen:
        return None
    seen.add(domain)
    sources = world.sources.get(domain) or []
    if not sources:
        return None
    kind, value = rng.choice(sources)
    if kind == 'ip':
        return value
    if kind == 'net':
        size = value.num_addresses
        return value.network_address + (rng.randrange(size) if size < 1 << 16 else
                                        rng.randrange(1 << 16))
    return authorised_ip(world, value, rng, seen)


def random_ip(rng):
    if rng.random() < 0.1:
        return ipaddress.ip_address('2001:db8:ff%02x:%x::%x' % (rng.getrandbits(8),
                                                               rng.getrandbits(16),
                                                             rng.getrandbits(16)))
    return ipaddress.ip_address('198.18.0.0') + rng.getrandbits(17)


def zipf_sampler(n, s, rng):
    weights = [1.0 / (k ** s) for k in range(1, n + 1)]
    cumulative, total = [], 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    return lambda: bisect.bisect_left(cumulative, rng.uniform(0, total))


def write_stream(world, domains, path, count, rng, zipf_s):
    ranks = list(domains)
    rng.shuffle(ranks)
    pick = zipf_sampler(len(ranks), zipf_s, rng)
    tally = {}
    with open(path, 'w') as out:
        for i in range(count):
            domain = ranks[min(pick(), len(ranks) - 1)]
            ip = authorised_ip(world, domain, rng) if rng.random() < 0.62 else None
            ip = ip if ip is not None else random_ip(rng)
            helo = 'mail%d.sender%d.example' % (rng.randrange(50), rng.randrange(2000))
            if rng.random() < 0.02:     # bounce: the HELO identity is checked
                mail_from, checked = '', helo
            else:
                mail_from, checked = 'user%d@%s' % (rng.randrange(1000), domain), domain
            result, depth, lookups = Evaluator(world, ip).run(checked)
            tally[result] = tally.get(result, 0) + 1
            out.write('%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n' % (
                i, ip, mail_from, helo, result, depth, lookups, checked))
    return tally


# ----------------------------------------------------------------- output

def zone_lines(world):
    yield '$TTL %d' % TTL
    yield '. %d IN SOA ns.bench.invalid. hostmaster.bench.invalid. 1 3600 600 86400 %d' % (
        TTL, TTL)
    yield '. %d IN NS ns.bench.invalid.' % TTL
    for name, texts in sorted(world.txt.items()):
        for text in texts:
            chunks = [text[i:i + 255] for i in range(0, len(text), 255)]
            yield '%s. IN TXT %s' % (name, ' '.join('"%s"' % c for c in chunks))
    for table, rtype in ((world.a, 'A'), (world.aaaa, 'AAAA')):
        for name, addrs in sorted(table.items()):
            for addr in addrs:
                yield '%s. IN %s %s' % (name, rtype, addr)
    for name, hosts in sorted(world.mx.items()):
        for pref, host in hosts:
            yield '%s. IN MX %d %s.' % (name, pref, host)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('outdir')
    ap.add_argument('--seed', type=int, default=7208)
    ap.add_argument('--domains', type=int, default=5000)
    ap.add_argument('--providers', type=int, default=15)
    ap.add_argument('--requests', type=int, default=20000)
    ap.add_argument('--zipf', type=float, default=1.1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    world = World(rng)
    providers = make_providers(world, args.providers)
    groups = make_groups(world, providers, max(4, args.domains // 100))
    domains = []
    for i in range(args.domains):
        d = '%s%d.example' % (WORDS[i % len(WORDS)], i)
        customer(world, d, providers, groups)
        domains.append(d)
    os.makedirs(args.outdir, exist_ok=True)
    with open(os.path.join(args.outdir, 'zone'), 'w') as f:
        lines = list(zone_lines(world))
        f.write('\n'.join(lines) + '\n')
    tally = write_stream(world, domains, os.path.join(args.outdir, 'stream.tsv'),
                         args.requests, rng, args.zipf)
    kinds = {}
    for k in world.kind.values():
        kinds[k] = kinds.get(k, 0) + 1
    with open(os.path.join(args.outdir, 'world.txt'), 'w') as f:
        f.write('seed=%d domains=%d providers=%d groups=%d zone_records=%d requests=%d\n' % (
            args.seed, args.domains, args.providers, len(groups), len(lines) - 3,
            args.requests))
        f.write('kinds %s\n' % ' '.join('%s=%d' % kv for kv in sorted(kinds.items())))
        f.write('expected %s\n' % ' '.join('%s=%d' % kv for kv in sorted(tally.items())))


if __name__ == '__main__':
    main()
