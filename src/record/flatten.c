/* flatten.c: `domauth spf flatten`'s engine; see flatten.h for what it
 * promises. The walk is lint's (tree.h): once every answer is in, the tree
 * is evaluated over address space instead of over one address. A result
 * map holds, per family, sorted disjoint spans each with a result; a term
 * paints its matches into what is still open, as first-match evaluation
 * decides an address at the first term that matches it.
 *
 * Invariants of a map: spans sorted by start, disjoint, and two touching
 * spans never have the same result (paint keeps it so). */
#include "flatten.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/tree.h"
#include "util/arena.h"
#include "util/cidr.h"
#include "util/strbuf.h"

enum {
    LOOKUP_LIMIT = 10,
    UDP_SIZE = 512,
    DEPTH_MAX = 64,       /* lint stops loops; a second guard */
};

typedef enum result { R_PASS, R_FAIL, R_SOFTFAIL, R_NEUTRAL, R_COUNT } result;

static const char qualifier_of[R_COUNT] = {'+', '-', '~', '?'};

static result result_of(char qualifier)
{
    switch (qualifier) {
    case '-': return R_FAIL;
    case '~': return R_SOFTFAIL;
    case '?': return R_NEUTRAL;
    default: return R_PASS;
    }
}

typedef struct rspan {
    cidr_key lo, hi;
    result r;
} rspan;

typedef struct rmap {
    rspan *v;
    size_t n, cap;
} rmap;

/* A growable list of spans of one family. */
typedef struct spans {
    cidr_span *v;
    size_t n, cap;
} spans;

struct spf_flat {
    arena a;
    spf_lint *lint;
    const char *domain;
    const char *prefix;
    size_t record_max;
    bool done, failed;
    spf_flat_problem *problems;
    size_t nproblems, problems_cap;
    const char **notes;
    size_t nnotes, notes_cap;
    const char **terms;
    size_t nterms;
    size_t pass_count[2];
    const char *deflt;
    spf_flat_record records[1 + SPF_FLAT_PARTS_MAX];
    size_t nrecords;
    uint32_t min_ttl;
    bool ttl_seen;
};

const char *spf_flat_status_name(spf_flat_status status)
{
    switch (status) {
    case SPF_FLAT_OK: return "ok";
    case SPF_FLAT_REFUSED: return "refused";
    case SPF_FLAT_TEMPERROR: return "temperror";
    case SPF_FLAT_PERMERROR: return "permerror";
    }
    return "?";
}

/* --------------------------------------------------------------- lists */

static bool grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t cap2 = *cap ? *cap : 16;
    while (cap2 < need)
        cap2 *= 2;
    void *p = realloc(*v, cap2 * size);
    if (p == NULL)
        return false;
    *v = p;
    *cap = cap2;
    return true;
}

static void spans_add(spf_flat *f, spans *s, cidr_span span)
{
    if (!grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) {
        f->failed = true;
        return;
    }
    s->v[s->n++] = span;
}

