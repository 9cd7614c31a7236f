/* main.c: domauthd, the daemon beside the MTA. Loads domauth.conf, opens the
 * listeners, drops privileges, and runs one libuv loop. SIGHUP reloads the
 * configuration (a broken one is refused and the old kept); SIGTERM stops
 * accepting and lets sessions in progress finish. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "domauth_dkim.h"
#include "domauthd.h"
#include "srs/srs.h"
#include "util/file.h"
#include "util/json.h"

#define DEFAULT_CONFIG "/etc/domauth/domauth.conf"

/* The daemon's own log: syslog always, stderr too in the foreground. These
 * two flags are process-wide by nature (like syslog itself). */
static bool log_to_stderr = true;
static bool log_verbose;

void daemon_log(int priority, const char *fmt, ...)
{
    if (priority == LOG_DEBUG && !log_verbose)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    syslog(priority, "%s", msg);
    if (log_to_stderr)
        fprintf(stderr, "domauthd: %s\n", msg);
}

config_ref *config_ref_get(config_ref *ref)
{
    ref->refs++;
    return ref;
}

void config_ref_put(config_ref *ref)
{
    if (ref != NULL && --ref->refs == 0) {
        for (size_t i = 0; ref->dkim_keys && i < ref->config.dkim_key_count; i++)
            da_dkim_key_free(ref->dkim_keys[i]);
        free(ref->dkim_keys);
        srs_free(ref->srs);
        config_free(&ref->config);
        free(ref);
    }
}

/* Reads every key of the DKIM key table; an error names the config line. */
static int load_dkim_keys(config_ref *ref, char *err, size_t err_size)
{
    domauth_config *cfg = &ref->config;
    if (cfg->dkim_key_count == 0)
        return 0;
    ref->dkim_keys = calloc(cfg->dkim_key_count, sizeof *ref->dkim_keys);
    if (ref->dkim_keys == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->dkim_key_count; i++) {
        const dkim_key_entry *k = &cfg->dkim_keys[i];
        size_t len;
        char why[400];
        char *text = util_read_file(k->path, 1u << 20, &len, why, sizeof why);
        if (text != NULL) {
            ref->dkim_keys[i] = da_dkim_key_load(text, len, why, sizeof why);
            memset(text, 0, len); /* private key material */
            free(text);
        }
        if (ref->dkim_keys[i] == NULL) {
            snprintf(err, err_size, "%s:%u: key: %s", k->file ? k->file : cfg->path, k->line,
                     why);
            return -1;
        }
    }
    return 0;
}

/* The SRS secrets of [srs], when the socketmap or the milter rewrite is on; an error names the
 * config line and the file. Read like the DKIM keys: at start, -t and every
 * reload, so the run-as user must be able to read the file. */
static int load_srs(config_ref *ref, char *err, size_t err_size)
{
    const domauth_config *cfg = &ref->config;
    if ((cfg->srs_socketmap == NULL || *cfg->srs_socketmap == '\0') && !cfg->srs_milter)
        return 0;
    unsigned line = config_key_line(cfg, "srs", "secrets");
    if (line == 0)
        line = config_key_line(cfg, "srs", "socketmap");
    size_t len;
    char why[400];
    char *text = util_read_file(cfg->srs_secrets, 64u << 10, &len, why, sizeof why);
    if (text != NULL) {
        ref->srs = socketmap_srs_new(cfg, text, len, cfg->srs_secrets, why, sizeof why);
        memset(text, 0, len); /* secret material */
        free(text);
    }
    if (ref->srs == NULL) {
        snprintf(err, err_size, "%s:%u: secrets: %s", cfg->path, line, why);
        return -1;
    }
    return 0;
}

static const char usage[] =
    "usage: domauthd [-c FILE] [-f | -d] [-t] [-v]\n"
    "\n"
    "Checks the senders of arriving mail (SPF) for Postfix or Sendmail, through\n"
    "a milter and/or a Postfix policy delegation listener, and applies the\n"
    "site's policy from domauth.conf. Observes only until monitor = no.\n"
    "\n"
    "  -c, --config FILE   configuration (default " DEFAULT_CONFIG "; when that\n"
    "                      file does not exist the built-in defaults are used)\n"
    "  -f, --foreground    stay in the foreground and log to stderr too (default)\n"
    "  -d, --daemon        detach from the terminal (with pidfile if configured)\n"
    "  -t, --check-config  check the configuration and exit: 0 if it is usable\n"
    "  --sample-config     print a configuration with every key and its default\n"
    "  -v, --verbose       log more\n"
    "  -h, --help          this text\n"
    "  --version\n"
    "\n"
    "Signals: HUP reloads the configuration, TERM or INT stops after the\n"
    "sessions in progress. See domauthd(8) and domauth.conf(5).\n";

/* ------------------------------------------------------ configuration */

/* getpwnam and getgrnam leave errno alone, or set one of these, when the
 * name does not exist; other values say the lookup itself failed. */
static const char *lookup_error(int e)
{
    if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM)
        return "";
    static char text[200];
    snprintf(text, sizeof text, " (the lookup failed: %s)", strerror(e));
    return text;
}

