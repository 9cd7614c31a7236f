/* signature.c: parses and checks one DKIM-Signature field (RFC 6376
 * section 3.5 and the checks of 6.1.1): every tag the verifier needs, with
 * a reason for each way a hostile or broken field can be wrong. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dkim_internal.h"

enum { MAX_NUMBER_DIGITS = 18 }; /* fits int64_t; the RFC allows 76 for l= */

static bool value_is(const dkim_tag *t, const char *s)
{
    size_t n = strlen(s);
    return t->value_len == n && memcmp(t->value, s, n) == 0;
}

static int sig_error(char *err, size_t err_size, const char *why)
{
    snprintf(err, err_size, "%s", why);
    return -1;
}

static int parse_number(const dkim_tag *t, int64_t *out)
{
    if (t->value_len == 0 || t->value_len > MAX_NUMBER_DIGITS)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < t->value_len; i++) {
        char c = t->value[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

static int parse_algorithm(dkim_signature *sig, const dkim_tag *a)
{
    dkim_printable_copy(sig->algorithm_text, sizeof sig->algorithm_text, a->value, a->value_len);
    if (value_is(a, "rsa-sha256"))
        sig->algorithm = DA_DKIM_RSA_SHA256;
    else if (value_is(a, "ed25519-sha256"))
        sig->algorithm = DA_DKIM_ED25519_SHA256;
    else if (value_is(a, "rsa-sha1"))
        sig->algorithm = DA_DKIM_RSA_SHA1;
    else
        return -1;
    return 0;
}

static int parse_canon_word(const char *s, size_t len, da_dkim_canon *out)
{
    if (len == 6 && memcmp(s, "simple", 6) == 0)
        *out = DA_DKIM_SIMPLE;
    else if (len == 7 && memcmp(s, "relaxed", 7) == 0)
        *out = DA_DKIM_RELAXED;
    else
        return -1;
    return 0;
}

static int parse_canon(dkim_signature *sig, const dkim_tag *c)
{
    sig->header_canon = sig->body_canon = DA_DKIM_SIMPLE;
    if (c == NULL)
        return 0;
    const char *slash = memchr(c->value, '/', c->value_len);
    if (slash == NULL)
        return parse_canon_word(c->value, c->value_len, &sig->header_canon);
    size_t head_len = (size_t)(slash - c->value);
    return parse_canon_word(c->value, head_len, &sig->header_canon) != 0
               ? -1
               : parse_canon_word(slash + 1, c->value_len - head_len - 1, &sig->body_canon);
}

/* A field name: printable ASCII but ':' (RFC 5322 ftext). */
static bool is_field_name(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
            return false;
    return true;
}

static bool is_fws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int parse_header_list(dkim_signature *sig, const dkim_tag *h, bool ams, char *err,
                             size_t err_size)
{
    const char *p = h->value, *end = h->value + h->value_len;
    bool has_from = false;
    sig->header_count = 0;
    while (p <= end) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *a = p, *b = colon ? colon : end;
        while (a < b && is_fws(*a))
            a++;
        while (b > a && is_fws(b[-1]))
            b--;
        if (!is_field_name(a, (size_t)(b - a)))
            return sig_error(err, err_size, "h= holds an empty or malformed header name");
        if (sig->header_count == DKIM_MAX_SIGNED_HEADERS)
            return sig_error(err, err_size, "h= lists too many header fields");
        sig->headers[sig->header_count] = a;
        sig->header_lens[sig->header_count++] = (size_t)(b - a);
        if (b - a == 4 && strncasecmp(a, "from", 4) == 0)
            has_from = true;
        if (ams && b - a == 8 && strncasecmp(a, "arc-seal", 8) == 0)
            return sig_error(err, err_size, "h= lists ARC-Seal, which an AMS must not sign");
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    if (!has_from)
        return sig_error(err, err_size, "h= does not include From");
    return 0;
}

static bool is_same_or_subdomain(const char *name, size_t n, const char *domain)
{
    size_t d = strlen(domain);
    if (n < d || strncasecmp(name + n - d, domain, d) != 0)
        return false;
    return n == d || name[n - d - 1] == '.';
}

static int parse_identity(dkim_signature *sig, const dkim_tag *i, char *err, size_t err_size)
{
    if (i == NULL) {
        snprintf(sig->identity, sizeof sig->identity, "@%s", sig->domain);
        return 0;
    }
    dkim_printable_copy(sig->identity, sizeof sig->identity, i->value, i->value_len);
    const char *at = memchr(i->value, '@', i->value_len);
    if (at == NULL)
        return sig_error(err, err_size, "i= has no '@'");
    size_t domain_len = i->value_len - (size_t)(at + 1 - i->value);
    if (!is_same_or_subdomain(at + 1, domain_len, sig->domain))
        return sig_error(err, err_size, "the i= domain is not d= or a subdomain of it");
    return 0;
}

static int parse_hashes(dkim_signature *sig, const dkim_tag *b, const dkim_tag *bh, char *err,
                        size_t err_size)
{
    size_t k = 0;
    for (size_t i = 0; i < b->value_len && k + 1 < sizeof sig->header_b; i++)
        if (!is_fws(b->value[i]))
            sig->header_b[k++] = b->value[i];
    sig->header_b[k] = '\0';
    if (b->value_len > DKIM_MAX_SIGNATURE_BYTES * 2)
        return sig_error(err, err_size, "b= is longer than any supported signature");
    long n = dkim_base64_decode(b->value, b->value_len, sig->signature, sizeof sig->signature);
    if (n <= 0)
        return sig_error(err, err_size, "b= is empty or not valid base64");
    sig->signature_len = (size_t)n;
    unsigned char hash[128];
    if (bh->value_len > 120)
        return sig_error(err, err_size, "bh= is too long");
    n = dkim_base64_decode(bh->value, bh->value_len, hash, sizeof hash);
    size_t want = sig->algorithm == DA_DKIM_RSA_SHA1 ? 20 : 32;
    if (n < 0 || (size_t)n != want)
        return sig_error(err, err_size, "bh= is not a base64 hash of the right length");
    memcpy(sig->body_hash, hash, want);
    sig->body_hash_len = want;
    return 0;
}

static int parse_times(dkim_signature *sig, const dkim_tag_list *tags, char *err,
                       size_t err_size)
{
    const dkim_tag *l = dkim_tags_find(tags, "l");
    const dkim_tag *t = dkim_tags_find(tags, "t");
    const dkim_tag *x = dkim_tags_find(tags, "x");
    sig->body_length = sig->timestamp = sig->expiration = -1;
    if (l != NULL && parse_number(l, &sig->body_length) != 0)
        return sig_error(err, err_size, "l= is not a number, or absurdly large");
    if (t != NULL && parse_number(t, &sig->timestamp) != 0)
        return sig_error(err, err_size, "t= is not a number, or absurdly large");
    if (x != NULL && parse_number(x, &sig->expiration) != 0)
        return sig_error(err, err_size, "x= is not a number, or absurdly large");
    if (t != NULL && x != NULL && sig->expiration < sig->timestamp)
        return sig_error(err, err_size, "x= is earlier than t=");
    return 0;
}

static int check_query_method(const dkim_tag *q, char *err, size_t err_size)
{
    if (q == NULL)
        return 0;
    const char *p = q->value, *end = q->value + q->value_len;
    while (p < end) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *stop = colon ? colon : end;
        const char *a = p, *b = stop;
        while (a < b && is_fws(*a))
            a++;
        while (b > a && is_fws(b[-1]))
            b--;
        if (b - a == 7 && memcmp(a, "dns/txt", 7) == 0)
            return 0;
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    return sig_error(err, err_size, "q= offers no query method but dns/txt");
}

/* Fills what reports need first, so even a rejected field is named. */
static int parse_names(dkim_signature *sig, const dkim_tag_list *tags, bool ams, char *err,
                       size_t err_size)
{
    const dkim_tag *d = dkim_tags_find(tags, "d");
    const dkim_tag *s = dkim_tags_find(tags, "s");
    const dkim_tag *a = dkim_tags_find(tags, "a");
    if (d != NULL)
        dkim_printable_copy(sig->domain, sizeof sig->domain, d->value, d->value_len);
    if (s != NULL)
        dkim_printable_copy(sig->selector, sizeof sig->selector, s->value, s->value_len);
    if (a != NULL && parse_algorithm(sig, a) != 0)
        return sig_error(err, err_size, "unsupported algorithm a=");
    const dkim_tag *v = dkim_tags_find(tags, "v");
    if (!ams && (v == NULL || !value_is(v, "1")))
        return sig_error(err, err_size, v ? "v= is not 1" : "no v= tag");
    if (a == NULL || d == NULL || s == NULL)
        return sig_error(err, err_size, "a required tag (a=, d= or s=) is missing");
    if (!dkim_domain_is_valid(d->value, d->value_len))
        return sig_error(err, err_size, "d= is not a domain name");
    if (!dkim_domain_is_valid(s->value, s->value_len))
        return sig_error(err, err_size, "s= is not a valid selector");
    int n = snprintf(sig->query_name, sizeof sig->query_name, "%s._domainkey.%s", sig->selector,
                     sig->domain);
    if (n < 0 || (size_t)n > 253)
        return sig_error(err, err_size, "s=._domainkey.d= is longer than a domain name may be");
    return 0;
}

int dkim_parse_instance(const char *s, size_t len, unsigned max, unsigned *out)
{
    if (len == 0 || len > 9 || s[0] == '0')
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* DKIM-Signature and ARC-Message-Signature differ only in v= and i=. */
static int parse_signature(const char *field, size_t len, size_t value_offset, bool ams,
                           unsigned max_instance, dkim_signature *sig, char *err,
                           size_t err_size)
{
    memset(sig, 0, sizeof *sig);
    sig->body_length = sig->timestamp = sig->expiration = -1;
    dkim_tag_list tags;
    char why[160];
    if (value_offset > len)
        return sig_error(err, err_size, "the field has no value");
    if (dkim_tags_parse(field + value_offset, len - value_offset, &tags, why, sizeof why) != 0) {
        snprintf(err, err_size, "malformed tag list: %s", why);
        return -1;
    }
    if (parse_names(sig, &tags, ams, err, err_size) != 0)
        return -1;
    const dkim_tag *b = dkim_tags_find(&tags, "b");
    const dkim_tag *bh = dkim_tags_find(&tags, "bh");
    const dkim_tag *h = dkim_tags_find(&tags, "h");
    if (b == NULL || bh == NULL || h == NULL)
        return sig_error(err, err_size, "a required tag (b=, bh= or h=) is missing");
    sig->b_value_start = value_offset + b->raw_value_start;
    sig->b_value_end = value_offset + b->raw_value_end;
    if (parse_hashes(sig, b, bh, err, err_size) != 0)
        return -1;
    if (parse_canon(sig, dkim_tags_find(&tags, "c")) != 0)
        return sig_error(err, err_size, "unknown canonicalization c=");
    if (parse_header_list(sig, h, ams, err, err_size) != 0)
        return -1;
    if (ams) {
        const dkim_tag *i = dkim_tags_find(&tags, "i");
        if (i == NULL || dkim_parse_instance(i->value, i->value_len, max_instance,
                                             &sig->instance) != 0)
            return sig_error(err, err_size, "i= is missing or not an instance number in range");
        snprintf(sig->identity, sizeof sig->identity, "@%s", sig->domain);
    } else if (parse_identity(sig, dkim_tags_find(&tags, "i"), err, err_size) != 0) {
        return -1;
    }
    if (check_query_method(dkim_tags_find(&tags, "q"), err, err_size) != 0)
        return -1;
    return parse_times(sig, &tags, err, err_size);
}

int dkim_signature_parse(const char *field, size_t len, size_t value_offset,
                         dkim_signature *sig, char *err, size_t err_size)
{
    return parse_signature(field, len, value_offset, false, 0, sig, err, err_size);
}

int dkim_signature_parse_ams(const char *field, size_t len, size_t value_offset,
                             unsigned max_instance, dkim_signature *sig, char *err,
                             size_t err_size)
{
    return parse_signature(field, len, value_offset, true, max_instance, sig, err, err_size);
}
