/* ipset.c: address ranges, parsed from the forms administrators write, and
 * the lookup the daemon does for every client; see ipset.h.
 *
 * Structure. Each family keeps its entries as spans (low..high, included) in
 * one array cut into runs. Within a run the spans are sorted by low and
 * neither overlap nor touch (such spans were merged into one), so at most
 * one span of a run can hold an address: a binary search finds it.
 *
 * Invariant, after every public call: every span is in a run, and each run
 * is more than twice the size of the next one. An adder appends its spans,
 * sorts and merges them into a new last run, then merges the last two runs
 * while the one before the last is at most twice the size of the last (as a
 * binary counter carries). There are therefore at most log2(n) + 1 runs and
 * a lookup costs O(log^2 n) at worst; a set loaded mostly from one file is
 * one run, O(log n). There is no "compile" step after adding, so no call
 * a caller could forget and then get a wrong answer.
 *
 * Why merged sorted spans rather than a radix tree: a range "a-b" is not a
 * prefix (as a tree it would be cut into up to 2 x 128 prefixes), while a
 * span holds every form exactly in 32 bytes, and a merge is a sort. */
#include "ipset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ keys */

static ip_key key_of(const uint8_t *bytes, int family)
{
    ip_key k = {0, 0};
    if (family == 4) {
        for (int i = 0; i < 4; i++)
            k.lo = k.lo << 8 | bytes[i];
        return k;
    }
    for (int i = 0; i < 8; i++)
        k.hi = k.hi << 8 | bytes[i];
    for (int i = 8; i < 16; i++)
        k.lo = k.lo << 8 | bytes[i];
    return k;
}

static int key_cmp(ip_key a, ip_key b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

/* True when a span ending at high and one starting at next_low (not below
 * the first's low) overlap or touch, so that they are one span. */
static bool key_reaches(ip_key high, ip_key next_low)
{
    if (key_cmp(next_low, high) <= 0)
        return true;
    /* next_low > high, so high is not the largest key and high + 1 exists. */
    ip_key after = {high.hi + (high.lo == UINT64_MAX), high.lo + 1};
    return key_cmp(after, next_low) == 0;
}

/* ------------------------------------------------------------ runs */

static void runs_free(ip_runs *r)
{
    free(r->spans);
    memset(r, 0, sizeof *r);
}

static size_t run_start(const ip_runs *r, unsigned i)
{
    return i == 0 ? 0 : r->run_end[i - 1];
}

static bool low_before(const ip_span *a, const ip_span *b)
{
    return key_cmp(a->low, b->low) < 0;
}

static void swap_spans(ip_span *a, ip_span *b)
{
    ip_span t = *a;
    *a = *b;
    *b = t;
}

static void sift_down(ip_span *s, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && low_before(&s[child], &s[child + 1]))
            child++;
        if (!low_before(&s[root], &s[child]))
            return;
        swap_spans(&s[root], &s[child]);
    }
}

/* Sorts by low, in place: quicksort (median of three) down to short
 * slices, which insertion sort finishes, and heapsort for a slice that
 * quicksort splits badly too often. Not qsort(3): glibc's takes a buffer
 * as large as the array (25 MB more for 1,000,000 entries) and calls a
 * function per comparison; loading that whitelist took 0.53 s with it,
 * 0.35 s with this. */
