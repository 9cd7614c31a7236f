/* arc.c: unit tests for ARC (RFC 8617): sealing and validating chains of
 * one to fifty sets with both algorithms, the oldest-pass instance after a
 * forwarder's change, each structural failure (incomplete, duplicate, gap,
 * i= over 50, wrong cv=), tampered bodies and seals, DNS failures, the step
 * API, the sealer's refusals and the header parsers. */
#include <stdlib.h>
#include <string.h>

#include "arc/arc_internal.h"
#include "domauth.h"
#include "domauth_arc.h"
#include "tap.h"

static const char message[] = "From: Alice <alice@example.com>\r\n"
                              "To: list@lists.example.org\r\n"
                              "Subject: Lunch\r\n"
                              "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
                              "\r\n"
                              "Shall we meet at noon?\r\n";

static da_dkim_key *rsa_key, *ed_key;
static da_zone *zone;

static void add_key(const char *name, const da_dkim_key *key)
{
    char *record = da_dkim_key_record(key);
    da_dns_rr rr = {.type = DA_DNS_TXT, .ttl = 60, .text = record, .text_len = strlen(record)};
    da_zone_add(zone, name, &rr);
    free(record);
}

/* Seals msg as d=domain; the new message, or NULL with err. */
static char *seal_as(const char *msg, bool ed, da_arc_cv cv, const char *authres, char *err,
                     size_t err_size)
{
    da_arc_seal_options so = {
        .domain = ed ? "lists.example.org" : "example.com",
        .selector = ed ? "ed" : "rsa",
        .key = ed ? ed_key : rsa_key,
        .authres = authres ? authres : "mx.example.com; spf=pass smtp.mailfrom=example.com",
        .cv = cv,
        .timestamp = 1700000000,
    };
    da_arc_seal *s = da_arc_seal_new(&so, err, err_size);
    if (s == NULL)
        return NULL;
    da_arc_seal_feed(s, msg, strlen(msg));
    char *fields = da_arc_seal_finish(s, NULL, err, err_size);
    da_arc_seal_free(s);
    if (fields == NULL)
        return NULL;
    char *out = malloc(strlen(fields) + strlen(msg) + 3);
    sprintf(out, "%s\r\n%s", fields, msg);
    free(fields);
    return out;
}

/* Validates over the zone. */
static da_arc_verify *verify_msg(const char *msg, da_arc_result *r)
{
    char err[200];
    da_arc_verify_options vo = {0};
    da_arc_verify *v = da_arc_verify_new(&vo, err, sizeof err);
    da_resolver *res = da_resolver_new_zone(zone);
    da_arc_verify_feed(v, msg, strlen(msg));
    int rc = da_arc_verify_run(v, res);
    da_resolver_free(res);
    if (rc != 0 || da_arc_verify_result(v, r) != 0) {
        da_arc_verify_free(v);
        return NULL;
    }
    return v;
}

static da_arc_cv cv_of(const char *msg, unsigned *oldest, char *reason, size_t reason_size)
{
    da_arc_result r;
    da_arc_verify *v = verify_msg(msg, &r);
    if (v == NULL)
        return (da_arc_cv)-1;
    if (oldest != NULL)
        *oldest = r.oldest_pass;
    if (reason != NULL)
        snprintf(reason, reason_size, "%s", r.reason);
    da_arc_cv cv = r.cv;
    da_arc_verify_free(v);
    return cv;
}

static char *replace(const char *msg, const char *from, const char *to)
{
    const char *at = strstr(msg, from);
    if (at == NULL)
        return strdup(msg);
    size_t len = strlen(msg) - strlen(from) + strlen(to);
    char *out = malloc(len + 1);
    sprintf(out, "%.*s%s%s", (int)(at - msg), msg, to, at + strlen(from));
    return out;
}

