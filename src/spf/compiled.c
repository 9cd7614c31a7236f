/* compiled.c: compiled SPF policies (see compiled.h).
 *
 * A policy is one program per check_host() call the walk could make, in the
 * walk's order: the record's terms as ops, then its redirect. Programs are
 * a tree, not a graph: the same include reached at two places gets two
 * programs, because what the walk counts on the way there differs. Every
 * op does, at run time, what evaluate_term() does with the answers it was
 * compiled from: count a DNS-querying term (and strike the limit), count a
 * void lookup, match prefixes, call an include's program. The counters are
 * therefore exact on every path, however includes exit early. The compiler
 * stops where the count must already exceed the limit on any path (the run
 * strikes there before it could go further), which bounds the tree.
 *
 * Validity: every answer used is pinned in the DNS cache; the policy holds
 * the earliest expiry among them and the cache's generation, which moves
 * when a pinned answer is dropped before its time. */
#include "compiled.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "record_cache.h"
#include "util/arena.h"
#include "util/lru.h"

enum {
    MAX_PROGRAMS = 1024, /* a tree larger than this is declined (the walk stays) */
    MAX_OPS = 8192,
    MAX_ENTRIES = 65536,
    MAX_LOOKUPS = 1500,  /* below eval.c's memo bound, which a walk must not reach */
    MAX_HOLES = 16,      /* questions remembered to know when to recompile */
    MAX_NEST = 32,       /* eval.c's MAX_DEPTH */
    DECLINE_RETRY_MS = 60000,
    NO_PROGRAM = -1,
    HOLE = -2, /* spf_policy_match: the walk must answer */
};

typedef enum prog_kind {
    PROG_TERMS,  /* a record: ops, then redirect or neutral */
    PROG_RESULT, /* no record, several, a syntax error, a DNS error... */
    PROG_HOLE,   /* the record's TXT is not held */
} prog_kind;

typedef enum op_kind {
    OP_MATCH,   /* all; exists with an answer */
    OP_ADDRS,   /* ip4, ip6, a, mx: entries */
    OP_INCLUDE, /* a program */
    OP_VOID,    /* a void lookup, no match */
    OP_RESULT,  /* ends the check (temperror, permerror) */
    OP_HOLE,    /* the walk must answer */
    OP_TABLE,   /* a run of ip4/ip6 terms: entries with their own term */
    OP_EXISTS,  /* exists with macros: expanded and looked up per client */
} op_kind;

typedef enum entry_kind {
    ENT_ADDR,  /* a network to match */
    ENT_HOST,  /* an MX host's address lookup: one answer used */
    ENT_ERROR, /* that lookup failed: temperror here */
} entry_kind;

/* A network as two 64-bit halves and masks, so a match is two ANDs;
 * an IPv4 network sits in the top 32 bits of hi. */
typedef struct addr_entry {
    uint64_t hi, lo, mask_hi, mask_lo;
    uint8_t kind;
    char qualifier;      /* OP_TABLE: the entry's term */
    const char *text;    /* OP_TABLE: the entry's term; ENT_ERROR: the problem */
} addr_entry;

typedef struct op {
    uint8_t kind;
    char qualifier;
    bool counts;     /* a DNS-querying term (section 4.6.4) */
    uint8_t queries; /* answers the walk takes before deciding */
    uint32_t first, count; /* OP_ADDRS: entries; OP_INCLUDE: first is the program */
    da_spf_result result;  /* OP_RESULT */
    const char *text;      /* the term as written: the mechanism */
    const char *problem;   /* OP_RESULT; OP_INCLUDE: the target has no record;
                            * OP_EXISTS: the domain-spec */
} op;

typedef enum redirect_kind { REDIRECT_NONE, REDIRECT_PROGRAM, REDIRECT_HOLE } redirect_kind;
typedef enum exp_kind { EXP_TEXT, EXP_HOLE } exp_kind;

typedef struct program {
    uint8_t kind;
    bool in_include;
    uint8_t queries; /* the TXT lookup */
    da_spf_result result;
    const char *problem;
    uint32_t first_op, op_count;
    uint8_t redirect;
    uint32_t redirect_program;
    const char *redirect_problem;
    uint8_t exp;          /* for a fail outside includes */
    uint8_t exp_queries;
    const char *exp_text; /* macro text to expand for the client */
    size_t exp_len;
    const char *domain;   /* <domain>, for %{d} */
} program;

typedef struct hole_question {
    char name[256];
    da_dns_type type;
} hole_question;

/* What a warm check reads comes first: two cache lines, then the domain
 * and the program block. */
struct spf_policy {
    spf_policy *hash_next;
    uint64_t hash;
    /* The key (domain at the end). */
    int family;
    unsigned max_dns_terms, max_void, max_mx;
    const void *cache;
    uint64_t source;
    /* Validity. */
    uint64_t generation, expires_ms;
    /* The program; programs[0] is check_host(<domain>). */
    program *programs;
    op *ops;
    addr_entry *entries;
    const char *limit_terms_problem, *limit_void_problem;
    unsigned refs; /* the table's own reference counts as one */
    bool used;     /* found since the eviction scan last passed (second chance) */
    bool declined; /* too large: no program; compile again after retry_ms */
    uint64_t retry_ms;
    lru_node lru;  /* insertion order, for eviction */
    /* Questions the cache did not hold: when one is held, recompile. */
    hole_question *holes; /* MAX_HOLES, in memory, or NULL */
    size_t hole_count;
    arena memory;
    char domain[];
};

