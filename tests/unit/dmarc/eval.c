/* eval.c: the DMARC evaluator over zones: policy discovery and the
 * organizational domain by the DNS tree walk (RFC 9989 section 4.10: one
 * query per label, the jump to seven labels, at most eight queries, psd=y,
 * n and u, several records at a name), p/sp/np, t=y, SPF and DKIM
 * alignment (relaxed and strict), the DNS errors, and the RFC 7489 mode
 * (public suffix list, pct=). The vectors are this project's own. TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domauth_dmarc.h"
#include "tap.h"

static const char world[] =
    /* the usual: a record at the organizational domain only */
    "_dmarc.example.com TXT \"v=DMARC1; p=reject; sp=quarantine; np=reject; "
    "rua=mailto:d@example.com\"\n"
    "mail.example.com A 192.0.2.1\n"
    "example.com A 192.0.2.1\n"
    /* a record at the From domain itself, with its own policy */
    "_dmarc.own.example.com TXT \"v=DMARC1; p=none\"\n"
    /* a public suffix domain and an organization under it without a record */
    "_dmarc.gov TXT \"v=DMARC1; p=reject; psd=y\"\n"
    "agency.gov A 192.0.2.2\n"
    /* psd=n in the middle: dept.corp.example is an organization of its own */
    "_dmarc.corp.example TXT \"v=DMARC1; p=reject\"\n"
    "_dmarc.dept.corp.example TXT \"v=DMARC1; p=quarantine; psd=n\"\n"
    /* psd=u is no psd at all: the walk goes on to the shortest record */
    "_dmarc.u.uorg.example TXT \"v=DMARC1; p=none; psd=u\"\n"
    "_dmarc.uorg.example TXT \"v=DMARC1; p=reject\"\n"
    /* several records: none used there */
    "_dmarc.two.example.com TXT \"v=DMARC1; p=none\"\n"
    "_dmarc.two.example.com TXT \"v=DMARC1; p=reject\"\n"
    "_dmarc.dup.example TXT \"v=DMARC1; p=none\"\n"
    "_dmarc.dup.example TXT \"v=DMARC1; p=reject\"\n"
    /* a non-DMARC TXT beside the record is discarded, not a second one */
    "_dmarc.mixed.example TXT \"v=spf1 -all\"\n"
    "_dmarc.mixed.example TXT \"v=DMARC1; p=quarantine\"\n"
    /* strict alignment, testing mode, a broken record, a reporting-only one */
    "_dmarc.strict.example TXT \"v=DMARC1; p=reject; adkim=s; aspf=s\"\n"
    "_dmarc.test.example TXT \"v=DMARC1; p=reject; t=y\"\n"
    "_dmarc.testq.example TXT \"v=DMARC1; p=quarantine; t=y\"\n"
    "_dmarc.broken.example TXT \"v=DMARC1; p=reject; adkim=x\"\n"
    "_dmarc.sub.brokensub.example TXT \"v=DMARC1; p=reject; adkim=x\"\n"
    "_dmarc.brokensub.example TXT \"v=DMARC1; p=quarantine\"\n"
    "_dmarc.rua.example TXT \"v=DMARC1; rua=mailto:r@rua.example\"\n"
    /* DNS trouble */
    "_dmarc.fail.example SERVFAIL\n"
    "_dmarc.slow.example TIMEOUT\n"
    "_dmarc.above.errtld TXT \"v=DMARC1; p=reject\"\n"
    "_dmarc.errtld SERVFAIL\n"
    /* RFC 7489 mode: a public suffix of two labels */
    "_dmarc.shop.example.co.uk TXT \"v=DMARC1; p=reject; pct=50\"\n"
    /* the long name's walk */
    "_dmarc.example.net TXT \"v=DMARC1; p=quarantine\"\n";

static da_zone *zone;

typedef struct run {
    da_dmarc_eval *ev;
    char asked[2048]; /* "name/TYPE " for each question, in order */
    unsigned txt_questions;
} run;

