/* dmarc_report.c: DMARC aggregate reports (RFC 9990) from stored events:
 * grouping into records, the XML, gzip, the names and the mail message.
 * See dmarc_report.h; the choices are in doc/design-notes.md ("DMARC
 * aggregate reports").
 *
 * A record is kept as two pieces of finished XML (before and after its
 * count), and the pair is the record's key: every string in it has been
 * escaped already, so two rows are the same row exactly when their XML
 * is, and nothing is escaped twice or left unescaped. */
#include "report/dmarc_report.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "util/arena.h"

typedef struct row {
    char *head; /* <row><source_ip> */
    char *tail; /* <policy_evaluated> ... </auth_results> */
    uint64_t hash;
    uint64_t count;
} row;

/* The record as last seen in the period (RFC 9990 section 2.1: "the
 * final configuration observed"); each field "" when not known. */
typedef struct published {
    int64_t time;
    char p[16], sp[16], np[16], adkim[4], aspf[4], testing[4], discovery[16], fo[16];
} published;

struct dmarc_report {
    arena memory;
    char *domain, *org, *rua;
    int64_t begin, end;
    published policy;
    row *rows;
    size_t count, capacity;
    size_t *slots; /* open addressing: index + 1, 0 empty */
    size_t slot_count;
    uint64_t messages;
};

struct dmarc_report_set {
    int64_t begin, end;
    char *only;
    dmarc_report **reports; /* sorted by domain */
    size_t count, capacity;
};

/* -------------------------------------------------------------- helpers */

bool dmarc_report_domain_valid(const char *text)
{
    size_t len = text ? strlen(text) : 0, label = 0;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!(isalnum(c) || c == '-' || c == '_') || ++label > 63)
            return false;
    }
    return label > 0;
}

bool dmarc_report_host_within(const char *host, const char *org)
{
    size_t h = strlen(host), o = strlen(org);
    if (o == 0 || h < o)
        return false;
    if (strcasecmp(host + h - o, org) != 0)
        return false;
    return h == o || host[h - o - 1] == '.';
}

/* The value of the property name in a props text ("a=1 b=2"), as a
 * pointer into it and a length; NULL when absent. */
static const char *prop_find(const char *props, const char *name, size_t *len)
{
    if (props == NULL)
        return NULL;
    size_t n = strlen(name);
    for (const char *p = props; *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t w = end ? (size_t)(end - p) : strlen(p);
        if (w > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            *len = w - n - 1;
            return p + n + 1;
        }
        p += w;
    }
    return NULL;
}

/* Copies a property into out when present and shorter than out_size. */
static bool prop_copy(const char *props, const char *name, char *out, size_t out_size)
{
    size_t len;
    const char *v = prop_find(props, name, &len);
    if (v == NULL || len >= out_size)
        return false;
    memcpy(out, v, len);
    out[len] = '\0';
    return true;
}

static bool prop_is(const char *props, const char *name, const char *value)
{
    size_t len;
    const char *v = prop_find(props, name, &len);
    return v != NULL && len == strlen(value) && strncmp(v, value, len) == 0;
}

static bool one_of(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static const char *const policies[] = {"none", "quarantine", "reject", NULL};
static const char *const dkim_results[] = {"none",      "pass",      "fail", "policy", "neutral",
                                           "temperror", "permerror", NULL};
static const char *const spf_results[] = {"none",    "pass",      "fail",      "softfail",
                                          "policy",  "neutral",   "temperror", "permerror",
                                          NULL};

/* XML character data or attribute text: & < > " ' as entities, tab, LF
 * and CR as character references (kept, not normalized away), a valid
 * UTF-8 sequence of a character XML 1.0 allows as it is, and every other
 * byte (a control, a broken or overlong sequence, a surrogate, U+FFFE/F)
 * as U+FFFD: a report must stay well-formed whatever a header held. */
static void xml_escape(strbuf *sb, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned c = *p;
        if (c < 0x80) {
            switch (c) {
            case '&': strbuf_puts(sb, "&amp;"); break;
            case '<': strbuf_puts(sb, "&lt;"); break;
            case '>': strbuf_puts(sb, "&gt;"); break;
            case '"': strbuf_puts(sb, "&quot;"); break;
            case '\'': strbuf_puts(sb, "&apos;"); break;
            case '\t': strbuf_puts(sb, "&#9;"); break;
            case '\n': strbuf_puts(sb, "&#10;"); break;
            case '\r': strbuf_puts(sb, "&#13;"); break;
            default:
                if (c < 0x20 || c == 0x7f)
                    strbuf_puts(sb, "\xEF\xBF\xBD");
                else
                    strbuf_putc(sb, (char)c);
            }
            p++;
            continue;
        }
        size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
        unsigned cp = n == 4 ? c & 0x07 : n == 3 ? c & 0x0F : c & 0x1F;
        bool ok = n > 0 && c <= 0xF4;
        for (size_t i = 1; ok && i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                ok = false;
            else
                cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (ok) {
            unsigned min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
            ok = cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) &&
                 cp != 0xFFFE && cp != 0xFFFF;
        }
        if (ok) {
            strbuf_append(sb, (const char *)p, n);
            p += n;
        } else {
            strbuf_puts(sb, "\xEF\xBF\xBD");
            p++; /* resynchronize at the next byte */
        }
    }
}

