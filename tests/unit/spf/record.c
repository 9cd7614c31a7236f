/* Unit tests for the SPF record parser: every mechanism's syntax, the
 * dual-cidr rules, modifiers, and records that must be permerror. */
#include <string.h>

#include "spf/record.h"
#include "tap.h"

static arena mem;

static spf_record *parse(const char *text, char *err)
{
    spf_record *rec = NULL;
    err[0] = '\0';
    if (spf_record_parse(&mem, text, strlen(text), &rec, err, 256) != 0)
        return NULL;
    return rec;
}

static void valid(const char *text)
{
    char err[256];
    spf_record *rec = parse(text, err);
    TAP_OK(rec != NULL, "valid: %s", text);
    if (rec == NULL)
        printf("#   error: %s\n", err);
}

static void invalid(const char *text, const char *expect_in_error)
{
    char err[256];
    spf_record *rec = parse(text, err);
    TAP_OK(rec == NULL && strstr(err, expect_in_error) != NULL, "permerror: %s", text);
    if (rec != NULL || strstr(err, expect_in_error) == NULL)
        printf("#   error was '%s', expected it to mention '%s'\n", err, expect_in_error);
}

int main(void)
{
    arena_init(&mem);
    char err[256];

    TAP_OK(spf_record_is_spf("v=spf1", 6), "bare version is a record");
    TAP_OK(spf_record_is_spf("V=SPF1 -all", 11), "version is case-insensitive");
    TAP_OK(!spf_record_is_spf("v=spf10 -all", 12), "v=spf10 is not SPF");
    TAP_OK(!spf_record_is_spf("v=spf1-all", 10), "version needs a space after it");
    TAP_OK(!spf_record_is_spf(" v=spf1 -all", 12), "leading space is not SPF");

    spf_record *rec = parse("v=spf1 a mx/24 -ptr ~ip4:192.0.2.0/24 ?ip6:2001:db8::/32 "
                            "include:_spf.example.net exists:%{ir}.bl.example.org +all", err);
    TAP_OK(rec != NULL && rec->count == 8, "eight mechanisms parsed");
    if (rec != NULL && rec->count == 8) {
        TAP_OK(rec->terms[0].mechanism == SPF_A && rec->terms[0].qualifier == '+' &&
                   rec->terms[0].domain_spec == NULL && rec->terms[0].cidr4 == 32 &&
                   rec->terms[0].cidr6 == 128,
               "a: default qualifier, domain and prefixes");
        TAP_OK(rec->terms[1].mechanism == SPF_MX && rec->terms[1].cidr4 == 24 &&
                   rec->terms[1].cidr6 == 128,
               "mx/24");
        TAP_OK(rec->terms[2].qualifier == '-' && rec->terms[2].mechanism == SPF_PTR, "-ptr");
        TAP_OK(rec->terms[3].qualifier == '~' && rec->terms[3].cidr4 == 24 &&
                   rec->terms[3].addr[0] == 192,
               "~ip4 network and prefix");
        TAP_OK(rec->terms[4].qualifier == '?' && rec->terms[4].cidr6 == 32 &&
                   rec->terms[4].addr[1] == 0x01,
               "?ip6 network and prefix");
        TAP_STR_EQ(rec->terms[5].domain_spec, "_spf.example.net", "include target kept");
        TAP_STR_EQ(rec->terms[6].domain_spec, "%{ir}.bl.example.org", "exists macro kept");
        TAP_OK(rec->terms[7].mechanism == SPF_ALL, "+all");
    }

    rec = parse("v=spf1 a:example.com/24//64 mx:example.com//48 a//0", err);
    TAP_OK(rec && rec->terms[0].cidr4 == 24 && rec->terms[0].cidr6 == 64, "a:d/24//64");
    TAP_OK(rec && rec->terms[1].cidr4 == 32 && rec->terms[1].cidr6 == 48, "mx:d//48");
    TAP_OK(rec && rec->terms[2].cidr6 == 0 && rec->terms[2].domain_spec == NULL, "a//0");

    rec = parse("v=spf1 redirect=_spf.example.com exp=explain.%{d} x-custom=anything%%", err);
    TAP_OK(rec && rec->count == 0, "modifiers are not mechanisms");
    TAP_STR_EQ(rec ? rec->redirect : NULL, "_spf.example.com", "redirect kept");
    TAP_STR_EQ(rec ? rec->exp : NULL, "explain.%{d}", "exp kept");

    valid("v=spf1");
    valid("v=spf1   -all   ");
    valid("v=spf1 A:EXAMPLE.COM MX IP4:192.0.2.1 -ALL");
    valid("v=spf1 a:example.com. -all");
    valid("v=spf1 exists:%{l}.%{o}._spf.%{d} -all");
    valid("v=spf1 a:%{d}");
    valid("v=spf1 a:foo-bar.123-456");
    valid("v=spf1 include:a.b.c.d.e.f.g.example -all");
    valid("v=spf1 ip4:0.0.0.0/0 ip6:::/0");
    valid("v=spf1 unknown.mod=value -all");

    invalid("v=spf1 a:example.123", "top-level label");
    invalid("v=spf1 a:museum", "top-level label");
    invalid("v=spf1 a:", "empty domain-spec");
    invalid("v=spf1 include", "needs ':'");
    invalid("v=spf1 include:", "empty domain-spec");
    invalid("v=spf1 exists", "needs ':'");
    invalid("v=spf1 ip4:192.0.2.1/33", "prefix");
    invalid("v=spf1 ip4:192.0.2.1/032", "prefix");
    invalid("v=spf1 ip4:192.0.2.1/", "prefix");
    invalid("v=spf1 ip4:192.0.2", "not an IPv4");
    invalid("v=spf1 ip4", "needs ':'");
    invalid("v=spf1 ip6:2001:db8::/129", "prefix");
    invalid("v=spf1 ip6:192.0.2.1", "not an IPv6");
    invalid("v=spf1 a/33", "IPv4 prefix");
    invalid("v=spf1 a//129", "IPv6 prefix");
    invalid("v=spf1 a/24/64", "IPv4 prefix");
    invalid("v=spf1 all:foo", "no arguments");
    invalid("v=spf1 foo", "unknown mechanism");
    invalid("v=spf1 -all redirect=a.example redirect=b.example", "twice");
    invalid("v=spf1 exp=a.example exp=b.example", "twice");
    invalid("v=spf1 redirect=", "empty domain-spec");
    invalid("v=spf1 exp=", "empty domain-spec");
    invalid("v=spf1 a:%{x}.example.com", "macro letter");
    invalid("v=spf1 exists:%{t}.example.com", "only allowed in exp");
    invalid("v=spf1 a:%{d0}.example.com", "zero");
    invalid("v=spf1 a:%{d", "malformed");
    invalid("v=spf1 a:50%.example.com", "'%'");
    invalid("v=spf1 -all\tmx", "0x09");
    invalid("v=spf1 a:caf\xc3\xa9.example", "0xc3");
    invalid("v=spf1 1foo=bar", "unknown mechanism");
    invalid("v=spf1 x-mod=%", "end of a macro-string");

    /* A NUL byte inside the record must be seen, not end the string. */
    {
        spf_record *r = NULL;
        char e[256];
        TAP_OK(spf_record_parse(&mem, "v=spf1 a\0 -all", 14, &r, e, sizeof e) != 0,
               "embedded NUL is permerror");
    }
    arena_free(&mem);
    return tap_done();
}