/* ------------------------------------------------------------ pidfile
 *
 * The pidfile is written as root, before the drop to user, and removed at
 * stop as that user: so user must be able to unlink it, which needs write
 * and search permission on its directory (and, in a sticky directory such
 * as /tmp, to own the file, which is why it is given to user). As Debian's
 * daemons do, the pidfile belongs in a directory of the run user's own,
 * /run/domauth/ (the unit's RuntimeDirectory=, the tmpfiles.d entry): a
 * missing directory is made for user, and one user cannot write is refused
 * at -t and at start, naming the line, rather than found out at the stop. */

/* The run user's ids: user's, and group's when given (what
 * drop_privileges sets: that one group, no supplementary ones). */
static int run_ids(const domauth_config *cfg, uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL)
        return -1;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    if (cfg->group && *cfg->group) {
        struct group *gr = getgrnam(cfg->group);
        if (gr == NULL)
            return -1;
        *gid = gr->gr_gid;
    }
    return 0;
}

/* Whether uid:gid may remove an entry it owns from a directory, by the
 * directory's mode: owner, else group, else other (the first class that
 * applies decides, as the kernel does; ACLs are not looked at). */
static bool may_unlink_in(const struct stat *st, uid_t uid, gid_t gid)
{
    if (uid == 0)
        return true;
    mode_t need = st->st_uid == uid ? S_IWUSR | S_IXUSR
                  : st->st_gid == gid ? S_IWGRP | S_IXGRP
                                      : S_IWOTH | S_IXOTH;
    return (st->st_mode & need) == need;
}

