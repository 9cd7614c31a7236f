/* control.c: the control socket (unix only, its mode from control_mode):
 * one command a line, one answer, then the connection closes. What
 * `domauth status` and `domauth reload` ask:
 *   status   one JSON object: uptime, configuration and its last reload,
 *            listeners, and every counter (checks, results per method,
 *            actions, DNS cache, event log, the quarantine's last and next
 *            purge, sessions, errors, the SRS socketmap's lookups by reply)
 *   status text   the same for a person
 *   reload   reloads as SIGHUP does; "ok" or "refused: why"
 *   xmail-check STAGE LENGTH RCPT AUTH, then the spool file: the XMail
 *            filter's check on the daemon's warm cache (proto/xmail_wire.h)
 *   quarantine-release ID BY [TO]   release a quarantined message (to its
 *            recipients, or TO), BY naming who asked ("web:alice")
 *   quarantine-delete ID BY         delete one
 *            "ok: ..." or "error: ..."; for domauth-web, which has no write
 *            rights on the spool. Run on libuv's thread pool (sendmail and
 *            SQLite block), with the same code as `domauth quarantine`
 *            (service/quarantine_admin.h).
 *   config-check PATH   loads PATH as a reload would (domauthd -t's checks,
 *            with domauthd's rights: its keys and files), "ok" or
 *            "refused: why"; PATH must be a file beside the configuration
 *            named .NAME.* (domauth-web's new file before it replaces NAME)
 *   config-changed BY ACTION DOMAIN TEXT   domauth-web changed the file:
 *            an audit event (listener settings, action config-set or
 *            config-reset, DOMAIN or "-", TEXT and BY in its reasons), then
 *            the reload; "ok: reloaded" or "refused: why"
 * It carries no mail: a control socket that cannot be opened is logged and
 * the daemon runs without it. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domauthd.h"
#include "domauth_dmarc.h"
#include "proto/xmail_spool.h"
#include "proto/xmail_wire.h"
#include "service/quarantine_admin.h"
#include "service/xmail_check.h"
#include "util/json.h"
#include "util/strbuf.h"

enum { CONTROL_LINE_MAX = XMAIL_WIRE_LINE_MAX };

typedef struct control_state {
    char line[CONTROL_LINE_MAX];
    size_t len;
    bool answered;
    /* xmail-check: the file as it arrives, then the check in flight. */
    xmail_wire_request req;
    char *file;
    size_t file_have, file_cap; /* grown as the bytes come, up to req.length */
    xmail_spool spool;
    bool spool_parsed;
    config_ref *config;     /* the configuration the check runs under */
    svc_xmail_check *check; /* freed (and its event written) with the session */
} control_state;

static void *control_state_new(conn *c)
{
    (void)c;
    return calloc(1, sizeof(control_state));
}

static void control_close(conn *c)
{
    control_state *s = c->state;
    if (s != NULL) {
        svc_xmail_free(s->check); /* cancels a check still out, writes its event */
        if (s->spool_parsed)
            xmail_spool_free(&s->spool);
        free(s->file);
        if (s->config != NULL)
            config_ref_put(s->config);
        free(s);
    }
    c->state = NULL;
}

/* The counters' names, by da_spf_result and da_dkim_result. */
static const char *const spf[SPF_RESULT_COUNT] = {"none",     "neutral",   "pass",     "fail",
                                                  "softfail", "temperror", "permerror"};
static const char *const dkim[DKIM_RESULT_COUNT] = {"none",   "pass",      "fail",     "neutral",
                                                    "policy", "temperror", "permerror"};

static void put_u64(strbuf *sb, const char *name, uint64_t v, bool *first)
{
    strbuf_printf(sb, "%s\"%s\": %llu", *first ? "" : ", ", name, (unsigned long long)v);
    *first = false;
}

static void put_str(strbuf *sb, const char *name, const char *v, bool *first)
{
    strbuf_printf(sb, "%s\"%s\": ", *first ? "" : ", ", name);
    json_strbuf(sb, v);
    *first = false;
}

