/* dkim_vectors.c: the DKIM test vectors of ../shared/conformance/dkim (from
 * dkimpy's test data), read in place and run through the signer and the
 * verifier over an in-memory zone. What each must give is in that folder's
 * README. Usage: dkim_vectors CONFORMANCE_DIR (the folder holding dkim/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domauth.h"
#include "domauth_dkim.h"
#include "tap.h"

/* A fixed "now" after every t= in the vectors (2018) and before 2100. */
static const int64_t NOW = 1700000000;

static char *read_vector(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/dkim/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* The record files hold one line; the zone gets it without the line end. */
static void add_key(da_zone *zone, const char *dir, const char *file, const char *name)
{
    size_t len;
    char *text = read_vector(dir, file, &len);
    if (text == NULL)
        return;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    da_dns_rr rr = {.type = DA_DNS_TXT, .ttl = 300, .text = text, .text_len = len};
    da_zone_add(zone, name, &rr);
    free(text);
}

typedef struct outcome {
    size_t count;
    da_dkim_result results[8];
    char reasons[8][200];
} outcome;

/* Verifies a message over a zone, feeding it in chunks of chunk bytes. */
static outcome verify_message(const da_zone *zone, const char *msg, size_t len, size_t chunk)
{
    outcome out = {0};
    char err[200];
    da_dkim_verify_options vo = {.now = NOW};
    da_dkim_verify *v = da_dkim_verify_new(&vo, err, sizeof err);
    da_resolver *r = da_resolver_new_zone(zone);
    for (size_t off = 0; off < len; off += chunk)
        da_dkim_verify_feed(v, msg + off, len - off < chunk ? len - off : chunk);
    if (da_dkim_verify_run(v, r) == 0) {
        out.count = da_dkim_verify_count(v);
        for (size_t i = 0; i < out.count && i < 8; i++) {
            da_dkim_signature_info info;
            da_dkim_verify_get(v, i, &info);
            out.results[i] = info.result;
            snprintf(out.reasons[i], sizeof out.reasons[i], "%s", info.reason);
        }
    }
    da_resolver_free(r);
    da_dkim_verify_free(v);
    return out;
}

/* Signs msg and returns signature field + CRLF + msg; NULL with err. */
static char *sign_message(const char *msg, size_t len, const da_dkim_key *key,
                          const char *domain, const char *selector, da_dkim_canon hc,
                          da_dkim_canon bc, char *err, size_t err_size)
{
    da_dkim_sign_options so = {.domain = domain, .selector = selector, .key = key,
                               .header_canon = hc, .body_canon = bc, .timestamp = NOW - 60};
    da_dkim_sign *s = da_dkim_sign_new(&so, err, err_size);
    if (s == NULL)
        return NULL;
    da_dkim_sign_feed(s, msg, len);
    char *field = da_dkim_sign_finish(s, err, err_size);
    da_dkim_sign_free(s);
    if (field == NULL)
        return NULL;
    size_t flen = strlen(field);
    char *signed_msg = malloc(flen + 2 + len + 1);
    memcpy(signed_msg, field, flen);
    memcpy(signed_msg + flen, "\r\n", 2);
    memcpy(signed_msg + flen + 2, msg, len);
    signed_msg[flen + 2 + len] = '\0';
    free(field);
    return signed_msg;
}

static da_dkim_key *load_key(const char *dir, const char *file)
{
    size_t len;
    char *text = read_vector(dir, file, &len);
    char err[200] = "";
    da_dkim_key *key = text ? da_dkim_key_load(text, len, err, sizeof err) : NULL;
    if (key == NULL)
        printf("# cannot load %s: %s\n", file, err);
    free(text);
    return key;
}

static void test_rfc8463_example(const char *dir)
{
    da_zone *zone = da_zone_new();
    add_key(zone, dir, "rfc8463-brisbane.dns", "brisbane._domainkey.football.example.com");
    add_key(zone, dir, "test.txt", "test._domainkey.football.example.com");
    size_t len;
    char *msg = read_vector(dir, "rfc6376.signed.msg", &len);
    static const size_t chunks[] = {1, 7, 64, 1 << 20};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        outcome o = verify_message(zone, msg, len, chunks[c]);
        TAP_OK(o.count == 2, "rfc6376.signed.msg: two signatures (chunks of %zu)", chunks[c]);
        TAP_OK(o.results[0] == DA_DKIM_PASS, "RFC 8463 ed25519-sha256 example passes (%s)",
               o.reasons[0]);
        TAP_OK(o.results[1] == DA_DKIM_PASS, "RFC 8463 rsa-sha256 example passes (%s)",
               o.reasons[1]);
    }
    free(msg);
    da_zone_free(zone);
}

