/* Unit tests for the sans-I/O evaluator: which questions each step asks,
 * that independent ones come together, that answer order does not change
 * the result, and that the RFC 7208 counters are exact despite prefetch. */
#include <stdlib.h>
#include <string.h>

#include "domauth.h"
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

static da_spf_eval *start(const char *ip, const char *from, const char *helo)
{
    char err[256];
    da_spf_request req = {.client_ip = ip, .mail_from = from, .helo = helo, .trace = true};
    da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
    if (ev == NULL) {
        printf("# eval_new: %s\n", err);
        exit(2);
    }
    return ev;
}

static bool asked(const da_spf_step *s, const char *name, da_dns_type type)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->questions[i].type == type && strcmp(s->questions[i].name, name) == 0)
            return true;
    return false;
}

static void answer_from(da_spf_eval *ev, const da_zone *z, const da_dns_question *q)
{
    da_dns_answer *a = da_zone_lookup(z, q);
    da_spf_eval_answer(ev, q, a);
    da_dns_answer_free(a);
}

/* Drives to the end, answering each step's questions in reverse order when
 * asked to. Returns the number of steps that asked questions. */
static unsigned drive(da_spf_eval *ev, const da_zone *z, bool reverse)
{
    unsigned rounds = 0;
    for (;;) {
        da_spf_step s = da_spf_eval_step(ev);
        if (s.kind == DA_SPF_STEP_DONE)
            return rounds;
        rounds++;
        da_dns_question qs[64];
        size_t n = s.count < 64 ? s.count : 64;
        memcpy(qs, s.questions, n * sizeof *qs);
        for (size_t i = 0; i < n; i++)
            answer_from(ev, z, &qs[reverse ? n - 1 - i : i]);
    }
}

static const char world[] =
    "example.com TXT \"v=spf1 mx include:a.example.net include:b.example.net -all\"\n"
    "example.com MX 10 mx1.example.com\n"
    "example.com MX 20 mx2.example.com\n"
    "example.com MX 30 mx3.example.com\n"
    "mx1.example.com A 192.0.2.1\n"
    "mx2.example.com A 192.0.2.2\n"
    "mx3.example.com A 192.0.2.3\n"
    "a.example.net TXT \"v=spf1 ip4:198.51.100.0/24 -all\"\n"
    "b.example.net TXT \"v=spf1 ip6:2001:db8::/32 -all\"\n";

