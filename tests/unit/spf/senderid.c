/* senderid.c: Sender ID (RFC 4406) on the SPF evaluator, over zones:
 * record selection by scope (spf2.0/pra, spf2.0/mfrom, both, v=spf1 only
 * when no spf2.0 record exists, several of one scope), the PRA rules
 * (a PRA domain that does not exist fails; macros from the PRA), the
 * same limits as SPF, and that SPF itself (scope spf) is unchanged. TAP. */
#include <stdio.h>
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

static const char world[] =
    /* only v=spf1: Sender ID uses it for both scopes */
    "v1only.example TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
    /* spf2.0/pra beside v=spf1: pra uses the spf2.0 one, mfrom has none */
    "both.example TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
    "both.example TXT \"spf2.0/pra ip4:192.0.2.2 -all\"\n"
    /* spf2.0/mfrom beside v=spf1: pra has no record (no fallback) */
    "mfromonly.example TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
    "mfromonly.example TXT \"spf2.0/mfrom ip4:192.0.2.3 -all\"\n"
    "mfrompra.example TXT \"spf2.0/mfrom,pra ip4:192.0.2.4 ~all\"\n"
    "pramfrom.example TXT \"SPF2.0/PRA,MFROM ip4:192.0.2.5 ?all\"\n"
    "twopra.example TXT \"spf2.0/pra ip4:192.0.2.6 -all\"\n"
    "twopra.example TXT \"spf2.0/mfrom,pra ip4:192.0.2.7 -all\"\n"
    "twov1.example TXT \"v=spf1 -all\"\n"
    "twov1.example TXT \"v=spf1 +all\"\n"
    /* a split of scopes in two records is fine: one each */
    "split.example TXT \"spf2.0/pra ip4:192.0.2.8 -all\"\n"
    "split.example TXT \"spf2.0/mfrom ip4:192.0.2.9 -all\"\n"
    /* a version section that is not spf2.0/scopes makes no record */
    "badversion.example TXT \"spf2.0/ ip4:192.0.2.10 -all\"\n"
    "badversion.example TXT \"spf2.0/pra;x ip4:192.0.2.10 -all\"\n"
    "badversion.example TXT \"v=spf1 ip4:192.0.2.11 -all\"\n"
    /* an unknown scope is still an spf2.0 record: no v=spf1 fallback */
    "future.example TXT \"spf2.0/future ip4:192.0.2.12 -all\"\n"
    "future.example TXT \"v=spf1 ip4:192.0.2.12 -all\"\n"
    "syntax.example TXT \"spf2.0/pra ip4:192.0.2.300 -all\"\n"
    /* includes keep the scope */
    "inc.example TXT \"spf2.0/pra include:mfromonly.example include:v1only.example -all\"\n"
    "inc2.example TXT \"spf2.0/pra include:v1only.example -all\"\n"
    /* macros come from the PRA */
    "macro.example TXT \"spf2.0/pra exists:%{l}.%{o}._ok.macro.example -all\"\n"
    "alice.macro.example._ok.macro.example A 127.0.0.2\n"
    "redir.example TXT \"spf2.0/pra redirect=both.example\"\n"
    "exists.example A 192.0.2.99\n" /* exists, no TXT at all */
    "deep0.example TXT \"spf2.0/pra include:deep1.example -all\"\n";

/* "result" or "result: problem" for one check over the zone. */
static const char *check(const da_zone *z, da_spf_scope scope, const char *ip, const char *id,
                         da_spf_record_cache *cache)
{
    static char out[600];
    char err[256];
    da_spf_request req = {.client_ip = ip, .helo = "helo.example", .scope = scope,
                          .records = cache};
    if (scope == DA_SPF_SCOPE_PRA)
        req.pra = id;
    else
        req.mail_from = id;
    da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
    if (ev == NULL) {
        snprintf(out, sizeof out, "eval_new: %s", err);
        return out;
    }
    da_resolver *r = da_resolver_new_zone(z);
    if (da_spf_eval_run(ev, r) != 0)
        snprintf(out, sizeof out, "run failed");
    else if (da_spf_eval_problem(ev) != NULL)
        snprintf(out, sizeof out, "%s: %s", da_spf_result_name(da_spf_eval_result(ev)),
                 da_spf_eval_problem(ev));
    else
        snprintf(out, sizeof out, "%s", da_spf_result_name(da_spf_eval_result(ev)));
    da_resolver_free(r);
    da_spf_eval_free(ev);
    return out;
}