/* Replaces the first from after anchor. */
static char *replace_after(const char *msg, const char *anchor, const char *from, const char *to)
{
    const char *a = strstr(msg, anchor);
    const char *at = a ? strstr(a, from) : NULL;
    if (at == NULL)
        return strdup(msg);
    size_t len = strlen(msg) - strlen(from) + strlen(to);
    char *out = malloc(len + 1);
    sprintf(out, "%.*s%s%s", (int)(at - msg), msg, to, at + strlen(from));
    return out;
}

/* Removes the first line starting with prefix, with its continuation lines. */
static char *drop_field(const char *msg, const char *prefix)
{
    char *out = strdup(msg);
    char *at = strstr(out, prefix);
    if (at == NULL || (at != out && at[-1] != '\n'))
        return out;
    char *end = strstr(at, "\r\n");
    while (end != NULL && (end[2] == ' ' || end[2] == '\t'))
        end = strstr(end + 2, "\r\n");
    memmove(at, end + 2, strlen(end + 2) + 1);
    return out;
}

/* ------------------------------------------------------------- chains */

static void test_none(void)
{
    da_arc_result r;
    da_arc_verify *v = verify_msg(message, &r);
    TAP_OK(v != NULL && r.cv == DA_ARC_NONE && r.instances == 0,
           "a message without ARC fields: cv=none");
    char *clause = v ? da_arc_authres_clause(v, "192.0.2.1") : NULL;
    TAP_STR_EQ(clause, "arc=none smtp.remote-ip=192.0.2.1", "the clause for none");
    TAP_OK(v != NULL && da_arc_verify_count(v) == 0, "no sets reported");
    free(clause);
    da_arc_verify_free(v);
}

static void test_one_hop(bool ed)
{
    char err[300] = "";
    char *m1 = seal_as(message, ed, DA_ARC_NONE, NULL, err, sizeof err);
    TAP_OK(m1 != NULL, "seal one hop (%s): %s", ed ? "ed25519" : "rsa", err);
    if (m1 == NULL)
        return;
    TAP_OK(strncmp(m1, "ARC-Seal: i=1; a=", 17) == 0 && strstr(m1, "cv=none;") != NULL,
           "the set starts with ARC-Seal i=1, cv=none");
    TAP_OK(strstr(m1, "\r\nARC-Message-Signature: i=1; a=") != NULL &&
               strstr(m1, "\r\nARC-Authentication-Results: i=1; mx.example.com; spf=pass") !=
                   NULL,
           "then the AMS and the AAR with i=1");
    da_arc_result r;
    da_arc_verify *v = verify_msg(m1, &r);
    TAP_OK(v != NULL && r.cv == DA_ARC_PASS && r.instances == 1 && r.oldest_pass == 1,
           "one hop %s validates: cv=pass, oldest-pass 1 (%s)", ed ? "ed25519" : "rsa",
           v ? r.reason : "");
    da_arc_set_info info;
    TAP_OK(v != NULL && da_arc_verify_get(v, 0, &info) == 0 && info.instance == 1 &&
               info.seal_result == DA_DKIM_PASS && info.ams_result == DA_DKIM_PASS &&
               info.seal_cv == DA_ARC_NONE,
           "set 1: seal and AMS pass, cv=none recorded");
    if (v != NULL) {
        TAP_STR_EQ(info.seal_domain, ed ? "lists.example.org" : "example.com", "seal d=");
        TAP_STR_EQ(info.ams_selector, ed ? "ed" : "rsa", "AMS s=");
        TAP_STR_EQ(info.authres, "mx.example.com; spf=pass smtp.mailfrom=example.com",
                   "the AAR payload, unfolded");
        char *clause = da_arc_authres_clause(v, "2001:db8::1");
        char want[200];
        snprintf(want, sizeof want,
                 "arc=pass (i=1; sealed by %s) header.oldest-pass=1 smtp.remote-ip=\"2001:db8::1\"",
                 ed ? "lists.example.org" : "example.com");
        TAP_STR_EQ(clause, want, "the arc= clause (an IPv6 address is quoted: ':' is a tspecial)");
        free(clause);
    }
    da_arc_verify_free(v);
    free(m1);
}