struct spf_policy_table {
    spf_policy **buckets;
    size_t mask, count, max;
    lru_list lru;
    da_spf_compiled_stats stats;
};

static const da_dns_answer servfail_answer = {.status = DA_DNS_SERVFAIL};

/* ------------------------------------------------------------- table */

spf_policy_table *spf_policy_table_new(size_t max_policies)
{
    spf_policy_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->max = max_policies ? max_policies : 10000;
    size_t n = 64;
    while (n < t->max && n < ((size_t)1 << 22))
        n *= 2;
    t->buckets = calloc(n, sizeof *t->buckets);
    if (t->buckets == NULL) {
        free(t);
        return NULL;
    }
    t->mask = n - 1;
    return t;
}

/* The program lives in the policy's own allocation (see policy_seal). */
static void policy_destroy(spf_policy *p)
{
    arena_free(&p->memory);
    free(p);
}

void spf_policy_release(spf_policy *p)
{
    if (p != NULL && --p->refs == 0)
        policy_destroy(p);
}

static void table_remove(spf_policy_table *t, spf_policy *p)
{
    spf_policy **slot = &t->buckets[p->hash & t->mask];
    while (*slot != p)
        slot = &(*slot)->hash_next;
    *slot = p->hash_next;
    lru_unlink(&t->lru, &p->lru);
    t->count--;
    spf_policy_release(p);
}

void spf_policy_table_free(spf_policy_table *t)
{
    if (t == NULL)
        return;
    while (t->lru.head != NULL)
        table_remove(t, LRU_ENTRY(t->lru.head, spf_policy, lru));
    free(t->buckets);
    free(t);
}

void spf_policy_table_stats(const spf_policy_table *t, da_spf_compiled_stats *out)
{
    *out = t->stats;
    out->policies = t->count;
}

/* A multiply-xorshift step: eight bytes at a time, unlike FNV's one, since
 * the key is hashed on every warm check. */
static uint64_t mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static uint64_t key_hash(const spf_policy_key *k, const resolver_hold *hold)
{
    uint64_t h = 0x243f6a8885a308d3ull;
    size_t len = strlen(k->domain), i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, k->domain + i, 8);
        h = mix(h, v);
    }
    uint64_t tail = len; /* the length tells "a" from "a\0\0" */
    memcpy(&tail, k->domain + i, len - i);
    h = mix(h, tail ^ ((uint64_t)len << 56));
    h = mix(h, (uint64_t)k->family << 48 ^ (uint64_t)k->max_dns_terms << 32 ^
                   (uint64_t)k->max_void << 16 ^ k->max_mx);
    h = mix(h, (uint64_t)(uintptr_t)hold->cache);
    return mix(h, hold->source);
}

static spf_policy *table_find(spf_policy_table *t, const spf_policy_key *k,
                              const resolver_hold *hold, uint64_t hash)
{
    for (spf_policy *p = t->buckets[hash & t->mask]; p; p = p->hash_next)
        if (p->hash == hash && p->family == k->family && p->max_dns_terms == k->max_dns_terms &&
            p->max_void == k->max_void && p->max_mx == k->max_mx && p->cache == hold->cache &&
            p->source == hold->source && strcmp(p->domain, k->domain) == 0)
            return p;
    return NULL;
}

static bool policy_valid(const spf_policy *p, const resolver_hold *hold)
{
    return p->generation == hold->generation && hold->now_ms < p->expires_ms;
}

spf_policy *spf_policy_find(spf_policy_table *t, const resolver_hold *hold,
                            const spf_policy_key *key)
{
    uint64_t hash = key_hash(key, hold);
    spf_policy *p = table_find(t, key, hold, hash);
    if (p == NULL || p->declined)
        return NULL;
    if (!policy_valid(p, hold)) {
        t->stats.invalidated++;
        table_remove(t, p);
        return NULL;
    }
    /* No LRU move here: it would write to two neighbours' headers on
     * every warm check. Eviction gives used policies a second chance. */
    p->used = true;
    p->refs++;
    return p;
}

static void table_insert(spf_policy_table *t, spf_policy *p)
{
    spf_policy **slot = &t->buckets[p->hash & t->mask];
    p->hash_next = *slot;
    *slot = p;
    lru_push_front(&t->lru, &p->lru);
    p->refs = 1;
    t->count++;
    while (t->count > t->max && t->lru.tail != NULL && t->lru.tail != &p->lru) {
        spf_policy *old = LRU_ENTRY(t->lru.tail, spf_policy, lru);
        if (old->used) {
            old->used = false;
            lru_touch(&t->lru, &old->lru);
            continue;
        }
        table_remove(t, old);
    }
}

/* ---------------------------------------------------------- running */

typedef struct run_state {
    const spf_policy *p;
    const spf_policy_client *client;
    unsigned dns_terms, void_lookups, queries;
    const char *mechanism, *problem;
    const program *exp; /* the program whose explanation a fail takes */
    uint64_t hi, lo;    /* the client's address (IPv4: the top 32 bits of hi) */
} run_state;

static int fail_at(run_state *st, da_spf_result result, const char *problem)
{
    if (st->problem == NULL)
        st->problem = problem;
    return result;
}

