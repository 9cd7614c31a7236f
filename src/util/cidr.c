/* cidr.c: spans, merging and minimal prefix covers; see cidr.h. Every
 * shift is kept below the key's width (a shift by 128 is undefined). */
#include "cidr.h"

#include <stdio.h>
#include <string.h>

#include "ip.h"

unsigned cidr_width(int family)
{
    return family == 4 ? 32 : 128;
}

cidr_key cidr_key_max(int family)
{
    return family == 4 ? (cidr_key)0xffffffffu : ~(cidr_key)0;
}

/* Keys in a block of 2^host addresses, less one. */
static cidr_key host_mask(unsigned host)
{
    return host >= 128 ? ~(cidr_key)0 : ((cidr_key)1 << host) - 1;
}

cidr_key cidr_key_of(const uint8_t *addr, int family)
{
    cidr_key k = 0;
    for (unsigned i = 0; i < cidr_width(family) / 8; i++)
        k = (k << 8) | addr[i];
    return k;
}

void cidr_key_bytes(cidr_key key, int family, uint8_t out[16])
{
    unsigned n = cidr_width(family) / 8;
    memset(out, 0, 16);
    for (unsigned i = n; i-- > 0;) {
        out[i] = (uint8_t)(key & 0xff);
        key >>= 8;
    }
}

cidr_span cidr_span_of(const uint8_t *addr, int family, unsigned bits)
{
    unsigned width = cidr_width(family);
    if (bits > width)
        bits = width;
    cidr_key mask = host_mask(width - bits);
    cidr_key k = cidr_key_of(addr, family);
    return (cidr_span){.lo = k & ~mask, .hi = k | mask};
}

/* An insertion sort would be quadratic for the thousands of spans a big
 * tree gives; a heap sort needs no buffer (qsort's may allocate). */
static bool span_less(const cidr_span *a, const cidr_span *b)
{
    return a->lo < b->lo || (a->lo == b->lo && a->hi < b->hi);
}

static void sift_down(cidr_span *v, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && span_less(&v[child], &v[child + 1]))
            child++;
        if (!span_less(&v[root], &v[child]))
            return;
        cidr_span t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

static void sort_spans(cidr_span *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(v, i, n);
    for (size_t end = n; end-- > 1;) {
        cidr_span t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift_down(v, 0, end);
    }
}

size_t cidr_spans_merge(cidr_span *v, size_t n)
{
    if (n == 0)
        return 0;
    sort_spans(v, n);
    size_t out = 0;
    for (size_t i = 1; i < n; i++) {
        cidr_span *last = &v[out];
        /* Touching: the next starts right after the last ends. hi + 1
         * cannot wrap unless hi is the largest key, and then it covers
         * everything after anyway. */
        bool joins = v[i].lo <= last->hi || last->hi == ~(cidr_key)0 || v[i].lo == last->hi + 1;
        if (joins) {
            if (v[i].hi > last->hi)
                last->hi = v[i].hi;
        } else {
            v[++out] = v[i];
        }
    }
    return out + 1;
}

size_t cidr_span_prefixes(cidr_span span, int family,
                          void (*emit)(void *arg, cidr_key start, unsigned bits), void *arg)
{
    unsigned width = cidr_width(family);
    size_t count = 0;
    cidr_key lo = span.lo;
    for (;;) {
        /* The widest block that starts at lo and ends within the span. */
        unsigned host = 0;
        while (host < width) {
            cidr_key m = host_mask(host + 1);
            if ((lo & m) != 0 || m > span.hi - lo)
                break;
            host++;
        }
        emit(arg, lo, width - host);
        count++;
        cidr_key end = lo + host_mask(host);
        if (end >= span.hi)
            return count;
        lo = end + 1;
    }
}

void cidr_format(cidr_key start, unsigned bits, int family, char out[CIDR_TEXT_MAX])
{
    ip_addr a = {.family = family};
    cidr_key_bytes(start, family, a.bytes);
    char text[IP_TEXT_MAX];
    ip_format(&a, text);
    snprintf(out, CIDR_TEXT_MAX, "%s/%u", text, bits);
}

bool cidr_parse(const char *text, size_t len, int family, cidr_key *start, unsigned *bits)
{
    const char *slash = memchr(text, '/', len);
    if (slash == NULL)
        return false;
    size_t alen = (size_t)(slash - text), blen = len - alen - 1;
    uint8_t addr[16] = {0};
    if (!(family == 4 ? ip_parse4(text, alen, addr) : ip_parse6(text, alen, addr)))
        return false;
    if (blen == 0 || blen > 3 || (slash[1] == '0' && blen > 1))
        return false;
    unsigned b = 0;
    for (size_t i = 0; i < blen; i++) {
        char c = slash[1 + i];
        if (c < '0' || c > '9')
            return false;
        b = b * 10 + (unsigned)(c - '0');
    }
    if (b > cidr_width(family))
        return false;
    cidr_key k = cidr_key_of(addr, family);
    if ((k & host_mask(cidr_width(family) - b)) != 0)
        return false;
    *start = k;
    *bits = b;
    return true;
}
