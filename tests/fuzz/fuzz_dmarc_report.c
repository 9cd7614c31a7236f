/* fuzz_dmarc_report.c: libFuzzer target for the DMARC aggregate report
 * builder's inputs (src/report/dmarc_report.c): the first line is a rua
 * list (parsed, and tried as an authorization record), every other line
 * one hostile event (TAB-separated: client IP, MAIL FROM, action, held
 * action, DKIM d=, s=, result, DMARC result, From: domain, policy domain,
 * more props). Checks what the builder promises: the XML is valid UTF-8
 * without a character XML forbids, the record counts add up to the
 * messages, every address kept from rua is fit for a header field, and
 * the mail is built or refused, never cut. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/dmarc_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { LINES_MAX = 64, FIELDS = 11 };

/* Valid UTF-8, and no byte XML 1.0 forbids (controls but TAB, LF, CR). */
static void check_xml(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f)
                abort();
            i++;
            continue;
        }
        size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (k == 0 || i + k > n)
            abort();
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)s[i + j] & 0xC0) != 0x80)
                abort();
        i += k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *lines[LINES_MAX];
    size_t nlines = 0;
    for (char *p = text; nlines < LINES_MAX;) {
        lines[nlines++] = p;
        char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    const char *rua = lines[0];

    dmarc_rua uris[DMARC_RUA_MAX];
    size_t n = 0;
    char why[300];
    dmarc_rua_parse(rua, uris, DMARC_RUA_MAX, &n, why, sizeof why);
    if (n > DMARC_RUA_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (!uris[i].mailto)
            continue;
        if (!dmarc_report_domain_valid(uris[i].host) || strchr(uris[i].address, '@') == NULL)
            abort();
        for (const char *c = uris[i].address; *c; c++)
            if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '<' || *c == '>')
                abort();
    }
    char over[DMARC_RUA_ADDRESS_MAX + 1];
    if (dmarc_report_authorization(rua, strlen(rua), over, sizeof over) &&
        memchr(over, '\0', sizeof over) == NULL)
        abort();

    dmarc_report_set *set = dmarc_report_set_new(1000, 1000 + 86400);
    if (set == NULL) {
        free(text);
        return 0;
    }
    uint64_t added = 0, skipped = 0;
    for (size_t l = 1; l < nlines; l++) {
        char *f[FIELDS] = {0};
        size_t k = 0;
        for (char *p = lines[l]; k < FIELDS;) {
            f[k++] = p;
            char *tab = strchr(p, '\t');
            if (tab == NULL)
                break;
            *tab = '\0';
            p = tab + 1;
        }
        for (; k < FIELDS; k++)
            f[k] = "";
        char props[2048];
        snprintf(props, sizeof props,
                 "dmarc.align.spf=%s dmarc.align.dkim=fail dmarc.org=%s dmarc.discovery=treewalk "
                 "dmarc.p=reject dmarc.sp=none dmarc.policy=p dmarc.rua=%s %s",
                 l % 2 ? "pass" : "fail", f[9], rua, f[10]);
        event_result res[3] = {
            {"spf", "pass", f[9], NULL, NULL, "smtp.mailfrom=x@y"},
            {"dkim", f[6], f[4], f[5], NULL, NULL},
            {"dmarc", f[7], f[8], f[9], NULL, props},
        };
        event_record ev = {.time = 1000 + (int64_t)l,
                           .client_ip = f[0],
                           .mail_from = f[1],
                           .action = f[2],
                           .held_action = *f[3] ? f[3] : NULL,
                           .results = res,
                           .result_count = 3};
        uint64_t before = skipped;
        if (dmarc_report_set_add(set, &ev, &skipped, why, sizeof why) == 0 && skipped == before &&
            (strcmp(f[7], "pass") == 0 || strcmp(f[7], "fail") == 0))
            added++;
    }
    dmarc_report_meta meta = {"Org <&>", "reports@receiver.example", NULL,
                              "receiver.example", "fuzz"};
    uint64_t messages = 0;
    for (size_t i = 0; i < dmarc_report_set_count(set); i++) {
        const dmarc_report *r = dmarc_report_set_get(set, i);
        uint64_t sum = 0;
        for (size_t j = 0; j < dmarc_report_record_count(r); j++)
            sum += dmarc_report_record_messages(r, j);
        if (sum != dmarc_report_message_count(r))
            abort();
        messages += sum;
        strbuf x;
        strbuf_init(&x);
        if (dmarc_report_xml(r, &meta, &x, why, sizeof why) == 0) {
            check_xml(x.data, x.len);
            if (strncmp(x.data, "<?xml", 5) != 0 || x.len < 12 ||
                strcmp(x.data + x.len - 12, "</feedback>\n") != 0)
                abort();
        }
        strbuf_free(&x);
        for (size_t u = 0; u < n; u++) {
            if (!uris[u].mailto)
                continue;
            strbuf m;
            strbuf_init(&m);
            static const unsigned char gz[] = {0x1f, 0x8b, 0};
            if (dmarc_report_mail(r, &meta, uris[u].address, gz, sizeof gz, 0, &m, why,
                                  sizeof why) == 0 &&
                strncmp(m.data, "From: reports@receiver.example\nTo: ", 35) != 0)
                abort();
            strbuf_free(&m);
        }
    }
    if (messages > added)
        abort();
    dmarc_report_set_free(set);
    free(text);
    return 0;
}
