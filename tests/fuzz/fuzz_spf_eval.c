/* fuzz_spf_eval.c: libFuzzer target for a whole SPF evaluation over a zone.
 * Input: a line "client-ip sender [helo]" (sender "-" checks the HELO), then
 * zone text for da_zone_load_text. Must neither crash nor leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Copies the next space-separated word of [*p, end) into out. */
static void next_word(const char **p, const char *end, char *out, size_t out_size)
{
    while (*p < end && **p == ' ')
        (*p)++;
    size_t n = 0;
    while (*p < end && **p != ' ') {
        if (n + 1 < out_size)
            out[n++] = **p;
        (*p)++;
    }
    out[n] = '\0';
}

static void read_results(const da_spf_eval *ev)
{
    volatile size_t sink = 0;
    const char *strings[] = {
        da_spf_result_name(da_spf_eval_result(ev)), da_spf_eval_identity(ev),
        da_spf_eval_sender(ev),   da_spf_eval_domain(ev),
        da_spf_eval_mechanism(ev), da_spf_eval_explanation(ev),
        da_spf_eval_problem(ev),
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (strings[i] != NULL)
            sink += strlen(strings[i]);
    sink += da_spf_eval_dns_terms(ev) + da_spf_eval_void_lookups(ev) + da_spf_eval_queries(ev);
    size_t n = da_spf_eval_trace_count(ev);
    for (size_t i = 0; i < n; i++) {
        const da_spf_trace_event *e = da_spf_eval_trace_get(ev, i);
        if (e != NULL && e->text != NULL)
            sink += strlen(e->text) + e->depth;
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    const char *eol = memchr(p, '\n', size);
    if (eol == NULL)
        eol = end;
    char ip[64], sender[300], helo[300];
    next_word(&p, eol, ip, sizeof ip);
    next_word(&p, eol, sender, sizeof sender);
    next_word(&p, eol, helo, sizeof helo);
    if (strcmp(sender, "-") == 0)
        sender[0] = '\0';
    if (helo[0] == '\0')
        snprintf(helo, sizeof helo, "mail.example.org");
    const char *zone_text = eol < end ? eol + 1 : end;

    da_zone *zone = da_zone_new();
    if (zone == NULL)
        return 0;
    char err[256];
    /* A line that does not load stops loading; what loaded is still used. */
    (void)da_zone_load_text(zone, zone_text, (size_t)(end - zone_text), err, sizeof err);

    da_spf_request req = {
        .client_ip = ip,
        .mail_from = sender,
        .helo = helo,
        .receiver = "receiver.example.org",
        .now = 1400000000,
        .trace = true,
    };
    da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
    if (ev != NULL) {
        da_resolver *r = da_resolver_new_zone(zone);
        if (r != NULL) {
            if (da_spf_eval_run(ev, r) == 0) {
                read_results(ev);
                free(da_spf_received_spf(ev));
                free(da_spf_authres_clause(ev));
            }
            da_resolver_free(r);
        }
        da_spf_eval_free(ev);
    }
    da_zone_free(zone);
    return 0;
}