static void status_json(domauthd *d, strbuf *sb)
{
    const svc_counters *k = &d->counters;
    const daemon_stats *st = &d->stats;
    bool first = true;
    int64_t now = (int64_t)time(NULL);
    strbuf_puts(sb, "{");
    put_str(sb, "version", DOMAUTH_VERSION, &first);
    put_u64(sb, "pid", (uint64_t)getpid(), &first);
    put_u64(sb, "uptime_s", (uint64_t)(now - d->started_at), &first);
    put_u64(sb, "started", (uint64_t)d->started_at, &first);
    put_str(sb, "config", d->config_path, &first);
    put_u64(sb, "reloads", d->reloads, &first);
    put_u64(sb, "reloads_refused", d->reloads_refused, &first);
    put_u64(sb, "last_reload_time", (uint64_t)d->reloaded_at, &first);
    put_str(sb, "last_reload", d->last_reload[0] ? d->last_reload : NULL, &first);
    put_str(sb, "monitor", d->config->config.global.monitor ? "yes" : "no", &first);
    strbuf_puts(sb, ", \"listeners\": [");
    bool lfirst = true;
    for (const listener *l = d->listeners; l != NULL; l = listener_next(l)) {
        strbuf_puts(sb, lfirst ? "{" : ", {");
        bool f = true;
        put_str(sb, "kind", listener_kind_name(l), &f);
        put_str(sb, "address", listener_address(l), &f);
        put_u64(sb, "sessions", st->kind_sessions_active[listener_kind_of(l)], &f);
        strbuf_puts(sb, "}");
        lfirst = false;
    }
    strbuf_puts(sb, "], \"messages\": {");
    first = true;
    put_u64(sb, "events", k->messages, &first);
    put_u64(sb, "checked", k->checked, &first);
    put_u64(sb, "skipped", k->skipped, &first);
    strbuf_puts(sb, ", \"skipped_by\": {");
    bool sfirst = true;
    for (int r = 1; r < SKIP_REASON_COUNT; r++)
        put_u64(sb, skip_reason_name((skip_reason)r), k->skipped_by[r], &sfirst);
    strbuf_puts(sb, "}");
    put_u64(sb, "accepted", k->accepted, &first);
    put_u64(sb, "tagged", k->tagged, &first);
    put_u64(sb, "deferred", k->deferred, &first);
    put_u64(sb, "rejected", k->rejected, &first);
    put_u64(sb, "held_back", k->held_back, &first);
    put_u64(sb, "invalid_input", k->invalid_input, &first);
    put_u64(sb, "errors", k->errors, &first);
    strbuf_puts(sb, "}, \"results\": {\"spf\": {");
    first = true;
    for (int r = 0; r < SPF_RESULT_COUNT; r++)
        put_u64(sb, spf[r], k->spf[r], &first);
    strbuf_puts(sb, "}, \"dkim\": {");
    first = true;
    for (int r = 0; r < DKIM_RESULT_COUNT; r++)
        put_u64(sb, dkim[r], k->dkim[r], &first);
    strbuf_puts(sb, "}, \"dmarc\": {");
    first = true;
    for (int r = 0; r < DMARC_RESULT_COUNT; r++)
        put_u64(sb, da_dmarc_result_name((da_dmarc_result)r), k->dmarc[r], &first);
    strbuf_puts(sb, "}}, \"dns_cache\": {");
    first = true;
    da_dns_cache_stats cs = {0};
    if (d->cache != NULL)
        da_dns_cache_get_stats(d->cache, &cs);
    put_u64(sb, "hits", cs.hits, &first);
    put_u64(sb, "misses", cs.misses, &first);
    put_u64(sb, "coalesced", cs.coalesced, &first);
    put_u64(sb, "evictions", cs.evictions, &first);
    put_u64(sb, "expirations", cs.expirations, &first);
    put_u64(sb, "upstream_errors", cs.upstream_errors, &first);
    put_u64(sb, "entries", cs.entries, &first);
    put_u64(sb, "in_flight", cs.in_flight, &first);
    strbuf_puts(sb, "}, \"event_log\": {");
    first = true;
    eventlog_stats es = {0};
    if (d->events != NULL)
        eventlog_get_stats(d->events, &es);
    put_u64(sb, "written", es.written, &first);
    put_u64(sb, "dropped", es.dropped, &first);
    put_u64(sb, "write_errors", es.write_errors, &first);
    put_u64(sb, "purged", es.purged, &first);
    put_u64(sb, "purge_skipped", es.purge_skipped, &first);
    put_u64(sb, "spooled", es.spooled, &first);
    put_u64(sb, "replayed", es.replayed, &first);
    put_u64(sb, "spool_bytes", es.spool_bytes, &first);
    put_u64(sb, "spool_bad_lines", es.spool_bad_lines, &first);
    /* The quarantine's daily purge: the last one and when the next runs. */
    strbuf_puts(sb, "}, \"quarantine_purge\": {");
    first = true;
    put_u64(sb, "last_time", (uint64_t)d->purged_at, &first);
    put_u64(sb, "last_removed", d->purged_count, &first);
    put_str(sb, "last_error", d->purge_error[0] ? d->purge_error : NULL, &first);
    put_u64(sb, "next_time",
            d->purge_timer_ready ? (uint64_t)now + uv_timer_get_due_in(&d->purge_timer) / 1000
                                 : 0,
            &first);
    put_u64(sb, "days", d->config->config.quarantine_days, &first);
    strbuf_puts(sb, "}, \"sessions\": {");
    first = true;
    put_u64(sb, "connections", st->connections, &first);
    put_u64(sb, "active", st->sessions_active, &first);
    put_u64(sb, "refused", st->sessions_refused, &first);
    put_u64(sb, "idle_timeouts", st->idle_timeouts, &first);
    put_u64(sb, "request_timeouts", st->request_timeouts, &first);
    put_u64(sb, "reads_stopped", st->reads_stopped, &first);
    put_u64(sb, "protocol_errors", st->protocol_errors, &first);
    strbuf_puts(sb, "}, \"socketmap\": {");
    first = true;
    put_u64(sb, "requests", st->socketmap.requests, &first);
    put_u64(sb, "ok", st->socketmap.ok, &first);
    put_u64(sb, "notfound", st->socketmap.notfound, &first);
    put_u64(sb, "temp", st->socketmap.temp, &first);
    put_u64(sb, "perm", st->socketmap.perm, &first);
    strbuf_puts(sb, "}}\n");
}

