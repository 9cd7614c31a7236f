/* Unit tests for src/config/ipset.c: the entry forms (with the range written
 * "a - b", issue 8), the family boundaries, copies, and a randomized
 * differential test of the sorted-runs lookup against a linear reference.
 * Set DOMAUTH_TEST_SEED to replay other random sets. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "config/ipset.h"
#include "tap.h"

static bool contains(const ip_set *set, const char *ip)
{
    ip_addr a;
    if (!ip_parse(ip, strlen(ip), &a)) {
        printf("#   test bug: '%s' does not parse\n", ip);
        return false;
    }
    ip_unmap(&a);
    return ip_set_contains(set, &a);
}

static int add(ip_set *set, const char *entry, char *err)
{
    err[0] = '\0';
    return ip_set_add_entry(set, entry, strlen(entry), err, 256);
}

static void expect_error(const char *entry, const char *want)
{
    ip_set set;
    char err[256];
    ip_set_init(&set);
    int rc = add(&set, entry, err);
    TAP_OK(rc == -1 && strstr(err, want) != NULL, "'%s' is refused: %s", entry, want);
    if (rc != -1 || strstr(err, want) == NULL)
        printf("#   got rc %d, '%s'\n", rc, err);
    ip_set_free(&set);
}

static void forms(void)
{
    ip_set set;
    char err[256];
    ip_set_init(&set);
    TAP_OK(!contains(&set, "192.0.2.1") && !contains(&set, "::"), "an empty set holds nothing");
    TAP_OK(add(&set, "", err) == 0 && add(&set, "  # note", err) == 0 &&
               !contains(&set, "0.0.0.0"),
           "blank and comment entries add nothing");
    TAP_OK(add(&set, "192.0.2.7 the printer", err) == 0 && contains(&set, "192.0.2.7") &&
               !contains(&set, "192.0.2.8") && !contains(&set, "192.0.2.6"),
           "an address with a comment");
    TAP_OK(add(&set, "198.51.100.10-198.51.100.20", err) == 0 &&
               contains(&set, "198.51.100.10") && contains(&set, "198.51.100.20") &&
               !contains(&set, "198.51.100.9") && !contains(&set, "198.51.100.21"),
           "a range a-b");
    TAP_OK(add(&set, "203.0.113.0/255.255.255.128", err) == 0 &&
               contains(&set, "203.0.113.127") && !contains(&set, "203.0.113.128"),
           "a netmask");
    TAP_OK(add(&set, "2001:db8:1::/48 lab", err) == 0 && contains(&set, "2001:db8:1:ffff::1") &&
               !contains(&set, "2001:db8:2::"),
           "an IPv6 prefix");
    TAP_OK(contains(&set, "::ffff:192.0.2.7"), "an IPv4-mapped client matches the IPv4 entry");
    ip_set_free(&set);

    /* Issue 8: "a - b" was the address a and the comment "- b". */
    ip_set_init(&set);
    TAP_OK(add(&set, "192.0.2.40 - 192.0.2.45", err) == 0 && contains(&set, "192.0.2.40") &&
               contains(&set, "192.0.2.42") && contains(&set, "192.0.2.45") &&
               !contains(&set, "192.0.2.39") && !contains(&set, "192.0.2.46"),
           "'192.0.2.40 - 192.0.2.45' is the range .40 to .45");
    TAP_OK(add(&set, "192.0.2.50 -192.0.2.51 lab", err) == 0 &&
               add(&set, "192.0.2.60-\t192.0.2.61", err) == 0 && contains(&set, "192.0.2.51") &&
               contains(&set, "192.0.2.61") && !contains(&set, "192.0.2.52"),
           "'a -b' and 'a- b' are ranges too, with a comment after them");
    TAP_OK(add(&set, "2001:db8::10 - 2001:db8::1f", err) == 0 &&
               contains(&set, "2001:db8::1a") && !contains(&set, "2001:db8::20"),
           "an IPv6 range written with spaces");
    TAP_OK(add(&set, "192.0.2.70 - the gateway", err) == 0 && contains(&set, "192.0.2.70") &&
               !contains(&set, "192.0.2.71"),
           "'a - words' is still an address and a comment");
    ip_set_free(&set);
    expect_error("192.0.2.40 - 192.0.2.450", "'192.0.2.40 - 192.0.2.450' is not a range");
    expect_error("192.0.2.40 -", "range '192.0.2.40 -' has no end");
    expect_error("192.0.2.40- gateway", "'192.0.2.40- gateway' is not a range");
    expect_error("192.0.2.0/24 - 192.0.3.255", "'192.0.2.0/24 - 192.0.3.255' is not a range");
    expect_error("192.0.2.45 - 192.0.2.40", "range '192.0.2.45 - 192.0.2.40' ends before");
    expect_error("192.0.2.1 - 2001:db8::1", "two addresses of one family");
    expect_error("10.0.0.9-10.0.0.1", "ends before it starts");
    expect_error("10.0.0.0/255.0.255.0", "not a prefix length or netmask");
    expect_error("10.0.0.0/33", "not a prefix length or netmask");
    expect_error("192.168.1.300", "'192.168.1.300' is not an IP address");

    /* A file: the spaced range, and the line of an error. */
    ip_set_init(&set);
    const char *file = "# lab\r\n192.0.2.40 - 192.0.2.45 lab\n\n2001:db8::/32\n";
    TAP_OK(ip_set_add_lines(&set, file, strlen(file), err, 256) == 0 &&
               contains(&set, "192.0.2.44") && contains(&set, "2001:db8:ffff::"),
           "a file with a spaced range");
    const char *bad = "192.0.2.1\n192.0.2.40 - 192.0.2.4500\n192.0.2.2\n";
    TAP_OK(ip_set_add_lines(&set, bad, strlen(bad), err, 256) == -1 &&
               strstr(err, "line 2: '192.0.2.40 - 192.0.2.4500' is not a range") != NULL,
           "a file's broken spaced range names its line");
    TAP_OK(contains(&set, "192.0.2.1") && !contains(&set, "192.0.2.2"),
           "the lines before the bad one stay added, and are found");
    ip_set_free(&set);
}

