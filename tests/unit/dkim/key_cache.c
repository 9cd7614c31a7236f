/* Unit tests for the DKIM key cache: a key is decoded once, results are
 * the same with and without it, and a slot replaced while its key is in
 * use frees nothing still needed (run under ASan in make check). */
#include <stdlib.h>
#include <string.h>

#include "domauth_dkim.h"
#include "tap.h"

static const char message[] =
    "From: a@one.example\r\nTo: b@two.example\r\nSubject: cache\r\n\r\nbody\r\n";

static char *sign_with(const da_dkim_key *key, const char *domain)
{
    char err[256];
    da_dkim_sign_options so = {.domain = domain, .selector = "s", .key = key,
                               .header_canon = DA_DKIM_RELAXED, .body_canon = DA_DKIM_RELAXED};
    da_dkim_sign *s = da_dkim_sign_new(&so, err, sizeof err);
    da_dkim_sign_feed(s, message, strlen(message));
    char *field = da_dkim_sign_finish(s, err, sizeof err);
    da_dkim_sign_free(s);
    size_t n = strlen(field) + 2 + strlen(message) + 1;
    char *signed_msg = malloc(n);
    snprintf(signed_msg, n, "%s\r\n%s", field, message);
    free(field);
    return signed_msg;
}

/* Verifies msg, answering the key query with record; returns the result. */
static da_dkim_result verify_with(const char *msg, const char *record, da_dkim_key_cache *cache)
{
    char err[256];
    da_dkim_verify_options vo = {.now = 1800000000, .key_cache = cache};
    da_dkim_verify *v = da_dkim_verify_new(&vo, err, sizeof err);
    da_dkim_verify_feed(v, msg, strlen(msg));
    da_dkim_verify_finish(v);
    for (int round = 0; round < 10; round++) {
        da_dkim_step st = da_dkim_verify_step(v);
        if (st.kind != DA_DKIM_STEP_QUERIES)
            break;
        for (size_t i = 0; i < st.count; i++) {
            da_dns_answer *a = da_dns_answer_new(DA_DNS_NOERROR, 60);
            da_dns_answer_add_text(a, DA_DNS_TXT, record, strlen(record), 60);
            da_dkim_verify_answer(v, &st.questions[i], a);
            da_dns_answer_free(a);
        }
    }
    da_dkim_signature_info info;
    da_dkim_result r = da_dkim_verify_count(v) == 1 && da_dkim_verify_get(v, 0, &info) == 0
                           ? info.result
                           : DA_DKIM_NONE;
    da_dkim_verify_free(v);
    return r;
}

int main(void)
{
    char err[256];
    da_dkim_key *rsa = da_dkim_key_generate(DA_DKIM_KEY_RSA, 1024, err, sizeof err);
    da_dkim_key *ed = da_dkim_key_generate(DA_DKIM_KEY_ED25519, 0, err, sizeof err);
    char *rsa_record = da_dkim_key_record(rsa);
    char *ed_record = da_dkim_key_record(ed);
    char *m1 = sign_with(rsa, "one.example");
    char *m2 = sign_with(ed, "two.example");

    da_dkim_key_cache *cache = da_dkim_key_cache_new(4);
    uint64_t hits, decodes;
    TAP_OK(verify_with(m1, rsa_record, cache) == DA_DKIM_PASS, "first verification passes");
    TAP_OK(verify_with(m1, rsa_record, cache) == DA_DKIM_PASS, "second one passes from the cache");
    da_dkim_key_cache_stats(cache, &hits, &decodes);
    TAP_OK(decodes == 1 && hits == 1, "the key was decoded once (decodes %llu, hits %llu)",
           (unsigned long long)decodes, (unsigned long long)hits);
    TAP_OK(verify_with(m1, ed_record, cache) != DA_DKIM_PASS,
           "a key of the wrong type does not pass with a cache (permerror)");
    da_dkim_key_cache_free(cache);

    /* One slot, two keys taking turns: every verification replaces it. */
    cache = da_dkim_key_cache_new(1);
    bool all = true;
    for (int i = 0; i < 6; i++)
        all = all && verify_with(i % 2 ? m2 : m1, i % 2 ? ed_record : rsa_record, cache) ==
                         DA_DKIM_PASS;
    TAP_OK(all, "a one-slot cache shared by two keys gives the right results");
    da_dkim_key_cache_stats(cache, &hits, &decodes);
    TAP_OK(decodes == 6 && hits == 0, "each turn decoded (decodes %llu)", (unsigned long long)decodes);
    da_dkim_key_cache_free(cache);
    TAP_OK(verify_with(m2, ed_record, NULL) == DA_DKIM_PASS, "no cache at all works as before");

    free(m1);
    free(m2);
    free(rsa_record);
    free(ed_record);
    da_dkim_key_free(rsa);
    da_dkim_key_free(ed);
    return tap_done();
}
