/* flatten_state.c: the state file of `domauth spf flatten --state` (format
 * in flatten.h): parsed strictly, since a state that was cut short or
 * edited by hand would otherwise make a diff that looks like a change in
 * DNS. Pure: bytes in, bytes out; the CLI reads and writes the file. */
#include "flatten.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/cidr.h"
#include "util/strbuf.h"

enum { STATE_TERMS_MAX = 100000, STATE_LINE_MAX = 300 };

static const char magic[] = "domauth-spf-flatten 1";

struct spf_flat_state {
    arena a;
    const char *domain;
    const char *deflt;
    uint32_t ttl;
    int64_t saved;
    const char **terms;
    size_t nterms, cap;
};

/* Does text hold a term exactly as spf_flat_term_get writes it? */
static bool canonical_term(const char *t, size_t len)
{
    size_t q = len > 0 && (t[0] == '-' || t[0] == '~' || t[0] == '?') ? 1 : 0;
    if (len < q + 4 || memcmp(t + q, "ip", 2) != 0 || t[q + 3] != ':' ||
        (t[q + 2] != '4' && t[q + 2] != '6'))
        return false;
    int family = t[q + 2] - '0';
    const char *net = t + q + 4;
    size_t nlen = len - q - 4;
    cidr_key start;
    unsigned bits;
    if (!cidr_parse(net, nlen, family, &start, &bits))
        return false;
    char again[CIDR_TEXT_MAX];
    cidr_format(start, bits, family, again);
    return strlen(again) == nlen && memcmp(again, net, nlen) == 0;
}

static bool valid_name(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return false;
    }
    return true;
}

