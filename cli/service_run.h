/* service_run.h: one message check in this process, for the commands that
 * run the message service themselves (domauth xmail-filter --in-process,
 * domauth checkauth): a libuv loop, the resolver (the configuration's
 * servers, --dns-server or a zone file), a DNS cache, the configuration's
 * event log and, when asked, its quarantine folder; then the check, run
 * until it says it is done or the deadline passes; then everything closed
 * (the check freed first, so that its event is written). */
#ifndef DA_CLI_SERVICE_RUN_H
#define DA_CLI_SERVICE_RUN_H

#include <stdbool.h>

#include "config/config.h"
#include "service/service.h"

typedef struct cli_service_run {
    const domauth_config *cfg;
    const char *servers;       /* NULL: the configuration's, else /etc/resolv.conf */
    const char *zone_path;     /* answer from a zone file instead (offline) */
    unsigned long deadline_ms;
    bool open_quarantine;      /* the folder, when the configuration can quarantine */
    bool stderr_events;        /* the event log's lines on standard error too */
    const char *what;          /* names the input in log lines (a file, "stdin") */
    void (*log)(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    /* Starts the check; returns its handle (NULL: out of memory), or sets
     * *done itself when it finishes at once. */
    void *(*start)(const svc_env *env, const svc_config *config, void *arg);
    void (*stop)(void *check);  /* frees the check (writes its event) */
    void *arg;
    bool *done;                /* set by the check's own callback */
} cli_service_run;

/* Returns 0 when the check finished, 1 when the deadline passed first, 2
 * when the resolver stopped with the check unfinished, -1 when it could
 * not be started (no resolver, out of memory: logged). */
int cli_service_run_once(const cli_service_run *r);

#endif
