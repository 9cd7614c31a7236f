/* Unit tests for the record wizard (src/record/wizard.c): answers in,
 * record out, for the source document's pocketstudio.jp and others, and
 * the BIND zone-file line with its 255-byte strings. */
#include <stdlib.h>
#include <string.h>

#include "domauth.h"
#include "record/wizard.h"
#include "tap.h"

static void record_is(const spf_wizard_answers *w, const char *want, const char *what)
{
    char err[256] = "";
    char *got = spf_wizard_record(w, err, sizeof err);
    TAP_STR_EQ(got, want, "%s", what);
    if (got == NULL)
        printf("#   err: %s\n", err);
    else {
        TAP_OK(da_spf_record_check(got, strlen(got), err, sizeof err) == 0,
               "%s: passes the syntax check", what);
    }
    free(got);
}

static void refused(const spf_wizard_answers *w, const char *reason, const char *what)
{
    char err[256] = "";
    char *got = spf_wizard_record(w, err, sizeof err);
    TAP_OK(got == NULL && strstr(err, reason) != NULL, "%s is refused (%s)", what, err);
    free(got);
}

static void test_document(void)
{
    /* The document's answers: inbound MX hosts send, the A records send,
     * two more addresses, two more hosts by name, reverse DNS, and "No,
     * only the listed IPs send proper mail" (-all). */
    static const char *const ip4[] = {"210.239.46.254", "210.128.158.225"};
    static const char *const hosts[] = {"pockets.to", "cyberteam.jp"};
    spf_wizard_answers w = {.mx = true, .a = true, .ptr = true, .ip4 = ip4, .ip4_count = 2,
                            .hosts = hosts, .host_count = 2, .all = '-'};
    record_is(&w, "v=spf1 a mx ip4:210.239.46.254 ip4:210.128.158.225 a:pockets.to "
                  "a:cyberteam.jp ptr -all",
              "the document's pocketstudio.jp answers");
    w.ptr = false;
    record_is(&w, "v=spf1 a mx ip4:210.239.46.254 ip4:210.128.158.225 a:pockets.to "
                  "a:cyberteam.jp -all",
              "the same without the discouraged ptr");
}

static void test_others(void)
{
    spf_wizard_answers none = {.no_mail = true};
    record_is(&none, "v=spf1 -all", "a domain that sends no mail");
    none.all = '~';
    record_is(&none, "v=spf1 -all", "no mail is -all whatever the default");

    static const char *const inc[] = {"spf.te.smtps.jp"};
    spf_wizard_answers provider = {.includes = inc, .include_count = 1};
    record_is(&provider, "v=spf1 include:spf.te.smtps.jp ~all",
              "an outsourced sender, softfail by default (the second document)");

    static const char *const ip6[] = {"2001:db8::/32", "2001:db8:1::1"};
    static const char *const ip4[] = {"100.200.30.0/24"};
    spf_wizard_answers nets = {.ip4 = ip4, .ip4_count = 1, .ip6 = ip6, .ip6_count = 2,
                               .all = '?'};
    record_is(&nets, "v=spf1 ip4:100.200.30.0/24 ip6:2001:db8::/32 ip6:2001:db8:1::1 ?all",
              "networks of both families, neutral");

    spf_wizard_answers mx = {.mx = true, .all = '-'};
    record_is(&mx, "v=spf1 mx -all", "only the MX hosts");

    static const char *const bad4[] = {"192.0.2.0/33"};
    spf_wizard_answers b = {.ip4 = bad4, .ip4_count = 1};
    refused(&b, "192.0.2.0/33", "an IPv4 prefix over 32");
    static const char *const bad6[] = {"192.0.2.1"};
    spf_wizard_answers b6 = {.ip6 = bad6, .ip6_count = 1};
    refused(&b6, "IPv6", "an IPv4 address as --ip6");
    static const char *const badhost[] = {"bad host"};
    spf_wizard_answers bh = {.hosts = badhost, .host_count = 1};
    refused(&bh, "host name", "a host name with a space");
    static const char *const toplevel[] = {"localhost"};
    spf_wizard_answers tl = {.includes = toplevel, .include_count = 1};
    refused(&tl, "domain", "an include without a dot");
    spf_wizard_answers both = {.no_mail = true, .mx = true};
    refused(&both, "no senders", "no mail with senders");
    spf_wizard_answers weird = {.mx = true, .all = '+'};
    refused(&weird, "fail", "+all as the default");
}

static void test_zone_line(void)
{
    char *line = spf_wizard_zone_line("pocketstudio.jp", "v=spf1 a mx -all");
    TAP_STR_EQ(line, "pocketstudio.jp.\tIN\tTXT\t\"v=spf1 a mx -all\"", "a short zone line");
    free(line);
    line = spf_wizard_zone_line("example.com.", "v=spf1 -all");
    TAP_STR_EQ(line, "example.com.\tIN\tTXT\t\"v=spf1 -all\"", "a trailing dot is kept once");
    free(line);

    char record[600] = "v=spf1";
    while (strlen(record) < 520)
        strcat(record, " ip4:198.51.100.0/24");
    strcat(record, " -all");
    size_t len = strlen(record);
    line = spf_wizard_zone_line("example.com", record);
    /* Three strings: 255 + 255 + the rest, each quoted. */
    size_t quotes = 0;
    for (const char *p = line; p && *p; p++)
        quotes += *p == '"';
    TAP_OK(quotes == 6, "a %zu-byte record is three strings (%zu quotes)", len, quotes);
    const char *first = line ? strchr(line, '"') : NULL;
    const char *end = first ? strchr(first + 1, '"') : NULL;
    TAP_OK(first && end && end - first - 1 == 255, "the first string is 255 bytes");
    free(line);

    TAP_OK(spf_wizard_answer_size("example.com", "v=spf1 -all") < 512, "a small answer");
    size_t size = spf_wizard_answer_size("example.com", record);
    TAP_OK(size > 512, "a %zu-byte record's answer is over 512 (%zu)", len, size);
    /* header 12, question 13+4, answer 2+10, 11 bytes and one length byte */
    TAP_OK(spf_wizard_answer_size("example.com", "v=spf1 -all") == 12 + 13 + 4 + 12 + 12,
           "the size is counted exactly");
}

int main(void)
{
    test_document();
    test_others();
    test_zone_line();
    return tap_done();
}
