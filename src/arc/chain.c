/* chain.c: the ARC sets of a header block (RFC 8617 sections 4.1, 4.2 and
 * 5.2 steps 1-3): finding the three ARC fields of each instance, checking
 * that the sets are complete and contiguous, parsing ARC-Seal and the
 * leading i= of ARC-Authentication-Results, and the seal's hash. Tag lists,
 * base64 and canonicalization are the DKIM engine's. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arc_internal.h"

enum { KIND_AAR, KIND_AMS, KIND_AS, KIND_OTHER };

static int field_kind(const dkim_message *m, const dkim_field *f)
{
    if (dkim_field_is(m, f, "ARC-Authentication-Results", 26))
        return KIND_AAR;
    if (dkim_field_is(m, f, "ARC-Message-Signature", 21))
        return KIND_AMS;
    if (dkim_field_is(m, f, "ARC-Seal", 8))
        return KIND_AS;
    return KIND_OTHER;
}

bool arc_field_is_arc(const dkim_message *m, const dkim_field *f)
{
    return field_kind(m, f) != KIND_OTHER;
}

static bool is_fws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int arc_aar_parse(const char *value, size_t len, unsigned *instance, size_t *payload_offset)
{
    size_t p = 0;
    while (p < len && is_fws(value[p]))
        p++;
    if (p >= len || (value[p] != 'i' && value[p] != 'I'))
        return -1;
    p++;
    while (p < len && is_fws(value[p]))
        p++;
    if (p >= len || value[p] != '=')
        return -1;
    p++;
    while (p < len && is_fws(value[p]))
        p++;
    size_t start = p;
    while (p < len && value[p] >= '0' && value[p] <= '9')
        p++;
    if (dkim_parse_instance(value + start, p - start, DA_ARC_MAX_INSTANCE, instance) != 0)
        return -1;
    while (p < len && is_fws(value[p]))
        p++;
    if (p >= len || value[p] != ';')
        return -1;
    *payload_offset = p + 1;
    return 0;
}

int arc_field_instance(const dkim_message *m, const dkim_field *f, unsigned *instance)
{
    const char *field = m->header.data + f->start;
    if (f->value_offset > f->len)
        return -1;
    const char *value = field + f->value_offset;
    size_t len = f->len - f->value_offset;
    int kind = field_kind(m, f);
    if (kind == KIND_AAR) {
        size_t payload;
        return arc_aar_parse(value, len, instance, &payload);
    }
    if (kind == KIND_OTHER)
        return -1;
    dkim_tag_list tags;
    char why[160];
    if (dkim_tags_parse(value, len, &tags, why, sizeof why) != 0)
        return -1;
    const dkim_tag *i = dkim_tags_find(&tags, "i");
    if (i == NULL)
        return -1;
    return dkim_parse_instance(i->value, i->value_len, DA_ARC_MAX_INSTANCE, instance);
}

static int chain_error(char *err, size_t err_size, const char *name, size_t field_index,
                       const char *why)
{
    snprintf(err, err_size, "%s (header field %zu): %s", name, field_index + 1, why);
    return -1;
}

int arc_chain_collect(const dkim_message *m, arc_chain *chain, char *err, size_t err_size)
{
    static const char *const names[] = {"ARC-Authentication-Results", "ARC-Message-Signature",
                                        "ARC-Seal"};
    memset(chain, 0, sizeof *chain);
    for (unsigned i = 0; i <= DA_ARC_MAX_INSTANCE; i++)
        chain->sets[i] = (arc_set){SIZE_MAX, SIZE_MAX, SIZE_MAX};
    int result = 0;
    for (size_t k = 0; k < m->field_count; k++) {
        const dkim_field *f = &m->fields[k];
        int kind = field_kind(m, f);
        if (kind == KIND_OTHER)
            continue;
        chain->any = true;
        unsigned instance;
        if (arc_field_instance(m, f, &instance) != 0) {
            if (result == 0)
                result = chain_error(err, err_size, names[kind], k,
                                     "no valid i= (an instance from 1 to 50)");
            continue;
        }
        if (instance > chain->max_instance)
            chain->max_instance = instance;
        size_t *slot = kind == KIND_AAR   ? &chain->sets[instance].aar
                       : kind == KIND_AMS ? &chain->sets[instance].ams
                                          : &chain->sets[instance].as;
        if (*slot != SIZE_MAX && result == 0) {
            char why[64];
            snprintf(why, sizeof why, "a second field for instance %u", instance);
            result = chain_error(err, err_size, names[kind], k, why);
        }
        *slot = k;
    }
    if (result != 0 || !chain->any)
        return result;
    for (unsigned i = 1; i <= chain->max_instance; i++) {
        const arc_set *s = &chain->sets[i];
        if (s->aar == SIZE_MAX || s->ams == SIZE_MAX || s->as == SIZE_MAX) {
            bool empty = s->aar == SIZE_MAX && s->ams == SIZE_MAX && s->as == SIZE_MAX;
            snprintf(err, err_size,
                     empty ? "the ARC sets are not contiguous: instance %u is missing"
                           : "the ARC set of instance %u is incomplete (it needs an "
                             "ARC-Authentication-Results, an ARC-Message-Signature and an "
                             "ARC-Seal)",
                     i);
            return -1;
        }
    }
    chain->count = chain->max_instance;
    return 0;
}

/* ------------------------------------------------------------- ARC-Seal */