int main(void)
{
    da_zone *z = zone_from(world);

    /* Step 1 asks for the record only; step 2, once the record is known,
     * asks for the MX set and prefetches both include targets together. */
    {
        da_spf_eval *ev = start("192.0.2.3", "user@example.com", "helo.example.com");
        da_spf_step s = da_spf_eval_step(ev);
        TAP_OK(s.kind == DA_SPF_STEP_QUERIES && s.count == 1 && asked(&s, "example.com", DA_DNS_TXT),
               "first step asks only for the sender domain's TXT");
        answer_from(ev, z, &s.questions[0]);
        s = da_spf_eval_step(ev);
        TAP_OK(asked(&s, "example.com", DA_DNS_MX) && asked(&s, "a.example.net", DA_DNS_TXT) &&
                   asked(&s, "b.example.net", DA_DNS_TXT),
               "second step asks for MX and prefetches both includes (%zu questions)", s.count);
        da_dns_question mxq = {"example.com", DA_DNS_MX};
        answer_from(ev, z, &mxq);
        s = da_spf_eval_step(ev);
        TAP_OK(s.count == 3 && asked(&s, "mx1.example.com", DA_DNS_A) &&
                   asked(&s, "mx2.example.com", DA_DNS_A) && asked(&s, "mx3.example.com", DA_DNS_A),
               "every MX host's address is asked in one step");
        /* Answer only the third host: mx1 and mx2 might still error, so the
         * evaluation must wait rather than guess. */
        da_dns_question q3 = {"mx3.example.com", DA_DNS_A};
        answer_from(ev, z, &q3);
        s = da_spf_eval_step(ev);
        TAP_OK(s.kind == DA_SPF_STEP_QUERIES && s.count == 0,
               "a later host's match waits for the earlier hosts");
        da_dns_question q1 = {"mx1.example.com", DA_DNS_A}, q2 = {"mx2.example.com", DA_DNS_A};
        answer_from(ev, z, &q2);
        answer_from(ev, z, &q1);
        s = da_spf_eval_step(ev);
        TAP_OK(s.kind == DA_SPF_STEP_DONE && da_spf_eval_result(ev) == DA_SPF_PASS,
               "pass once every earlier host is answered");
        TAP_STR_EQ(da_spf_eval_mechanism(ev), "mx", "matched mechanism reported");
        TAP_OK(da_spf_eval_dns_terms(ev) == 1, "only the mx term was counted (got %u)",
               da_spf_eval_dns_terms(ev));
        da_spf_eval_free(ev);
    }

    /* The first host matching ends the evaluation without the others. */
    {
        da_spf_eval *ev = start("192.0.2.1", "user@example.com", "h.example.com");
        da_spf_step s = da_spf_eval_step(ev);
        answer_from(ev, z, &s.questions[0]);
        da_spf_eval_step(ev);
        da_dns_question mxq = {"example.com", DA_DNS_MX};
        answer_from(ev, z, &mxq);
        da_spf_eval_step(ev);
        da_dns_question q1 = {"mx1.example.com", DA_DNS_A};
        answer_from(ev, z, &q1);
        s = da_spf_eval_step(ev);
        TAP_OK(s.kind == DA_SPF_STEP_DONE && da_spf_eval_result(ev) == DA_SPF_PASS,
               "first MX host match finishes without the other answers");
        da_spf_eval_free(ev);
    }

    /* Same answers in a different order: same result, same counters. */
    {
        const char *ips[] = {"198.51.100.9", "2001:db8::5", "203.0.113.1", "::ffff:192.0.2.2"};
        const da_spf_result want[] = {DA_SPF_PASS, DA_SPF_PASS, DA_SPF_FAIL, DA_SPF_PASS};
        for (int i = 0; i < 4; i++) {
            da_spf_eval *fwd = start(ips[i], "u@example.com", "h.example.com");
            da_spf_eval *rev = start(ips[i], "u@example.com", "h.example.com");
            drive(fwd, z, false);
            drive(rev, z, true);
            TAP_OK(da_spf_eval_result(fwd) == want[i] && da_spf_eval_result(rev) == want[i] &&
                       da_spf_eval_dns_terms(fwd) == da_spf_eval_dns_terms(rev) &&
                       da_spf_eval_void_lookups(fwd) == da_spf_eval_void_lookups(rev),
                   "%s: %s either answer order", ips[i], da_spf_result_name(want[i]));
            da_spf_eval_free(fwd);
            da_spf_eval_free(rev);
        }
    }

    /* Exactly ten DNS-querying terms pass; the eleventh is permerror, even
     * though prefetch asked for every include target at once. */
    {
        char text[4096] = "";
        size_t len = 0;
        for (int n = 10; n <= 11; n++) {
            len = (size_t)snprintf(text, sizeof text, "chain%d.example TXT \"v=spf1", n);
            for (int i = 0; i < n; i++)
                len += (size_t)snprintf(text + len, sizeof text - len, " include:i%d.chain%d.example",
                                        i, n);
            len += (size_t)snprintf(text + len, sizeof text - len, " -all\"\n");
            for (int i = 0; i < n; i++)
                len += (size_t)snprintf(text + len, sizeof text - len,
                                        "i%d.chain%d.example TXT \"v=spf1 ip4:192.0.2.%d\"\n", i, n,
                                        100 + i);
            da_zone *cz = zone_from(text);
            char from[64];
            snprintf(from, sizeof from, "u@chain%d.example", n);
            da_spf_eval *ev = start("192.0.2.250", from, "h.example.com");
            unsigned rounds = drive(ev, cz, false);
            da_spf_result r = da_spf_eval_result(ev);
            if (n == 10)
                TAP_OK(r == DA_SPF_FAIL && da_spf_eval_dns_terms(ev) == 10,
                       "10 includes: fail after 10 counted lookups (%s, %u)", da_spf_result_name(r),
                       da_spf_eval_dns_terms(ev));
            else
                TAP_OK(r == DA_SPF_PERMERROR && da_spf_eval_problem(ev) != NULL &&
                           strstr(da_spf_eval_problem(ev), "more than 10") != NULL,
                       "11 includes: permerror naming the limit (%s)", da_spf_result_name(r));
            TAP_OK(rounds == 2, "%d includes resolved in 2 rounds, not %d (got %u)", n, n + 1, rounds);
            da_spf_eval_free(ev);
            da_zone_free(cz);
        }
    }

    /* Answers to questions never asked are ignored. */
    {
        da_spf_eval *ev = start("192.0.2.1", "u@example.com", "h.example.com");
        da_dns_question bogus = {"evil.example", DA_DNS_TXT};
        da_dns_answer *a = da_dns_answer_new(DA_DNS_NOERROR, 60);
        da_dns_answer_add_text(a, DA_DNS_TXT, "v=spf1 +all", 11, 60);
        da_spf_eval_answer(ev, &bogus, a);
        da_spf_eval_answer(ev, &(da_dns_question){"example.com", DA_DNS_TXT}, a);
        da_dns_answer_free(a);
        da_spf_step s = da_spf_eval_step(ev);
        TAP_OK(s.kind == DA_SPF_STEP_QUERIES && asked(&s, "example.com", DA_DNS_TXT),
               "an unsolicited answer is not used");
        da_spf_eval_free(ev);
    }

    /* HELO identity: empty MAIL FROM checks postmaster@helo. */
    {
        da_zone *hz = zone_from("mta.example.org TXT \"v=spf1 a -all\"\nmta.example.org A 192.0.2.7\n");
        da_spf_eval *ev = start("192.0.2.7", "", "mta.example.org");
        drive(ev, hz, false);
        TAP_OK(da_spf_eval_result(ev) == DA_SPF_PASS, "HELO identity passes");
        TAP_STR_EQ(da_spf_eval_identity(ev), "helo", "identity is helo");
        TAP_STR_EQ(da_spf_eval_sender(ev), "postmaster@mta.example.org", "sender is postmaster@helo");
        da_spf_eval_free(ev);
        da_zone_free(hz);
    }

    /* Bad requests are refused with a reason, not evaluated. */
    {
        char err[256] = "";
        da_spf_request req = {.client_ip = "999.1.1.1", .mail_from = "a@b.example"};
        TAP_OK(da_spf_eval_new(&req, err, sizeof err) == NULL && strstr(err, "999.1.1.1") != NULL,
               "an unparsable client IP is refused, naming it");
    }

    da_zone_free(z);
    return tap_done();
}