static void note(spf_flat *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(spf_flat *f, const char *fmt, ...)
{
    char buf[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    const char *copy = arena_strdup(&f->a, buf);
    if (copy == NULL || !grow((void **)&f->notes, &f->notes_cap, f->nnotes + 1, sizeof *f->notes)) {
        f->failed = true;
        return;
    }
    f->notes[f->nnotes++] = copy;
}

/* "a.example > include:b.example" for node ni, then " term N (TEXT)". */
static void write_path(const spf_lint *l, int ni, strbuf *sb)
{
    const lint_node *n = &l->nodes[ni];
    if (n->parent >= 0) {
        write_path(l, n->parent, sb);
        strbuf_printf(sb, " > %s:", n->via);
    }
    strbuf_puts(sb, n->domain ? n->domain : "(record)");
}

static void problem(spf_flat *f, spf_flat_status status, const char *code, int ni,
                    unsigned term, const char *term_text, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void problem(spf_flat *f, spf_flat_status status, const char *code, int ni,
                    unsigned term, const char *term_text, const char *fmt, ...)
{
    strbuf where;
    strbuf_init(&where);
    write_path(f->lint, ni, &where);
    if (term > 0)
        strbuf_printf(&where, " term %u", term);
    if (term_text != NULL)
        strbuf_printf(&where, " (%s)", term_text);
    char buf[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    spf_flat_problem p = {.status = status, .code = code,
                          .where = where.data ? arena_strdup(&f->a, where.data) : NULL,
                          .message = arena_strdup(&f->a, buf)};
    strbuf_free(&where);
    if (p.where == NULL || p.message == NULL ||
        !grow((void **)&f->problems, &f->problems_cap, f->nproblems + 1, sizeof *f->problems)) {
        f->failed = true;
        return;
    }
    f->problems[f->nproblems++] = p;
}

/* ---------------------------------------------------------------- maps */

static bool rmap_complete(const rmap *m, int family)
{
    if (m->n == 0 || m->v[0].lo != 0 || m->v[m->n - 1].hi != cidr_key_max(family))
        return false;
    for (size_t i = 1; i < m->n; i++)
        if (m->v[i].lo != m->v[i - 1].hi + 1)
            return false;
    return true;
}

/* Gives result r to every key of set (sorted, merged) that m leaves open. */
static void paint(spf_flat *f, rmap *m, const cidr_span *set, size_t count, result r)
{
    rspan *fresh = NULL;
    size_t nfresh = 0, cap = 0;
    size_t j = 0;
    for (size_t i = 0; i < count; i++) {
        cidr_key cur = set[i].lo, end = set[i].hi;
        while (j < m->n && m->v[j].hi < cur)
            j++;
        size_t k = j;
        for (;;) {
            if (k < m->n && m->v[k].lo <= cur) {
                if (m->v[k].hi >= end)
                    break;
                cur = m->v[k].hi + 1;
                k++;
                continue;
            }
            cidr_key gap_end = k < m->n && m->v[k].lo <= end ? m->v[k].lo - 1 : end;
            if (!grow((void **)&fresh, &cap, nfresh + 1, sizeof *fresh)) {
                f->failed = true;
                free(fresh);
                return;
            }
            fresh[nfresh++] = (rspan){cur, gap_end, r};
            if (gap_end >= end)
                break;
            cur = gap_end + 1;
        }
    }
    if (nfresh == 0) {
        free(fresh);
        return;
    }
    /* Merge the two sorted lists, joining touching spans of one result. */
    rspan *out = malloc((m->n + nfresh) * sizeof *out);
    if (out == NULL) {
        f->failed = true;
        free(fresh);
        return;
    }
    size_t n = 0, a = 0, b = 0;
    while (a < m->n || b < nfresh) {
        rspan next = b >= nfresh || (a < m->n && m->v[a].lo < fresh[b].lo) ? m->v[a++]
                                                                          : fresh[b++];
        if (n > 0 && out[n - 1].r == next.r && out[n - 1].hi + 1 == next.lo)
            out[n - 1].hi = next.hi;
        else
            out[n++] = next;
    }
    m->cap = m->n + nfresh;
    free(m->v);
    free(fresh);
    m->v = out;
    m->n = n;
}

/* The spans of m with result r (already sorted and merged). */
static void spans_with(spf_flat *f, const rmap *m, result r, spans *out)
{
    out->n = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].r == r)
            spans_add(f, out, (cidr_span){m->v[i].lo, m->v[i].hi});
}

/* --------------------------------------------------------- evaluation */

static const lint_query *query(const spf_flat *f, int index)
{
    return index >= 0 ? &f->lint->queries[index] : NULL;
}

static void saw_ttl(spf_flat *f, const lint_query *q)
{
    if (q == NULL || !q->answered)
        return;
    if (!f->ttl_seen || q->ttl < f->min_ttl)
        f->min_ttl = q->ttl;
    f->ttl_seen = true;
}

/* True when the answer can be used; a failed one is a temperror problem. */
static bool usable(spf_flat *f, const lint_query *q, int ni, const lint_term *t)
{
    if (q == NULL || !q->answered) {
        problem(f, SPF_FLAT_REFUSED, "truncated", ni, t ? t->index : 0,
                t ? t->term->text : NULL, "the tree is too large to walk whole");
        return false;
    }
    if (q->status == DA_DNS_SERVFAIL || q->status == DA_DNS_TIMEOUT) {
        problem(f, SPF_FLAT_TEMPERROR, "dns", ni, t ? t->index : 0, t ? t->term->text : NULL,
                "the %s lookup for %s failed (%s): receivers get temperror; try again later",
                da_dns_type_name(q->type), q->name, da_dns_status_name(q->status));
        return false;
    }
    saw_ttl(f, q);
    return true;
}

static void add_addresses(spf_flat *f, const lint_query *q, int family, unsigned bits,
                          spans *out)
{
    for (size_t i = 0; q != NULL && q->status == DA_DNS_NOERROR && i < q->count; i++)
        spans_add(f, out, cidr_span_of(q->addrs[i], family, bits));
}

static bool eval_node(spf_flat *f, int ni, rmap out[2], unsigned depth);

/* Why node ni has no record to evaluate (lint has said so in its words). */
static void no_record(spf_flat *f, int ni)
{
    const lint_node *n = &f->lint->nodes[ni];
    const lint_query *q = query(f, n->q_txt);
    if (!usable(f, q, ni, NULL))
        return;
    size_t spf = 0;
    for (size_t i = 0; i < q->count; i++)
        spf += spf_record_is_spf(q->texts[i], q->lens[i]);
    if (spf == 0) {
        problem(f, SPF_FLAT_PERMERROR, "no-record", ni, 0, NULL,
                "%s publishes no SPF record%s", n->domain,
                n->parent >= 0 ? " (permerror where it is included)" : "");
        return;
    }
    if (spf > 1) {
        problem(f, SPF_FLAT_PERMERROR, "many-records", ni, 0, NULL,
                "%s publishes %zu SPF records: there must be one (permerror)", n->domain, spf);
        return;
    }
    /* One record that did not parse: lint's finding has the reason. */
    const spf_lint *l = f->lint;
    for (size_t i = 0; i < l->nfindings; i++)
        if (strcmp(l->findings[i].code, "syntax") == 0 && n->domain != NULL &&
            strcmp(l->findings[i].domain, n->domain) == 0) {
            problem(f, SPF_FLAT_PERMERROR, "syntax", ni, l->findings[i].term, NULL, "%s",
                    l->findings[i].message);
            return;
        }
    problem(f, SPF_FLAT_PERMERROR, "syntax", ni, 0, NULL, "the record does not parse");
}

/* A child node (include or redirect target) that the walk did not make. */
static void no_child(spf_flat *f, int ni, unsigned index, const char *text, const char *target)
{
    if (f->lint->truncated)
        problem(f, SPF_FLAT_REFUSED, "truncated", ni, index, text,
                "the tree is too large to walk whole");
    else
        problem(f, SPF_FLAT_PERMERROR, "loop", ni, index, text,
                "%s leads back to a record already being evaluated (permerror)", target);
}

/* The match set of one term, per family; false when it cannot be known. */
static bool term_matches(spf_flat *f, int ni, const lint_term *t, spans set[2], unsigned depth)
{
    const spf_term *term = t->term;
    switch (term->mechanism) {
    case SPF_ALL:
        spans_add(f, &set[0], (cidr_span){0, cidr_key_max(4)});
        spans_add(f, &set[1], (cidr_span){0, cidr_key_max(6)});
        return true;
    case SPF_IP4:
        spans_add(f, &set[0], cidr_span_of(term->addr, 4, term->cidr4));
        return true;
    case SPF_IP6:
        spans_add(f, &set[1], cidr_span_of(term->addr, 6, term->cidr6));
        return true;
    case SPF_PTR:
        problem(f, SPF_FLAT_REFUSED, "ptr", ni, t->index, term->text,
                "ptr matches by the client's reverse DNS name, which no list of networks "
                "can say; replace it with the addresses it stands for");
        return false;
    default:
        break;
    }
    if (t->target == NULL) {
        problem(f, SPF_FLAT_REFUSED, "macro", ni, t->index, term->text,
                "the domain-spec holds a macro, so what it matches depends on the sender");
        return false;
    }
    switch (term->mechanism) {
    case SPF_A: {
        const lint_query *a = query(f, t->q_a), *aaaa = query(f, t->q_aaaa);
        if (!usable(f, a, ni, t) || !usable(f, aaaa, ni, t))
            return false;
        add_addresses(f, a, 4, term->cidr4, &set[0]);
        add_addresses(f, aaaa, 6, term->cidr6, &set[1]);
        return true;
    }
    case SPF_MX: {
        const lint_query *mx = query(f, t->q_mx);
        if (!usable(f, mx, ni, t))
            return false;
        bool ok = true;
        for (size_t h = 0; h < t->nhosts; h++) {
            if (t->q_hosts[h][0] < 0)
                continue;
            const lint_query *a = query(f, t->q_hosts[h][0]), *aaaa = query(f, t->q_hosts[h][1]);
            if (!usable(f, a, ni, t) || !usable(f, aaaa, ni, t)) {
                ok = false;
                continue;
            }
            add_addresses(f, a, 4, term->cidr4, &set[0]);
            add_addresses(f, aaaa, 6, term->cidr6, &set[1]);
        }
        /* hosts_listed is always set by the walk once the MX answer is in. */
        return ok && t->hosts_listed;
    }
    case SPF_EXISTS: {
        const lint_query *a = query(f, t->q_a);
        if (!usable(f, a, ni, t))
            return false;
        /* A literal name: it matches every client or none. */
        if (a->status == DA_DNS_NOERROR && a->count > 0) {
            spans_add(f, &set[0], (cidr_span){0, cidr_key_max(4)});
            spans_add(f, &set[1], (cidr_span){0, cidr_key_max(6)});
        }
        return true;
    }
    case SPF_INCLUDE: {
        if (t->child < 0) {
            no_child(f, ni, t->index, term->text, t->target);
            return false;
        }
        rmap inner[2] = {{0}, {0}};
        bool ok = eval_node(f, t->child, inner, depth + 1);
        if (ok) {
            spans_with(f, &inner[0], R_PASS, &set[0]);
            spans_with(f, &inner[1], R_PASS, &set[1]);
        }
        free(inner[0].v);
        free(inner[1].v);
        return ok;
    }
    default:
        return false;
    }
}

static bool eval_node(spf_flat *f, int ni, rmap out[2], unsigned depth)
{
    const lint_node *n = &f->lint->nodes[ni];
    if (depth > DEPTH_MAX) {
        problem(f, SPF_FLAT_PERMERROR, "depth", ni, 0, NULL, "includes nested too deep");
        return false;
    }
    if (n->rec == NULL) {
        no_record(f, ni);
        return false;
    }
    saw_ttl(f, query(f, n->q_txt));
    bool ok = true, has_all = false;
    for (size_t i = 0; i < n->nterms; i++)
        has_all |= n->terms[i].term->mechanism == SPF_ALL;
    spans set[2] = {{0}, {0}};
    for (size_t i = 0; i < n->nterms; i++) {
        if (rmap_complete(&out[0], 4) && rmap_complete(&out[1], 6))
            break; /* every address is decided: the rest is never reached */
        const lint_term *t = &n->terms[i];
        set[0].n = set[1].n = 0;
        if (!term_matches(f, ni, t, set, depth)) {
            ok = false;
            continue;
        }
        result r = result_of(t->term->qualifier);
        for (int fam = 0; fam < 2; fam++) {
            size_t count = cidr_spans_merge(set[fam].v, set[fam].n);
            paint(f, &out[fam], set[fam].v, count, r);
        }
        if (t->term->mechanism == SPF_ALL)
            break;
    }
    free(set[0].v);
    free(set[1].v);
    if (n->rec->exp != NULL && ni == 0)
        note(f, "exp=%s is dropped: the flat record gives receivers' default explanation",
             n->rec->exp);
    /* RFC 7208 section 6.1: redirect= counts only without an all. */
    if (!has_all && n->rec->redirect != NULL &&
        !(rmap_complete(&out[0], 4) && rmap_complete(&out[1], 6))) {
        if (strchr(n->rec->redirect, '%') != NULL) {
            problem(f, SPF_FLAT_REFUSED, "macro", ni, n->redirect_index, NULL,
                    "redirect=%s holds a macro, so where it leads depends on the sender",
                    n->rec->redirect);
            return false;
        }
        if (n->redirect_child < 0) {
            no_child(f, ni, n->redirect_index, NULL, n->rec->redirect);
            return false;
        }
        rmap target[2] = {{0}, {0}};
        bool sub = eval_node(f, n->redirect_child, target, depth + 1);
        spans by = {0};
        for (int fam = 0; sub && fam < 2; fam++)
            for (int r = 0; r < R_COUNT; r++) {
                spans_with(f, &target[fam], (result)r, &by);
                paint(f, &out[fam], by.v, by.n, (result)r);
            }
        free(by.v);
        free(target[0].v);
        free(target[1].v);
        ok &= sub;
    }
    /* What no term decided is neutral (section 4.7). */
    const cidr_span all4 = {0, cidr_key_max(4)}, all6 = {0, cidr_key_max(6)};
    paint(f, &out[0], &all4, 1, R_NEUTRAL);
    paint(f, &out[1], &all6, 1, R_NEUTRAL);
    return ok;
}

/* The tree's default: the first all of the record, else its redirect
 * target's, else none (neutral). */
static const char *default_of(const spf_flat *f, int ni, unsigned depth, result *r)
{
    const lint_node *n = &f->lint->nodes[ni];
    *r = R_NEUTRAL;
    if (n->rec == NULL || depth > DEPTH_MAX)
        return "";
    for (size_t i = 0; i < n->nterms; i++)
        if (n->terms[i].term->mechanism == SPF_ALL) {
            *r = result_of(n->terms[i].term->qualifier);
            static const char *const names[R_COUNT] = {"+all", "-all", "~all", "?all"};
            return names[*r];
        }
    if (n->rec->redirect != NULL && n->redirect_child >= 0)
        return default_of(f, n->redirect_child, depth + 1, r);
    return "";
}

/* ------------------------------------------------------------- output */

typedef struct term_sink {
    spf_flat *f;
    int family;
    char qualifier;
    strbuf *list; /* terms, NUL-separated */
    size_t count;
} term_sink;

static void emit_term(void *arg, cidr_key start, unsigned bits)
{
    term_sink *s = arg;
    char text[CIDR_TEXT_MAX];
    cidr_format(start, bits, s->family, text);
    if (s->qualifier != '+')
        strbuf_putc(s->list, s->qualifier);
    strbuf_printf(s->list, "ip%d:%s", s->family, text);
    strbuf_putc(s->list, '\0');
    s->count++;
}

static void list_terms(spf_flat *f, rmap maps[2], result deflt)
{
    strbuf list;
    strbuf_init(&list);
    size_t count = 0;
    static const result order[] = {R_FAIL, R_SOFTFAIL, R_NEUTRAL, R_PASS};
    spans s = {0};
    for (size_t o = 0; o < 4; o++) {
        result r = order[o];
        if (r == deflt)
            continue;
        for (int fam = 0; fam < 2; fam++) {
            int family = fam == 0 ? 4 : 6;
            spans_with(f, &maps[fam], r, &s);
            term_sink sink = {f, family, qualifier_of[r], &list, 0};
            for (size_t i = 0; i < s.n; i++)
                cidr_span_prefixes(s.v[i], family, emit_term, &sink);
            count += sink.count;
            if (r == R_PASS)
                f->pass_count[fam] = sink.count;
        }
    }
    free(s.v);
    f->terms = arena_alloc(&f->a, (count + 1) * sizeof *f->terms);
    if (list.failed || f->terms == NULL) {
        f->failed = true;
        strbuf_free(&list);
        return;
    }
    const char *p = list.data;
    for (size_t i = 0; i < count; i++) {
        f->terms[i] = arena_strdup(&f->a, p);
        p += strlen(p) + 1;
    }
    f->nterms = count;
    strbuf_free(&list);
}

/* The most record text that name can carry with the answer in 512 bytes. */
static size_t budget_for(const spf_flat *f, const char *name)
{
    size_t len = f->record_max;
    while (len > 0 && spf_txt_answer_size(name, &len, 1) > UDP_SIZE)
        len--;
    return len;
}

/* Lays the terms into the head and k parts; false when they do not fit. */
static bool lay_out(spf_flat *f, size_t k, char *names[], strbuf texts[])
{
    for (size_t i = 0; i <= k; i++) {
        strbuf_clear(&texts[i]);
        strbuf_puts(&texts[i], "v=spf1");
    }
    size_t t = 0;
    /* The head: what is not pass must be here (an included record can
     * only pass or not match), then the includes and the default. */
    size_t tail = 0;
    for (size_t i = 1; i <= k; i++)
        tail += strlen(" include:") + strlen(names[i]);
    if (f->deflt[0] != '\0')
        tail += 1 + strlen(f->deflt);
    size_t budget = budget_for(f, names[0]);
    for (; t < f->nterms && f->terms[t][0] != 'i'; t++) {
        strbuf_printf(&texts[0], " %s", f->terms[t]);
        if (texts[0].len + tail > budget)
            return false;
    }
    for (; t < f->nterms && texts[0].len + 1 + strlen(f->terms[t]) + tail <= budget; t++)
        strbuf_printf(&texts[0], " %s", f->terms[t]);
    for (size_t i = 1; i <= k; i++) {
        size_t b = budget_for(f, names[i]);
        for (; t < f->nterms && texts[i].len + 1 + strlen(f->terms[t]) + 5 <= b; t++)
            strbuf_printf(&texts[i], " %s", f->terms[t]);
        strbuf_puts(&texts[i], " -all");
    }
    if (t < f->nterms)
        return false;
    for (size_t i = 1; i <= k; i++)
        strbuf_printf(&texts[0], " include:%s", names[i]);
    if (f->deflt[0] != '\0')
        strbuf_printf(&texts[0], " %s", f->deflt);
    return true;
}

static void build_chain(spf_flat *f)
{
    char *names[1 + SPF_FLAT_PARTS_MAX] = {0};
    strbuf texts[1 + SPF_FLAT_PARTS_MAX];
    for (size_t i = 0; i <= SPF_FLAT_PARTS_MAX; i++)
        strbuf_init(&texts[i]);
    names[0] = (char *)f->domain;
    for (size_t i = 1; i <= SPF_FLAT_PARTS_MAX; i++) {
        char buf[300];
        snprintf(buf, sizeof buf, "%s%zu.%s", f->prefix, i, f->domain);
        names[i] = arena_strdup(&f->a, buf);
        if (names[i] == NULL) {
            f->failed = true;
            goto out;
        }
    }
    size_t k = 0;
    while (k <= SPF_FLAT_PARTS_MAX && !lay_out(f, k, names, texts))
        k++;
    if (k > SPF_FLAT_PARTS_MAX) {
        problem(f, SPF_FLAT_REFUSED, "too-large", 0, 0, NULL,
                "%zu networks do not fit in %d records of %zu bytes (the head and at most %d "
                "includes, the lookup limit)%s", f->nterms, 1 + SPF_FLAT_PARTS_MAX,
                f->record_max, SPF_FLAT_PARTS_MAX,
                f->nterms > f->pass_count[0] + f->pass_count[1]
                    ? "; the ranges that are not pass must all fit in the head"
                    : "");
        goto out;
    }
    for (size_t i = 0; i <= k; i++) {
        if (texts[i].failed) {
            f->failed = true;
            goto out;
        }
        spf_flat_record *r = &f->records[i];
        r->name = names[i];
        r->text = arena_strdup(&f->a, texts[i].data);
        size_t len = texts[i].len;
        r->answer_size = spf_txt_answer_size(r->name, &len, 1);
    }
    f->nrecords = k + 1;
    /* The head shares its answer with the domain's other TXT records. */
    const lint_query *q = query(f, f->lint->nodes[0].q_txt);
    if (q != NULL && q->count > 1) {
        size_t *lens = calloc(q->count, sizeof *lens);
        if (lens != NULL) {
            for (size_t i = 0; i < q->count; i++)
                lens[i] = spf_record_is_spf(q->texts[i], q->lens[i]) ? texts[0].len : q->lens[i];
            size_t size = spf_txt_answer_size(f->domain, lens, q->count);
            if (size > UDP_SIZE)
                note(f, "with the %zu other TXT records at %s the answer is about %zu bytes, "
                        "over %d: receivers must retry over TCP", q->count - 1, f->domain,
                     size, UDP_SIZE);
            free(lens);
        }
    }
out:
    for (size_t i = 0; i <= SPF_FLAT_PARTS_MAX; i++)
        strbuf_free(&texts[i]);
}

static void limits_notes(spf_flat *f)
{
    const spf_lint *l = f->lint;
    unsigned lookups = spf_lint_lookups(l);
    if (lookups > LOOKUP_LIMIT)
        note(f, "the published tree needs %u DNS lookups, over the limit of %d: receivers "
                "give permerror to senders it does not match within the first %d (%s); the "
                "flat record gives what the tree means", lookups, LOOKUP_LIMIT, LOOKUP_LIMIT,
             spf_lint_lookup_path(l));
    for (size_t i = 0; i < l->nfindings; i++) {
        const spf_lint_finding *x = &l->findings[i];
        if (strcmp(x->code, "void-limit") == 0 || strcmp(x->code, "mx-limit") == 0)
            note(f, "%s: %s; the flat record lists every address", x->domain, x->message);
    }
}

static void flatten(spf_flat *f)
{
    f->done = true;
    rmap maps[2] = {{0}, {0}};
    bool ok = eval_node(f, 0, maps, 0);
    if (ok && f->nproblems == 0 && !f->failed) {
        result deflt;
        f->deflt = default_of(f, 0, 0, &deflt);
        list_terms(f, maps, deflt);
        if (!f->failed)
            build_chain(f);
    }
    limits_notes(f);
    free(maps[0].v);
    free(maps[1].v);
}

/* ----------------------------------------------------------- creation */

static bool valid_prefix(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || len > SPF_FLAT_PREFIX_MAX || p[0] == '.' || p[0] == '-' ||
        strstr(p, "..") != NULL)
        return false;
    for (; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    return true;
}

static bool valid_domain(const char *d)
{
    size_t len = strlen(d);
    if (len == 0 || len > 253 - SPF_FLAT_PREFIX_MAX - 3 || d[0] == '.' || strstr(d, "..") != NULL)
        return false;
    size_t label = 0;
    for (; *d; d++) {
        if (*d == '.') {
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)*d) && *d != '_' && *d != '-')
            return false;
        if (++label > 63)
            return false;
    }
    return true;
}

