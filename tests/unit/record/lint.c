/* Unit tests for the SPF tree walker (src/record/lint.c) over in-memory
 * zones: one world per finding, the source document's record, and the
 * step interface (independent questions asked together, each once). */
#include <stdlib.h>
#include <string.h>

#include "domauth.h"
#include "record/lint.h"
#include "tap.h"

static da_zone *zone_from(const char *text)
{
    da_zone *z = da_zone_new();
    char err[256];
    if (da_zone_load_text(z, text, strlen(text), err, sizeof err) != 0) {
        printf("# zone error: %s\n", err);
        exit(2);
    }
    return z;
}

/* Drives the lint over the zone by hand, as the driver would. */
static spf_lint *lint_over(const char *zone_text, const char *domain, const char *record)
{
    da_zone *z = zone_from(zone_text);
    spf_lint *l = spf_lint_new(domain, record);
    for (int round = 0; round < 100; round++) {
        spf_lint_step s = spf_lint_step_next(l);
        if (s.done)
            break;
        da_dns_question qs[256];
        size_t n = s.count < 256 ? s.count : 256;
        memcpy(qs, s.questions, n * sizeof *qs);
        for (size_t i = 0; i < n; i++) {
            da_dns_answer *a = da_zone_lookup(z, &qs[i]);
            spf_lint_answer(l, &qs[i], a);
            da_dns_answer_free(a);
        }
    }
    da_zone_free(z);
    return l;
}

/* The first finding with code, or NULL. */
static const spf_lint_finding *find(const spf_lint *l, const char *code, unsigned term)
{
    for (size_t i = 0; i < spf_lint_count(l); i++) {
        const spf_lint_finding *f = spf_lint_get(l, i);
        if (strcmp(f->code, code) == 0 && (term == 0 || f->term == term))
            return f;
    }
    return NULL;
}

static void dump(const spf_lint *l)
{
    for (size_t i = 0; i < spf_lint_count(l); i++) {
        const spf_lint_finding *f = spf_lint_get(l, i);
        printf("#   %s %s %u %s: %s [%s]\n", spf_lint_severity_name(f->severity), f->domain,
               f->term, f->term_text ? f->term_text : "-", f->message, f->code);
    }
}

static void expect(const spf_lint *l, const char *code, unsigned term, spf_lint_severity sev,
                   const char *what)
{
    const spf_lint_finding *f = find(l, code, term);
    TAP_OK(f != NULL && f->severity == sev, "%s: %s %s at term %u", what,
           spf_lint_severity_name(sev), code, term);
    if (f == NULL || f->severity != sev)
        dump(l);
}

static const char document_zone[] =
    "pocketstudio.jp TXT \"v=spf1 a mx ptr ip4:210.239.46.254 mx:sv.pocketstudio.jp "
    "ip4:210.128.158.225 a:pockets.to a:cyberteam.jp mx:pocketstudio.jp -all\"\n"
    "pocketstudio.jp MX 10 sv.pocketstudio.jp\n"
    "pocketstudio.jp A 210.239.46.254\n"
    "sv.pocketstudio.jp A 210.239.46.254\n"
    "sv.pocketstudio.jp MX 10 sv.pocketstudio.jp\n"
    "nsx.pocketstudio.jp A 210.128.158.225\n"
    "pockets.to A 210.239.46.254\n"
    "cyberteam.jp A 192.0.2.80\n";

