/* sign_verify.c: unit tests for DKIM signing and verification: round trips
 * for both algorithms and all canonicalizations, the step API, and one test
 * per failure reason (tampering, expiry, l=, key record problems, RFC 8301
 * rules, malformed and hostile signature fields, limits). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dkim/dkim_internal.h"
#include "domauth.h"
#include "domauth_dkim.h"
#include "tap.h"

static const int64_t NOW = 1700000000;

static const char message[] = "From: Alice <alice@example.com>\r\n"
                              "To: Bob <bob@example.net>\r\n"
                              "Subject: Lunch\r\n"
                              "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
                              "\r\n"
                              "Shall we meet at noon?\r\n"
                              "\r\n"
                              "Alice\r\n";

static da_dkim_key *rsa_key, *ed_key;
static da_zone *zone;

static void add_txt(const char *name, const char *text)
{
    da_dns_rr rr = {.type = DA_DNS_TXT, .ttl = 60, .text = text, .text_len = strlen(text)};
    da_zone_add(zone, name, &rr);
}

static void add_key_record(const char *name, const da_dkim_key *key, const char *extra)
{
    /* The flags in extra go before k= and p=. */
    char *record = da_dkim_key_record(key);
    char text[2048];
    snprintf(text, sizeof text, "v=DKIM1; %s%s", extra, record + strlen("v=DKIM1; "));
    add_txt(name, text);
    free(record);
}

typedef struct sign_request {
    const da_dkim_key *key;
    const char *selector;
    da_dkim_canon hc, bc;
    const char *identity;
    int64_t expiration;
    bool body_length;
    const char *headers;
    bool no_oversign;
} sign_request;

static char *sign_with(const char *msg, const sign_request *rq, char *err, size_t err_size)
{
    da_dkim_sign_options so = {
        .domain = "example.com",
        .selector = rq->selector ? rq->selector : "rsa",
        .key = rq->key ? rq->key : rsa_key,
        .header_canon = rq->hc,
        .body_canon = rq->bc,
        .identity = rq->identity,
        .timestamp = NOW - 100,
        .expiration = rq->expiration,
        .body_length = rq->body_length,
        .headers = rq->headers,
        .no_oversign = rq->no_oversign,
    };
    da_dkim_sign *s = da_dkim_sign_new(&so, err, err_size);
    if (s == NULL)
        return NULL;
    da_dkim_sign_feed(s, msg, strlen(msg));
    char *field = da_dkim_sign_finish(s, err, err_size);
    da_dkim_sign_free(s);
    if (field == NULL)
        return NULL;
    char *out = malloc(strlen(field) + strlen(msg) + 3);
    sprintf(out, "%s\r\n%s", field, msg);
    free(field);
    return out;
}

typedef struct verdict {
    size_t count;
    da_dkim_signature_info info[12];
    char reasons[12][400];
    char *authres;
} verdict;

static verdict verify_with(const char *msg, size_t chunk, const da_dkim_verify_options *opt)
{
    verdict out;
    memset(&out, 0, sizeof out);
    da_dkim_verify_options defaults = {.now = NOW};
    char err[200];
    da_dkim_verify *v = da_dkim_verify_new(opt ? opt : &defaults, err, sizeof err);
    da_resolver *r = da_resolver_new_zone(zone);
    size_t len = strlen(msg);
    for (size_t off = 0; off < len; off += chunk)
        da_dkim_verify_feed(v, msg + off, len - off < chunk ? len - off : chunk);
    if (da_dkim_verify_run(v, r) == 0) {
        out.count = da_dkim_verify_count(v);
        for (size_t i = 0; i < out.count && i < 12; i++) {
            da_dkim_verify_get(v, i, &out.info[i]);
            snprintf(out.reasons[i], sizeof out.reasons[i], "%s", out.info[i].reason);
            out.info[i].reason = NULL; /* points into the verifier: use reasons[] */
        }
        out.authres = da_dkim_authres_clause(v, 0);
    }
    da_resolver_free(r);
    da_dkim_verify_free(v);
    return out;
}

static bool verdict_is(const verdict *v, da_dkim_result result, const char *reason_part)
{
    return v->count >= 1 && v->info[0].result == result &&
           strstr(v->reasons[0], reason_part) != NULL;
}

