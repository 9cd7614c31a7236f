/* record.c: the DMARC record grammar (RFC 9989 section 4.7): each tag's
 * values, defaults, unknown tags ignored, pct/rf/ri read only in RFC 7489
 * mode, a bad p= saved by rua=, and errors that name the tag and the
 * position. TAP. */
#include <stdio.h>
#include <string.h>

#include "domauth_dmarc.h"
#include "tap.h"

static int parse(const char *text, da_dmarc_mode mode, da_dmarc_record *r, char *err,
                 size_t err_size)
{
    return da_dmarc_record_parse(text, strlen(text), mode, r, err, err_size);
}

/* The record must not parse, and the error must say want. */
static void refused(const char *text, da_dmarc_mode mode, const char *want)
{
    da_dmarc_record r;
    char err[256];
    int rc = parse(text, mode, &r, err, sizeof err);
    TAP_OK(rc == -1 && strstr(err, want) != NULL, "refused: %s", text);
    if (rc != -1 || strstr(err, want) == NULL)
        printf("#   rc %d, error '%s', want '%s'\n", rc, err, want);
}

int main(void)
{
    da_dmarc_record r;
    char err[256];

    /* Is it DMARC at all? */
    TAP_OK(da_dmarc_record_is_dmarc("v=DMARC1", 8), "v=DMARC1 alone is DMARC");
    TAP_OK(da_dmarc_record_is_dmarc("v = DMARC1 ;p=none", 18), "spaces around = are allowed");
    TAP_OK(!da_dmarc_record_is_dmarc("v=dmarc1; p=none", 16), "the version is case-sensitive");
    TAP_OK(!da_dmarc_record_is_dmarc("v=DMARC10; p=none", 17), "DMARC10 is not DMARC1");
    TAP_OK(!da_dmarc_record_is_dmarc("p=none; v=DMARC1", 16), "v must come first");
    TAP_OK(!da_dmarc_record_is_dmarc("v=spf1 -all", 11), "an SPF record is not DMARC");

    /* Defaults. */
    TAP_OK(parse("v=DMARC1", DA_DMARC_RFC9989, &r, err, sizeof err) == 0 && !r.has_p &&
               r.p == DA_DMARC_POLICY_NONE && r.psd == DA_DMARC_PSD_U && !r.testing &&
               !r.adkim_strict && !r.aspf_strict && strcmp(r.fo, "0") == 0 && r.pct == 100,
           "v=DMARC1 alone: p none, relaxed, psd u, t n, fo 0");

    /* Every tag. */
    TAP_OK(parse("v=DMARC1; p=reject; sp=quarantine; np=reject; psd=n; t=y; adkim=s; aspf=s; "
                 "rua=mailto:agg@example.com,mailto:b@example.net; ruf=mailto:f@example.com; "
                 "fo=1:d:s",
                 DA_DMARC_RFC9989, &r, err, sizeof err) == 0,
           "a record with every RFC 9989 tag parses (%s)", err);
    TAP_OK(r.has_p && r.p == DA_DMARC_POLICY_REJECT && r.has_sp &&
               r.sp == DA_DMARC_POLICY_QUARANTINE && r.has_np && r.np == DA_DMARC_POLICY_REJECT,
           "p, sp, np read");
    TAP_OK(r.psd == DA_DMARC_PSD_N && r.testing && r.adkim_strict && r.aspf_strict,
           "psd=n, t=y, adkim=s, aspf=s read");
    TAP_STR_EQ(r.rua, "mailto:agg@example.com,mailto:b@example.net", "rua kept as published");
    TAP_STR_EQ(r.ruf, "mailto:f@example.com", "ruf kept");
    TAP_STR_EQ(r.fo, "1:d:s", "fo kept");
    TAP_OK(parse("v=DMARC1;p=QUARANTINE;psd=Y;", DA_DMARC_RFC9989, &r, err, sizeof err) == 0 &&
               r.p == DA_DMARC_POLICY_QUARANTINE && r.psd == DA_DMARC_PSD_Y,
           "values are case-insensitive; a trailing ';' is fine");
    TAP_OK(parse("v=DMARC1; p=none; psd=u; t=n", DA_DMARC_RFC9989, &r, err, sizeof err) == 0 &&
               r.psd == DA_DMARC_PSD_U && !r.testing,
           "psd=u and t=n");
    TAP_OK(parse("v=DMARC1;\tp = reject ;  adkim=r ", DA_DMARC_RFC9989, &r, err, sizeof err) == 0 &&
               r.p == DA_DMARC_POLICY_REJECT && !r.adkim_strict,
           "white space around tags and values");

    /* Unknown tags, and RFC 7489's tags in RFC 9989 mode. */
    TAP_OK(parse("v=DMARC1; p=reject; future=whatever value; x_y=1", DA_DMARC_RFC9989, &r, err,
                 sizeof err) == 0 &&
               r.p == DA_DMARC_POLICY_REJECT,
           "unknown tags are ignored");
    TAP_OK(parse("v=DMARC1; p=reject; pct=abc; rf=xyz; ri=never", DA_DMARC_RFC9989, &r, err,
                 sizeof err) == 0 &&
               r.pct == 100 && !r.has_pct,
           "RFC 9989: pct, rf, ri accepted unread, even malformed");
    TAP_OK(parse("v=DMARC1; p=reject; pct=20; ri=3600; rf=afrf", DA_DMARC_RFC7489, &r, err,
                 sizeof err) == 0 &&
               r.pct == 20 && r.has_pct,
           "RFC 7489: pct read");
    refused("v=DMARC1; p=reject; pct=101", DA_DMARC_RFC7489, "position 21: pct: '101' is not");
    refused("v=DMARC1; p=reject; pct=abc", DA_DMARC_RFC7489, "pct: 'abc'");
    refused("v=DMARC1; p=reject; ri=soon", DA_DMARC_RFC7489, "ri: 'soon'");

    /* Bad p= and rua= (RFC 7489 section 6.6.3). */
    TAP_OK(parse("v=DMARC1; p=bogus; sp=reject; rua=mailto:a@example.com", DA_DMARC_RFC9989, &r,
                 err, sizeof err) == 0 &&
               r.has_p && r.p == DA_DMARC_POLICY_NONE && !r.has_sp,
           "a bad p= with a usable rua= is p=none");
    refused("v=DMARC1; p=bogus", DA_DMARC_RFC9989,
            "position 11: p: 'bogus' is not none, quarantine or reject");
    refused("v=DMARC1; p=none; sp=maybe", DA_DMARC_RFC9989, "position 19: sp: 'maybe'");
    refused("v=DMARC1; p=none; np=", DA_DMARC_RFC9989, "np: '' is not none");

    /* Errors name the tag and where it is. */
    refused("v=DMARC1; p=none; adkim=x", DA_DMARC_RFC9989, "position 19: adkim: 'x' is not r or s");
    refused("v=DMARC1; aspf=relaxed", DA_DMARC_RFC9989, "aspf: 'relaxed' is not r or s");
    refused("v=DMARC1; psd=maybe", DA_DMARC_RFC9989, "position 11: psd: 'maybe' is not y, n or u");
    refused("v=DMARC1; t=yes", DA_DMARC_RFC9989, "t: 'yes' is not y or n");
    refused("v=DMARC1; p=none; p=reject", DA_DMARC_RFC9989, "position 19: p: given twice");
    refused("v=DMARC1; p=none; v=DMARC1", DA_DMARC_RFC9989, "position 19: v: given twice");
    refused("v=DMARC1; p=none; rua=example.com", DA_DMARC_RFC9989,
            "rua: 'example.com' is not a URI");
    refused("v=DMARC1; p=none; rua=mailto:a@x.example,", DA_DMARC_RFC9989, "rua:");
    refused("v=DMARC1; fo=2", DA_DMARC_RFC9989, "fo: '2' is not a list of 0, 1, d, s");
    refused("v=DMARC1; fo=1::d", DA_DMARC_RFC9989, "fo:");
    refused("v=DMARC1; p none", DA_DMARC_RFC9989, "position 11: p: '=' expected");
    refused("v=DMARC1; =none", DA_DMARC_RFC9989, "position 11: '=none' is not a tag name");
    refused("v=DMARC1; p=no\x01ne", DA_DMARC_RFC9989, "p: a control or non-ASCII byte");
    refused("p=none", DA_DMARC_RFC9989, "does not start with v=DMARC1");

    /* Bounds: a huge record and a huge rua= are errors, not truncations. */
    {
        static char big[DA_DMARC_RECORD_MAX + 40];
        int n = snprintf(big, sizeof big, "v=DMARC1; p=none; x=");
        memset(big + n, 'a', sizeof big - (size_t)n - 1);
        big[sizeof big - 1] = '\0';
        refused(big, DA_DMARC_RFC9989, "longer than 4096 bytes");
        n = snprintf(big, 2000, "v=DMARC1; p=none; rua=mailto:");
        memset(big + n, 'a', 1200);
        snprintf(big + n + 1200, 40, "@example.com");
        refused(big, DA_DMARC_RFC9989, "rua: longer than 1024 bytes");
    }
    return tap_done();
}