static void test_three_hops(void)
{
    char err[300] = "";
    char *m1 = seal_as(message, false, DA_ARC_NONE, NULL, err, sizeof err);
    char *m2 = m1 ? seal_as(m1, true, DA_ARC_PASS, "lists.example.org; arc=pass; dkim=fail",
                            err, sizeof err)
                  : NULL;
    char *m3 = m2 ? seal_as(m2, false, DA_ARC_PASS, "mx2.example.com; arc=pass", err,
                            sizeof err)
                  : NULL;
    TAP_OK(m3 != NULL, "seal three hops, rsa, ed25519, rsa: %s", err);
    unsigned oldest = 0;
    char reason[400];
    TAP_OK(m2 && cv_of(m2, &oldest, reason, sizeof reason) == DA_ARC_PASS && oldest == 1,
           "two hops validate, oldest-pass 1 (%s)", m2 ? reason : "");
    da_arc_result r;
    da_arc_verify *v = m3 ? verify_msg(m3, &r) : NULL;
    TAP_OK(v && r.cv == DA_ARC_PASS && r.instances == 3 && r.oldest_pass == 1,
           "three hops validate: instances 3, oldest-pass 1");
    da_arc_set_info info;
    TAP_OK(v && da_arc_verify_count(v) == 3 && da_arc_verify_get(v, 1, &info) == 0 &&
               info.instance == 2 && info.seal_cv == DA_ARC_PASS &&
               strcmp(info.seal_algorithm, "ed25519-sha256") == 0,
           "set 2 is the ed25519 one with cv=pass");
    if (v != NULL) {
        char *clause = da_arc_authres_clause(v, NULL);
        TAP_STR_EQ(clause,
                   "arc=pass (i=3; sealed by example.com, lists.example.org, example.com) "
                   "header.oldest-pass=1",
                   "the clause names the sealers, newest first");
        free(clause);
    }
    da_arc_verify_free(v);

    /* Tampering with the middle set's AAR breaks seals 2 and 3. */
    char *t = m3 ? replace(m3, "arc=pass; dkim=fail", "arc=pass; dkim=pass") : NULL;
    TAP_OK(t && cv_of(t, NULL, reason, sizeof reason) == DA_ARC_FAIL &&
               strstr(reason, "ARC-Seal i=3") != NULL,
           "an edited ARC-Authentication-Results fails the newest seal (%s)", t ? reason : "");
    free(t);
    /* Tampering with the body after the last hop: the newest AMS fails. */
    t = m3 ? replace(m3, "noon", "midnight") : NULL;
    TAP_OK(t && cv_of(t, NULL, reason, sizeof reason) == DA_ARC_FAIL &&
               strstr(reason, "ARC-Message-Signature i=3") != NULL &&
               strstr(reason, "body hash") != NULL,
           "an edited body fails the newest AMS (%s)", t ? reason : "");
    free(t);
    /* A forged seal signature. */
    t = m3 ? replace_after(m3, "ARC-Seal: i=2;", " b=", " b=AAAA") : NULL;
    TAP_OK(t && strcmp(t, m3) != 0 && cv_of(t, NULL, reason, sizeof reason) == DA_ARC_FAIL &&
               strstr(reason, "ARC-Seal i=3") != NULL,
           "a damaged b= in seal 2 fails seal 3, which covers it (%s)", t ? reason : "");
    free(t);
    t = m3 ? replace_after(m3, "ARC-Seal: i=3;", " b=", " b=AAAA") : NULL;
    TAP_OK(t && strcmp(t, m3) != 0 && cv_of(t, NULL, reason, sizeof reason) == DA_ARC_FAIL &&
               strstr(reason, "ARC-Seal i=3") != NULL &&
               strstr(reason, "seal did not verify") != NULL,
           "a damaged b= in the newest seal fails it (%s)", t ? reason : "");
    free(t);
    free(m1);
    free(m2);
    free(m3);
}

