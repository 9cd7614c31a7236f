/* rollout.c: see rollout.h. */
#include "rollout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/ip.h"

enum { DAY = 86400 };

/* ---------------------------------------------------------------- sets */

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 1099511628211u;
    }
    return h;
}

static void set_free(rollout_set *s)
{
    for (size_t i = 0; i < s->capacity; i++)
        free(s->slots[i]);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static bool set_place(char **slots, size_t capacity, char *item)
{
    for (size_t i = hash_text(item) & (capacity - 1);; i = (i + 1) & (capacity - 1)) {
        if (slots[i] == NULL) {
            slots[i] = item;
            return true;
        }
        if (strcasecmp(slots[i], item) == 0)
            return false;
    }
}

/* Whether text is in the set already (looked up before any copy is made:
 * most events repeat a domain or network already counted). */
static bool set_has(const rollout_set *s, const char *text)
{
    if (s->capacity == 0)
        return false;
    for (size_t i = hash_text(text) & (s->capacity - 1); s->slots[i] != NULL;
         i = (i + 1) & (s->capacity - 1))
        if (strcasecmp(s->slots[i], text) == 0)
            return true;
    return false;
}

/* Adds text (case does not matter); false only when out of memory. */
static bool set_add(rollout_set *s, const char *text)
{
    if (set_has(s, text))
        return true;
    if ((s->count + 1) * 2 > s->capacity) {
        size_t capacity = s->capacity ? s->capacity * 2 : 16;
        char **slots = calloc(capacity, sizeof *slots);
        if (slots == NULL)
            return false;
        for (size_t i = 0; i < s->capacity; i++)
            if (s->slots[i] != NULL)
                set_place(slots, capacity, s->slots[i]);
        free(s->slots);
        s->slots = slots;
        s->capacity = capacity;
    }
    char *copy = strdup(text);
    if (copy == NULL)
        return false;
    if (set_place(s->slots, s->capacity, copy))
        s->count++;
    else
        free(copy);
    return true;
}

/* ---------------------------------------------------------- candidates */

static void add_candidate(rollout_report *r, rollout_kind kind, const char *action,
                          double threshold, const char *name)
{
    rollout_candidate *c = &r->candidates[r->candidate_count++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->action = action;
    c->threshold = threshold;
    snprintf(c->name, sizeof c->name, "%s", name);
}

int rollout_init(rollout_report *r, const rollout_options *options, char *why, size_t why_size)
{
    memset(r, 0, sizeof *r);
    r->options = *options;
    if (r->options.spike_min == 0)
        r->options.spike_min = 5;
    if (r->options.spike_factor <= 0)
        r->options.spike_factor = 3.0;
    if (options->until <= options->since) {
        snprintf(why, why_size, "the period is empty (until is not after since)");
        return -1;
    }
    if (options->threshold_count > ROLLOUT_THRESHOLDS_MAX) {
        snprintf(why, why_size, "at most %d thresholds", ROLLOUT_THRESHOLDS_MAX);
        return -1;
    }
    int64_t first = options->since - ((options->since % DAY) + DAY) % DAY;
    int64_t days = (options->until - first + DAY - 1) / DAY;
    if (days > ROLLOUT_DAYS_MAX) {
        snprintf(why, why_size, "a period of %lld days is longer than %d", (long long)days,
                 ROLLOUT_DAYS_MAX);
        return -1;
    }
    r->first_day = first;
    r->days = (size_t)days;
    add_candidate(r, ROLLOUT_CONFIGURED, "defer/reject", 0,
                  "the running configuration (done or held back)");
    add_candidate(r, ROLLOUT_SPF_FAIL, "reject", 0, "reject SPF fail");
    add_candidate(r, ROLLOUT_SPF_FAIL_SOFTFAIL, "reject", 0, "reject SPF fail and softfail");
    add_candidate(r, ROLLOUT_SPF_FAIL, "quarantine", 0, "quarantine SPF fail");
    add_candidate(r, ROLLOUT_DKIM_FAIL, "reject", 0, "reject DKIM fail (no valid signature)");
    for (size_t i = 0; i < options->threshold_count; i++) {
        char name[96];
        snprintf(name, sizeof name, "reject at score >= %.1f", options->thresholds[i]);
        add_candidate(r, ROLLOUT_SCORE, "reject", options->thresholds[i], name);
    }
    return 0;
}

void rollout_free(rollout_report *r)
{
    for (size_t i = 0; i < r->candidate_count; i++) {
        set_free(&r->candidates[i].domains);
        set_free(&r->candidates[i].networks);
    }
    for (size_t i = 0; i < r->domain_count; i++) {
        free(r->domains[i].domain);
        set_free(&r->domains[i].networks);
    }
    free(r->domains);
    free(r->domain_slots);
    memset(r, 0, sizeof *r);
}

bool rollout_network(const char *ip, char *out, size_t out_size)
{
    ip_addr a;
    if (ip == NULL || !ip_parse(ip, strlen(ip), &a))
        return false;
    ip_unmap(&a);
    if (a.family == 4) {
        snprintf(out, out_size, "%u.%u.%u.0/24", a.bytes[0], a.bytes[1], a.bytes[2]);
        return true;
    }
    memset(a.bytes + 6, 0, 10);
    char text[IP_TEXT_MAX];
    ip_format(&a, text);
    snprintf(out, out_size, "%s/48", text);
    return true;
}

/* ------------------------------------------------------------ one event */

static bool blocked_action(const char *action)
{
    return action != NULL && *action && strcmp(action, "accept") != 0 &&
           strcmp(action, "tag") != 0;
}

static bool related_domains(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    if (la == lb)
        return strcasecmp(a, b) == 0;
    /* One below the other: mail.example.com and example.com. */
    const char *longer = la > lb ? a : b, *shorter = la > lb ? b : a;
    size_t ll = la > lb ? la : lb, ls = la > lb ? lb : la;
    return longer[ll - ls - 1] == '.' && strcasecmp(longer + ll - ls, shorter) == 0;
}

typedef struct facts {
    const char *spf;         /* the SPF result word, or NULL */
    const char *domain;      /* the sender domain: SPF's, else MAIL FROM's */
    bool dkim_fail, dkim_pass, dkim_pass_same;
    const char *dkim_fail_domain;
} facts;

static void gather(const event_record *e, facts *f)
{
    memset(f, 0, sizeof *f);
    f->spf = e->result;
    f->domain = e->domain;
    if ((f->domain == NULL || !*f->domain) && e->mail_from != NULL) {
        const char *at = strrchr(e->mail_from, '@');
        f->domain = at != NULL && at[1] ? at + 1 : NULL;
    }
    for (size_t i = 0; i < e->result_count; i++) {
        const event_result *res = &e->results[i];
        if (res->method == NULL || res->result == NULL || strcmp(res->method, "dkim") != 0)
            continue;
        if (strcmp(res->result, "pass") == 0) {
            f->dkim_pass = true;
            if (related_domains(res->domain, e->domain))
                f->dkim_pass_same = true;
        } else if (strcmp(res->result, "fail") == 0) {
            f->dkim_fail = true;
            if (f->dkim_fail_domain == NULL)
                f->dkim_fail_domain = res->domain;
        }
    }
}

static bool spf_failed(const facts *f)
{
    return f->spf != NULL && (strcmp(f->spf, "fail") == 0 || strcmp(f->spf, "softfail") == 0);
}

static bool would_block(const rollout_candidate *c, const event_record *e, const facts *f)
{
    switch (c->kind) {
    case ROLLOUT_CONFIGURED:
        return blocked_action(e->action) || blocked_action(e->held_action);
    case ROLLOUT_SPF_FAIL:
        return f->spf != NULL && strcmp(f->spf, "fail") == 0;
    case ROLLOUT_SPF_FAIL_SOFTFAIL:
        return spf_failed(f);
    case ROLLOUT_DKIM_FAIL:
        return f->dkim_fail && !f->dkim_pass;
    case ROLLOUT_SCORE:
        return e->score + 1e-9 >= c->threshold; /* as the thresholds compare */
    }
    return false;
}

/* The domain's entry, found through a hash of the names (a day of mail
 * may carry tens of thousands of failing domains), made when missing. */
static rollout_domain *domain_entry(rollout_report *r, const char *domain)
{
    if ((r->domain_count + 1) * 2 > r->domain_slot_count) {
        size_t count = r->domain_slot_count ? r->domain_slot_count * 2 : 128;
        size_t *slots = calloc(count, sizeof *slots);
        if (slots == NULL)
            return NULL;
        for (size_t i = 0; i < r->domain_count; i++) {
            size_t j = hash_text(r->domains[i].domain) & (count - 1);
            while (slots[j] != 0)
                j = (j + 1) & (count - 1);
            slots[j] = i + 1;
        }
        free(r->domain_slots);
        r->domain_slots = slots;
        r->domain_slot_count = count;
    }
    size_t mask = r->domain_slot_count - 1, j = hash_text(domain) & mask;
    for (; r->domain_slots[j] != 0; j = (j + 1) & mask) {
        rollout_domain *d = &r->domains[r->domain_slots[j] - 1];
        if (strcasecmp(d->domain, domain) == 0)
            return d;
    }
    if (r->domain_count == r->domain_capacity) {
        size_t capacity = r->domain_capacity ? r->domain_capacity * 2 : 64;
        rollout_domain *n = realloc(r->domains, capacity * sizeof *n);
        if (n == NULL)
            return NULL;
        r->domains = n;
        r->domain_capacity = capacity;
    }
    rollout_domain *d = &r->domains[r->domain_count];
    memset(d, 0, sizeof *d);
    if ((d->domain = strdup(domain)) == NULL)
        return NULL;
    r->domain_slots[j] = ++r->domain_count;
    return d;
}

void rollout_add(rollout_report *r, const event_record *e)
{
    if (e->time < r->options.since || e->time >= r->options.until) {
        r->outside++;
        return;
    }
    r->events++;
    size_t day = (size_t)((e->time - r->first_day) / DAY);
    /* Not checked (whitelists, AUTH, local) or exempt (whitelist_from):
     * no candidate policy acts on them either. */
    if (e->skip_reason != NULL) {
        r->not_checked++;
        return;
    }
    facts f;
    gather(e, &f);
    char network[IP_TEXT_MAX + 8];
    bool have_network = rollout_network(e->client_ip, network, sizeof network);
    if (f.spf != NULL && strcmp(f.spf, "temperror") == 0)
        r->temperror_per_day[day]++;
    for (size_t i = 0; i < r->candidate_count; i++) {
        rollout_candidate *c = &r->candidates[i];
        if (!would_block(c, e, &f))
            continue;
        c->messages++;
        c->per_day[day]++;
        if (spf_failed(&f) && f.dkim_pass_same)
            c->forwarded++;
        const char *domain = c->kind == ROLLOUT_DKIM_FAIL && f.dkim_fail_domain
                                 ? f.dkim_fail_domain
                                 : f.domain;
        if ((domain != NULL && !set_add(&c->domains, domain)) ||
            (have_network && !set_add(&c->networks, network)))
            r->failed = true;
    }
    if (spf_failed(&f) && f.domain != NULL) {
        rollout_domain *d = domain_entry(r, f.domain);
        if (d == NULL) {
            r->failed = true;
            return;
        }
        d->failed++;
        if (f.dkim_pass_same)
            d->dkim_pass++;
        if (have_network && !set_add(&d->networks, network))
            r->failed = true;
    }
}

static int by_failures(const void *a, const void *b)
{
    const rollout_domain *x = a, *y = b;
    if (x->failed != y->failed)
        return x->failed > y->failed ? -1 : 1;
    return strcasecmp(x->domain, y->domain);
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void rollout_finish(rollout_report *r)
{
    /* Sorting moves the entries: the index is rebuilt if more come. */
    free(r->domain_slots);
    r->domain_slots = NULL;
    r->domain_slot_count = 0;
    if (r->domain_count > 1)
        qsort(r->domains, r->domain_count, sizeof *r->domains, by_failures);
    uint64_t sorted[ROLLOUT_DAYS_MAX];
    memcpy(sorted, r->temperror_per_day, r->days * sizeof *sorted);
    qsort(sorted, r->days, sizeof *sorted, by_value);
    r->temperror_median = r->days ? sorted[(r->days - 1) / 2] : 0;
    for (size_t d = 0; d < r->days; d++) {
        uint64_t n = r->temperror_per_day[d];
        r->spike[d] = n >= r->options.spike_min &&
                      (double)n >= r->options.spike_factor * (double)r->temperror_median;
    }
}