/* The same as status_json, for a person. */
static void status_text(domauthd *d, strbuf *sb)
{
    const svc_counters *k = &d->counters;
    const daemon_stats *st = &d->stats;
    int64_t now = (int64_t)time(NULL);
    strbuf_printf(sb, "domauthd %s, pid %ld, up %llds\n", DOMAUTH_VERSION, (long)getpid(),
                  (long long)(now - d->started_at));
    strbuf_printf(sb, "config:     %s (monitor %s)\n", d->config_path,
                  d->config->config.global.monitor ? "on: nothing is enforced" : "off");
    if (d->reloaded_at)
        strbuf_printf(sb, "reload:     %s, %llds ago (%llu ok, %llu refused)\n", d->last_reload,
                      (long long)(now - d->reloaded_at), (unsigned long long)d->reloads,
                      (unsigned long long)d->reloads_refused);
    else
        strbuf_puts(sb, "reload:     none since start\n");
    for (const listener *l = d->listeners; l != NULL; l = listener_next(l))
        strbuf_printf(sb, "listener:   %-8s %s, %llu sessions\n", listener_kind_name(l),
                      listener_address(l),
                      (unsigned long long)st->kind_sessions_active[listener_kind_of(l)]);
    strbuf_printf(sb, "messages:   %llu (checked %llu, skipped %llu)\n",
                  (unsigned long long)k->messages, (unsigned long long)k->checked,
                  (unsigned long long)k->skipped);
    /* "Nothing is being checked" must show at once: every skip by reason. */
    strbuf_puts(sb, "skips:      ");
    bool any_skip = false;
    for (int r = 1; r < SKIP_REASON_COUNT; r++) {
        if (k->skipped_by[r] == 0)
            continue;
        strbuf_printf(sb, "%s%s %llu", any_skip ? ", " : "", skip_reason_name((skip_reason)r),
                      (unsigned long long)k->skipped_by[r]);
        any_skip = true;
    }
    strbuf_puts(sb, any_skip ? "\n" : "none\n");
    strbuf_printf(sb, "actions:    accept %llu, tag %llu, defer %llu, reject %llu; "
                      "held back by monitor mode %llu\n",
                  (unsigned long long)k->accepted, (unsigned long long)k->tagged,
                  (unsigned long long)k->deferred, (unsigned long long)k->rejected,
                  (unsigned long long)k->held_back);
    strbuf_puts(sb, "spf:       ");
    for (int r = 0; r < SPF_RESULT_COUNT; r++)
        strbuf_printf(sb, " %s %llu", spf[r], (unsigned long long)k->spf[r]);
    strbuf_puts(sb, "\ndkim:      ");
    for (int r = 0; r < DKIM_RESULT_COUNT; r++)
        strbuf_printf(sb, " %s %llu", dkim[r], (unsigned long long)k->dkim[r]);
    strbuf_puts(sb, "\ndmarc:     ");
    for (int r = 0; r < DMARC_RESULT_COUNT; r++)
        strbuf_printf(sb, " %s %llu", da_dmarc_result_name((da_dmarc_result)r),
                      (unsigned long long)k->dmarc[r]);
    da_dns_cache_stats cs = {0};
    if (d->cache != NULL)
        da_dns_cache_get_stats(d->cache, &cs);
    strbuf_printf(sb, "\ndns cache:  %llu hits, %llu misses, %llu entries, %llu upstream errors\n",
                  (unsigned long long)cs.hits, (unsigned long long)cs.misses,
                  (unsigned long long)cs.entries, (unsigned long long)cs.upstream_errors);
    eventlog_stats es = {0};
    if (d->events != NULL)
        eventlog_get_stats(d->events, &es);
    strbuf_printf(sb, "event log:  %llu written, %llu dropped, %llu write errors, %llu deleted "
                      "past event_days\n",
                  (unsigned long long)es.written, (unsigned long long)es.dropped,
                  (unsigned long long)es.write_errors, (unsigned long long)es.purged);
    if (es.spooled || es.spool_bytes || es.replayed || es.purge_skipped)
        strbuf_printf(sb, "event spool: %llu spooled while the database failed, %llu stored "
                          "from it, %llu bytes waiting, %llu bad lines; %llu purges left to "
                          "another node\n",
                      (unsigned long long)es.spooled, (unsigned long long)es.replayed,
                      (unsigned long long)es.spool_bytes, (unsigned long long)es.spool_bad_lines,
                      (unsigned long long)es.purge_skipped);
    strbuf_printf(sb, "sessions:   %llu connections, %llu refused at a limit, %llu idle and %llu "
                      "request timeouts, %llu protocol errors\n",
                  (unsigned long long)st->connections, (unsigned long long)st->sessions_refused,
                  (unsigned long long)st->idle_timeouts, (unsigned long long)st->request_timeouts,
                  (unsigned long long)st->protocol_errors);
    const socketmap_stats *sm = &st->socketmap;
    if (sm->requests > 0 || (d->config->config.srs_socketmap && *d->config->config.srs_socketmap))
        strbuf_printf(sb, "socketmap:  %llu requests: ok %llu, notfound %llu, temp %llu, "
                          "perm %llu\n",
                      (unsigned long long)sm->requests, (unsigned long long)sm->ok,
                      (unsigned long long)sm->notfound, (unsigned long long)sm->temp,
                      (unsigned long long)sm->perm);
    strbuf_printf(sb, "errors:     %llu (out of memory, engine failures); invalid input %llu\n",
                  (unsigned long long)k->errors, (unsigned long long)k->invalid_input);
}

