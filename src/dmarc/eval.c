/* eval.c: the DMARC evaluator (RFC 9989), sans-I/O. Given the From domain
 * and the SPF and DKIM outcomes, it finds the policy record and the
 * organizational domains by the DNS tree walk, aligns the identifiers and
 * names the policy that applies. It asks for TXT records at _dmarc.<name>
 * and is fed answers; it reads no clock and draws no random numbers.
 *
 * One walk per domain that needs an organizational domain: the From
 * domain's (which also discovers the policy), then, in relaxed mode, the
 * SPF domain's and each DKIM domain's that could share it. Walks share one
 * table of names, so a name is asked once however many walks pass it.
 * Invariants: a walk has at most one question out; it never asks more than
 * DA_DMARC_WALK_QUERIES_MAX; the table holds every name asked. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmarc_internal.h"

enum {
    NAME_MAX_LEN = 253,
    WALKS_MAX = 2 + DA_DMARC_DKIM_DOMAINS_MAX,
    NAMES_MAX = WALKS_MAX * DA_DMARC_WALK_QUERIES_MAX,
    QUESTIONS_MAX = WALKS_MAX + 3,
    PROBLEM_MAX = 512,
};

typedef enum name_state { N_UNASKED, N_ASKED, N_DONE } name_state;
typedef enum name_outcome { R_NONE, R_RECORD, R_INVALID, R_MULTIPLE, R_DNSERR } name_outcome;

typedef struct dmarc_name {
    char qname[NAME_MAX_LEN + 8]; /* "_dmarc." + name */
    name_state state;
    name_outcome outcome;
    da_dmarc_record *record; /* R_RECORD: owned */
    char *problem;           /* R_INVALID, R_MULTIPLE, R_DNSERR: owned */
} dmarc_name;

typedef struct walk {
    char start[NAME_MAX_LEN + 1];
    size_t start_labels;
    size_t labels; /* the current target: the last `labels` labels of start */
    int pending;   /* the name awaited, or -1 */
    bool started, done, dns_error;
    bool first_only;   /* RFC 7489 mode: stop at the first record */
    size_t psl_labels; /* RFC 7489 mode: the organizational domain's labels */
    unsigned queries;
    int records[DA_DMARC_WALK_QUERIES_MAX]; /* names with a valid record, longest first */
    size_t record_count;
    int invalid;    /* the first name with only a malformed record, or -1 */
    int error_name; /* the name whose DNS error ended the walk, or -1 */
    bool org_known;
    char org[NAME_MAX_LEN + 1];
} walk;

typedef enum phase { PH_WALK_FROM, PH_WALK_IDS, PH_EXISTS, PH_DONE } phase;

struct da_dmarc_eval {
    da_dmarc_request req;
    phase phase;
    walk walks[WALKS_MAX]; /* [0] From, [1] SPF, [2..] DKIM */
    size_t walk_count;
    char spf_domain[NAME_MAX_LEN + 1];
    char dkim_domains[DA_DMARC_DKIM_DOMAINS_MAX][NAME_MAX_LEN + 1];
    size_t dkim_count;
    int dkim_walk[DA_DMARC_DKIM_DOMAINS_MAX]; /* walk index, or -1 */
    int spf_walk;
    dmarc_name names[NAMES_MAX];
    size_t name_count;
    da_dns_question questions[QUESTIONS_MAX];
    /* The existence check of the From domain (np): A, AAAA, MX. */
    bool exists_asked;
    int exists_answers; /* answers in */
    bool exists_any;    /* one of them had records, or failed */
    bool exists_error;
    unsigned queries;
    /* Results */
    da_dmarc_result result;
    int policy_name; /* the name whose record is the policy, or -1 */
    const char *policy_tag;
    da_dmarc_policy published, applied;
    bool softened;
    bool spf_aligned;
    int dkim_aligned; /* index into dkim_domains, or -1 */
    char problem[PROBLEM_MAX];
};

/* ---------------------------------------------------------------- names */

static size_t count_labels(const char *name)
{
    if (name[0] == '\0')
        return 0;
    size_t n = 1;
    for (const char *p = name; *p; p++)
        if (*p == '.')
            n++;
    return n;
}