static void test_document(void)
{
    spf_lint *l = lint_over(document_zone, "pocketstudio.jp", NULL);
    expect(l, "ptr", 3, SPF_LINT_WARNING, "the document's record");
    const spf_lint_finding *f = find(l, "ptr", 3);
    TAP_STR_EQ(f ? f->term_text : NULL, "ptr", "the finding names the term's text");
    TAP_STR_EQ(f ? f->domain : NULL, "pocketstudio.jp", "and the domain");
    expect(l, "redundant", 5, SPF_LINT_NOTE, "mx:sv.pocketstudio.jp has the domain's own MX");
    expect(l, "redundant", 9, SPF_LINT_WARNING, "mx:pocketstudio.jp is mx");
    expect(l, "redundant", 4, SPF_LINT_NOTE, "ip4:210.239.46.254 is the domain's A");
    TAP_OK(find(l, "redundant", 8) == NULL, "a:cyberteam.jp (another address) is not redundant");
    TAP_OK(spf_lint_lookups(l) == 7, "7 lookups (got %u)", spf_lint_lookups(l));
    TAP_OK(spf_lint_exit_status(l) == 1, "warnings only: exit 1");
    spf_lint_free(l);
}

static void test_steps(void)
{
    static const char zone[] =
        "example.com TXT \"v=spf1 a mx include:one.example include:two.example -all\"\n"
        "example.com A 192.0.2.1\n"
        "example.com MX 10 mx.example.com\n"
        "one.example TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
        "two.example TXT \"v=spf1 include:one.example -all\"\n";
    da_zone *z = zone_from(zone);
    spf_lint *l = spf_lint_new("example.com", NULL);
    spf_lint_step s = spf_lint_step_next(l);
    TAP_OK(!s.done && s.count == 2 && s.questions[0].type == DA_DNS_TXT &&
           s.questions[1].type == DA_DNS_SPF,
           "first step asks the domain's TXT (and the retired SPF type) only");
    da_dns_question q0[2] = {s.questions[0], s.questions[1]};
    da_dns_answer *a;
    for (int i = 0; i < 2; i++) {
        a = da_zone_lookup(z, &q0[i]);
        spf_lint_answer(l, &q0[i], a);
        da_dns_answer_free(a);
    }
    s = spf_lint_step_next(l);
    TAP_OK(!s.done && s.count == 5, "second step asks A, AAAA, MX and both includes at once "
           "(got %zu)", s.count);
    da_dns_question qs[16];
    size_t n = s.count < 16 ? s.count : 16;
    memcpy(qs, s.questions, n * sizeof *qs);
    spf_lint_step again = spf_lint_step_next(l);
    TAP_OK(!again.done && again.count == 0, "nothing is asked twice while waiting");
    for (size_t i = n; i-- > 0;) {
        a = da_zone_lookup(z, &qs[i]);
        spf_lint_answer(l, &qs[i], a);
        da_dns_answer_free(a);
    }
    s = spf_lint_step_next(l);
    TAP_OK(s.done, "one.example is asked once though included twice: done (count %zu)",
           s.count);
    TAP_OK(spf_lint_lookups(l) == 5, "5 lookups: 4 + include:one(0) + include:two(1) + "
           "one(0) (got %u)", spf_lint_lookups(l));
    TAP_OK(spf_lint_exit_status(l) == 0, "a clean tree exits 0");
    if (spf_lint_exit_status(l) != 0)
        dump(l);
    spf_lint_free(l);
    da_zone_free(z);

    /* The same through the driver's engine interface. */
    z = zone_from(zone);
    l = spf_lint_new("example.com", NULL);
    da_engine e = da_engine_spf_lint(l);
    da_engine_step es;
    unsigned rounds = 0;
    while (!(es = e.step(e.self)).done && rounds++ < 20) {
        da_dns_question eq[16];
        size_t en = es.count < 16 ? es.count : 16;
        memcpy(eq, es.questions, en * sizeof *eq);
        for (size_t i = 0; i < en; i++) {
            a = da_zone_lookup(z, &eq[i]);
            e.answer(e.self, &eq[i], a);
            da_dns_answer_free(a);
        }
    }
    TAP_OK(es.done && spf_lint_lookups(l) == 5, "driven as a da_engine");
    spf_lint_free(l);
    da_zone_free(z);

    /* The same over the zone resolver, the blocking way. */
    z = zone_from(zone);
    da_resolver *r = da_resolver_new_zone(z);
    l = spf_lint_new("example.com", NULL);
    TAP_OK(spf_lint_run(l, r) == 0 && spf_lint_lookups(l) == 5, "spf_lint_run over a resolver");
    spf_lint_free(l);
    da_resolver_free(r);
    da_zone_free(z);
}

