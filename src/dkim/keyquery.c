/* keyquery.c: one key record lookup (selector._domainkey.domain) as the
 * verifiers hold it: the TXT answer copied in, then the first record that
 * parses chosen, then checked against the signature that wants it. Shared
 * by the DKIM verifier and the ARC verifier (src/arc), which ask the same
 * questions of the same records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_internal.h"

void dkim_key_query_init(dkim_key_query *q, const char *name)
{
    memset(q, 0, sizeof *q);
    snprintf(q->name, sizeof q->name, "%s", name);
}

void dkim_key_query_clear(dkim_key_query *q)
{
    for (size_t i = 0; i < q->record_count; i++)
        free(q->records[i]);
    q->record_count = 0;
}

bool dkim_key_query_matches(const dkim_key_query *q, const da_dns_question *question)
{
    if (question->type != DA_DNS_TXT || q->answered)
        return false;
    size_t n = strlen(question->name);
    if (n > 0 && question->name[n - 1] == '.')
        n--;
    return n == strlen(q->name) && strncasecmp(q->name, question->name, n) == 0;
}

void dkim_key_query_answer(dkim_key_query *q, const da_dns_answer *answer)
{
    q->answered = true;
    q->status = answer->status;
    for (size_t k = 0; k < answer->count; k++) {
        const da_dns_rr *rr = &answer->records[k];
        if (rr->type != DA_DNS_TXT || rr->text == NULL)
            continue;
        if (q->record_count == DKIM_MAX_KEPT_RECORDS || rr->text_len > DKIM_MAX_RECORD_BYTES) {
            q->records_dropped = true;
            continue;
        }
        char *copy = malloc(rr->text_len + 1);
        if (copy == NULL) {
            q->status = DA_DNS_SERVFAIL;
            continue;
        }
        memcpy(copy, rr->text, rr->text_len);
        copy[rr->text_len] = '\0';
        q->records[q->record_count] = copy;
        q->record_lens[q->record_count++] = rr->text_len;
    }
}

/* Picks the first record that parses as a key (several are an error of
 * the publisher, RFC 6376 section 3.6.2.2, which leaves the choice to us). */
da_dkim_result dkim_key_query_select(da_dkim_key_cache *cache, const dkim_key_query *q,
                                     dkim_key_record *rec, char *why, size_t why_size)
{
    if (q->status == DA_DNS_SERVFAIL || q->status == DA_DNS_TIMEOUT) {
        snprintf(why, why_size, "key lookup for %.120s failed (%s)", q->name,
                 da_dns_status_name(q->status));
        return DA_DKIM_TEMPERROR;
    }
    if (q->status == DA_DNS_NXDOMAIN || q->record_count == 0) {
        snprintf(why, why_size, q->records_dropped ? "the key record at %.120s is too long"
                                                   : "no key record at %.120s",
                 q->name);
        return DA_DKIM_PERMERROR;
    }
    char first_error[160] = "";
    for (size_t i = 0; i < q->record_count; i++) {
        char err[160];
        if (dkim_key_record_parse_cached(cache, q->records[i], q->record_lens[i], rec, err,
                                         sizeof err) == 0)
            return DA_DKIM_PASS;
        if (i == 0)
            snprintf(first_error, sizeof first_error, "%s", err);
    }
    snprintf(why, why_size, "%s", first_error);
    return DA_DKIM_PERMERROR;
}

static bool domain_equals_identity_domain(const char *identity, const char *domain)
{
    const char *at = strrchr(identity, '@');
    return at != NULL && strcasecmp(at + 1, domain) == 0;
}

int dkim_key_check_fits(const dkim_key_record *rec, da_dkim_algorithm algorithm,
                        const char *algorithm_text, const char *identity, const char *domain,
                        unsigned min_rsa_bits, char *why, size_t why_size)
{
    bool wants_ed25519 = algorithm == DA_DKIM_ED25519_SHA256;
    if (rec->revoked)
        snprintf(why, why_size, "the key is revoked (empty p=)");
    else if (rec->is_ed25519 != wants_ed25519)
        snprintf(why, why_size, "the key type (k=) does not fit a=%s", algorithm_text);
    else if (algorithm == DA_DKIM_RSA_SHA1 ? !rec->allows_sha1 : !rec->allows_sha256)
        snprintf(why, why_size, "the key record's h= does not allow %s", algorithm_text);
    else if (!rec->is_ed25519 && rec->bits < min_rsa_bits)
        snprintf(why, why_size, "the RSA key has %u bits, under %u (RFC 8301)", rec->bits,
                 min_rsa_bits);
    else if (!rec->is_ed25519 && rec->bits > DKIM_MAX_RSA_BITS)
        snprintf(why, why_size, "the RSA key has %u bits, over %u", rec->bits,
                 (unsigned)DKIM_MAX_RSA_BITS);
    else if (rec->strict_identity && !domain_equals_identity_domain(identity, domain))
        snprintf(why, why_size, "the key has t=s but the i= domain is not d=");
    else
        return 0;
    return -1;
}