/* A decimal number without sign or leading zeros, at most max. */
static bool parse_number(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Matches "KEY VALUE": sets *value and *vlen. */
static bool keyed(const char *line, size_t len, const char *key, const char **value,
                  size_t *vlen)
{
    size_t k = strlen(key);
    if (len <= k + 1 || memcmp(line, key, k) != 0 || line[k] != ' ')
        return false;
    *value = line + k + 1;
    *vlen = len - k - 1;
    return true;
}

static int fail(spf_flat_state *st, char *err, size_t err_size, size_t line, const char *why)
{
    snprintf(err, err_size, "line %zu: %s", line, why);
    spf_flat_state_free(st);
    return -1;
}

int spf_flat_state_parse(const char *text, size_t len, spf_flat_state **out, char *err,
                         size_t err_size)
{
    *out = NULL;
    spf_flat_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    arena_init(&st->a);
    enum { MAGIC, DOMAIN, DEFAULT, TTL, SAVED, TERMS, END } expect = MAGIC;
    size_t pos = 0, lineno = 0;
    while (pos < len) {
        lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        if (nl == NULL)
            return fail(st, err, err_size, lineno, "the line has no newline: the file was cut short");
        size_t llen = (size_t)(nl - line);
        pos += llen + 1;
        if (llen > STATE_LINE_MAX)
            return fail(st, err, err_size, lineno, "the line is too long");
        for (size_t i = 0; i < llen; i++)
            if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
                return fail(st, err, err_size, lineno, "a control or non-ASCII byte");
        const char *v;
        size_t vlen;
        uint64_t n;
        switch (expect) {
        case MAGIC:
            if (llen != strlen(magic) || memcmp(line, magic, llen) != 0)
                return fail(st, err, err_size, lineno,
                            "not a domauth spf flatten state (want 'domauth-spf-flatten 1')");
            expect = DOMAIN;
            break;
        case DOMAIN:
            if (!keyed(line, llen, "domain", &v, &vlen) || !valid_name(v, vlen))
                return fail(st, err, err_size, lineno, "want 'domain NAME' (lower case)");
            st->domain = arena_strndup(&st->a, v, vlen);
            expect = DEFAULT;
            break;
        case DEFAULT:
            if (!keyed(line, llen, "default", &v, &vlen))
                return fail(st, err, err_size, lineno, "want 'default -all|~all|?all|+all|none'");
            if (vlen == 4 && memcmp(v, "none", 4) == 0)
                st->deflt = "";
            else if (vlen == 4 && strchr("-~?+", v[0]) != NULL && memcmp(v + 1, "all", 3) == 0)
                st->deflt = arena_strndup(&st->a, v, vlen);
            else
                return fail(st, err, err_size, lineno, "want 'default -all|~all|?all|+all|none'");
            expect = TTL;
            break;
        case TTL:
            if (!keyed(line, llen, "ttl", &v, &vlen) || !parse_number(v, vlen, UINT32_MAX, &n))
                return fail(st, err, err_size, lineno, "want 'ttl SECONDS'");
            st->ttl = (uint32_t)n;
            expect = SAVED;
            break;
        case SAVED:
            if (!keyed(line, llen, "saved", &v, &vlen) || !parse_number(v, vlen, INT64_MAX, &n))
                return fail(st, err, err_size, lineno, "want 'saved UNIX-TIME'");
            st->saved = (int64_t)n;
            expect = TERMS;
            break;
        case TERMS:
            if (llen == 3 && memcmp(line, "end", 3) == 0) {
                expect = END;
                break;
            }
            if (!keyed(line, llen, "term", &v, &vlen))
                return fail(st, err, err_size, lineno, "want 'term ip4:...|ip6:...' or 'end'");
            if (!canonical_term(v, vlen))
                return fail(st, err, err_size, lineno,
                            "not a flat term in canonical form (e.g. ip4:192.0.2.0/24, "
                            "-ip6:2001:db8::/32)");
            for (size_t i = 0; i < st->nterms; i++)
                if (strlen(st->terms[i]) == vlen && memcmp(st->terms[i], v, vlen) == 0)
                    return fail(st, err, err_size, lineno, "the term is listed twice");
            if (st->nterms == STATE_TERMS_MAX)
                return fail(st, err, err_size, lineno, "too many terms");
            if (st->nterms == st->cap) {
                size_t cap = st->cap ? 2 * st->cap : 64;
                const char **grown = realloc(st->terms, cap * sizeof *grown);
                if (grown == NULL)
                    return fail(st, err, err_size, lineno, "out of memory");
                st->terms = grown;
                st->cap = cap;
            }
            st->terms[st->nterms] = arena_strndup(&st->a, v, vlen);
            if (st->terms[st->nterms] == NULL)
                return fail(st, err, err_size, lineno, "out of memory");
            st->nterms++;
            break;
        case END:
            return fail(st, err, err_size, lineno, "nothing may follow 'end'");
        }
        if ((expect == DEFAULT && st->domain == NULL) || (expect == TTL && st->deflt == NULL))
            return fail(st, err, err_size, lineno, "out of memory");
    }
    if (expect != END)
        return fail(st, err, err_size, lineno + 1, "the file ends before 'end': it was cut short");
    *out = st;
    return 0;
}

void spf_flat_state_free(spf_flat_state *st)
{
    if (st == NULL)
        return;
    free(st->terms);
    arena_free(&st->a);
    free(st);
}

const char *spf_flat_state_domain(const spf_flat_state *st) { return st->domain; }
const char *spf_flat_state_default(const spf_flat_state *st) { return st->deflt; }
int64_t spf_flat_state_saved(const spf_flat_state *st) { return st->saved; }
size_t spf_flat_state_term_count(const spf_flat_state *st) { return st->nterms; }

const char *spf_flat_state_term_get(const spf_flat_state *st, size_t i)
{
    return i < st->nterms ? st->terms[i] : NULL;
}

char *spf_flat_state_format(const spf_flat *f, int64_t now)
{
    if (spf_flat_result(f) != SPF_FLAT_OK || spf_flat_record_count(f) == 0)
        return NULL;
    strbuf sb;
    strbuf_init(&sb);
    const char *d = spf_flat_default(f);
    strbuf_printf(&sb, "%s\ndomain %s\ndefault %s\nttl %" PRIu32 "\nsaved %" PRId64 "\n",
                  magic, spf_flat_record_get(f, 0)->name, d[0] ? d : "none",
                  spf_flat_min_ttl(f), now < 0 ? (int64_t)0 : now);
    for (size_t i = 0; i < spf_flat_term_count(f); i++)
        strbuf_printf(&sb, "term %s\n", spf_flat_term_get(f, i));
    strbuf_puts(&sb, "end\n");
    return strbuf_take(&sb);
}

/* Sorted copies make the diff n log n; the lists keep their own order for
 * the output. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool in_sorted(const char **sorted, size_t n, const char *s)
{
    return n > 0 && bsearch(&s, sorted, n, sizeof *sorted, cmp_str) != NULL;
}

size_t spf_flat_diff(const spf_flat_state *old, const spf_flat *f,
                     void (*emit)(void *arg, bool added, const char *term), void *arg)
{
    size_t nold = old->nterms, nnew = spf_flat_term_count(f), count = 0;
    const char **a = malloc((nold + 1) * sizeof *a), **b = malloc((nnew + 1) * sizeof *b);
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return SIZE_MAX;
    }
    memcpy(a, old->terms, nold * sizeof *a);
    for (size_t i = 0; i < nnew; i++)
        b[i] = spf_flat_term_get(f, i);
    qsort(a, nold, sizeof *a, cmp_str);
    qsort(b, nnew, sizeof *b, cmp_str);
    for (size_t i = 0; i < nnew; i++)
        if (!in_sorted(a, nold, spf_flat_term_get(f, i))) {
            emit(arg, true, spf_flat_term_get(f, i));
            count++;
        }
    for (size_t i = 0; i < nold; i++)
        if (!in_sorted(b, nnew, old->terms[i])) {
            emit(arg, false, old->terms[i]);
            count++;
        }
    free(a);
    free(b);
    return count;
}