/* ------------------------------------------------ quarantine-release | -delete */

typedef struct quarantine_work {
    uv_work_t req;
    conn *c;
    bool release;
    /* Copies: a reload may replace the configuration while this runs. */
    char *dir, *database, *event_log, *sendmail, *password_file, *node;
    unsigned days;
    char *id, *by, *to;
    int rc;
    size_t count;
    char why[1500], warn[1500];
} quarantine_work;

static void quarantine_work_free(quarantine_work *w)
{
    free(w->dir);
    free(w->database);
    free(w->event_log);
    free(w->sendmail);
    free(w->password_file);
    free(w->node);
    free(w->id);
    free(w->by);
    free(w->to);
    free(w);
}

/* On a pool thread: its own handles on the spool and the index. */
static void quarantine_work_run(uv_work_t *req)
{
    quarantine_work *w = req->data;
    quarantine_options qo = {.dir = w->dir, .database = w->database, .days = w->days,
                             .write = true, .password_file = w->password_file};
    quarantine *q = quarantine_open(&qo, w->why, sizeof w->why);
    if (q == NULL) {
        w->rc = SVC_Q_FAILED;
        return;
    }
    svc_quarantine_admin a = {.dir = w->dir, .database = w->database, .event_log = w->event_log,
                              .sendmail = w->sendmail, .days = w->days,
                              .password_file = w->password_file, .node = w->node};
    w->rc = w->release ? svc_quarantine_release(&a, q, w->id, w->to, w->by, &w->count, w->why,
                                                sizeof w->why, w->warn, sizeof w->warn)
                       : svc_quarantine_delete(&a, q, w->id, w->by, w->why, sizeof w->why,
                                               w->warn, sizeof w->warn);
    quarantine_close(q);
}