/* Replaces the first occurrence of from with to (same message otherwise). */
static char *replace(const char *msg, const char *from, const char *to)
{
    const char *at = strstr(msg, from);
    size_t n = strlen(msg) + strlen(to) + 1;
    char *out = malloc(n);
    if (at == NULL) {
        snprintf(out, n, "%s", msg);
        return out;
    }
    snprintf(out, n, "%.*s%s%s", (int)(at - msg), msg, to, at + strlen(from));
    return out;
}

static void test_round_trips(void)
{
    static const size_t chunks[] = {1, 9, 100000};
    for (int k = 0; k < 2; k++) {
        for (int c = 0; c < 4; c++) {
            sign_request rq = {.key = k ? ed_key : rsa_key, .selector = k ? "ed" : "rsa",
                               .hc = (da_dkim_canon)(c >> 1), .bc = (da_dkim_canon)(c & 1)};
            char err[200] = "";
            char *signed_msg = sign_with(message, &rq, err, sizeof err);
            verdict v = verify_with(signed_msg ? signed_msg : "", chunks[c % 3], NULL);
            TAP_OK(verdict_is(&v, DA_DKIM_PASS, "verified"), "%s c=%s/%s round trip: %s",
                   k ? "ed25519-sha256" : "rsa-sha256", c >> 1 ? "relaxed" : "simple",
                   c & 1 ? "relaxed" : "simple", v.count ? v.reasons[0] : err);
            free(v.authres);
            free(signed_msg);
        }
    }
    /* The same message with LF line ends verifies too. */
    sign_request rq = {.hc = DA_DKIM_SIMPLE, .bc = DA_DKIM_SIMPLE};
    char err[200];
    char *signed_msg = sign_with(message, &rq, err, sizeof err);
    char *lf = malloc(strlen(signed_msg) + 1);
    size_t n = 0;
    for (const char *p = signed_msg; *p; p++)
        if (!(p[0] == '\r' && p[1] == '\n'))
            lf[n++] = *p;
    lf[n] = '\0';
    verdict v = verify_with(lf, 7, NULL);
    TAP_OK(verdict_is(&v, DA_DKIM_PASS, "verified"), "a CRLF-signed message read with LF passes");
    free(v.authres);
    free(lf);
    free(signed_msg);
}

static void test_signing_choices(void)
{
    char err[200] = "";
    sign_request rq = {.hc = DA_DKIM_RELAXED, .bc = DA_DKIM_RELAXED};
    char *m = sign_with(message, &rq, err, sizeof err);
    TAP_OK(m && strstr(m, "h=from:from:to:to:subject:subject:date:date;") != NULL,
           "From, To, Subject and Date are over-signed by default");
    TAP_OK(m && strstr(m, "l=") == NULL, "l= is not added unless asked");
    TAP_OK(m && strstr(m, "t=1699999900;") != NULL, "t= is the given timestamp");
    free(m);
    rq.no_oversign = true;
    m = sign_with(message, &rq, err, sizeof err);
    TAP_OK(m && strstr(m, "h=from:to:subject:date;") != NULL, "over-signing can be turned off");
    free(m);
    rq.headers = "subject:x-absent";
    m = sign_with(message, &rq, err, sizeof err);
    TAP_OK(m && strstr(m, "h=from:subject:x-absent;") != NULL,
           "an explicit list is used, From added, absent fields listed once");
    free(m);
    sign_request bad = {.identity = "alice@evil.example"};
    m = sign_with(message, &bad, err, sizeof err);
    TAP_OK(m == NULL && strstr(err, "identity") != NULL, "i= outside d= is refused (%s)", err);
    m = sign_with("To: x@example.com\r\n\r\nbody\r\n", &rq, err, sizeof err);
    TAP_OK(m == NULL && strstr(err, "From") != NULL, "a message without From is not signed");
    da_dkim_sign_options so = {.domain = "exa mple.com", .selector = "rsa", .key = rsa_key};
    TAP_OK(da_dkim_sign_new(&so, err, sizeof err) == NULL, "a bad domain is refused (%s)", err);
}

