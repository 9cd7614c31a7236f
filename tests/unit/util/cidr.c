/* Unit tests for util/cidr: merging (overlap, containment, adjacency up the
 * tree, the ends of both address spaces) and minimal prefix covers, with
 * known answers in IPv4 and IPv6; strict prefix parsing. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util/cidr.h"
#include "util/ip.h"
#include "util/strbuf.h"

static cidr_span span(const char *text)
{
    const char *slash = strchr(text, '/');
    ip_addr a;
    if (!ip_parse(text, (size_t)(slash - text), &a)) {
        printf("# bad test prefix %s\n", text);
        exit(2);
    }
    return cidr_span_of(a.bytes, a.family, (unsigned)atoi(slash + 1));
}

typedef struct sink {
    strbuf sb;
    int family;
} sink;

static void emit(void *arg, cidr_key start, unsigned bits)
{
    sink *s = arg;
    char text[CIDR_TEXT_MAX];
    cidr_format(start, bits, s->family, text);
    strbuf_printf(&s->sb, "%s%s", s->sb.len ? " " : "", text);
}

/* Merges the prefixes (space-separated) and returns the minimal cover as
 * text; the caller frees. count gets the number of merged spans. */
static char *minimal(const char *prefixes, int family, size_t *spans_out)
{
    cidr_span v[64];
    size_t n = 0;
    char *copy = strdup(prefixes), *save = NULL;
    for (char *p = strtok_r(copy, " ", &save); p; p = strtok_r(NULL, " ", &save))
        v[n++] = span(p);
    free(copy);
    n = cidr_spans_merge(v, n);
    if (spans_out)
        *spans_out = n;
    sink s = {.family = family};
    strbuf_init(&s.sb);
    for (size_t i = 0; i < n; i++)
        cidr_span_prefixes(v[i], family, emit, &s);
    return strbuf_take(&s.sb);
}

static void expect(const char *in, int family, const char *want, const char *what)
{
    char *got = minimal(in, family, NULL);
    TAP_STR_EQ(got, want, "%s", what);
    free(got);
}

static bool parses(const char *s, int family)
{
    cidr_key k;
    unsigned bits;
    return cidr_parse(s, strlen(s), family, &k, &bits);
}

int main(void)
{
    expect("10.0.0.0/25 10.0.0.128/25", 4, "10.0.0.0/24", "two halves make a /24");
    expect("10.0.0.192/26 10.0.0.0/26 10.0.0.128/26 10.0.0.64/26", 4, "10.0.0.0/24",
           "four quarters in any order make a /24");
    expect("10.0.0.0/24 10.0.1.0/24 10.0.2.0/23", 4, "10.0.0.0/22",
           "adjacent merges carry up the tree: /24 + /24 + /23 = /22");
    expect("10.0.0.0/8 10.1.2.3/32 10.200.0.0/16", 4, "10.0.0.0/8", "contained prefixes dropped");
    expect("10.0.0.0/24 10.0.0.128/25 10.0.0.0/23", 4, "10.0.0.0/23", "overlaps merged");
    expect("10.0.0.0/24 10.0.2.0/24", 4, "10.0.0.0/24 10.0.2.0/24",
           "a gap keeps two prefixes");
    expect("10.0.1.0/24 10.0.2.0/24", 4, "10.0.1.0/24 10.0.2.0/24",
           "adjacent but unaligned: no /23 (10.0.1.0/23 would be wrong)");
    expect("0.0.0.0/1 128.0.0.0/1", 4, "0.0.0.0/0", "two /1 make /0");
    expect("0.0.0.0/0 192.0.2.1/32", 4, "0.0.0.0/0", "/0 swallows everything");
    expect("255.255.255.255/32 255.255.255.254/32", 4, "255.255.255.254/31",
           "the last address merges without wrapping");
    expect("192.0.2.1/32", 4, "192.0.2.1/32", "a /32 stays a /32");
    expect("192.0.2.7/24", 4, "192.0.2.0/24", "host bits of a prefix are ignored");
    expect("2001:db8::/33 2001:db8:8000::/33", 6, "2001:db8::/32", "IPv6 halves make a /32");
    expect("::/1 8000::/1", 6, "::/0", "IPv6 /1 + /1 = ::/0 (the full 128-bit span)");
    expect("::/0 2001:db8::1/128", 6, "::/0", "::/0 swallows everything");
    expect("2001:db8::1/128", 6, "2001:db8::1/128", "a /128 stays a /128");
    expect("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
           6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", "the last IPv6 address merges");
    expect("2001:db8::/64 2001:db8:0:1::/64 2001:db8:0:2::/63 2001:db8:0:4::/62", 6,
           "2001:db8::/61", "IPv6 adjacency carries up: /64 /64 /63 /62 = /61");

    /* Spans that are not prefixes: the greedy cover, known answers. */
    sink s = {.family = 4};
    strbuf_init(&s.sb);
    cidr_span odd = {span("10.0.0.1/32").lo, span("10.0.0.6/32").lo};
    size_t n = cidr_span_prefixes(odd, 4, emit, &s);
    TAP_STR_EQ(s.sb.data, "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32",
               "10.0.0.1-10.0.0.6 is four prefixes");
    TAP_OK(n == 4, "and the count says 4");
    strbuf_clear(&s.sb);
    cidr_span all_but_zero = {1, cidr_key_max(4)};
    n = cidr_span_prefixes(all_but_zero, 4, emit, &s);
    TAP_OK(n == 32, "0.0.0.1-255.255.255.255 needs 32 prefixes (got %zu)", n);
    strbuf_clear(&s.sb);
    s.family = 6;
    cidr_span all_but_last6 = {0, cidr_key_max(6) - 1};
    n = cidr_span_prefixes(all_but_last6, 6, emit, &s);
    TAP_OK(n == 128, "all of IPv6 but its last address needs 128 prefixes (got %zu)", n);
    strbuf_free(&s.sb);

    size_t spans;
    char *m = minimal("10.0.0.0/24 10.0.1.0/24 10.0.3.0/24", 4, &spans);
    TAP_OK(spans == 2, "merge counts the spans left: 2 (got %zu)", spans);
    TAP_STR_EQ(m, "10.0.0.0/23 10.0.3.0/24", "and the cover of each");
    free(m);

    TAP_OK(parses("192.0.2.0/24", 4) && parses("0.0.0.0/0", 4) && parses("2001:db8::/32", 6),
           "prefixes parse");
    TAP_OK(!parses("192.0.2.1/24", 4), "host bits set: refused");
    TAP_OK(!parses("192.0.2.0/024", 4) && !parses("192.0.2.0/", 4), "bad lengths refused");
    TAP_OK(!parses("192.0.2.0/33", 4) && !parses("::/129", 6), "too long refused");
    TAP_OK(!parses("192.0.2.0", 4), "a length is required");
    TAP_OK(!parses("2001:db8::/32", 4) && !parses("192.0.2.0/24", 6), "the family must match");
    return tap_done();
}
