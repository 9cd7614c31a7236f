/* dmarc_timer.c: domauthd's daily DMARC aggregate reports ([dmarc] report
 * = yes). A timer on the loop looks once a minute (the first time a few
 * seconds after start) whether the UTC day before has been reported since
 * this process started and report_hour has come; if not, one run
 * (src/service/dmarc_reports.c) goes on a thread of its own, since it
 * blocks on the store, the DNS and sendmail. The run copies what it needs
 * of the configuration, so a reload does not pull it from under it. A
 * restart runs the day again: the ledger keeps that from sending twice.
 * Many nodes on one PostgreSQL store: the run takes the cluster's
 * "dmarc-report" lease first (as the daily purge takes "purge"), so one
 * node at a time reports; the others log it, count it and look again an
 * hour later (the holder may have stopped). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "domauth_net.h"
#include "domauthd.h"
#include "service/dmarc_reports.h"
#include "store/event_store.h"
#include "util/node.h"

/* While a run is under way the timer looks every second, to log its end. */
enum {
    FIRST_LOOK_MS = 5000, LOOK_EVERY_MS = 60000, LOOK_RUNNING_MS = 1000, DAY = 86400,
    RETRY_AFTER_S = 3600, /* a run with failed sends runs again an hour later */
    RETRY_DAYS_MAX = 7,
    /* Longer than a run (its sends are bounded by sendmail's timeout); a
     * run an hour later by the holder renews it. */
    LEASE_S = 6 * 3600,
};

typedef struct report_job {
    pthread_t thread;
    atomic_bool finished;
    int64_t day; /* the day's begin */
    char *database, *password_file, *node, *org_name, *email, *receiver, *sendmail,
        *dns_servers;
    unsigned attempts, dns_timeout_ms, dns_tries;
    dmarc_report_totals totals;
    int status;
    bool not_mine; /* another node holds the lease: nothing was run */
    char why[300];
} report_job;

struct dmarc_timer {
    uv_timer_t timer;
    report_job *job;
    int64_t last_day;    /* reported by this process, or 0 */
    int64_t retry_after; /* when sends of last_day failed: the time to try again, or 0 */
    uint64_t lease_skipped; /* runs left to the node holding the cluster's lease */
};

static void job_free(report_job *j)
{
    if (j == NULL)
        return;
    free(j->database);
    free(j->password_file);
    free(j->node);
    free(j->org_name);
    free(j->email);
    free(j->receiver);
    free(j->sendmail);
    free(j->dns_servers);
    free(j);
}

static void job_log(void *ctx, int priority, const char *line)
{
    (void)ctx;
    daemon_log(priority, "%s", line);
}

/* Takes or renews the cluster's lease of the report job: 0 with *mine,
 * or -1 with why (the store cannot be reached: no run either). One host's
 * SQLite store grants it always. */
static int take_lease(report_job *j, bool *mine, char *why, size_t why_size)
{
    *mine = false;
    event_store_options so = {.access = EVENT_STORE_WRITE, .password_file = j->password_file};
    char swhy[300] = "";
    event_store *store = event_store_open(j->database, &so, swhy, sizeof swhy);
    if (store == NULL) {
        snprintf(why, why_size, "%s", swhy);
        return -1;
    }
    char host[UTIL_HOST_NAME_MAX];
    const char *holder = util_node_name(j->node, host);
    int rc = event_store_lease(store, "dmarc-report", holder, (int64_t)time(NULL), LEASE_S, mine,
                               why, why_size);
    event_store_close(store);
    return rc;
}