static uint64_t load_be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* The halves and masks of a network of bits bits (a prefix of 16 bytes). */
static addr_entry network(const uint8_t addr[16], unsigned bits)
{
    addr_entry e = {.kind = ENT_ADDR};
    e.mask_hi = bits >= 64 ? ~0ull : bits == 0 ? 0 : ~0ull << (64 - bits);
    e.mask_lo = bits <= 64 ? 0 : bits >= 128 ? ~0ull : ~0ull << (128 - bits);
    e.hi = load_be64(addr) & e.mask_hi;
    e.lo = load_be64(addr + 8) & e.mask_lo;
    return e;
}

static bool addrs_match(const spf_policy *p, const op *o, run_state *st, int *error)
{
    const addr_entry *e = &p->entries[o->first], *end = e + o->count;
    for (; e < end; e++) {
        switch (e->kind) {
        case ENT_HOST: st->queries++; break;
        case ENT_ERROR: *error = fail_at(st, DA_SPF_TEMPERROR, e->text); return false;
        default:
            if ((st->hi & e->mask_hi) == e->hi && (st->lo & e->mask_lo) == e->lo)
                return true;
        }
    }
    return false;
}

/* An exists term whose target has macros, as evaluate_term() does it for
 * this client: TERM_MATCH, TERM_NO_MATCH, a result, or HOLE. */
enum { TERM_NO_MATCH = 100, TERM_MATCH };

static bool kept_nonempty(const da_dns_answer *a, da_dns_type type);

static int run_exists(run_state *st, const op *o, const program *pg)
{
    const spf_policy_client *c = st->client;
    spf_macro_context ctx = c->macros;
    ctx.domain = pg->domain;
    char err[256], target[1024];
    size_t len;
    /* A failed expansion is a permerror whose text the walk makes; one
     * too long for the buffer the walk makes too. */
    if (spf_macro_expand_into(o->problem, strlen(o->problem), SPF_MACRO_DOMAIN, &ctx, target,
                              sizeof target, &len, err, sizeof err) != 0)
        return HOLE;
    if (len > 0 && target[len - 1] == '.')
        target[len - 1] = '\0';
    if (!spf_name_is_queryable(target)) {
        if (++st->void_lookups > st->p->max_void)
            return fail_at(st, DA_SPF_PERMERROR, st->p->limit_void_problem);
        return TERM_NO_MATCH;
    }
    char norm[256];
    if (dns_name_normalize(target, norm, sizeof norm) != 0 || norm[0] == '\0')
        return HOLE;
    const da_dns_answer *a = resolver_peek(c->resolver, &(da_dns_question){norm, DA_DNS_A});
    if (a == NULL)
        return HOLE; /* the walk asks */
    st->queries++;
    if (a->status == DA_DNS_SERVFAIL || a->status == DA_DNS_TIMEOUT) {
        char why[512];
        /* target is queryable: at most 253 characters, as the precision says */
        snprintf(why, sizeof why, "DNS %s looking up %s %.253s", da_dns_status_name(a->status),
                 da_dns_type_name(DA_DNS_A), target);
        spf_text_printable(why);
        const char *kept = arena_strdup(c->scratch, why);
        if (kept == NULL)
            return HOLE;
        return fail_at(st, DA_SPF_TEMPERROR, kept);
    }
    if (a->status == DA_DNS_NXDOMAIN || (a->status == DA_DNS_NOERROR && !kept_nonempty(a, DA_DNS_A))) {
        if (++st->void_lookups > st->p->max_void)
            return fail_at(st, DA_SPF_PERMERROR, st->p->limit_void_problem);
        return TERM_NO_MATCH;
    }
    return TERM_MATCH;
}

/* check_host() over program index: a result, or HOLE. */
static int run_program(run_state *st, uint32_t index)
{
    const spf_policy *p = st->p;
    const program *pg = &p->programs[index];
    if (pg->kind == PROG_HOLE)
        return HOLE;
    st->queries += pg->queries;
    if (pg->kind == PROG_RESULT)
        return pg->result == DA_SPF_NONE ? DA_SPF_NONE : fail_at(st, pg->result, pg->problem);
    const op *o = &p->ops[pg->first_op], *end = o + pg->op_count;
    for (; o < end; o++) {
        if (o->counts && ++st->dns_terms > p->max_dns_terms)
            return fail_at(st, DA_SPF_PERMERROR, p->limit_terms_problem);
        st->queries += o->queries;
        bool matched = false;
        char qualifier = o->qualifier;
        const char *text = o->text;
        switch (o->kind) {
        case OP_MATCH: matched = true; break;
        case OP_TABLE: {
            const addr_entry *e = &p->entries[o->first], *last = e + o->count;
            for (; e < last; e++)
                if ((st->hi & e->mask_hi) == e->hi && (st->lo & e->mask_lo) == e->lo)
                    break;
            if (e < last) {
                matched = true;
                qualifier = e->qualifier;
                text = e->text;
            }
            break;
        }
        case OP_EXISTS: {
            int r = run_exists(st, o, pg);
            if (r == TERM_MATCH)
                matched = true;
            else if (r != TERM_NO_MATCH)
                return r;
            break;
        }
        case OP_HOLE: return HOLE;
        case OP_RESULT: return fail_at(st, o->result, o->problem);
        case OP_VOID:
            if (++st->void_lookups > p->max_void)
                return fail_at(st, DA_SPF_PERMERROR, p->limit_void_problem);
            break;
        case OP_ADDRS: {
            int error = 0;
            matched = addrs_match(p, o, st, &error);
            if (error != 0)
                return error;
            break;
        }
        case OP_INCLUDE: {
            int r = run_program(st, o->first);
            switch (r) {
            case HOLE: return HOLE;
            case DA_SPF_PASS: matched = true; break;
            case DA_SPF_FAIL:
            case DA_SPF_SOFTFAIL:
            case DA_SPF_NEUTRAL: break;
            case DA_SPF_TEMPERROR: return DA_SPF_TEMPERROR;
            case DA_SPF_NONE: return fail_at(st, DA_SPF_PERMERROR, o->problem);
            default: return DA_SPF_PERMERROR;
            }
            break;
        }
        }
        if (!matched)
            continue;
        da_spf_result r = spf_qualifier_result(qualifier);
        st->mechanism = text;
        if (r == DA_SPF_FAIL && !pg->in_include) {
            if (pg->exp == EXP_HOLE)
                return HOLE;
            st->queries += pg->exp_queries;
            st->exp = pg;
        }
        return r;
    }
    if (pg->redirect == REDIRECT_NONE)
        return DA_SPF_NEUTRAL;
    if (++st->dns_terms > p->max_dns_terms)
        return fail_at(st, DA_SPF_PERMERROR, p->limit_terms_problem);
    if (pg->redirect == REDIRECT_HOLE)
        return HOLE;
    int r = run_program(st, pg->redirect_program);
    if (r == DA_SPF_NONE)
        return fail_at(st, DA_SPF_PERMERROR, pg->redirect_problem);
    return r;
}

