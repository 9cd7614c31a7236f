/* spf_bench_libspf2.c: drives the benchmark's request stream through libspf2,
 * one check at a time (libspf2 has no asynchronous API), over its caching DNS
 * layer or, with --no-cache, its plain resolver. Benchmark only. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <spf2/spf.h>
#include <spf2/spf_dns_cache.h>
#include <spf2/spf_dns_resolv.h>

typedef struct options {
    const char *stream, *hook, *results, *label;
    size_t first, count, reps;
    int passes, cache_bits; /* cache_bits 0: SPF_server_new(SPF_DNS_CACHE) */
    bool no_cache;
} options;

static void usage(void)
{
    fprintf(stderr, "usage: spf_bench_libspf2 --stream FILE [--first N] [--count N] "
                    "[--passes P] [--reps R] [--no-cache | --cache-bits B] [--hook CMD] "
                    "[--results FILE] [--label NAME]\n(the last pass goes over the stream R "
                    "times; DNS servers: /etc/resolv.conf)\n");
    exit(2);
}

static options parse_options(int argc, char **argv)
{
    static const struct option longs[] = {
        {"stream", 1, 0, 'f'}, {"first", 1, 0, 'F'},   {"count", 1, 0, 'n'},
        {"passes", 1, 0, 'p'}, {"hook", 1, 0, 'H'},    {"results", 1, 0, 'r'},
        {"label", 1, 0, 'l'},  {"no-cache", 0, 0, 'C'}, {"cache-bits", 1, 0, 'b'},
        {"reps", 1, 0, 'R'}, {0, 0, 0, 0}};
    options o = {.label = "libspf2", .passes = 1, .reps = 1};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'f': o.stream = optarg; break;
        case 'F': o.first = strtoul(optarg, NULL, 10); break;
        case 'n': o.count = strtoul(optarg, NULL, 10); break;
        case 'p': o.passes = atoi(optarg); break;
        case 'H': o.hook = optarg; break;
        case 'r': o.results = optarg; break;
        case 'l': o.label = optarg; break;
        case 'C': o.no_cache = true; break;
        case 'b': o.cache_bits = atoi(optarg); break;
        case 'R': o.reps = strtoul(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (o.stream == NULL || o.passes < 1 || o.reps < 1)
        usage();
    return o;
}

static SPF_server_t *make_server(const options *o)
{
    if (o->no_cache)
        return SPF_server_new(SPF_DNS_RESOLV, 0);
    if (o->cache_bits == 0)
        return SPF_server_new(SPF_DNS_CACHE, 0);
    SPF_dns_server_t *resolv = SPF_dns_resolv_new(NULL, NULL, 0);
    SPF_dns_server_t *cache = SPF_dns_cache_new(resolv, NULL, 0, o->cache_bits);
    return cache ? SPF_server_new_dns(cache, 0) : NULL;
}

static const char *result_name(SPF_result_t r)
{
    switch (r) {
    case SPF_RESULT_PASS: return "pass";
    case SPF_RESULT_FAIL: return "fail";
    case SPF_RESULT_SOFTFAIL: return "softfail";
    case SPF_RESULT_NEUTRAL: return "neutral";
    case SPF_RESULT_NONE: return "none";
    case SPF_RESULT_TEMPERROR: return "temperror";
    case SPF_RESULT_PERMERROR: return "permerror";
    default: return "invalid";
    }
}

static SPF_errcode_t set_ip(SPF_request_t *req, const char *ip)
{
    return strchr(ip, ':') ? SPF_request_set_ipv6_str(req, ip)
                           : SPF_request_set_ipv4_str(req, ip);
}

static const char *check_one(SPF_server_t *server, const bench_request *r)
{
    SPF_request_t *req = SPF_request_new(server);
    SPF_response_t *resp = NULL;
    const char *result = "permerror"; /* an unusable request */
    if (set_ip(req, r->ip) == SPF_E_SUCCESS && SPF_request_set_helo_dom(req, r->helo) == 0 &&
        SPF_request_set_env_from(req, r->mail_from) == 0) {
        SPF_request_query_mailfrom(req, &resp);
        result = resp ? result_name(SPF_response_result(resp)) : "temperror";
    }
    if (resp != NULL)
        SPF_response_free(resp);
    SPF_request_free(req);
    return result;
}

static void run_pass(SPF_server_t *server, const bench_stream *s, size_t reps, bench_pass *pass)
{
    bench_pass_begin(pass, s->count * reps);
    for (size_t i = 0; i < pass->count; i++) {
        double t0 = bench_now();
        pass->results[i] = check_one(server, &s->requests[i % s->count]);
        pass->latency_ms[i] = (bench_now() - t0) * 1000.0;
    }
    bench_pass_end(pass);
}

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    bench_stream stream;
    bench_stream_load(&stream, o.stream, o.first, o.count);
    SPF_server_t *server = make_server(&o);
    if (server == NULL) {
        fprintf(stderr, "libspf2: cannot create a server\n");
        return 2;
    }
    SPF_server_set_rec_dom(server, "mx.bench.example");
    bench_hook(o.hook, "start");
    for (int p = 1; p <= o.passes; p++) {
        bool last = p == o.passes;
        bench_pass pass;
        if (last)
            bench_hook(o.hook, "before");
        run_pass(server, &stream, last ? o.reps : 1, &pass);
        if (last)
            bench_hook(o.hook, "after");
        char label[128];
        snprintf(label, sizeof label, "%s/pass%d", o.label, p);
        bench_pass_report(&pass, label, &stream, NULL, last ? o.results : NULL);
        bench_pass_free(&pass);
    }
    SPF_server_free(server);
    bench_stream_free(&stream);
    return 0;
}