static void pidfile_dir(const char *path, char *dir, size_t dir_size)
{
    snprintf(dir, dir_size, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0'; /* "/domauthd.pid": the root directory */
    else if (slash != NULL)
        *slash = '\0';
}

/* With user set: the pidfile's directory must let user remove the file.
 * A directory that does not exist is fine here (made at start). */
static int check_pidfile_dir(const domauth_config *cfg, char *err, size_t err_size)
{
    if (cfg->pidfile == NULL || *cfg->pidfile == '\0' || cfg->user == NULL || *cfg->user == '\0')
        return 0;
    uid_t uid;
    gid_t gid;
    if (run_ids(cfg, &uid, &gid) != 0)
        return 0; /* check_system names the user or group */
    char dir[4096];
    pidfile_dir(cfg->pidfile, dir, sizeof dir);
    struct stat st;
    if (stat(dir, &st) != 0 || may_unlink_in(&st, uid, gid))
        return 0;
    snprintf(err, err_size,
             "%s:%u: pidfile: %s: user %s could not remove it at stop: %.300s is not writable "
             "by %s; put it in a directory of that user's, such as /run/domauth/ (made by "
             "the unit's RuntimeDirectory= and the tmpfiles.d entry, or by domauthd when "
             "missing)",
             cfg->path, config_key_line(cfg, "daemon", "pidfile"), cfg->pidfile, cfg->user,
             dir, cfg->user);
    return -1;
}

/* At start as root, before the pidfile is written: the directory made for
 * user when missing (one level, 0755, as /run/domauth), then checked. */
static int prepare_pidfile_dir(const domauth_config *cfg, char *err, size_t err_size)
{
    if (cfg->pidfile == NULL || *cfg->pidfile == '\0' || cfg->user == NULL ||
        *cfg->user == '\0' || getuid() != 0)
        return 0;
    uid_t uid;
    gid_t gid;
    if (run_ids(cfg, &uid, &gid) != 0)
        return 0; /* drop_privileges says which */
    char dir[4096];
    pidfile_dir(cfg->pidfile, dir, sizeof dir);
    if (mkdir(dir, 0755) == 0) {
        if (chown(dir, uid, gid) != 0) {
            snprintf(err, err_size, "pidfile: cannot give %.300s to %s: %s", dir, cfg->user,
                     strerror(errno));
            return -1;
        }
        daemon_log(LOG_INFO, "pidfile: made %s for %s", dir, cfg->user);
    } else if (errno != EEXIST) {
        snprintf(err, err_size, "pidfile: cannot make %.300s: %s", dir, strerror(errno));
        return -1;
    }
    return check_pidfile_dir(cfg, err, err_size);
}

/* The written pidfile goes to user, who removes it at stop (a sticky
 * directory lets only the file's owner do that). */
static int give_pidfile(const domauth_config *cfg, const char *written, char *err,
                        size_t err_size)
{
    if (written == NULL || cfg->user == NULL || *cfg->user == '\0' || getuid() != 0)
        return 0;
    uid_t uid;
    gid_t gid;
    if (run_ids(cfg, &uid, &gid) != 0)
        return 0;
    if (chown(written, uid, gid) != 0) {
        snprintf(err, err_size, "pidfile: cannot give %s to %s: %s", written, cfg->user,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* What the parser cannot see from the text: that the user and group exist
 * (so -t, and systemd's ExecStartPre with it, catches what would stop the
 * start) and that the resolver takes the DNS server list. */
static int check_system(const domauth_config *cfg, char *err, size_t err_size)
{
    if (cfg->user && *cfg->user) {
        errno = 0;
        if (getpwnam(cfg->user) == NULL) {
            snprintf(err, err_size, "%s:%u: user: no user '%s' on this system%s", cfg->path,
                     config_key_line(cfg, "daemon", "user"), cfg->user, lookup_error(errno));
            return -1;
        }
    }
    if (cfg->group && *cfg->group) {
        errno = 0;
        if (getgrnam(cfg->group) == NULL) {
            snprintf(err, err_size, "%s:%u: group: no group '%s' on this system%s", cfg->path,
                     config_key_line(cfg, "daemon", "group"), cfg->group, lookup_error(errno));
            return -1;
        }
    }
    if (cfg->socket_group && *cfg->socket_group) {
        errno = 0;
        if (getgrnam(cfg->socket_group) == NULL) {
            snprintf(err, err_size, "%s:%u: socket_group: no group '%s' on this system%s",
                     cfg->path, config_key_line(cfg, "daemon", "socket_group"),
                     cfg->socket_group, lookup_error(errno));
            return -1;
        }
    }
    char why[300];
    if (cfg->dns_servers && *cfg->dns_servers &&
        da_resolver_check_servers(cfg->dns_servers, why, sizeof why) != 0) {
        snprintf(err, err_size, "%s:%u: dns_servers: %s", cfg->path,
                 config_key_line(cfg, "daemon", "dns_servers"), why);
        return -1;
    }
    return check_pidfile_dir(cfg, err, err_size);
}

/* Loads path into a new config_ref; NULL with a reason in err. A missing
 * default file means the built-in defaults. */
enum { CONFIG_FILE_MAX = 16u << 20 }; /* a configuration file's bound */

static config_ref *config_load_text(const char *path, char *text, size_t len, char *err,
                                    size_t err_size);

static config_ref *config_load(const char *path, bool path_given, char *err, size_t err_size)
{
    size_t len = 0;
    char *text = NULL;
    if (path_given || access(path, F_OK) == 0) {
        text = util_read_file(path, CONFIG_FILE_MAX, &len, err, err_size);
        if (text == NULL)
            return NULL;
    }
    return config_load_text(path, text, len, err, err_size);
}

/* The load itself, from the text of path (NULL: the built-in defaults);
 * takes text. */
static config_ref *config_load_text(const char *path, char *text, size_t len, char *err,
                                    size_t err_size)
{
    config_ref *ref = calloc(1, sizeof *ref);
    if (ref == NULL || config_init(&ref->config) != 0) {
        free(ref);
        free(text);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    ref->refs = 1;
    if (config_parse(&ref->config, path, text ? text : "", len, err, err_size) != 0) {
        free(text);
        free(ref);
        return NULL;
    }
    free(text);
    domauth_config *cfg = &ref->config;
    if (check_system(cfg, err, err_size) != 0) {
        config_ref_put(ref);
        return NULL;
    }
    if (config_read_host_files(cfg, err, err_size) != 0 ||
        config_read_dkim_tables(cfg, err, err_size) != 0 ||
        load_dkim_keys(ref, err, err_size) != 0 || load_srs(ref, err, err_size) != 0) {
        config_ref_put(ref);
        return NULL;
    }
    snprintf(ref->host_name, sizeof ref->host_name, "localhost");
    gethostname(ref->host_name, sizeof ref->host_name - 1);
    ref->svc = (svc_config){.config = cfg, .host_name = ref->host_name,
                            .dkim_keys = ref->dkim_keys};
    return ref;
}

static void emit_line(void *arg, const char *line)
{
    fprintf(arg, "%s\n", line);
}

/* ------------------------------------------------- what to tell the admin */

typedef void say_fn(void *arg, const char *line);

static bool any_tagging(const policy_settings *ps)
{
    for (int r = 0; r < SPF_RESULT_COUNT; r++)
        if (ps->results[r].tag_subject)
            return true;
    for (int r = 0; r < DKIM_RESULT_COUNT; r++)
        if (ps->dkim_results[r].tag_subject)
            return true;
    return ps->invalid_from.tag_subject;
}

/* The configured options the Postfix policy listener cannot carry out: it
 * sees no message and answers with one action (and one PREPEND) per
 * recipient. Events record only what was done, and this says why. */
static void policy_listener_limits(const domauth_config *cfg, say_fn *say, void *arg)
{
    if (cfg->policy_listen == NULL || *cfg->policy_listen == '\0')
        return;
    char line[400];
    const policy_settings *all[1 + 64];
    size_t n = 0;
    all[n++] = &cfg->global;
    for (size_t i = 0; i < cfg->domain_count && n < sizeof all / sizeof all[0]; i++)
        all[n++] = &cfg->domains[i].settings;
    bool tag = false, header_from = false, data_stage = false;
    for (size_t i = 0; i < n; i++) {
        tag = tag || any_tagging(all[i]);
        header_from = header_from || all[i]->identity == IDENTITY_HEADER_FROM;
        data_stage = data_stage || all[i]->stage == STAGE_DATA;
    }
    if (tag)
        say(arg, "policy listener: cannot tag a subject (it sees no message): a *_tag_subject "
                 "is carried out by the milter only");
    if (header_from)
        say(arg, "policy listener: identity = header_from: it sees no From: field and checks "
                 "MAIL FROM (its events say identity=mailfrom)");
    if (data_stage)
        say(arg, "policy listener: reply_stage = data: it answers each recipient at RCPT");
    if (config_key_line(cfg, "policy", "remove_forged_authres") && cfg->global.remove_forged_authres)
        say(arg, "policy listener: cannot remove forged Authentication-Results fields (the "
                 "milter does)");
    if (config_key_line(cfg, "policy", "score_header") && cfg->global.score_header &&
        *cfg->global.score_header && (cfg->global.received_spf || cfg->global.authentication_results))
        say(arg, "policy listener: adds one field per message (Received-SPF, else "
                 "Authentication-Results, else the score header)");
    if (cfg->dkim_sign && cfg->dkim_key_count > 0)
        say(arg, "policy listener: cannot sign (DKIM signing needs the message, which only "
                 "the milter sees)");
    bool folder = false;
    for (size_t i = 0; i < n; i++)
        folder = folder || (all[i]->quarantine_mode == QUARANTINE_FOLDER &&
                            policy_settings_can_quarantine(all[i]));
    if (folder)
        say(arg, "policy listener: quarantine_mode = folder: it sees no message to keep; a "
                 "quarantine there is the action HOLD (Postfix's hold queue)");
    if (cfg->dkim_verify && config_key_line(cfg, "dkim", "verify")) {
        snprintf(line, sizeof line, "policy listener: verify = yes in [dkim]: DKIM needs the "
                                    "message, which only the milter sees");
        say(arg, line);
    }
}

static void say_stderr(void *arg, const char *line)
{
    fprintf(arg, "%s\n", line);
}

static void say_log(void *arg, const char *line)
{
    daemon_log(*(int *)arg, "%s", line);
}

/* Old key names and the listener limits, at start, reload and -t. */
static void tell_admin(const domauth_config *cfg, say_fn *say, void *arg)
{
    for (size_t i = 0; i < cfg->warning_count; i++)
        say(arg, cfg->warnings[i]);
    policy_listener_limits(cfg, say, arg);
}

/* --------------------------------------------------------- quarantine */

enum {
    PURGE_PER_ADD = 16,              /* bounded work per quarantined message */
    PURGE_INTERVAL_MS = 86400 * 1000, /* the daily purge */
    TMP_MAX_AGE = 36 * 3600,          /* Maildir's rule for files left in tmp/ */
};

static int log_unreadable(void *ctx, const quarantine_row *row, const char *problem)
{
    (void)ctx;
    daemon_log(LOG_ERR, "quarantine: %s is not indexed and cannot be read: %s", row->path,
               problem);
    return 0;
}

/* Rows for the spool files the index lacks: stored while the database was
 * down (quarantine_commit said "stored but not indexed"), or left by a crash
 * between the file and its row. With each purge (a minute after start, then
 * daily), not at start itself: the scan reads the index and the folder. */
static void quarantine_reindex_now(domauthd *d)
{
    uint64_t added = 0, unreadable = 0;
    char why[700];
    if (quarantine_get_index(d->quarantine) == NULL)
        return;
    if (quarantine_reindex(d->quarantine, log_unreadable, NULL, &added, &unreadable, why,
                           sizeof why) != 0)
        daemon_log(LOG_ERR, "quarantine reindex: %s (%llu rows added; retried with the daily "
                            "purge)", why, (unsigned long long)added);
    else if (added > 0 || unreadable > 0)
        daemon_log(LOG_NOTICE, "quarantine reindex: %llu messages stored without an index row "
                               "now have one; %llu files could not be read",
                   (unsigned long long)added, (unsigned long long)unreadable);
}

static void on_purge_timer(uv_timer_t *t)
{
    daemon_purge_now(t->data);
}

void daemon_purge_now(domauthd *d)
{
    uint64_t removed = 0;
    char why[600];
    int64_t now = (int64_t)time(NULL);
    /* The event store's retention, on its writer thread. */
    eventlog_purge_before(d->events, now - (int64_t)d->config->config.event_days * 86400);
    if (d->quarantine == NULL)
        return;
    int rc = quarantine_purge(d->quarantine, now, 0, &removed, why, sizeof why);
    d->purged_at = now;
    d->purged_count = removed;
    snprintf(d->purge_error, sizeof d->purge_error, "%s", rc != 0 ? why : "");
    if (rc != 0)
        daemon_log(LOG_ERR, "quarantine purge: %s", why);
    else if (removed > 0)
        daemon_log(LOG_INFO, "quarantine purge: %llu messages older than %u days removed",
                   (unsigned long long)removed, d->config->config.quarantine_days);
    if (removed > 0 || rc != 0) {
        /* An audit event, as `domauth quarantine purge` leaves one. */
        char reasons[800];
        snprintf(reasons, sizeof reasons, "purged %llu messages older than %u days by "
                 "domauthd%s%s", (unsigned long long)removed, d->config->config.quarantine_days,
                 rc != 0 ? "; failed: " : "", rc != 0 ? why : "");
        event_record r = {.time = now, .listener = "quarantine", .client_ip = "", .helo = "",
                          .mail_from = "", .action = "purge", .reasons = reasons};
        if (d->events != NULL)
            eventlog_write(d->events, &r);
    }
    spool_clean_tmp(quarantine_spool(d->quarantine), now, TMP_MAX_AGE);
    quarantine_reindex_now(d);
}

/* The daily retention: the event store (event_days) and the quarantine
 * (quarantine_days). A first purge soon after start, then daily. */
static void purge_timer_start(domauthd *d)
{
    if (d->purge_timer_ready)
        return;
    uv_timer_init(d->loop, &d->purge_timer);
    d->purge_timer.data = d;
    d->purge_timer_ready = true;
    uv_timer_start(&d->purge_timer, on_purge_timer, 60 * 1000, PURGE_INTERVAL_MS);
    uv_unref((uv_handle_t *)&d->purge_timer); /* never what keeps the loop running */
}

/* Opens the folder when a configuration first asks for it (at start, or
 * at the reload that turns it on); its place and the database change only
 * at restart, as the event log's do. A folder that cannot be opened is
 * logged: each message to quarantine then gets quarantine_failure. */
static void quarantine_start(domauthd *d, const domauth_config *cfg)
{
    if (d->quarantine != NULL || !cfg->quarantine_possible)
        return;
    char why[600] = "";
    quarantine_options o = {.dir = cfg->quarantine_dir,
                            .database = cfg->database,
                            .password_file = cfg->database_password_file,
                            .days = cfg->quarantine_days,
                            .purge_per_add = PURGE_PER_ADD,
                            .write = true};
    d->quarantine = quarantine_open(&o, why, sizeof why);
    if (d->quarantine == NULL) {
        daemon_log(LOG_ERR, "quarantine folder %s: %s (each message to quarantine gets "
                            "quarantine_failure = %s)", cfg->quarantine_dir, why,
                   cfg->quarantine_failure_accept ? "accept" : "tempfail");
        return;
    }
    d->env.quarantine = d->quarantine;
    spool_clean_tmp(quarantine_spool(d->quarantine), (int64_t)time(NULL), TMP_MAX_AGE);
    purge_timer_start(d); /* its first run, a minute after start, reindexes too */
}

static bool ip_set_empty(const ip_set *set)
{
    return set->v4.count == 0 && set->v6.count == 0;
}

/* What is never checked, said once at start: behind a NAT or a front
 * filter, "check_local = no" alone can leave nothing checked. */
static void log_skips(const domauth_config *cfg)
{
    const policy_settings *ps = &cfg->global;
    const char *what[6];
    size_t n = 0;
    char local[600];
    if (ps->skip_authenticated)
        what[n++] = "SMTP AUTH sessions (skip_authenticated)";
    if (!ip_set_empty(&cfg->whitelist))
        what[n++] = "the whitelist";
    if (cfg->whitelist_ptr.count || cfg->whitelist_helo.count)
        what[n++] = "clients named in whitelist_ptr or whitelist_helo";
    if (ps->skip_trusted && !ip_set_empty(&cfg->trusted))
        what[n++] = "the trusted relays (skip_trusted)";
    if (!ps->check_local) {
        int k = snprintf(local, sizeof local, "local networks %s (check_local = no%s)",
                         cfg->local_networks,
                         cfg->local_networks_default ? ", the built-in local_networks" : "");
        what[n++] = k > 0 && (size_t)k < sizeof local ? local
                                                       : "the local networks (check_local = no)";
    }
    strbuf sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "not checked: ");
    for (size_t i = 0; i < n; i++)
        strbuf_printf(&sb, "%s%s", i ? "; " : "", what[i]);
    if (n == 0)
        strbuf_puts(&sb, "nothing by address or session: every client is checked");
    if (!sb.failed)
        daemon_log(LOG_INFO, "%s", sb.data);
    strbuf_free(&sb);
}

/* ------------------------------------------------------------ signals */

static bool same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

int daemon_reload(domauthd *d, char *err, size_t err_size)
{
    /* Log files are reopened whatever the configuration says: logrotate
     * sends HUP after moving them. */
    if (d->events != NULL)
        eventlog_reopen(d->events);
    d->reloaded_at = (int64_t)time(NULL);
    config_ref *fresh = config_load(d->config_path, true, err, err_size);
    if (fresh == NULL) {
        d->reloads_refused++;
        snprintf(d->last_reload, sizeof d->last_reload, "refused: %s", err);
        daemon_log(LOG_ERR, "reload refused, keeping the running configuration: %s", err);
        return -1;
    }
    d->reloads++;
    snprintf(d->last_reload, sizeof d->last_reload, "ok");
    const domauth_config *old = &d->config->config, *cfg = &fresh->config;
    if (!same(old->milter_listen, cfg->milter_listen) ||
        !same(old->policy_listen, cfg->policy_listen) || !same(old->user, cfg->user) ||
        !same(old->dns_servers, cfg->dns_servers) || !same(old->database, cfg->database) ||
        !same(old->group, cfg->group) || !same(old->pidfile, cfg->pidfile) ||
        !same(old->control_listen, cfg->control_listen) ||
        !same(old->metrics_listen, cfg->metrics_listen) ||
        !same(old->srs_socketmap, cfg->srs_socketmap) ||
        !same(old->socket_group, cfg->socket_group) || old->socket_mode != cfg->socket_mode ||
        (d->quarantine != NULL && !same(old->quarantine_dir, cfg->quarantine_dir)))
        daemon_log(LOG_WARNING, "reload: listeners, user, group, pidfile, DNS servers, "
                                "database and quarantine_dir change only at restart; the rest "
                                "applies now");
    config_ref *previous = d->config;
    d->config = fresh;
    config_ref_put(previous); /* sessions that started under it keep it */
    quarantine_start(d, cfg);
    if (d->quarantine != NULL)
        quarantine_set_days(d->quarantine, cfg->quarantine_days);
    int priority = LOG_WARNING;
    tell_admin(&fresh->config, say_log, &priority);
    daemon_log(LOG_INFO, "configuration reloaded from %s (monitor %s)", d->config_path,
               cfg->global.monitor ? "on" : "off");
    return 0;
}

int daemon_check_config(const char *path, int fd, char *err, size_t err_size)
{
    size_t len = 0;
    char *text = util_read_fd(fd, path, CONFIG_FILE_MAX, &len, err, err_size);
    config_ref *ref = text ? config_load_text(path, text, len, err, err_size) : NULL;
    if (ref == NULL)
        return -1;
    config_ref_put(ref);
    return 0;
}

static void on_sighup(uv_signal_t *handle, int signum)
{
    (void)signum;
    char err[600];
    daemon_reload(handle->data, err, sizeof err);
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_stop_timer(uv_timer_t *timer)
{
    /* Sessions still open after the grace period are closed; the MTA applies
     * its default action (milter_default_action) to them. */
    daemon_log(LOG_WARNING, "stopping: closing sessions still open after the grace period");
    uv_walk(timer->loop, close_handle, NULL);
}

/* Idle sessions close now; one waiting for a check closes after its
 * reply (see conn_resume). Listeners are already closing. */
static void close_idle_session(uv_handle_t *h, void *arg)
{
    (void)arg;
    if ((h->type != UV_TCP && h->type != UV_NAMED_PIPE) || uv_is_closing(h) || h->data == NULL)
        return;
    conn *c = h->data;
    if (!c->paused)
        conn_close(c);
}

static void on_sigterm(uv_signal_t *handle, int signum)
{
    domauthd *d = handle->data;
    if (d->stopping) {
        daemon_log(LOG_WARNING, "second signal %d: stopping now", signum);
        uv_walk(d->loop, close_handle, NULL);
        return;
    }
    d->stopping = true;
    daemon_log(LOG_INFO, "signal %d: no new sessions; finishing %llu in progress", signum,
               (unsigned long long)d->stats.sessions_active);
    listeners_close(d);
    uv_walk(d->loop, close_idle_session, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_timer_init(d->loop, &d->grace);
    uv_timer_start(&d->grace, on_stop_timer, 10000, 0);
    uv_unref((uv_handle_t *)&d->grace);
    /* The resolver's handles keep the loop alive only while work is out. */
}

/* ------------------------------------------------------ process setup */

static int drop_privileges(const domauth_config *cfg, char *err, size_t err_size)
{
    if (cfg->user == NULL || *cfg->user == '\0')
        return 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL) {
        snprintf(err, err_size, "user '%s' does not exist", cfg->user);
        return -1;
    }
    gid_t gid = pw->pw_gid;
    if (cfg->group && *cfg->group) {
        struct group *gr = getgrnam(cfg->group);
        if (gr == NULL) {
            snprintf(err, err_size, "group '%s' does not exist", cfg->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    /* Unix sockets and the database directory must stay usable; a
     * socket_group the listeners set is kept. */
    gid_t socket_gid = cfg->socket_group && *cfg->socket_group ? (gid_t)-1 : gid;
    if (cfg->milter_listen && strncmp(cfg->milter_listen, "unix:", 5) == 0)
        (void)!chown(cfg->milter_listen + 5, pw->pw_uid, socket_gid);
    if (cfg->policy_listen && strncmp(cfg->policy_listen, "unix:", 5) == 0)
        (void)!chown(cfg->policy_listen + 5, pw->pw_uid, socket_gid);
    if (cfg->srs_socketmap && strncmp(cfg->srs_socketmap, "unix:", 5) == 0)
        (void)!chown(cfg->srs_socketmap + 5, pw->pw_uid, socket_gid);
    if (cfg->database && *cfg->database) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", cfg->database);
        char *slash = strrchr(dir, '/');
        if (slash != NULL && slash != dir) {
            *slash = '\0';
            mkdir(dir, 0750);
            (void)!chown(dir, pw->pw_uid, gid);
        }
    }
    /* Started as that user already (systemd's User=, say): nothing to drop. */
    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid && getgid() == gid)
        return 0;
    if (getuid() != 0) {
        snprintf(err, err_size, "user = %s needs domauthd started as root", cfg->user);
        return -1;
    }
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(pw->pw_uid) != 0) {
        snprintf(err, err_size, "cannot become %s: %s", cfg->user, strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes the pidfile and returns a copy of its path in *written, for main
 * to remove at exit: the configuration that named it may be gone by then
 * (a reload frees the start-up one), and a reload does not move it. */
static int write_pidfile(const char *path, char **written, char *err, size_t err_size)
{
    *written = NULL;
    if (path == NULL || *path == '\0')
        return 0;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, err_size, "cannot write pidfile %s: %s", path, strerror(errno));
        return -1;
    }
    *written = strdup(path);
    if (fprintf(f, "%ld\n", (long)getpid()) < 0) {
        int e = errno;
        fclose(f);
        snprintf(err, err_size, "cannot write pidfile %s: %s", path, strerror(e));
        return -1;
    }
    if (fclose(f) != 0) {
        snprintf(err, err_size, "cannot write pidfile %s: %s", path, strerror(errno));
        return -1;
    }
    if (*written == NULL) {
        unlink(path);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

static void remove_pidfile(const char *path)
{
    if (path != NULL && unlink(path) != 0 && errno != ENOENT)
        daemon_log(LOG_WARNING, "cannot remove pidfile %s: %s", path, strerror(errno));
}

static int detach(char *err, size_t err_size)
{
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, err_size, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0)
        _exit(0);
    setsid();
    if (chdir("/") != 0) {
        snprintf(err, err_size, "chdir /: %s", strerror(errno));
        return -1;
    }
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }
    log_to_stderr = false;
    return 0;
}

/* --------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    enum { O_SAMPLE = 256, O_VERSION };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"foreground", no_argument, NULL, 'f'},
        {"daemon", no_argument, NULL, 'd'},       {"check-config", no_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {"sample-config", no_argument, NULL, O_SAMPLE},
        {"version", no_argument, NULL, O_VERSION}, {NULL, 0, NULL, 0},
    };
    const char *path = DEFAULT_CONFIG;
    bool path_given = false, daemonize = false, check_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:fdtvh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; path_given = true; break;
        case 'f': daemonize = false; break;
        case 'd': daemonize = true; break;
        case 't': check_only = true; break;
        case 'v': log_verbose = true; break;
        case 'h': fputs(usage, stdout); return 0;
        case O_SAMPLE: config_write_sample(emit_line, stdout); return 0;
        case O_VERSION: printf("domauthd %s\n", DOMAUTH_VERSION); return 0;
        default: fputs(usage, stderr); return 64;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "domauthd: unexpected argument '%s'\n%s", argv[optind], usage);
        return 64;
    }

    char err[700];
    config_ref *cfg = config_load(path, path_given, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "domauthd: %s\n", err);
        return 78; /* EX_CONFIG */
    }
    if (check_only) {
        tell_admin(&cfg->config, say_stderr, stderr);
        printf("%s: ok%s\n", path, access(path, F_OK) == 0 ? "" : " (built-in defaults)");
        config_ref_put(cfg);
        return 0;
    }
    int facility = eventlog_facility(cfg->config.syslog_facility);
    openlog("domauthd", LOG_PID | LOG_NDELAY, facility < 0 ? LOG_MAIL : facility);

    domauthd d = {.loop = uv_default_loop(), .config_path = path, .config = cfg,
                  .started_at = (int64_t)time(NULL)};
    int status = 1;
    char *pidfile = NULL; /* the path written, removed at exit */
    if (listeners_open(&d, err, sizeof err) != 0) {
        daemon_log(LOG_ERR, "%s", err);
        goto out;
    }
    if (daemonize) {
        if (detach(err, sizeof err) != 0 || uv_loop_fork(d.loop) != 0) {
            daemon_log(LOG_ERR, "cannot detach: %s", err);
            goto out;
        }
    }
    if (prepare_pidfile_dir(&cfg->config, err, sizeof err) != 0) {
        daemon_log(LOG_ERR, "%s", err);
        status = 78; /* EX_CONFIG */
        goto out;
    }
    if (write_pidfile(cfg->config.pidfile, &pidfile, err, sizeof err) != 0 ||
        give_pidfile(&cfg->config, pidfile, err, sizeof err) != 0 ||
        drop_privileges(&cfg->config, err, sizeof err) != 0) {
        daemon_log(LOG_ERR, "%s", err);
        goto out;
    }
    /* The key model: keys and files are read before privileges are
     * dropped and kept, and a reload reads them again as the run-as user.
     * So that a SIGHUP never finds a key it cannot read, the start makes
     * the reload's reading once now and refuses to run otherwise. */
    if (cfg->config.user != NULL && *cfg->config.user) {
        config_ref *again = config_load(path, path_given, err, sizeof err);
        if (again == NULL) {
            daemon_log(LOG_ERR, "as user %s, domauthd cannot read what a reload reads: %s "
                       "(make it readable by that user; see domauthd(8), KEYS AND RELOADS)",
                       cfg->config.user, err);
            status = 78; /* EX_CONFIG */
            goto out;
        }
        config_ref_put(again);
    }

    /* Created after fork and privilege drop: the log's writer thread and
     * its files belong to the running user. The spool is beside an SQLite
     * file, in the state directory for a server. */
    char spool[4096] = "";
    const char *db = cfg->config.database;
    if (cfg->config.event_spool && *cfg->config.event_spool)
        snprintf(spool, sizeof spool, "%s", cfg->config.event_spool);
    else if (db && strstr(db, "://") != NULL)
        snprintf(spool, sizeof spool, "/var/lib/domauth/events.spool");
    else if (db && *db && strlen(db) + 7 < sizeof spool)
        snprintf(spool, sizeof spool, "%s.spool", db);
    eventlog_options eo = {.syslog = cfg->config.syslog,
                           .syslog_facility = cfg->config.syslog_facility,
                           .json_path = cfg->config.event_log,
                           .database_path = cfg->config.database,
                           .node = cfg->config.node,
                           .password_file = cfg->config.database_password_file,
                           .spool_path = spool,
                           .spool_max = (uint64_t)cfg->config.event_spool_mb << 20,
                           /* In the foreground, decisions go to stderr too when
                            * syslog is asked for but would lose them (no
                            * /dev/log), or someone watches the terminal; never
                            * when every output was turned off. */
                           .stderr_lines = !daemonize && (isatty(STDERR_FILENO) ||
                                                          (cfg->config.syslog &&
                                                           access("/dev/log", W_OK) != 0))};
    err[0] = '\0';
    /* No output, no writer thread: handing it every decision to drop would
     * cost more than the checks themselves. */
    bool any_output = eo.syslog || eo.stderr_lines || (eo.json_path && *eo.json_path) ||
                      (eo.database_path && *eo.database_path);
    if (any_output)
        d.events = eventlog_open(d.loop, &eo, err, sizeof err);
    if (err[0])
        daemon_log(LOG_WARNING, "event log: %s (mail keeps flowing)", err);

    da_resolver_options ro = {.servers = cfg->config.dns_servers && *cfg->config.dns_servers
                                             ? cfg->config.dns_servers
                                             : NULL,
                              .timeout_ms = cfg->config.dns_timeout_ms,
                              .tries = cfg->config.dns_tries,
                              .use_edns0 = true};
    d.upstream = da_resolver_new_uv(d.loop, &ro, err, sizeof err);
    da_dns_cache_options co = {.max_entries = cfg->config.cache_entries};
    d.cache = da_dns_cache_new(&co);
    d.records = da_spf_record_cache_new(0);
    d.dkim_key_cache = da_dkim_key_cache_new(0);
    if (d.upstream == NULL || d.cache == NULL || d.records == NULL ||
        (d.resolver = da_resolver_new_cached(d.cache, d.upstream)) == NULL) {
        daemon_log(LOG_ERR, "cannot set up DNS: %s", d.upstream ? "out of memory" : err);
        goto out;
    }

    d.env = (svc_env){.loop = d.loop,
                      .resolver = d.resolver,
                      .records = d.records,
                      .dkim_key_cache = d.dkim_key_cache,
                      .events = d.events,
                      .counters = &d.counters,
                      .log = daemon_log};
    quarantine_start(&d, &cfg->config);
    if (d.events != NULL)
        purge_timer_start(&d);
    dmarc_timer_start(&d);

    uv_signal_init(d.loop, &d.sighup);
    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sigint);
    d.sighup.data = d.sigterm.data = d.sigint.data = &d;
    uv_signal_start(&d.sighup, on_sighup, SIGHUP);
    uv_signal_start(&d.sigterm, on_sigterm, SIGTERM);
    uv_signal_start(&d.sigint, on_sigterm, SIGINT);
    signal(SIGPIPE, SIG_IGN);

    int notice = LOG_WARNING;
    tell_admin(&cfg->config, say_log, &notice);
    daemon_log(LOG_INFO, "domauthd %s started (config %s%s, monitor %s, authserv-id %s)",
               DOMAUTH_VERSION, path, access(path, F_OK) == 0 ? "" : ": built-in defaults",
               cfg->config.global.monitor ? "on" : "off",
               cfg->config.authserv_id && *cfg->config.authserv_id
                   ? cfg->config.authserv_id
                   : "the MTA's host name (milter macro j), else this host's");
    log_skips(&cfg->config);
    uv_run(d.loop, UV_RUN_DEFAULT);
    /* A SIGHUP may have freed the start-up configuration: from here on only
     * d.config is the configuration. */
    cfg = NULL;
    daemon_log(LOG_INFO, "stopped after %llu connections, %llu messages checked, %llu skipped",
               (unsigned long long)d.stats.connections, (unsigned long long)d.counters.checked,
               (unsigned long long)d.counters.skipped);
    daemon_log(LOG_INFO, "sessions: %llu refused at a limit, %llu idle timeouts, %llu request "
                         "timeouts, reading stopped %llu times",
               (unsigned long long)d.stats.sessions_refused,
               (unsigned long long)d.stats.idle_timeouts,
               (unsigned long long)d.stats.request_timeouts,
               (unsigned long long)d.stats.reads_stopped);
    status = 0;

out:
    if (!d.stopping)
        listeners_close(&d);
    da_resolver_free(d.resolver);
    da_resolver_free(d.upstream);
    da_dns_cache_free(d.cache);
    da_spf_record_cache_free(d.records);
    da_dkim_key_cache_free(d.dkim_key_cache);
    if (d.events != NULL)
        eventlog_close(d.events);
    quarantine_close(d.quarantine);
    dmarc_timer_stop(&d);
    uv_walk(d.loop, close_handle, NULL);
    uv_run(d.loop, UV_RUN_DEFAULT);
    uv_loop_close(d.loop);
    dmarc_timer_free(&d);
    remove_pidfile(pidfile);
    free(pidfile);
    config_ref_put(d.config);
    closelog();
    return status;
}
