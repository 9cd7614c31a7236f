/* bench_util.c: stream loading, percentiles and the report line shared by
 * the benchmark's C drivers (see bench_util.h). Exits on errors: these are
 * short-lived measuring programs, not library code. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench: %s: %s\n", what, detail);
    exit(2);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("cannot open", path);
    size_t size = 0, cap = 1 << 20;
    char *text = malloc(cap);
    size_t got;
    while (text != NULL && (got = fread(text + size, 1, cap - size - 1, f)) > 0) {
        size += got;
        if (cap - size < 2) {
            cap *= 2;
            text = realloc(text, cap);
        }
    }
    fclose(f);
    if (text == NULL)
        die("out of memory reading", path);
    text[size] = '\0';
    return text;
}

/* Splits one line in place into at most max tab-separated fields. */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    fields[n++] = line;
    for (char *p = line; *p != '\0' && n < max; p++) {
        if (*p == '\t') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    }
    return n;
}

void bench_stream_load(bench_stream *stream, const char *path, size_t first, size_t count)
{
    stream->text = read_file(path);
    size_t cap = 1024, n = 0, line_no = 0;
    stream->requests = malloc(cap * sizeof *stream->requests);
    char *save = NULL;
    for (char *line = strtok_r(stream->text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), line_no++) {
        if (line_no < first || (count != 0 && n == count))
            continue;
        char *f[8];
        if (split_fields(line, f, 8) < 5)
            die("short line in", path);
        if (n == cap) {
            cap *= 2;
            stream->requests = realloc(stream->requests, cap * sizeof *stream->requests);
        }
        if (stream->requests == NULL)
            die("out of memory loading", path);
        stream->requests[n++] = (bench_request){strtol(f[0], NULL, 10), f[1], f[2], f[3], f[4]};
    }
    stream->count = n;
    if (n == 0)
        die("no requests selected from", path);
}

void bench_stream_free(bench_stream *stream)
{
    free(stream->requests);
    free(stream->text);
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double bench_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

void bench_hook(const char *cmd, const char *word)
{
    if (cmd == NULL)
        return;
    size_t len = strlen(cmd) + strlen(word) + 2;
    char *line = malloc(len);
    if (line == NULL)
        die("out of memory", "hook");
    snprintf(line, len, "%s %s", cmd, word);
    if (system(line) != 0)
        fprintf(stderr, "bench: hook failed: %s\n", line);
    free(line);
}

void bench_pass_begin(bench_pass *pass, size_t count)
{
    pass->count = count;
    pass->latency_ms = calloc(count, sizeof *pass->latency_ms);
    pass->results = calloc(count, sizeof *pass->results);
    if (pass->latency_ms == NULL || pass->results == NULL)
        die("out of memory", "pass");
    pass->cpu_start = bench_cpu_s();
    pass->wall_start = bench_now();
}

void bench_pass_end(bench_pass *pass)
{
    pass->wall_s = bench_now() - pass->wall_start;
    pass->cpu_s = bench_cpu_s() - pass->cpu_start;
}

void bench_pass_free(bench_pass *pass)
{
    free(pass->latency_ms);
    free(pass->results);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *sorted, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    return sorted[(rank > n ? n : rank) - 1];
}

static void write_results(const bench_pass *pass, const bench_stream *stream, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        die("cannot write", path);
    /* A pass may go over the stream several times: write the last round. */
    size_t n = stream->count, from = pass->count > n ? pass->count - n : 0;
    for (size_t i = from; i < pass->count; i++)
        fprintf(f, "%ld\t%s\t%.3f\n", stream->requests[i % n].index,
                pass->results[i] ? pass->results[i] : "missing", pass->latency_ms[i]);
    fclose(f);
}

void bench_pass_report(const bench_pass *pass, const char *label, const bench_stream *stream,
                       const char *extra, const char *results_path)
{
    double *sorted = malloc(pass->count * sizeof *sorted);
    if (sorted == NULL)
        die("out of memory", "report");
    memcpy(sorted, pass->latency_ms, pass->count * sizeof *sorted);
    qsort(sorted, pass->count, sizeof *sorted, compare_double);
    printf("RESULT label=%s checks=%zu wall_s=%.4f cpu_s=%.4f checks_per_s=%.1f "
           "p50_ms=%.4f p99_ms=%.4f peak_rss_mib=%.1f%s%s\n",
           label, pass->count, pass->wall_s, pass->cpu_s,
           pass->wall_s > 0 ? (double)pass->count / pass->wall_s : 0.0,
           percentile(sorted, pass->count, 50), percentile(sorted, pass->count, 99),
           bench_peak_rss_mib(), extra ? " " : "", extra ? extra : "");
    fflush(stdout);
    free(sorted);
    if (results_path != NULL)
        write_results(pass, stream, results_path);
}
