/* dmarc.c: the DMARC aggregate report builder (src/report/dmarc_report.c)
 * over hand-made events with known answers: grouping into records and
 * their counts, dispositions and override reasons, DKIM order and
 * selectors, SPF scope, policy_published from the newest event, hostile
 * strings escaped (the XML then parsed by xmllint when it is installed),
 * the gzip, the file name, the Report-ID, the Subject, the mail, the rua
 * parser and the authorization record test. TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "report/dmarc_report.h"
#include "store/report_store.h"
#include "tap.h"

enum { BEGIN = 1796083200 /* 2026-12-01 00:00 UTC */, DAY = 86400 };

#define POLICY_PROPS                                                                       \
    "dmarc.org=bank.test dmarc.discovery=treewalk dmarc.p=reject dmarc.sp=quarantine "    \
    "dmarc.np=reject dmarc.adkim=r dmarc.aspf=s dmarc.t=n dmarc.psd=u dmarc.fo=0 "         \
    "dmarc.policy=p dmarc.rua=mailto:d@bank.test,mailto:r@reports.test"

typedef struct ev {
    event_record rec;
    event_result res[6];
} ev;

/* An event from ip, SPF result spf for bounce.bank.test, one DKIM
 * signature (d, s, result; d NULL: none), DMARC result dmarc with the
 * props given, and the action done. */
static void make(ev *e, int64_t t, const char *ip, const char *spf, const char *d, const char *s,
                 const char *dkim, const char *dmarc, const char *dprops, const char *action,
                 const char *held)
{
    memset(e, 0, sizeof *e);
    size_t n = 0;
    e->res[n++] = (event_result){"spf", spf, "bounce.bank.test", "ip4", NULL,
                                 "smtp.mailfrom=a@bounce.bank.test"};
    if (d != NULL)
        e->res[n++] = (event_result){"dkim", dkim, d, s, NULL, "header.d=x"};
    e->res[n++] = (event_result){"dmarc", dmarc, "bank.test", "bank.test", NULL, dprops};
    e->rec = (event_record){.time = t,
                            .listener = "milter",
                            .client_ip = ip,
                            .helo = "mx.bank.test",
                            .mail_from = "a@bounce.bank.test",
                            .header_from = "a@bank.test",
                            .action = action,
                            .held_action = held,
                            .results = e->res,
                            .result_count = n};
}

static const dmarc_report_meta meta = {
    .org_name = "Receiver & Co <mx>",
    .email = "dmarc-reports@receiver.test",
    .receiver = "receiver.test",
    .generator = "domauth test",
};

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Whether xmllint finds the text well-formed; -1 when xmllint is absent. */
static int xmllint_ok(const char *xml)
{
    if (access("/usr/bin/xmllint", X_OK) != 0)
        return -1;
    char path[] = "/tmp/dmarc-report-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    size_t len = strlen(xml);
    int ok = write(fd, xml, len) == (ssize_t)len;
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "/usr/bin/xmllint --noout %s 2>/dev/null", path);
    ok = ok && system(cmd) == 0;
    unlink(path);
    return ok;
}