static void test_tampering(void)
{
    char err[200];
    for (int c = 0; c < 2; c++) {
        sign_request rq = {.hc = (da_dkim_canon)c, .bc = (da_dkim_canon)c};
        const char *canon = c ? "relaxed" : "simple";
        char *m = sign_with(message, &rq, err, sizeof err);
        char *t = replace(m, "noon", "one");
        verdict v = verify_with(t, 64, NULL);
        TAP_OK(verdict_is(&v, DA_DKIM_FAIL, "body hash"), "%s: a changed body fails (%s)", canon,
               v.reasons[0]);
        free(t);
        free(v.authres);
        t = replace(m, "Subject: Lunch", "Subject: Dinner");
        v = verify_with(t, 64, NULL);
        TAP_OK(verdict_is(&v, DA_DKIM_FAIL, "signature did not"),
               "%s: a changed header fails (%s)", canon, v.reasons[0]);
        free(t);
        free(v.authres);
        t = replace(m, "meet at", "meet   at");
        v = verify_with(t, 64, NULL);
        TAP_OK(v.count == 1 && v.info[0].result == (c ? DA_DKIM_PASS : DA_DKIM_FAIL),
               "%s: extra inner whitespace in the body %s", canon, c ? "passes" : "fails");
        free(t);
        free(v.authres);
        t = replace(m, "Subject: Lunch", "subject:   Lunch");
        v = verify_with(t, 64, NULL);
        TAP_OK(v.count == 1 && v.info[0].result == (c ? DA_DKIM_PASS : DA_DKIM_FAIL),
               "%s: header case and whitespace %s", canon, c ? "pass" : "fail");
        free(t);
        free(v.authres);
        t = replace(m, "Alice\r\n", "Alice\r\n\r\n\r\n");
        v = verify_with(t, 64, NULL);
        TAP_OK(verdict_is(&v, DA_DKIM_PASS, ""), "%s: added trailing empty lines pass", canon);
        free(t);
        free(v.authres);
        free(m);
    }
}

static void test_times_and_lengths(void)
{
    char err[200];
    sign_request rq = {.expiration = NOW - 10};
    char *m = sign_with(message, &rq, err, sizeof err);
    verdict v = verify_with(m, 4096, NULL);
    TAP_OK(verdict_is(&v, DA_DKIM_FAIL, "expired"), "an expired signature fails (%s)",
           v.reasons[0]);
    free(v.authres);
    da_dkim_verify_options later = {.now = NOW - 50};
    v = verify_with(m, 4096, &later);
    TAP_OK(verdict_is(&v, DA_DKIM_PASS, ""), "the same signature passed before x=");
    TAP_OK(v.info[0].expiration == NOW - 10 && v.info[0].timestamp == NOW - 100,
           "t= and x= are reported");
    free(v.authres);
    free(m);

    sign_request lq = {.body_length = true, .bc = DA_DKIM_SIMPLE};
    m = sign_with(message, &lq, err, sizeof err);
    TAP_OK(m && strstr(m, "l=33;") != NULL, "l= is the canonical body length when asked");
    size_t n = strlen(m);
    char *appended = malloc(n + 40);
    sprintf(appended, "%sP.S. Click here!\r\n", m);
    v = verify_with(appended, 4096, NULL);
    TAP_OK(verdict_is(&v, DA_DKIM_PASS, "l= covers 33 of"),
           "text after l= passes, and is reported (%s)", v.reasons[0]);
    TAP_OK(v.info[0].body_length == 33, "l= is reported");
    free(v.authres);
    free(appended);
    char *cut = replace(m, "\r\nAlice\r\n", "\r\n");
    v = verify_with(cut, 4096, NULL);
    TAP_OK(verdict_is(&v, DA_DKIM_FAIL, "shorter than l="), "a body shorter than l= fails");
    free(v.authres);
    free(cut);
    free(m);
}