static void quarantine_work_done(uv_work_t *req, int status)
{
    quarantine_work *w = req->data;
    conn *c = w->c;
    strbuf out;
    strbuf_init(&out);
    if (status != 0)
        strbuf_printf(&out, "error: %s\n", uv_strerror(status));
    else if (w->rc != SVC_Q_DONE)
        strbuf_printf(&out, "error: %s\n", w->why);
    else if (w->release)
        strbuf_printf(&out, "ok: released %s to %zu recipient%s%s%s\n", w->id, w->count,
                      w->count == 1 ? "" : "s", w->warn[0] ? "; warning: " : "", w->warn);
    else
        strbuf_printf(&out, "ok: deleted %s%s%s\n", w->id, w->warn[0] ? "; warning: " : "",
                      w->warn);
    daemon_log(w->rc == SVC_Q_DONE ? LOG_NOTICE : LOG_WARNING, "control %s: %s %s by %s: %.*s",
               c->peer, w->release ? "release" : "delete", w->id, w->by,
               out.len > 0 ? (int)out.len - 1 : 0, out.data ? out.data : "");
    if (!c->closing) {
        if (!out.failed)
            conn_send(c, out.data, out.len);
        conn_resume(c);
        conn_close_when_written(c);
    }
    strbuf_free(&out);
    conn_unref(c);
    quarantine_work_free(w);
}

static char *copy_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void quarantine_command(conn *c, const char *command, strbuf *out)
{
    char words[4][600] = {{0}}; /* an id, a user, an address: each far shorter */
    int n = 0;
    for (const char *p = command; *p && n < 4;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (len == 0)
            break;
        if (len >= sizeof words[0]) {
            n = 5;
            break;
        }
        snprintf(words[n++], sizeof words[0], "%.*s", (int)len, p);
        p += len;
        if (n == 4 && p[strspn(p, " ")] != '\0')
            n = 5; /* too many */
    }
    bool release = strcmp(words[0], "quarantine-release") == 0;
    if (n < 3 || n > (release ? 4 : 3) || !spool_id_valid(words[1])) {
        strbuf_puts(out, release ? "error: usage: quarantine-release ID BY [TO]\n"
                                 : "error: usage: quarantine-delete ID BY\n");
        return;
    }
    const domauth_config *cfg = &c->config->config;
    quarantine_work *w = calloc(1, sizeof *w);
    if (w == NULL) {
        strbuf_puts(out, "error: out of memory\n");
        return;
    }
    w->c = c;
    w->release = release;
    w->days = cfg->quarantine_days;
    w->dir = strdup(cfg->quarantine_dir);
    w->database = copy_or_null(cfg->database);
    w->event_log = copy_or_null(cfg->event_log);
    w->sendmail = copy_or_null(cfg->sendmail);
    w->password_file = copy_or_null(cfg->database_password_file);
    w->node = copy_or_null(cfg->node);
    w->id = strdup(words[1]);
    w->by = strdup(words[2]);
    w->to = n == 4 ? strdup(words[3]) : NULL;
    w->req.data = w;
    if (w->dir == NULL || w->id == NULL || w->by == NULL || (n == 4 && w->to == NULL) ||
        uv_queue_work(c->daemon->loop, &w->req, quarantine_work_run, quarantine_work_done) != 0) {
        quarantine_work_free(w);
        strbuf_puts(out, "error: out of memory\n");
        return;
    }
    conn_ref(c);
    conn_pause(c);
}