/* A list adds a footer and seals: the first AMS no longer validates, so
 * oldest-pass is 2, and the chain still passes. */
static void test_oldest_pass(void)
{
    char err[300] = "", reason[400] = "";
    char *m1 = seal_as(message, false, DA_ARC_NONE, NULL, err, sizeof err);
    char *edited = m1 ? replace(m1, "noon?\r\n", "noon?\r\n-- \r\nThe lunch list\r\n") : NULL;
    char *m2 = edited ? seal_as(edited, true, DA_ARC_PASS, "lists.example.org; arc=pass", err,
                                sizeof err)
                      : NULL;
    unsigned oldest = 0;
    TAP_OK(m2 && cv_of(m2, &oldest, reason, sizeof reason) == DA_ARC_PASS && oldest == 2,
           "a footer added before hop 2: cv=pass, oldest-pass 2 (%u)", oldest);
    da_arc_result r;
    da_arc_verify *v = m2 ? verify_msg(m2, &r) : NULL;
    da_arc_set_info info;
    TAP_OK(v && da_arc_verify_get(v, 0, &info) == 0 && info.ams_result == DA_DKIM_FAIL &&
               info.seal_result == DA_DKIM_PASS,
           "set 1: AMS fails, seal passes");
    da_arc_verify_free(v);
    free(m1);
    free(edited);
    free(m2);
}

static void test_cv_fail_sealed(void)
{
    char err[300] = "", reason[400] = "";
    char *m1 = seal_as(message, false, DA_ARC_NONE, NULL, err, sizeof err);
    char *m2 = m1 ? seal_as(m1, true, DA_ARC_FAIL, "lists.example.org; arc=fail", err,
                            sizeof err)
                  : NULL;
    TAP_OK(m2 != NULL, "a failed chain can be sealed with cv=fail: %s", err);
    TAP_OK(m2 && cv_of(m2, NULL, reason, sizeof reason) == DA_ARC_FAIL &&
               strstr(reason, "records cv=fail") != NULL,
           "the newest seal's cv=fail fails the chain (%s)", reason);
    free(m1);
    free(m2);
}

/* ------------------------------------------------------------ structure */

static void expect_fail(const char *msg, const char *want, const char *what)
{
    char err[200], reason[400] = "";
    da_arc_verify_options vo = {0};
    da_arc_verify *v = da_arc_verify_new(&vo, err, sizeof err);
    da_arc_verify_feed(v, msg, strlen(msg));
    da_arc_verify_finish(v);
    /* A broken structure fails before any key is asked for. */
    da_arc_step s = da_arc_verify_step(v);
    da_arc_result r;
    bool ok = s.kind == DA_DKIM_STEP_DONE && da_arc_verify_result(v, &r) == 0 &&
              r.cv == DA_ARC_FAIL;
    if (ok)
        snprintf(reason, sizeof reason, "%s", r.reason);
    TAP_OK(ok && strstr(reason, want) != NULL, "%s: fail with no DNS question (%s)", what,
           reason);
    da_arc_verify_free(v);
}