static void test_records(void)
{
    spf_lint *l = lint_over("example.com A 192.0.2.1\n", "example.com", NULL);
    expect(l, "no-record", 0, SPF_LINT_ERROR, "no record");
    spf_lint_free(l);

    l = lint_over("example.com TXT \"v=spf1 -all\"\nexample.com TXT \"v=spf1 ~all\"\n",
                  "example.com", NULL);
    expect(l, "many-records", 0, SPF_LINT_ERROR, "two records");
    spf_lint_free(l);

    l = lint_over("example.com TXT \"v=spf1 a mx foo:bar -all\"\n", "example.com", NULL);
    expect(l, "syntax", 3, SPF_LINT_ERROR, "a syntax error names its term");
    spf_lint_free(l);

    l = lint_over("example.com TXT \"v=spf1 include:gone.example -all\"\n", "example.com", NULL);
    expect(l, "no-record", 1, SPF_LINT_ERROR, "include of a domain without a record");
    TAP_OK(spf_lint_void_lookups(l) == 1, "and it is a void lookup");
    spf_lint_free(l);

    l = lint_over("example.com TXT \"v=spf1 redirect=gone.example\"\n"
                  "gone.example TXT \"hello\"\n", "example.com", NULL);
    expect(l, "no-record", 1, SPF_LINT_ERROR, "redirect to a domain without an SPF record");
    spf_lint_free(l);

    l = lint_over("", NULL, "v=spf1 ip4:192.0.2.1 -all");
    TAP_OK(spf_lint_count_severity(l, SPF_LINT_ERROR) == 0 &&
           spf_lint_count_severity(l, SPF_LINT_WARNING) == 0, "a given record, clean");
    TAP_STR_EQ(spf_lint_get(l, 0) ? spf_lint_get(l, 0)->domain : NULL, "(record)",
               "a record without a domain is named (record)");
    spf_lint_free(l);
}

static void test_limits(void)
{
    static const char zone[] =
        "example.com TXT \"v=spf1 a mx include:b.example include:c.example -all\"\n"
        "example.com A 192.0.2.1\n"
        "example.com MX 10 mx.example.com\n"
        "b.example TXT \"v=spf1 a:x.b.example a:y.b.example exists:z.b.example mx -all\"\n"
        "b.example MX 10 mx.b.example\n"
        "x.b.example A 192.0.2.2\n"
        "y.b.example A 192.0.2.3\n"
        "z.b.example A 127.0.0.2\n"
        "c.example TXT \"v=spf1 redirect=d.example\"\n"
        "d.example TXT \"v=spf1 a:e.d.example a:f.d.example exists:e.d.example -all\"\n"
        "e.d.example A 192.0.2.4\n"
        "f.d.example A 192.0.2.5\n";
    spf_lint *l = lint_over(zone, "example.com", NULL);
    expect(l, "lookup-limit", 0, SPF_LINT_ERROR, "12 lookups");
    TAP_OK(spf_lint_lookups(l) == 12, "counted 12 (got %u)", spf_lint_lookups(l));
    TAP_STR_EQ(spf_lint_lookup_path(l),
               "example.com(4) > include:b.example(4) > include:c.example(1) > "
               "redirect:d.example(3)", "the path is shown");
    const spf_lint_finding *f = find(l, "lookup-limit", 0);
    TAP_OK(f && strstr(f->message, "redirect:d.example(3)") != NULL, "in the finding too");
    spf_lint_free(l);

    l = lint_over("example.com TXT \"v=spf1 a:n1.example mx:n2.example a:n3.example -all\"\n"
                  "n2.example A 192.0.2.9\n",
                  "example.com", NULL);
    expect(l, "void", 1, SPF_LINT_WARNING, "a void a");
    expect(l, "void", 2, SPF_LINT_WARNING, "a void mx");
    expect(l, "void-limit", 0, SPF_LINT_ERROR, "three void lookups");
    TAP_OK(spf_lint_void_lookups(l) == 3, "3 voids (got %u)", spf_lint_void_lookups(l));
    spf_lint_free(l);

    char zone2[4096] = "example.com TXT \"v=spf1 mx -all\"\n";
    for (int i = 0; i < 11; i++)
        snprintf(zone2 + strlen(zone2), sizeof zone2 - strlen(zone2),
                 "example.com MX %d mx%d.example.com\n", i, i);
    l = lint_over(zone2, "example.com", NULL);
    expect(l, "mx-limit", 1, SPF_LINT_ERROR, "11 MX names");
    spf_lint_free(l);

    l = lint_over("a.example TXT \"v=spf1 include:b.example -all\"\n"
                  "b.example TXT \"v=spf1 ip4:192.0.2.1 redirect=a.example\"\n",
                  "a.example", NULL);
    expect(l, "loop", 2, SPF_LINT_ERROR, "a redirect back to the top");
    f = find(l, "loop", 2);
    TAP_STR_EQ(f ? f->domain : NULL, "b.example", "found in b.example's record");
    spf_lint_free(l);

    l = lint_over("a.example TXT \"v=spf1 include:a.example -all\"\n", "a.example", NULL);
    expect(l, "loop", 1, SPF_LINT_ERROR, "an include of itself");
    spf_lint_free(l);
}