/* ------------------------------------------------ config-check | config-changed */

/* The directory part of path ("." without one), resolved. */
static bool real_dir_of(const char *path, char *out, size_t size)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    char resolved[PATH_MAX];
    if (realpath(dir, resolved) == NULL || strlen(resolved) >= size)
        return false;
    snprintf(out, size, "%s", resolved);
    return true;
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Only a candidate for the configuration may be checked: a file in its
 * directory named ".NAME." something. Anything else would let a client
 * of the socket have domauthd read any file and quote its lines back. */
static void config_check(domauthd *d, const char *path, strbuf *out)
{
    char want[PATH_MAX], have[PATH_MAX], prefix[300];
    const char *name = base_of(d->config_path);
    snprintf(prefix, sizeof prefix, ".%s.", name);
    if (*path == '\0' || !real_dir_of(d->config_path, want, sizeof want) ||
        !real_dir_of(path, have, sizeof have) || strcmp(want, have) != 0 ||
        strncmp(base_of(path), prefix, strlen(prefix)) != 0) {
        strbuf_printf(out, "refused: config-check takes a file beside %s named %s*\n",
                      d->config_path, prefix);
        return;
    }
    /* A plain file of one name: not a link to a file domauthd may read and
     * the client may not (an error quotes a line of what it read). What is
     * loaded is read from this descriptor, so it is the file checked here. */
    struct stat before;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &before) != 0 || !S_ISREG(before.st_mode) || before.st_nlink != 1) {
        strbuf_printf(out, "refused: %s is not a plain file of its own\n", path);
        if (fd >= 0)
            close(fd);
        return;
    }
    char err[1200];
    int rc = daemon_check_config(path, fd, err, sizeof err);
    close(fd);
    size_t plen = strlen(path);
    if (rc == 0) {
        strbuf_puts(out, "ok\n");
    } else if (strncmp(err, path, plen) == 0 && err[plen] == ':') {
        strbuf_printf(out, "refused: %s\n", err);
    } else {
        /* About another file the candidate named (a whitelist_file, a key):
         * its text is quoted in err, and that file is domauthd's to read,
         * not the client's. The reason goes to domauthd's log only. */
        daemon_log(LOG_WARNING, "config-check %s: %s", path, err);
        strbuf_printf(out, "refused: %s does not load; the reason is in domauthd's log\n", path);
    }
}

/* "BY ACTION DOMAIN TEXT": the audit event of a change domauth-web made
 * to the file, then the reload it asks for. The event goes through the
 * event log like every event (store, JSON lines, syslog, spool). */
static void config_changed(conn *c, const char *args, strbuf *out)
{
    char by[200], action[16], domain[300];
    int used = 0;
    if (sscanf(args, "%199s %15s %299s %n", by, action, domain, &used) != 3 || used == 0 ||
        (strcmp(action, "set") != 0 && strcmp(action, "reset") != 0) || args[used] == '\0') {
        strbuf_puts(out, "error: usage: config-changed BY set|reset DOMAIN|- TEXT\n");
        return;
    }
    domauthd *d = c->daemon;
    char err[900], reasons[CONTROL_LINE_MAX + 1200];
    int rc = daemon_reload(d, err, sizeof err);
    snprintf(reasons, sizeof reasons, "%s, by %s; %s%s", args + used, by,
             rc == 0 ? "reloaded" : "reload refused: ", rc == 0 ? "" : err);
    event_record r = {
        .time = (int64_t)time(NULL),
        .listener = "settings",
        .client_ip = "",
        .helo = "",
        .mail_from = "",
        .domain = strcmp(domain, "-") == 0 ? NULL : domain,
        .action = strcmp(action, "set") == 0 ? "config-set" : "config-reset",
        .reasons = reasons,
    };
    if (d->events != NULL)
        eventlog_write(d->events, &r);
    daemon_log(LOG_NOTICE, "control %s: configuration changed by %s: %s", c->peer, by,
               args + used);
    if (rc == 0)
        strbuf_puts(out, "ok: reloaded\n");
    else
        strbuf_printf(out, "refused: %s\n", err);
}

