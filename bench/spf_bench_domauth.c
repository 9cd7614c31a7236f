/* spf_bench_domauth.c: drives a request stream through domauth's asynchronous
 * SPF API (a libuv loop, the c-ares loop resolver, the shared DNS cache and
 * the parsed-record cache), keeping K checks in flight. Benchmark only. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include <domauth.h>
#include <domauth_net.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct options {
    const char *server, *stream, *hook, *results, *label;
    size_t first, count, inflight, warm_inflight, reps;
    int passes;
    bool no_cache, walk_only;
} options;

typedef struct bench bench;

typedef struct check {
    bench *owner;
    size_t index;
    uint64_t started_ns;
} check;

struct bench {
    uv_loop_t loop;
    da_resolver *upstream, *resolver;
    da_dns_cache *cache;
    da_spf_record_cache *records;
    bench_stream stream;
    bench_pass pass;
    check *checks;
    size_t total, next, done, in_flight, max_in_flight, limit;
    unsigned long long queries_used;
    bool pumping, walk_only;
};

static void usage(void)
{
    fprintf(stderr, "usage: spf_bench_domauth --server ADDR[:PORT] --stream FILE [--first N] "
                    "[--count N] [--passes P] [--reps R] [--inflight K] [--warm-inflight K] "
                    "[--no-cache] [--walk-only] [--hook CMD] [--results FILE] [--label NAME]\n"
                    "(the last pass goes over the stream R times; passes before it keep "
                    "--warm-inflight checks in flight, default K; --walk-only never answers "
                    "from a compiled policy)\n");
    exit(2);
}

static options parse_options(int argc, char **argv)
{
    static const struct option longs[] = {
        {"server", 1, 0, 's'}, {"stream", 1, 0, 'f'},  {"first", 1, 0, 'F'},
        {"count", 1, 0, 'n'},  {"passes", 1, 0, 'p'},  {"inflight", 1, 0, 'k'},
        {"hook", 1, 0, 'H'},   {"results", 1, 0, 'r'}, {"label", 1, 0, 'l'},
        {"no-cache", 0, 0, 'C'}, {"reps", 1, 0, 'R'},
        {"warm-inflight", 1, 0, 'w'}, {"walk-only", 0, 0, 'W'}, {0, 0, 0, 0}};
    options o = {.server = "127.0.0.1", .label = "domauth", .passes = 1, .inflight = 1000,
                 .reps = 1};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 's': o.server = optarg; break;
        case 'f': o.stream = optarg; break;
        case 'F': o.first = strtoul(optarg, NULL, 10); break;
        case 'n': o.count = strtoul(optarg, NULL, 10); break;
        case 'p': o.passes = atoi(optarg); break;
        case 'k': o.inflight = strtoul(optarg, NULL, 10); break;
        case 'H': o.hook = optarg; break;
        case 'r': o.results = optarg; break;
        case 'l': o.label = optarg; break;
        case 'C': o.no_cache = true; break;
        case 'R': o.reps = strtoul(optarg, NULL, 10); break;
        case 'w': o.warm_inflight = strtoul(optarg, NULL, 10); break;
        case 'W': o.walk_only = true; break;
        default: usage();
        }
    }
    if (o.warm_inflight == 0)
        o.warm_inflight = o.inflight;
    if (o.stream == NULL || o.passes < 1 || o.inflight < 1 || o.reps < 1)
        usage();
    return o;
}

static void pump(bench *b);

static void finish(bench *b, size_t index, da_spf_result result)
{
    b->pass.results[index] = da_spf_result_name(result);
    b->in_flight--;
    b->done++;
    if (b->done == b->total)
        uv_stop(&b->loop);
    else
        pump(b);
}

static void on_done(void *arg, da_spf_eval *eval)
{
    check *c = arg;
    bench *b = c->owner;
    b->pass.latency_ms[c->index] = (double)(uv_hrtime() - c->started_ns) / 1e6;
    b->queries_used += da_spf_eval_queries(eval);
    da_spf_result result = da_spf_eval_result(eval);
    da_spf_eval_free(eval);
    finish(b, c->index, result);
}

static void launch(bench *b, size_t index)
{
    const bench_request *r = &b->stream.requests[index % b->stream.count];
    da_spf_request request = {
        .client_ip = r->ip, .mail_from = r->mail_from, .helo = r->helo,
        .receiver = "mx.bench.example", .now = 1700000000, .records = b->records,
        .walk_only = b->walk_only};
    check *c = &b->checks[index];
    *c = (check){b, index, uv_hrtime()};
    b->in_flight++;
    if (b->in_flight > b->max_in_flight)
        b->max_in_flight = b->in_flight;
    char err[256];
    da_spf_eval *eval = da_spf_eval_new(&request, err, sizeof err);
    if (eval == NULL) {
        fprintf(stderr, "request %ld: %s\n", r->index, err);
        finish(b, index, DA_SPF_PERMERROR);
    } else if (da_spf_eval_start(eval, b->resolver, on_done, c) != 0) {
        da_spf_eval_free(eval);
        finish(b, index, DA_SPF_TEMPERROR);
    }
}

/* Tops the checks in flight up to the limit. A check whose answers are all
 * cached finishes inside launch(); the guard keeps that from recursing. */
