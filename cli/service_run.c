/* service_run.c: see service_run.h. */
#include "service_run.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <uv.h>

#include "commands.h"
#include "domauth.h"
#include "domauth_net.h"
#include "store/eventlog.h"
#include "store/quarantine_store.h"

enum { PURGE_PER_ADD = 16 }; /* as domauthd: old copies removed per message kept */

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

int cli_service_run_once(const cli_service_run *r)
{
    const domauth_config *cfg = r->cfg;
    char err[1024];
    uv_loop_t loop;
    uv_loop_init(&loop);
    da_zone *zone = NULL;
    da_resolver *upstream = NULL;
    const char *servers = r->servers;
    if (servers == NULL && cfg->dns_servers && *cfg->dns_servers)
        servers = cfg->dns_servers;
    da_resolver_options ro = {.servers = servers, .use_edns0 = true,
                              .timeout_ms = cfg->dns_timeout_ms, .tries = cfg->dns_tries};
    if (cli_open_resolver(r->zone_path, &ro, &loop, &zone, &upstream) != 0) {
        r->log(LOG_ERR, "%s: not checked: no DNS resolver", r->what);
        uv_loop_close(&loop);
        return -1;
    }
    da_dns_cache_options co = {.max_entries = 1000};
    da_dns_cache *cache = da_dns_cache_new(&co);
    da_resolver *resolver = cache ? da_resolver_new_cached(cache, upstream) : NULL;

    /* The event store domauthd writes, so that domauth log sees these
     * checks too; one that cannot be opened is a warning, never a refusal. */
    eventlog_options eo = {.syslog = cfg->syslog,
                           .syslog_facility = cfg->syslog_facility,
                           .json_path = cfg->event_log,
                           .database_path = cfg->database,
                           .node = cfg->node,
                           .password_file = cfg->database_password_file,
                           .busy_timeout_ms = 1000,
                           .stderr_lines = r->stderr_events};
    eventlog *events = NULL;
    err[0] = '\0';
    if (eo.syslog || eo.stderr_lines || (eo.json_path && *eo.json_path) ||
        (eo.database_path && *eo.database_path))
        events = eventlog_open(&loop, &eo, err, sizeof err);
    if (err[0])
        r->log(LOG_WARNING, "%s: event log: %s (the check goes on)", r->what, err);
    /* The folder, where a verdict can put the message; one that cannot be
     * opened gives quarantine_failure, as in domauthd. */
    quarantine *folder = NULL;
    if (r->open_quarantine && cfg->quarantine_possible) {
        quarantine_options qo = {.dir = cfg->quarantine_dir,
                                 .database = cfg->database,
                                 .password_file = cfg->database_password_file,
                                 .days = cfg->quarantine_days,
                                 .purge_per_add = PURGE_PER_ADD,
                                 .write = true};
        folder = quarantine_open(&qo, err, sizeof err);
        if (folder == NULL)
            r->log(LOG_ERR, "%s: quarantine folder %s: %s (a message to quarantine gets "
                   "quarantine_failure)", r->what, cfg->quarantine_dir, err);
    }

    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    svc_env env = {.loop = &loop, .resolver = resolver, .events = events,
                   .quarantine = folder, .log = r->log};
    svc_config sc = {.config = cfg, .host_name = host};
    bool timed_out = false;
    uv_timer_t deadline;
    uv_timer_init(&loop, &deadline);
    deadline.data = &timed_out;
    uv_timer_start(&deadline, on_deadline, r->deadline_ms, 0);
    void *check = resolver ? r->start(&env, &sc, r->arg) : NULL;
    int rc = 0;
    if (check == NULL && !*r->done) {
        r->log(LOG_ERR, "%s: not checked: out of memory", r->what);
        rc = -1;
    }
    da_resolver *zone_backend = zone ? upstream : NULL;
    while (rc == 0 && !*r->done && !timed_out) {
        if (zone_backend != NULL)
            da_resolver_run(zone_backend);
        if (uv_run(&loop, zone_backend ? UV_RUN_NOWAIT : UV_RUN_ONCE) == 0 &&
            zone_backend == NULL && !*r->done)
            break; /* nothing left to wait for: the resolver stopped */
    }
    if (rc == 0 && !*r->done)
        rc = timed_out ? 1 : 2;
    if (check != NULL)
        r->stop(check); /* writes the event */
    if (events != NULL)
        eventlog_close(events);
    quarantine_close(folder);
    da_resolver_free(resolver);
    da_resolver_free(upstream);
    da_dns_cache_free(cache);
    uv_walk(&loop, close_handle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    da_zone_free(zone);
    return rc;
}