static void test_terms(void)
{
    static const char zone[] = "example.com A 192.0.2.1\nexample.com MX 10 mx.example.com\n";
    spf_lint *l = lint_over(zone, "example.com", "v=spf1 ptr ptr:example.org +all");
    expect(l, "ptr", 1, SPF_LINT_WARNING, "ptr");
    expect(l, "ptr", 2, SPF_LINT_WARNING, "ptr:domain");
    expect(l, "pass-all", 3, SPF_LINT_ERROR, "+all");
    TAP_OK(spf_lint_exit_status(l) == 2, "errors: exit 2");
    spf_lint_free(l);

    l = lint_over(zone, "example.com", "v=spf1 mx all");
    expect(l, "pass-all", 2, SPF_LINT_ERROR, "all without a qualifier is +all");
    spf_lint_free(l);

    l = lint_over(zone, "example.com", "v=spf1 mx ?all");
    expect(l, "neutral-all", 2, SPF_LINT_WARNING, "?all as policy");
    spf_lint_free(l);

    l = lint_over("example.com TXT \"v=spf1 include:p.example -all\"\n"
                  "p.example TXT \"v=spf1 ip4:192.0.2.0/24 ?all\"\n",
                  "example.com", NULL);
    TAP_OK(find(l, "neutral-all", 0) == NULL, "?all in an included record is not a policy");
    spf_lint_free(l);

    l = lint_over(zone, "example.com",
                  "v=spf1 mx a ip4:192.0.2.0/24 ip4:192.0.2.128/25 mx:example.com "
                  "a:EXAMPLE.COM. ip6:2001:db8::/32 ip6:2001:db8:1::/48 ip4:198.51.100.1 -all");
    expect(l, "redundant", 4, SPF_LINT_WARNING, "an ip4 range inside another");
    expect(l, "redundant", 5, SPF_LINT_WARNING, "mx and mx:own-domain");
    expect(l, "redundant", 6, SPF_LINT_WARNING, "a and a:own-domain, any case, trailing dot");
    expect(l, "redundant", 8, SPF_LINT_WARNING, "an ip6 range inside another");
    TAP_OK(find(l, "redundant", 9) == NULL && find(l, "redundant", 3) == NULL,
           "distinct ranges are not redundant");
    spf_lint_free(l);

    l = lint_over(zone, "example.com",
                  "v=spf1 ip4:192.0.2.7 ip6:2001:db8::1 ip4:192.0.2.0/24 ip6:2001:db8::/48 "
                  "ip4:198.51.100.9 -ip4:198.51.100.0/24 ip4:198.51.100.0/23 -all");
    expect(l, "redundant", 1, SPF_LINT_WARNING, "an ip4 address inside a wider range after it");
    expect(l, "redundant", 2, SPF_LINT_WARNING, "an ip6 address inside a wider range after it");
    TAP_OK(find(l, "redundant", 5) == NULL,
           "not across a term of another qualifier that could match first");
    spf_lint_free(l);

    l = lint_over(zone, "example.com", "v=spf1 ip4:192.0.2.0/24 -ip4:192.0.2.7 -all");
    TAP_OK(find(l, "redundant", 0) == NULL, "another qualifier is not a repeat");
    spf_lint_free(l);

    l = lint_over(zone, "example.com", "v=spf1 -all mx");
    expect(l, "unreachable", 2, SPF_LINT_WARNING, "terms after all");
    spf_lint_free(l);
}

