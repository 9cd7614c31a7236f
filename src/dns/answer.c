/* answer.c: heap-owned DNS answers (da_dns_answer_*) and the resolver
 * dispatch shared by every backend. */
#include "resolver.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* The public struct comes first so a da_dns_answer pointer is also one of
 * these; records grow in place. */
typedef struct owned_answer {
    da_dns_answer pub;
    da_dns_rr *records;
    size_t capacity;
} owned_answer;

const char *da_dns_type_name(da_dns_type type)
{
    switch (type) {
    case DA_DNS_A: return "A";
    case DA_DNS_CNAME: return "CNAME";
    case DA_DNS_SOA: return "SOA";
    case DA_DNS_PTR: return "PTR";
    case DA_DNS_MX: return "MX";
    case DA_DNS_TXT: return "TXT";
    case DA_DNS_AAAA: return "AAAA";
    case DA_DNS_SPF: return "SPF";
    }
    return "TYPE?";
}

const char *da_dns_status_name(da_dns_status status)
{
    switch (status) {
    case DA_DNS_NOERROR: return "NOERROR";
    case DA_DNS_NXDOMAIN: return "NXDOMAIN";
    case DA_DNS_SERVFAIL: return "SERVFAIL";
    case DA_DNS_TIMEOUT: return "TIMEOUT";
    }
    return "?";
}

da_dns_answer *da_dns_answer_new(da_dns_status status, uint32_t ttl)
{
    owned_answer *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->pub.status = status;
    a->pub.ttl = ttl;
    return &a->pub;
}

static da_dns_rr *answer_push(da_dns_answer *answer, da_dns_type type, uint32_t ttl)
{
    owned_answer *a = (owned_answer *)answer;
    if (a->pub.count == a->capacity) {
        size_t cap = a->capacity ? a->capacity * 2 : 4;
        da_dns_rr *r = realloc(a->records, cap * sizeof *r);
        if (r == NULL)
            return NULL;
        a->records = r;
        a->capacity = cap;
        a->pub.records = r;
    }
    da_dns_rr *rr = &a->records[a->pub.count];
    memset(rr, 0, sizeof *rr);
    rr->type = type;
    rr->ttl = ttl;
    if (a->pub.count == 0 || ttl < a->pub.ttl)
        a->pub.ttl = ttl;
    return rr;
}

int da_dns_answer_add_addr(da_dns_answer *answer, da_dns_type type, const uint8_t *addr,
                           uint32_t ttl)
{
    if (type != DA_DNS_A && type != DA_DNS_AAAA)
        return -1;
    da_dns_rr *rr = answer_push(answer, type, ttl);
    if (rr == NULL)
        return -1;
    memcpy(rr->addr, addr, type == DA_DNS_A ? 4 : 16);
    answer->count++;
    return 0;
}

int da_dns_answer_add_name(da_dns_answer *answer, da_dns_type type, uint16_t preference,
                           const char *name, uint32_t ttl)
{
    char *copy = strdup(name);
    if (copy == NULL)
        return -1;
    for (char *p = copy; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    da_dns_rr *rr = answer_push(answer, type, ttl);
    if (rr == NULL) {
        free(copy);
        return -1;
    }
    rr->preference = preference;
    rr->name = copy;
    answer->count++;
    return 0;
}

int da_dns_answer_add_text(da_dns_answer *answer, da_dns_type type, const char *text,
                           size_t len, uint32_t ttl)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    da_dns_rr *rr = answer_push(answer, type, ttl);
    if (rr == NULL) {
        free(copy);
        return -1;
    }
    rr->text = copy;
    rr->text_len = len;
    answer->count++;
    return 0;
}

da_dns_answer *da_dns_answer_copy(const da_dns_answer *src)
{
    da_dns_answer *dst = da_dns_answer_new(src->status, src->ttl);
    if (dst == NULL)
        return NULL;
    for (size_t i = 0; i < src->count; i++) {
        const da_dns_rr *rr = &src->records[i];
        int rc;
        if (rr->text != NULL)
            rc = da_dns_answer_add_text(dst, rr->type, rr->text, rr->text_len, rr->ttl);
        else if (rr->name != NULL)
            rc = da_dns_answer_add_name(dst, rr->type, rr->preference, rr->name, rr->ttl);
        else
            rc = da_dns_answer_add_addr(dst, rr->type, rr->addr, rr->ttl);
        if (rc != 0) {
            da_dns_answer_free(dst);
            return NULL;
        }
    }
    dst->ttl = src->ttl;
    return dst;
}

void da_dns_answer_free(da_dns_answer *answer)
{
    if (answer == NULL)
        return;
    owned_answer *a = (owned_answer *)answer;
    for (size_t i = 0; i < a->pub.count; i++) {
        free((char *)a->records[i].name);
        free((char *)a->records[i].text);
    }
    free(a->records);
    free(a);
}

int dns_name_normalize(const char *name, char *out, size_t out_size)
{
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len > 253 || len + 1 > out_size)
        return -1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[len] = '\0';
    return 0;
}

struct da_resolver {
    const resolver_ops *ops;
    void *impl;
};

da_resolver *resolver_wrap(const resolver_ops *ops, void *impl)
{
    da_resolver *r = malloc(sizeof *r);
    if (r == NULL) {
        ops->destroy(impl);
        return NULL;
    }
    r->ops = ops;
    r->impl = impl;
    return r;
}

int da_resolver_submit(da_resolver *resolver, const da_dns_question *question,
                       da_resolver_callback callback, void *arg)
{
    return resolver->ops->submit(resolver->impl, question, callback, arg);
}

const da_dns_answer *resolver_peek(da_resolver *resolver, const da_dns_question *question)
{
    if (resolver->ops->peek == NULL)
        return NULL;
    return resolver->ops->peek(resolver->impl, question);
}

int resolver_hold_state(da_resolver *resolver, resolver_hold *out)
{
    if (resolver->ops->hold_state == NULL)
        return -1;
    return resolver->ops->hold_state(resolver->impl, out);
}

const da_dns_answer *resolver_pin(da_resolver *resolver, const da_dns_question *question,
                                  uint64_t *expires_ms)
{
    if (resolver->ops->pin == NULL)
        return NULL;
    return resolver->ops->pin(resolver->impl, question, expires_ms);
}

int da_resolver_run(da_resolver *resolver)
{
    return resolver->ops->run(resolver->impl);
}

void da_resolver_free(da_resolver *resolver)
{
    if (resolver == NULL)
        return;
    resolver->ops->destroy(resolver->impl);
    free(resolver);
}