static void test_grouping(void)
{
    dmarc_report_set *set = dmarc_report_set_new(BEGIN, BEGIN + DAY);
    ev e[8];
    const char *pass = "dmarc.align.spf=pass dmarc.align.dkim=pass " POLICY_PROPS;
    const char *fail = "dmarc.align.spf=fail dmarc.align.dkim=fail " POLICY_PROPS;
    /* Three alike passes from one IP, one from another, two rejected
     * fails, one fail that monitor mode let through, one outside the day. */
    make(&e[0], BEGIN + 10, "192.0.2.1", "pass", "bank.test", "s1", "pass", "pass", pass, "accept", NULL);
    make(&e[1], BEGIN + 20, "192.0.2.1", "pass", "bank.test", "s1", "pass", "pass", pass, "accept", NULL);
    make(&e[2], BEGIN + 30, "192.0.2.1", "pass", "bank.test", "s1", "pass", "pass", pass, "accept", NULL);
    make(&e[3], BEGIN + 40, "192.0.2.2", "pass", "bank.test", "s1", "pass", "pass", pass, "accept", NULL);
    make(&e[4], BEGIN + 50, "203.0.113.5", "fail", NULL, NULL, NULL, "fail", fail, "reject", NULL);
    make(&e[5], BEGIN + 60, "203.0.113.5", "fail", NULL, NULL, NULL, "fail", fail, "reject", NULL);
    make(&e[6], BEGIN + 70, "203.0.113.5", "fail", NULL, NULL, NULL, "fail", fail, "accept", "reject");
    make(&e[7], BEGIN + DAY, "192.0.2.1", "pass", "bank.test", "s1", "pass", "pass", pass, "accept", NULL);
    uint64_t skipped = 0;
    char why[200] = "";
    int bad = 0;
    for (int i = 0; i < 8; i++)
        bad += dmarc_report_set_add(set, &e[i].rec, &skipped, why, sizeof why) != 0;
    TAP_OK(bad == 0, "every event is added (%s)", why);
    TAP_OK(skipped == 1, "the event of the next day is skipped (%llu)", (unsigned long long)skipped);
    TAP_OK(dmarc_report_set_count(set) == 1, "one report: one policy domain");
    const dmarc_report *r = dmarc_report_set_get(set, 0);
    TAP_STR_EQ(dmarc_report_domain(r), "bank.test", "its policy domain");
    TAP_OK(dmarc_report_record_count(r) == 4, "four records: 2 IPs that pass, rejected, held (%zu)",
           dmarc_report_record_count(r));
    TAP_OK(dmarc_report_message_count(r) == 7, "seven messages");
    TAP_OK(dmarc_report_record_messages(r, 0) == 3 && dmarc_report_record_messages(r, 1) == 1 &&
               dmarc_report_record_messages(r, 2) == 2 && dmarc_report_record_messages(r, 3) == 1,
           "counts 3, 1, 2, 1 in the order first seen");
    TAP_STR_EQ(dmarc_report_rua(r), "mailto:d@bank.test,mailto:r@reports.test", "the rua list");

    strbuf x;
    strbuf_init(&x);
    TAP_OK(dmarc_report_xml(r, &meta, &x, why, sizeof why) == 0, "the XML is written (%s)", why);
    const char *xml = x.data ? x.data : "";
    TAP_OK(strstr(xml, "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">") != NULL,
           "the dmarc-2.0 namespace");
    TAP_OK(strstr(xml, "<org_name>Receiver &amp; Co &lt;mx&gt;</org_name>") != NULL,
           "org_name escaped");
    TAP_OK(strstr(xml, "<report_id>bank.test.1796083200.1796169599@receiver.test</report_id>") != NULL,
           "the Report-ID");
    TAP_OK(strstr(xml, "<begin>1796083200</begin>") && strstr(xml, "<end>1796169599</end>"),
           "date_range: the UTC day");
    TAP_OK(strstr(xml, "<discovery_method>treewalk</discovery_method>") && strstr(xml, "<np>reject</np>") &&
               strstr(xml, "<aspf>s</aspf>") && strstr(xml, "<testing>n</testing>"),
           "policy_published with discovery_method, np, aspf, testing");
    TAP_OK(count_of(xml, "<record>") == 4, "four <record>");
    TAP_OK(strstr(xml, "<count>3</count>") && count_of(xml, "<count>") == 4, "their counts");
    TAP_OK(count_of(xml, "<disposition>pass</disposition>") == 2,
           "a pass under p=reject is disposition pass");
    TAP_OK(count_of(xml, "<disposition>reject</disposition>") == 1, "the rejected fails");
    TAP_OK(strstr(xml, "<type>local_policy</type>\n          <comment>monitor mode: reject held back</comment>") != NULL,
           "the held fail: disposition none, reason local_policy (monitor mode)");
    TAP_OK(strstr(xml, "<selector>s1</selector>") != NULL, "the DKIM selector");
    TAP_OK(strstr(xml, "<scope>mfrom</scope>") != NULL, "the SPF scope");
    TAP_OK(strstr(xml, "<envelope_from>bounce.bank.test</envelope_from>") != NULL, "envelope_from");
    int lint = xmllint_ok(xml);
    if (lint < 0)
        TAP_SKIP("xmllint (libxml2-utils) is not installed: well-formedness not checked");
    else
        TAP_OK(lint == 1, "xmllint finds the report well-formed");

    unsigned char *gz;
    size_t gz_len;
    TAP_OK(dmarc_report_gzip(xml, x.len, &gz, &gz_len, why, sizeof why) == 0, "gzip");
    TAP_OK(gz_len > 18 && gz[0] == 0x1f && gz[1] == 0x8b, "a gzip stream (magic 1f 8b)");
    char *back = malloc(x.len + 1);
    z_stream z = {0};
    inflateInit2(&z, 15 + 16);
    z.next_in = gz;
    z.avail_in = (uInt)gz_len;
    z.next_out = (Bytef *)back;
    z.avail_out = (uInt)x.len + 1;
    int rc = inflate(&z, Z_FINISH);
    TAP_OK(rc == Z_STREAM_END && z.total_out == x.len && memcmp(back, xml, x.len) == 0,
           "it inflates back to the XML");
    inflateEnd(&z);
    free(back);

    char name[700], subject[1200];
    TAP_OK(dmarc_report_filename(r, &meta, name, sizeof name) == 0, "file name");
    TAP_STR_EQ(name, "receiver.test!bank.test!1796083200!1796169599.xml.gz",
               "receiver!policy-domain!begin!end.xml.gz");
    TAP_OK(dmarc_report_subject(r, &meta, subject, sizeof subject) == 0, "Subject");
    TAP_STR_EQ(subject,
               "Report Domain: bank.test\n Submitter: receiver.test\n Report-ID: "
               "<bank.test.1796083200.1796169599@receiver.test>",
               "Report Domain: D Submitter: R Report-ID: <id>, folded");
    strbuf m;
    strbuf_init(&m);
    TAP_OK(dmarc_report_mail(r, &meta, "d@bank.test", gz, gz_len, BEGIN + DAY + 3600, &m, why,
                             sizeof why) == 0,
           "the mail message (%s)", why);
    const char *mail = m.data ? m.data : "";
    TAP_OK(strncmp(mail, "From: dmarc-reports@receiver.test\nTo: d@bank.test\nSubject: Report Domain: bank.test\n Submitter:", 94) == 0,
           "From, To, Subject first");
    TAP_OK(strstr(mail, "Date: Wed, 02 Dec 2026 01:00:00 +0000\n") != NULL, "Date in UTC");
    TAP_OK(strstr(mail, "Content-Type: application/gzip; name=\"receiver.test!bank.test!1796083200!1796169599.xml.gz\"") != NULL,
           "the attachment: application/gzip with the file name");
    TAP_OK(strstr(mail, "Message-ID: <bank.test.1796083200.1796169599@receiver.test>") != NULL,
           "Message-ID is the Report-ID");
    TAP_OK(dmarc_report_mail(r, &meta, "d@bank.test\nBcc: x@y", gz, gz_len, BEGIN, &m, why,
                             sizeof why) != 0,
           "a To: with a line break is refused");
    strbuf_free(&m);
    free(gz);
    strbuf_free(&x);
    dmarc_report_set_free(set);
}

static void test_hostile(void)
{
    dmarc_report_set *set = dmarc_report_set_new(BEGIN, BEGIN + DAY);
    ev e[4];
    const char *fail = "dmarc.align.spf=fail dmarc.align.dkim=fail " POLICY_PROPS;
    make(&e[0], BEGIN + 1, "198.51.100.7</source_ip><x>", "pass",
         "evil.test\"><script>", "s1]]><!--\x01\xff\xc0\xaf", "fail", "fail", fail, "quarantine", NULL);
    e[0].res[2].domain = "ba\xe2\x80\x8bnk.test<&>\x1b[31m";
    /* A policy domain that is not a domain name never becomes a report. */
    make(&e[1], BEGIN + 2, "192.0.2.9", "pass", NULL, NULL, NULL, "fail", fail, "reject", NULL);
    e[1].res[1].detail = "bank.test/../../etc";
    /* Stored before the report data: no dmarc.p, skipped. */
    make(&e[2], BEGIN + 3, "192.0.2.9", "pass", NULL, NULL, NULL, "fail", "header.from=bank.test", "reject", NULL);
    /* A DKIM result no report may carry is left out, not invented. */
    make(&e[3], BEGIN + 4, "192.0.2.10", "pass", "bank.test", "s2", "weird", "fail", fail, "reject", NULL);
    uint64_t skipped = 0;
    char why[200] = "";
    for (int i = 0; i < 4; i++)
        dmarc_report_set_add(set, &e[i].rec, &skipped, why, sizeof why);
    TAP_OK(skipped == 2, "a bad policy domain and an old event are skipped (%llu)",
           (unsigned long long)skipped);
    TAP_OK(dmarc_report_set_count(set) == 1, "one report");
    const dmarc_report *r = dmarc_report_set_get(set, 0);
    strbuf x;
    strbuf_init(&x);
    TAP_OK(dmarc_report_xml(r, &meta, &x, why, sizeof why) == 0, "XML of hostile strings");
    const char *xml = x.data ? x.data : "";
    TAP_OK(strstr(xml, "<source_ip>198.51.100.7&lt;/source_ip&gt;&lt;x&gt;</source_ip>") != NULL,
           "source_ip escaped");
    TAP_OK(strstr(xml, "<domain>evil.test&quot;&gt;&lt;script&gt;</domain>") != NULL,
           "DKIM d= escaped");
    TAP_OK(strstr(xml, "<selector>s1]]&gt;&lt;!--\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD</selector>") != NULL,
           "selector: ]]> and <!-- escaped, a control, 0xff and an overlong sequence as U+FFFD");
    TAP_OK(strstr(xml, "<header_from>ba\xe2\x80\x8bnk.test&lt;&amp;&gt;\xEF\xBF\xBD[31m</header_from>") != NULL,
           "header_from: valid UTF-8 kept, ESC replaced");
    TAP_OK(strstr(xml, "weird") == NULL && strstr(xml, "<selector>s2</selector>") == NULL,
           "the DKIM result outside RFC 8601's list is left out");
    TAP_OK(strstr(xml, "<disposition>quarantine</disposition>") != NULL &&
               strstr(xml, "<type>local_policy</type>\n          <comment>local action: quarantine</comment>") != NULL,
           "quarantined under p=reject: reason local_policy");
    int lint = xmllint_ok(xml);
    if (lint < 0)
        TAP_SKIP("xmllint (libxml2-utils) is not installed: well-formedness not checked");
    else
        TAP_OK(lint == 1, "xmllint finds the hostile report well-formed");
    strbuf_free(&x);
    dmarc_report_set_free(set);
}

static void test_reasons(void)
{
    dmarc_report_set *set = dmarc_report_set_new(BEGIN, BEGIN + DAY);
    ev e[3];
    char testing[600], arc[600];
    snprintf(testing, sizeof testing, "dmarc.align.spf=fail dmarc.align.dkim=fail %s dmarc.softened=testing",
             POLICY_PROPS);
    snprintf(arc, sizeof arc, "dmarc.align.spf=fail dmarc.align.dkim=fail %s override=trusted_forwarder",
             POLICY_PROPS);
    make(&e[0], BEGIN + 1, "192.0.2.1", "fail", NULL, NULL, NULL, "fail", testing, "quarantine", NULL);
    make(&e[1], BEGIN + 2, "192.0.2.1", "fail", NULL, NULL, NULL, "fail", arc, "accept", NULL);
    /* Two signatures: the failing one listed after the aligned pass. */
    make(&e[2], BEGIN + 3, "192.0.2.2", "pass", "other.test", "z", "fail", "pass",
         "dmarc.align.spf=pass dmarc.align.dkim=pass " POLICY_PROPS, "accept", NULL);
    e[2].res[3] = e[2].res[2];
    e[2].res[2] = (event_result){"dkim", "pass", "bank.test", "a1", NULL, NULL};
    e[2].rec.result_count = 4;
    char why[200] = "";
    for (int i = 0; i < 3; i++)
        dmarc_report_set_add(set, &e[i].rec, NULL, why, sizeof why);
    const dmarc_report *r = dmarc_report_set_get(set, 0);
    strbuf x;
    strbuf_init(&x);
    dmarc_report_xml(r, &meta, &x, why, sizeof why);
    const char *xml = x.data ? x.data : "";
    TAP_OK(strstr(xml, "<type>policy_test_mode</type>") != NULL, "t=y: policy_test_mode");
    TAP_OK(strstr(xml, "<type>trusted_forwarder</type>") != NULL, "an ARC override: trusted_forwarder");
    const char *a1 = strstr(xml, "<selector>a1</selector>"), *z = strstr(xml, "<selector>z</selector>");
    TAP_OK(a1 && z && a1 < z, "the aligned passing signature comes before the failing one");
    strbuf_free(&x);
    dmarc_report_set_free(set);

    /* --domain: only that policy domain. */
    set = dmarc_report_set_new(BEGIN, BEGIN + DAY);
    dmarc_report_set_only(set, "other.test");
    dmarc_report_set_add(set, &e[0].rec, NULL, why, sizeof why);
    TAP_OK(dmarc_report_set_count(set) == 0, "another policy domain than the one asked for: none");
    dmarc_report_set_free(set);
}

static void test_rua(void)
{
    dmarc_rua u[4];
    size_t n;
    char why[200];
    int rc = dmarc_rua_parse(" mailto:D@Bank.test , https://x.test/r,mailto:big%40x@reports.test!10m,"
                             "mailto:bad<@x.test", u, 4, &n, why, sizeof why);
    TAP_OK(rc == 0 && n == 2, "two URIs kept, the two malformed ones not (%zu)", n);
    TAP_OK(u[0].mailto && strcmp(u[0].address, "D@Bank.test") == 0 && strcmp(u[0].host, "bank.test") == 0,
           "mailto: address and its host in lower case");
    TAP_OK(!u[1].mailto, "https: kept as not mail");
    TAP_OK(strstr(why, "big%40x") != NULL, "why names the first bad URI (a %%40 that makes two @): %s", why);
    rc = dmarc_rua_parse("mailto:a@r.test!10m", u, 4, &n, why, sizeof why);
    TAP_OK(rc == 0 && n == 1 && u[0].max_size == 10u << 20 && strcmp(u[0].address, "a@r.test") == 0,
           "RFC 7489's !10m size limit read and cut off the address");
    rc = dmarc_rua_parse("mailto:a@r.test,mailto:b@r.test,mailto:c@r.test", u, 2, &n, why, sizeof why);
    TAP_OK(rc == -1 && n == 2, "more URIs than the limit: -1, the first kept");

    char over[330];
    TAP_OK(dmarc_report_authorization("v=DMARC1", 8, over, sizeof over) && over[0] == '\0',
           "v=DMARC1 authorizes");
    const char *t = "v = DMARC1 ; rua=mailto:other@reports.test,mailto:x@y.test";
    TAP_OK(dmarc_report_authorization(t, strlen(t), over, sizeof over) &&
               strcmp(over, "mailto:other@reports.test") == 0,
           "with a rua override: its first URI");
    TAP_OK(!dmarc_report_authorization("v=spf1 -all", 11, over, sizeof over), "v=spf1 does not");
    TAP_OK(!dmarc_report_authorization("p=none; v=DMARC1", 16, over, sizeof over),
           "v=DMARC1 not first does not");
    TAP_OK(!dmarc_report_authorization("v=DMARC10", 9, over, sizeof over), "v=DMARC10 does not");
    TAP_OK(dmarc_report_host_within("reports.bank.test", "bank.test") &&
               dmarc_report_host_within("BANK.test", "bank.test") &&
               !dmarc_report_host_within("evilbank.test", "bank.test"),
           "host within the organizational domain, by labels");
    TAP_OK(dmarc_report_domain_valid("a-b.c_d.test") && !dmarc_report_domain_valid("a..b") &&
               !dmarc_report_domain_valid("a b") && !dmarc_report_domain_valid(""),
           "domain names");
}

static int count_rows(void *ctx, const report_ledger_row *row)
{
    (void)row;
    ++*(int *)ctx;
    return 0;
}

/* The sent-report ledger (store/sqlite/report_sqlite.c, schema version 5). */
static void test_ledger(void)
{
    char dir[] = "/tmp/dmarc-ledger-XXXXXX", path[64], why[300] = "";
    if (mkdtemp(dir) == NULL) {
        TAP_OK(0, "a temporary directory");
        return;
    }
    snprintf(path, sizeof path, "%s/events.db", dir);
    report_ledger *l = report_ledger_open(path, false, NULL, why, sizeof why);
    TAP_OK(l == NULL && strstr(why, "no database") != NULL, "a reader of no file: %s", why);
    l = report_ledger_open(path, true, NULL, why, sizeof why);
    TAP_OK(l != NULL, "the writer makes the database with the ledger (%s)", why);
    if (l == NULL)
        return;
    bool found, sent;
    unsigned attempts;
    report_ledger_row a = {"bank.test.1.2@r.test", "bank.test", "d@bank.test", 1, 2, "failed", 0,
                           "sendmail exited 75", 100};
    TAP_OK(l->ops->get(l, a.report_id, a.destination, &found, &sent, &attempts, why, sizeof why) == 0 &&
               !found,
           "not in the ledger yet");
    l->ops->record(l, &a, why, sizeof why);
    l->ops->record(l, &a, why, sizeof why);
    l->ops->get(l, a.report_id, a.destination, &found, &sent, &attempts, why, sizeof why);
    TAP_OK(found && !sent && attempts == 2, "two failed attempts counted (%u)", attempts);
    a.state = "sent";
    a.last_error = NULL;
    l->ops->record(l, &a, why, sizeof why);
    a.state = "failed";
    a.last_error = "late";
    l->ops->record(l, &a, why, sizeof why);
    l->ops->get(l, a.report_id, "D@BANK.test", &found, &sent, &attempts, why, sizeof why);
    TAP_OK(found && sent && attempts == 3, "sent stays sent; the destination compares without case");
    int rows = 0;
    l->ops->list(l, 0, count_rows, &rows, why, sizeof why);
    TAP_OK(rows == 1, "one row per (report, destination)");
    report_ledger_close(l);
    unlink(path);
    char side[80];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(dir);
}

int main(void)
{
    test_ledger();
    test_grouping();
    test_hostile();
    test_reasons();
    test_rua();
    return tap_done();
}