static void answer(conn *c, const char *command)
{
    if (strncmp(command, "quarantine-release ", 19) == 0 ||
        strncmp(command, "quarantine-delete ", 18) == 0) {
        strbuf refused;
        strbuf_init(&refused);
        quarantine_command(c, command, &refused);
        if (refused.len > 0) {
            conn_send(c, refused.data, refused.len);
            conn_close_when_written(c);
        }
        strbuf_free(&refused);
        return;
    }
    strbuf out;
    strbuf_init(&out);
    if (strcmp(command, "status text") == 0) {
        status_text(c->daemon, &out);
    } else if (strcmp(command, "status") == 0) {
        status_json(c->daemon, &out);
    } else if (strcmp(command, "reload") == 0) {
        char err[600];
        if (daemon_reload(c->daemon, err, sizeof err) == 0)
            strbuf_puts(&out, "ok\n");
        else
            strbuf_printf(&out, "refused: %s\n", err);
    } else if (strcmp(command, "purge") == 0) {
        daemon_purge_now(c->daemon);
        strbuf_puts(&out, "ok\n");
    } else if (strncmp(command, "config-check ", 13) == 0) {
        config_check(c->daemon, command + 13, &out);
    } else if (strncmp(command, "config-changed ", 15) == 0) {
        config_changed(c, command + 15, &out);
    } else {
        strbuf_puts(&out, "error: unknown command (status, status text, reload, purge, "
                          "xmail-check, quarantine-release, quarantine-delete, config-check, "
                          "config-changed)\n");
    }
    if (!out.failed)
        conn_send(c, out.data, out.len);
    strbuf_free(&out);
    conn_close_when_written(c);
}

/* ------------------------------------------------ xmail-check
 * `domauth xmail-filter` hands its check here so that it runs on the warm
 * cache and writes its event to the daemon's store; the filter carries the
 * verdict out on the file, which only it may write. */

static void send_answer(conn *c, strbuf *out)
{
    if (!out->failed)
        conn_send(c, out->data, out->len);
    strbuf_free(out);
    conn_close_when_written(c);
}

static xmail_edit_op wire_op(header_op op)
{
    return op == HEADER_INSERT_TOP ? XMAIL_EDIT_INSERT_TOP
           : op == HEADER_APPEND   ? XMAIL_EDIT_APPEND
           : op == HEADER_CHANGE   ? XMAIL_EDIT_CHANGE
                                   : XMAIL_EDIT_DELETE;
}

static void on_xmail_done(void *arg, const svc_batch_outcome *o)
{
    conn *c = arg;
    control_state *s = c->state;
    strbuf out;
    strbuf_init(&out);
    xmail_wire_put_ok(&out, policy_action_name(o->action), o->hold);
    if (o->action == ACTION_DEFER || o->action == ACTION_REJECT)
        xmail_wire_put_text(&out, "reply", o->reply);
    if (o->action == ACTION_REDIRECT)
        xmail_wire_put_text(&out, "redirect", o->redirect_to);
    xmail_wire_put_text(&out, "summary", o->summary);
    for (size_t i = 0; i < o->edit_count; i++) {
        const header_edit *e = &o->edits[i];
        if (xmail_wire_put_edit(&out, wire_op(e->op), e->index, e->name,
                                e->op == HEADER_DELETE ? NULL : e->value) != 0)
            daemon_log(LOG_WARNING, "control %s: xmail-check: the %s field not sent", c->peer,
                       e->name);
    }
    xmail_wire_put_end(&out);
    s->answered = true;
    send_answer(c, &out);
    conn_resume(c);
}

