/* ipset.c: address ranges, parsed from the forms administrators write; see
 * ipset.h. Linear search: whitelists are short. */
#include "ipset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ip_set_init(ip_set *set)
{
    memset(set, 0, sizeof *set);
}

void ip_set_free(ip_set *set)
{
    free(set->ranges);
    ip_set_init(set);
}

static int push(ip_set *set, const ip_range *r)
{
    if (set->count == set->capacity) {
        size_t cap = set->capacity ? set->capacity * 2 : 8;
        ip_range *n = realloc(set->ranges, cap * sizeof *n);
        if (n == NULL)
            return -1;
        set->ranges = n;
        set->capacity = cap;
    }
    set->ranges[set->count++] = *r;
    return 0;
}

int ip_set_copy(ip_set *dst, const ip_set *src)
{
    ip_set_init(dst);
    for (size_t i = 0; i < src->count; i++)
        if (push(dst, &src->ranges[i]) != 0)
            return -1;
    return 0;
}

static int compare(const uint8_t *a, const uint8_t *b, int family)
{
    return memcmp(a, b, family == 4 ? 4 : 16);
}

/* A netmask must be ones then zeros; returns the prefix or -1. */
static int mask_prefix(const uint8_t *mask, int family)
{
    int bytes = family == 4 ? 4 : 16, prefix = 0;
    bool zeros = false;
    for (int i = 0; i < bytes; i++) {
        for (int bit = 7; bit >= 0; bit--) {
            bool one = (mask[i] >> bit) & 1;
            if (one && zeros)
                return -1;
            if (one)
                prefix++;
            else
                zeros = true;
        }
    }
    return prefix;
}

static void prefix_range(const uint8_t *addr, int family, unsigned prefix, ip_range *r)
{
    int bytes = family == 4 ? 4 : 16;
    r->family = family;
    memset(r->low, 0, sizeof r->low);
    memset(r->high, 0, sizeof r->high);
    for (int i = 0; i < bytes; i++) {
        unsigned bits = prefix >= (unsigned)(i + 1) * 8 ? 8 : prefix > (unsigned)i * 8 ? prefix - (unsigned)i * 8 : 0;
        uint8_t mask = bits == 0 ? 0 : (uint8_t)(0xff << (8 - bits));
        r->low[i] = addr[i] & mask;
        r->high[i] = (uint8_t)(addr[i] | (uint8_t)~mask);
    }
}

static bool parse_address(const char *s, size_t len, ip_addr *out)
{
    if (!ip_parse(s, len, out))
        return false;
    ip_unmap(out);
    return true;
}

int ip_set_add_entry(ip_set *set, const char *text, size_t len, char *err, size_t err_size)
{
    while (len > 0 && (*text == ' ' || *text == '\t')) {
        text++;
        len--;
    }
    if (len == 0 || *text == '#')
        return 0;
    /* The entry ends at the first space; the rest is a comment. */
    size_t n = 0;
    while (n < len && text[n] != ' ' && text[n] != '\t')
        n++;
    ip_range r;
    const char *dash = memchr(text, '-', n);
    const char *slash = memchr(text, '/', n);
    ip_addr a, b;
    if (dash != NULL) {
        if (!parse_address(text, (size_t)(dash - text), &a) ||
            !parse_address(dash + 1, n - (size_t)(dash - text) - 1, &b) || a.family != b.family) {
            snprintf(err, err_size, "'%.*s' is not a range of two addresses of one family",
                     (int)n, text);
            return -1;
        }
        if (compare(a.bytes, b.bytes, a.family) > 0) {
            snprintf(err, err_size, "range '%.*s' ends before it starts", (int)n, text);
            return -1;
        }
        r.family = a.family;
        memset(r.low, 0, sizeof r.low);
        memset(r.high, 0, sizeof r.high);
        memcpy(r.low, a.bytes, 16);
        memcpy(r.high, b.bytes, 16);
    } else if (slash != NULL) {
        size_t alen = (size_t)(slash - text);
        if (!parse_address(text, alen, &a)) {
            snprintf(err, err_size, "'%.*s' is not an IP address", (int)alen, text);
            return -1;
        }
        const char *m = slash + 1;
        size_t mlen = n - alen - 1;
        int prefix = -1;
        ip_addr mask;
        if (mlen > 0 && mlen <= 3 && strspn(m, "0123456789") >= mlen) {
            prefix = 0;
            for (size_t i = 0; i < mlen; i++)
                prefix = prefix * 10 + (m[i] - '0');
            if (prefix > (a.family == 4 ? 32 : 128))
                prefix = -1;
        } else if (ip_parse(m, mlen, &mask) && mask.family == a.family) {
            prefix = mask_prefix(mask.bytes, a.family);
        }
        if (prefix < 0) {
            snprintf(err, err_size, "'%.*s' is not a prefix length or netmask for '%.*s'",
                     (int)mlen, m, (int)alen, text);
            return -1;
        }
        prefix_range(a.bytes, a.family, (unsigned)prefix, &r);
    } else {
        if (!parse_address(text, n, &a)) {
            snprintf(err, err_size, "'%.*s' is not an IP address, range or network", (int)n, text);
            return -1;
        }
        prefix_range(a.bytes, a.family, a.family == 4 ? 32 : 128, &r);
    }
    if (push(set, &r) != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

int ip_set_add_lines(ip_set *set, const char *text, size_t len, char *err, size_t err_size)
{
    const char *p = text, *end = text + len;
    unsigned line = 0;
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        size_t n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        char why[200];
        if (ip_set_add_entry(set, p, n, why, sizeof why) != 0) {
            snprintf(err, err_size, "line %u: %s", line, why);
            return -1;
        }
        p = eol < end ? eol + 1 : end;
    }
    return 0;
}

bool ip_set_contains(const ip_set *set, const ip_addr *addr)
{
    for (size_t i = 0; i < set->count; i++) {
        const ip_range *r = &set->ranges[i];
        if (r->family == addr->family && compare(addr->bytes, r->low, r->family) >= 0 &&
            compare(addr->bytes, r->high, r->family) <= 0)
            return true;
    }
    return false;
}

int ip_set_add_local_networks(ip_set *set)
{
    static const char *const local[] = {"127.0.0.0/8",    "::1",         "10.0.0.0/8",
                                        "172.16.0.0/12",  "192.168.0.0/16", "fc00::/7",
                                        "fe80::/10"};
    char err[64];
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (ip_set_add_entry(set, local[i], strlen(local[i]), err, sizeof err) != 0)
            return -1;
    return 0;
}