int main(void)
{
    /* Chains of 11 includes for the limit test. */
    char zone_text[8192];
    snprintf(zone_text, sizeof zone_text, "%s", world);
    for (int i = 1; i <= 11; i++)
        snprintf(zone_text + strlen(zone_text), sizeof zone_text - strlen(zone_text),
                 "deep%d.example TXT \"%s include:deep%d.example -all\"\n", i,
                 i % 2 ? "v=spf1" : "spf2.0/pra", i + 1);
    da_zone *z = zone_from(zone_text);
    const da_spf_scope PRA = DA_SPF_SCOPE_PRA, MFROM = DA_SPF_SCOPE_MFROM, SPF = DA_SPF_SCOPE_SPF;

    for (int pass = 0; pass < 2; pass++) {
        /* The second pass takes parsed records from a shared cache. */
        da_spf_record_cache *cache = pass ? da_spf_record_cache_new(100) : NULL;
        const char *how = pass ? " (record cache)" : "";

        TAP_STR_EQ(check(z, PRA, "192.0.2.1", "a@v1only.example", cache), "pass",
                   "pra: v=spf1 alone stands for spf2.0/mfrom,pra%s", how);
        TAP_STR_EQ(check(z, MFROM, "192.0.2.1", "a@v1only.example", cache), "pass",
                   "mfrom: v=spf1 alone stands for spf2.0/mfrom,pra%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.2", "a@both.example", cache), "pass",
                   "pra: spf2.0/pra is chosen over v=spf1%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.1", "a@both.example", cache), "fail",
                   "pra: the v=spf1 record beside spf2.0/pra is not used%s", how);
        TAP_STR_EQ(check(z, MFROM, "192.0.2.1", "a@both.example", cache), "none",
                   "mfrom: spf2.0/pra beside v=spf1 leaves no mfrom record (no fallback)%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.1", "a@mfromonly.example", cache), "none",
                   "pra: spf2.0/mfrom beside v=spf1 leaves no pra record (no fallback)%s", how);
        TAP_STR_EQ(check(z, MFROM, "192.0.2.3", "a@mfromonly.example", cache), "pass",
                   "mfrom: spf2.0/mfrom is chosen over v=spf1%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.9", "a@mfrompra.example", cache), "softfail",
                   "pra: spf2.0/mfrom,pra covers pra%s", how);
        TAP_STR_EQ(check(z, MFROM, "192.0.2.4", "a@mfrompra.example", cache), "pass",
                   "mfrom: spf2.0/mfrom,pra covers mfrom%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.9", "a@pramfrom.example", cache), "neutral",
                   "pra: SPF2.0/PRA,MFROM in capitals, scopes in the other order%s", how);
        TAP_STR_EQ(check(z, MFROM, "192.0.2.5", "a@pramfrom.example", cache), "pass",
                   "mfrom: spf2.0/pra,mfrom covers mfrom%s", how);
        TAP_OK(strncmp(check(z, PRA, "192.0.2.6", "a@twopra.example", cache),
                       "permerror: twopra.example has more than one record for scope pra", 66) == 0,
               "pra: two records covering pra are a permerror, named%s", how);
        TAP_STR_EQ(check(z, MFROM, "192.0.2.7", "a@twopra.example", cache), "pass",
                   "mfrom: of the two, only spf2.0/mfrom,pra covers mfrom%s", how);
        TAP_OK(strncmp(check(z, PRA, "192.0.2.1", "a@twov1.example", cache), "permerror", 9) == 0,
               "pra: two v=spf1 records (no spf2.0) are a permerror as in SPF%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.8", "a@split.example", cache), "pass",
                   "pra: spf2.0/pra and spf2.0/mfrom published apart%s", how);
        TAP_STR_EQ(check(z, MFROM, "192.0.2.8", "a@split.example", cache), "fail",
                   "mfrom: the spf2.0/mfrom one of the two%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.11", "a@badversion.example", cache), "pass",
                   "pra: 'spf2.0/' and 'spf2.0/pra;x' are no records; v=spf1 is used%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.12", "a@future.example", cache), "none",
                   "pra: an spf2.0 record of an unknown scope still stops the v=spf1 fallback%s",
                   how);
        TAP_OK(strncmp(check(z, PRA, "192.0.2.1", "a@syntax.example", cache), "permerror", 9) == 0,
               "pra: a syntax error in the spf2.0 record is a permerror%s", how);

        /* The PRA rules. */
        TAP_STR_EQ(check(z, PRA, "192.0.2.1", "a@nowhere.example", cache), "fail",
                   "pra: a PRA domain that does not exist fails (RFC 4406)%s", how);
        TAP_STR_EQ(check(z, MFROM, "192.0.2.1", "a@nowhere.example", cache), "none",
                   "mfrom: a MAIL FROM domain that does not exist is none, as in SPF%s", how);
        TAP_STR_EQ(check(z, SPF, "192.0.2.1", "a@nowhere.example", cache), "none",
                   "spf: a domain that does not exist is none (RFC 7208)%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.1", "a@exists.example", cache), "none",
                   "pra: a PRA domain that exists without records is none%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.1", "alice@macro.example", cache), "pass",
                   "pra: %%{l} and %%{o} come from the PRA%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.1", "bob@macro.example", cache), "fail",
                   "pra: another PRA local part does not match%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.2", "a@redir.example", cache), "pass",
                   "pra: redirect= selects the target's record by the same scope%s", how);
        TAP_OK(strncmp(check(z, PRA, "192.0.2.1", "a@inc.example", cache),
                       "permerror: include:mfromonly.example has no SPF record", 54) == 0,
               "pra: an include whose target has no pra record is a permerror%s", how);
        TAP_STR_EQ(check(z, PRA, "192.0.2.1", "a@inc2.example", cache), "pass",
                   "pra: an include of a v=spf1-only domain uses its v=spf1 record%s", how);
        TAP_OK(strncmp(check(z, PRA, "192.0.2.1", "a@deep0.example", cache),
                       "permerror: more than 10 DNS-querying terms", 43) == 0,
               "pra: the 10-term limit of SPF holds for Sender ID%s", how);

        /* SPF itself ignores spf2.0 records. */
        TAP_STR_EQ(check(z, SPF, "192.0.2.1", "a@both.example", cache), "pass",
                   "spf: the v=spf1 record beside spf2.0/pra, as RFC 7208 says%s", how);
        TAP_STR_EQ(check(z, SPF, "192.0.2.8", "a@split.example", cache), "none",
                   "spf: spf2.0 records alone are no SPF record%s", how);
        da_spf_record_cache_free(cache);
    }

    /* The request, the identity and the header clause. */
    {
        char err[256];
        da_spf_request req = {.client_ip = "192.0.2.2", .scope = DA_SPF_SCOPE_PRA};
        TAP_OK(da_spf_eval_new(&req, err, sizeof err) == NULL && strstr(err, "PRA") != NULL,
               "scope pra without a PRA is refused, saying so");
        req.pra = "Boss@Both.Example";
        req.mail_from = "bounce@elsewhere.example";
        da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
        da_resolver *r = da_resolver_new_zone(z);
        TAP_OK(ev != NULL && da_spf_eval_run(ev, r) == 0 &&
                   da_spf_eval_result(ev) == DA_SPF_PASS,
               "scope pra checks the PRA, not MAIL FROM");
        TAP_STR_EQ(da_spf_eval_identity(ev), "pra", "the identity is pra");
        TAP_STR_EQ(da_spf_eval_sender(ev), "Boss@Both.Example", "the sender is the PRA");
        char *clause = da_senderid_authres_clause(ev, "Resent-Sender");
        TAP_OK(clause != NULL && strncmp(clause, "sender-id=pass (", 16) == 0 &&
                   strstr(clause, ") header.resent-sender=Boss@Both.Example") != NULL,
               "sender-id=pass (...) header.resent-sender=PRA: %s", clause ? clause : "(null)");
        free(clause);
        da_resolver_free(r);
        da_spf_eval_free(ev);

        req.scope = DA_SPF_SCOPE_MFROM;
        req.mail_from = "bounce@mfrompra.example";
        req.client_ip = "192.0.2.4";
        ev = da_spf_eval_new(&req, err, sizeof err);
        r = da_resolver_new_zone(z);
        TAP_OK(ev != NULL && da_spf_eval_run(ev, r) == 0, "scope mfrom runs");
        clause = da_senderid_authres_clause(ev, NULL);
        TAP_OK(clause != NULL && strstr(clause, "sender-id=pass") == clause &&
                   strstr(clause, " smtp.mailfrom=bounce@mfrompra.example") != NULL,
               "mfrom: the clause names smtp.mailfrom: %s", clause ? clause : "(null)");
        free(clause);
        da_resolver_free(r);
        da_spf_eval_free(ev);

        da_spf_scope s;
        TAP_OK(da_spf_scope_parse("pra", &s) == 0 && s == DA_SPF_SCOPE_PRA &&
                   da_spf_scope_parse("mfrom", &s) == 0 && s == DA_SPF_SCOPE_MFROM &&
                   da_spf_scope_parse("helo", &s) == -1,
               "scope words");
        TAP_OK(da_senderid_result_name(0) && strcmp(da_senderid_result_name(0), "none") == 0 &&
                   strcmp(da_senderid_result_name(DA_SENDERID_RESULT_COUNT - 1), "permerror") == 0 &&
                   da_senderid_result_name(DA_SENDERID_RESULT_COUNT) == NULL,
               "the Sender ID result words, none..permerror");
    }
    da_zone_free(z);
    return tap_done();
}