static int seal_error(char *err, size_t err_size, const char *why)
{
    snprintf(err, err_size, "%s", why);
    return -1;
}

static bool value_is(const dkim_tag *t, const char *s)
{
    size_t n = strlen(s);
    return t->value_len == n && memcmp(t->value, s, n) == 0;
}

static int parse_timestamp(const dkim_tag *t, int64_t *out)
{
    if (t->value_len == 0 || t->value_len > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < t->value_len; i++) {
        if (t->value[i] < '0' || t->value[i] > '9')
            return -1;
        v = v * 10 + (t->value[i] - '0');
    }
    *out = v;
    return 0;
}

int arc_seal_parse(const char *field, size_t len, size_t value_offset, arc_seal_sig *out,
                   char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    out->timestamp = -1;
    if (value_offset > len)
        return seal_error(err, err_size, "the field has no value");
    dkim_tag_list tags;
    char why[160];
    if (dkim_tags_parse(field + value_offset, len - value_offset, &tags, why, sizeof why) != 0) {
        snprintf(err, err_size, "malformed tag list: %s", why);
        return -1;
    }
    const dkim_tag *i = dkim_tags_find(&tags, "i"), *a = dkim_tags_find(&tags, "a"),
                   *b = dkim_tags_find(&tags, "b"), *cv = dkim_tags_find(&tags, "cv"),
                   *d = dkim_tags_find(&tags, "d"), *s = dkim_tags_find(&tags, "s"),
                   *t = dkim_tags_find(&tags, "t");
    if (d != NULL)
        dkim_printable_copy(out->domain, sizeof out->domain, d->value, d->value_len);
    if (s != NULL)
        dkim_printable_copy(out->selector, sizeof out->selector, s->value, s->value_len);
    if (a != NULL)
        dkim_printable_copy(out->algorithm_text, sizeof out->algorithm_text, a->value,
                            a->value_len);
    if (i == NULL || a == NULL || b == NULL || cv == NULL || d == NULL || s == NULL)
        return seal_error(err, err_size, "a required tag (i=, a=, b=, cv=, d= or s=) is missing");
    if (dkim_tags_find(&tags, "h") != NULL)
        return seal_error(err, err_size, "h= is not allowed in an ARC-Seal");
    if (dkim_parse_instance(i->value, i->value_len, DA_ARC_MAX_INSTANCE, &out->instance) != 0)
        return seal_error(err, err_size, "i= is not an instance from 1 to 50");
    if (value_is(a, "rsa-sha256"))
        out->algorithm = DA_DKIM_RSA_SHA256;
    else if (value_is(a, "ed25519-sha256"))
        out->algorithm = DA_DKIM_ED25519_SHA256;
    else
        return seal_error(err, err_size, "unsupported algorithm a= (rsa-sha256 or ed25519-sha256)");
    if (value_is(cv, "none"))
        out->cv = DA_ARC_NONE;
    else if (value_is(cv, "pass"))
        out->cv = DA_ARC_PASS;
    else if (value_is(cv, "fail"))
        out->cv = DA_ARC_FAIL;
    else
        return seal_error(err, err_size, "cv= is not none, pass or fail");
    if (!dkim_domain_is_valid(d->value, d->value_len))
        return seal_error(err, err_size, "d= is not a domain name");
    if (!dkim_domain_is_valid(s->value, s->value_len))
        return seal_error(err, err_size, "s= is not a valid selector");
    int n = snprintf(out->query_name, sizeof out->query_name, "%s._domainkey.%s", out->selector,
                     out->domain);
    if (n < 0 || (size_t)n > 253)
        return seal_error(err, err_size, "s=._domainkey.d= is longer than a domain name may be");
    if (t != NULL && parse_timestamp(t, &out->timestamp) != 0)
        return seal_error(err, err_size, "t= is not a number, or absurdly large");
    if (b->value_len > DKIM_MAX_SIGNATURE_BYTES * 2)
        return seal_error(err, err_size, "b= is longer than any supported signature");
    long sig_len = dkim_base64_decode(b->value, b->value_len, out->signature,
                                      sizeof out->signature);
    if (sig_len <= 0)
        return seal_error(err, err_size, "b= is empty or not valid base64");
    out->signature_len = (size_t)sig_len;
    out->b_value_start = value_offset + b->raw_value_start;
    out->b_value_end = value_offset + b->raw_value_end;
    return 0;
}

size_t arc_seal_digest(const arc_text *covered, size_t count, const char *seal, size_t seal_len,
                       size_t b_start, size_t b_end, da_dkim_algorithm algorithm,
                       unsigned char *digest)
{
    if (b_start > b_end || b_end > seal_len)
        return 0;
    strbuf data, own;
    strbuf_init(&data);
    strbuf_init(&own);
    for (size_t i = 0; i < count; i++)
        dkim_canon_header(&data, DA_DKIM_RELAXED, covered[i].text, covered[i].len, true);
    strbuf_append(&own, seal, b_start);
    strbuf_append(&own, seal + b_end, seal_len - b_end);
    if (own.data != NULL)
        dkim_canon_header(&data, DA_DKIM_RELAXED, own.data, own.len, false);
    unsigned int digest_len = 0;
    bool ok = !data.failed && !own.failed && data.data != NULL &&
              EVP_Digest(data.data, data.len, digest, &digest_len, dkim_algorithm_md(algorithm),
                         NULL) == 1;
    strbuf_free(&data);
    strbuf_free(&own);
    return ok ? digest_len : 0;
}
