/* lint.c: the SPF tree walker behind `domauth spf lint`. It fetches a
 * domain's record, then breadth-first the records of every include and
 * redirect and the targets of a, mx and exists, asking every independent
 * question in one step; once all are answered it looks at the whole tree.
 * It follows only literal domain-specs: macros depend on the sender.
 *
 * Invariants: queries are unique by (name, type) and each is handed out
 * once; nodes are only appended, so an index stays valid; everything lives
 * in one arena freed with the lint. */
#include "lint.h"
#include "tree.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf/record.h"
#include "util/arena.h"
#include "util/ip.h"
#include "util/strbuf.h"

enum {
    MAX_NODES = 200,       /* records examined, whatever the tree holds */
    MAX_QUERIES = 1000,
    LOOKUP_LIMIT = 10,     /* RFC 7208 section 4.6.4 */
    VOID_LIMIT = 2,
    MX_LIMIT = 10,
    UDP_SIZE = 512,
};

const char *spf_lint_severity_name(spf_lint_severity severity)
{
    switch (severity) {
    case SPF_LINT_NOTE: return "note";
    case SPF_LINT_WARNING: return "warning";
    case SPF_LINT_ERROR: return "error";
    }
    return "?";
}

/* ------------------------------------------------------------ helpers */

static const char *lower_name(arena *a, const char *s, size_t len)
{
    while (len > 0 && s[len - 1] == '.')
        len--;
    char *out = arena_strndup(a, s, len);
    if (out != NULL)
        for (char *p = out; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return out;
}

static void add_finding(spf_lint *l, spf_lint_severity sev, const char *code,
                        const lint_node *n, unsigned term, const char *term_text,
                        const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void add_finding(spf_lint *l, spf_lint_severity sev, const char *code,
                        const lint_node *n, unsigned term, const char *term_text,
                        const char *fmt, ...)
{
    if (l->nfindings == l->findings_cap) {
        size_t cap = l->findings_cap ? 2 * l->findings_cap : 16;
        spf_lint_finding *f = realloc(l->findings, cap * sizeof *f);
        if (f == NULL) {
            l->failed = true;
            return;
        }
        l->findings = f;
        l->findings_cap = cap;
    }
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    spf_lint_finding *f = &l->findings[l->nfindings++];
    f->severity = sev;
    f->code = code;
    f->domain = n != NULL && n->domain != NULL ? n->domain : "(record)";
    f->term = term;
    f->term_text = term_text;
    f->message = arena_strdup(&l->a, msg);
    if (f->message == NULL)
        l->failed = true;
}

static int find_or_add_query(spf_lint *l, const char *name, da_dns_type type)
{
    for (size_t i = 0; i < l->nqueries; i++)
        if (l->queries[i].type == type && strcmp(l->queries[i].name, name) == 0)
            return (int)i;
    if (l->nqueries == MAX_QUERIES) {
        l->truncated = true;
        return -1;
    }
    lint_query *q = &l->queries[l->nqueries];
    memset(q, 0, sizeof *q);
    q->name = name;
    q->type = type;
    return (int)l->nqueries++;
}

static const lint_query *query(const spf_lint *l, int index)
{
    return index >= 0 ? &l->queries[index] : NULL;
}

static bool has_macro(const char *s)
{
    return strchr(s, '%') != NULL;
}

/* A void lookup (RFC 7208 section 4.6.4): NXDOMAIN or no records. */
static bool is_void(const lint_query *q)
{
    return q != NULL && q->answered &&
           (q->status == DA_DNS_NXDOMAIN || (q->status == DA_DNS_NOERROR && q->count == 0));
}

static bool is_failed(const lint_query *q)
{
    return q != NULL && q->answered &&
           (q->status == DA_DNS_SERVFAIL || q->status == DA_DNS_TIMEOUT);
}

/* ----------------------------------------------------------- creation */

static int add_node(spf_lint *l, const char *domain, int parent, const char *via,
                    const char *given)
{
    if (l->nnodes == MAX_NODES) {
        l->truncated = true;
        return -1;
    }
    lint_node *n = &l->nodes[l->nnodes];
    memset(n, 0, sizeof *n);
    n->domain = domain;
    n->parent = parent;
    n->via = via;
    n->given = given;
    n->q_txt = -1;
    n->q_exp = -1;
    n->q_spf_rr = -1;
    n->redirect_child = -1;
    if (given == NULL) {
        n->q_txt = find_or_add_query(l, domain, DA_DNS_TXT);
        if (n->q_txt < 0)
            return -1;
        if (parent < 0)
            n->q_spf_rr = find_or_add_query(l, domain, DA_DNS_SPF);
    }
    return (int)l->nnodes++;
}

spf_lint *spf_lint_new(const char *domain, const char *record)
{
    if (domain == NULL && record == NULL)
        return NULL;
    spf_lint *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    arena_init(&l->a);
    l->nodes = arena_alloc(&l->a, MAX_NODES * sizeof *l->nodes);
    l->queries = arena_alloc(&l->a, MAX_QUERIES * sizeof *l->queries);
    l->out = arena_alloc(&l->a, MAX_QUERIES * sizeof *l->out);
    const char *d = domain ? lower_name(&l->a, domain, strlen(domain)) : NULL;
    const char *r = record ? arena_strdup(&l->a, record) : NULL;
    if (l->nodes == NULL || l->queries == NULL || l->out == NULL || (domain && !d) ||
        (record && !r) || add_node(l, d, -1, NULL, r) < 0) {
        spf_lint_free(l);
        return NULL;
    }
    return l;
}

spf_lint *spf_lint_new_walk(const char *domain)
{
    if (domain == NULL)
        return NULL;
    spf_lint *l = spf_lint_new(domain, NULL);
    if (l != NULL)
        l->mx_hosts = true;
    return l;
}

void spf_lint_free(spf_lint *l)
{
    if (l == NULL)
        return;
    free(l->findings);
    arena_free(&l->a);
    free(l);
}

/* ---------------------------------------------------------- expansion */

static bool is_modifier_token(const char *t, size_t len)
{
    if (len == 0 || !isalpha((unsigned char)t[0]))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (c == '=')
            return i > 0;
        if (!isalnum((unsigned char)c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return false;
}

/* The 1-based positions, as written, of the mechanisms and of the two
 * modifiers parse keeps. */
static void number_terms(lint_node *n)
{
    const char *s = n->text;
    size_t len = strlen(s), pos = 6, mech = 0;
    unsigned index = 0;
    while (pos < len) {
        while (pos < len && s[pos] == ' ')
            pos++;
        if (pos >= len)
            break;
        size_t start = pos;
        while (pos < len && s[pos] != ' ')
            pos++;
        index++;
        const char *t = s + start;
        size_t tlen = pos - start;
        if (is_modifier_token(t, tlen)) {
            if (tlen > 9 && strncasecmp(t, "redirect=", 9) == 0)
                n->redirect_index = index;
            else if (tlen > 4 && strncasecmp(t, "exp=", 4) == 0)
                n->exp_index = index;
        } else if (mech < n->nterms) {
            n->terms[mech++].index = index;
        }
    }
}

static bool is_ancestor(const spf_lint *l, int node, const char *domain)
{
    for (int i = node; i >= 0; i = l->nodes[i].parent)
        if (l->nodes[i].domain != NULL && strcmp(l->nodes[i].domain, domain) == 0)
            return true;
    return false;
}

/* Follows include or redirect from node to target: a new node, or -1 for
 * a loop (reported) or when the tree is too big. */
static int follow(spf_lint *l, int node, const char *target, const char *via,
                  unsigned index, const char *text)
{
    if (is_ancestor(l, node, target)) {
        add_finding(l, SPF_LINT_ERROR, "loop", &l->nodes[node], index, text,
                    "%s:%s leads back to a record that is already being evaluated "
                    "(receivers stop at the lookup limit: permerror)", via, target);
        return -1;
    }
    return add_node(l, target, node, via, NULL);
}

static void expand_record(spf_lint *l, int ni)
{
    lint_node *n = &l->nodes[ni];
    char err[512];
    if (spf_record_parse(&l->a, n->text, strlen(n->text), &n->rec, err, sizeof err) != 0) {
        unsigned index = 0;
        if (sscanf(err, "term %u", &index) != 1)
            index = 0;
        add_finding(l, SPF_LINT_ERROR, "syntax", n, index, NULL, "%s (permerror)", err);
        n->rec = NULL;
        return;
    }
    n->nterms = n->rec->count;
    n->terms = arena_alloc(&l->a, (n->nterms + 1) * sizeof *n->terms);
    if (n->terms == NULL) {
        l->failed = true;
        return;
    }
    number_terms(n);
    for (size_t i = 0; i < n->nterms; i++) {
        lint_term *t = &n->terms[i];
        t->term = &n->rec->terms[i];
        t->q_a = t->q_aaaa = t->q_mx = t->child = -1;
        if (spf_mechanism_queries_dns(t->term->mechanism))
            n->own_lookups++;
        const char *spec = t->term->domain_spec;
        if (spec != NULL && !has_macro(spec))
            t->target = lower_name(&l->a, spec, strlen(spec));
        else if (spec == NULL)
            t->target = n->domain;
        if (spec != NULL && has_macro(spec) && t->term->mechanism != SPF_ALL)
            add_finding(l, SPF_LINT_NOTE, "macro", n, t->index, t->term->text,
                        "the target depends on the sender; not followed");
        if (t->target == NULL)
            continue;
        switch (t->term->mechanism) {
        case SPF_A:
            t->q_a = find_or_add_query(l, t->target, DA_DNS_A);
            t->q_aaaa = find_or_add_query(l, t->target, DA_DNS_AAAA);
            break;
        case SPF_EXISTS:
            t->q_a = find_or_add_query(l, t->target, DA_DNS_A);
            break;
        case SPF_MX:
            t->q_mx = find_or_add_query(l, t->target, DA_DNS_MX);
            break;
        case SPF_INCLUDE:
            t->child = follow(l, ni, t->target, "include", t->index, t->term->text);
            n = &l->nodes[ni];
            break;
        default:
            break;
        }
    }
    if (n->rec->redirect != NULL) {
        n->own_lookups++;
        if (!has_macro(n->rec->redirect)) {
            const char *target = lower_name(&l->a, n->rec->redirect, strlen(n->rec->redirect));
            if (target != NULL)
                n->redirect_child = follow(l, ni, target, "redirect", n->redirect_index,
                                           NULL);
            n = &l->nodes[ni];
        }
    }
    if (n->rec->exp != NULL && !has_macro(n->rec->exp)) {
        const char *target = lower_name(&l->a, n->rec->exp, strlen(n->rec->exp));
        if (target != NULL)
            n->q_exp = find_or_add_query(l, target, DA_DNS_TXT);
    }
}

/* A node whose TXT answer (or given record) is here: choose its record. */
static void expand(spf_lint *l, int ni)
{
    lint_node *n = &l->nodes[ni];
    n->expanded = true;
    if (n->given != NULL) {
        n->text = n->given;
        expand_record(l, ni);
        return;
    }
    const lint_query *q = query(l, n->q_txt);
    if (is_failed(q)) {
        add_finding(l, SPF_LINT_ERROR, "dns", n, 0, NULL,
                    "the TXT lookup for %s failed (%s): receivers get temperror", n->domain,
                    da_dns_status_name(q->status));
        return;
    }
    size_t spf = 0;
    for (size_t i = 0; i < q->count; i++) {
        if (spf_record_is_spf(q->texts[i], q->lens[i])) {
            spf++;
            if (strlen(q->texts[i]) != q->lens[i]) {
                add_finding(l, SPF_LINT_ERROR, "syntax", n, 0, NULL,
                            "the record holds a NUL byte (permerror)");
                return;
            }
            n->text = q->texts[i];
        }
    }
    if (spf > 1) {
        add_finding(l, SPF_LINT_ERROR, "many-records", n, 0, NULL,
                    "%zu SPF records: there must be one (RFC 7208 section 4.5: permerror)",
                    spf);
        n->text = NULL;
        return;
    }
    if (spf == 0) {
        if (n->via == NULL)
            add_finding(l, SPF_LINT_ERROR, "no-record", n, 0, NULL,
                        "%s publishes no SPF record (result none)", n->domain);
        else {
            const lint_node *p = &l->nodes[n->parent];
            unsigned index = 0;
            const char *text = NULL;
            for (size_t i = 0; i < p->nterms; i++)
                if (p->terms[i].child == ni) {
                    index = p->terms[i].index;
                    text = p->terms[i].term->text;
                }
            if (p->redirect_child == ni)
                index = p->redirect_index;
            add_finding(l, SPF_LINT_ERROR, "no-record", p, index, text,
                        "%s:%s: %s publishes no SPF record (permerror)", n->via, n->domain,
                        n->domain);
        }
        return;
    }
    expand_record(l, ni);
}

/* ------------------------------------------------------------ stepping */

/* An mx term whose MX answer is here: an A and an AAAA question for each
 * exchange (a null MX, "MX 0 .", names none). */
static void list_hosts(spf_lint *l, lint_term *t)
{
    t->hosts_listed = true;
    const lint_query *mx = query(l, t->q_mx);
    if (mx == NULL || mx->status != DA_DNS_NOERROR || mx->count == 0)
        return;
    size_t n = mx->count;
    t->q_hosts = arena_alloc(&l->a, n * sizeof *t->q_hosts);
    if (t->q_hosts == NULL) {
        l->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *host = l->queries[t->q_mx].texts[i];
        t->q_hosts[i][0] = t->q_hosts[i][1] = -1;
        if (host[0] != '\0') {
            t->q_hosts[i][0] = find_or_add_query(l, host, DA_DNS_A);
            t->q_hosts[i][1] = find_or_add_query(l, host, DA_DNS_AAAA);
        }
    }
    t->nhosts = n;
}

static void analyse(spf_lint *l);

spf_lint_step spf_lint_step_next(spf_lint *l)
{
    spf_lint_step s = {0};
    bool progressed = true;
    while (progressed) {
        progressed = false;
        for (size_t i = 0; i < l->nnodes; i++) {
            lint_node *n = &l->nodes[i];
            if (n->expanded)
                continue;
            if (n->given == NULL && !l->queries[n->q_txt].answered)
                continue;
            expand(l, (int)i);
            progressed = true;
        }
        for (size_t i = 0; l->mx_hosts && i < l->nnodes; i++) {
            lint_node *n = &l->nodes[i];
            for (size_t k = 0; k < n->nterms; k++) {
                lint_term *t = &n->terms[k];
                if (t->q_mx >= 0 && !t->hosts_listed && l->queries[t->q_mx].answered)
                    list_hosts(l, t);
            }
        }
    }
    l->nout = 0;
    bool waiting = false;
    for (size_t i = 0; i < l->nqueries; i++) {
        lint_query *q = &l->queries[i];
        if (!q->asked) {
            q->asked = true;
            l->out[l->nout].name = q->name;
            l->out[l->nout].type = q->type;
            l->nout++;
        }
        if (!q->answered)
            waiting = true;
    }
    if (waiting) {
        s.count = l->nout;
        s.questions = l->out;
        return s;
    }
    if (!l->analysed)
        analyse(l);
    s.done = true;
    return s;
}

void spf_lint_answer(spf_lint *l, const da_dns_question *question, const da_dns_answer *answer)
{
    lint_query *q = NULL;
    for (size_t i = 0; i < l->nqueries; i++)
        if (l->queries[i].type == question->type &&
            strcasecmp(l->queries[i].name, question->name) == 0)
            q = &l->queries[i];
    if (q == NULL || q->answered)
        return;
    q->answered = true;
    q->status = answer->status;
    q->ttl = answer->ttl;
    size_t n = 0;
    for (size_t i = 0; i < answer->count; i++)
        if (answer->records[i].type == q->type)
            n++;
    q->texts = arena_alloc(&l->a, (n + 1) * sizeof *q->texts);
    q->lens = arena_alloc(&l->a, (n + 1) * sizeof *q->lens);
    q->addrs = arena_alloc(&l->a, (n + 1) * sizeof *q->addrs);
    if (q->texts == NULL || q->lens == NULL || q->addrs == NULL) {
        q->status = DA_DNS_SERVFAIL;
        l->failed = true;
        return;
    }
    for (size_t i = 0; i < answer->count; i++) {
        const da_dns_rr *rr = &answer->records[i];
        if (rr->type != q->type)
            continue;
        size_t k = q->count;
        if (rr->type == DA_DNS_TXT) {
            q->texts[k] = arena_strndup(&l->a, rr->text, rr->text_len);
            q->lens[k] = rr->text_len;
        } else if (rr->type == DA_DNS_MX) {
            q->texts[k] = rr->name ? lower_name(&l->a, rr->name, strlen(rr->name)) : "";
        } else {
            memcpy(q->addrs[k], rr->addr, 16);
        }
        if ((rr->type == DA_DNS_TXT || rr->type == DA_DNS_MX) && q->texts[k] == NULL) {
            l->failed = true;
            continue;
        }
        q->count++;
    }
}

int spf_lint_run(spf_lint *l, da_resolver *resolver)
{
    da_engine e = da_engine_spf_lint(l);
    return da_engine_run(&e, resolver, 1000) != 0 || l->failed ? -1 : 0;
}

static da_engine_step engine_step(void *self)
{
    spf_lint_step s = spf_lint_step_next(self);
    return (da_engine_step){.done = s.done, .count = s.count, .questions = s.questions};
}

static void engine_answer(void *self, const da_dns_question *q, const da_dns_answer *a)
{
    spf_lint_answer(self, q, a);
}

da_engine da_engine_spf_lint(spf_lint *l)
{
    return (da_engine){.self = l, .step = engine_step, .answer = engine_answer};
}

/* ------------------------------------------------------------ analysis */

/* Lookups of node's subtree as an evaluation that matches nothing makes
 * them, and the path written into sb. */
static unsigned subtree_lookups(const spf_lint *l, int ni, strbuf *sb)
{
    const lint_node *n = &l->nodes[ni];
    if (sb->len > 0)
        strbuf_puts(sb, " > ");
    if (n->via != NULL)
        strbuf_printf(sb, "%s:", n->via);
    strbuf_printf(sb, "%s(%u)", n->domain ? n->domain : "(record)", n->own_lookups);
    unsigned total = n->own_lookups;
    for (size_t i = 0; i < n->nterms; i++)
        if (n->terms[i].child >= 0)
            total += subtree_lookups(l, n->terms[i].child, sb);
    if (n->redirect_child >= 0)
        total += subtree_lookups(l, n->redirect_child, sb);
    return total;
}

size_t spf_txt_answer_size(const char *name, const size_t *lens, size_t count)
{
    size_t nlen = strlen(name);
    if (nlen > 0 && name[nlen - 1] == '.')
        nlen--;
    size_t size = 12 + nlen + 2 + 4;
    for (size_t i = 0; i < count; i++)
        size += 2 + 10 + lens[i] + (lens[i] + 254) / 255 + (lens[i] == 0);
    return size;
}

static bool same_target(const lint_term *a, const lint_term *b)
{
    if (a->target == NULL || b->target == NULL)
        return false;
    return strcmp(a->target, b->target) == 0;
}

static bool names_subset(const lint_query *sub, const lint_query *super)
{
    if (sub == NULL || super == NULL || sub->count == 0)
        return false;
    for (size_t i = 0; i < sub->count; i++) {
        bool found = false;
        for (size_t j = 0; j < super->count && !found; j++)
            found = strcmp(sub->texts[i], super->texts[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static bool addr_in_query(const lint_query *q, const uint8_t *addr, unsigned bytes)
{
    if (q == NULL)
        return false;
    for (size_t i = 0; i < q->count; i++)
        if (memcmp(q->addrs[i], addr, bytes) == 0)
            return true;
    return false;
}

/* Does earlier term e already cover everything term t matches? Only
 * terms with the same qualifier: one with another qualifier changes the
 * result. Returns a reason, or NULL. */
static const char *covered_by(const spf_lint *l, const lint_term *e, const lint_term *t,
                              char *why, size_t why_size, bool *today)
{
    *today = false;
    const spf_term *x = e->term, *y = t->term;
    if (x->qualifier != y->qualifier)
        return NULL;
    if (x->mechanism == y->mechanism && x->cidr4 == y->cidr4 && x->cidr6 == y->cidr6) {
        switch (y->mechanism) {
        case SPF_A:
        case SPF_MX:
        case SPF_INCLUDE:
        case SPF_EXISTS:
        case SPF_PTR:
            if (same_target(e, t) || (y->mechanism == SPF_PTR && x->domain_spec == NULL &&
                                      y->domain_spec == NULL)) {
                snprintf(why, why_size, "the same as term %u (%s)", e->index, x->text);
                return why;
            }
            break;
        default:
            break;
        }
    }
    if (x->mechanism == y->mechanism && (y->mechanism == SPF_IP4 || y->mechanism == SPF_IP6)) {
        unsigned xb = y->mechanism == SPF_IP4 ? x->cidr4 : x->cidr6;
        unsigned yb = y->mechanism == SPF_IP4 ? y->cidr4 : y->cidr6;
        if (xb <= yb && ip_prefix_equal(x->addr, y->addr, xb)) {
            snprintf(why, why_size, "inside term %u (%s)", e->index, x->text);
            return why;
        }
    }
    if (x->mechanism == SPF_MX && y->mechanism == SPF_MX && x->cidr4 == y->cidr4 &&
        x->cidr6 == y->cidr6 && names_subset(query(l, t->q_mx), query(l, e->q_mx))) {
        snprintf(why, why_size, "its MX hosts are today term %u's (%s)", e->index, x->text);
        *today = true;
        return why;
    }
    if (x->mechanism == SPF_A && y->mechanism == SPF_A && x->cidr4 == y->cidr4 &&
        x->cidr6 == y->cidr6 && x->cidr4 == 32 && x->cidr6 == 128) {
        const lint_query *ya = query(l, t->q_a), *y6 = query(l, t->q_aaaa);
        size_t n = (ya ? ya->count : 0) + (y6 ? y6->count : 0);
        bool all = n > 0;
        for (size_t i = 0; all && ya && i < ya->count; i++)
            all = addr_in_query(query(l, e->q_a), ya->addrs[i], 4);
        for (size_t i = 0; all && y6 && i < y6->count; i++)
            all = addr_in_query(query(l, e->q_aaaa), y6->addrs[i], 16);
        if (all) {
            snprintf(why, why_size, "its addresses are today term %u's (%s)", e->index,
                     x->text);
            *today = true;
            return why;
        }
    }
    return NULL;
}

/* An ip4/ip6 term whose whole range is, today, an address of an earlier
 * a term: a note, since the A record may change. */
static const char *ip_is_a_record(const spf_lint *l, const lint_term *e, const lint_term *t,
                                  char *why, size_t why_size)
{
    const spf_term *x = e->term, *y = t->term;
    if (x->mechanism != SPF_A || x->qualifier != y->qualifier)
        return NULL;
    bool covered = false;
    if (y->mechanism == SPF_IP4 && y->cidr4 == 32)
        covered = x->cidr4 == 32 && addr_in_query(query(l, e->q_a), y->addr, 4);
    else if (y->mechanism == SPF_IP6 && y->cidr6 == 128)
        covered = x->cidr6 == 128 && addr_in_query(query(l, e->q_aaaa), y->addr, 16);
    if (!covered)
        return NULL;
    snprintf(why, why_size, "the address is today one of term %u's (%s)", e->index,
             x->text);
    return why;
}

/* An ip4/ip6 range inside a wider one that comes later, with only terms
 * of the same qualifier between (one of another qualifier could match the
 * address first, and then the order matters). */
static void check_wider_later(spf_lint *l, const lint_node *n, size_t i)
{
    const lint_term *t = &n->terms[i];
    const spf_term *y = t->term;
    if (y->mechanism != SPF_IP4 && y->mechanism != SPF_IP6)
        return;
    unsigned yb = y->mechanism == SPF_IP4 ? y->cidr4 : y->cidr6;
    for (size_t k = i + 1; k < n->nterms; k++) {
        const spf_term *x = n->terms[k].term;
        if (x->qualifier != y->qualifier || x->mechanism == SPF_ALL)
            return;
        if (x->mechanism != y->mechanism)
            continue;
        unsigned xb = y->mechanism == SPF_IP4 ? x->cidr4 : x->cidr6;
        if (xb < yb && ip_prefix_equal(x->addr, y->addr, xb)) {
            add_finding(l, SPF_LINT_WARNING, "redundant", n, t->index, y->text,
                        "repeats what is already covered: inside the wider term %u (%s) "
                        "that follows", n->terms[k].index, x->text);
            return;
        }
    }
}

static void check_terms(spf_lint *l, const lint_node *n)
{
    const spf_record *r = n->rec;
    bool root_policy = n->via == NULL || strcmp(n->via, "redirect") == 0;
    for (size_t i = 0; i < n->nterms; i++) {
        const lint_term *t = &n->terms[i];
        const spf_term *term = t->term;
        char why[300];
        switch (term->mechanism) {
        case SPF_PTR:
            add_finding(l, SPF_LINT_WARNING, "ptr", n, t->index, term->text,
                        "ptr is deprecated (RFC 7208 section 5.5): slow, unreliable, and many "
                        "receivers ignore it; list the addresses with ip4/ip6 or a instead");
            break;
        case SPF_ALL:
            if (term->qualifier == '+')
                add_finding(l, SPF_LINT_ERROR, "pass-all", n, t->index, term->text,
                            "+all lets every host on the Internet send as %s",
                            n->domain ? n->domain : "this domain");
            else if (term->qualifier == '?' && root_policy)
                add_finding(l, SPF_LINT_WARNING, "neutral-all", n, t->index, term->text,
                            "?all as the policy says nothing about other hosts; use ~all "
                            "while testing, then -all");
            if (i + 1 < n->nterms)
                add_finding(l, SPF_LINT_WARNING, "unreachable", n, n->terms[i + 1].index,
                            n->terms[i + 1].term->text,
                            "after term %u (%s) no term is ever evaluated", t->index,
                            term->text);
            if (r->redirect != NULL)
                add_finding(l, SPF_LINT_WARNING, "redirect-ignored", n, n->redirect_index,
                            NULL, "redirect= is ignored when the record has 'all' "
                            "(RFC 7208 section 6.1)");
            break;
        default:
            break;
        }
        bool found = false;
        for (size_t j = 0; j < i && !found; j++) {
            bool today;
            const char *reason = covered_by(l, &n->terms[j], t, why, sizeof why, &today);
            if (reason != NULL) {
                /* What the text says is a warning; what today's DNS data
                 * says may change, so it is a note. */
                add_finding(l, today ? SPF_LINT_NOTE : SPF_LINT_WARNING, "redundant", n,
                            t->index, term->text, "repeats what is already covered: %s",
                            reason);
                found = true;
                break;
            }
            reason = ip_is_a_record(l, &n->terms[j], t, why, sizeof why);
            if (reason != NULL) {
                add_finding(l, SPF_LINT_NOTE, "redundant", n, t->index, term->text, "%s",
                            reason);
                found = true;
            }
        }
        if (!found)
            check_wider_later(l, n, i);
        if (n->terms[i].term->mechanism == SPF_ALL)
            break;
    }
}

static void check_lookups(spf_lint *l, const lint_node *n)
{
    for (size_t i = 0; i < n->nterms; i++) {
        const lint_term *t = &n->terms[i];
        const char *text = t->term->text;
        switch (t->term->mechanism) {
        case SPF_A: {
            const lint_query *a = query(l, t->q_a), *aaaa = query(l, t->q_aaaa);
            if (is_failed(a) || is_failed(aaaa))
                add_finding(l, SPF_LINT_WARNING, "dns", n, t->index, text,
                            "the address lookup for %s failed: receivers may get temperror",
                            t->target);
            else if (is_void(a) && is_void(aaaa)) {
                l->voids++;
                add_finding(l, SPF_LINT_WARNING, "void", n, t->index, text,
                            "%s has no A or AAAA record (a void lookup)", t->target);
            }
            break;
        }
        case SPF_EXISTS:
            if (is_void(query(l, t->q_a))) {
                l->voids++;
                add_finding(l, SPF_LINT_NOTE, "void", n, t->index, text,
                            "%s has no A record (a void lookup)", t->target);
            }
            break;
        case SPF_MX: {
            const lint_query *mx = query(l, t->q_mx);
            if (is_failed(mx))
                add_finding(l, SPF_LINT_WARNING, "dns", n, t->index, text,
                            "the MX lookup for %s failed: receivers may get temperror",
                            t->target);
            else if (is_void(mx)) {
                l->voids++;
                add_finding(l, SPF_LINT_WARNING, "void", n, t->index, text,
                            "%s has no MX record (a void lookup)", t->target);
            } else if (mx != NULL && mx->count > MX_LIMIT)
                add_finding(l, SPF_LINT_ERROR, "mx-limit", n, t->index, text,
                            "%s has %zu MX names, over the limit of %d (permerror)",
                            t->target, mx->count, MX_LIMIT);
            break;
        }
        case SPF_INCLUDE:
            if (t->child >= 0 && is_void(query(l, l->nodes[t->child].q_txt)))
                l->voids++;
            break;
        default:
            break;
        }
    }
    if (n->redirect_child >= 0 && is_void(query(l, l->nodes[n->redirect_child].q_txt)))
        l->voids++;
}

static void check_sizes(spf_lint *l, const lint_node *n)
{
    size_t len = strlen(n->text);
    if (len > UDP_SIZE)
        add_finding(l, SPF_LINT_WARNING, "record-size", n, 0, NULL,
                    "the record is %zu bytes, over %d: its answer needs TCP or EDNS0", len,
                    UDP_SIZE);
    const lint_query *q = query(l, n->q_txt);
    if (q != NULL && len <= UDP_SIZE) {
        size_t size = spf_txt_answer_size(q->name, q->lens, q->count);
        if (size > UDP_SIZE)
            add_finding(l, SPF_LINT_WARNING, "answer-size", n, 0, NULL,
                        "the TXT answer for %s is about %zu bytes with its %zu records, over "
                        "%d: receivers must retry over TCP", n->domain, size, q->count,
                        UDP_SIZE);
    }
    if (n->rec->exp != NULL) {
        const lint_query *e = query(l, n->q_exp);
        if (e == NULL)
            return;
        if (is_void(e))
            add_finding(l, SPF_LINT_WARNING, "exp", n, n->exp_index, NULL,
                        "exp=%s: %s has no TXT record, so no explanation is given", e->name,
                        e->name);
        else if (e->count > 1)
            add_finding(l, SPF_LINT_WARNING, "exp", n, n->exp_index, NULL,
                        "exp=%s: %s has %zu TXT records; there must be one or the "
                        "explanation is dropped", e->name, e->name, e->count);
    }
}

static void analyse(spf_lint *l)
{
    l->analysed = true;
    const lint_query *rr99 = query(l, l->nodes[0].q_spf_rr);
    if (rr99 != NULL && rr99->answered && rr99->status == DA_DNS_NOERROR && rr99->count > 0)
        add_finding(l, SPF_LINT_WARNING, "spf-rr-type", &l->nodes[0], 0, NULL,
                    "%s publishes DNS type SPF (99), which RFC 7208 section 3.1 retired: "
                    "receivers read only TXT; remove it", l->nodes[0].domain);
    for (size_t i = 0; i < l->nnodes; i++) {
        const lint_node *n = &l->nodes[i];
        if (n->rec == NULL)
            continue;
        check_terms(l, n);
        check_lookups(l, n);
        check_sizes(l, n);
        bool has_all = false;
        for (size_t k = 0; k < n->nterms; k++)
            has_all |= n->terms[k].term->mechanism == SPF_ALL;
        if (n->via == NULL && !has_all && n->rec->redirect == NULL)
            add_finding(l, SPF_LINT_NOTE, "no-all", n, 0, NULL,
                        "no 'all' and no redirect=: hosts not listed get neutral");
    }
    strbuf sb;
    strbuf_init(&sb);
    l->lookups = l->nodes[0].expanded ? subtree_lookups(l, 0, &sb) : 0;
    l->path = sb.data ? arena_strdup(&l->a, sb.data) : "";
    strbuf_free(&sb);
    const lint_node *root = &l->nodes[0];
    if (l->lookups > LOOKUP_LIMIT)
        add_finding(l, SPF_LINT_ERROR, "lookup-limit", root, 0, NULL,
                    "%u DNS lookups along the worst path, over the limit of %d (permerror): %s",
                    l->lookups, LOOKUP_LIMIT, l->path);
    else if (root->rec != NULL)
        add_finding(l, SPF_LINT_NOTE, "lookups", root, 0, NULL,
                    "%u of %d DNS lookups along the worst path: %s", l->lookups, LOOKUP_LIMIT,
                    l->path);
    if (l->voids > VOID_LIMIT)
        add_finding(l, SPF_LINT_ERROR, "void-limit", root, 0, NULL,
                    "%u void lookups along the worst path, over the limit of %d (permerror)",
                    l->voids, VOID_LIMIT);
    if (l->truncated)
        add_finding(l, SPF_LINT_NOTE, "truncated", root, 0, NULL,
                    "the tree is too large; only its first %d records were examined",
                    MAX_NODES);
}

/* ------------------------------------------------------------- results */

size_t spf_lint_count(const spf_lint *l)
{
    return l->nfindings;
}

const spf_lint_finding *spf_lint_get(const spf_lint *l, size_t index)
{
    return index < l->nfindings ? &l->findings[index] : NULL;
}

size_t spf_lint_count_severity(const spf_lint *l, spf_lint_severity severity)
{
    size_t n = 0;
    for (size_t i = 0; i < l->nfindings; i++)
        n += l->findings[i].severity == severity;
    return n;
}

unsigned spf_lint_lookups(const spf_lint *l)
{
    return l->lookups;
}

const char *spf_lint_lookup_path(const spf_lint *l)
{
    return l->path ? l->path : "";
}

const char *spf_lint_record(const spf_lint *l)
{
    return l->nodes[0].text;
}

unsigned spf_lint_void_lookups(const spf_lint *l)
{
    return l->voids;
}

int spf_lint_exit_status(const spf_lint *l)
{
    if (spf_lint_count_severity(l, SPF_LINT_ERROR) > 0)
        return 2;
    return spf_lint_count_severity(l, SPF_LINT_WARNING) > 0 ? 1 : 0;
}