/* The last `labels` labels of name. */
static const char *suffix_of(const char *name, size_t labels)
{
    size_t total = count_labels(name);
    const char *p = name;
    while (total > labels) {
        p = strchr(p, '.') + 1;
        total--;
    }
    return p;
}

/* Lower case, no trailing dot, no empty label, at most 253 bytes. */
static int normalize(const char *in, char *out, size_t out_size)
{
    size_t n = strlen(in);
    if (n > 0 && in[n - 1] == '.')
        n--;
    if (n == 0 || n > NAME_MAX_LEN || n >= out_size)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c >= 0x7f)
            return -1;
        if (c == '.' && (i == 0 || in[i - 1] == '.'))
            return -1;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return 0;
}

static bool same_name(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static int find_name(const da_dmarc_eval *ev, const char *qname)
{
    for (size_t i = 0; i < ev->name_count; i++)
        if (same_name(ev->names[i].qname, qname))
            return (int)i;
    return -1;
}

static int name_for(da_dmarc_eval *ev, const char *domain)
{
    char q[NAME_MAX_LEN + 8];
    snprintf(q, sizeof q, "_dmarc.%s", domain);
    int i = find_name(ev, q);
    if (i >= 0 || ev->name_count >= NAMES_MAX)
        return i;
    dmarc_name *n = &ev->names[ev->name_count];
    memset(n, 0, sizeof *n);
    snprintf(n->qname, sizeof n->qname, "%s", q);
    return (int)ev->name_count++;
}

static const char *domain_of(const dmarc_name *n)
{
    return n->qname + 7;
}

static char *dup_text(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

/* ---------------------------------------------------------------- walks */

static void walk_init(walk *w, const char *start, bool first_only)
{
    memset(w, 0, sizeof *w);
    snprintf(w->start, sizeof w->start, "%s", start);
    w->start_labels = count_labels(start);
    w->labels = w->start_labels;
    w->pending = -1;
    w->invalid = -1;
    w->error_name = -1;
    w->first_only = first_only;
    w->started = true;
}

/* RFC 9989 section 4.10 steps 5 and 8: one label off, or straight to seven
 * labels from a longer name, so that no walk asks more than eight names. */
static size_t next_labels(size_t labels)
{
    return labels >= 8 ? 7 : labels - 1;
}

/* RFC 9989 section 4.10.2: the organizational domain from the records the
 * walk found, longest name first. */
static void walk_org(walk *w, const da_dmarc_eval *ev)
{
    if (w->first_only) {
        /* RFC 7489: the public suffix list said it before the walk. */
        w->org_known = true;
        return;
    }
    if (w->dns_error) {
        w->org_known = false;
        return;
    }
    w->org_known = true;
    for (size_t i = 0; i < w->record_count; i++) {
        const dmarc_name *n = &ev->names[w->records[i]];
        if (n->record->psd == DA_DMARC_PSD_N) {
            snprintf(w->org, sizeof w->org, "%s", domain_of(n));
            return;
        }
        size_t labels = count_labels(domain_of(n));
        if (n->record->psd == DA_DMARC_PSD_Y && labels < w->start_labels) {
            snprintf(w->org, sizeof w->org, "%s", suffix_of(w->start, labels + 1));
            return;
        }
    }
    if (w->record_count > 0)
        snprintf(w->org, sizeof w->org, "%s",
                 domain_of(&ev->names[w->records[w->record_count - 1]]));
    else
        snprintf(w->org, sizeof w->org, "%s", w->start);
}

static void walk_finish(walk *w, const da_dmarc_eval *ev)
{
    w->done = true;
    w->pending = -1;
    walk_org(w, ev);
}

/* Takes the answered name into the walk and moves it on. */
static void walk_take(walk *w, const da_dmarc_eval *ev, int idx)
{
    const dmarc_name *n = &ev->names[idx];
    w->pending = -1;
    switch (n->outcome) {
    case R_DNSERR:
        w->dns_error = true;
        w->error_name = idx;
        walk_finish(w, ev);
        return;
    case R_INVALID:
        if (w->invalid < 0)
            w->invalid = idx;
        break;
    case R_RECORD:
        if (w->record_count < DA_DMARC_WALK_QUERIES_MAX)
            w->records[w->record_count++] = idx;
        /* A record that says where the organization ends ends the walk. */
        if (n->record->psd != DA_DMARC_PSD_U || w->first_only) {
            walk_finish(w, ev);
            return;
        }
        break;
    case R_NONE:
    case R_MULTIPLE: break;
    }
    if (w->first_only) {
        if (w->labels > w->psl_labels && w->psl_labels > 0) {
            w->labels = w->psl_labels;
            return;
        }
        walk_finish(w, ev);
        return;
    }
    if (w->labels <= 1 || w->queries >= DA_DMARC_WALK_QUERIES_MAX) {
        walk_finish(w, ev);
        return;
    }
    w->labels = next_labels(w->labels);
}

/* Moves every walk as far as the answers in allow, adding the questions
 * it needs to ev->questions. */
static void walks_advance(da_dmarc_eval *ev, size_t *count)
{
    for (size_t wi = 0; wi < ev->walk_count; wi++) {
        walk *w = &ev->walks[wi];
        while (w->started && !w->done) {
            if (w->pending >= 0) {
                if (ev->names[w->pending].state != N_DONE)
                    break;
                walk_take(w, ev, w->pending);
                continue;
            }
            int idx = name_for(ev, suffix_of(w->start, w->labels));
            if (idx < 0) {
                /* The name table is full: cannot happen within the bounds
                 * above, but end the walk as a DNS failure, not silently. */
                w->dns_error = true;
                walk_finish(w, ev);
                break;
            }
            w->pending = idx;
            w->queries++;
            dmarc_name *n = &ev->names[idx];
            if (n->state == N_UNASKED && *count < QUESTIONS_MAX) {
                n->state = N_ASKED;
                ev->questions[(*count)++] = (da_dns_question){n->qname, DA_DNS_TXT};
                ev->queries++;
            } else if (n->state == N_UNASKED) {
                w->pending = -1;
                w->queries--;
                break; /* asked at the next step */
            }
        }
    }
}

static bool walks_done(const da_dmarc_eval *ev)
{
    for (size_t i = 0; i < ev->walk_count; i++)
        if (ev->walks[i].started && !ev->walks[i].done)
            return false;
    return true;
}

/* --------------------------------------------------------------- answers */

static void take_txt(da_dmarc_eval *ev, dmarc_name *n, const da_dns_answer *a)
{
    n->state = N_DONE;
    if (a->status == DA_DNS_SERVFAIL || a->status == DA_DNS_TIMEOUT) {
        char why[PROBLEM_MAX];
        snprintf(why, sizeof why, "%s: %s", n->qname, da_dns_status_name(a->status));
        n->outcome = R_DNSERR;
        n->problem = dup_text(why);
        return;
    }
    size_t found = 0;
    const da_dns_rr *rr = NULL;
    for (size_t i = 0; i < a->count; i++) {
        const da_dns_rr *r = &a->records[i];
        if (r->type != DA_DNS_TXT || r->text == NULL)
            continue;
        if (!da_dmarc_record_is_dmarc(r->text, r->text_len))
            continue; /* not DMARC: discarded */
        found++;
        rr = r;
    }
    if (found == 0) {
        n->outcome = R_NONE;
        return;
    }
    if (found > 1) {
        /* RFC 9989 section 4.10 step 2: several records are no record. */
        char why[PROBLEM_MAX];
        snprintf(why, sizeof why, "%s: %zu DMARC records (none used)", n->qname, found);
        n->outcome = R_MULTIPLE;
        n->problem = dup_text(why);
        return;
    }
    da_dmarc_record *rec = malloc(sizeof *rec);
    char err[200];
    if (rec == NULL) {
        n->outcome = R_DNSERR;
        n->problem = dup_text("out of memory");
        return;
    }
    if (da_dmarc_record_parse(rr->text, rr->text_len, ev->req.mode, rec, err, sizeof err) != 0) {
        free(rec);
        char why[PROBLEM_MAX];
        snprintf(why, sizeof why, "%s: %s", n->qname, err);
        n->outcome = R_INVALID;
        n->problem = dup_text(why);
        return;
    }
    n->outcome = R_RECORD;
    n->record = rec;
}

/* A, AAAA and MX of the From domain: it exists unless all three say
 * NXDOMAIN or no records (RFC 9989's non-existent domain). */
static void take_exists(da_dmarc_eval *ev, const da_dns_answer *a)
{
    ev->exists_answers++;
    if (a->status == DA_DNS_SERVFAIL || a->status == DA_DNS_TIMEOUT)
        ev->exists_error = true;
    else if (a->status == DA_DNS_NOERROR && a->count > 0)
        ev->exists_any = true;
}

void da_dmarc_eval_answer(da_dmarc_eval *ev, const da_dns_question *q, const da_dns_answer *a)
{
    if (ev == NULL || q == NULL || a == NULL || ev->phase == PH_DONE)
        return;
    if (q->type == DA_DNS_TXT) {
        int i = find_name(ev, q->name);
        if (i >= 0 && ev->names[i].state == N_ASKED)
            take_txt(ev, &ev->names[i], a);
        return;
    }
    if (ev->phase == PH_EXISTS && ev->exists_asked && same_name(q->name, ev->walks[0].start) &&
        (q->type == DA_DNS_A || q->type == DA_DNS_AAAA || q->type == DA_DNS_MX))
        take_exists(ev, a);
}

/* ------------------------------------------------------------ evaluation */

static da_dmarc_policy soften(da_dmarc_policy p)
{
    return p == DA_DMARC_POLICY_REJECT ? DA_DMARC_POLICY_QUARANTINE : DA_DMARC_POLICY_NONE;
}

static void set_problem(da_dmarc_eval *ev, const char *text)
{
    if (ev->problem[0] == '\0' && text != NULL)
        snprintf(ev->problem, sizeof ev->problem, "%s", text);
}

static const walk *walk_at(const da_dmarc_eval *ev, int i)
{
    return i >= 0 ? &ev->walks[i] : NULL;
}

/* Relaxed alignment needs the identifier's organizational domain to be the
 * From domain's, so it must lie within the From domain's: a cheap test
 * that spares a walk for names that cannot align. */
static bool within(const char *name, const char *org)
{
    size_t n = strlen(name), o = strlen(org);
    if (n == o)
        return same_name(name, org);
    return n > o && name[n - o - 1] == '.' && same_name(name + n - o, org);
}

static int start_id_walk(da_dmarc_eval *ev, const char *domain)
{
    const walk *from = &ev->walks[0];
    if (same_name(domain, from->start) || !from->org_known || !within(domain, from->org))
        return -1;
    for (size_t i = 1; i < ev->walk_count; i++)
        if (same_name(ev->walks[i].start, domain))
            return (int)i;
    if (ev->walk_count >= WALKS_MAX)
        return -1;
    walk *w = &ev->walks[ev->walk_count];
    walk_init(w, domain, false);
    return (int)ev->walk_count++;
}

/* RFC 7489 mode: the organizational domain of an identifier by the list,
 * into a walk that is done from the start (no DNS). */
static int psl_walk(da_dmarc_eval *ev, const char *domain)
{
    if (ev->walk_count >= WALKS_MAX)
        return -1;
    walk *w = &ev->walks[ev->walk_count];
    walk_init(w, domain, true);
    w->done = true;
    w->org_known = dmarc_psl_org_domain(domain, w->org, sizeof w->org) == 0;
    return (int)ev->walk_count++;
}

static void start_alignment_walks(da_dmarc_eval *ev)
{
    const dmarc_name *pn = &ev->names[ev->policy_name];
    const da_dmarc_record *rec = pn->record;
    bool psl = ev->req.mode == DA_DMARC_RFC7489;
    if (ev->spf_domain[0] && !rec->aspf_strict)
        ev->spf_walk = psl ? psl_walk(ev, ev->spf_domain) : start_id_walk(ev, ev->spf_domain);
    for (size_t i = 0; i < ev->dkim_count; i++)
        if (!rec->adkim_strict)
            ev->dkim_walk[i] =
                psl ? psl_walk(ev, ev->dkim_domains[i]) : start_id_walk(ev, ev->dkim_domains[i]);
}

/* Is the identifier aligned with the From domain? *unknown when a DNS
 * error kept the answer from being known. */
static bool aligned(const da_dmarc_eval *ev, const char *id, bool strict, int wi, bool *unknown)
{
    const walk *from = &ev->walks[0];
    if (same_name(id, from->start))
        return true;
    if (strict)
        return false;
    if (!from->org_known) {
        *unknown = true;
        return false;
    }
    const walk *w = walk_at(ev, wi);
    if (w == NULL)
        return false; /* it cannot share the From domain's organization */
    if (!w->org_known) {
        *unknown = true;
        return false;
    }
    return same_name(w->org, from->org);
}

static void decide_alignment(da_dmarc_eval *ev)
{
    const dmarc_name *pn = &ev->names[ev->policy_name];
    const da_dmarc_record *rec = pn->record;
    bool unknown = false;
    if (ev->spf_domain[0])
        ev->spf_aligned = aligned(ev, ev->spf_domain, rec->aspf_strict, ev->spf_walk, &unknown);
    for (size_t i = 0; i < ev->dkim_count && ev->dkim_aligned < 0; i++)
        if (aligned(ev, ev->dkim_domains[i], rec->adkim_strict, ev->dkim_walk[i], &unknown))
            ev->dkim_aligned = (int)i;
    if (ev->spf_aligned || ev->dkim_aligned >= 0) {
        ev->result = DA_DMARC_PASS;
        return;
    }
    if (unknown) {
        ev->result = DA_DMARC_TEMPERROR;
        for (size_t i = 0; i < ev->walk_count; i++)
            if (ev->walks[i].error_name >= 0) {
                set_problem(ev, ev->names[ev->walks[i].error_name].problem);
                break;
            }
        set_problem(ev, "an organizational domain could not be determined");
        return;
    }
    ev->result = DA_DMARC_FAIL;
    /* A malformed record skipped on the way to the policy is worth
     * saying: its owner may think it is the policy. */
    const walk *from = &ev->walks[0];
    if (from->invalid >= 0) {
        char why[PROBLEM_MAX];
        snprintf(why, sizeof why, "no aligned SPF or DKIM pass; skipped %.400s",
                 ev->names[from->invalid].problem);
        set_problem(ev, why);
    }
    set_problem(ev, "no aligned SPF or DKIM pass");
}

/* The policy for the From domain: p at the policy domain itself; below
 * it np for a domain that does not exist (when the record has np), else
 * sp, else p (RFC 9989 section 4.7). */
static bool needs_existence(const da_dmarc_eval *ev)
{
    const dmarc_name *pn = &ev->names[ev->policy_name];
    return ev->req.mode == DA_DMARC_RFC9989 && !same_name(domain_of(pn), ev->walks[0].start) &&
           pn->record->has_np && ev->req.from_exists < 0;
}

static void decide_policy(da_dmarc_eval *ev)
{
    const dmarc_name *pn = &ev->names[ev->policy_name];
    const da_dmarc_record *rec = pn->record;
    if (same_name(domain_of(pn), ev->walks[0].start)) {
        ev->published = rec->p;
        ev->policy_tag = "p";
    } else {
        bool exists = true;
        if (ev->req.from_exists >= 0)
            exists = ev->req.from_exists != 0;
        else if (ev->exists_asked)
            exists = ev->exists_any || ev->exists_error;
        if (ev->req.mode == DA_DMARC_RFC9989 && !exists && rec->has_np) {
            ev->published = rec->np;
            ev->policy_tag = "np";
        } else if (rec->has_sp) {
            ev->published = rec->sp;
            ev->policy_tag = "sp";
        } else {
            ev->published = rec->p;
            ev->policy_tag = "p";
        }
    }
    ev->applied = ev->published;
    if (ev->req.mode == DA_DMARC_RFC9989 && rec->testing) {
        /* t=y: one step softer (RFC 9989 section 4.7). */
        ev->applied = soften(ev->published);
        ev->softened = ev->applied != ev->published;
    } else if (ev->req.mode == DA_DMARC_RFC7489 && rec->pct < 100 && ev->req.pct_roll >= rec->pct) {
        /* RFC 7489 section 6.6.4: outside the sample, the next policy down. */
        ev->applied = soften(ev->published);
        ev->softened = ev->applied != ev->published;
    }
}

static void finish(da_dmarc_eval *ev)
{
    ev->phase = PH_DONE;
}

/* After the From domain's walk: the policy record, or the reason there is
 * none. */
static void from_walk_done(da_dmarc_eval *ev)
{
    const walk *w = &ev->walks[0];
    if (w->record_count > 0) {
        ev->policy_name = w->records[0];
        start_alignment_walks(ev);
        ev->phase = PH_WALK_IDS;
        return;
    }
    if (w->dns_error) {
        ev->result = DA_DMARC_TEMPERROR;
        set_problem(ev, w->error_name >= 0 ? ev->names[w->error_name].problem : "DNS failure");
    } else if (w->invalid >= 0) {
        ev->result = DA_DMARC_PERMERROR;
        set_problem(ev, ev->names[w->invalid].problem);
    } else {
        ev->result = DA_DMARC_NONE;
        for (size_t i = 0; i < ev->name_count; i++)
            if (ev->names[i].outcome == R_MULTIPLE) {
                set_problem(ev, ev->names[i].problem);
                break;
            }
        set_problem(ev, "no DMARC record");
    }
    finish(ev);
}

da_dmarc_step da_dmarc_eval_step(da_dmarc_eval *ev)
{
    size_t count = 0;
    for (;;) {
        switch (ev->phase) {
        case PH_DONE: return (da_dmarc_step){true, 0, NULL};
        case PH_WALK_FROM:
            walks_advance(ev, &count);
            if (!ev->walks[0].done)
                return (da_dmarc_step){false, count, ev->questions};
            from_walk_done(ev);
            continue;
        case PH_WALK_IDS:
            walks_advance(ev, &count);
            if (!walks_done(ev))
                return (da_dmarc_step){false, count, ev->questions};
            decide_alignment(ev);
            if (ev->result == DA_DMARC_FAIL && needs_existence(ev)) {
                ev->phase = PH_EXISTS;
                continue;
            }
            decide_policy(ev);
            finish(ev);
            continue;
        case PH_EXISTS:
            if (!ev->exists_asked) {
                static const da_dns_type types[3] = {DA_DNS_A, DA_DNS_AAAA, DA_DNS_MX};
                ev->exists_asked = true;
                for (size_t i = 0; i < 3 && count < QUESTIONS_MAX; i++) {
                    ev->questions[count++] = (da_dns_question){ev->walks[0].start, types[i]};
                    ev->queries++;
                }
                return (da_dmarc_step){false, count, ev->questions};
            }
            if (ev->exists_answers < 3)
                return (da_dmarc_step){false, count, ev->questions};
            decide_policy(ev);
            finish(ev);
            continue;
        }
    }
}

void da_dmarc_eval_abort(da_dmarc_eval *ev, const char *reason)
{
    if (ev == NULL || ev->phase == PH_DONE)
        return;
    ev->result = DA_DMARC_TEMPERROR;
    ev->problem[0] = '\0';
    set_problem(ev, reason ? reason : "aborted");
    if (ev->policy_name >= 0 && ev->names[ev->policy_name].record != NULL)
        decide_policy(ev);
    finish(ev);
}

/* ------------------------------------------------------------ lifecycle */

da_dmarc_eval *da_dmarc_eval_new(const da_dmarc_request *req, char *err, size_t err_size)
{
    if (err_size > 0)
        err[0] = '\0';
    if (req == NULL || req->from_domain == NULL) {
        snprintf(err, err_size, "no From domain");
        return NULL;
    }
    if (req->mode == DA_DMARC_RFC7489 && !dmarc_psl_ready()) {
        snprintf(err, err_size, "RFC 7489 mode needs the public suffix list: built without libpsl");
        return NULL;
    }
    da_dmarc_eval *ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    ev->req = *req;
    ev->req.dkim_domains = NULL;
    ev->req.from_domain = NULL;
    ev->req.spf_domain = NULL;
    ev->policy_name = -1;
    ev->dkim_aligned = -1;
    ev->spf_walk = -1;
    char from[NAME_MAX_LEN + 1];
    if (normalize(req->from_domain, from, sizeof from) != 0) {
        snprintf(err, err_size, "'%.100s' is not a domain name", req->from_domain);
        free(ev);
        return NULL;
    }
    if (req->spf_pass && req->spf_domain != NULL &&
        normalize(req->spf_domain, ev->spf_domain, sizeof ev->spf_domain) != 0)
        ev->spf_domain[0] = '\0'; /* not a name: it cannot align */
    for (size_t i = 0; i < req->dkim_count && ev->dkim_count < DA_DMARC_DKIM_DOMAINS_MAX; i++) {
        char d[NAME_MAX_LEN + 1];
        if (req->dkim_domains[i] == NULL || normalize(req->dkim_domains[i], d, sizeof d) != 0)
            continue;
        bool dup = false;
        for (size_t j = 0; j < ev->dkim_count; j++)
            dup = dup || strcmp(ev->dkim_domains[j], d) == 0;
        if (dup)
            continue;
        ev->dkim_walk[ev->dkim_count] = -1;
        memcpy(ev->dkim_domains[ev->dkim_count++], d, strlen(d) + 1);
    }
    walk *w = &ev->walks[0];
    walk_init(w, from, req->mode == DA_DMARC_RFC7489);
    ev->walk_count = 1;
    if (req->mode == DA_DMARC_RFC7489) {
        /* RFC 7489 section 6.6.3: the From domain, then its organizational
         * domain by the list. */
        if (dmarc_psl_org_domain(from, w->org, sizeof w->org) != 0) {
            snprintf(err, err_size, "no organizational domain for %s", from);
            free(ev);
            return NULL;
        }
        w->psl_labels = count_labels(w->org);
        w->org_known = true;
    }
    ev->phase = PH_WALK_FROM;
    return ev;
}

void da_dmarc_eval_free(da_dmarc_eval *ev)
{
    if (ev == NULL)
        return;
    for (size_t i = 0; i < ev->name_count; i++) {
        free(ev->names[i].record);
        free(ev->names[i].problem);
    }
    free(ev);
}

/* ------------------------------------------------------------ accessors */

da_dmarc_result da_dmarc_eval_result(const da_dmarc_eval *ev)
{
    return ev->result;
}

const char *da_dmarc_eval_policy_domain(const da_dmarc_eval *ev)
{
    return ev->policy_name >= 0 ? domain_of(&ev->names[ev->policy_name]) : NULL;
}

const char *da_dmarc_eval_org_domain(const da_dmarc_eval *ev)
{
    const walk *w = &ev->walks[0];
    return w->done && w->org_known ? w->org : NULL;
}

const da_dmarc_record *da_dmarc_eval_record(const da_dmarc_eval *ev)
{
    return ev->policy_name >= 0 ? ev->names[ev->policy_name].record : NULL;
}

da_dmarc_policy da_dmarc_eval_published_policy(const da_dmarc_eval *ev)
{
    return ev->published;
}

da_dmarc_policy da_dmarc_eval_policy(const da_dmarc_eval *ev)
{
    return ev->applied;
}

const char *da_dmarc_eval_policy_tag(const da_dmarc_eval *ev)
{
    return ev->policy_tag;
}

bool da_dmarc_eval_softened(const da_dmarc_eval *ev)
{
    return ev->softened;
}

bool da_dmarc_eval_spf_aligned(const da_dmarc_eval *ev)
{
    return ev->spf_aligned;
}

const char *da_dmarc_eval_dkim_aligned(const da_dmarc_eval *ev)
{
    return ev->dkim_aligned >= 0 ? ev->dkim_domains[ev->dkim_aligned] : NULL;
}

const char *da_dmarc_eval_problem(const da_dmarc_eval *ev)
{
    return ev->problem[0] ? ev->problem : NULL;
}

unsigned da_dmarc_eval_queries(const da_dmarc_eval *ev)
{
    return ev->queries;
}

const char *da_dmarc_eval_discovery(const da_dmarc_eval *ev)
{
    return ev->req.mode == DA_DMARC_RFC7489 ? "psl" : "treewalk";
}