static void xml_elem(strbuf *sb, int indent, const char *name, const char *value)
{
    strbuf_printf(sb, "%*s<%s>", indent, "", name);
    xml_escape(sb, value);
    strbuf_printf(sb, "</%s>\n", name);
}

static uint64_t hash_pair(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *s = a; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL; /* the split, which no text byte is */
    for (const char *s = b; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* ------------------------------------------------------------------ set */

dmarc_report_set *dmarc_report_set_new(int64_t begin, int64_t end)
{
    dmarc_report_set *set = calloc(1, sizeof *set);
    if (set != NULL) {
        set->begin = begin;
        set->end = end;
    }
    return set;
}

static void report_free(dmarc_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->rows[i].head);
        free(r->rows[i].tail);
    }
    free(r->rows);
    free(r->slots);
    arena_free(&r->memory);
    free(r);
}

void dmarc_report_set_free(dmarc_report_set *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->count; i++)
        report_free(set->reports[i]);
    free(set->reports);
    free(set->only);
    free(set);
}

void dmarc_report_set_only(dmarc_report_set *set, const char *domain)
{
    free(set->only);
    set->only = domain ? strdup(domain) : NULL;
}

size_t dmarc_report_set_count(const dmarc_report_set *set) { return set->count; }

const dmarc_report *dmarc_report_set_get(const dmarc_report_set *set, size_t i)
{
    return i < set->count ? set->reports[i] : NULL;
}

const char *dmarc_report_domain(const dmarc_report *r) { return r->domain; }
const char *dmarc_report_rua(const dmarc_report *r) { return r->rua ? r->rua : ""; }
const char *dmarc_report_org_domain(const dmarc_report *r) { return r->org ? r->org : r->domain; }
int64_t dmarc_report_begin(const dmarc_report *r) { return r->begin; }
int64_t dmarc_report_end(const dmarc_report *r) { return r->end; }
size_t dmarc_report_record_count(const dmarc_report *r) { return r->count; }
uint64_t dmarc_report_message_count(const dmarc_report *r) { return r->messages; }

uint64_t dmarc_report_record_messages(const dmarc_report *r, size_t i)
{
    return i < r->count ? r->rows[i].count : 0;
}