int spf_policy_match(spf_policy_table *t, const spf_policy *p, const spf_policy_client *client,
                     spf_policy_outcome *out)
{
    const ip_addr *ip = client->ip;
    uint8_t bytes[16] = {0};
    memcpy(bytes, ip->bytes, ip->family == 4 ? 4 : 16);
    run_state st = {.p = p, .client = client, .hi = load_be64(bytes), .lo = load_be64(bytes + 8)};
    int r = ip->family == p->family ? run_program(&st, 0) : HOLE;
    if (r == HOLE) {
        t->stats.fallbacks++;
        return -1;
    }
    t->stats.answered++;
    bool error = r == DA_SPF_PERMERROR || r == DA_SPF_TEMPERROR;
    *out = (spf_policy_outcome){
        .result = (da_spf_result)r,
        .mechanism = error ? NULL : st.mechanism,
        .problem = error ? st.problem : NULL,
        .dns_terms = st.dns_terms,
        .void_lookups = st.void_lookups,
        .queries = st.queries,
    };
    if (r == DA_SPF_FAIL && st.exp != NULL) {
        out->exp_text = st.exp->exp_text;
        out->exp_len = st.exp->exp_len;
        out->exp_domain = st.exp->domain;
    }
    return 0;
}

/* --------------------------------------------------------- compiling */

typedef struct compiler {
    spf_policy *p;
    da_resolver *resolver;
    da_spf_record_cache *records;
    const spf_policy_key *key;
    program *programs;
    size_t program_count, program_cap;
    op *ops;
    size_t op_count, op_cap;
    addr_entry *entries;
    size_t entry_count, entry_cap;
    spf_cached_record **refs; /* parsed records held while compiling */
    size_t ref_count, ref_cap;
    size_t lookups;
    bool too_big, failed; /* declined; out of memory */
    uint64_t expires_ms;
} compiler;

static bool grow(void **array, size_t *cap, size_t need, size_t size, size_t max)
{
    if (need <= *cap)
        return true;
    if (need > max)
        return false;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    if (n > max)
        n = max;
    void *a = realloc(*array, n * size);
    if (a == NULL)
        return false;
    *array = a;
    *cap = n;
    return true;
}