static void run_eval(run *r, const da_dmarc_request *req)
{
    char err[256];
    memset(r, 0, sizeof *r);
    r->ev = da_dmarc_eval_new(req, err, sizeof err);
    if (r->ev == NULL) {
        printf("# da_dmarc_eval_new: %s\n", err);
        return;
    }
    for (int round = 0; round < 100; round++) {
        da_dmarc_step s = da_dmarc_eval_step(r->ev);
        if (s.done)
            return;
        /* Copy the questions first: answering may change the step's list. */
        da_dns_question qs[16];
        char names[16][300];
        size_t n = s.count < 16 ? s.count : 16;
        for (size_t i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "%s", s.questions[i].name);
            qs[i] = (da_dns_question){names[i], s.questions[i].type};
            size_t len = strlen(r->asked);
            snprintf(r->asked + len, sizeof r->asked - len, "%s/%s ", names[i],
                     da_dns_type_name(qs[i].type));
            if (qs[i].type == DA_DNS_TXT)
                r->txt_questions++;
        }
        for (size_t i = 0; i < n; i++) {
            da_dns_answer *a = da_zone_lookup(zone, &qs[i]);
            da_dmarc_eval_answer(r->ev, &qs[i], a);
            da_dns_answer_free(a);
        }
    }
    printf("# did not finish\n");
}

static da_dmarc_request from(const char *domain)
{
    return (da_dmarc_request){.from_domain = domain, .from_exists = -1};
}

static const char *result_of(const run *r)
{
    return r->ev ? da_dmarc_result_name(da_dmarc_eval_result(r->ev)) : "(no eval)";
}

static const char *policy_of(const run *r)
{
    return r->ev ? da_dmarc_policy_name(da_dmarc_eval_policy(r->ev)) : "(no eval)";
}