static void test_exim_ed25519(const char *dir)
{
    da_zone *zone = da_zone_new();
    add_key(zone, dir, "eximtest.dns", "sed._domainkey.test.ex");
    size_t len;
    char *msg = read_vector(dir, "ed25519test2.msg", &len);
    outcome o = verify_message(zone, msg, len, 13);
    TAP_OK(o.count == 1 && o.results[0] == DA_DKIM_PASS,
           "ed25519test2.msg (signed by Exim, relaxed/relaxed) passes (%s)", o.reasons[0]);
    free(msg);
    da_zone_free(zone);
}

/* Signs with key and verifies against the record, for all four c= pairs. */
static void test_round_trips(const char *dir, const char *msg_file, const char *key_file,
                             const char *record_file, const char *label)
{
    da_dkim_key *key = load_key(dir, key_file);
    size_t len;
    char *msg = read_vector(dir, msg_file, &len);
    da_zone *zone = da_zone_new();
    add_key(zone, dir, record_file, "sel._domainkey.example.com");
    for (int hc = 0; hc < 2; hc++) {
        for (int bc = 0; bc < 2; bc++) {
            char err[200] = "";
            char *signed_msg = key && msg ? sign_message(msg, len, key, "example.com", "sel",
                                                         (da_dkim_canon)hc, (da_dkim_canon)bc,
                                                         err, sizeof err)
                                          : NULL;
            const char *canon = hc ? (bc ? "relaxed/relaxed" : "relaxed/simple")
                                   : (bc ? "simple/relaxed" : "simple/simple");
            if (signed_msg == NULL) {
                TAP_OK(0, "%s: signing %s with %s, %s (%s)", label, msg_file, key_file, canon,
                       err);
                continue;
            }
            outcome o = verify_message(zone, signed_msg, strlen(signed_msg), 5);
            TAP_OK(o.count >= 1 && o.results[0] == DA_DKIM_PASS,
                   "%s: %s signed with %s, %s, verifies against %s (%s)", label, msg_file,
                   key_file, canon, record_file, o.reasons[0]);
            free(signed_msg);
        }
    }
    free(msg);
    da_zone_free(zone);
    da_dkim_key_free(key);
}

/* A record that must not verify test.private's signatures. */
static void test_bad_record(const char *dir, const char *record_file, da_dkim_result want,
                            const char *why)
{
    da_dkim_key *key = load_key(dir, "test.private");
    size_t len;
    char *msg = read_vector(dir, "test.message", &len);
    da_zone *zone = da_zone_new();
    add_key(zone, dir, record_file, "sel._domainkey.example.com");
    char err[200] = "";
    char *signed_msg = sign_message(msg, len, key, "example.com", "sel", DA_DKIM_RELAXED,
                                    DA_DKIM_SIMPLE, err, sizeof err);
    outcome o = signed_msg ? verify_message(zone, signed_msg, strlen(signed_msg), 4096)
                           : (outcome){0};
    TAP_OK(o.count == 1 && o.results[0] == want, "%s: %s (%s)", record_file, why, o.reasons[0]);
    free(signed_msg);
    free(msg);
    da_zone_free(zone);
    da_dkim_key_free(key);
}

static void test_existing_signature_kept(const char *dir)
{
    /* test2.message carries gmail's signature, whose key we do not have:
     * ours passes, gmail's is permerror (no key), each with its result. */
    da_dkim_key *key = load_key(dir, "test2.private");
    size_t len;
    char *msg = read_vector(dir, "test2.message", &len);
    da_zone *zone = da_zone_new();
    add_key(zone, dir, "test2.txt", "sel._domainkey.example.com");
    char err[200] = "";
    char *signed_msg = sign_message(msg, len, key, "example.com", "sel", DA_DKIM_SIMPLE,
                                    DA_DKIM_SIMPLE, err, sizeof err);
    outcome o = signed_msg ? verify_message(zone, signed_msg, strlen(signed_msg), 3)
                           : (outcome){0};
    TAP_OK(o.count == 2 && o.results[0] == DA_DKIM_PASS && o.results[1] == DA_DKIM_PERMERROR,
           "test2.message: our signature passes (%s), gmail's has no key (%s)", o.reasons[0],
           o.reasons[1]);
    free(signed_msg);
    free(msg);
    da_zone_free(zone);
    da_dkim_key_free(key);
}

