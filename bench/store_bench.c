/* store_bench.c: what the event store costs a decision, and how fast it
 * writes. Events like domauthd's (an SPF and a DKIM result, two recipients)
 * are handed to the event log (store/eventlog.h: the queue and its writer
 * thread, as domauthd uses it) at RATE per second (0: as fast as the loop
 * can), N of them; prints the latency of eventlog_write (what the check
 * waits for: p50, p99, max) and the events per second the store took (from
 * the first write until the writer has stored the last one).
 *
 * Usage: store_bench LOCATION [N [RATE]]   (an SQLite path or a
 * postgresql:// URI; N 100000; RATE 0). Built by meson as
 * build/tests/store_bench; not a test. bench/store/store.sh runs it on
 * SQLite and on a private PostgreSQL. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "store/eventlog.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: store_bench LOCATION [N [RATE]]\n");
        return 64;
    }
    const char *location = argv[1];
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
    double rate = argc > 3 ? strtod(argv[3], NULL) : 0;
    double *lat = malloc(n * sizeof *lat);
    if (n == 0 || lat == NULL)
        return 70;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[600] = "";
    eventlog_options o = {.database_path = location, .node = "bench",
                          .queue_limit = n + 1};
    eventlog *log = eventlog_open(&loop, &o, err, sizeof err);
    if (log == NULL || err[0]) {
        fprintf(stderr, "store_bench: %s\n", err);
        return 1;
    }
    event_result results[2] = {
        {"spf", "pass", "example.com", "ip4:192.0.2.0/24", NULL, "smtp.mailfrom=a@example.com"},
        {"dkim", "pass", "example.com", "s1", NULL, "header.d=example.com header.s=s1"},
    };
    event_rcpt rcpts[2] = {{"a@example.net", "accept", NULL}, {"b@example.net", "accept", NULL}};
    char ip[32], from[64], qid[24];
    double start = now_us();
    for (size_t i = 0; i < n; i++) {
        if (rate > 0) {
            double due = start + (double)i * 1e6 / rate;
            double t;
            while ((t = now_us()) < due)
                if (due - t > 200)
                    usleep((useconds_t)(due - t - 100));
        }
        snprintf(ip, sizeof ip, "192.0.2.%zu", i % 250 + 1);
        snprintf(from, sizeof from, "user%zu@example.com", i % 1000);
        snprintf(qid, sizeof qid, "Q%08zx", i);
        event_record r = {.time = (int64_t)time(NULL), .listener = "policy", .queue_id = qid,
                          .client_ip = ip, .helo = "mx.example.com", .mail_from = from,
                          .rcpt = "a@example.net", .identity = "mailfrom",
                          .domain = "example.com", .result = "pass",
                          .mechanism = "ip4:192.0.2.0/24", .action = "accept",
                          .reasons = "spf=pass", .results = results, .result_count = 2,
                          .rcpts = rcpts, .rcpt_count = 2};
        double t0 = now_us();
        eventlog_write(log, &r);
        lat[i] = now_us() - t0;
    }
    double queued = now_us();
    eventlog_stats st;
    for (;;) {
        eventlog_get_stats(log, &st);
        if (st.written + st.write_errors + st.dropped + st.spooled >= n)
            break;
        usleep(1000);
    }
    double stored = now_us();
    eventlog_close(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    qsort(lat, n, sizeof *lat, by_double);
    const char *backend = strstr(location, "://") ? "postgresql" : "sqlite";
    printf("store %s: %zu events offered at %s/s: eventlog_write p50 %.2f us, p99 %.2f us, "
           "max %.0f us; offered in %.2f s, stored in %.2f s: %.0f events/s stored "
           "(written %llu, errors %llu, spooled %llu, dropped %llu)\n",
           backend, n, rate > 0 ? argv[3] : "full rate", lat[n / 2],
           lat[(size_t)((double)(n - 1) * 0.99)], lat[n - 1], (queued - start) / 1e6,
           (stored - start) / 1e6, (double)n / ((stored - start) / 1e6),
           (unsigned long long)st.written, (unsigned long long)st.write_errors,
           (unsigned long long)st.spooled, (unsigned long long)st.dropped);
    printf("FIGURE store_%s_%s_events_per_s %.0f\n", backend, rate > 0 ? "paced" : "full",
           (double)n / ((stored - start) / 1e6));
    printf("FIGURE store_%s_%s_write_p99_us %.2f\n", backend, rate > 0 ? "paced" : "full",
           lat[(size_t)((double)(n - 1) * 0.99)]);
    free(lat);
    return st.written == n ? 0 : 1;
}