spf_flat *spf_flat_new(const char *domain, const spf_flat_options *options, char *err,
                       size_t err_size)
{
    const char *prefix = options && options->prefix ? options->prefix : "_spf";
    size_t record_max = options && options->record_max ? options->record_max
                                                        : SPF_FLAT_RECORD_MAX;
    if (domain == NULL || !valid_domain(domain)) {
        snprintf(err, err_size, "'%s' is not a domain name", domain ? domain : "");
        return NULL;
    }
    if (!valid_prefix(prefix)) {
        snprintf(err, err_size, "the prefix '%s' is not 1 to %d letters, digits, '_', '-' or "
                 "'.'", prefix, SPF_FLAT_PREFIX_MAX);
        return NULL;
    }
    if (record_max < 64 || record_max > 2048) {
        snprintf(err, err_size, "a record of %zu bytes is out of range (64 to 2048)",
                 record_max);
        return NULL;
    }
    spf_flat *f = calloc(1, sizeof *f);
    if (f == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    arena_init(&f->a);
    size_t dlen = strlen(domain);
    while (dlen > 0 && domain[dlen - 1] == '.')
        dlen--;
    char *d = arena_strndup(&f->a, domain, dlen);
    if (d != NULL)
        for (char *p = d; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    f->domain = d;
    f->prefix = arena_strdup(&f->a, prefix);
    f->record_max = record_max;
    f->deflt = "";
    f->lint = d ? spf_lint_new_walk(d) : NULL;
    if (f->lint == NULL || f->prefix == NULL) {
        snprintf(err, err_size, "out of memory");
        spf_flat_free(f);
        return NULL;
    }
    return f;
}

void spf_flat_free(spf_flat *f)
{
    if (f == NULL)
        return;
    spf_lint_free(f->lint);
    free(f->problems);
    free(f->notes);
    arena_free(&f->a);
    free(f);
}

static da_engine_step engine_step(void *self)
{
    spf_flat *f = self;
    spf_lint_step s = spf_lint_step_next(f->lint);
    if (s.done && !f->done)
        flatten(f);
    return (da_engine_step){.done = s.done, .count = s.count, .questions = s.questions};
}

static void engine_answer(void *self, const da_dns_question *q, const da_dns_answer *a)
{
    spf_flat *f = self;
    spf_lint_answer(f->lint, q, a);
}

da_engine da_engine_spf_flat(spf_flat *f)
{
    return (da_engine){.self = f, .step = engine_step, .answer = engine_answer};
}

int spf_flat_run(spf_flat *f, da_resolver *resolver)
{
    da_engine e = da_engine_spf_flat(f);
    return da_engine_run(&e, resolver, 1000) != 0 || f->failed || f->lint->failed ? -1 : 0;
}

/* ------------------------------------------------------------ results */

spf_flat_status spf_flat_result(const spf_flat *f)
{
    spf_flat_status worst = SPF_FLAT_OK;
    static const int rank[] = {[SPF_FLAT_OK] = 0, [SPF_FLAT_REFUSED] = 1,
                               [SPF_FLAT_PERMERROR] = 2, [SPF_FLAT_TEMPERROR] = 3};
    for (size_t i = 0; i < f->nproblems; i++)
        if (rank[f->problems[i].status] > rank[worst])
            worst = f->problems[i].status;
    return worst;
}

size_t spf_flat_problem_count(const spf_flat *f) { return f->nproblems; }

const spf_flat_problem *spf_flat_problem_get(const spf_flat *f, size_t i)
{
    return i < f->nproblems ? &f->problems[i] : NULL;
}

size_t spf_flat_note_count(const spf_flat *f) { return f->nnotes; }

const char *spf_flat_note_get(const spf_flat *f, size_t i)
{
    return i < f->nnotes ? f->notes[i] : NULL;
}

size_t spf_flat_term_count(const spf_flat *f) { return f->nterms; }

const char *spf_flat_term_get(const spf_flat *f, size_t i)
{
    return i < f->nterms ? f->terms[i] : NULL;
}

const char *spf_flat_default(const spf_flat *f) { return f->deflt; }

size_t spf_flat_pass_count(const spf_flat *f, int family)
{
    return f->pass_count[family == 4 ? 0 : 1];
}

size_t spf_flat_record_count(const spf_flat *f) { return f->nrecords; }

const spf_flat_record *spf_flat_record_get(const spf_flat *f, size_t i)
{
    return i < f->nrecords ? &f->records[i] : NULL;
}

unsigned spf_flat_lookups(const spf_flat *f)
{
    return f->nrecords > 0 ? (unsigned)(f->nrecords - 1) : 0;
}

unsigned spf_flat_tree_lookups(const spf_flat *f) { return spf_lint_lookups(f->lint); }

const char *spf_flat_tree_path(const spf_flat *f) { return spf_lint_lookup_path(f->lint); }

uint32_t spf_flat_min_ttl(const spf_flat *f) { return f->min_ttl; }
