/* zone.c: an in-memory zone answering questions without I/O, for tests, the
 * conformance suite, fuzzers and the offline demo. Small and linear: it is
 * not meant to hold a production-sized zone. */
#include "resolver.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/ip.h"

/* A name's items keep their order: a failure placed after a record of the
 * asked type does not hide that record (the conformance suite's rule). */
typedef struct zone_item {
    bool is_failure;
    da_dns_status failure; /* when is_failure; type 0 matches every type */
    da_dns_type type;
    uint16_t preference;
    uint8_t addr[16];
    char *name;
    char *text;
    size_t text_len;
} zone_item;

typedef struct zone_name {
    char *name;
    zone_item *items;
    size_t count, capacity;
} zone_name;

struct da_zone {
    zone_name *names;
    size_t count, capacity;
};

da_zone *da_zone_new(void)
{
    return calloc(1, sizeof(da_zone));
}

void da_zone_free(da_zone *zone)
{
    if (zone == NULL)
        return;
    for (size_t i = 0; i < zone->count; i++) {
        zone_name *n = &zone->names[i];
        for (size_t j = 0; j < n->count; j++) {
            free(n->items[j].name);
            free(n->items[j].text);
        }
        free(n->items);
        free(n->name);
    }
    free(zone->names);
    free(zone);
}

static zone_name *zone_find(const da_zone *zone, const char *normalized)
{
    for (size_t i = 0; i < zone->count; i++)
        if (strcmp(zone->names[i].name, normalized) == 0)
            return &zone->names[i];
    return NULL;
}

