/* dkim_drv.h: what the two C drivers of the DKIM benchmark share (header
 * only, static functions): the command line, loading the corpus into memory,
 * and the timed loop that prints one RESULT line.
 *
 *   DRIVER --op sign|verify --alg rsa|ed25519 --key FILE --record FILE
 *          --class NAME [--seconds S] [--min-msgs N] FILE...
 *
 * The files are messages (signed ones for verify). Each is processed once
 * untimed (and its result checked), then the files are processed round-robin
 * until S seconds of CPU time have been used and at least N messages were
 * done. */
#ifndef DKIM_DRV_H
#define DKIM_DRV_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct drv_msg {
    unsigned char *data;
    size_t len;
    const char *path;
} drv_msg;

typedef struct drv_args {
    const char *op, *alg, *key_path, *record_path, *class_name;
    double seconds;
    long min_msgs;
    drv_msg *msgs;
    size_t nmsgs;
    char *key;       /* the key file's text */
    size_t key_len;
    char *record;    /* the TXT record, trailing white space removed */
    bool sign;
    bool ed25519;
} drv_args;

/* Messages are fed in chunks of this size, as a milter receives a body. */
#define DRV_CHUNK 65536

static void drv_die(const char *what, const char *detail)
{
    fprintf(stderr, "dkim bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

static char *drv_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        drv_die("cannot open", path);
    if (fseek(f, 0, SEEK_END) != 0)
        drv_die("cannot seek", path);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        drv_die("cannot read", path);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static void drv_parse(drv_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->seconds = 0.5;
    a->min_msgs = 20;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            drv_die("missing value for", argv[i]);
        const char *o = argv[i] + 2, *v = argv[i + 1];
        if (strcmp(o, "op") == 0) a->op = v;
        else if (strcmp(o, "alg") == 0) a->alg = v;
        else if (strcmp(o, "key") == 0) a->key_path = v;
        else if (strcmp(o, "record") == 0) a->record_path = v;
        else if (strcmp(o, "class") == 0) a->class_name = v;
        else if (strcmp(o, "seconds") == 0) a->seconds = atof(v);
        else if (strcmp(o, "min-msgs") == 0) a->min_msgs = atol(v);
        else drv_die("unknown option", argv[i]);
    }
    if (!a->op || !a->alg || !a->key_path || !a->record_path || i >= argc)
        drv_die("usage: --op sign|verify --alg rsa|ed25519 --key F --record F "
                "[--class C] [--seconds S] [--min-msgs N] FILE...", NULL);
    a->sign = strcmp(a->op, "sign") == 0;
    if (!a->sign && strcmp(a->op, "verify") != 0)
        drv_die("--op must be sign or verify", a->op);
    a->ed25519 = strcmp(a->alg, "ed25519") == 0;
    if (!a->ed25519 && strcmp(a->alg, "rsa") != 0)
        drv_die("--alg must be rsa or ed25519", a->alg);
    if (a->class_name == NULL)
        a->class_name = "-";
    a->key = drv_read_file(a->key_path, &a->key_len);
    size_t rlen;
    a->record = drv_read_file(a->record_path, &rlen);
    while (rlen > 0 && (a->record[rlen - 1] == '\n' || a->record[rlen - 1] == '\r' ||
                        a->record[rlen - 1] == ' '))
        a->record[--rlen] = '\0';
    a->nmsgs = (size_t)(argc - i);
    a->msgs = calloc(a->nmsgs, sizeof *a->msgs);
    for (size_t k = 0; k < a->nmsgs; k++) {
        a->msgs[k].path = argv[i + (int)k];
        a->msgs[k].data = (unsigned char *)drv_read_file(argv[i + (int)k], &a->msgs[k].len);
    }
}

static double drv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double drv_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* one(ctx, msg) processes one message and returns true when the result is
 * the expected one (a signature made; a signature that passes). */
typedef bool (*drv_one_fn)(void *ctx, const drv_msg *msg);

static void drv_run(const drv_args *a, const char *impl, drv_one_fn one, void *ctx)
{
    for (size_t k = 0; k < a->nmsgs; k++)
        if (!one(ctx, &a->msgs[k]))
            fprintf(stderr, "dkim bench: %s %s %s: unexpected result for %s (warm-up)\n", impl,
                    a->op, a->alg, a->msgs[k].path);
    long n = 0, ok = 0;
    double bytes = 0;
    /* Until S seconds of this process's CPU time, not of the clock: on a
     * loaded machine a wall-clock loop got a few milliseconds of CPU, too
     * few for getrusage's resolution. */
    double cpu0 = drv_cpu(), t0 = drv_now(), t = t0, cpu = 0;
    while (cpu < a->seconds || n < a->min_msgs) {
        const drv_msg *m = &a->msgs[(size_t)n % a->nmsgs];
        ok += one(ctx, m);
        bytes += (double)m->len;
        n++;
        cpu = drv_cpu() - cpu0;
    }
    t = drv_now();
    printf("RESULT impl=%s op=%s alg=%s class=%s msgs=%ld ok=%ld bytes=%.0f seconds=%.6f "
           "cpu=%.6f files=%zu\n",
           impl, a->op, a->alg, a->class_name, n, ok, bytes, t - t0, cpu, a->nmsgs);
}

#endif