static void *job_run(void *arg)
{
    report_job *j = arg;
    char err[300] = "";
    bool mine = false;
    char lwhy[300] = "";
    int lrc = take_lease(j, &mine, lwhy, sizeof lwhy);
    if (lrc != 0 || !mine) {
        /* Not run: on_look logs why, or that another node holds it. */
        j->status = lrc;
        j->not_mine = lrc == 0;
        snprintf(j->why, sizeof j->why, "the cluster's report lease: %s", lwhy);
        atomic_store(&j->finished, true);
        return NULL;
    }
    da_resolver_options ro = {.servers = j->dns_servers, .timeout_ms = j->dns_timeout_ms,
                              .tries = j->dns_tries};
    da_resolver *resolver = da_resolver_new_cares(&ro, err, sizeof err);
    if (resolver == NULL)
        daemon_log(LOG_WARNING, "DMARC reports: no resolver (%s): external destinations "
                                "cannot be authorized", err);
    dmarc_report_run_options o = {
        .database = j->database,
        .password_file = j->password_file,
        .begin = j->day,
        .end = j->day + DAY,
        .meta = {.org_name = j->org_name, .email = j->email, .receiver = j->receiver,
                 .generator = "domauth " DOMAUTH_VERSION},
        .sendmail = j->sendmail,
        .max_attempts = j->attempts,
        .resolver = resolver,
        .now = (int64_t)time(NULL),
        .log = job_log,
    };
    j->status = dmarc_report_run(&o, &j->totals, j->why, sizeof j->why);
    /* Earlier days with a send that failed and attempts left (this
     * process may have stopped before trying again, or the failure came
     * at the day's last try): tried again as well, at most a week back. */
    int64_t days[RETRY_DAYS_MAX];
    size_t n = 0;
    if (j->status == 0 &&
        dmarc_report_failed_periods(j->database, j->password_file, o.now - RETRY_DAYS_MAX * DAY,
                                    j->attempts, days, RETRY_DAYS_MAX, &n, err,
                                    sizeof err) != 0)
        daemon_log(LOG_ERR, "DMARC reports: the ledger: %s", err);
    for (size_t i = 0; j->status == 0 && i < n; i++) {
        if (days[i] == j->day)
            continue;
        dmarc_report_totals t;
        o.begin = days[i];
        o.end = days[i] + DAY;
        char why[300];
        if (dmarc_report_run(&o, &t, why, sizeof why) != 0)
            daemon_log(LOG_ERR, "DMARC reports of the day at %lld, again: %s", (long long)days[i],
                       why);
        j->totals.sent += t.sent;
        j->totals.failed += t.failed;
    }
    da_resolver_free(resolver);
    atomic_store(&j->finished, true);
    return NULL;
}

static char *dup_or_null(const char *s, bool *failed)
{
    char *c = s && *s ? strdup(s) : NULL;
    if (s && *s && c == NULL)
        *failed = true;
    return c;
}