static const char *keep_text(compiler *cc, const char *s, size_t len)
{
    char *out = arena_alloc(&cc->p->memory, len + 1);
    if (out == NULL) {
        cc->failed = true;
        return "";
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

/* A problem text made as eval.c's fail_with makes it: at most 511
 * characters, unprintable ones replaced by '?'. */
static const char *problem(compiler *cc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *problem(compiler *cc, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    spf_text_printable(buf);
    return keep_text(cc, buf, strlen(buf));
}

static void note_hole(compiler *cc, const char *norm, da_dns_type type)
{
    spf_policy *p = cc->p;
    for (size_t i = 0; i < p->hole_count; i++)
        if (p->holes[i].type == type && strcmp(p->holes[i].name, norm) == 0)
            return;
    if (p->hole_count == MAX_HOLES)
        return;
    if (p->holes == NULL && (p->holes = arena_alloc(&p->memory, MAX_HOLES * sizeof *p->holes)) == NULL) {
        cc->failed = true;
        return;
    }
    snprintf(p->holes[p->hole_count].name, sizeof p->holes[0].name, "%s", norm);
    p->holes[p->hole_count++].type = type;
}

/* The answer the walk's need() would find in the cache: pinned, or NULL
 * (noted as a hole) when the cache does not hold it. */
static const da_dns_answer *lookup(compiler *cc, const char *name, da_dns_type type)
{
    char norm[256];
    if (dns_name_normalize(name, norm, sizeof norm) != 0 || norm[0] == '\0')
        return &servfail_answer;
    if (++cc->lookups > MAX_LOOKUPS) {
        cc->too_big = true;
        return NULL;
    }
    uint64_t expires_ms = 0;
    const da_dns_answer *a = resolver_pin(cc->resolver, &(da_dns_question){norm, type},
                                          &expires_ms);
    if (a == NULL) {
        note_hole(cc, norm, type);
        return NULL;
    }
    if (expires_ms < cc->expires_ms)
        cc->expires_ms = expires_ms;
    return a;
}

/* What eval.c's memo keeps of an answer: records of the asked type among
 * the first 4096. Callers walk them in one pass (a record by index would
 * make compiling a large answer quadratic, inside the check that compiles). */
enum { KEPT_RECORDS = 4096 };

static size_t kept_span(const da_dns_answer *a)
{
    return a->count > KEPT_RECORDS ? KEPT_RECORDS : a->count;
}

static size_t kept_count(const da_dns_answer *a, da_dns_type type)
{
    size_t n = kept_span(a), kept = 0;
    for (size_t i = 0; i < n; i++)
        if (a->records[i].type == type)
            kept++;
    return kept;
}

static const da_dns_rr *kept_first(const da_dns_answer *a, da_dns_type type)
{
    size_t n = kept_span(a);
    for (size_t i = 0; i < n; i++)
        if (a->records[i].type == type)
            return &a->records[i];
    return NULL;
}

static bool kept_nonempty(const da_dns_answer *a, da_dns_type type)
{
    size_t n = kept_span(a);
    for (size_t i = 0; i < n; i++)
        if (a->records[i].type == type)
            return true;
    return false;
}

static bool is_void(const da_dns_answer *a, da_dns_type type)
{
    return a->status == DA_DNS_NXDOMAIN || (a->status == DA_DNS_NOERROR && !kept_nonempty(a, type));
}

static bool is_dns_error(const da_dns_answer *a)
{
    return a->status == DA_DNS_SERVFAIL || a->status == DA_DNS_TIMEOUT;
}

static da_dns_type address_type(const compiler *cc)
{
    return cc->key->family == 4 ? DA_DNS_A : DA_DNS_AAAA;
}

static uint32_t new_program(compiler *cc)
{
    if (!grow((void **)&cc->programs, &cc->program_cap, cc->program_count + 1,
              sizeof *cc->programs, MAX_PROGRAMS)) {
        cc->too_big = true;
        return (uint32_t)NO_PROGRAM;
    }
    cc->programs[cc->program_count] = (program){.kind = PROG_RESULT};
    return (uint32_t)cc->program_count++;
}

static bool add_entry(compiler *cc, addr_entry e)
{
    if (!grow((void **)&cc->entries, &cc->entry_cap, cc->entry_count + 1, sizeof *cc->entries,
              MAX_ENTRIES)) {
        cc->too_big = true;
        return false;
    }
    cc->entries[cc->entry_count++] = e;
    return true;
}

/* Expands a domain-spec without macros as eval.c's expand_target does
 * (the same function, so the same shortening and dot rules). NULL when it
 * cannot; the caller makes that a hole. */
static const char *plain_target(compiler *cc, const char *spec, const char *domain)
{
    if (spec == NULL)
        return domain;
    spf_macro_context ctx = {.domain = domain};
    char err[256], *expanded;
    if (spf_macro_expand(&cc->p->memory, spec, strlen(spec), SPF_MACRO_DOMAIN, &ctx, &expanded,
                         err, sizeof err) != 0)
        return NULL;
    size_t len = strlen(expanded);
    if (len > 0 && expanded[len - 1] == '.')
        expanded[len - 1] = '\0';
    return expanded;
}

static uint32_t compile_host(compiler *cc, const char *domain, unsigned depth, bool in_include,
                             unsigned counted);

/* Fills addr entries for the addresses of an answer (a, mx hosts). */
static void add_addresses(compiler *cc, const da_dns_answer *a, unsigned bits)
{
    da_dns_type type = address_type(cc);
    size_t n = kept_span(a);
    for (size_t i = 0; i < n; i++)
        if (a->records[i].type == type && !add_entry(cc, network(a->records[i].addr, bits)))
            return;
}

/* The MX term's entries, mirroring evaluate_term: hosts in preference
 * order, each an answer used, its lookup failing with temperror there. */
static void compile_mx(compiler *cc, op *o, const da_dns_answer *mx, unsigned bits,
                       const char *target)
{
    size_t count = kept_count(mx, DA_DNS_MX);
    if (count > cc->key->max_mx) {
        o->kind = OP_RESULT;
        o->result = DA_SPF_PERMERROR;
        o->problem = problem(cc, "%s has %zu MX names, more than %u", target, count,
                             cc->key->max_mx);
        return;
    }
    const da_dns_rr *rr[64];
    size_t order[64];
    size_t n = 0;
    for (size_t i = 0, span = kept_span(mx); i < span && n < 64; i++)
        if (mx->records[i].type == DA_DNS_MX)
            rr[n++] = &mx->records[i];
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && rr[order[j - 1]]->preference > rr[i]->preference) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    size_t first = cc->entry_count;
    bool hole = false;
    for (size_t k = 0; k < n; k++) {
        const char *host = rr[order[k]]->name;
        if (host == NULL || !spf_name_is_queryable(host))
            continue;
        const da_dns_answer *a = lookup(cc, host, address_type(cc));
        if (a == NULL) {
            hole = true; /* go on: note the other hosts' holes too */
            continue;
        }
        if (hole)
            continue;
        if (!add_entry(cc, (addr_entry){.kind = ENT_HOST}))
            return;
        if (is_dns_error(a)) {
            const char *why = problem(cc, "DNS %s looking up %s %s", da_dns_status_name(a->status),
                                      da_dns_type_name(address_type(cc)), host);
            add_entry(cc, (addr_entry){.kind = ENT_ERROR, .text = why});
            break; /* the walk stops there */
        }
        add_addresses(cc, a, bits);
    }
    if (hole) {
        cc->entry_count = first;
        o->kind = OP_HOLE;
        return;
    }
    o->kind = OP_ADDRS;
    o->first = (uint32_t)first;
    o->count = (uint32_t)(cc->entry_count - first);
}

/* One term, as evaluate_term() would evaluate it; false when the term
 * adds no op (ip4 for an IPv6 client and the reverse never match). */
static bool compile_term(compiler *cc, const spf_term *t, const char *domain, unsigned depth,
                         unsigned counted, op *o)
{
    *o = (op){.qualifier = t->qualifier, .counts = spf_mechanism_queries_dns(t->mechanism)};
    o->text = keep_text(cc, t->text, strlen(t->text));
    int family = cc->key->family;
    switch (t->mechanism) {
    case SPF_ALL: o->kind = OP_MATCH; return true;
    case SPF_IP4:
    case SPF_IP6: {
        if ((t->mechanism == SPF_IP4) != (family == 4))
            return false;
        addr_entry e = network(t->addr, family == 4 ? t->cidr4 : t->cidr6);
        o->kind = OP_ADDRS;
        o->first = (uint32_t)cc->entry_count;
        o->count = 1;
        add_entry(cc, e);
        return true;
    }
    case SPF_PTR: o->kind = OP_HOLE; return true; /* depends on the client's names */
    default: break;
    }
    /* A macro makes the target depend on the client. An exists is
     * expanded and looked up per check (unless it needs %{p}, the
     * validated name: the walk finds it); any other such term walks. */
    if (t->domain_spec != NULL && strchr(t->domain_spec, '%') != NULL) {
        o->kind = OP_HOLE;
        if (t->mechanism == SPF_EXISTS && !spf_macro_uses_ptr(t->domain_spec, strlen(t->domain_spec))) {
            o->kind = OP_EXISTS;
            o->problem = keep_text(cc, t->domain_spec, strlen(t->domain_spec));
        }
        return true;
    }
    const char *target = plain_target(cc, t->domain_spec, domain);
    if (target == NULL) {
        o->kind = OP_HOLE;
        return true;
    }
    if (t->mechanism == SPF_INCLUDE) {
        o->problem = problem(cc, "include:%s has no SPF record", target);
        uint32_t sub = compile_host(cc, target, depth + 1, true, counted);
        o->kind = OP_INCLUDE;
        o->first = sub;
        return true;
    }
    if (!spf_name_is_queryable(target)) {
        o->kind = OP_VOID;
        return true;
    }
    if (t->mechanism == SPF_A || t->mechanism == SPF_EXISTS) {
        da_dns_type type = t->mechanism == SPF_EXISTS ? DA_DNS_A : address_type(cc);
        const da_dns_answer *a = lookup(cc, target, type);
        if (a == NULL) {
            o->kind = OP_HOLE;
            return true;
        }
        o->queries = 1;
        if (is_dns_error(a)) {
            o->kind = OP_RESULT;
            o->result = DA_SPF_TEMPERROR;
            o->problem = problem(cc, "DNS %s looking up %s %s", da_dns_status_name(a->status),
                                 da_dns_type_name(type), target);
        } else if (is_void(a, type)) {
            o->kind = OP_VOID;
        } else if (t->mechanism == SPF_EXISTS) {
            o->kind = OP_MATCH;
        } else {
            o->kind = OP_ADDRS;
            o->first = (uint32_t)cc->entry_count;
            add_addresses(cc, a, family == 4 ? t->cidr4 : t->cidr6);
            o->count = (uint32_t)(cc->entry_count - o->first);
        }
        return true;
    }
    /* mx */
    const da_dns_answer *mx = lookup(cc, target, DA_DNS_MX);
    if (mx == NULL) {
        o->kind = OP_HOLE;
        return true;
    }
    o->queries = 1;
    if (is_dns_error(mx)) {
        o->kind = OP_RESULT;
        o->result = DA_SPF_TEMPERROR;
        o->problem = problem(cc, "DNS %s looking up MX %s", da_dns_status_name(mx->status),
                             target);
    } else if (is_void(mx, DA_DNS_MX)) {
        o->kind = OP_VOID;
    } else {
        compile_mx(cc, o, mx, family == 4 ? t->cidr4 : t->cidr6, target);
    }
    return true;
}

/* The explanation of a fail in this record, as compute_explanation()
 * finds it; the expansion for the client is left for the check. */
static void compile_exp(compiler *cc, uint32_t index, const spf_record *rec, const char *domain)
{
    const char *text = spf_default_explanation;
    size_t len = strlen(spf_default_explanation);
    uint8_t queries = 0;
    if (rec->exp != NULL) {
        if (strchr(rec->exp, '%') != NULL) {
            cc->programs[index].exp = EXP_HOLE;
            return;
        }
        const char *target = plain_target(cc, rec->exp, domain);
        if (target != NULL && spf_name_is_queryable(target)) {
            const da_dns_answer *a = lookup(cc, target, DA_DNS_TXT);
            if (a == NULL) {
                cc->programs[index].exp = EXP_HOLE;
                return;
            }
            queries = 1;
            const da_dns_rr *rr = kept_first(a, DA_DNS_TXT);
            if (a->status == DA_DNS_NOERROR && kept_count(a, DA_DNS_TXT) == 1 && rr->text != NULL &&
                spf_macro_check(rr->text, rr->text_len, SPF_MACRO_EXPLANATION, (char[8]){0}, 8) ==
                    0) {
                text = rr->text;
                len = rr->text_len;
            }
        }
    }
    if (spf_macro_uses_ptr(text, len)) {
        cc->programs[index].exp = EXP_HOLE;
        return;
    }
    program *pg = &cc->programs[index];
    pg->exp = EXP_TEXT;
    pg->exp_queries = queries;
    pg->exp_text = keep_text(cc, text, len);
    pg->exp_len = len;
}

/* The record of a TXT answer, as eval.c's select_record() chooses it for
 * scope spf: NULL with *result and *why set when there is none to run. */
static const spf_record *select_record(compiler *cc, const da_dns_answer *a, const char *domain,
                                       da_spf_result *result, const char **why)
{
    const da_dns_rr *found = NULL;
    size_t matches = 0, n = kept_span(a);
    for (size_t i = 0; i < n; i++) {
        const da_dns_rr *rr = &a->records[i];
        if (rr->type == DA_DNS_TXT && rr->text != NULL &&
            spf_record_is_spf(rr->text, rr->text_len)) {
            matches++;
            found = rr;
        }
    }
    if (matches == 0) {
        *result = DA_SPF_NONE;
        return NULL;
    }
    *result = DA_SPF_PERMERROR;
    if (matches > 1) {
        *why = problem(cc, "%s has more than one SPF record", domain);
        return NULL;
    }
    if (!grow((void **)&cc->refs, &cc->ref_cap, cc->ref_count + 1, sizeof *cc->refs, MAX_PROGRAMS)) {
        cc->failed = true;
        return NULL;
    }
    const spf_record *rec = NULL;
    const char *parse_problem = NULL;
    spf_cached_record *ref =
        spf_record_cache_get(cc->records, found->text, found->text_len, &rec, &parse_problem);
    if (ref == NULL) {
        cc->failed = true;
        return NULL;
    }
    cc->refs[cc->ref_count++] = ref;
    if (rec == NULL) {
        *why = problem(cc, "%s: %s", domain, parse_problem);
        return NULL;
    }
    return rec;
}

/* Turns each run of two or more ip4/ip6 ops (one entry, no count, no
 * answer used) into one OP_TABLE, whose entries carry their own term:
 * first match wins, as it would term by term. Their entries are adjacent,
 * since nothing between adjacent ops adds any. Returns the new count. */
static uint32_t merge_tables(compiler *cc, uint32_t first, uint32_t count)
{
    uint32_t out = 0;
    for (uint32_t i = 0; i < count;) {
        op *o = &cc->ops[first + i];
        uint32_t j = i;
        while (j < count) {
            const op *q = &cc->ops[first + j];
            if (q->kind != OP_ADDRS || q->counts || q->queries != 0 || q->count != 1 ||
                (j > i && q->first != cc->ops[first + j - 1].first + 1))
                break;
            j++;
        }
        if (j - i >= 2) {
            op table = {.kind = OP_TABLE, .first = o->first, .count = j - i};
            for (uint32_t k = i; k < j; k++) {
                const op *q = &cc->ops[first + k];
                cc->entries[q->first].qualifier = q->qualifier;
                cc->entries[q->first].text = q->text;
            }
            cc->ops[first + out++] = table;
            i = j;
        } else {
            cc->ops[first + out++] = *o;
            i++;
        }
    }
    return out;
}

/* check_host(<domain>) for every client of the family at once. counted:
 * DNS-querying terms every path to here has already counted. */
static uint32_t compile_host(compiler *cc, const char *domain, unsigned depth, bool in_include,
                             unsigned counted)
{
    uint32_t index = new_program(cc);
    if (index == (uint32_t)NO_PROGRAM || cc->failed)
        return 0;
    cc->programs[index].in_include = in_include;
    cc->programs[index].domain = keep_text(cc, domain, strlen(domain));
    if (depth > MAX_NEST) {
        cc->programs[index].result = DA_SPF_PERMERROR;
        cc->programs[index].problem = problem(cc, "includes nested more than %d deep", MAX_NEST);
        return index;
    }
    if (!spf_domain_is_checkable(domain)) {
        cc->programs[index].result = DA_SPF_NONE;
        return index;
    }
    const da_dns_answer *a = lookup(cc, domain, DA_DNS_TXT);
    if (a == NULL) {
        cc->programs[index].kind = PROG_HOLE;
        return index;
    }
    cc->programs[index].queries = 1;
    if (is_dns_error(a)) {
        cc->programs[index].result = DA_SPF_TEMPERROR;
        cc->programs[index].problem = problem(cc, "DNS %s looking up TXT %s",
                                              da_dns_status_name(a->status), domain);
        return index;
    }
    da_spf_result result = DA_SPF_NONE;
    const char *why = NULL;
    const spf_record *rec = select_record(cc, a, domain, &result, &why);
    if (rec == NULL) {
        cc->programs[index].result = result;
        cc->programs[index].problem = why;
        return index;
    }
    /* The record's ops are contiguous: reserve them before includes add
     * programs (and their ops) of their own. */
    if (!grow((void **)&cc->ops, &cc->op_cap, cc->op_count + rec->count, sizeof *cc->ops,
              MAX_OPS)) {
        cc->too_big = true;
        return index;
    }
    uint32_t first = (uint32_t)cc->op_count, used = 0;
    cc->op_count += rec->count;
    cc->programs[index].kind = PROG_TERMS;
    cc->programs[index].first_op = first;
    bool beyond = false; /* the limit strikes on every path that gets further */
    for (size_t i = 0; i < rec->count && !cc->too_big && !cc->failed; i++) {
        const spf_term *t = &rec->terms[i];
        op o;
        if (spf_mechanism_queries_dns(t->mechanism) && ++counted > cc->key->max_dns_terms) {
            o = (op){.kind = OP_HOLE, .counts = true};
            cc->ops[first + used++] = o;
            beyond = true;
            break;
        }
        if (compile_term(cc, t, domain, depth, counted, &o))
            cc->ops[first + used++] = o;
    }
    cc->programs[index].op_count = merge_tables(cc, first, used);
    if (!beyond && rec->redirect != NULL) {
        if (strchr(rec->redirect, '%') != NULL || ++counted > cc->key->max_dns_terms) {
            cc->programs[index].redirect = REDIRECT_HOLE;
        } else {
            const char *target = plain_target(cc, rec->redirect, domain);
            if (target == NULL) {
                cc->programs[index].redirect = REDIRECT_HOLE;
            } else {
                const char *why_none = problem(cc, "redirect=%s has no SPF record", target);
                uint32_t sub = compile_host(cc, target, depth + 1, in_include, counted);
                cc->programs[index].redirect = REDIRECT_PROGRAM;
                cc->programs[index].redirect_program = sub;
                cc->programs[index].redirect_problem = why_none;
            }
        }
    }
    if (!in_include)
        compile_exp(cc, index, rec, domain);
    return index;
}

static spf_policy *policy_new(const spf_policy_key *key, const resolver_hold *hold,
                              uint64_t hash)
{
    size_t len = strlen(key->domain);
    spf_policy *p = calloc(1, sizeof *p + len + 1);
    if (p == NULL)
        return NULL;
    arena_init(&p->memory);
    memcpy(p->domain, key->domain, len + 1);
    p->hash = hash;
    p->family = key->family;
    p->max_dns_terms = key->max_dns_terms;
    p->max_void = key->max_void;
    p->max_mx = key->max_mx;
    p->cache = hold->cache;
    p->source = hold->source;
    p->generation = hold->generation;
    return p;
}

/* Moves the program into the policy's own allocation, after the domain:
 * a warm check then reads one block rather than four. Returns the moved
 * policy, or NULL (p untouched) when out of memory. */
static spf_policy *policy_seal(spf_policy *p, const compiler *cc)
{
    size_t head = sizeof *p + strlen(p->domain) + 1;
    head = (head + 15) & ~(size_t)15;
    size_t programs = cc->program_count * sizeof *cc->programs;
    size_t ops = cc->op_count * sizeof *cc->ops;
    size_t entries = cc->entry_count * sizeof *cc->entries;
    spf_policy *q = realloc(p, head + programs + ops + entries);
    if (q == NULL)
        return NULL;
    char *base = (char *)q + head;
    q->programs = (program *)(void *)base;
    q->ops = (op *)(void *)(base + programs);
    q->entries = (addr_entry *)(void *)(base + programs + ops);
    if (programs)
        memcpy(q->programs, cc->programs, programs);
    if (ops)
        memcpy(q->ops, cc->ops, ops);
    if (entries)
        memcpy(q->entries, cc->entries, entries);
    return q;
}

/* True when the cache now holds an answer the policy lacked. */
static bool holes_fillable(const spf_policy *p, da_resolver *resolver)
{
    for (size_t i = 0; i < p->hole_count; i++)
        if (resolver_peek(resolver, &(da_dns_question){p->holes[i].name, p->holes[i].type}) !=
            NULL)
            return true;
    return false;
}

void spf_policy_update(spf_policy_table *t, da_spf_record_cache *records, da_resolver *resolver,
                       const spf_policy_key *key)
{
    resolver_hold hold;
    if (resolver_hold_state(resolver, &hold) != 0)
        return;
    uint64_t hash = key_hash(key, &hold);
    spf_policy *old = table_find(t, key, &hold, hash);
    if (old != NULL) {
        if (old->declined) {
            if (hold.now_ms < old->retry_ms)
                return;
        } else if (policy_valid(old, &hold)) {
            if (!holes_fillable(old, resolver))
                return;
        } else {
            t->stats.invalidated++;
        }
        table_remove(t, old);
    }
    spf_policy *p = policy_new(key, &hold, hash);
    if (p == NULL)
        return;
    compiler cc = {.p = p, .resolver = resolver, .records = records, .key = key,
                   .expires_ms = UINT64_MAX};
    compile_host(&cc, key->domain, 0, false, 0);
    p->limit_terms_problem = problem(&cc, "more than %u DNS-querying terms", key->max_dns_terms);
    p->limit_void_problem = problem(&cc, "more than %u void DNS lookups", key->max_void);
    for (size_t i = 0; i < cc.ref_count; i++)
        spf_record_cache_release(cc.refs[i]);
    free(cc.refs);
    if (cc.failed) {
        free(cc.programs);
        free(cc.ops);
        free(cc.entries);
        policy_destroy(p);
        return;
    }
    if (cc.too_big) {
        free(cc.programs);
        free(cc.ops);
        free(cc.entries);
        p->declined = true;
        p->retry_ms = hold.now_ms + DECLINE_RETRY_MS;
        t->stats.declined++;
    } else {
        spf_policy *sealed = policy_seal(p, &cc);
        free(cc.programs);
        free(cc.ops);
        free(cc.entries);
        if (sealed == NULL) {
            policy_destroy(p);
            return;
        }
        p = sealed;
        p->expires_ms = cc.expires_ms;
        t->stats.compiles++;
    }
    table_insert(t, p);
}