/* Over-signing: adding a From, To or Subject after signing must fail. */
static void test_extra_headers(const char *dir)
{
    da_dkim_key *key = load_key(dir, "test.private");
    size_t len;
    char *msg = read_vector(dir, "test_extra.message", &len);
    da_zone *zone = da_zone_new();
    add_key(zone, dir, "test.txt", "sel._domainkey.example.com");
    char err[200] = "";
    char *signed_msg = sign_message(msg, len, key, "example.com", "sel", DA_DKIM_RELAXED,
                                    DA_DKIM_RELAXED, err, sizeof err);
    if (signed_msg == NULL) {
        TAP_OK(0, "test_extra.message signs (%s)", err);
        return;
    }
    outcome o = verify_message(zone, signed_msg, strlen(signed_msg), 4096);
    TAP_OK(o.count == 1 && o.results[0] == DA_DKIM_PASS, "test_extra.message passes (%s)",
           o.reasons[0]);
    static const char *const added[] = {"From: Mallory <m@evil.example>\r\n",
                                        "Subject: Urgent\r\n", "To: other@example.net\r\n",
                                        "Received: from elsewhere\r\n"};
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(added[i]), m = strlen(signed_msg);
        char *tampered = malloc(n + m + 1);
        memcpy(tampered, added[i], n);
        memcpy(tampered + n, signed_msg, m + 1);
        o = verify_message(zone, tampered, n + m, 4096);
        bool unsigned_field = i == 3;
        TAP_OK(o.count == 1 && o.results[0] == (unsigned_field ? DA_DKIM_PASS : DA_DKIM_FAIL),
               "test_extra.message with an added %.*s field: %s (%s)",
               (int)(strchr(added[i], ':') - added[i]), added[i],
               unsigned_field ? "pass (not signed)" : "fail (over-signed)", o.reasons[0]);
        free(tampered);
    }
    free(signed_msg);
    free(msg);
    da_zone_free(zone);
    da_dkim_key_free(key);
}

static void test_nofrom(const char *dir)
{
    da_dkim_key *key = load_key(dir, "test.private");
    size_t len;
    char *msg = read_vector(dir, "test_nofrom.message", &len);
    char err[200] = "";
    char *signed_msg = sign_message(msg, len, key, "example.com", "sel", DA_DKIM_SIMPLE,
                                    DA_DKIM_SIMPLE, err, sizeof err);
    TAP_OK(signed_msg == NULL && strstr(err, "From") != NULL,
           "test_nofrom.message: signing refused (%s)", err);
    free(signed_msg);
    free(msg);
    da_dkim_key_free(key);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/conformance";
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/dkim/README.md", dir);
    FILE *f = fopen(probe, "r");
    if (f == NULL) {
        TAP_SKIP("DKIM vectors not found at %s/dkim (%s)", dir, strerror(errno));
        return tap_done();
    }
    fclose(f);
    test_rfc8463_example(dir);
    test_exim_ed25519(dir);
    test_round_trips(dir, "test.message", "test.private", "test.txt", "rsa");
    test_round_trips(dir, "test2.message", "test2.private", "test2.txt", "rsa, no k=");
    test_round_trips(dir, "ed25519test.msg", "ed25519test.key", "ed25519test.dns", "ed25519");
    test_round_trips(dir, "rfc6376.msg", "test.private", "test.txt", "rsa");
    test_existing_signature_kept(dir);
    test_extra_headers(dir);
    test_nofrom(dir);
    test_bad_record(dir, "badk.txt", DA_DKIM_PERMERROR, "unknown k= is refused");
    test_bad_record(dir, "badversion.txt", DA_DKIM_PERMERROR, "malformed v= is refused");
    test_bad_record(dir, "test_bad.txt", DA_DKIM_PERMERROR, "a different key does not verify");
    return tap_done();
}