static void xmail_refuse(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xmail_refuse(conn *c, const char *fmt, ...)
{
    control_state *s = c->state;
    char why[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    daemon_log(LOG_WARNING, "control %s: xmail-check declined: %s", c->peer, why);
    strbuf out;
    strbuf_init(&out);
    xmail_wire_put_error(&out, why);
    s->answered = true;
    send_answer(c, &out);
}

/* The file is whole: parse it as the filter did, and check. */
static void xmail_start(conn *c)
{
    control_state *s = c->state;
    xmail_spool_error perr;
    if (xmail_spool_parse(s->file, s->req.length, s->req.stage, &s->spool, &perr) != 0) {
        xmail_refuse(c, "line %u: %s", perr.line, perr.text);
        return;
    }
    s->spool_parsed = true;
    if (s->req.stage == XMAIL_STAGE_POST_RCPT && s->req.rcpt[0] == '\0') {
        xmail_refuse(c, "post-rcpt without the recipient");
        return;
    }
    s->config = config_ref_get(c->config);
    conn_pause(c); /* no timeout while the check runs: spf_deadline_ms bounds it */
    s->check = svc_xmail_start(&c->daemon->env, &s->config->svc, s->req.stage, &s->spool, s->file,
                               s->req.stage == XMAIL_STAGE_POST_RCPT ? s->req.rcpt : NULL,
                               s->req.auth, on_xmail_done, c);
    if (s->check == NULL && !s->answered) {
        conn_resume(c);
        xmail_refuse(c, "out of memory");
    }
}

static size_t xmail_body(conn *c, const uint8_t *data, size_t len)
{
    control_state *s = c->state;
    size_t want = s->req.length - s->file_have;
    size_t n = len < want ? len : want;
    if (s->file_have + n > s->file_cap) {
        /* Memory follows what arrives, not what the request line claims. */
        size_t cap = s->file_cap;
        while (cap < s->file_have + n)
            cap = cap * 2 < s->req.length ? cap * 2 : s->req.length;
        char *bigger = realloc(s->file, cap);
        if (bigger == NULL) {
            xmail_refuse(c, "out of memory for a file of %zu bytes", s->req.length);
            return len;
        }
        s->file = bigger;
        s->file_cap = cap;
    }
    memcpy(s->file + s->file_have, data, n);
    s->file_have += n;
    if (s->file_have == s->req.length)
        xmail_start(c);
    return len; /* anything after the file is not part of the protocol */
}

static void xmail_begin(conn *c, const char *line)
{
    control_state *s = c->state;
    char err[200];
    if (xmail_wire_parse_request(line, strlen(line), &s->req, err, sizeof err) != 0) {
        xmail_refuse(c, "%s", err);
        return;
    }
    s->file_cap = s->req.length < 65536 ? s->req.length : 65536;
    s->file = malloc(s->file_cap);
    if (s->file == NULL)
        xmail_refuse(c, "out of memory for a file of %zu bytes", s->req.length);
}

static size_t control_data(conn *c, const uint8_t *data, size_t len)
{
    control_state *s = c->state;
    if (s->file != NULL && !s->answered && s->check == NULL && !s->spool_parsed)
        return xmail_body(c, data, len);
    for (size_t i = 0; i < len; i++) {
        if (s->answered || s->file != NULL)
            return len;
        if (data[i] == '\n') {
            s->line[s->len] = '\0';
            if (s->len > 0 && s->line[s->len - 1] == '\r')
                s->line[--s->len] = '\0';
            if (strncmp(s->line, "xmail-check ", 12) == 0) {
                xmail_begin(c, s->line);
                if (s->file != NULL && !s->answered && i + 1 < len)
                    xmail_body(c, data + i + 1, len - i - 1);
                return len;
            }
            s->answered = true;
            answer(c, s->line);
            return len;
        }
        if (s->len + 1 >= sizeof s->line) {
            s->answered = true;
            answer(c, "(too long)");
            return len;
        }
        s->line[s->len++] = (char)data[i];
    }
    return len;
}

const conn_handler control_handler = {control_state_new, control_data, control_close};

static const char *control_address(const domauth_config *cfg)
{
    return cfg->control_listen;
}

static unsigned control_socket_mode(const domauth_config *cfg)
{
    return cfg->control_mode;
}

static unsigned control_max(const domauth_config *cfg)
{
    (void)cfg;
    /* An administrator's commands, and the XMail filter's checks: one per
     * SMTP session XMail is filtering. A filter refused checks in-process. */
    return 128;
}

static unsigned control_idle(const domauth_config *cfg)
{
    (void)cfg;
    return 10;
}

const listener_kind control_listener = {
    .kind = CONN_CONTROL,
    .name = "control",
    .unit = "command",
    .framing = FRAMING_LINE,
    .handler = &control_handler,
    .address = control_address,
    .socket_mode = control_socket_mode,
    .max_sessions = control_max,
    .idle_timeout = control_idle,
    .max_sessions_key = "the control session limit (128)",
    .idle_timeout_key = "the control idle timeout (10 s)",
    .refused_what = "control connections refused",
    .serves_mail = false,
};