static void test_structure(void)
{
    char err[300] = "";
    char *m1 = seal_as(message, false, DA_ARC_NONE, NULL, err, sizeof err);
    char *m2 = m1 ? seal_as(m1, true, DA_ARC_PASS, "lists.example.org; arc=pass", err,
                            sizeof err)
                  : NULL;
    if (m2 == NULL) {
        TAP_OK(0, "sealing for the structure tests: %s", err);
        return;
    }
    char *t = drop_field(m2, "ARC-Message-Signature: i=1;");
    expect_fail(t, "instance 1 is incomplete", "set 1 without its AMS");
    free(t);
    t = drop_field(m2, "ARC-Seal: i=2;");
    expect_fail(t, "instance 2 is incomplete", "set 2 without its seal");
    free(t);
    char *dup = malloc(strlen(m2) + 64);
    sprintf(dup, "ARC-Authentication-Results: i=1; x.example; none\r\n%s", m2);
    expect_fail(dup, "a second field for instance 1", "two AARs for instance 1");
    free(dup);
    t = replace(m2, "ARC-Authentication-Results: i=2;", "ARC-Authentication-Results: i=3;");
    char *t2 = replace(t, "ARC-Message-Signature: i=2;", "ARC-Message-Signature: i=3;");
    char *t3 = replace(t2, "ARC-Seal: i=2;", "ARC-Seal: i=3;");
    expect_fail(t3, "instance 2 is missing", "instances 1 and 3: a gap");
    free(t);
    free(t2);
    free(t3);
    t = replace(m2, "ARC-Seal: i=2;", "ARC-Seal: i=51;");
    expect_fail(t, "no valid i=", "an ARC-Seal with i=51");
    free(t);
    t = replace(m2, "ARC-Seal: i=2;", "ARC-Seal: i=02;");
    expect_fail(t, "no valid i=", "an ARC-Seal with i=02");
    free(t);
    t = replace(m1, "cv=none;", "cv=pass;");
    expect_fail(t, "cv=pass where it must be none", "set 1 with cv=pass");
    free(t);
    t = replace(m2, "cv=pass;", "cv=none;");
    expect_fail(t, "cv=none where it must be pass", "set 2 with cv=none");
    free(t);
    t = replace(m2, "cv=pass;", "cv=maybe;");
    expect_fail(t, "cv= is not none, pass or fail", "a seal with cv=maybe");
    free(t);
    t = replace(m2, "ARC-Seal: i=2;", "ARC-Seal: i=2; h=from;");
    expect_fail(t, "h= is not allowed", "a seal with h=");
    free(t);
    free(m1);
    free(m2);
}

/* 50 sets validate; a 51st cannot be added. */
static void test_fifty(void)
{
    char err[300] = "";
    char *m = strdup(message);
    for (unsigned i = 1; i <= 50 && m != NULL; i++) {
        char *next = seal_as(m, true, i == 1 ? DA_ARC_NONE : DA_ARC_PASS,
                             "lists.example.org; arc=pass", err, sizeof err);
        free(m);
        m = next;
    }
    TAP_OK(m != NULL, "50 sets sealed: %s", err);
    da_arc_result r;
    da_arc_verify *v = m ? verify_msg(m, &r) : NULL;
    TAP_OK(v && r.cv == DA_ARC_PASS && r.instances == 50 && r.oldest_pass == 1,
           "a chain of 50 validates (%s)", v ? r.reason : "");
    da_arc_verify_free(v);
    char *m51 = m ? seal_as(m, true, DA_ARC_PASS, "x.example; arc=pass", err, sizeof err) : NULL;
    TAP_OK(m51 == NULL && strstr(err, "50 ARC sets already") != NULL,
           "a 51st set is refused (%s)", err);
    free(m51);
    free(m);
}

/* ------------------------------------------------------------- DNS */