static void pump(bench *b)
{
    if (b->pumping)
        return;
    b->pumping = true;
    while (b->in_flight < b->limit && b->next < b->total)
        launch(b, b->next++);
    b->pumping = false;
}

static void run_pass(bench *b, size_t reps)
{
    b->total = b->stream.count * reps;
    b->next = b->done = 0;
    b->max_in_flight = 0;
    b->queries_used = 0;
    bench_pass_begin(&b->pass, b->total);
    pump(b);
    if (b->done < b->total)
        uv_run(&b->loop, UV_RUN_DEFAULT);
    bench_pass_end(&b->pass);
}

static void setup(bench *b, const options *o)
{
    char err[256];
    uv_loop_init(&b->loop);
    da_resolver_options ro = {.servers = o->server, .timeout_ms = 2000, .tries = 2,
                              .use_edns0 = true};
    b->upstream = da_resolver_new_uv(&b->loop, &ro, err, sizeof err);
    if (b->upstream == NULL) {
        fprintf(stderr, "da_resolver_new_uv: %s\n", err);
        exit(2);
    }
    b->resolver = b->upstream;
    if (!o->no_cache) {
        da_dns_cache_options co = {.max_entries = 200000};
        b->cache = da_dns_cache_new(&co);
        b->resolver = da_resolver_new_cached(b->cache, b->upstream);
    }
    b->records = da_spf_record_cache_new(20000);
    b->checks = calloc(b->stream.count * o->reps, sizeof *b->checks);
    if (b->resolver == NULL || b->records == NULL || b->checks == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
}

static void teardown(bench *b)
{
    if (b->resolver != b->upstream)
        da_resolver_free(b->resolver);
    da_resolver_free(b->upstream);
    uv_run(&b->loop, UV_RUN_NOWAIT);
    uv_loop_close(&b->loop);
    if (b->cache != NULL)
        da_dns_cache_free(b->cache);
    da_spf_record_cache_free(b->records);
    free(b->checks);
}

static void describe(const bench *b, char *out, size_t size)
{
    da_dns_cache_stats cs = {0};
    if (b->cache != NULL)
        da_dns_cache_get_stats(b->cache, &cs);
    uint64_t hits = 0, parses = 0;
    da_spf_record_cache_stats(b->records, &hits, &parses);
    da_spf_compiled_stats ps;
    da_spf_record_cache_compiled_stats(b->records, &ps);
    snprintf(out, size,
             "max_in_flight=%zu answers_used=%llu cache_hits=%llu cache_misses=%llu "
             "cache_coalesced=%llu cache_entries=%zu cache_bytes=%zu record_hits=%llu "
             "record_parses=%llu policies=%zu policy_compiles=%llu policy_answers=%llu "
             "policy_fallbacks=%llu",
             b->max_in_flight, b->queries_used, (unsigned long long)cs.hits,
             (unsigned long long)cs.misses, (unsigned long long)cs.coalesced, cs.entries,
             cs.bytes, (unsigned long long)hits, (unsigned long long)parses, ps.policies,
             (unsigned long long)ps.compiles, (unsigned long long)ps.answered,
             (unsigned long long)ps.fallbacks);
}

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    static bench b;
    bench_stream_load(&b.stream, o.stream, o.first, o.count);
    setup(&b, &o);
    b.walk_only = o.walk_only;
    bench_hook(o.hook, "start");
    for (int p = 1; p <= o.passes; p++) {
        bool last = p == o.passes;
        if (last)
            bench_hook(o.hook, "before");
        b.limit = last ? o.inflight : o.warm_inflight;
        run_pass(&b, last ? o.reps : 1);
        if (last)
            bench_hook(o.hook, "after");
        char extra[512], label[128];
        describe(&b, extra, sizeof extra);
        snprintf(label, sizeof label, "%s/pass%d", o.label, p);
        bench_pass_report(&b.pass, label, &b.stream, extra, last ? o.results : NULL);
        bench_pass_free(&b.pass);
    }
    teardown(&b);
    bench_stream_free(&b.stream);
    return 0;
}