static void test_key_problems(void)
{
    static const struct {
        const char *selector, *want;
        da_dkim_result result;
    } cases[] = {
        {"missing", "no key record", DA_DKIM_PERMERROR},
        {"broken", "SERVFAIL", DA_DKIM_TEMPERROR},
        {"slow", "TIMEOUT", DA_DKIM_TEMPERROR},
        {"revoked", "revoked", DA_DKIM_PERMERROR},
        {"sha1only", "does not allow", DA_DKIM_PERMERROR},
        {"edtype", "does not fit", DA_DKIM_PERMERROR},
        {"strict", "t=s", DA_DKIM_PERMERROR},
        {"small", "512 bits, under 1024", DA_DKIM_PERMERROR},
        {"garbage", "key record", DA_DKIM_PERMERROR},
        {"other", "signature did not verify", DA_DKIM_FAIL},
    };
    char err[200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sign_request rq = {.selector = cases[i].selector,
                           .identity = strcmp(cases[i].selector, "strict") == 0
                                           ? "alice@mail.example.com"
                                           : NULL};
        char *m = sign_with(message, &rq, err, sizeof err);
        verdict v = verify_with(m, 4096, NULL);
        TAP_OK(verdict_is(&v, cases[i].result, cases[i].want), "key '%s': %s (%s)",
               cases[i].selector, da_dkim_result_name(cases[i].result), v.reasons[0]);
        free(v.authres);
        free(m);
    }
    sign_request rq = {.selector = "testing"};
    char *m = sign_with(message, &rq, err, sizeof err);
    verdict v = verify_with(m, 4096, NULL);
    TAP_OK(verdict_is(&v, DA_DKIM_PASS, "testing") && v.info[0].testing,
           "a t=y key passes and is reported as testing");
    free(v.authres);
    free(m);
}

static void ignore_body(void *arg, const unsigned char *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
}

/* rsa-sha1 is never made by the signer: build one by hand (RFC 8301). */
static char *sign_sha1(void)
{
    const char *body = "Shall we meet at noon?\r\n\r\nAlice\r\n";
    unsigned char bh[20];
    unsigned int bh_len = 0;
    EVP_Digest(body, strlen(body), bh, &bh_len, EVP_sha1(), NULL);
    strbuf field;
    strbuf_init(&field);
    strbuf_puts(&field, "DKIM-Signature: v=1; a=rsa-sha1; c=simple/simple; d=example.com; "
                        "s=rsa; h=from:to:subject; bh=");
    dkim_base64_encode(&field, bh, bh_len);
    strbuf_puts(&field, "; b=");
    dkim_message m;
    strbuf sink;
    strbuf_init(&sink);
    dkim_message_init(&m, 0, ignore_body, &sink);
    const char *head_end = strstr(message, "\r\n\r\n") + 4;
    dkim_message_feed(&m, (const unsigned char *)message, (size_t)(head_end - message));
    dkim_message_finish(&m);
    static const char *const names[] = {"from", "to", "subject"};
    static const size_t lens[] = {4, 2, 7};
    unsigned char digest[64], sig[1024];
    size_t dlen = dkim_header_digest(&m, names, lens, 3, DA_DKIM_SIMPLE,
                                     dkim_algorithm_md(DA_DKIM_RSA_SHA1),
                                     field.data, field.len, field.len, field.len, digest);
    size_t slen = dkim_crypto_sign(dkim_key_pkey(rsa_key), DA_DKIM_RSA_SHA1, digest, dlen, sig,
                                   sizeof sig);
    dkim_base64_encode(&field, sig, slen);
    strbuf_puts(&field, "\r\n");
    strbuf_puts(&field, message);
    dkim_message_free(&m);
    return strbuf_take(&field);
}

static void test_rfc8301(void)
{
    char *m = sign_sha1();
    verdict v = verify_with(m, 4096, NULL);
    TAP_OK(verdict_is(&v, DA_DKIM_FAIL, "RFC 8301"), "a good rsa-sha1 signature fails (%s)",
           v.reasons[0]);
    free(v.authres);
    da_dkim_verify_options neutral = {.now = NOW, .sha1 = DA_DKIM_SHA1_NEUTRAL};
    v = verify_with(m, 4096, &neutral);
    TAP_OK(verdict_is(&v, DA_DKIM_NEUTRAL, "RFC 8301"), "or is neutral when configured");
    free(v.authres);
    char *bad = replace(m, "noon", "dusk");
    v = verify_with(bad, 4096, &neutral);
    TAP_OK(verdict_is(&v, DA_DKIM_FAIL, "body hash"), "a broken rsa-sha1 signature still fails");
    free(v.authres);
    free(bad);
    free(m);
    char err[200];
    TAP_OK(da_dkim_key_generate(DA_DKIM_KEY_RSA, 512, err, sizeof err) == NULL,
           "no RSA key under 1024 bits is made (%s)", err);
}

