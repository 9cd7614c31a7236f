/* eval.c: check_host() of RFC 7208 as a sans-I/O evaluation.
 *
 * The evaluation never waits for DNS. Each step replays check_host() from
 * the start over the answers it has been fed so far (a memo keyed by name
 * and type). When the replay reaches a question with no answer yet it
 * records the question and stops; the step hands every such question to the
 * caller at once. Because every replay is an ordinary sequential
 * evaluation, the lookup and void-lookup counters are exact by construction,
 * while independent questions (every MX host's address, the targets of
 * includes) still go out together. Parsed records live in the memo, so a
 * replay costs little more than walking the terms again. */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiled.h"
#include "dns/resolver.h"
#include "domauth.h"
#include "macro.h"
#include "record.h"
#include "record_cache.h"
#include "spf_internal.h"
#include "util/arena.h"
#include "util/ip.h"
#include "util/strbuf.h"

enum {
    SPF_BLOCKED = -1,     /* a needed answer has not arrived */
    MAX_MEMO_ENTRIES = 2000, /* far above what the limits allow; a safety net */
    MAX_DEPTH = 32,
};

typedef enum select_state {
    SELECT_UNKNOWN,
    SELECT_NONE,      /* no v=spf1 record */
    SELECT_MANY,      /* more than one: permerror */
    SELECT_INVALID,   /* one record with a syntax error: permerror */
    SELECT_OK,
} select_state;

typedef struct memo_entry {
    char *name;
    da_dns_type type;
    bool answered;
    bool listed; /* handed to the caller in some step */
    da_dns_answer answer;
    /* For TXT answers used as SPF records: the selection, parsed once. */
    select_state selection;
    const spf_record *record;
    const char *record_text;
    const char *record_problem;
    spf_cached_record *shared; /* reference into the shared record cache */
} memo_entry;

struct da_spf_eval {
    arena memory;  /* request copies, answers, parsed records, results */
    arena scratch; /* one replay's expanded names and trace text */

    ip_addr ip;
    char ip_text[IP_TEXT_MAX];
    char *sender, *local_part, *sender_domain, *helo, *receiver, *domain;
    const char *identity;
    da_spf_scope scope; /* SPF, or a Sender ID scope (RFC 4406) */
    int64_t now;
    unsigned max_dns_terms, max_void, max_mx, max_ptr;
    bool tracing;

    memo_entry **memo;
    size_t memo_count, memo_capacity;
    da_dns_question *questions;
    size_t question_capacity;

    bool done;
    da_spf_result result;
    const char *mechanism, *explanation, *problem;
    unsigned dns_terms, void_lookups, queries_used;

    da_spf_trace_event *trace;
    size_t trace_count, trace_capacity;

    da_spf_record_cache *records; /* shared parsed records, or NULL */
    da_resolver *peek;            /* spf_eval_peek_at: cached answers to take, or NULL */
    bool walk_only;               /* da_spf_request.walk_only */
    bool compiled_tried;          /* the first step looked for a compiled policy */
    char exp_inline[256];         /* a compiled answer's explanation, when it fits */
    spf_policy *policy;           /* the policy that answered: results point into it */

    /* Asynchronous driving (da_spf_eval_start). */
    da_resolver *resolver;
    da_spf_done_fn on_done;
    void *on_done_arg;
    unsigned outstanding;  /* submitted, not yet called back */
    bool stepping;         /* inside async_advance */
    bool progressed;       /* an answer arrived while stepping */
    bool notified;         /* on_done has been called */
    bool free_requested;   /* freed by the owner while questions were out */
};

/* State of one replay. Strings it makes live in the scratch arena until the
 * final replay, whose results are copied into memory. */
typedef struct pass {
    da_spf_eval *ev;
    unsigned dns_terms, void_lookups, queries_used;
    bool blocked;
    bool out_of_memory;
    const char *problem;
    const char *mechanism;
    const char *explanation;
} pass;

const char *da_spf_scope_name(da_spf_scope scope)
{
    switch (scope) {
    case DA_SPF_SCOPE_SPF: return "spf";
    case DA_SPF_SCOPE_MFROM: return "mfrom";
    case DA_SPF_SCOPE_PRA: return "pra";
    }
    return "?";
}