static zone_name *zone_get(da_zone *zone, const char *name)
{
    char norm[256];
    if (dns_name_normalize(name, norm, sizeof norm) != 0)
        return NULL;
    zone_name *n = zone_find(zone, norm);
    if (n != NULL)
        return n;
    if (zone->count == zone->capacity) {
        size_t cap = zone->capacity ? zone->capacity * 2 : 16;
        zone_name *p = realloc(zone->names, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        zone->names = p;
        zone->capacity = cap;
    }
    n = &zone->names[zone->count];
    memset(n, 0, sizeof *n);
    n->name = strdup(norm);
    if (n->name == NULL)
        return NULL;
    zone->count++;
    return n;
}

static zone_item *zone_push(zone_name *n)
{
    if (n->count == n->capacity) {
        size_t cap = n->capacity ? n->capacity * 2 : 4;
        zone_item *p = realloc(n->items, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        n->items = p;
        n->capacity = cap;
    }
    zone_item *it = &n->items[n->count++];
    memset(it, 0, sizeof *it);
    return it;
}

int da_zone_add_name(da_zone *zone, const char *name)
{
    return zone_get(zone, name) != NULL ? 0 : -1;
}

int da_zone_add(da_zone *zone, const char *name, const da_dns_rr *record)
{
    zone_name *n = zone_get(zone, name);
    if (n == NULL)
        return -1;
    zone_item *it = zone_push(n);
    if (it == NULL)
        return -1;
    it->type = record->type;
    it->preference = record->preference;
    memcpy(it->addr, record->addr, sizeof it->addr);
    if (record->name != NULL) {
        char norm[256];
        if (dns_name_normalize(record->name, norm, sizeof norm) != 0 ||
            (it->name = strdup(norm)) == NULL) {
            n->count--;
            return -1;
        }
    }
    if (record->text != NULL) {
        it->text = malloc(record->text_len + 1);
        if (it->text == NULL) {
            free(it->name);
            n->count--;
            return -1;
        }
        memcpy(it->text, record->text, record->text_len);
        it->text[record->text_len] = '\0';
        it->text_len = record->text_len;
    }
    return 0;
}

int da_zone_add_failure(da_zone *zone, const char *name, da_dns_type type,
                        da_dns_status status)
{
    zone_name *n = zone_get(zone, name);
    if (n == NULL)
        return -1;
    zone_item *it = zone_push(n);
    if (it == NULL)
        return -1;
    it->is_failure = true;
    it->failure = status;
    it->type = type;
    return 0;
}

enum { ZONE_TTL = 3600, ZONE_CNAME_HOPS = 8 };

static da_dns_answer *zone_answer_name(const zone_name *n, da_dns_type type)
{
    da_dns_answer *a = da_dns_answer_new(DA_DNS_NOERROR, ZONE_TTL);
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < n->count; i++) {
        const zone_item *it = &n->items[i];
        if (it->is_failure) {
            if ((it->type == 0 || it->type == type) && a->count == 0) {
                da_dns_answer_free(a);
                return da_dns_answer_new(it->failure, 0);
            }
            continue;
        }
        if (it->type != type)
            continue;
        int rc;
        if (type == DA_DNS_A || type == DA_DNS_AAAA)
            rc = da_dns_answer_add_addr(a, type, it->addr, ZONE_TTL);
        else if (it->text != NULL)
            rc = da_dns_answer_add_text(a, type, it->text, it->text_len, ZONE_TTL);
        else
            rc = da_dns_answer_add_name(a, type, it->preference, it->name ? it->name : "",
                                        ZONE_TTL);
        if (rc != 0) {
            da_dns_answer_free(a);
            return NULL;
        }
    }
    return a;
}

da_dns_answer *da_zone_lookup(const da_zone *zone, const da_dns_question *question)
{
    char norm[256];
    if (dns_name_normalize(question->name, norm, sizeof norm) != 0)
        return da_dns_answer_new(DA_DNS_NXDOMAIN, ZONE_TTL);
    for (int hop = 0; hop <= ZONE_CNAME_HOPS; hop++) {
        const zone_name *n = zone_find(zone, norm);
        if (n == NULL)
            return da_dns_answer_new(DA_DNS_NXDOMAIN, ZONE_TTL);
        if (question->type != DA_DNS_CNAME) {
            const zone_item *cname = NULL;
            for (size_t i = 0; i < n->count && cname == NULL; i++)
                if (!n->items[i].is_failure && n->items[i].type == DA_DNS_CNAME)
                    cname = &n->items[i];
            if (cname != NULL && cname->name != NULL) {
                snprintf(norm, sizeof norm, "%s", cname->name);
                continue;
            }
        }
        return zone_answer_name(n, question->type);
    }
    return da_dns_answer_new(DA_DNS_SERVFAIL, 0); /* CNAME loop */
}

/* ---- text form: "name TYPE data", one record a line, '#' comments ---- */

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *token_end(const char *p, const char *end)
{
    while (p < end && *p != ' ' && *p != '\t')
        p++;
    return p;
}

/* Parses "str" "str" ... (or one bare word) into concatenated text. */
static int parse_txt_data(const char *p, const char *end, char *out, size_t out_size,
                          size_t *out_len)
{
    size_t len = 0;
    p = skip_space(p, end);
    if (p < end && *p != '"') {
        const char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - p) >= out_size)
            return -1;
        memcpy(out, p, (size_t)(e - p));
        *out_len = (size_t)(e - p);
        return 0;
    }
    while (p < end) {
        if (*p != '"')
            return -1;
        p++;
        while (p < end && *p != '"') {
            char c = *p++;
            if (c == '\\' && p < end) {
                if (p + 2 < end && isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
                    isdigit((unsigned char)p[2])) {
                    c = (char)((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
                    p += 3;
                } else {
                    c = *p++;
                }
            }
            if (len + 1 >= out_size)
                return -1;
            out[len++] = c;
        }
        if (p >= end)
            return -1;
        p = skip_space(p + 1, end);
    }
    *out_len = len;
    return 0;
}

static int zone_load_line(da_zone *zone, const char *p, const char *end, char *why,
                          size_t why_size)
{
    char name[256], type[16];
    const char *e = token_end(p, end);
    if ((size_t)(e - p) >= sizeof name) {
        snprintf(why, why_size, "name longer than 255 characters");
        return -1;
    }
    memcpy(name, p, (size_t)(e - p));
    name[e - p] = '\0';
    p = skip_space(e, end);
    e = token_end(p, end);
    if (e == p || (size_t)(e - p) >= sizeof type) {
        snprintf(why, why_size, "expected a record type after the name");
        return -1;
    }
    memcpy(type, p, (size_t)(e - p));
    type[e - p] = '\0';
    p = skip_space(e, end);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    char data[4096];
    size_t data_len = (size_t)(end - p);
    if (strcasecmp(type, "TXT") != 0 && strcasecmp(type, "SPF") != 0) {
        if (data_len >= sizeof data) {
            snprintf(why, why_size, "record data too long");
            return -1;
        }
        memcpy(data, p, data_len);
        data[data_len] = '\0';
    }
    da_dns_rr rr = {0};
    if (strcasecmp(type, "A") == 0 || strcasecmp(type, "AAAA") == 0) {
        bool v6 = strcasecmp(type, "AAAA") == 0;
        rr.type = v6 ? DA_DNS_AAAA : DA_DNS_A;
        if (!(v6 ? ip_parse6(data, data_len, rr.addr) : ip_parse4(data, data_len, rr.addr))) {
            snprintf(why, why_size, "'%.64s' is not an %s address", data, type);
            return -1;
        }
    } else if (strcasecmp(type, "MX") == 0) {
        char host[256];
        unsigned pref;
        if (sscanf(data, "%u %255s", &pref, host) != 2 || pref > 65535) {
            snprintf(why, why_size, "MX data must be 'preference host'");
            return -1;
        }
        rr.type = DA_DNS_MX;
        rr.preference = (uint16_t)pref;
        return da_zone_add(zone, name, &(da_dns_rr){.type = DA_DNS_MX,
                                                     .preference = (uint16_t)pref,
                                                     .name = host});
    } else if (strcasecmp(type, "PTR") == 0 || strcasecmp(type, "CNAME") == 0) {
        if (data_len == 0) {
            snprintf(why, why_size, "%s needs a target name", type);
            return -1;
        }
        rr.type = strcasecmp(type, "PTR") == 0 ? DA_DNS_PTR : DA_DNS_CNAME;
        rr.name = data;
    } else if (strcasecmp(type, "TXT") == 0 || strcasecmp(type, "SPF") == 0) {
        rr.type = strcasecmp(type, "TXT") == 0 ? DA_DNS_TXT : DA_DNS_SPF;
        if (p >= end) {
            snprintf(why, why_size, "%s needs its data: one or more quoted strings", type);
            return -1;
        }
        if (parse_txt_data(p, end, data, sizeof data, &data_len) != 0) {
            snprintf(why, why_size, "TXT data must be quoted strings");
            return -1;
        }
        rr.text = data;
        rr.text_len = data_len;
    } else if (strcasecmp(type, "TIMEOUT") == 0 || strcasecmp(type, "SERVFAIL") == 0) {
        da_dns_type only = 0;
        static const da_dns_type known[] = {DA_DNS_A, DA_DNS_AAAA, DA_DNS_MX, DA_DNS_PTR,
                                            DA_DNS_TXT, DA_DNS_SPF, DA_DNS_CNAME};
        if (data_len > 0) {
            for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
                if (strcasecmp(data, da_dns_type_name(known[i])) == 0)
                    only = known[i];
            if (only == 0) {
                snprintf(why, why_size, "unknown record type '%.32s'", data);
                return -1;
            }
        }
        return da_zone_add_failure(zone, name, only,
                                   strcasecmp(type, "TIMEOUT") == 0 ? DA_DNS_TIMEOUT
                                                                    : DA_DNS_SERVFAIL);
    } else if (strcasecmp(type, "EXISTS") == 0) {
        return da_zone_add_name(zone, name);
    } else {
        snprintf(why, why_size, "unknown record type '%s'", type);
        return -1;
    }
    return da_zone_add(zone, name, &rr);
}

int da_zone_load_text(da_zone *zone, const char *text, size_t len, char *err,
                      size_t err_size)
{
    const char *p = text, *end = text + len;
    unsigned line = 0;
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        const char *q = skip_space(p, eol);
        const char *line_end = eol;
        if (line_end > q && line_end[-1] == '\r')
            line_end--;
        if (q < line_end && *q != '#') {
            char why[200] = "out of memory";
            if (zone_load_line(zone, q, line_end, why, sizeof why) != 0) {
                snprintf(err, err_size, "line %u: %s", line, why);
                return -1;
            }
        }
        p = eol < end ? eol + 1 : end;
    }
    return 0;
}