static void test_malformed_signatures(void)
{
    static const struct {
        const char *field, *why;
    } cases[] = {
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA; a=x", "twice"},
        {"a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA", "no v= tag"},
        {"v=2; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA", "v= is not 1"},
        {"v=1; a=rsa-md5; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA", "unsupported algorithm"},
        {"v=1; a=rsa-sha256; s=rsa; h=from; bh=AAAA; b=AAAA", "missing"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA", "missing"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAA", "b= is empty or not"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AA*A", "b= is empty or not"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA", "bh= is not"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=to:subject; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "does not include From"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from::to; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "malformed header name"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; i=x@example.org; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "i= domain"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; l=99999999999999999999999; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "l= is not a number"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; t=200; x=100; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "earlier than t="},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; q=http/wk; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "q="},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; c=fancy/simple; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "canonicalization"},
        {"v=1; a=rsa-sha256; d=exa\"mple.com; s=rsa; h=from; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "d= is not a domain"},
        {"v=1; a=rsa-sha256; d=example.com; s=../etc; h=from; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "s= is not"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; "
         "b=AAAA\x7f\x01\x1b[31m", "control"},
        {"", "no v= tag"},
        {"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; "
         "b=AAAA; x=1", "expired"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *m = malloc(strlen(cases[i].field) + sizeof message + 32);
        sprintf(m, "DKIM-Signature: %s\r\n%s", cases[i].field, message);
        verdict v = verify_with(m, 3, NULL);
        bool expired = strcmp(cases[i].why, "expired") == 0;
        TAP_OK(verdict_is(&v, expired ? DA_DKIM_FAIL : DA_DKIM_PERMERROR, cases[i].why),
               "malformed signature %zu: %s (%s)", i, expired ? "fail" : "permerror",
               v.count ? v.reasons[0] : "no result");
        TAP_OK(v.authres && !strpbrk(v.authres, "\r\n\x1b\x7f"),
               "  its Authentication-Results clause has no control characters");
        free(v.authres);
        free(m);
    }
}

static void test_many_and_none(void)
{
    char err[200];
    strbuf sb;
    strbuf_init(&sb);
    for (int i = 0; i < 10; i++) {
        sign_request rq = {.selector = i % 2 ? "ed" : "rsa", .key = i % 2 ? ed_key : rsa_key};
        char *m = sign_with(message, &rq, err, sizeof err);
        size_t field_len = strstr(m, "\r\nFrom:") - m + 2;
        strbuf_append(&sb, m, field_len);
        free(m);
    }
    strbuf_puts(&sb, message);
    verdict v = verify_with(sb.data, 4096, NULL);
    size_t passed = 0, skipped = 0;
    for (size_t i = 0; i < v.count; i++) {
        passed += v.info[i].result == DA_DKIM_PASS;
        skipped += v.info[i].result == DA_DKIM_PERMERROR &&
                   strstr(v.reasons[i], "too many") != NULL;
    }
    TAP_OK(v.count == 10 && passed == 8 && skipped == 2,
           "10 signatures: 8 evaluated and pass, 2 reported as not evaluated");
    free(v.authres);
    strbuf_free(&sb);

    v = verify_with(message, 4096, NULL);
    TAP_OK(v.count == 0, "an unsigned message has no results");
    TAP_STR_EQ(v.authres, "dkim=none", "and its clause is dkim=none");
    free(v.authres);

    sign_request rq = {0};
    char *m = sign_with(message, &rq, err, sizeof err);
    da_dkim_verify_options small = {.now = NOW, .max_header_bytes = 200};
    v = verify_with(m, 4096, &small);
    TAP_OK(verdict_is(&v, DA_DKIM_PERMERROR, "too large"),
           "a header block over the limit is permerror (%s)", v.reasons[0]);
    free(v.authres);
    free(m);
}

/* The step API: the key question goes out once the header block is in,
 * before the body, and each question is listed once. */
