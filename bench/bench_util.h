/* bench_util.h: what the benchmark's C drivers share: the request stream
 * (bench/gen_world.py's stream.tsv), latency percentiles, CPU and RSS
 * readings and the one-line report. Benchmark code, not part of libdomauth. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_request {
    long index;            /* position in the whole stream */
    const char *ip;
    const char *mail_from; /* "" for a bounce: the HELO identity is checked */
    const char *helo;
    const char *expected;  /* the world model's result */
} bench_request;

typedef struct bench_stream {
    char *text;            /* the file; fields point into it */
    bench_request *requests;
    size_t count;
} bench_stream;

/* Loads requests [first, first + count) of a stream file (count 0: all).
 * Exits with a message on failure. */
void bench_stream_load(bench_stream *stream, const char *path, size_t first, size_t count);
void bench_stream_free(bench_stream *stream);

/* One pass over the stream, or over it several times in a row (check i is
 * request i % stream count): fill latency_ms and results, then call
 * bench_pass_end. */
typedef struct bench_pass {
    size_t count;
    double *latency_ms;
    const char **results;  /* lower-case result names, static strings */
    double wall_start, cpu_start;
    double wall_s, cpu_s;
} bench_pass;

void bench_pass_begin(bench_pass *pass, size_t count);
void bench_pass_end(bench_pass *pass);
void bench_pass_free(bench_pass *pass);
/* Prints "RESULT key=value ..." (with extra, already formatted, appended)
 * and writes "index<TAB>result" lines to results_path when it is not NULL. */
void bench_pass_report(const bench_pass *pass, const char *label, const bench_stream *stream,
                       const char *extra, const char *results_path);

double bench_now(void);      /* seconds, CLOCK_MONOTONIC */
double bench_cpu_s(void);    /* user + system seconds of this process */
double bench_peak_rss_mib(void);
/* Runs "cmd word" with system() when cmd is not NULL (the bench script's
 * hook that reads the DNS server's query counter). */
void bench_hook(const char *cmd, const char *word);

#endif