static void sort_spans(ip_span *s, size_t n, unsigned depth)
{
    while (n > 16) {
        if (depth-- == 0) {
            for (size_t i = n / 2; i-- > 0;)
                sift_down(s, i, n);
            for (size_t i = n - 1; i > 0; i--) {
                swap_spans(&s[0], &s[i]);
                sift_down(s, 0, i);
            }
            return;
        }
        size_t mid = n / 2;
        if (low_before(&s[mid], &s[0]))
            swap_spans(&s[mid], &s[0]);
        if (low_before(&s[n - 1], &s[mid]))
            swap_spans(&s[n - 1], &s[mid]);
        if (low_before(&s[mid], &s[0]))
            swap_spans(&s[mid], &s[0]);
        ip_key pivot = s[mid].low;
        size_t i = 0, j = n - 1;
        for (;;) {
            while (key_cmp(s[i].low, pivot) < 0)
                i++;
            while (key_cmp(pivot, s[j].low) < 0)
                j--;
            if (i >= j)
                break;
            swap_spans(&s[i++], &s[j--]);
        }
        /* s[0..j] <= pivot <= s[j+1..n): recurse on the shorter side. */
        size_t left = j + 1;
        if (left < n - left) {
            sort_spans(s, left, depth);
            s += left;
            n -= left;
        } else {
            sort_spans(s + left, n - left, depth);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        ip_span t = s[i];
        size_t j = i;
        for (; j > 0 && low_before(&t, &s[j - 1]); j--)
            s[j] = s[j - 1];
        s[j] = t;
    }
}

/* Sorts spans[0..n) and merges the ones that overlap or touch, in place;
 * returns how many are left. */
static size_t sort_and_merge(ip_span *spans, size_t n)
{
    if (n == 0)
        return 0;
    unsigned depth = 0;
    for (size_t m = n; m > 1; m /= 2)
        depth += 2;
    sort_spans(spans, n, depth);
    size_t w = 0;
    for (size_t i = 1; i < n; i++) {
        if (key_reaches(spans[w].high, spans[i].low)) {
            if (key_cmp(spans[w].high, spans[i].high) < 0)
                spans[w].high = spans[i].high;
        } else {
            spans[++w] = spans[i];
        }
    }
    return w + 1;
}

/* Appends a span after the runs; seal() makes it part of one. */
static int runs_push(ip_runs *r, const ip_span *s)
{
    if (r->count == r->capacity) {
        size_t cap = r->capacity ? r->capacity * 2 : 8;
        if (cap > SIZE_MAX / sizeof *r->spans)
            return -1;
        ip_span *n = realloc(r->spans, cap * sizeof *n);
        if (n == NULL)
            return -1;
        r->spans = n;
        r->capacity = cap;
    }
    r->spans[r->count++] = *s;
    return 0;
}

/* Makes the spans after the last run a run, then carries: restores the
 * invariant at the top of this file. */
static void seal(ip_runs *r)
{
    size_t start = run_start(r, r->runs);
    if (start == r->count)
        return;
    /* The invariant keeps runs far below IP_RUNS_MAX; were it ever
     * reached, the new spans would join the last run. */
    if (r->runs == IP_RUNS_MAX)
        start = run_start(r, --r->runs);
    r->count = start + sort_and_merge(r->spans + start, r->count - start);
    r->run_end[r->runs++] = r->count;
    while (r->runs >= 2) {
        size_t last = r->count - run_start(r, r->runs - 1);
        size_t before = run_start(r, r->runs - 1) - run_start(r, r->runs - 2);
        if (before > 2 * last)
            break;
        r->runs--;
        start = run_start(r, r->runs - 1);
        r->count = start + sort_and_merge(r->spans + start, r->count - start);
        r->run_end[r->runs - 1] = r->count;
    }
}

/* After a big batch, gives back what doubling left unused. */
static void shrink(ip_runs *r)
{
    if (r->count == 0 || r->capacity - r->count <= r->count / 8)
        return;
    ip_span *n = realloc(r->spans, r->count * sizeof *n);
    if (n != NULL) {
        r->spans = n;
        r->capacity = r->count;
    }
}

static bool runs_contain(const ip_runs *r, ip_key k)
{
    for (unsigned i = 0; i < r->runs; i++) {
        /* The first span of the run whose low is above k; the one before
         * it is the only one that can hold k. */
        size_t lo = run_start(r, i), hi = r->run_end[i], first = lo;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (key_cmp(r->spans[mid].low, k) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > first && key_cmp(k, r->spans[lo - 1].high) <= 0)
            return true;
    }
    return false;
}

static int runs_copy(ip_runs *dst, const ip_runs *src)
{
    *dst = *src;
    dst->spans = NULL;
    dst->capacity = 0;
    if (src->count == 0) {
        dst->count = 0;
        dst->runs = 0;
        return 0;
    }
    dst->spans = malloc(src->count * sizeof *dst->spans);
    if (dst->spans == NULL) {
        memset(dst, 0, sizeof *dst);
        return -1;
    }
    memcpy(dst->spans, src->spans, src->count * sizeof *dst->spans);
    dst->capacity = src->count;
    return 0;
}

/* ------------------------------------------------------------- sets */

void ip_set_init(ip_set *set)
{
    memset(set, 0, sizeof *set);
}

void ip_set_free(ip_set *set)
{
    runs_free(&set->v4);
    runs_free(&set->v6);
}

int ip_set_copy(ip_set *dst, const ip_set *src)
{
    ip_set_init(dst);
    if (runs_copy(&dst->v4, &src->v4) != 0 || runs_copy(&dst->v6, &src->v6) != 0) {
        ip_set_free(dst);
        return -1;
    }
    return 0;
}

bool ip_set_contains(const ip_set *set, const ip_addr *addr)
{
    if (addr->family == 4)
        return runs_contain(&set->v4, key_of(addr->bytes, 4));
    if (addr->family == 6)
        return runs_contain(&set->v6, key_of(addr->bytes, 6));
    return false;
}

/* ---------------------------------------------------------- parsing */

/* An entry as parsed: its family and span. */
typedef struct entry {
    int family;
    ip_span span;
} entry;

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

static void prefix_entry(const uint8_t *addr, int family, unsigned prefix, entry *e)
{
    int bytes = family == 4 ? 4 : 16;
    uint8_t low[16] = {0}, high[16] = {0};
    for (int i = 0; i < bytes; i++) {
        unsigned bits = prefix >= (unsigned)(i + 1) * 8 ? 8 : prefix > (unsigned)i * 8 ? prefix - (unsigned)i * 8 : 0;
        uint8_t mask = bits == 0 ? 0 : (uint8_t)(0xff << (8 - bits));
        low[i] = addr[i] & mask;
        high[i] = (uint8_t)(addr[i] | (uint8_t)~mask);
    }
    e->family = family;
    e->span.low = key_of(low, family);
    e->span.high = key_of(high, family);
}

static bool parse_address(const char *s, size_t len, ip_addr *out)
{
    if (!ip_parse(s, len, out))
        return false;
    ip_unmap(out);
    return true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static size_t word_length(const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && !is_blank(s[n]))
        n++;
    return n;
}

/* The range from the address a to the address b; what names the entry in
 * errors. */
static int range_entry(const char *a, size_t alen, const char *b, size_t blen, const char *what,
                       size_t what_len, entry *e, char *err, size_t err_size)
{
    ip_addr x, y;
    if (!parse_address(a, alen, &x) || !parse_address(b, blen, &y) || x.family != y.family) {
        snprintf(err, err_size, "'%.*s' is not a range of two addresses of one family",
                 (int)what_len, what);
        return -1;
    }
    e->family = x.family;
    e->span.low = key_of(x.bytes, x.family);
    e->span.high = key_of(y.bytes, y.family);
    if (key_cmp(e->span.low, e->span.high) > 0) {
        snprintf(err, err_size, "range '%.*s' ends before it starts", (int)what_len, what);
        return -1;
    }
    return 0;
}

/* Text that can only have been meant as an address (or a network). */
static bool looks_like_address(const char *s, size_t len)
{
    size_t i = 0;
    bool dot_or_colon = false;
    for (; i < len && s[i] != '\0' && strchr("0123456789abcdefABCDEF.:/", s[i]) != NULL; i++)
        dot_or_colon = dot_or_colon || s[i] == '.' || s[i] == ':';
    return i == len && dot_or_colon;
}

/* A range written with spaces: "a - b", "a -b" or "a- b", where the entry's
 * first word is text[0..n). Without this, "a" would be the entry and "- b" a
 * comment (issue 8). Returns 1 with the range in e, 0 when the text is not
 * such a range (what follows the first word is a comment, as in "192.0.2.1 -
 * the printer"), or -1 with the reason in err when it is a broken one, as
 * "192.0.2.1 - 192.0.2.300" is. */
static int spaced_range(const char *text, size_t len, size_t n, entry *e, char *err,
                        size_t err_size)
{
    size_t alen = n, p = n;
    bool trailing_dash = text[n - 1] == '-' && memchr(text, '-', n - 1) == NULL;
    if (trailing_dash) {
        alen = n - 1;
    } else {
        while (p < len && is_blank(text[p]))
            p++;
        if (p == len || text[p] != '-' || memchr(text, '-', n) != NULL)
            return 0;
        p++;
    }
    while (p < len && is_blank(text[p]))
        p++;
    const char *b = text + p;
    size_t blen = word_length(b, len - p), what_len = p + blen;
    if (blen == 0) {
        snprintf(err, err_size, "range '%.*s' has no end", (int)what_len, text);
        return -1;
    }
    if (!trailing_dash && !looks_like_address(b, blen))
        return 0; /* "a - a comment" */
    if (memchr(text, '/', alen) != NULL || memchr(b, '/', blen) != NULL) {
        snprintf(err, err_size, "'%.*s' is not a range of two addresses of one family",
                 (int)what_len, text);
        return -1;
    }
    return range_entry(text, alen, b, blen, text, what_len, e, err, err_size) == 0 ? 1 : -1;
}

static int parse_entry(const char *text, size_t len, entry *e, char *err, size_t err_size)
{
    /* The entry ends at the first blank; the rest is a comment, except
     * for the second half of a range written with spaces. */
    size_t n = word_length(text, len);
    int spaced = spaced_range(text, len, n, e, err, err_size);
    if (spaced != 0)
        return spaced > 0 ? 0 : -1;
    const char *dash = memchr(text, '-', n);
    const char *slash = memchr(text, '/', n);
    ip_addr a;
    if (dash != NULL) {
        size_t alen = (size_t)(dash - text);
        return range_entry(text, alen, dash + 1, n - alen - 1, text, n, e, err, err_size);
    }
    if (slash != NULL) {
        size_t alen = (size_t)(slash - text);
        if (!parse_address(text, alen, &a)) {
            snprintf(err, err_size, "'%.*s' is not an IP address", (int)alen, text);
            return -1;
        }
        const char *m = slash + 1;
        size_t mlen = n - alen - 1;
        int prefix = -1;
        ip_addr mask;
        size_t digits = 0;
        while (digits < mlen && m[digits] >= '0' && m[digits] <= '9')
            digits++;
        if (mlen > 0 && mlen <= 3 && digits == mlen) {
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
        prefix_entry(a.bytes, a.family, (unsigned)prefix, e);
        return 0;
    }
    if (!parse_address(text, n, &a)) {
        snprintf(err, err_size, "'%.*s' is not an IP address, range or network", (int)n, text);
        return -1;
    }
    prefix_entry(a.bytes, a.family, a.family == 4 ? 32 : 128, e);
    return 0;
}

/* Parses one entry and appends its span after the runs: 0 when added, 1
 * for blank or comment text, -1 with err. */
static int push_entry(ip_set *set, const char *text, size_t len, char *err, size_t err_size)
{
    while (len > 0 && is_blank(*text)) {
        text++;
        len--;
    }
    if (len == 0 || *text == '#')
        return 1;
    entry e;
    if (parse_entry(text, len, &e, err, err_size) != 0)
        return -1;
    if (runs_push(e.family == 4 ? &set->v4 : &set->v6, &e.span) != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

int ip_set_add_entry(ip_set *set, const char *text, size_t len, char *err, size_t err_size)
{
    int rc = push_entry(set, text, len, err, err_size);
    seal(&set->v4);
    seal(&set->v6);
    return rc < 0 ? -1 : 0;
}

int ip_set_add_lines(ip_set *set, const char *text, size_t len, char *err, size_t err_size)
{
    const char *p = text, *end = text + len;
    unsigned line = 0;
    int rc = 0;
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        size_t n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        char why[200];
        if (push_entry(set, p, n, why, sizeof why) < 0) {
            snprintf(err, err_size, "line %u: %s", line, why);
            rc = -1;
            break;
        }
        p = eol < end ? eol + 1 : end;
    }
    /* One sort for the whole batch, and the invariant back before any
     * lookup, also after an error. */
    seal(&set->v4);
    seal(&set->v6);
    shrink(&set->v4);
    shrink(&set->v6);
    return rc;
}

const char *const ip_local_networks[IP_LOCAL_NETWORK_COUNT] = {
    "127.0.0.0/8",   "::1",         "10.0.0.0/8",     "172.16.0.0/12",  "192.168.0.0/16",
    "100.64.0.0/10", "169.254.0.0/16", "fc00::/7",    "fe80::/10",
};

int ip_set_add_local_networks(ip_set *set)
{
    char err[64];
    for (size_t i = 0; i < IP_LOCAL_NETWORK_COUNT; i++)
        if (ip_set_add_entry(set, ip_local_networks[i], strlen(ip_local_networks[i]), err,
                             sizeof err) != 0)
            return -1;
    return 0;
}