/* ---- the zone as a resolver: answers are queued and delivered by run ---- */

typedef struct zone_pending {
    da_dns_question question;
    char name[256];
    da_resolver_callback callback;
    void *arg;
} zone_pending;

typedef struct zone_resolver {
    const da_zone *zone;
    zone_pending *pending;
    size_t count, capacity;
} zone_resolver;

static int zone_submit(void *impl, const da_dns_question *q, da_resolver_callback cb, void *arg)
{
    zone_resolver *zr = impl;
    if (zr->count == zr->capacity) {
        size_t cap = zr->capacity ? zr->capacity * 2 : 16;
        zone_pending *p = realloc(zr->pending, cap * sizeof *p);
        if (p == NULL)
            return -1;
        zr->pending = p;
        zr->capacity = cap;
    }
    zone_pending *p = &zr->pending[zr->count++];
    snprintf(p->name, sizeof p->name, "%s", q->name);
    p->question.name = p->name;
    p->question.type = q->type;
    p->callback = cb;
    p->arg = arg;
    return 0;
}

static int zone_run(void *impl)
{
    zone_resolver *zr = impl;
    /* Callbacks may submit more questions; take the batch first. */
    while (zr->count > 0) {
        size_t n = zr->count;
        zone_pending *batch = malloc(n * sizeof *batch);
        if (batch == NULL)
            return -1;
        memcpy(batch, zr->pending, n * sizeof *batch);
        zr->count = 0;
        for (size_t i = 0; i < n; i++) {
            batch[i].question.name = batch[i].name;
            da_dns_answer *a = da_zone_lookup(zr->zone, &batch[i].question);
            da_dns_answer fallback = {.status = DA_DNS_SERVFAIL};
            batch[i].callback(batch[i].arg, &batch[i].question, a ? a : &fallback);
            da_dns_answer_free(a);
        }
        free(batch);
    }
    return 0;
}

static void zone_destroy(void *impl)
{
    zone_resolver *zr = impl;
    free(zr->pending);
    free(zr);
}

static const resolver_ops zone_resolver_ops = {
    .submit = zone_submit, .run = zone_run, .destroy = zone_destroy};

da_resolver *da_resolver_new_zone(const da_zone *zone)
{
    zone_resolver *zr = calloc(1, sizeof *zr);
    if (zr == NULL)
        return NULL;
    zr->zone = zone;
    return resolver_wrap(&zone_resolver_ops, zr);
}