static void on_look(uv_timer_t *t)
{
    domauthd *d = t->data;
    struct dmarc_timer *dt = d->dmarc_timer;
    if (dt->job != NULL) {
        if (!atomic_load(&dt->job->finished))
            return;
        report_job *j = dt->job;
        pthread_join(j->thread, NULL);
        dt->job = NULL;
        uv_timer_start(t, on_look, LOOK_EVERY_MS, LOOK_EVERY_MS);
        if (j->not_mine) {
            dt->lease_skipped++;
            daemon_log(LOG_INFO,
                       "DMARC reports of the day at %lld: another node holds the cluster's "
                       "report lease; looking again in an hour (%llu runs left to it)",
                       (long long)j->day, (unsigned long long)dt->lease_skipped);
            dt->last_day = j->day;
            dt->retry_after = (int64_t)time(NULL) + RETRY_AFTER_S;
            job_free(j);
            return;
        }
        if (j->status != 0)
            daemon_log(LOG_ERR, "DMARC reports of the day at %lld: %s", (long long)j->day, j->why);
        else
            daemon_log(LOG_INFO,
                       "DMARC reports of the day at %lld: %zu reports from %llu events: %zu "
                       "sent, %zu failed, %zu sent before, %zu given up, %zu not authorized",
                       (long long)j->day, j->totals.reports, (unsigned long long)j->totals.events,
                       j->totals.sent, j->totals.failed, j->totals.already_sent,
                       j->totals.gave_up, j->totals.unauthorized);
        /* Failed sends are tried again in an hour (each try counts
         * against report_attempts), and by the next days' runs. So is a
         * run that failed as a whole (the store could not be read): it
         * left no failed rows for the next days' runs to find. */
        dt->last_day = j->day;
        dt->retry_after = j->status != 0 || j->totals.failed > 0
                              ? (int64_t)time(NULL) + RETRY_AFTER_S
                              : 0;
        job_free(j);
        return;
    }
    const domauth_config *cfg = &d->config->config;
    if (!cfg->dmarc_report || d->stopping)
        return;
    int64_t now = (int64_t)time(NULL);
    int64_t yesterday = now - now % DAY - DAY;
    if ((unsigned)((now % DAY) / 3600) < cfg->dmarc_report_hour)
        return;
    if (dt->last_day == yesterday && (dt->retry_after == 0 || now < dt->retry_after))
        return;
    report_job *j = calloc(1, sizeof *j);
    bool failed = j == NULL;
    if (j != NULL) {
        const char *at = cfg->dmarc_report_email ? strrchr(cfg->dmarc_report_email, '@') : NULL;
        j->day = yesterday;
        j->database = dup_or_null(cfg->database, &failed);
        j->password_file = dup_or_null(cfg->database_password_file, &failed);
        j->node = dup_or_null(cfg->node, &failed);
        j->org_name = dup_or_null(cfg->dmarc_report_org_name, &failed);
        j->email = dup_or_null(cfg->dmarc_report_email, &failed);
        j->receiver = dup_or_null(cfg->dmarc_report_domain && *cfg->dmarc_report_domain
                                      ? cfg->dmarc_report_domain
                                      : at ? at + 1 : NULL,
                                  &failed);
        j->sendmail = dup_or_null(cfg->dmarc_report_sendmail, &failed);
        j->dns_servers = dup_or_null(cfg->dns_servers, &failed);
        j->attempts = cfg->dmarc_report_attempts;
        j->dns_timeout_ms = cfg->dns_timeout_ms;
        j->dns_tries = cfg->dns_tries;
        atomic_init(&j->finished, false);
    }
    if (failed || pthread_create(&j->thread, NULL, job_run, j) != 0) {
        daemon_log(LOG_ERR, "DMARC reports: cannot start the run (%s); trying again in a minute",
                   failed ? "out of memory" : "no thread");
        job_free(j);
        return;
    }
    daemon_log(LOG_INFO, "DMARC reports of the UTC day at %lld: started", (long long)yesterday);
    dt->job = j;
    /* A repeat set in the callback would wait one old period first. */
    uv_timer_start(t, on_look, LOOK_RUNNING_MS, LOOK_RUNNING_MS);
}

void dmarc_timer_start(domauthd *d)
{
    if (d->dmarc_timer != NULL)
        return;
    struct dmarc_timer *dt = calloc(1, sizeof *dt);
    if (dt == NULL) {
        daemon_log(LOG_ERR, "DMARC reports: out of memory: no daily reports");
        return;
    }
    d->dmarc_timer = dt;
    uv_timer_init(d->loop, &dt->timer);
    dt->timer.data = d;
    uv_timer_start(&dt->timer, on_look, FIRST_LOOK_MS, LOOK_EVERY_MS);
    uv_unref((uv_handle_t *)&dt->timer); /* never what keeps the loop running */
}

void dmarc_timer_stop(domauthd *d)
{
    struct dmarc_timer *dt = d->dmarc_timer;
    if (dt == NULL)
        return;
    if (!uv_is_closing((uv_handle_t *)&dt->timer))
        uv_close((uv_handle_t *)&dt->timer, NULL);
    if (dt->job != NULL) {
        if (atomic_load(&dt->job->finished)) {
            pthread_join(dt->job->thread, NULL);
            job_free(dt->job);
        } else {
            /* A run under way ends with the process: what it sent is in the
             * ledger, the rest goes at the next start. Its memory stays. */
            daemon_log(LOG_NOTICE, "stopping during the DMARC report run: the next start "
                                   "finishes it");
            pthread_detach(dt->job->thread);
        }
    }
    /* The timer handle is part of dt: freed after the loop closed it. */
}

uint64_t dmarc_timer_lease_skipped(const domauthd *d)
{
    return d->dmarc_timer != NULL ? d->dmarc_timer->lease_skipped : 0;
}

void dmarc_timer_free(domauthd *d)
{
    free(d->dmarc_timer);
    d->dmarc_timer = NULL;
}
