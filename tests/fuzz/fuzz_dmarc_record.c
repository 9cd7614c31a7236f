/* fuzz_dmarc_record.c: libFuzzer target for the DMARC record parser, in
 * both modes, and for the evaluator fed the input as every _dmarc TXT
 * answer (split at NUL bytes into several records). Checks what the
 * parser promises: a refusal has a printable message, a record's values
 * are in range and its strings end within their buffers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domauth_dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const da_dmarc_record *r)
{
    if (r->p > DA_DMARC_POLICY_REJECT || r->sp > DA_DMARC_POLICY_REJECT ||
        r->np > DA_DMARC_POLICY_REJECT || r->psd > DA_DMARC_PSD_N || r->pct > 100)
        abort();
    if (memchr(r->rua, '\0', sizeof r->rua) == NULL || memchr(r->ruf, '\0', sizeof r->ruf) == NULL ||
        memchr(r->fo, '\0', sizeof r->fo) == NULL)
        abort();
}

static void check_error(const char *err, size_t err_size)
{
    size_t n = strnlen(err, err_size);
    if (n == 0 || n == err_size || strncmp(err, "position ", 9) != 0)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
            abort();
}

static void evaluate(const uint8_t *data, size_t size)
{
    da_dns_answer *a = da_dns_answer_new(DA_DNS_NOERROR, 300);
    size_t start = 0;
    for (size_t i = 0; i <= size; i++)
        if (i == size || data[i] == '\0') {
            da_dns_answer_add_text(a, DA_DNS_TXT, (const char *)data + start, i - start, 300);
            start = i + 1;
        }
    static const da_dns_answer nx = {.status = DA_DNS_NXDOMAIN};
    const char *dkim[] = {"mail.example.com", "example.com"};
    da_dmarc_request req = {.from_domain = "a.b.c.d.e.f.g.h.example.com",
                            .spf_domain = "bounce.example.com",
                            .spf_pass = size % 2 == 0,
                            .dkim_domains = dkim,
                            .dkim_count = 2,
                            .from_exists = -1};
    char err[200];
    da_dmarc_eval *ev = da_dmarc_eval_new(&req, err, sizeof err);
    if (ev == NULL)
        abort();
    unsigned rounds = 0;
    for (;;) {
        da_dmarc_step s = da_dmarc_eval_step(ev);
        if (s.done)
            break;
        if (++rounds > 100 || s.count == 0)
            abort(); /* every step with nothing to ask must be the last */
        da_dns_question qs[16];
        char names[16][300];
        size_t n = s.count < 16 ? s.count : 16;
        for (size_t i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "%s", s.questions[i].name);
            qs[i] = (da_dns_question){names[i], s.questions[i].type};
        }
        for (size_t i = 0; i < n; i++)
            da_dmarc_eval_answer(ev, &qs[i], qs[i].type == DA_DNS_TXT ? a : &nx);
    }
    volatile size_t sink = da_dmarc_eval_queries(ev);
    const char *p = da_dmarc_eval_problem(ev);
    if (p != NULL)
        sink += strlen(p);
    if (da_dmarc_eval_policy_domain(ev) != NULL)
        sink += strlen(da_dmarc_eval_policy_domain(ev));
    (void)sink;
    da_dmarc_eval_free(ev);
    da_dns_answer_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    for (int mode = 0; mode < 2; mode++) {
        da_dmarc_record r;
        char err[256];
        int rc = da_dmarc_record_parse(text, size, (da_dmarc_mode)mode, &r, err, sizeof err);
        if (rc == 0)
            check_record(&r);
        else if (rc == -1)
            check_error(err, sizeof err);
        else
            abort();
        if (rc == 0 && !da_dmarc_record_is_dmarc(text, size))
            abort(); /* only a v=DMARC1 record parses */
    }
    evaluate(data, size);
    return 0;
}