static void test_steps_and_dns(void)
{
    char err[300] = "";
    char *m1 = seal_as(message, false, DA_ARC_NONE, NULL, err, sizeof err);
    char *m2 = m1 ? seal_as(m1, true, DA_ARC_PASS, "lists.example.org; arc=pass", err,
                            sizeof err)
                  : NULL;
    if (m2 == NULL) {
        TAP_OK(0, "sealing for the DNS tests: %s", err);
        return;
    }
    da_arc_verify_options vo = {0};
    da_arc_verify *v = da_arc_verify_new(&vo, err, sizeof err);
    const char *body = strstr(m2, "\r\n\r\n") + 4;
    da_arc_verify_feed(v, m2, (size_t)(body - m2));
    da_arc_step s = da_arc_verify_step(v);
    bool names = s.kind == DA_DKIM_STEP_QUERIES && s.count == 2 &&
                 strcmp(s.questions[0].name, "rsa._domainkey.example.com") == 0 &&
                 strcmp(s.questions[1].name, "ed._domainkey.lists.example.org") == 0;
    TAP_OK(names, "after the header: two key questions, each once");
    if (names) {
        da_dns_answer fail = {.status = DA_DNS_SERVFAIL};
        da_dns_question q0 = s.questions[0], q1 = s.questions[1];
        da_arc_verify_answer(v, &q0, &fail);
        TAP_OK(da_arc_verify_step(v).kind == DA_DKIM_STEP_INPUT, "then: more input");
        da_arc_verify_feed(v, body, strlen(body));
        da_arc_verify_finish(v);
        s = da_arc_verify_step(v);
        TAP_OK(s.kind == DA_DKIM_STEP_QUERIES && s.count == 0,
               "after the body: waiting for the second answer");
        char *record = da_dkim_key_record(ed_key);
        da_dns_rr rr = {.type = DA_DNS_TXT, .text = record, .text_len = strlen(record)};
        da_dns_answer good = {.status = DA_DNS_NOERROR, .count = 1, .records = &rr};
        da_dns_question dotted = {"ED._domainkey.lists.example.org.", DA_DNS_TXT};
        (void)q1;
        da_arc_verify_answer(v, &dotted, &good); /* case and a final dot do not matter */
        free(record);
        TAP_OK(da_arc_verify_step(v).kind == DA_DKIM_STEP_DONE, "then done");
        da_arc_result r;
        TAP_OK(da_arc_verify_result(v, &r) == 0 && r.cv == DA_ARC_FAIL && r.temporary &&
                   strstr(r.reason, "SERVFAIL") != NULL,
               "a SERVFAIL for the first sealer's key: fail, marked temporary (%s)", r.reason);
    }
    da_arc_verify_free(v);

    /* No key record at all: a permanent failure. */
    char *t = replace_after(m1, "ARC-Seal: i=1;", "s=rsa;", "s=gone;");
    char reason[400] = "";
    da_arc_result r;
    da_arc_verify *v2 = verify_msg(t, &r);
    TAP_OK(v2 && r.cv == DA_ARC_FAIL && !r.temporary &&
               strstr(r.reason, "no key record") != NULL,
           "a seal whose key is missing: fail, not temporary (%s)", v2 ? r.reason : reason);
    da_arc_verify_free(v2);
    free(t);
    free(m1);
    free(m2);
}

/* ------------------------------------------------------------- sealer */

static void test_sealer_refusals(void)
{
    char err[300] = "";
    char *m = seal_as(message, false, DA_ARC_PASS, NULL, err, sizeof err);
    TAP_OK(m == NULL && strstr(err, "cv must be none") != NULL,
           "cv=pass on a message without ARC is refused (%s)", err);
    free(m);
    char *m1 = seal_as(message, false, DA_ARC_NONE, NULL, err, sizeof err);
    m = m1 ? seal_as(m1, false, DA_ARC_NONE, NULL, err, sizeof err) : NULL;
    TAP_OK(m == NULL && strstr(err, "cv must be pass or fail") != NULL,
           "cv=none on a message with ARC sets is refused (%s)", err);
    free(m);
    m = seal_as(message, false, DA_ARC_NONE, "mx.example.com; spf=pass\r\nBcc: x@y", err,
                sizeof err);
    TAP_OK(m == NULL && strstr(err, "line break") != NULL,
           "an Authentication-Results text with a header injection is refused");
    free(m);
    m = seal_as(message, false, DA_ARC_NONE, "i=1; mx.example.com; none", err, sizeof err);
    TAP_OK(m == NULL && strstr(err, "starts with i=") != NULL,
           "an Authentication-Results text that carries its own i= is refused");
    free(m);
    char *broken = m1 ? drop_field(m1, "ARC-Seal: i=1;") : NULL;
    m = broken ? seal_as(broken, false, DA_ARC_PASS, NULL, err, sizeof err) : NULL;
    TAP_OK(m == NULL && strstr(err, "chain is broken") != NULL,
           "cv=pass over a broken chain is refused (%s)", err);
    free(m);
    m = broken ? seal_as(broken, false, DA_ARC_FAIL, NULL, err, sizeof err) : NULL;
    TAP_OK(m != NULL && strncmp(m, "ARC-Seal: i=2;", 14) == 0,
           "cv=fail over a broken chain seals as i=2");
    free(m);
    free(broken);
    free(m1);
}