static void boundaries(void)
{
    ip_set set;
    char err[256];
    ip_set_init(&set);
    TAP_OK(add(&set, "0.0.0.0/0", err) == 0 && contains(&set, "0.0.0.0") &&
               contains(&set, "255.255.255.255") && !contains(&set, "::") &&
               !contains(&set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
           "0.0.0.0/0 holds every IPv4 address and no IPv6 one");
    ip_set_free(&set);
    ip_set_init(&set);
    TAP_OK(add(&set, "::/0", err) == 0 && contains(&set, "::") &&
               contains(&set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") &&
               !contains(&set, "0.0.0.0") && !contains(&set, "255.255.255.255"),
           "::/0 holds every IPv6 address and no IPv4 one");
    ip_set_free(&set);
    ip_set_init(&set);
    TAP_OK(add(&set, "255.255.255.255", err) == 0 &&
               add(&set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", err) == 0 &&
               add(&set, "0.0.0.0", err) == 0 && add(&set, "::", err) == 0 &&
               contains(&set, "255.255.255.255") && !contains(&set, "255.255.255.254") &&
               contains(&set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") &&
               !contains(&set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe") &&
               contains(&set, "0.0.0.0") && !contains(&set, "0.0.0.1") && contains(&set, "::") &&
               !contains(&set, "::1"),
           "the first and last address of each family");
    /* Two spans that touch across the middle of a 128-bit key. */
    TAP_OK(add(&set, "1::ffff:ffff:ffff:fff0-1::ffff:ffff:ffff:ffff", err) == 0 &&
               add(&set, "1:0:0:1::-1:0:0:1::f", err) == 0 &&
               add(&set, "1:0:0:1::10/124", err) == 0 && contains(&set, "1::ffff:ffff:ffff:ffff") &&
               contains(&set, "1:0:0:1::") && contains(&set, "1:0:0:1::1f") &&
               !contains(&set, "1:0:0:1::20") && !contains(&set, "1::ffff:ffff:ffff:ffef"),
           "spans that touch across the 64-bit halves");
    ip_set_free(&set);
}

/* ------------------------------------------------- differential test */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* The reference: ranges as bytes, looked up one by one. */
typedef struct ref_range {
    int family;
    uint8_t low[16], high[16];
} ref_range;

typedef struct reference {
    ref_range *r;
    size_t n, cap;
} reference;

static int width(int family)
{
    return family == 4 ? 4 : 16;
}

static bool ref_contains(const reference *ref, const ip_addr *a)
{
    for (size_t i = 0; i < ref->n; i++) {
        const ref_range *r = &ref->r[i];
        int w = width(r->family);
        if (r->family == a->family && memcmp(r->low, a->bytes, (size_t)w) <= 0 &&
            memcmp(a->bytes, r->high, (size_t)w) <= 0)
            return true;
    }
    return false;
}

/* Adds d (which may be negative) to the address, saturating at the ends
 * of the family. */
static void step(uint8_t *b, int family, int d)
{
    int w = width(family);
    uint64_t c = d < 0 ? (uint64_t)-(int64_t)d : (uint64_t)d;
    for (int i = w - 1; i >= 0 && c != 0; i--) {
        int v = d < 0 ? b[i] - (int)(c & 0xff) : b[i] + (int)(c & 0xff);
        c >>= 8;
        if (v < 0 || v > 0xff) {
            v += v < 0 ? 0x100 : -0x100;
            c++;
        }
        b[i] = (uint8_t)v;
    }
    if (c != 0) /* past the end: the first or the last address */
        memset(b, d < 0 ? 0 : 0xff, (size_t)w);
}

/* Few bases, and small offsets from them: the random entries overlap and
 * touch often, and some sit at the ends of the family. */
static void random_address(int family, uint8_t *b)
{
    int w = width(family);
    memset(b, 0, 16);
    switch (below(6)) {
    case 0: /* the start of the family */
        break;
    case 1: /* its end */
        memset(b, 0xff, (size_t)w);
        break;
    case 2: /* anywhere */
        for (int i = 0; i < w; i++)
            b[i] = (uint8_t)rnd();
        return;
    default: /* one of three crowded regions */
        b[0] = (uint8_t)(0x20 + 0x40 * below(3));
        if (family == 6)
            b[1] = 0x01;
        break;
    }
    /* Up to 4,095 addresses from the base, towards the family's middle. */
    int d = (int)below(4096);
    step(b, family, b[0] == 0xff ? -d : d);
}

static void format_range(int family, const uint8_t *low, const uint8_t *high, bool spaced,
                         char *out, size_t size)
{
    ip_addr a = {.family = family}, b = {.family = family};
    memcpy(a.bytes, low, 16);
    memcpy(b.bytes, high, 16);
    char x[IP_TEXT_MAX], y[IP_TEXT_MAX];
    ip_format(&a, x);
    ip_format(&b, y);
    snprintf(out, size, spaced ? "%s - %s" : "%s-%s", x, y);
}

/* A random entry, as text and as the range the reference expects. */
static void random_entry(char *text, size_t size, ref_range *r)
{
    int family = below(10) < 7 ? 4 : 6, w = width(family);
    uint8_t base[16];
    random_address(family, base);
    r->family = family;
    memset(r->low, 0, 16);
    memset(r->high, 0, 16);
    unsigned kind = below(10);
    if (kind < 3) { /* one address */
        memcpy(r->low, base, 16);
        memcpy(r->high, base, 16);
        ip_addr a = {.family = family};
        memcpy(a.bytes, base, 16);
        ip_format(&a, text);
        if (below(4) == 0)
            strcat(text, " a comment");
        return;
    }
    if (kind < 6) { /* a range a-b or "a - b" */
        memcpy(r->low, base, 16);
        memcpy(r->high, base, 16);
        step(r->high, family, (int)below(below(8) == 0 ? 5000 : 40));
        format_range(family, r->low, r->high, below(2) == 0, text, size);
        return;
    }
    /* A network: mostly long prefixes, sometimes a short one. */
    unsigned bits = (unsigned)w * 8;
    unsigned prefix = below(10) == 0 ? below(bits + 1) : bits - below(13);
    for (int i = 0; i < w; i++) {
        unsigned keep = prefix >= (unsigned)(i + 1) * 8 ? 8
                        : prefix > (unsigned)i * 8 ? prefix - (unsigned)i * 8
                                                   : 0;
        uint8_t mask = keep == 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        r->low[i] = base[i] & mask;
        r->high[i] = (uint8_t)(base[i] | (uint8_t)~mask);
    }
    ip_addr a = {.family = family};
    memcpy(a.bytes, base, 16);
    char addr[IP_TEXT_MAX];
    ip_format(&a, addr);
    if (family == 4 && below(3) == 0) {
        ip_addr m = {.family = 4};
        for (unsigned i = 0; i < 32; i++)
            if (i < prefix)
                m.bytes[i / 8] |= (uint8_t)(0x80 >> (i % 8));
        char mask[IP_TEXT_MAX];
        ip_format(&m, mask);
        snprintf(text, size, "%s/%s", addr, mask);
    } else {
        snprintf(text, size, "%s/%u", addr, prefix);
    }
}

/* Checks the set against the reference on the edges of the ranges (the
 * address before, the first, the last, the one after, the same bytes in the
 * other family) and on random addresses: of every range when all is set,
 * else of 60 drawn at random. Returns the number of disagreements. */
static size_t compare(const ip_set *set, const reference *ref, bool all, const char *what)
{
    size_t wrong = 0, ranges = all || ref->n < 60 ? ref->n : 60;
    for (size_t i = 0; i < ranges + 200; i++) {
        ip_addr q[6];
        int nq = 0;
        if (i < ranges) {
            const ref_range *r = &ref->r[all || ref->n < 60 ? i : below((unsigned)ref->n)];
            for (int k = 0; k < 4; k++) {
                q[nq] = (ip_addr){.family = r->family};
                memcpy(q[nq].bytes, k < 2 ? r->low : r->high, 16);
                step(q[nq].bytes, r->family, k == 0 ? -1 : k == 3 ? 1 : 0);
                nq++;
            }
            /* The same bytes in the other family. */
            q[nq] = q[1];
            q[nq].family = r->family == 4 ? 6 : 4;
            if (q[nq].family == 4)
                memset(q[nq].bytes + 4, 0, 12);
            nq++;
        }
        q[nq] = (ip_addr){.family = below(2) ? 4 : 6};
        random_address(q[nq].family, q[nq].bytes);
        nq++;
        for (int k = 0; k < nq; k++) {
            bool want = ref_contains(ref, &q[k]), got = ip_set_contains(set, &q[k]);
            if (want != got && wrong++ < 3) {
                char t[IP_TEXT_MAX];
                ip_format(&q[k], t);
                printf("#   %s: %s: set says %d, reference %d\n", what, t, got, want);
            }
        }
    }
    return wrong;
}

/* What ipset.c promises about its runs: every span in a run, each run more
 * than twice the next, spans sorted and apart within a run. */
static bool runs_ok(const ip_runs *r)
{
    if (r->runs > IP_RUNS_MAX || (r->runs == 0 ? r->count != 0 : r->run_end[r->runs - 1] != r->count))
        return false;
    size_t start = 0, previous = SIZE_MAX;
    for (unsigned i = 0; i < r->runs; i++) {
        size_t end = r->run_end[i], size = end - start;
        if (size == 0 || (previous != SIZE_MAX && previous <= 2 * size))
            return false;
        for (size_t j = start; j < end; j++) {
            const ip_span *s = &r->spans[j];
            if (s->low.hi > s->high.hi || (s->low.hi == s->high.hi && s->low.lo > s->high.lo))
                return false;
            if (j > start) {
                /* The previous span ends at least two below this one's start. */
                ip_key h = r->spans[j - 1].high;
                ip_key h1 = {h.hi + (h.lo == UINT64_MAX), h.lo + 1};
                if (h.hi == UINT64_MAX && h.lo == UINT64_MAX)
                    return false;
                if (h1.hi > s->low.hi || (h1.hi == s->low.hi && h1.lo >= s->low.lo))
                    return false;
            }
        }
        previous = size;
        start = end;
    }
    return true;
}

static void differential(uint64_t seed)
{
    size_t total_wrong = 0, rounds = 80, bad_runs = 0;
    for (size_t round = 0; round < rounds; round++) {
        rng_state = seed + round * 0x9E3779B97F4A7C15ULL;
        if (rng_state == 0)
            rng_state = 1;
        reference ref = {0};
        ip_set set;
        ip_set_init(&set);
        size_t target = 1 + below(round < 20 ? 40 : 1000);
        char err[256], what[64];
        while (ref.n < target) {
            /* A few entries at a time, one by one or as a file. */
            size_t batch = 1 + below(below(4) == 0 ? 300 : 8);
            bool as_file = below(3) == 0;
            char *file = malloc(batch * 200 + 1);
            size_t flen = 0;
            for (size_t k = 0; k < batch; k++) {
                char text[200];
                if (ref.n == ref.cap) {
                    ref.cap = ref.cap ? 2 * ref.cap : 64;
                    ref.r = realloc(ref.r, ref.cap * sizeof *ref.r);
                }
                random_entry(text, sizeof text, &ref.r[ref.n]);
                ref.n++;
                if (as_file) {
                    flen += (size_t)sprintf(file + flen, "%s\n", text);
                } else if (add(&set, text, err) != 0) {
                    printf("#   '%s' refused: %s\n", text, err);
                    total_wrong++;
                }
            }
            if (as_file && ip_set_add_lines(&set, file, flen, err, sizeof err) != 0) {
                printf("#   file refused: %s\n", err);
                total_wrong++;
            }
            free(file);
            if (!runs_ok(&set.v4) || !runs_ok(&set.v6))
                bad_runs++;
            snprintf(what, sizeof what, "seed %" PRIu64 " round %zu at %zu", seed, round, ref.n);
            total_wrong += compare(&set, &ref, false, what);
        }
        snprintf(what, sizeof what, "seed %" PRIu64 " round %zu, all %zu", seed, round, ref.n);
        total_wrong += compare(&set, &ref, true, what);
        ip_set copy;
        TAP_OK(ip_set_copy(&copy, &set) == 0, "round %zu: the set of %zu entries copies", round,
               ref.n);
        ip_set_free(&set);
        snprintf(what, sizeof what, "seed %" PRIu64 " round %zu, copy", seed, round);
        total_wrong += compare(&copy, &ref, false, what);
        ip_set_free(&copy);
        free(ref.r);
    }
    TAP_OK(total_wrong == 0,
           "sorted runs agree with a linear scan over %zu random sets (seed %" PRIu64
           "): %zu disagreements",
           rounds, seed, total_wrong);
    TAP_OK(bad_runs == 0, "every set kept its runs sorted, merged and shrinking (%zu not)",
           bad_runs);
}

/* Many single adds: the runs stay few (log2 n + 1), with no timing. */
static void many_single_adds(void)
{
    ip_set set;
    char err[256], text[64];
    ip_set_init(&set);
    rng_state = 12345;
    size_t n = 100000;
    for (size_t i = 0; i < n; i++) {
        /* Every other /31 of 10.0.0.0/8, so nothing merges. */
        uint32_t a = (10u << 24) | (uint32_t)(below(1u << 22) << 2);
        snprintf(text, sizeof text, "%u.%u.%u.%u/31", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
                 a & 255);
        add(&set, text, err);
    }
    TAP_OK(runs_ok(&set.v4) && set.v4.runs <= 18, "%zu single adds leave %u runs", n,
           set.v4.runs);
    TAP_OK(contains(&set, "10.0.0.0") == contains(&set, "10.0.0.1") &&
               !contains(&set, "10.0.0.2") && !contains(&set, "11.0.0.0"),
           "and lookups still see /31s");
    ip_set_free(&set);
}

int main(void)
{
    forms();
    boundaries();
    const char *s = getenv("DOMAUTH_TEST_SEED");
    differential(s && *s ? strtoull(s, NULL, 0) : 20261201);
    many_single_adds();
    return tap_done();
}
