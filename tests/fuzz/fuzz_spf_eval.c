/* fuzz_spf_eval.c: libFuzzer target for a whole SPF evaluation over a zone.
 * Input: a line "client-ip sender [helo]" (sender "-" checks the HELO), then
 * zone text for da_zone_load_text. Must neither crash nor leak. Then the
 * same check through a DNS cache, by the walk and by compiled policies
 * (src/spf/compiled.c): they must agree, or the target aborts. */
#include <stdbool.h>
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

typedef struct verdict {
    bool ran;
    da_spf_result result;
    char mechanism[600], explanation[1200], problem[600];
    unsigned terms, voids, queries;
} verdict;

static void on_done(void *arg, da_spf_eval *ev)
{
    (void)ev;
    *(bool *)arg = true;
}

static void copy(char *out, size_t size, const char *s)
{
    snprintf(out, size, "%s", s ? s : "(null)");
}

static void cached_check(da_resolver *zone_resolver, da_resolver *cached,
                         da_spf_record_cache *records, const da_spf_request *base,
                         bool walk_only, verdict *v)
{
    memset(v, 0, sizeof *v);
    da_spf_request req = *base;
    req.trace = false;
    req.records = records;
    req.walk_only = walk_only;
    char err[256];
    da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
    if (ev == NULL)
        return;
    bool done = false;
    if (da_spf_eval_start(ev, cached, on_done, &done) == 0)
        for (int round = 0; !done && round < 10000; round++)
            da_resolver_run(zone_resolver);
    if (done) {
        v->ran = true;
        v->result = da_spf_eval_result(ev);
        copy(v->mechanism, sizeof v->mechanism, da_spf_eval_mechanism(ev));
        copy(v->explanation, sizeof v->explanation, da_spf_eval_explanation(ev));
        copy(v->problem, sizeof v->problem, da_spf_eval_problem(ev));
        v->terms = da_spf_eval_dns_terms(ev);
        v->voids = da_spf_eval_void_lookups(ev);
        v->queries = da_spf_eval_queries(ev);
    }
    da_spf_eval_free(ev);
}

static bool same(const verdict *a, const verdict *b)
{
    return a->ran == b->ran && a->result == b->result &&
           strcmp(a->mechanism, b->mechanism) == 0 && strcmp(a->explanation, b->explanation) == 0 &&
           strcmp(a->problem, b->problem) == 0 && a->terms == b->terms && a->voids == b->voids &&
           a->queries == b->queries;
}

/* The walk, then twice with policies (the first may compile, the second
 * uses the policy): any difference is a bug in one of them. */
static void differential(const da_zone *zone, const da_spf_request *req)
{
    da_resolver *zr = da_resolver_new_zone(zone);
    da_dns_cache *cache = da_dns_cache_new(&(da_dns_cache_options){.error_ttl = 60});
    da_resolver *cr = zr && cache ? da_resolver_new_cached(cache, zr) : NULL;
    da_spf_record_cache *records = da_spf_record_cache_new(16);
    if (cr != NULL && records != NULL) {
        verdict walk, first, second;
        cached_check(zr, cr, records, req, true, &walk);
        cached_check(zr, cr, records, req, false, &first);
        cached_check(zr, cr, records, req, false, &second);
        if (!same(&walk, &first) || !same(&walk, &second)) {
            fprintf(stderr, "compiled policy disagrees with the walk: %s/%s/%s '%s' '%s'\n",
                    da_spf_result_name(walk.result), da_spf_result_name(first.result),
                    da_spf_result_name(second.result), walk.mechanism, second.mechanism);
            abort();
        }
    }
    da_spf_record_cache_free(records);
    da_resolver_free(cr);
    da_dns_cache_free(cache);
    da_resolver_free(zr);
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
        differential(zone, &req);
    }
    da_zone_free(zone);
    return 0;
}