int main(void)
{
    char zerr[256];
    zone = da_zone_new();
    if (da_zone_load_text(zone, world, strlen(world), zerr, sizeof zerr) != 0) {
        printf("# zone: %s\n", zerr);
        return 2;
    }
    run r;
    const char *d1[] = {"example.com"};

    /* Record at the From domain (discovery example: the Author Domain has
     * its own record). The walk goes on to the root for the organizational
     * domain. */
    da_dmarc_request q = from("own.example.com");
    q.dkim_domains = (const char *[]){"own.example.com"};
    q.dkim_count = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "pass", "record at the From domain, DKIM d= the same: pass");
    TAP_STR_EQ(da_dmarc_eval_policy_domain(r.ev), "own.example.com",
               "policy domain is the From domain");
    TAP_STR_EQ(da_dmarc_eval_policy_tag(r.ev), "p", "its p= applies");
    TAP_STR_EQ(da_dmarc_eval_org_domain(r.ev), "example.com",
               "organizational domain: the shortest record");
    TAP_STR_EQ(r.asked, "_dmarc.own.example.com/TXT _dmarc.example.com/TXT _dmarc.com/TXT ",
               "the walk: one label at a time to the root");
    da_dmarc_eval_free(r.ev);

    /* Record at the organizational domain only: a subdomain's From. */
    q = from("a.mail.example.com");
    q.dkim_domains = d1;
    q.dkim_count = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "pass", "subdomain From, d=example.com, relaxed: pass");
    TAP_STR_EQ(da_dmarc_eval_policy_domain(r.ev), "example.com",
               "policy from the organizational domain");
    TAP_STR_EQ(da_dmarc_eval_dkim_aligned(r.ev), "example.com", "the aligned d= is named");
    TAP_STR_EQ(r.asked,
               "_dmarc.a.mail.example.com/TXT _dmarc.mail.example.com/TXT _dmarc.example.com/TXT "
               "_dmarc.com/TXT ",
               "four queries, one per label; d=example.com needs no walk of its own");
    da_dmarc_eval_free(r.ev);

    /* sp= for an existing subdomain that fails. */
    q = from("mail.example.com");
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "fail", "nothing aligned: fail");
    TAP_STR_EQ(policy_of(&r), "quarantine", "existing subdomain: sp=quarantine");
    TAP_STR_EQ(da_dmarc_eval_policy_tag(r.ev), "sp", "the tag is sp");
    TAP_OK(strstr(r.asked, "mail.example.com/A ") != NULL, "np in the record: existence asked (%s)",
           r.asked);
    da_dmarc_eval_free(r.ev);

    /* np= for a subdomain that does not exist (NXDOMAIN for A, AAAA, MX). */
    q = from("nowhere.example.com");
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "fail", "non-existent subdomain: fail");
    TAP_STR_EQ(policy_of(&r), "reject", "np=reject applies");
    TAP_STR_EQ(da_dmarc_eval_policy_tag(r.ev), "np", "the tag is np");
    TAP_OK(strstr(r.asked,
                  "nowhere.example.com/A nowhere.example.com/AAAA nowhere.example.com/MX") != NULL,
           "A, AAAA and MX asked together");
    da_dmarc_eval_free(r.ev);
    q = from("nowhere.example.com");
    q.from_exists = 0;
    run_eval(&r, &q);
    TAP_OK(strcmp(policy_of(&r), "reject") == 0 && strstr(r.asked, "/A ") == NULL,
           "the caller says it does not exist: np, without asking");
    da_dmarc_eval_free(r.ev);
    q.from_exists = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(policy_of(&r), "quarantine", "the caller says it exists: sp");
    da_dmarc_eval_free(r.ev);
    q = from("example.com");
    run_eval(&r, &q);
    TAP_OK(strcmp(da_dmarc_eval_policy_tag(r.ev), "p") == 0 && strstr(r.asked, "/A ") == NULL,
           "the policy domain itself: p, no existence check");
    da_dmarc_eval_free(r.ev);

    /* The seven-label jump and the eight-query limit. */
    q = from("a.b.c.d.e.f.g.h.example.net");
    run_eval(&r, &q);
    TAP_STR_EQ(r.asked,
               "_dmarc.a.b.c.d.e.f.g.h.example.net/TXT _dmarc.d.e.f.g.h.example.net/TXT "
               "_dmarc.e.f.g.h.example.net/TXT _dmarc.f.g.h.example.net/TXT "
               "_dmarc.g.h.example.net/TXT _dmarc.h.example.net/TXT _dmarc.example.net/TXT "
               "_dmarc.net/TXT ",
               "ten labels: the name, then seven labels, then one at a time");
    TAP_OK(r.txt_questions == 8 && da_dmarc_eval_queries(r.ev) == 8, "eight queries (%u)",
           r.txt_questions);
    TAP_STR_EQ(da_dmarc_eval_policy_domain(r.ev), "example.net",
               "the record at example.net is found");
    da_dmarc_eval_free(r.ev);
    q = from("a.b.c.d.e.mail.example.net");
    run_eval(&r, &q);
    TAP_OK(strncmp(r.asked,
                   "_dmarc.a.b.c.d.e.mail.example.net/TXT _dmarc.b.c.d.e.mail.example.net/TXT ",
                   72) == 0 &&
               r.txt_questions == 8,
           "eight labels: the second query has seven (%s)", r.asked);
    da_dmarc_eval_free(r.ev);
    q = from("a.b.c.d.e.example.net");
    run_eval(&r, &q);
    TAP_OK(r.txt_questions == 7, "seven labels: seven queries, no jump (%u)", r.txt_questions);
    da_dmarc_eval_free(r.ev);
    {
        /* 40 labels still cost eight queries. */
        char longname[200] = "";
        for (int i = 0; i < 38; i++)
            strcat(longname, "x.");
        strcat(longname, "example.net");
        q = from(longname);
        run_eval(&r, &q);
        TAP_OK(r.txt_questions == 8, "forty labels: eight queries (%u)", r.txt_questions);
        da_dmarc_eval_free(r.ev);
    }

    /* psd=y: the PSD's policy, the organization one label below it. */
    q = from("mail.agency.gov");
    q.dkim_domains = (const char *[]){"agency.gov"};
    q.dkim_count = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(da_dmarc_eval_policy_domain(r.ev), "gov", "psd=y: the policy is the PSD's");
    TAP_STR_EQ(da_dmarc_eval_org_domain(r.ev), "agency.gov",
               "psd=y: the organizational domain is one label below");
    TAP_STR_EQ(result_of(&r), "pass", "d=agency.gov aligns with mail.agency.gov");
    da_dmarc_eval_free(r.ev);
    q = from("mail.agency.gov");
    q.dkim_domains = (const char *[]){"other.gov"};
    q.dkim_count = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "fail", "psd=y: d=other.gov is another organization");
    TAP_STR_EQ(policy_of(&r), "reject", "the PSD's p=reject applies (no sp)");
    da_dmarc_eval_free(r.ev);
    q = from("gov");
    run_eval(&r, &q);
    TAP_OK(strcmp(da_dmarc_eval_org_domain(r.ev), "gov") == 0 && r.txt_questions == 1,
           "psd=y at the From domain: its own organization, the walk stops");
    da_dmarc_eval_free(r.ev);

    /* psd=n ends the walk and makes an organization. */
    q = from("x.dept.corp.example");
    q.dkim_domains = (const char *[]){"corp.example"};
    q.dkim_count = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(da_dmarc_eval_org_domain(r.ev), "dept.corp.example",
               "psd=n: that domain is the organization");
    TAP_STR_EQ(result_of(&r), "fail", "d=corp.example is above it: not aligned");
    TAP_OK(strstr(r.asked, "_dmarc.example/") == NULL, "psd=n stops the walk (%s)", r.asked);
    TAP_STR_EQ(da_dmarc_eval_policy_domain(r.ev), "dept.corp.example", "its record is the policy");
    da_dmarc_eval_free(r.ev);
    q = from("x.dept.corp.example");
    q.dkim_domains = (const char *[]){"mail.dept.corp.example"};
    q.dkim_count = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "pass",
               "d=mail.dept.corp.example walks to dept.corp.example: aligned");
    da_dmarc_eval_free(r.ev);
    q = from("corp.example");
    q.dkim_domains = (const char *[]){"x.dept.corp.example"};
    q.dkim_count = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "fail", "the other way round: not aligned either");
    da_dmarc_eval_free(r.ev);

    /* psd=u: the walk goes on; the shortest record is the organization. */
    q = from("a.u.uorg.example");
    run_eval(&r, &q);
    TAP_STR_EQ(da_dmarc_eval_policy_domain(r.ev), "u.uorg.example",
               "psd=u: the first record is the policy");
    TAP_STR_EQ(da_dmarc_eval_org_domain(r.ev), "uorg.example",
               "psd=u: the organization is the shortest record");
    TAP_STR_EQ(policy_of(&r), "none", "its p=none applies (no sp)");
    da_dmarc_eval_free(r.ev);

    /* Several records at a name are no record there. */
    q = from("two.example.com");
    q.from_exists = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(da_dmarc_eval_policy_domain(r.ev), "example.com",
               "two records at the From domain: the walk goes on");
    TAP_STR_EQ(da_dmarc_eval_policy_tag(r.ev), "sp", "and the parent's sp applies");
    da_dmarc_eval_free(r.ev);
    q = from("dup.example");
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "none", "two records and nothing else: none");
    TAP_OK(da_dmarc_eval_problem(r.ev) && strstr(da_dmarc_eval_problem(r.ev), "2 DMARC records"),
           "the problem says so (%s)", da_dmarc_eval_problem(r.ev));
    da_dmarc_eval_free(r.ev);
    q = from("mixed.example");
    run_eval(&r, &q);
    TAP_STR_EQ(policy_of(&r), "quarantine", "a non-DMARC TXT beside the record is ignored");
    da_dmarc_eval_free(r.ev);

    /* No record at all. */
    q = from("nothing.example.org");
    run_eval(&r, &q);
    TAP_OK(strcmp(result_of(&r), "none") == 0 && r.txt_questions == 3,
           "no record: none after three queries (%s)", r.asked);
    TAP_OK(da_dmarc_eval_policy_domain(r.ev) == NULL, "no policy domain");
    da_dmarc_eval_free(r.ev);

    /* SPF alignment: only a pass of the MAIL FROM domain counts. */
    q = from("example.com");
    q.spf_domain = "bounce.example.com";
    q.spf_pass = true;
    run_eval(&r, &q);
    TAP_OK(strcmp(result_of(&r), "pass") == 0 && da_dmarc_eval_spf_aligned(r.ev),
           "SPF pass of bounce.example.com aligns (relaxed)");
    da_dmarc_eval_free(r.ev);
    q.spf_pass = false;
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "fail", "the same domain without an SPF pass: fail");
    da_dmarc_eval_free(r.ev);
    q = from("strict.example");
    q.spf_domain = "mail.strict.example";
    q.spf_pass = true;
    q.dkim_domains = (const char *[]){"mail.strict.example"};
    q.dkim_count = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "fail", "aspf=s, adkim=s: a subdomain does not align");
    da_dmarc_eval_free(r.ev);
    q.spf_domain = "STRICT.example.";
    q.dkim_domains = (const char *[]){"other.example"};
    run_eval(&r, &q);
    TAP_OK(strcmp(result_of(&r), "pass") == 0 && da_dmarc_eval_spf_aligned(r.ev),
           "aspf=s: the same name (case and trailing dot aside) aligns");
    da_dmarc_eval_free(r.ev);
    q = from("example.com");
    q.dkim_domains = (const char *[]){"example.org", "evil.example", "sub.example.com"};
    q.dkim_count = 3;
    run_eval(&r, &q);
    TAP_STR_EQ(da_dmarc_eval_dkim_aligned(r.ev), "sub.example.com",
               "the third of three signatures aligns");
    TAP_OK(strstr(r.asked, "example.org") == NULL && strstr(r.asked, "evil.example") == NULL,
           "names outside the organization are not walked (%s)", r.asked);
    TAP_OK(r.txt_questions == 3, "the DKIM walk reuses the From walk's answers (%u)",
           r.txt_questions);
    da_dmarc_eval_free(r.ev);

    /* t=y: one step softer. */
    q = from("test.example");
    run_eval(&r, &q);
    TAP_OK(strcmp(result_of(&r), "fail") == 0 && strcmp(policy_of(&r), "quarantine") == 0 &&
               da_dmarc_eval_published_policy(r.ev) == DA_DMARC_POLICY_REJECT &&
               da_dmarc_eval_softened(r.ev),
           "t=y: p=reject is applied as quarantine");
    da_dmarc_eval_free(r.ev);
    q = from("testq.example");
    run_eval(&r, &q);
    TAP_STR_EQ(policy_of(&r), "none", "t=y: p=quarantine is applied as none");
    da_dmarc_eval_free(r.ev);

    /* Broken and reporting-only records. */
    q = from("broken.example");
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "permerror", "only a malformed record: permerror");
    TAP_OK(da_dmarc_eval_problem(r.ev) &&
               strstr(da_dmarc_eval_problem(r.ev), "_dmarc.broken.example: position 21: adkim"),
           "the problem names the name, the position and the tag (%s)",
           da_dmarc_eval_problem(r.ev));
    da_dmarc_eval_free(r.ev);
    q = from("sub.brokensub.example");
    run_eval(&r, &q);
    TAP_OK(strcmp(result_of(&r), "fail") == 0 &&
               strcmp(da_dmarc_eval_policy_domain(r.ev), "brokensub.example") == 0,
           "a malformed record below a good one: the good one is used");
    TAP_OK(da_dmarc_eval_problem(r.ev) &&
               strstr(da_dmarc_eval_problem(r.ev),
                      "no aligned SPF or DKIM pass; skipped _dmarc.sub.brokensub.example: position"),
           "and the fail says which record was skipped (%s)", da_dmarc_eval_problem(r.ev));
    da_dmarc_eval_free(r.ev);
    q = from("rua.example");
    run_eval(&r, &q);
    TAP_OK(strcmp(result_of(&r), "fail") == 0 && strcmp(policy_of(&r), "none") == 0,
           "a record without p= is p=none");
    da_dmarc_eval_free(r.ev);

    /* DNS errors. */
    q = from("fail.example");
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "temperror", "SERVFAIL at the From domain: temperror");
    TAP_OK(da_dmarc_eval_problem(r.ev) &&
               strstr(da_dmarc_eval_problem(r.ev), "_dmarc.fail.example"),
           "the problem names the query");
    da_dmarc_eval_free(r.ev);
    q = from("slow.example");
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "temperror", "a timeout: temperror");
    da_dmarc_eval_free(r.ev);
    q = from("above.errtld");
    q.dkim_domains = (const char *[]){"mail.above.errtld"};
    q.dkim_count = 1;
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "temperror",
               "SERVFAIL above the policy: no organizational domain, relaxed alignment unknown");
    da_dmarc_eval_free(r.ev);
    q.dkim_domains = (const char *[]){"above.errtld"};
    run_eval(&r, &q);
    TAP_STR_EQ(result_of(&r), "pass", "the same error, but d= is the From domain: pass");
    da_dmarc_eval_free(r.ev);

    /* Abort (a deadline). */
    q = from("example.com");
    {
        char err[200];
        da_dmarc_eval *ev = da_dmarc_eval_new(&q, err, sizeof err);
        da_dmarc_step s = da_dmarc_eval_step(ev);
        TAP_OK(!s.done && s.count == 1, "the first step asks one question");
        da_dmarc_eval_abort(ev, "deadline");
        s = da_dmarc_eval_step(ev);
        TAP_OK(s.done && da_dmarc_eval_result(ev) == DA_DMARC_TEMPERROR &&
                   strcmp(da_dmarc_eval_problem(ev), "deadline") == 0,
               "abort: temperror with the reason");
        da_dmarc_eval_free(ev);
    }

    /* Bad requests. */
    {
        char err[200];
        q = from("exa mple.com");
        TAP_OK(da_dmarc_eval_new(&q, err, sizeof err) == NULL && strstr(err, "not a domain name"),
               "a From domain with a space is refused");
        q = from("a..b");
        TAP_OK(da_dmarc_eval_new(&q, err, sizeof err) == NULL, "an empty label is refused");
    }

    /* RFC 7489 mode. */
    if (da_dmarc_have_psl()) {
        q = from("a.b.shop.example.co.uk");
        q.mode = DA_DMARC_RFC7489;
        q.pct_roll = 70;
        run_eval(&r, &q);
        TAP_STR_EQ(r.asked, "_dmarc.a.b.shop.example.co.uk/TXT _dmarc.example.co.uk/TXT ",
                   "RFC 7489: the From domain, then the list's organizational domain");
        TAP_STR_EQ(result_of(&r), "none", "RFC 7489: shop.example.co.uk's record is not seen");
        da_dmarc_eval_free(r.ev);
        q = from("a.shop.example.co.uk");
        q.mode = DA_DMARC_RFC7489;
        q.pct_roll = 70;
        run_eval(&r, &q);
        TAP_STR_EQ(da_dmarc_eval_discovery(r.ev), "psl", "discovery method psl");
        TAP_OK(strcmp(result_of(&r), "none") == 0, "RFC 7489: org example.co.uk has no record");
        da_dmarc_eval_free(r.ev);
        q = from("shop.example.co.uk");
        q.mode = DA_DMARC_RFC7489;
        q.pct_roll = 70;
        q.dkim_domains = (const char *[]){"x.example.co.uk"};
        q.dkim_count = 1;
        run_eval(&r, &q);
        TAP_STR_EQ(result_of(&r), "pass",
                   "RFC 7489: the list puts x.example.co.uk in the same organization");
        da_dmarc_eval_free(r.ev);
        q.dkim_count = 0;
        run_eval(&r, &q);
        TAP_OK(strcmp(result_of(&r), "fail") == 0 && strcmp(policy_of(&r), "quarantine") == 0 &&
                   da_dmarc_eval_softened(r.ev),
               "pct=50, roll 70: outside the sample, quarantine instead of reject");
        da_dmarc_eval_free(r.ev);
        q.pct_roll = 10;
        run_eval(&r, &q);
        TAP_STR_EQ(policy_of(&r), "reject", "pct=50, roll 10: reject");
        da_dmarc_eval_free(r.ev);
        q = from("nowhere.example.com");
        q.mode = DA_DMARC_RFC7489;
        run_eval(&r, &q);
        TAP_OK(strcmp(policy_of(&r), "quarantine") == 0 && strstr(r.asked, "/A ") == NULL,
               "RFC 7489 has no np: sp, and no existence check");
        da_dmarc_eval_free(r.ev);
    } else {
        TAP_SKIP("RFC 7489 mode: built without libpsl");
    }

    /* RFC 9989 on the same names: the tree walk finds shop.example.co.uk. */
    q = from("a.b.shop.example.co.uk");
    run_eval(&r, &q);
    TAP_STR_EQ(da_dmarc_eval_policy_domain(r.ev), "shop.example.co.uk",
               "RFC 9989: the walk finds the record the list mode misses");
    da_dmarc_eval_free(r.ev);

    da_zone_free(zone);
    return tap_done();
}