/* ------------------------------------------------------------- parsers */

static void test_parsers(void)
{
    unsigned i = 0;
    size_t off = 0;
    const char *aar = " i = 7 ;mx.example.com; none";
    TAP_OK(arc_aar_parse(aar, strlen(aar), &i, &off) == 0 && i == 7 &&
               strcmp(aar + off, "mx.example.com; none") == 0,
           "AAR: i= with spaces, payload after ';'");
    const char *bad[] = {"mx.example.com; i=1", "i=0; x", "i=51; x", "i=1 x", "i=; x",
                         "i=1", "i=9999999999; x"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        TAP_OK(arc_aar_parse(bad[k], strlen(bad[k]), &i, &off) != 0, "AAR refused: '%s'",
               bad[k]);
    const char *ams = "ARC-Message-Signature: i=1; a=rsa-sha256; d=example.com; s=rsa; "
                      "h=from:arc-seal; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA";
    dkim_signature sig;
    char err[200] = "";
    TAP_OK(dkim_signature_parse_ams(ams, strlen(ams), 22, 50, &sig, err, sizeof err) != 0 &&
               strstr(err, "ARC-Seal") != NULL,
           "an AMS whose h= lists ARC-Seal is refused (%s)", err);
    const char *ams2 = "ARC-Message-Signature: i=3; a=rsa-sha256; d=example.com; s=rsa; "
                       "h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA";
    TAP_OK(dkim_signature_parse_ams(ams2, strlen(ams2), 22, 50, &sig, err, sizeof err) == 0 &&
               sig.instance == 3 && strcmp(sig.identity, "@example.com") == 0,
           "an AMS without v=: i= is the instance, the identity is @d");
    const char *seal = "ARC-Seal: i=2; a=rsa-sha1; cv=pass; d=example.com; s=rsa; b=AAAA";
    arc_seal_sig as;
    TAP_OK(arc_seal_parse(seal, strlen(seal), 9, &as, err, sizeof err) != 0 &&
               strstr(err, "unsupported algorithm") != NULL,
           "a seal with rsa-sha1 is refused");
    const char *seal2 = "ARC-Seal: i=2; a=rsa-sha256; cv=pass; d=example.com; s=rsa";
    TAP_OK(arc_seal_parse(seal2, strlen(seal2), 9, &as, err, sizeof err) != 0 &&
               strstr(err, "missing") != NULL,
           "a seal without b= is refused");
}

int main(void)
{
    char err[200];
    rsa_key = da_dkim_key_generate(DA_DKIM_KEY_RSA, 1024, err, sizeof err);
    ed_key = da_dkim_key_generate(DA_DKIM_KEY_ED25519, 0, err, sizeof err);
    zone = da_zone_new();
    add_key("rsa._domainkey.example.com", rsa_key);
    add_key("ed._domainkey.lists.example.org", ed_key);
    test_none();
    test_one_hop(false);
    test_one_hop(true);
    test_three_hops();
    test_oldest_pass();
    test_cv_fail_sealed();
    test_structure();
    test_fifty();
    test_steps_and_dns();
    test_sealer_refusals();
    test_parsers();
    da_zone_free(zone);
    da_dkim_key_free(rsa_key);
    da_dkim_key_free(ed_key);
    return tap_done();
}