int da_spf_scope_parse(const char *word, da_spf_scope *out)
{
    static const da_spf_scope all[] = {DA_SPF_SCOPE_SPF, DA_SPF_SCOPE_MFROM, DA_SPF_SCOPE_PRA};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (word != NULL && strcmp(word, da_spf_scope_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

/* ------------------------------------------------------------- tracing */

static void trace(pass *ps, da_spf_trace_kind kind, unsigned depth, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void trace(pass *ps, da_spf_trace_kind kind, unsigned depth, const char *fmt, ...)
{
    da_spf_eval *ev = ps->ev;
    if (!ev->tracing)
        return;
    if (ev->trace_count == ev->trace_capacity) {
        size_t cap = ev->trace_capacity ? ev->trace_capacity * 2 : 32;
        da_spf_trace_event *t = realloc(ev->trace, cap * sizeof *t);
        if (t == NULL)
            return;
        ev->trace = t;
        ev->trace_capacity = cap;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    spf_text_printable(buf); /* trace text may quote DNS data */
    const char *text = arena_strdup(&ev->scratch, buf);
    if (text == NULL)
        return;
    ev->trace[ev->trace_count++] = (da_spf_trace_event){kind, depth, text};
}

/* ----------------------------------------------------------------- memo */

/* The memo's key: dns_name_normalize, and never empty. */
static int normalize_name(const char *name, char out[256])
{
    return dns_name_normalize(name, out, 256) == 0 && out[0] != '\0' ? 0 : -1;
}

static memo_entry *memo_find(const da_spf_eval *ev, const char *norm, da_dns_type type)
{
    for (size_t i = 0; i < ev->memo_count; i++) {
        memo_entry *e = ev->memo[i];
        if (e->type == type && strcmp(e->name, norm) == 0)
            return e;
    }
    return NULL;
}

static memo_entry *memo_get(da_spf_eval *ev, const char *norm, da_dns_type type)
{
    memo_entry *e = memo_find(ev, norm, type);
    if (e != NULL || ev->memo_count >= MAX_MEMO_ENTRIES)
        return e;
    if (ev->memo_count == ev->memo_capacity) {
        size_t cap = ev->memo_capacity ? ev->memo_capacity * 2 : 16;
        memo_entry **m = realloc(ev->memo, cap * sizeof *m);
        if (m == NULL)
            return NULL;
        ev->memo = m;
        ev->memo_capacity = cap;
    }
    e = arena_alloc(&ev->memory, sizeof *e);
    if (e == NULL || (e->name = arena_strdup(&ev->memory, norm)) == NULL)
        return NULL;
    e->type = type;
    ev->memo[ev->memo_count++] = e;
    return e;
}

static const da_dns_answer servfail_answer = {.status = DA_DNS_SERVFAIL};

/* Copies what SPF uses of an answer into the evaluation's memory. */
static void memo_store(da_spf_eval *ev, memo_entry *e, const da_dns_answer *a)
{
    arena *m = &ev->memory;
    e->answer.status = a->status;
    e->answer.ttl = a->ttl;
    e->answered = true;
    /* At most what one DNS message could hold. */
    size_t count = a->count > 4096 ? 4096 : a->count;
    da_dns_rr *rrs = count ? arena_alloc(m, count * sizeof *rrs) : NULL;
    if (count && rrs == NULL) {
        e->answer = servfail_answer;
        return;
    }
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        const da_dns_rr *src = &a->records[i];
        if (src->type != e->type)
            continue;
        da_dns_rr *dst = &rrs[kept];
        *dst = *src;
        dst->name = src->name ? arena_strdup(m, src->name) : NULL;
        dst->text = src->text ? arena_strndup(m, src->text, src->text_len) : NULL;
        if ((src->name && !dst->name) || (src->text && !dst->text))
            continue;
        kept++;
    }
    e->answer.count = kept;
    e->answer.records = rrs;
}


static void trace_answer(pass *ps, unsigned depth, const char *name, da_dns_type type,
                         const da_dns_answer *a)
{
    if (!ps->ev->tracing)
        return;
    char detail[600] = "";
    size_t used = 0;
    for (size_t i = 0; i < a->count && used < sizeof detail - 80; i++) {
        const da_dns_rr *rr = &a->records[i];
        char one[IP_TEXT_MAX + 300];
        if (type == DA_DNS_A || type == DA_DNS_AAAA) {
            ip_addr ip = {.family = type == DA_DNS_A ? 4 : 6};
            memcpy(ip.bytes, rr->addr, 16);
            ip_format(&ip, one);
        } else if (type == DA_DNS_MX) {
            snprintf(one, sizeof one, "%u %s", rr->preference, rr->name ? rr->name : "");
        } else if (rr->text != NULL) {
            snprintf(one, sizeof one, "\"%.*s\"", (int)(rr->text_len > 250 ? 250 : rr->text_len),
                     rr->text);
        } else {
            snprintf(one, sizeof one, "%s", rr->name ? rr->name : "");
        }
        used += (size_t)snprintf(detail + used, sizeof detail - used, "%s%s", i ? ", " : " ", one);
    }
    trace(ps, DA_SPF_TRACE_QUERY, depth, "%s %s -> %s%s", da_dns_type_name(type), name,
          da_dns_status_name(a->status), a->count ? detail : " (no records)");
}

/* Returns the answer to (name, type), or NULL after noting the question.
 * A prefetch asks without blocking the replay. The answer is either
 * servfail_answer (the question could not be asked) or the answer inside
 * its memo entry, which entry_of recovers. */
static const da_dns_answer *need(pass *ps, unsigned depth, const char *name, da_dns_type type,
                                 bool prefetch)
{
    char norm[256];
    if (normalize_name(name, norm) != 0)
        return &servfail_answer;
    memo_entry *e = memo_get(ps->ev, norm, type);
    if (e == NULL) {
        ps->out_of_memory = true;
        return &servfail_answer;
    }
    da_resolver *cache = ps->ev->resolver != NULL ? ps->ev->resolver : ps->ev->peek;
    if (!e->answered && cache != NULL) {
        /* A cache can answer during the replay itself, saving a step. */
        const da_dns_answer *held = resolver_peek(cache, &(da_dns_question){e->name, e->type});
        if (held != NULL)
            memo_store(ps->ev, e, held);
    }
    if (e->answered) {
        if (!prefetch) {
            ps->queries_used++;
            trace_answer(ps, depth, norm, type, &e->answer);
        }
        return &e->answer;
    }
    if (!prefetch)
        ps->blocked = true;
    return NULL;
}

/* ---------------------------------------------------- names and limits */

/* A name we may put in a query: labels of 1..63 octets, at most 253 in all. */
bool spf_name_is_queryable(const char *name)
{
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (++label > 63) {
            return false;
        }
    }
    return label > 0;
}

static bool name_is_queryable(const char *name)
{
    return spf_name_is_queryable(name);
}

/* Section 4.3: a <domain> that is malformed or not multi-label gives "none". */
bool spf_domain_is_checkable(const char *domain)
{
    return domain[0] != '[' && name_is_queryable(domain) && strchr(domain, '.') != NULL &&
           strchr(domain, '.') != domain + strlen(domain) - 1;
}

static bool is_same_or_subdomain(const char *name, const char *domain)
{
    size_t n = strlen(name), d = strlen(domain);
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (d > 0 && domain[d - 1] == '.')
        d--;
    if (n < d || strncasecmp(name + n - d, domain, d) != 0)
        return false;
    return n == d || name[n - d - 1] == '.';
}

static da_spf_result fail_with(pass *ps, da_spf_result result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static da_spf_result fail_with(pass *ps, da_spf_result result, const char *fmt, ...)
{
    if (ps->problem == NULL) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        spf_text_printable(buf);
        ps->problem = arena_strdup(&ps->ev->scratch, buf);
    }
    return result;
}

static int count_dns_term(pass *ps, unsigned depth)
{
    ps->dns_terms++;
    trace(ps, DA_SPF_TRACE_LIMIT, depth, "DNS-querying terms: %u of %u", ps->dns_terms,
          ps->ev->max_dns_terms);
    if (ps->dns_terms > ps->ev->max_dns_terms)
        return fail_with(ps, DA_SPF_PERMERROR, "more than %u DNS-querying terms",
                         ps->ev->max_dns_terms);
    return 0;
}

static int count_void(pass *ps, unsigned depth)
{
    ps->void_lookups++;
    trace(ps, DA_SPF_TRACE_LIMIT, depth, "void lookups: %u of %u", ps->void_lookups,
          ps->ev->max_void);
    if (ps->void_lookups > ps->ev->max_void)
        return fail_with(ps, DA_SPF_PERMERROR, "more than %u void DNS lookups",
                         ps->ev->max_void);
    return 0;
}

static bool is_void(const da_dns_answer *a)
{
    return a->status == DA_DNS_NXDOMAIN || (a->status == DA_DNS_NOERROR && a->count == 0);
}

static bool is_dns_error(const da_dns_answer *a)
{
    return a->status == DA_DNS_SERVFAIL || a->status == DA_DNS_TIMEOUT;
}

static da_dns_type address_type(const da_spf_eval *ev)
{
    return ev->ip.family == 4 ? DA_DNS_A : DA_DNS_AAAA;
}

static bool address_in(const da_spf_eval *ev, const da_dns_answer *a, unsigned cidr4,
                       unsigned cidr6)
{
    for (size_t i = 0; i < a->count; i++) {
        const da_dns_rr *rr = &a->records[i];
        if (ev->ip.family == 4 && rr->type == DA_DNS_A &&
            ip_prefix_equal(rr->addr, ev->ip.bytes, cidr4))
            return true;
        if (ev->ip.family == 6 && rr->type == DA_DNS_AAAA &&
            ip_prefix_equal(rr->addr, ev->ip.bytes, cidr6))
            return true;
    }
    return false;
}

/* ------------------------------------------------------------- macros */

/* Finds the validated name of the client for %{p} (section 7.3). Returns
 * 0 with *out set (NULL: "unknown"), or SPF_BLOCKED. */
static int validated_ptr_name(pass *ps, unsigned depth, const char *domain, const char **out)
{
    da_spf_eval *ev = ps->ev;
    char reverse[80];
    ip_reverse_name(&ev->ip, reverse);
    *out = NULL;
    const da_dns_answer *ptr = need(ps, depth, reverse, DA_DNS_PTR, false);
    if (ptr == NULL)
        return SPF_BLOCKED;
    if (ptr->status != DA_DNS_NOERROR)
        return 0;
    size_t n = ptr->count < ev->max_ptr ? ptr->count : ev->max_ptr;
    bool waiting = false;
    const char *exact = NULL, *sub = NULL, *any = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = ptr->records[i].name;
        if (name == NULL || !name_is_queryable(name))
            continue;
        const da_dns_answer *a = need(ps, depth, name, address_type(ev), false);
        if (a == NULL) {
            waiting = true;
            continue;
        }
        if (!address_in(ev, a, 32, 128))
            continue;
        if (strcasecmp(name, domain) == 0 && exact == NULL)
            exact = name;
        else if (is_same_or_subdomain(name, domain) && sub == NULL)
            sub = name;
        else if (any == NULL)
            any = name;
    }
    if (waiting)
        return SPF_BLOCKED;
    *out = exact ? exact : sub ? sub : any;
    return 0;
}

static void macro_context(const da_spf_eval *ev, const char *domain, const char *ptr_name,
                          spf_macro_context *ctx)
{
    *ctx = (spf_macro_context){
        .sender = ev->sender,
        .local_part = ev->local_part,
        .sender_domain = ev->sender_domain,
        .domain = domain,
        .ip = &ev->ip,
        .helo = ev->helo,
        .receiver = ev->receiver,
        .ptr_name = ptr_name,
        .now = ev->now,
    };
}

/* Expands a domain-spec for the current domain. Returns 0 with *out, a
 * result (permerror) on failure, or SPF_BLOCKED. */
static int expand_target(pass *ps, unsigned depth, const char *spec, const char *domain,
                         const char **out)
{
    if (spec == NULL) {
        *out = domain;
        return 0;
    }
    const char *ptr_name = NULL;
    if (spf_macro_uses_ptr(spec, strlen(spec))) {
        int rc = validated_ptr_name(ps, depth, domain, &ptr_name);
        if (rc != 0)
            return rc;
    }
    spf_macro_context ctx;
    macro_context(ps->ev, domain, ptr_name, &ctx);
    char err[256];
    char *expanded;
    if (spf_macro_expand(&ps->ev->scratch, spec, strlen(spec), SPF_MACRO_DOMAIN, &ctx, &expanded,
                         err, sizeof err) != 0)
        return fail_with(ps, DA_SPF_PERMERROR, "cannot expand '%s': %s", spec, err);
    size_t len = strlen(expanded);
    if (len > 0 && expanded[len - 1] == '.')
        expanded[len - 1] = '\0';
    *out = expanded;
    return 0;
}

/* ------------------------------------------------------------ records */

/* Sender ID's record selection (RFC 4406 4.4, with the compatibility rule
 * of 3.4): among the spf2.0 records, those covering the scope; v=spf1
 * records stand for "spf2.0/mfrom,pra" only when there is no spf2.0 record
 * at all, so a domain that publishes spf2.0/mfrom alone has no record for
 * pra even beside a v=spf1 one. Sets *found and returns the number of
 * records that qualify. */
static size_t select_senderid(const da_spf_eval *ev, const da_dns_answer *a,
                              const da_dns_rr **found)
{
    unsigned want = ev->scope == DA_SPF_SCOPE_PRA ? SPF_SCOPE_BIT_PRA : SPF_SCOPE_BIT_MFROM;
    const da_dns_rr *v1 = NULL, *v2 = NULL;
    size_t v1_count = 0, v2_count = 0, v2_any = 0;
    for (size_t i = 0; i < a->count; i++) {
        const da_dns_rr *rr = &a->records[i];
        unsigned scopes;
        size_t version_len;
        if (rr->text == NULL)
            continue;
        if (spf_record_is_spf(rr->text, rr->text_len)) {
            v1_count++;
            v1 = rr;
        } else if (spf_record_is_senderid(rr->text, rr->text_len, &scopes, &version_len)) {
            v2_any++;
            if (scopes & want) {
                v2_count++;
                v2 = rr;
            }
        }
    }
    *found = v2_any > 0 ? v2 : v1;
    return v2_any > 0 ? v2_count : v1_count;
}

static void select_record(da_spf_eval *ev, memo_entry *e)
{
    const da_dns_answer *a = &e->answer;
    const da_dns_rr *found = NULL;
    size_t matches = 0;
    if (ev->scope != DA_SPF_SCOPE_SPF) {
        matches = select_senderid(ev, a, &found);
    } else {
        for (size_t i = 0; i < a->count; i++) {
            const da_dns_rr *rr = &a->records[i];
            if (rr->text != NULL && spf_record_is_spf(rr->text, rr->text_len)) {
                matches++;
                found = rr;
            }
        }
    }
    if (matches == 0) {
        e->selection = SELECT_NONE;
        return;
    }
    if (matches > 1) {
        e->selection = SELECT_MANY;
        return;
    }
    e->record_text = found->text;
    if (ev->records != NULL) {
        e->shared = spf_record_cache_get(ev->records, found->text, found->text_len, &e->record,
                                         &e->record_problem);
        if (e->shared != NULL) {
            e->selection = e->record != NULL ? SELECT_OK : SELECT_INVALID;
            return;
        }
    }
    char err[512];
    spf_record *parsed = NULL;
    if (spf_record_parse_any(&ev->memory, found->text, found->text_len, &parsed, err,
                             sizeof err) != 0) {
        e->selection = SELECT_INVALID;
        e->record_problem = arena_strdup(&ev->memory, err);
        if (e->record_problem == NULL)
            e->record_problem = "out of memory";
        return;
    }
    e->record = parsed;
    e->selection = SELECT_OK;
}

/* The memo entry holding an answer need() returned; NULL for the shared
 * servfail_answer. */
static memo_entry *entry_of(const da_dns_answer *a)
{
    if (a == &servfail_answer)
        return NULL;
    return (memo_entry *)(void *)((const char *)a - offsetof(memo_entry, answer));
}

static memo_entry *answered_entry(da_spf_eval *ev, const char *name, da_dns_type type)
{
    char norm[256];
    if (normalize_name(name, norm) != 0)
        return NULL;
    return memo_find(ev, norm, type);
}

/* Asks early for what the record will probably need next, so that its
 * lookups (and chains of includes) resolve in parallel rather than one
 * after another: include and redirect targets' records, and the addresses
 * or MX sets of a, mx and exists terms whose targets hold no macro. Only
 * terms within the DNS-term limit are prefetched; prefetches are never
 * counted and their answers are used only if the sequential walk asks. */
static void prefetch_targets(pass *ps, unsigned depth, const spf_record *rec,
                             const char *domain)
{
    unsigned budget = ps->ev->max_dns_terms;
    for (size_t i = 0; i < rec->count && budget > 0; i++) {
        const spf_term *t = &rec->terms[i];
        if (!spf_mechanism_queries_dns(t->mechanism))
            continue;
        budget--;
        const char *target = t->domain_spec ? t->domain_spec : domain;
        if (strchr(target, '%') != NULL || !name_is_queryable(target))
            continue;
        switch (t->mechanism) {
        case SPF_INCLUDE: need(ps, depth, target, DA_DNS_TXT, true); break;
        case SPF_A: need(ps, depth, target, address_type(ps->ev), true); break;
        case SPF_MX: need(ps, depth, target, DA_DNS_MX, true); break;
        case SPF_EXISTS: need(ps, depth, target, DA_DNS_A, true); break;
        default: break;
        }
    }
    if (rec->redirect != NULL && strchr(rec->redirect, '%') == NULL &&
        name_is_queryable(rec->redirect))
        need(ps, depth, rec->redirect, DA_DNS_TXT, true);
}

static int check_host(pass *ps, const char *domain, unsigned depth, bool in_include);

typedef enum term_outcome {
    TERM_NO_MATCH = 100,
    TERM_MATCH,
} term_outcome;

/* Returns TERM_MATCH, TERM_NO_MATCH, a da_spf_result that ends the
 * evaluation (temperror/permerror), or SPF_BLOCKED. */
static int evaluate_term(pass *ps, const spf_term *t, const char *domain, unsigned depth)
{
    da_spf_eval *ev = ps->ev;
    switch (t->mechanism) {
    case SPF_ALL:
        return TERM_MATCH;
    case SPF_IP4:
        return ev->ip.family == 4 && ip_prefix_equal(t->addr, ev->ip.bytes, t->cidr4)
                   ? TERM_MATCH
                   : TERM_NO_MATCH;
    case SPF_IP6:
        return ev->ip.family == 6 && ip_prefix_equal(t->addr, ev->ip.bytes, t->cidr6)
                   ? TERM_MATCH
                   : TERM_NO_MATCH;
    default:
        break;
    }

    const char *target;
    int rc = expand_target(ps, depth, t->domain_spec, domain, &target);
    if (rc != 0)
        return rc;

    if (t->mechanism == SPF_INCLUDE) {
        int r = check_host(ps, target, depth + 1, true);
        switch (r) {
        case SPF_BLOCKED: return SPF_BLOCKED;
        case DA_SPF_PASS: return TERM_MATCH;
        case DA_SPF_FAIL:
        case DA_SPF_SOFTFAIL:
        case DA_SPF_NEUTRAL: return TERM_NO_MATCH;
        case DA_SPF_TEMPERROR: return DA_SPF_TEMPERROR;
        case DA_SPF_NONE:
            return fail_with(ps, DA_SPF_PERMERROR, "include:%s has no SPF record", target);
        default: return DA_SPF_PERMERROR;
        }
    }

    /* An expansion that is no usable name behaves as a name that does not
     * exist: nothing to match, one void lookup. */
    if (!name_is_queryable(target)) {
        trace(ps, DA_SPF_TRACE_NOTE, depth, "'%s' is not a valid domain name: treated as NXDOMAIN",
              target);
        if (t->mechanism == SPF_PTR)
            return TERM_NO_MATCH;
        rc = count_void(ps, depth);
        return rc != 0 ? rc : TERM_NO_MATCH;
    }

    if (t->mechanism == SPF_A || t->mechanism == SPF_EXISTS) {
        da_dns_type type = t->mechanism == SPF_EXISTS ? DA_DNS_A : address_type(ev);
        const da_dns_answer *a = need(ps, depth, target, type, false);
        if (a == NULL)
            return SPF_BLOCKED;
        if (is_dns_error(a))
            return fail_with(ps, DA_SPF_TEMPERROR, "DNS %s looking up %s %s",
                             da_dns_status_name(a->status), da_dns_type_name(type), target);
        if (is_void(a)) {
            rc = count_void(ps, depth);
            return rc != 0 ? rc : TERM_NO_MATCH;
        }
        if (t->mechanism == SPF_EXISTS)
            return TERM_MATCH;
        return address_in(ev, a, t->cidr4, t->cidr6) ? TERM_MATCH : TERM_NO_MATCH;
    }

    if (t->mechanism == SPF_MX) {
        const da_dns_answer *mx = need(ps, depth, target, DA_DNS_MX, false);
        if (mx == NULL)
            return SPF_BLOCKED;
        if (is_dns_error(mx))
            return fail_with(ps, DA_SPF_TEMPERROR, "DNS %s looking up MX %s",
                             da_dns_status_name(mx->status), target);
        if (is_void(mx)) {
            rc = count_void(ps, depth);
            return rc != 0 ? rc : TERM_NO_MATCH;
        }
        if (mx->count > ev->max_mx)
            return fail_with(ps, DA_SPF_PERMERROR, "%s has %zu MX names, more than %u", target,
                             mx->count, ev->max_mx);
        /* Hosts in preference order; ask for every address at once, decide in
         * order, so the result is the one a sequential walk would give. */
        size_t order[64];
        size_t n = mx->count < 64 ? mx->count : 64;
        for (size_t i = 0; i < n; i++) {
            size_t j = i;
            while (j > 0 && mx->records[order[j - 1]].preference > mx->records[i].preference) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
        bool waiting = false;
        for (size_t k = 0; k < n; k++) {
            const char *host = mx->records[order[k]].name;
            if (host == NULL || !name_is_queryable(host))
                continue; /* null MX (RFC 7505) or junk */
            const da_dns_answer *a = need(ps, depth, host, address_type(ev), false);
            if (a == NULL || waiting) {
                waiting = true;
                continue;
            }
            if (is_dns_error(a))
                return fail_with(ps, DA_SPF_TEMPERROR, "DNS %s looking up %s %s",
                                 da_dns_status_name(a->status),
                                 da_dns_type_name(address_type(ev)), host);
            if (address_in(ev, a, t->cidr4, t->cidr6))
                return TERM_MATCH;
        }
        return waiting ? SPF_BLOCKED : TERM_NO_MATCH;
    }

    /* ptr (section 5.5): validate the client's names under the target. */
    char reverse[80];
    ip_reverse_name(&ev->ip, reverse);
    const da_dns_answer *ptr = need(ps, depth, reverse, DA_DNS_PTR, false);
    if (ptr == NULL)
        return SPF_BLOCKED;
    if (is_dns_error(ptr))
        return TERM_NO_MATCH;
    if (is_void(ptr)) {
        rc = count_void(ps, depth);
        return rc != 0 ? rc : TERM_NO_MATCH;
    }
    size_t n = ptr->count < ev->max_ptr ? ptr->count : ev->max_ptr;
    bool waiting = false;
    for (size_t i = 0; i < n; i++) {
        const char *name = ptr->records[i].name;
        if (name == NULL || !name_is_queryable(name) || !is_same_or_subdomain(name, target))
            continue;
        const da_dns_answer *a = need(ps, depth, name, address_type(ev), false);
        if (a == NULL || waiting) {
            waiting = true;
            continue;
        }
        if (address_in(ev, a, 32, 128))
            return TERM_MATCH;
    }
    return waiting ? SPF_BLOCKED : TERM_NO_MATCH;
}

da_spf_result spf_qualifier_result(char q)
{
    switch (q) {
    case '-': return DA_SPF_FAIL;
    case '~': return DA_SPF_SOFTFAIL;
    case '?': return DA_SPF_NEUTRAL;
    default: return DA_SPF_PASS;
    }
}

const char spf_default_explanation[] = "%{d} does not designate %{c} as a permitted sender";

/* Section 6.2: the explanation for a fail. Problems with exp= never change
 * the result; they only fall back to the default text. */
static int compute_explanation(pass *ps, const spf_record *rec, const char *domain,
                               unsigned depth)
{
    da_spf_eval *ev = ps->ev;
    const char *text = spf_default_explanation;
    size_t text_len = sizeof spf_default_explanation - 1;
    if (rec->exp != NULL) {
        const char *target = NULL;
        int rc = expand_target(ps, depth, rec->exp, domain, &target);
        if (rc == SPF_BLOCKED)
            return SPF_BLOCKED;
        ps->problem = NULL; /* an expansion problem here is not the result's */
        if (rc == 0 && name_is_queryable(target)) {
            const da_dns_answer *a = need(ps, depth, target, DA_DNS_TXT, false);
            if (a == NULL)
                return SPF_BLOCKED;
            if (a->status == DA_DNS_NOERROR && a->count == 1 && a->records[0].text != NULL &&
                spf_macro_check(a->records[0].text, a->records[0].text_len,
                                SPF_MACRO_EXPLANATION, (char[8]){0}, 8) == 0) {
                text = a->records[0].text;
                text_len = a->records[0].text_len;
            } else {
                trace(ps, DA_SPF_TRACE_NOTE, depth, "exp=%s unusable: default explanation", target);
            }
        }
    }
    const char *ptr_name = NULL;
    if (spf_macro_uses_ptr(text, text_len)) {
        int rc = validated_ptr_name(ps, depth, domain, &ptr_name);
        if (rc != 0)
            return rc;
    }
    spf_macro_context ctx;
    macro_context(ev, domain, ptr_name, &ctx);
    char err[256];
    char *expanded;
    if (spf_macro_expand(&ev->scratch, text, text_len, SPF_MACRO_EXPLANATION, &ctx, &expanded,
                         err, sizeof err) == 0)
        ps->explanation = expanded;
    return 0;
}

/* check_host(<ip>, <domain>, <sender>) of section 4. Returns a result or
 * SPF_BLOCKED. */
static int check_host(pass *ps, const char *domain, unsigned depth, bool in_include)
{
    da_spf_eval *ev = ps->ev;
    if (depth > MAX_DEPTH)
        return fail_with(ps, DA_SPF_PERMERROR, "includes nested more than %d deep", MAX_DEPTH);
    if (!spf_domain_is_checkable(domain)) {
        trace(ps, DA_SPF_TRACE_RESULT, depth, "check_host(%s) = none: not a usable domain name",
              domain);
        return DA_SPF_NONE;
    }
    const da_dns_answer *a = need(ps, depth, domain, DA_DNS_TXT, false);
    if (a == NULL)
        return SPF_BLOCKED;
    if (is_dns_error(a))
        return fail_with(ps, DA_SPF_TEMPERROR, "DNS %s looking up TXT %s",
                         da_dns_status_name(a->status), domain);
    if (ev->scope == DA_SPF_SCOPE_PRA && depth == 0 && a->status == DA_DNS_NXDOMAIN) {
        /* Sender ID: a PRA whose domain does not exist cannot be a
         * responsible address, so it fails rather than saying nothing. */
        trace(ps, DA_SPF_TRACE_RESULT, depth, "check_host(%s) = fail: the PRA domain does not "
              "exist (Sender ID)", domain);
        ps->explanation = arena_strdup(&ev->scratch, "the domain of the purported responsible "
                                       "address does not exist");
        return DA_SPF_FAIL;
    }
    memo_entry *e = entry_of(a); /* not servfail_answer: errors returned above */
    if (e->selection == SELECT_UNKNOWN)
        select_record(ev, e);
    switch (e->selection) {
    case SELECT_NONE:
        if (ev->scope == DA_SPF_SCOPE_SPF)
            trace(ps, DA_SPF_TRACE_RESULT, depth, "check_host(%s) = none: no SPF record", domain);
        else
            trace(ps, DA_SPF_TRACE_RESULT, depth, "check_host(%s) = none: no record for scope %s",
                  domain, da_spf_scope_name(ev->scope));
        return DA_SPF_NONE;
    case SELECT_MANY:
        if (ev->scope != DA_SPF_SCOPE_SPF)
            return fail_with(ps, DA_SPF_PERMERROR, "%s has more than one record for scope %s",
                             domain, da_spf_scope_name(ev->scope));
        return fail_with(ps, DA_SPF_PERMERROR, "%s has more than one SPF record", domain);
    case SELECT_INVALID:
        trace(ps, DA_SPF_TRACE_RECORD, depth, "%s: \"%s\"", domain, e->record_text);
        return fail_with(ps, DA_SPF_PERMERROR, "%s: %s", domain, e->record_problem);
    default:
        break;
    }
    const spf_record *rec = e->record;
    trace(ps, DA_SPF_TRACE_RECORD, depth, "%s: \"%s\"", domain, e->record_text);
    prefetch_targets(ps, depth, rec, domain);

    for (size_t i = 0; i < rec->count; i++) {
        const spf_term *t = &rec->terms[i];
        if (spf_mechanism_queries_dns(t->mechanism)) {
            int rc = count_dns_term(ps, depth);
            if (rc != 0)
                return rc;
        }
        int outcome = evaluate_term(ps, t, domain, depth);
        if (outcome == SPF_BLOCKED)
            return SPF_BLOCKED;
        if (outcome == TERM_NO_MATCH) {
            trace(ps, DA_SPF_TRACE_TERM, depth, "%s: no match", t->text);
            continue;
        }
        if (outcome != TERM_MATCH) {
            trace(ps, DA_SPF_TRACE_TERM, depth, "%s: %s", t->text,
                  da_spf_result_name((da_spf_result)outcome));
            return outcome;
        }
        da_spf_result r = spf_qualifier_result(t->qualifier);
        trace(ps, DA_SPF_TRACE_TERM, depth, "%s: match -> %s", t->text, da_spf_result_name(r));
        ps->mechanism = t->text;
        if (r == DA_SPF_FAIL && !in_include) {
            int rc = compute_explanation(ps, rec, domain, depth);
            if (rc == SPF_BLOCKED)
                return SPF_BLOCKED;
        }
        trace(ps, DA_SPF_TRACE_RESULT, depth, "check_host(%s) = %s", domain,
              da_spf_result_name(r));
        return r;
    }

    if (rec->redirect != NULL) {
        int rc = count_dns_term(ps, depth);
        if (rc != 0)
            return rc;
        const char *target;
        rc = expand_target(ps, depth, rec->redirect, domain, &target);
        if (rc != 0)
            return rc;
        trace(ps, DA_SPF_TRACE_TERM, depth, "redirect=%s", target);
        int r = check_host(ps, target, depth + 1, in_include);
        if (r == DA_SPF_NONE)
            return fail_with(ps, DA_SPF_PERMERROR, "redirect=%s has no SPF record", target);
        return r;
    }
    trace(ps, DA_SPF_TRACE_RESULT, depth, "check_host(%s) = neutral: no term matched", domain);
    return DA_SPF_NEUTRAL;
}

/* ------------------------------------------------------------- the API */

static unsigned or_default(unsigned value, unsigned fallback)
{
    return value ? value : fallback;
}

/* Copies len bytes of s to *at as a string and moves *at past it. */
static char *put_string(char **at, const char *s, size_t len)
{
    char *out = *at;
    memcpy(out, s, len);
    out[len] = '\0';
    *at += len + 1;
    return out;
}

da_spf_eval *da_spf_eval_new(const da_spf_request *req, char *err, size_t err_size)
{
    if (req->client_ip == NULL || !*req->client_ip) {
        snprintf(err, err_size, "no client IP address given");
        return NULL;
    }
    ip_addr ip;
    if (!ip_parse(req->client_ip, strlen(req->client_ip), &ip)) {
        snprintf(err, err_size, "'%.64s' is not an IPv4 or IPv6 address", req->client_ip);
        return NULL;
    }
    ip_unmap(&ip);
    da_spf_scope scope = req->scope;
    if (scope != DA_SPF_SCOPE_SPF && scope != DA_SPF_SCOPE_MFROM && scope != DA_SPF_SCOPE_PRA) {
        snprintf(err, err_size, "unknown scope %d", (int)req->scope);
        return NULL;
    }
    if (scope == DA_SPF_SCOPE_PRA && (req->pra == NULL || strchr(req->pra, '@') == NULL)) {
        snprintf(err, err_size, "a check of scope pra needs the PRA, an address with an '@'");
        return NULL;
    }

    const char *helo = req->helo ? req->helo : "";
    const char *receiver = req->receiver && *req->receiver ? req->receiver : "unknown";
    /* For scope pra the <sender> is the PRA (RFC 4406): %{s}, %{l}, %{o}
     * and the checked domain come from it; HELO stays %{h}. */
    const char *from = scope == DA_SPF_SCOPE_PRA ? req->pra
                       : req->mail_from         ? req->mail_from
                                                : "";
    /* A MAIL FROM given as <addr> is accepted too. */
    size_t from_len = strlen(from);
    if (from_len >= 2 && from[0] == '<' && from[from_len - 1] == '>') {
        from++;
        from_len -= 2;
    }
    static const char postmaster[] = "postmaster";
    const char *identity, *local = postmaster, *domain;
    size_t local_len = sizeof postmaster - 1, domain_len;
    if (scope != DA_SPF_SCOPE_PRA && (from_len == 0 || req->helo_identity)) {
        identity = "helo";
        domain = helo;
        domain_len = strlen(helo);
    } else {
        identity = scope == DA_SPF_SCOPE_PRA ? "pra" : "mailfrom";
        const char *at = NULL;
        for (size_t i = 0; i < from_len; i++)
            if (from[i] == '@')
                at = from + i;
        if (at == NULL) {
            domain = from;
            domain_len = from_len;
        } else {
            /* Section 4.3: an empty local-part becomes "postmaster". */
            if (at != from) {
                local = from;
                local_len = (size_t)(at - from);
            }
            domain = at + 1;
            domain_len = from_len - (size_t)(at - from) - 1;
        }
    }
    if (domain_len > 0 && domain[domain_len - 1] == '.')
        domain_len--;

    /* One allocation holds the evaluation and the request's strings; the
     * arenas stay empty until a walk or a result needs them. */
    size_t helo_len = strlen(helo), receiver_len = strlen(receiver);
    size_t strings = helo_len + 1 + receiver_len + 1 + local_len + 1 + domain_len + 1 +
                     local_len + 1 + domain_len + 1;
    da_spf_eval *ev = calloc(1, sizeof *ev + strings);
    if (ev == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    arena_init(&ev->memory);
    arena_init(&ev->scratch);
    ev->ip = ip;
    ev->scope = scope;
    ev->now = req->now;
    ev->tracing = req->trace;
    ev->records = req->records;
    ev->walk_only = req->walk_only;
    ev->max_dns_terms = or_default(req->max_dns_terms, 10);
    ev->max_void = or_default(req->max_void_lookups, 2);
    ev->max_mx = or_default(req->max_mx_names, 10);
    ev->max_ptr = or_default(req->max_ptr_names, 10);
    ev->identity = identity;
    char *at = (char *)(ev + 1);
    ev->helo = put_string(&at, helo, helo_len);
    ev->receiver = put_string(&at, receiver, receiver_len);
    ev->local_part = put_string(&at, local, local_len);
    ev->sender_domain = put_string(&at, domain, domain_len);
    ev->domain = ev->sender_domain;
    ev->sender = at;
    memcpy(at, local, local_len);
    at[local_len] = '@';
    put_string(&(char *){at + local_len + 1}, domain, domain_len);
    return ev;
}

static void eval_destroy(da_spf_eval *ev)
{
    spf_policy_release(ev->policy);
    for (size_t i = 0; i < ev->memo_count; i++)
        spf_record_cache_release(ev->memo[i]->shared);
    arena_free(&ev->memory);
    arena_free(&ev->scratch);
    free(ev->memo);
    free(ev->questions);
    free(ev->trace);
    free(ev);
}

void da_spf_eval_free(da_spf_eval *ev)
{
    if (ev == NULL)
        return;
    /* Answers still due from the resolver would land in freed memory: the
     * last of them frees instead. */
    if (ev->outstanding > 0 || ev->stepping) {
        ev->free_requested = true;
        return;
    }
    eval_destroy(ev);
}

static const char *keep(da_spf_eval *ev, const char *s)
{
    return s ? arena_strdup(&ev->memory, s) : NULL;
}

/* ------------------------------------------------- compiled policies */

/* The cache whose compiled policies this evaluation may use, with the
 * resolver they were compiled from; NULL for a traced check (the trace is
 * the walk's), Sender ID scopes, walk_only, or without a holding cache. */
static spf_policy_table *compiled_table(const da_spf_eval *ev, da_resolver **resolver)
{
    if (ev->records == NULL || ev->walk_only || ev->tracing || ev->scope != DA_SPF_SCOPE_SPF)
        return NULL;
    *resolver = ev->resolver != NULL ? ev->resolver : ev->peek;
    return *resolver != NULL ? spf_record_cache_policies(ev->records) : NULL;
}

static spf_policy_key policy_key(const da_spf_eval *ev)
{
    return (spf_policy_key){.domain = ev->domain, .family = ev->ip.family,
                            .max_dns_terms = ev->max_dns_terms, .max_void = ev->max_void,
                            .max_mx = ev->max_mx};
}

/* Answers the check from a compiled policy when one is valid and the
 * client reaches no hole in it; the result is the walk's, by construction
 * (and by tests/unit/spf/compiled.c). */
static bool answer_compiled(da_spf_eval *ev)
{
    da_resolver *resolver = NULL;
    spf_policy_table *table = compiled_table(ev, &resolver);
    resolver_hold hold;
    if (table == NULL || resolver_hold_state(resolver, &hold) != 0)
        return false;
    spf_policy_key key = policy_key(ev);
    spf_policy *policy = spf_policy_find(table, &hold, &key);
    if (policy == NULL)
        return false;
    spf_policy_client client = {.ip = &ev->ip, .resolver = resolver, .scratch = &ev->memory};
    macro_context(ev, NULL, NULL, &client.macros);
    spf_policy_outcome o;
    if (spf_policy_match(table, policy, &client, &o) != 0) {
        spf_policy_release(policy);
        return false;
    }
    ev->policy = policy;
    ev->done = true;
    ev->result = o.result;
    ev->mechanism = o.mechanism;
    ev->problem = o.problem;
    ev->explanation = NULL;
    if (o.result == DA_SPF_FAIL && o.exp_text != NULL) {
        /* As compute_explanation: an expansion that fails leaves none. A
         * short one stays in the evaluation itself. */
        spf_macro_context ctx;
        macro_context(ev, o.exp_domain, NULL, &ctx);
        char err[256], *expanded;
        size_t len;
        int rc = spf_macro_expand_into(o.exp_text, o.exp_len, SPF_MACRO_EXPLANATION, &ctx,
                                       ev->exp_inline, sizeof ev->exp_inline, &len, err,
                                       sizeof err);
        if (rc == 0)
            ev->explanation = ev->exp_inline;
        else if (rc == -2 && spf_macro_expand(&ev->memory, o.exp_text, o.exp_len,
                                              SPF_MACRO_EXPLANATION, &ctx, &expanded, err,
                                              sizeof err) == 0)
            ev->explanation = expanded;
    }
    ev->dns_terms = o.dns_terms;
    ev->void_lookups = o.void_lookups;
    ev->queries_used = o.queries;
    ev->trace_count = 0;
    return true;
}

/* After a walk: (re)compiles the domain's policy when there is none yet,
 * it went stale, or the cache now holds what its holes lacked. */
static void update_compiled(da_spf_eval *ev)
{
    da_resolver *resolver = NULL;
    spf_policy_table *table = compiled_table(ev, &resolver);
    if (table == NULL)
        return;
    spf_policy_key key = policy_key(ev);
    spf_policy_update(table, ev->records, resolver, &key);
}

da_spf_step da_spf_eval_step(da_spf_eval *ev)
{
    if (ev->done)
        return (da_spf_step){DA_SPF_STEP_DONE, 0, NULL};
    if (!ev->compiled_tried) {
        ev->compiled_tried = true;
        if (answer_compiled(ev))
            return (da_spf_step){DA_SPF_STEP_DONE, 0, NULL};
    }
    arena_reset(&ev->scratch);
    ev->trace_count = 0;
    pass ps = {.ev = ev};
    int r = check_host(&ps, ev->domain, 0, false);

    if (r == SPF_BLOCKED && !ps.out_of_memory) {
        size_t fresh = 0;
        for (size_t i = 0; i < ev->memo_count; i++)
            if (!ev->memo[i]->answered && !ev->memo[i]->listed)
                fresh++;
        if (fresh > ev->question_capacity) {
            da_dns_question *q = realloc(ev->questions, fresh * sizeof *q);
            if (q == NULL) {
                r = fail_with(&ps, DA_SPF_TEMPERROR, "out of memory");
                goto finished;
            }
            ev->questions = q;
            ev->question_capacity = fresh;
        }
        size_t n = 0;
        for (size_t i = 0; i < ev->memo_count; i++) {
            memo_entry *e = ev->memo[i];
            if (!e->answered && !e->listed) {
                e->listed = true;
                ev->questions[n++] = (da_dns_question){e->name, e->type};
            }
        }
        return (da_spf_step){DA_SPF_STEP_QUERIES, n, ev->questions};
    }
    if (ps.out_of_memory)
        r = fail_with(&ps, DA_SPF_TEMPERROR, "out of memory, or too many DNS questions");

finished:
    ev->done = true;
    ev->result = (da_spf_result)r;
    ev->mechanism = r == DA_SPF_PERMERROR || r == DA_SPF_TEMPERROR ? NULL : keep(ev, ps.mechanism);
    ev->explanation = r == DA_SPF_FAIL ? keep(ev, ps.explanation) : NULL;
    ev->problem = r == DA_SPF_PERMERROR || r == DA_SPF_TEMPERROR ? keep(ev, ps.problem) : NULL;
    ev->dns_terms = ps.dns_terms;
    ev->void_lookups = ps.void_lookups;
    ev->queries_used = ps.queries_used;
    if (!ps.out_of_memory)
        update_compiled(ev);
    /* The trace text lives in scratch, which no further pass will reset. */
    return (da_spf_step){DA_SPF_STEP_DONE, 0, NULL};
}

void da_spf_eval_answer(da_spf_eval *ev, const da_dns_question *q, const da_dns_answer *a)
{
    memo_entry *e = answered_entry(ev, q->name, q->type);
    if (e != NULL && !e->answered)
        memo_store(ev, e, a);
}

static void run_callback(void *arg, const da_dns_question *q, const da_dns_answer *a)
{
    da_spf_eval_answer(arg, q, a);
}

int da_spf_eval_run(da_spf_eval *ev, da_resolver *resolver)
{
    ev->resolver = resolver; /* for peeking at cached answers */
    for (unsigned round = 0; round < 10000; round++) {
        da_spf_step s = da_spf_eval_step(ev);
        if (s.kind == DA_SPF_STEP_DONE)
            return 0;
        for (size_t i = 0; i < s.count; i++)
            if (da_resolver_submit(resolver, &s.questions[i], run_callback, ev) != 0)
                run_callback(ev, &s.questions[i], &servfail_answer);
        if (da_resolver_run(resolver) != 0)
            return -1;
    }
    return -1;
}

/* ------------------------------------------------------- asynchronous */

/* Calls on_done once. The owner may free the evaluation inside it, so
 * nothing may touch ev after this returns. */
static void async_notify(da_spf_eval *ev)
{
    if (ev->notified || ev->on_done == NULL)
        return;
    ev->notified = true;
    ev->on_done(ev->on_done_arg, ev);
}

static void async_callback(void *arg, const da_dns_question *q, const da_dns_answer *a);

/* Steps until the evaluation is done or waits for answers not yet here.
 * Cached answers may arrive inside da_resolver_submit; they only set
 * `progressed`, and this loop steps again, so callbacks never recurse. */
static void async_advance(da_spf_eval *ev)
{
    ev->stepping = true;
    do {
        ev->progressed = false;
        da_spf_step s = da_spf_eval_step(ev);
        if (s.kind == DA_SPF_STEP_DONE)
            break;
        for (size_t i = 0; i < s.count; i++) {
            ev->outstanding++;
            if (da_resolver_submit(ev->resolver, &s.questions[i], async_callback, ev) != 0) {
                ev->outstanding--;
                da_spf_eval_answer(ev, &s.questions[i], &servfail_answer);
                ev->progressed = true;
            }
        }
    } while (ev->progressed && !ev->done);
    ev->stepping = false;
    if (ev->free_requested) {
        if (ev->outstanding == 0)
            eval_destroy(ev);
        return;
    }
    if (ev->done)
        async_notify(ev);
}

static void async_callback(void *arg, const da_dns_question *q, const da_dns_answer *a)
{
    da_spf_eval *ev = arg;
    ev->outstanding--;
    if (!ev->done)
        da_spf_eval_answer(ev, q, a);
    if (ev->stepping) {
        ev->progressed = true;
        return;
    }
    if (ev->free_requested) {
        if (ev->outstanding == 0)
            eval_destroy(ev);
        return;
    }
    if (!ev->done)
        async_advance(ev);
}

int da_spf_eval_start(da_spf_eval *ev, da_resolver *resolver, da_spf_done_fn done, void *arg)
{
    if (ev->resolver != NULL || resolver == NULL || done == NULL)
        return -1;
    ev->resolver = resolver;
    ev->on_done = done;
    ev->on_done_arg = arg;
    async_advance(ev);
    return 0;
}

void da_spf_eval_abort(da_spf_eval *ev, const char *reason)
{
    if (ev->done)
        return;
    ev->done = true;
    ev->result = DA_SPF_TEMPERROR;
    ev->problem = keep(ev, reason ? reason : "evaluation aborted");
    ev->mechanism = ev->explanation = NULL;
    ev->trace_count = 0;
    if (!ev->stepping)
        async_notify(ev);
}

da_spf_result da_spf_eval_result(const da_spf_eval *ev) { return ev->result; }
const char *da_spf_eval_identity(const da_spf_eval *ev) { return ev->identity; }
da_spf_scope da_spf_eval_scope(const da_spf_eval *ev) { return ev->scope; }
const char *da_spf_eval_sender(const da_spf_eval *ev) { return ev->sender; }
const char *da_spf_eval_domain(const da_spf_eval *ev) { return ev->domain; }
const char *da_spf_eval_mechanism(const da_spf_eval *ev) { return ev->mechanism; }
const char *da_spf_eval_explanation(const da_spf_eval *ev) { return ev->explanation; }
const char *da_spf_eval_problem(const da_spf_eval *ev) { return ev->problem; }
unsigned da_spf_eval_dns_terms(const da_spf_eval *ev) { return ev->dns_terms; }
unsigned da_spf_eval_void_lookups(const da_spf_eval *ev) { return ev->void_lookups; }
unsigned da_spf_eval_queries(const da_spf_eval *ev) { return ev->queries_used; }
const char *spf_eval_client_ip_text(const da_spf_eval *ev)
{
    /* Formatted on first use: most checks never need the text. */
    da_spf_eval *m = (da_spf_eval *)ev;
    if (m->ip_text[0] == '\0')
        ip_format(&m->ip, m->ip_text);
    return m->ip_text;
}
const char *spf_eval_helo(const da_spf_eval *ev) { return ev->helo; }
const char *spf_eval_receiver(const da_spf_eval *ev) { return ev->receiver; }
void spf_eval_peek_at(da_spf_eval *ev, da_resolver *resolver) { ev->peek = resolver; }

size_t da_spf_eval_trace_count(const da_spf_eval *ev) { return ev->trace_count; }

const da_spf_trace_event *da_spf_eval_trace_get(const da_spf_eval *ev, size_t index)
{
    return index < ev->trace_count ? &ev->trace[index] : NULL;
}

int da_spf_record_check(const char *record, size_t len, char *err, size_t err_size)
{
    arena a;
    arena_init(&a);
    spf_record *rec;
    int rc = spf_record_parse(&a, record, len, &rec, err, err_size);
    arena_free(&a);
    return rc;
}