/* The report of a policy domain, made when new (kept sorted). */
static dmarc_report *report_for(dmarc_report_set *set, const char *domain, char *why,
                                size_t why_size)
{
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcasecmp(set->reports[mid]->domain, domain);
        if (c == 0)
            return set->reports[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (set->count >= DMARC_REPORT_DOMAINS_MAX) {
        snprintf(why, why_size, "more than %d policy domains in one period",
                 DMARC_REPORT_DOMAINS_MAX);
        return NULL;
    }
    if (set->count == set->capacity) {
        size_t cap = set->capacity ? set->capacity * 2 : 16;
        dmarc_report **grown = realloc(set->reports, cap * sizeof *grown);
        if (grown == NULL)
            goto oom;
        set->reports = grown;
        set->capacity = cap;
    }
    dmarc_report *r = calloc(1, sizeof *r);
    if (r == NULL)
        goto oom;
    arena_init(&r->memory);
    r->domain = arena_strdup(&r->memory, domain);
    if (r->domain == NULL) {
        report_free(r);
        goto oom;
    }
    for (char *c = r->domain; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    r->begin = set->begin;
    r->end = set->end;
    r->policy.time = INT64_MIN;
    memmove(set->reports + lo + 1, set->reports + lo, (set->count - lo) * sizeof *set->reports);
    set->reports[lo] = r;
    set->count++;
    return r;
oom:
    snprintf(why, why_size, "out of memory");
    return NULL;
}

/* Counts the row (head, tail) in r, taking ownership of both strings. */
static int row_add(dmarc_report *r, char *head, char *tail, char *why, size_t why_size)
{
    uint64_t h = hash_pair(head, tail);
    if (r->slot_count > 0) {
        for (size_t i = h % r->slot_count;; i = (i + 1) % r->slot_count) {
            size_t s = r->slots[i];
            if (s == 0)
                break;
            row *w = &r->rows[s - 1];
            if (w->hash == h && strcmp(w->head, head) == 0 && strcmp(w->tail, tail) == 0) {
                w->count++;
                r->messages++;
                free(head);
                free(tail);
                return 0;
            }
        }
    }
    if (r->count >= DMARC_REPORT_RECORDS_MAX) {
        snprintf(why, why_size, "more than %d distinct records for %s", DMARC_REPORT_RECORDS_MAX,
                 r->domain);
        goto fail;
    }
    if (r->count == r->capacity) {
        size_t cap = r->capacity ? r->capacity * 2 : 16;
        row *grown = realloc(r->rows, cap * sizeof *grown);
        if (grown == NULL)
            goto oom;
        r->rows = grown;
        r->capacity = cap;
    }
    /* The table at most half full: rebuilt twice as large. */
    if ((r->count + 1) * 2 > r->slot_count) {
        size_t n = r->slot_count ? r->slot_count * 2 : 64;
        size_t *slots = calloc(n, sizeof *slots);
        if (slots == NULL)
            goto oom;
        for (size_t k = 0; k < r->count; k++) {
            size_t i = r->rows[k].hash % n;
            while (slots[i] != 0)
                i = (i + 1) % n;
            slots[i] = k + 1;
        }
        free(r->slots);
        r->slots = slots;
        r->slot_count = n;
    }
    size_t i = h % r->slot_count;
    while (r->slots[i] != 0)
        i = (i + 1) % r->slot_count;
    r->rows[r->count] = (row){head, tail, h, 1};
    r->slots[i] = ++r->count;
    r->messages++;
    return 0;
oom:
    snprintf(why, why_size, "out of memory");
fail:
    free(head);
    free(tail);
    return -1;
}

/* "none", "quarantine" or "reject": what was done to the message. */
static const char *done_disposition(const event_record *ev)
{
    if (ev->action != NULL && strcmp(ev->action, "reject") == 0)
        return "reject";
    if (ev->action != NULL && strcmp(ev->action, "quarantine") == 0)
        return "quarantine";
    return "none";
}

typedef struct dkim_ref {
    const event_result *entry;
    int rank;
} dkim_ref;

static int dkim_rank_cmp(const void *a, const void *b)
{
    const dkim_ref *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->entry < y->entry ? -1 : x->entry > y->entry;
}

/* The record of one DMARC entry: (head, tail) in *head and *tail. */
static int build_row(const event_record *ev, const event_result *d, const char *org,
                     const char *requested, char **head, char **tail)
{
    strbuf h, t;
    strbuf_init(&h);
    strbuf_init(&t);
    strbuf_puts(&h, "    <row>\n");
    xml_elem(&h, 6, "source_ip", ev->client_ip);

    bool pass = strcmp(d->result, "pass") == 0;
    const char *done = done_disposition(ev);
    const char *disposition = done;
    if (pass && strcmp(done, "none") == 0)
        disposition = strcmp(requested, "none") != 0 ? "pass" : "none";
    /* A reason when what was done is not what the result asked for. */
    bool differs = pass ? strcmp(done, "none") != 0 : strcmp(done, requested) != 0;
    strbuf_puts(&t, "      <policy_evaluated>\n");
    xml_elem(&t, 8, "disposition", disposition);
    xml_elem(&t, 8, "dkim", prop_is(d->props, "dmarc.align.dkim", "pass") ? "pass" : "fail");
    xml_elem(&t, 8, "spf", prop_is(d->props, "dmarc.align.spf", "pass") ? "pass" : "fail");
    if (differs) {
        const char *type = "local_policy";
        char comment[200] = "";
        char pct[8] = "";
        if (prop_is(d->props, "override", "trusted_forwarder")) {
            type = "trusted_forwarder";
            snprintf(comment, sizeof comment, "a trusted ARC sealer vouched for the message");
        } else if (!pass && prop_is(d->props, "dmarc.softened", "testing")) {
            type = "policy_test_mode";
        } else if (!pass && prop_is(d->props, "dmarc.softened", "sampled")) {
            type = "other";
            prop_copy(d->props, "dmarc.pct", pct, sizeof pct);
            snprintf(comment, sizeof comment, "sampled out by pct=%s (RFC 7489)", pct);
        } else if (ev->held_action != NULL && strcmp(done, "none") == 0) {
            snprintf(comment, sizeof comment, "monitor mode: %.40s held back", ev->held_action);
        } else {
            snprintf(comment, sizeof comment, "local action: %.40s",
                     ev->action ? ev->action : "accept");
        }
        strbuf_puts(&t, "        <reason>\n");
        xml_elem(&t, 10, "type", type);
        if (comment[0])
            xml_elem(&t, 10, "comment", comment);
        strbuf_puts(&t, "        </reason>\n");
    }
    strbuf_puts(&t, "      </policy_evaluated>\n    </row>\n    <identifiers>\n");
    xml_elem(&t, 6, "header_from", d->domain);
    if (ev->mail_from != NULL) {
        const char *at = strrchr(ev->mail_from, '@');
        if (ev->mail_from[0] == '\0')
            xml_elem(&t, 6, "envelope_from", "");
        else if (at != NULL)
            xml_elem(&t, 6, "envelope_from", at + 1);
    }
    strbuf_puts(&t, "    </identifiers>\n    <auth_results>\n");

    /* DKIM signatures in RFC 9990 section 2.1.4's order of preference. */
    dkim_ref refs[EVENT_RESULTS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < ev->result_count && n < EVENT_RESULTS_MAX; i++) {
        const event_result *e = &ev->results[i];
        if (strcmp(e->method, "dkim") != 0 || e->domain == NULL || e->result == NULL ||
            !one_of(e->result, dkim_results))
            continue;
        bool ok = strcmp(e->result, "pass") == 0;
        int rank = !ok                                        ? 3
                   : strcasecmp(e->domain, d->domain) == 0    ? 0
                   : org && dmarc_report_host_within(e->domain, org) ? 1
                                                              : 2;
        refs[n++] = (dkim_ref){e, rank};
    }
    qsort(refs, n, sizeof *refs, dkim_rank_cmp);
    for (size_t i = 0; i < n && i < DMARC_REPORT_DKIM_MAX; i++) {
        strbuf_puts(&t, "      <dkim>\n");
        xml_elem(&t, 8, "domain", refs[i].entry->domain);
        xml_elem(&t, 8, "selector", refs[i].entry->detail ? refs[i].entry->detail : "");
        xml_elem(&t, 8, "result", refs[i].entry->result);
        strbuf_puts(&t, "      </dkim>\n");
    }
    /* SPF of the MAIL FROM identity only (the HELO's stands in for a null
     * sender, RFC 7208 section 2.4); not when SPF checked From:. */
    for (size_t i = 0; i < ev->result_count; i++) {
        const event_result *e = &ev->results[i];
        if (strcmp(e->method, "spf") != 0)
            continue;
        size_t len;
        bool mfrom = prop_find(e->props, "smtp.mailfrom", &len) != NULL ||
                     (prop_find(e->props, "smtp.helo", &len) != NULL && ev->mail_from &&
                      ev->mail_from[0] == '\0');
        if (mfrom && e->domain != NULL && one_of(e->result, spf_results)) {
            strbuf_puts(&t, "      <spf>\n");
            xml_elem(&t, 8, "domain", e->domain);
            xml_elem(&t, 8, "scope", "mfrom");
            xml_elem(&t, 8, "result", e->result);
            strbuf_puts(&t, "      </spf>\n");
        }
        break;
    }
    strbuf_puts(&t, "    </auth_results>\n");
    *head = strbuf_take(&h);
    *tail = strbuf_take(&t);
    strbuf_free(&h);
    strbuf_free(&t);
    if (*head == NULL || *tail == NULL) {
        free(*head);
        free(*tail);
        return -1;
    }
    return 0;
}

/* Keeps the record of the newest event as the report's policy_published. */
static int note_policy(dmarc_report *r, const event_record *ev, const event_result *d)
{
    if (ev->time < r->policy.time)
        return 0;
    published p = {.time = ev->time};
    if (!prop_copy(d->props, "dmarc.p", p.p, sizeof p.p) || !one_of(p.p, policies))
        return -1;
    if (!prop_copy(d->props, "dmarc.sp", p.sp, sizeof p.sp) || !one_of(p.sp, policies))
        p.sp[0] = '\0';
    if (!prop_copy(d->props, "dmarc.np", p.np, sizeof p.np) || !one_of(p.np, policies))
        p.np[0] = '\0';
    static const char *const rs[] = {"r", "s", NULL}, *const yn[] = {"y", "n", NULL},
                             *const disc[] = {"psl", "treewalk", NULL};
    if (!prop_copy(d->props, "dmarc.adkim", p.adkim, sizeof p.adkim) || !one_of(p.adkim, rs))
        p.adkim[0] = '\0';
    if (!prop_copy(d->props, "dmarc.aspf", p.aspf, sizeof p.aspf) || !one_of(p.aspf, rs))
        p.aspf[0] = '\0';
    if (!prop_copy(d->props, "dmarc.t", p.testing, sizeof p.testing) || !one_of(p.testing, yn))
        p.testing[0] = '\0';
    if (!prop_copy(d->props, "dmarc.discovery", p.discovery, sizeof p.discovery) ||
        !one_of(p.discovery, disc))
        p.discovery[0] = '\0';
    if (!prop_copy(d->props, "dmarc.fo", p.fo, sizeof p.fo))
        p.fo[0] = '\0';
    size_t len;
    const char *rua = prop_find(d->props, "dmarc.rua", &len);
    char *copy = arena_strndup(&r->memory, rua ? rua : "", rua ? len : 0);
    char org[256];
    char *org_copy = prop_copy(d->props, "dmarc.org", org, sizeof org) &&
                             dmarc_report_domain_valid(org)
                         ? arena_strdup(&r->memory, org)
                         : NULL;
    if (copy == NULL)
        return -1;
    r->rua = copy;
    if (org_copy != NULL)
        r->org = org_copy;
    r->policy = p;
    return 0;
}

int dmarc_report_set_add(dmarc_report_set *set, const event_record *ev, uint64_t *skipped,
                         char *why, size_t why_size)
{
    uint64_t skip = 0;
    int status = 0;
    if (ev->time < set->begin || ev->time >= set->end) {
        skip++;
        goto out;
    }
    for (size_t i = 0; i < ev->result_count; i++) {
        const event_result *d = &ev->results[i];
        if (d->method == NULL || strcmp(d->method, "dmarc") != 0)
            continue;
        /* A report is about a policy: pass or fail against a record. */
        if (d->result == NULL || (strcmp(d->result, "pass") != 0 && strcmp(d->result, "fail") != 0))
            continue;
        if (d->detail == NULL || !dmarc_report_domain_valid(d->detail) || d->domain == NULL ||
            ev->client_ip == NULL || ev->client_ip[0] == '\0') {
            skip++;
            continue;
        }
        if (set->only != NULL && strcasecmp(set->only, d->detail) != 0)
            continue;
        /* The policy the From domain's record asks for (p, sp or np). */
        char tag[4] = "p", name[16], requested[16];
        prop_copy(d->props, "dmarc.policy", tag, sizeof tag);
        snprintf(name, sizeof name, "dmarc.%s", tag);
        if (!prop_copy(d->props, name, requested, sizeof requested) ||
            !one_of(requested, policies)) {
            skip++; /* stored before the report data was kept */
            continue;
        }
        dmarc_report *r = report_for(set, d->detail, why, why_size);
        if (r == NULL) {
            status = -1;
            goto out;
        }
        if (note_policy(r, ev, d) != 0) {
            skip++;
            continue;
        }
        char *head, *tail;
        if (build_row(ev, d, r->org ? r->org : r->domain, requested, &head, &tail) != 0) {
            snprintf(why, why_size, "out of memory");
            status = -1;
            goto out;
        }
        if (row_add(r, head, tail, why, why_size) != 0) {
            status = -1;
            goto out;
        }
    }
out:
    if (skipped != NULL)
        *skipped += skip;
    return status;
}

/* ---------------------------------------------------------------- names */

static int meta_check(const dmarc_report_meta *meta, char *why, size_t why_size)
{
    if (meta->receiver == NULL || !dmarc_report_domain_valid(meta->receiver)) {
        snprintf(why, why_size, "the reporting domain '%.80s' is not a domain name",
                 meta->receiver ? meta->receiver : "");
        return -1;
    }
    if (meta->org_name == NULL || meta->org_name[0] == '\0' || meta->email == NULL ||
        strchr(meta->email, '@') == NULL) {
        snprintf(why, why_size, "a report needs an organization name and a contact address");
        return -1;
    }
    return 0;
}

int dmarc_report_id(const dmarc_report *r, const dmarc_report_meta *meta, char *out,
                    size_t out_size)
{
    int n = snprintf(out, out_size, "%s.%lld.%lld@%s", r->domain, (long long)r->begin,
                     (long long)(r->end - 1), meta->receiver ? meta->receiver : "");
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

int dmarc_report_filename(const dmarc_report *r, const dmarc_report_meta *meta, char *out,
                          size_t out_size)
{
    int n = snprintf(out, out_size, "%s!%s!%lld!%lld.xml.gz",
                     meta->receiver ? meta->receiver : "", r->domain, (long long)r->begin,
                     (long long)(r->end - 1));
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

int dmarc_report_subject(const dmarc_report *r, const dmarc_report_meta *meta, char *out,
                         size_t out_size)
{
    char id[600];
    if (dmarc_report_id(r, meta, id, sizeof id) != 0)
        return -1;
    int n = snprintf(out, out_size, "Report Domain: %s\n Submitter: %s\n Report-ID: <%s>",
                     r->domain, meta->receiver, id);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

/* ------------------------------------------------------------------ XML */

int dmarc_report_xml(const dmarc_report *r, const dmarc_report_meta *meta, strbuf *out,
                     char *why, size_t why_size)
{
    if (meta_check(meta, why, why_size) != 0)
        return -1;
    if (r->count == 0 || r->policy.p[0] == '\0') {
        snprintf(why, why_size, "no records for %s", r->domain); /* the RFC needs one */
        return -1;
    }
    char id[600], num[32];
    if (dmarc_report_id(r, meta, id, sizeof id) != 0) {
        snprintf(why, why_size, "the Report-ID is too long");
        return -1;
    }
    size_t start = out->len;
    strbuf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">\n"
                     "  <version>1.0</version>\n  <report_metadata>\n");
    xml_elem(out, 4, "org_name", meta->org_name);
    xml_elem(out, 4, "email", meta->email);
    if (meta->extra_contact != NULL && meta->extra_contact[0])
        xml_elem(out, 4, "extra_contact_info", meta->extra_contact);
    xml_elem(out, 4, "report_id", id);
    strbuf_puts(out, "    <date_range>\n");
    snprintf(num, sizeof num, "%lld", (long long)r->begin);
    xml_elem(out, 6, "begin", num);
    snprintf(num, sizeof num, "%lld", (long long)(r->end - 1));
    xml_elem(out, 6, "end", num);
    strbuf_puts(out, "    </date_range>\n");
    if (meta->generator != NULL && meta->generator[0])
        xml_elem(out, 4, "generator", meta->generator);
    strbuf_puts(out, "  </report_metadata>\n  <policy_published>\n");
    const published *p = &r->policy;
    xml_elem(out, 4, "domain", r->domain);
    if (p->discovery[0])
        xml_elem(out, 4, "discovery_method", p->discovery);
    xml_elem(out, 4, "p", p->p);
    if (p->sp[0])
        xml_elem(out, 4, "sp", p->sp);
    if (p->np[0])
        xml_elem(out, 4, "np", p->np);
    if (p->fo[0])
        xml_elem(out, 4, "fo", p->fo);
    if (p->adkim[0])
        xml_elem(out, 4, "adkim", p->adkim);
    if (p->aspf[0])
        xml_elem(out, 4, "aspf", p->aspf);
    if (p->testing[0])
        xml_elem(out, 4, "testing", p->testing);
    strbuf_puts(out, "  </policy_published>\n");
    for (size_t i = 0; i < r->count; i++) {
        strbuf_puts(out, "  <record>\n");
        strbuf_puts(out, r->rows[i].head);
        strbuf_printf(out, "      <count>%llu</count>\n", (unsigned long long)r->rows[i].count);
        strbuf_puts(out, r->rows[i].tail);
        strbuf_puts(out, "  </record>\n");
        if (out->len - start > DMARC_REPORT_XML_MAX)
            break;
    }
    strbuf_puts(out, "</feedback>\n");
    if (out->failed) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    if (out->len - start > DMARC_REPORT_XML_MAX) {
        snprintf(why, why_size, "the report for %s is over %d bytes (%zu records)", r->domain,
                 DMARC_REPORT_XML_MAX, r->count);
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------------- gzip */

int dmarc_report_gzip(const char *data, size_t len, unsigned char **out, size_t *out_len,
                      char *why, size_t why_size)
{
    *out = NULL;
    *out_len = 0;
    if (len > (size_t)DMARC_REPORT_XML_MAX) {
        snprintf(why, why_size, "input over %d bytes", DMARC_REPORT_XML_MAX);
        return -1;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip header and trailer (RFC 1952). */
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        snprintf(why, why_size, "zlib: %s", z.msg ? z.msg : "cannot start");
        return -1;
    }
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        deflateEnd(&z);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    if (rc != Z_STREAM_END) {
        snprintf(why, why_size, "zlib: %s", z.msg ? z.msg : "deflate did not finish");
        deflateEnd(&z);
        free(buf);
        return -1;
    }
    *out_len = z.total_out;
    deflateEnd(&z);
    *out = buf;
    return 0;
}

/* ----------------------------------------------------------------- mail */

static void base64_lines(strbuf *sb, const unsigned char *p, size_t n)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {digits[(v >> 18) & 63], digits[(v >> 12) & 63],
                     i + 1 < n ? digits[(v >> 6) & 63] : '=', i + 2 < n ? digits[v & 63] : '='};
        strbuf_append(sb, q, 4);
        if ((col += 4) == 76) {
            strbuf_putc(sb, '\n');
            col = 0;
        }
    }
    if (col)
        strbuf_putc(sb, '\n');
}

/* An address fit for a header field as it is: printable ASCII, no
 * specials that would end or split the field. */
static bool header_address_ok(const char *a)
{
    if (a == NULL || strchr(a, '@') == NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("<>,;:\"()[]\\", *p))
            return false;
    return true;
}

int dmarc_report_mail(const dmarc_report *r, const dmarc_report_meta *meta, const char *to,
                      const unsigned char *gz, size_t gz_len, int64_t date, strbuf *out,
                      char *why, size_t why_size)
{
    if (meta_check(meta, why, why_size) != 0)
        return -1;
    if (!header_address_ok(meta->email) || !header_address_ok(to)) {
        snprintf(why, why_size, "an address is not fit for a header field");
        return -1;
    }
    char subject[1200], file[700], id[600], when[64];
    if (dmarc_report_subject(r, meta, subject, sizeof subject) != 0 ||
        dmarc_report_filename(r, meta, file, sizeof file) != 0 ||
        dmarc_report_id(r, meta, id, sizeof id) != 0) {
        snprintf(why, why_size, "a name is too long");
        return -1;
    }
    time_t t = (time_t)date;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    char begin[32], end[32];
    time_t b = (time_t)r->begin, e = (time_t)(r->end - 1);
    struct tm tb, te;
    gmtime_r(&b, &tb);
    gmtime_r(&e, &te);
    strftime(begin, sizeof begin, "%Y-%m-%d %H:%M:%S", &tb);
    strftime(end, sizeof end, "%Y-%m-%d %H:%M:%S", &te);
    /* A boundary no base64 line or text line here can hold. */
    char boundary[96];
    snprintf(boundary, sizeof boundary, "=_dmarc_report_%lld_%llu", (long long)r->begin,
             (unsigned long long)(hash_pair(r->domain, meta->receiver) & 0xffffffffu));
    strbuf_printf(out,
                  "From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: <%s>\n"
                  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"%s\"\n\n"
                  "This is a MIME message.\n\n--%s\n"
                  "Content-Type: text/plain; charset=us-ascii\n\n"
                  "DMARC aggregate report (RFC 9990) for %s from %s,\n"
                  "%s to %s UTC: %llu messages in %zu records.\n\n--%s\n"
                  "Content-Type: application/gzip; name=\"%s\"\n"
                  "Content-Disposition: attachment; filename=\"%s\"\n"
                  "Content-Transfer-Encoding: base64\n\n",
                  meta->email, to, subject, when, id, boundary, boundary, r->domain,
                  meta->receiver, begin, end, (unsigned long long)r->messages, r->count,
                  boundary, file, file);
    base64_lines(out, gz, gz_len);
    strbuf_printf(out, "\n--%s--\n", boundary);
    if (out->failed) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------------- URIs */

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One URI (trimmed) into *u; false when malformed, with why. */
static bool rua_one(const char *s, size_t n, dmarc_rua *u, char *why, size_t why_size)
{
    memset(u, 0, sizeof *u);
    if (n > DMARC_RUA_ADDRESS_MAX) {
        snprintf(why, why_size, "a URI over %d bytes", DMARC_RUA_ADDRESS_MAX);
        return false;
    }
    memcpy(u->uri, s, n);
    u->uri[n] = '\0';
    /* RFC 7489's size limit: "!" digits and an optional unit, last. */
    const char *bang = memchr(s, '!', n);
    if (bang != NULL) {
        const char *q = bang + 1, *end = s + n;
        uint64_t v = 0;
        bool digits = false, ok = true;
        size_t ndigits = 0;
        while (q < end && isdigit((unsigned char)*q) && ndigits++ < 12) {
            v = v * 10 + (uint64_t)(*q++ - '0');
            digits = true;
        }
        if (q < end) {
            switch (tolower((unsigned char)*q++)) {
            case 'k': v <<= 10; break;
            case 'm': v <<= 20; break;
            case 'g': v <<= 30; break;
            case 't': v <<= 40; break;
            default: ok = false;
            }
        }
        if (!digits || !ok || q != end) {
            snprintf(why, why_size, "'%.100s': a bad size limit", u->uri);
            return false;
        }
        u->max_size = v;
        n = (size_t)(bang - s);
    }
    if (n < 7 || strncasecmp(s, "mailto:", 7) != 0)
        return true; /* another scheme: the caller says it skips it */
    size_t a = 0;
    for (size_t i = 7; i < n && s[i] != '?'; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(why, why_size, "'%.100s': a bad %%-escape", u->uri);
                return false;
            }
            c = hi * 16 + lo;
            i += 2;
        }
        if (c <= 0x20 || c >= 0x7f || strchr("<>,;:\"()[]\\", c)) {
            snprintf(why, why_size, "'%.100s': a character an address cannot hold", u->uri);
            return false;
        }
        u->address[a++] = (char)c;
    }
    u->address[a] = '\0';
    const char *at = strrchr(u->address, '@');
    if (at == NULL || at == u->address || strchr(u->address, '@') != at ||
        !dmarc_report_domain_valid(at + 1) || strlen(at + 1) >= sizeof u->host) {
        snprintf(why, why_size, "'%.100s': not a mailbox local@domain", u->uri);
        return false;
    }
    for (size_t i = 0; at[1 + i]; i++)
        u->host[i] = (char)tolower((unsigned char)at[1 + i]);
    u->mailto = true;
    return true;
}

int dmarc_rua_parse(const char *list, dmarc_rua *out, size_t max, size_t *count, char *why,
                    size_t why_size)
{
    *count = 0;
    if (why_size)
        why[0] = '\0';
    int status = 0;
    for (const char *p = list ? list : ""; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        size_t b = 0;
        while (b < n && (p[b] == ' ' || p[b] == '\t'))
            b++;
        while (n > b && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > b) {
            char local[200];
            if (*count >= max) {
                status = -1;
                snprintf(why, why_size, "more than %zu report URIs; the rest are ignored", max);
                break;
            }
            if (rua_one(p + b, n - b, &out[*count], local, sizeof local))
                (*count)++;
            else if (why_size && why[0] == '\0')
                snprintf(why, why_size, "%s", local);
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return status;
}

bool dmarc_report_authorization(const char *text, size_t len, char *override,
                                size_t override_size)
{
    if (override_size)
        override[0] = '\0';
    /* Tags split at ';', blanks around names and values allowed. */
    size_t i = 0;
    bool first = true, authorized = false;
    while (i <= len) {
        size_t j = i;
        while (j < len && text[j] != ';')
            j++;
        size_t a = i, b = j;
        while (a < b && (text[a] == ' ' || text[a] == '\t'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t'))
            b--;
        const char *eq = memchr(text + a, '=', b - a);
        if (eq == NULL) {
            if (first || b > a)
                return first ? false : authorized; /* a tag without '=' ends the list */
        } else {
            size_t ne = (size_t)(eq - text);
            while (ne > a && (text[ne - 1] == ' ' || text[ne - 1] == '\t'))
                ne--;
            size_t vs = (size_t)(eq - text) + 1;
            while (vs < b && (text[vs] == ' ' || text[vs] == '\t'))
                vs++;
            if (first) {
                if (!(ne - a == 1 && text[a] == 'v' && b - vs == 6 &&
                      strncmp(text + vs, "DMARC1", 6) == 0))
                    return false;
                authorized = true;
            } else if (ne - a == 3 && strncmp(text + a, "rua", 3) == 0 && override_size) {
                size_t k = vs;
                while (k < b && text[k] != ',')
                    k++;
                if (k - vs >= override_size)
                    return false; /* an override this code cannot hold: not authorized */
                memcpy(override, text + vs, k - vs);
                override[k - vs] = '\0';
            }
        }
        first = false;
        i = j + 1;
    }
    return authorized;
}
