/* quarantine_bench.c: what the folder quarantine costs. (1) The message
 * service over an in-memory zone checks N messages of about 10 kB each
 * (an SPF fail), from the first header field to the final reply, once with
 * [spf] fail_action = accept and once with fail_action = quarantine
 * (folder: streamed to tmp/, synced, renamed into new/, synced, indexed);
 * prints p50/p99 of each and the difference. (2) The purge of 100,000
 * indexed messages older than the retention.
 *
 * Usage: quarantine_bench [DIR [N [PURGE_N]]]   (DIR on the disk to
 * measure; default /var/tmp; N 1000; PURGE_N 100000). Built by meson as
 * build/tests/quarantine_bench; not a test. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "config/config.h"
#include "domauth.h"
#include "service/service.h"
#include "store/quarantine_store.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, by_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static int rm_entry(const char *p, const struct stat *sb, int f, struct FTW *w)
{
    (void)sb;
    (void)f;
    (void)w;
    return remove(p);
}

typedef struct run_state {
    bool replied;
    policy_action action;
} run_state;

static void on_reply(void *arg, const svc_reply *r)
{
    run_state *st = arg;
    st->replied = true;
    st->action = r->action;
}

/* N messages through the service; latencies in ms into lat. */
static int run(const char *dir, const char *action, size_t n, double *lat)
{
    char conf[2048], err[600], qdir[600], db[600];
    snprintf(qdir, sizeof qdir, "%s/q", dir);
    snprintf(db, sizeof db, "%s/events.db", dir);
    snprintf(conf, sizeof conf,
             "[daemon]\nquarantine_dir = %s\ndatabase = %s\n[dkim]\nverify = no\n"
             "[policy]\nmonitor = no\nreply_stage = data\n[spf]\nfail_action = %s\n",
             qdir, db, action);
    domauth_config cfg;
    config_init(&cfg);
    if (config_parse(&cfg, "bench.conf", conf, strlen(conf), err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    da_zone *zone = da_zone_new();
    static const char zt[] = "fail.test TXT \"v=spf1 ip4:198.51.100.1 -all\"\n";
    da_zone_load_text(zone, zt, sizeof zt - 1, err, sizeof err);
    da_resolver *zr = da_resolver_new_zone(zone);
    da_dns_cache_options co = {.max_entries = 1000};
    da_dns_cache *cache = da_dns_cache_new(&co);
    da_resolver *res = da_resolver_new_cached(cache, zr);
    uv_loop_t loop;
    uv_loop_init(&loop);
    quarantine *q = NULL;
    if (cfg.quarantine_possible) {
        quarantine_options o = {.dir = qdir, .database = db, .days = 30, .purge_per_add = 16,
                                .write = true};
        if ((q = quarantine_open(&o, err, sizeof err)) == NULL) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
    }
    svc_counters counters = {0};
    svc_env env = {.loop = &loop, .resolver = res, .counters = &counters, .quarantine = q};
    svc_config sc = {.config = &cfg, .host_name = "bench.test"};
    svc_caps caps = {.listener = "milter", .sees_message = true, .sees_body = true,
                     .can_insert = true, .can_change = true, .can_hold = true};
    svc_session sess = {.client_ip = "192.0.2.10", .helo = "mx.bench.test"};
    char line[80];
    memset(line, 'x', 76);
    memcpy(line + 76, "\r\n", 2);
    for (size_t i = 0; i < n; i++) {
        svc_msg *m = svc_msg_new(&env, &sc, &caps, &sess);
        run_state st = {0};
        svc_msg_mail_from(m, "a@fail.test", 11);
        svc_msg_check_mail(m, on_reply, &st);
        svc_msg_check_rcpt(m, "b@dest.test", 11, false, on_reply, &st);
        st.replied = false;
        double t0 = now_ms();
        svc_msg_header(m, "From", " <a@fail.test>", 14);
        svc_msg_header(m, "Subject", " bench", 6);
        svc_msg_end_headers(m);
        /* 128 lines of 78 bytes: about 10 kB, in milter-sized chunks of 8 lines. */
        char chunk[8 * 78];
        for (int k = 0; k < 8; k++)
            memcpy(chunk + k * 78, line, 78);
        for (int c = 0; c < 16; c++)
            svc_msg_body(m, chunk, sizeof chunk);
        svc_msg_check_end(m, on_reply, &st);
        for (int k = 0; k < 100 && !st.replied; k++) {
            da_resolver_run(zr);
            uv_run(&loop, UV_RUN_NOWAIT);
        }
        lat[i] = now_ms() - t0;
        svc_msg_free(m);
        if (!st.replied) {
            fprintf(stderr, "no reply for message %zu\n", i);
            return -1;
        }
    }
    printf("  %s: %llu quarantined, %llu failures\n", action,
           (unsigned long long)counters.quarantined,
           (unsigned long long)counters.quarantine_failures);
    quarantine_close(q);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    da_resolver_free(res);
    da_resolver_free(zr);
    da_dns_cache_free(cache);
    da_zone_free(zone);
    config_free(&cfg);
    return 0;
}

static int purge_bench(const char *dir, size_t n)
{
    char qdir[600], db[600], err[600];
    snprintf(qdir, sizeof qdir, "%s/p", dir);
    snprintf(db, sizeof db, "%s/purge.db", dir);
    quarantine_options o = {.dir = qdir, .database = db, .days = 30, .write = true};
    quarantine *q = quarantine_open(&o, err, sizeof err);
    if (q == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    quarantine_index *x = quarantine_get_index(q);
    int64_t t = 1800000000;
    double t0 = now_ms();
    /* The rows and small files directly (the writer's fsyncs would make
     * filling take minutes; the purge is what is measured). */
    for (size_t i = 0; i < n; i++) {
        char id[64], path[700];
        snprintf(id, sizeof id, "%lld.P1Q%zuR0", (long long)(t - 40 * 86400), i);
        snprintf(path, sizeof path, "%s/new/%s", qdir, id);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0640);
        if (fd < 0 || write(fd, "x\n", 2) != 2) {
            perror(path);
            return -1;
        }
        close(fd);
        quarantine_row r = {.id = id, .path = path, .time = t - 40 * 86400 + (int64_t)i % 1000,
                            .sender = "a@fail.test", .state = "quarantined"};
        if (x->ops->add(x, &r, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
    }
    double filled = now_ms();
    uint64_t removed = 0;
    if (quarantine_purge(q, t, 0, &removed, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    double done = now_ms();
    printf("purge: %llu of %zu messages removed (files unlinked, rows marked deleted) in "
           "%.0f ms (filling took %.0f ms)\n",
           (unsigned long long)removed, n, done - filled, filled - t0);
    quarantine_close(q);
    return 0;
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "/var/tmp";
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
    size_t purge_n = argc > 3 ? strtoul(argv[3], NULL, 10) : 100000;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/quarantine-bench.XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        perror(dir);
        return 1;
    }
    double *off = calloc(n, sizeof *off), *on = calloc(n, sizeof *on);
    printf("%zu messages of about 10 kB in %s\n", n, dir);
    int rc = run(dir, "accept", n, off) || run(dir, "quarantine", n, on);
    if (rc == 0) {
        double off50 = pct(off, n, 0.5), off99 = pct(off, n, 0.99);
        double on50 = pct(on, n, 0.5), on99 = pct(on, n, 0.99);
        printf("per message, first header to reply (ms): accept p50 %.3f p99 %.3f; "
               "quarantine p50 %.3f p99 %.3f\n", off50, off99, on50, on99);
        printf("added by the quarantine write: p50 %.3f ms, p99 %.3f ms\n", on50 - off50,
               on99 - off99);
        rc = purge_n > 0 ? purge_bench(dir, purge_n) : 0;
    }
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(off);
    free(on);
    return rc ? 1 : 0;
}