static void test_steps(void)
{
    char err[200];
    sign_request rq = {.selector = "ed", .key = ed_key};
    char *m = sign_with(message, &rq, err, sizeof err);
    da_dkim_verify_options vo = {.now = NOW};
    da_dkim_verify *v = da_dkim_verify_new(&vo, err, sizeof err);
    size_t head_len = (size_t)(strstr(m, "\r\n\r\n") - m) + 4;
    da_dkim_step s = da_dkim_verify_step(v);
    TAP_OK(s.kind == DA_DKIM_STEP_INPUT, "before any input the verifier wants input");
    da_dkim_verify_feed(v, m, head_len);
    s = da_dkim_verify_step(v);
    TAP_OK(s.kind == DA_DKIM_STEP_QUERIES && s.count == 1 &&
               strcmp(s.questions[0].name, "ed._domainkey.example.com") == 0 &&
               s.questions[0].type == DA_DNS_TXT,
           "after the header block: one TXT question for ed._domainkey.example.com");
    da_dns_question q = s.questions[0];
    char name[256];
    snprintf(name, sizeof name, "%s", q.name);
    q.name = name;
    s = da_dkim_verify_step(v);
    TAP_OK(s.kind == DA_DKIM_STEP_INPUT, "the question is not listed twice; more input wanted");
    da_dns_answer *a = da_zone_lookup(zone, &q);
    da_dkim_verify_answer(v, &q, a);
    da_dns_answer_free(a);
    da_dkim_verify_feed(v, m + head_len, strlen(m) - head_len);
    da_dkim_verify_finish(v);
    s = da_dkim_verify_step(v);
    da_dkim_signature_info info;
    TAP_OK(s.kind == DA_DKIM_STEP_DONE && da_dkim_verify_get(v, 0, &info) == 0 &&
               info.result == DA_DKIM_PASS,
           "answered early, finished later: pass");
    char *clause = da_dkim_authres_clause(v, 0);
    TAP_OK(clause && strncmp(clause, "dkim=pass (256-bit key; signature verified) header.d=example.com",
                             64) == 0 && strstr(clause, "header.s=ed header.a=ed25519-sha256"),
           "clause: %s", clause ? clause : "(null)");
    free(clause);
    da_dkim_verify_free(v);
    free(m);
}

static void setup_zone(void)
{
    char err[200];
    rsa_key = da_dkim_key_generate(DA_DKIM_KEY_RSA, 1024, err, sizeof err);
    ed_key = da_dkim_key_generate(DA_DKIM_KEY_ED25519, 0, err, sizeof err);
    da_dkim_key *other = da_dkim_key_generate(DA_DKIM_KEY_RSA, 1024, err, sizeof err);
    zone = da_zone_new();
    add_key_record("rsa._domainkey.example.com", rsa_key, "");
    add_key_record("ed._domainkey.example.com", ed_key, "");
    add_key_record("sha1only._domainkey.example.com", rsa_key, "h=sha1;");
    add_key_record("edtype._domainkey.example.com", ed_key, "");
    add_key_record("strict._domainkey.example.com", rsa_key, "t=s;");
    add_key_record("testing._domainkey.example.com", rsa_key, "t=y;");
    add_key_record("other._domainkey.example.com", other, "");
    add_txt("revoked._domainkey.example.com", "v=DKIM1; k=rsa; p=");
    add_txt("garbage._domainkey.example.com", "v=DKIM1; k=rsa; p=!!!");
    add_txt("small._domainkey.example.com",
            "v=DKIM1; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMG+PmKkYj/RrNqVw7LWW+JPQevQRm/dWMlAF"
            "rnpQBITR8SaMEL2UxNJ4g9U55kvb5cQbG2tZ0uIzsbOcTedMNkCAwEAAQ==");
    da_zone_add_failure(zone, "broken._domainkey.example.com", DA_DNS_TXT, DA_DNS_SERVFAIL);
    da_zone_add_failure(zone, "slow._domainkey.example.com", DA_DNS_TXT, DA_DNS_TIMEOUT);
    da_dkim_key_free(other);
}

int main(void)
{
    setup_zone();
    if (rsa_key == NULL || ed_key == NULL) {
        TAP_OK(0, "keys could not be generated");
        return tap_done();
    }
    test_round_trips();
    test_signing_choices();
    test_tampering();
    test_times_and_lengths();
    test_key_problems();
    test_rfc8301();
    test_malformed_signatures();
    test_many_and_none();
    test_steps();
    da_zone_free(zone);
    da_dkim_key_free(rsa_key);
    da_dkim_key_free(ed_key);
    return tap_done();
}