static void test_spf_rr_type(void)
{
    spf_lint *l = lint_over("example.com TXT \"v=spf1 mx -all\"\n"
                            "example.com SPF \"v=spf1 mx -all\"\n"
                            "example.com MX 10 mx.example.com\n", "example.com", NULL);
    expect(l, "spf-rr-type", 0, SPF_LINT_WARNING, "the retired SPF RR type");
    spf_lint_free(l);
}

static void test_sizes(void)
{
    char record[700] = "v=spf1";
    for (int i = 0; strlen(record) < 560; i++)
        snprintf(record + strlen(record), sizeof record - strlen(record),
                 " ip4:198.51.%d.0/24", i);
    strcat(record, " -all");
    spf_lint *l = lint_over("", "example.com", record);
    expect(l, "record-size", 0, SPF_LINT_WARNING, "a record over 512 bytes");
    spf_lint_free(l);

    /* Under 512 itself, but with other TXT records the answer is not. */
    char zone[2048] = "example.com TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n";
    for (int i = 0; i < 3; i++) {
        strcat(zone, "example.com TXT \"verification=");
        for (int k = 0; k < 150; k++)
            strcat(zone, "x");
        snprintf(zone + strlen(zone), sizeof zone - strlen(zone), "%d\"\n", i);
    }
    l = lint_over(zone, "example.com", NULL);
    expect(l, "answer-size", 0, SPF_LINT_WARNING, "the TXT answer over 512 bytes");
    TAP_OK(find(l, "record-size", 0) == NULL, "though the record is small");
    spf_lint_free(l);

    l = lint_over("example.com TXT \"v=spf1 -all exp=why.example.com\"\n", "example.com", NULL);
    expect(l, "exp", 2, SPF_LINT_WARNING, "exp= target without a TXT");
    spf_lint_free(l);

    l = lint_over("example.com TXT \"v=spf1 -all exp=why.example.com\"\n"
                  "why.example.com TXT \"one\"\nwhy.example.com TXT \"two\"\n",
                  "example.com", NULL);
    expect(l, "exp", 2, SPF_LINT_WARNING, "exp= target with two TXT records");
    spf_lint_free(l);

    l = lint_over("example.com TXT \"v=spf1 -all exp=why.example.com\"\n"
                  "why.example.com TXT \"%{i} is not one of our servers\"\n",
                  "example.com", NULL);
    TAP_OK(find(l, "exp", 0) == NULL, "exp= target with one TXT record is fine");
    spf_lint_free(l);

    l = lint_over("", "example.com", "v=spf1 -all exp=a.example exp=b.example");
    expect(l, "syntax", 3, SPF_LINT_ERROR, "two exp= modifiers");
    spf_lint_free(l);
}

int main(void)
{
    test_document();
    test_steps();
    test_records();
    test_limits();
    test_terms();
    test_sizes();
    test_spf_rr_type();
    return tap_done();
}
