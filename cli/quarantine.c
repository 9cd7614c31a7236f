/* quarantine.c: domauth quarantine list | show | delete | purge, over the
 * spool and its index as domauthd wrote them (store/quarantine_store.h).
 * A spool file that is missing or corrupt is reported with its path, never
 * a crash; a file in new/ the index does not know (domauthd stopped
 * between the two) is listed as "unindexed". release re-injects with
 * sendmail(1) and the original envelope. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config/config.h"
#include "service/quarantine_admin.h"
#include "store/event_store.h"
#include "store/quarantine_store.h"
#include "util/file.h"
#include "util/json.h"
#include "util/strbuf.h"

#define DEFAULT_CONFIG "/etc/domauth/domauth.conf"

static const char usage_quarantine[] =
    "usage: domauth quarantine list [OPTIONS]\n"
    "       domauth quarantine show ID [OPTIONS]\n"
    "       domauth quarantine delete ID... [OPTIONS]\n"
    "       domauth quarantine release ID... [--to ADDRESS] [--sendmail PATH] [OPTIONS]\n"
    "       domauth quarantine purge [--now TIME] [OPTIONS]\n"
    "       domauth quarantine reindex [OPTIONS]\n"
    "The messages domauthd kept in its quarantine folder (quarantine_mode =\n"
    "folder), from its index in the database, newest first.\n"
    "where:\n"
    "  --config FILE     read quarantine_dir, quarantine_days and database from\n"
    "                    this file (default " DEFAULT_CONFIG ")\n"
    "  --dir DIR         the spool instead of quarantine_dir\n"
    "  --database PATH   the index instead of database\n"
    "which (list):\n"
    "  --since TIME      quarantined at or after TIME (@EPOCH, 7d, 2026-11-30)\n"
    "  --domain D        the domain judged (case does not matter)\n"
    "  --result R        a result: fail, or method=result such as spf=fail\n"
    "  --rcpt ADDRESS    one of the recipients\n"
    "  --state S         quarantined (default), deleted, released, or all\n"
    "  --limit N         at most N (default 100; 0: all)\n"
    "output:\n"
    "  --json            one JSON object per message (show: the message too)\n"
    "release:\n"
    "  --to ADDRESS      deliver to ADDRESS instead of the original recipients\n"
    "  --sendmail PATH   the sendmail(1) to run (default /usr/sbin/sendmail), as\n"
    "                    PATH -i -f SENDER -- RECIPIENTS with the message on its input\n"
    "purge:\n"
    "  --now TIME        the time to count the retention back from (default:\n"
    "                    now); a message younger than quarantine_days stays\n"
    "reindex:\n"
    "  gives each file in new/ that the index lacks (stored while the database\n"
    "  was down) its row from the file's own facts; never changes a row\n"
    "Exit status: 0, 1 when an ID is not in the quarantine or a spool file is\n"
    "missing or corrupt, 64 for usage, 65 for a configuration that does not\n"
    "parse, 66 for a spool or index that cannot be opened.\n";

enum { O_CONFIG = 256, O_DIR, O_DATABASE, O_SINCE, O_DOMAIN, O_RESULT, O_RCPT, O_STATE,
       O_LIMIT, O_JSON, O_NOW, O_TO, O_SENDMAIL };

typedef struct q_options {
    const char *config, *dir, *database;
    const char *since, *domain, *result, *rcpt, *state, *now;
    const char *to, *sendmail;
    uint64_t limit;
    bool json;
    /* from the configuration */
    char *cfg_dir, *cfg_database, *cfg_event_log;
    char *cfg_password_file, *cfg_node; /* NULL: none, the host name */
    unsigned days;
} q_options;

/* The spool and index paths and the retention: the options, else the
 * configuration, else the defaults. */
static int read_config(q_options *o)
{
    const char *file = o->config ? o->config : DEFAULT_CONFIG;
    domauth_config cfg;
    if (config_init(&cfg) != 0)
        return CLI_EXIT_SOFTWARE;
    size_t len = 0;
    char why[600];
    char *text = util_read_file(file, 16u << 20, &len, why, sizeof why);
    if (text == NULL && (o->config != NULL || errno != ENOENT)) {
        fprintf(stderr, "domauth: %s\n", why);
        config_free(&cfg);
        return CLI_EXIT_NOINPUT;
    }
    if (text != NULL && config_parse(&cfg, file, text, len, why, sizeof why) != 0) {
        fprintf(stderr, "domauth: %s\n", why);
        free(text);
        return CLI_EXIT_DATAERR; /* config_parse freed cfg */
    }
    free(text);
    o->cfg_dir = strdup(o->dir ? o->dir : cfg.quarantine_dir);
    o->cfg_database = strdup(o->database ? o->database : cfg.database ? cfg.database : "");
    o->cfg_event_log = cfg.event_log && *cfg.event_log ? strdup(cfg.event_log) : NULL;
    o->cfg_password_file = cfg.database_password_file && *cfg.database_password_file
                               ? strdup(cfg.database_password_file)
                               : NULL;
    o->cfg_node = cfg.node && *cfg.node ? strdup(cfg.node) : NULL;
    o->days = cfg.quarantine_days;
    config_free(&cfg);
    return o->cfg_dir && o->cfg_database ? 0 : CLI_EXIT_SOFTWARE;
}

static void format_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "@%lld", (long long)t);
}

static void put_stdout(void *ctx, const char *bytes, size_t len)
{
    fwrite(bytes, 1, len, ctx);
}

static void json_key(const char *key, bool first)
{
    if (!first)
        fputc(',', stdout);
    json_write_string(key, put_stdout, stdout);
    fputc(':', stdout);
}

static void json_str(const char *key, const char *value, bool first)
{
    json_key(key, first);
    json_write_string(value, put_stdout, stdout);
}

static void json_list(const char *key, const char *const *items, size_t n)
{
    json_key(key, false);
    fputc('[', stdout);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', stdout);
        json_write_string(items[i], put_stdout, stdout);
    }
    fputc(']', stdout);
}

/* What is wrong with a row's spool file, or "" when it reads back whole. */
static void check_file(const char *path, char *problem, size_t size)
{
    spool_entry e;
    problem[0] = '\0';
    if (spool_read(path, &e, NULL, NULL, problem, size) == 0)
        spool_entry_free(&e);
}

typedef struct list_state {
    const q_options *o;
    unsigned problems;
} list_state;

static void print_row(const q_options *o, const quarantine_row *r, const char *problem)
{
    char when[64];
    format_time(r->time, when, sizeof when);
    if (o->json) {
        fputc('{', stdout);
        json_str("id", r->id, true);
        json_key("time", false);
        printf("%lld", (long long)r->time);
        json_str("state", r->state, false);
        json_str("sender", r->sender, false);
        json_list("rcpts", r->rcpts, r->rcpt_count);
        json_str("domain", r->domain, false);
        json_list("results", r->results, r->result_count);
        json_str("told", r->told, false);
        json_str("queue_id", r->queue_id, false);
        json_str("client_ip", r->client_ip, false);
        json_key("size", false);
        printf("%llu", (unsigned long long)r->size);
        json_str("state_by", r->state_by, false);
        json_str("path", r->path, false);
        json_str("problem", problem && *problem ? problem : NULL, false);
        fputs("}\n", stdout);
        return;
    }
    printf("%s  %s  %s  <", when, r->id ? r->id : "-", r->state ? r->state : "-");
    cli_put_safe(stdout, r->sender, false);
    fputs("> ->", stdout);
    for (size_t i = 0; i < r->rcpt_count; i++) {
        fputs(" <", stdout);
        cli_put_safe(stdout, r->rcpts[i], false);
        fputc('>', stdout);
    }
    for (size_t i = 0; i < r->result_count; i++) {
        fputc(i ? ' ' : '\t', stdout);
        cli_put_safe(stdout, r->results[i], false);
    }
    fputc('\n', stdout);
    if (problem && *problem) {
        fputs("    problem: ", stdout);
        cli_put_safe(stdout, problem, false);
        fputc('\n', stdout);
    }
}

static int list_row(void *ctx, const quarantine_row *r)
{
    list_state *st = ctx;
    char problem[700] = "";
    if (strcmp(r->state ? r->state : "", "quarantined") == 0) {
        check_file(r->path, problem, sizeof problem);
        if (problem[0])
            st->problems++;
    }
    print_row(st->o, r, problem);
    return 0;
}

/* A file in new/ the index does not know, listed from its own facts. */
static int list_unindexed_row(void *ctx, const quarantine_row *r, const char *problem)
{
    list_state *st = ctx;
    if (problem != NULL)
        st->problems++;
    print_row(st->o, r, problem ? problem : "not in the index");
    return 0;
}

static int open_q(const q_options *o, bool write, quarantine **q)
{
    char why[700];
    quarantine_options qo = {.dir = o->cfg_dir, .database = o->cfg_database, .days = o->days,
                             .write = write, .password_file = o->cfg_password_file};
    *q = quarantine_open(&qo, why, sizeof why);
    if (*q == NULL) {
        fprintf(stderr, "domauth: %s\n", why);
        return CLI_EXIT_NOINPUT;
    }
    return 0;
}

static int do_list(const q_options *o)
{
    quarantine *q;
    int status = open_q(o, false, &q);
    if (status != 0)
        return status;
    quarantine_index *x = quarantine_get_index(q);
    list_state st = {.o = o};
    char why[700];
    quarantine_query qq = {.domain = o->domain, .result = o->result, .rcpt = o->rcpt,
                           .state = o->state, .limit = o->limit};
    if (o->since != NULL &&
        !cli_parse_time(o->since, (int64_t)time(NULL), &qq.since)) {
        fprintf(stderr, "domauth: --since: not a time: '%s'\n", o->since);
        quarantine_close(q);
        return CLI_EXIT_USAGE;
    }
    qq.have_since = o->since != NULL;
    if (x != NULL && x->ops->query(x, &qq, list_row, &st, why, sizeof why) != 0) {
        fprintf(stderr, "domauth: %s\n", why);
        quarantine_close(q);
        return CLI_EXIT_NOINPUT;
    }
    /* Unfiltered: also what the index does not know. */
    bool filtered = o->since || o->domain || o->result || o->rcpt ||
                    (o->state && strcmp(o->state, "quarantined") != 0);
    if (!filtered && quarantine_scan_unindexed(q, list_unindexed_row, &st, why, sizeof why) != 0)
        fprintf(stderr, "domauth: %s\n", why);
    quarantine_close(q);
    if (st.problems > 0)
        fprintf(stderr, "domauth: %u spool files missing or corrupt (see 'problem')\n",
                st.problems);
    return st.problems > 0 ? 1 : 0;
}

static int do_show(const q_options *o, const char *id)
{
    if (!spool_id_valid(id)) {
        fprintf(stderr, "domauth: '%s' is not a quarantine id\n", id);
        return CLI_EXIT_USAGE;
    }
    quarantine *q;
    int status = open_q(o, false, &q);
    if (status != 0)
        return status;
    svc_quarantine_file f;
    char why[700];
    int rc = svc_quarantine_find(q, o->cfg_dir, id, &f, why, sizeof why);
    quarantine_close(q);
    if (rc != 0) {
        if (rc > 0)
            fprintf(stderr, "domauth: %s is not in the quarantine\n", id);
        else
            fprintf(stderr, "domauth: %s\n", why);
        return rc > 0 ? 1 : CLI_EXIT_NOINPUT;
    }
    spool_entry e;
    char *message = NULL;
    size_t len = 0;
    if (spool_read(f.path, &e, &message, &len, why, sizeof why) != 0) {
        fprintf(stderr, "domauth: %s (state %s)\n", why, f.state ? f.state : "unindexed");
        free(f.path);
        free(f.state);
        return 1;
    }
    if (o->json) {
        fputc('{', stdout);
        json_str("id", e.id, true);
        json_key("time", false);
        printf("%lld", (long long)e.time);
        json_str("state", f.state && *f.state ? f.state : "unindexed", false);
        json_str("mail_from", e.mail_from, false);
        json_list("rcpts", (const char *const *)e.rcpts, e.rcpt_count);
        json_str("client_ip", e.client_ip, false);
        json_str("client_name", e.client_name, false);
        json_str("helo", e.helo, false);
        json_str("queue_id", e.queue_id, false);
        json_str("domain", e.domain, false);
        json_list("results", (const char *const *)e.results, e.result_count);
        json_str("verdict", e.verdict, false);
        json_str("told", e.told, false);
        json_str("reasons", e.reasons, false);
        json_str("path", f.path, false);
        json_str("message", message, false);
        fputs("}\n", stdout);
    } else {
        char when[64];
        format_time(e.time, when, sizeof when);
        const char *names[] = {"Id", "Time", "State", "Mail-From", "Client-Ip", "Client-Name",
                               "Helo", "Queue-Id", "Domain", "Verdict", "Told", "Reasons",
                               "Path"};
        const char *values[] = {e.id, when, f.state && *f.state ? f.state : "unindexed",
                                e.mail_from, e.client_ip, e.client_name, e.helo, e.queue_id,
                                e.domain, e.verdict, e.told, e.reasons, f.path};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (values[i] == NULL)
                continue;
            printf("%s: ", names[i]);
            cli_put_safe(stdout, values[i], false);
            fputc('\n', stdout);
        }
        for (size_t i = 0; i < e.rcpt_count; i++) {
            fputs("Rcpt: ", stdout);
            cli_put_safe(stdout, e.rcpts[i], false);
            fputc('\n', stdout);
        }
        for (size_t i = 0; i < e.result_count; i++) {
            fputs("Result: ", stdout);
            cli_put_safe(stdout, e.results[i], false);
            fputc('\n', stdout);
        }
        fputc('\n', stdout);
        cli_put_safe_n(stdout, message, len, true);
    }
    free(message);
    spool_entry_free(&e);
    free(f.path);
    free(f.state);
    return 0;
}

/* Who changes a state, for the index: the login name, else the uid. */
static const char *user_name(void)
{
    static char name[64];
    struct passwd *pw = getpwuid(getuid());
    snprintf(name, sizeof name, "%s", pw && pw->pw_name ? pw->pw_name : "");
    if (name[0] == '\0')
        snprintf(name, sizeof name, "uid %ld", (long)getuid());
    return name;
}

/* The spam log: release, delete and purge are events in the event store
 * beside the quarantine events domauthd wrote, so `domauth log --action
 * release` answers who let what out, and when (service/quarantine_admin.h,
 * shared with domauthd's control commands). A store that cannot be
 * written is reported; the change itself stands. */
static svc_quarantine_admin admin_of(const q_options *o)
{
    return (svc_quarantine_admin){.dir = o->cfg_dir, .database = o->cfg_database,
                                  .event_log = o->cfg_event_log, .sendmail = o->sendmail,
                                  .days = o->days, .password_file = o->cfg_password_file,
                                  .node = o->cfg_node};
}

static void spam_log(const q_options *o, const char *action, const char *reasons)
{
    svc_quarantine_admin a = admin_of(o);
    char warn[1500];
    svc_quarantine_audit(&a, action, NULL, NULL, 0, reasons, warn, sizeof warn);
    if (warn[0])
        fprintf(stderr, "domauth: %s done, but %s\n", action, warn);
}

/* Re-injects each message with its original envelope (or to --to), then
 * marks it released. A local submission is not checked by domauthd (no
 * client address), so it is not quarantined again. */
static int do_release(const q_options *o, char **ids, int n)
{
    quarantine *q;
    int status = open_q(o, true, &q);
    if (status != 0)
        return status;
    svc_quarantine_admin a = admin_of(o);
    int result = 0;
    for (int i = 0; i < n; i++) {
        char why[1500], warn[1500];
        size_t count = 0;
        int rc = svc_quarantine_release(&a, q, ids[i], o->to, user_name(), &count, why,
                                        sizeof why, warn, sizeof warn);
        if (rc != SVC_Q_DONE) {
            fprintf(stderr, "domauth: %s\n", why);
            result = 1;
            continue;
        }
        printf("released %s to %zu recipient%s\n", ids[i], count, count == 1 ? "" : "s");
        if (warn[0]) {
            fprintf(stderr, "domauth: %s: %s\n", ids[i], warn);
            result = 1;
        }
    }
    quarantine_close(q);
    return result;
}

static int do_delete(const q_options *o, char **ids, int n)
{
    quarantine *q;
    int status = open_q(o, true, &q);
    if (status != 0)
        return status;
    svc_quarantine_admin a = admin_of(o);
    int result = 0;
    for (int i = 0; i < n; i++) {
        char why[1500], warn[1500];
        int rc = svc_quarantine_delete(&a, q, ids[i], user_name(), why, sizeof why, warn,
                                       sizeof warn);
        if (rc != SVC_Q_DONE) {
            fprintf(stderr, "domauth: %s\n", why);
            result = 1;
            continue;
        }
        printf("deleted %s\n", ids[i]);
        if (warn[0])
            fprintf(stderr, "domauth: %s: %s\n", ids[i], warn);
    }
    quarantine_close(q);
    return result;
}

static int report_unreadable(void *ctx, const quarantine_row *r, const char *problem)
{
    (void)ctx;
    fprintf(stderr, "domauth: %s: not indexed: ", r->path);
    cli_put_safe(stderr, problem, false);
    fputc('\n', stderr);
    return 0;
}

/* Rows for the files the index lacks; never touches a row that exists. */
static int do_reindex(const q_options *o)
{
    quarantine *q;
    int status = open_q(o, true, &q);
    if (status != 0)
        return status;
    uint64_t added = 0, unreadable = 0;
    char why[700];
    int rc = quarantine_reindex(q, report_unreadable, NULL, &added, &unreadable, why, sizeof why);
    quarantine_close(q);
    if (rc != 0) {
        fprintf(stderr, "domauth: reindex: %s (%llu rows added)\n", why,
                (unsigned long long)added);
        return CLI_EXIT_NOINPUT;
    }
    if (o->json)
        printf("{\"added\":%llu,\"unreadable\":%llu}\n", (unsigned long long)added,
               (unsigned long long)unreadable);
    else
        printf("reindex: %llu rows added for files the index lacked; %llu files unreadable\n",
               (unsigned long long)added, (unsigned long long)unreadable);
    return unreadable > 0 ? 1 : 0;
}

static int do_purge(const q_options *o)
{
    int64_t now = (int64_t)time(NULL);
    if (o->now != NULL && !cli_parse_time(o->now, now, &now)) {
        fprintf(stderr, "domauth: --now: not a time: '%s'\n", o->now);
        return CLI_EXIT_USAGE;
    }
    quarantine *q;
    int status = open_q(o, true, &q);
    if (status != 0)
        return status;
    uint64_t removed = 0;
    char why[700];
    int rc = quarantine_purge(q, now, 0, &removed, why, sizeof why);
    quarantine_close(q);
    if (rc != 0) {
        fprintf(stderr, "domauth: purge: %s (%llu removed)\n", why,
                (unsigned long long)removed);
        return CLI_EXIT_NOINPUT;
    }
    printf("purged %llu messages quarantined more than %u days before %lld\n",
           (unsigned long long)removed, o->days, (long long)now);
    char reasons[400];
    snprintf(reasons, sizeof reasons, "%llu quarantined messages older than %u days purged by %s",
             (unsigned long long)removed, o->days, user_name());
    spam_log(o, "purge", reasons);
    return 0;
}

int cmd_quarantine(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_quarantine, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    const char *verb = argv[1];
    static const struct option longs[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"dir", required_argument, NULL, O_DIR},
        {"database", required_argument, NULL, O_DATABASE},
        {"since", required_argument, NULL, O_SINCE},
        {"domain", required_argument, NULL, O_DOMAIN},
        {"result", required_argument, NULL, O_RESULT},
        {"rcpt", required_argument, NULL, O_RCPT},
        {"state", required_argument, NULL, O_STATE},
        {"limit", required_argument, NULL, O_LIMIT},
        {"json", no_argument, NULL, O_JSON},
        {"now", required_argument, NULL, O_NOW},
        {"to", required_argument, NULL, O_TO},
        {"sendmail", required_argument, NULL, O_SENDMAIL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    q_options o = {.limit = 100};
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "h", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_CONFIG: o.config = optarg; break;
        case O_DIR: o.dir = optarg; break;
        case O_DATABASE: o.database = optarg; break;
        case O_SINCE: o.since = optarg; break;
        case O_DOMAIN: o.domain = optarg; break;
        case O_RESULT: o.result = optarg; break;
        case O_RCPT: o.rcpt = optarg; break;
        case O_STATE:
            if (strcmp(optarg, "quarantined") && strcmp(optarg, "deleted") &&
                strcmp(optarg, "released") && strcmp(optarg, "all")) {
                fprintf(stderr, "domauth: --state: quarantined, deleted, released or all\n");
                return CLI_EXIT_USAGE;
            }
            o.state = optarg;
            break;
        case O_LIMIT:
            errno = 0;
            o.limit = strtoull(optarg, &end, 10);
            if (errno || *end || !*optarg || *optarg == '-') {
                fprintf(stderr, "domauth: --limit: a number, not '%s'\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case O_JSON: o.json = true; break;
        case O_NOW: o.now = optarg; break;
        case O_TO: o.to = optarg; break;
        case O_SENDMAIL: o.sendmail = optarg; break;
        case 'h': fputs(usage_quarantine, stdout); return 0;
        default: fputs(usage_quarantine, stderr); return CLI_EXIT_USAGE;
        }
    }
    char **rest = argv + 1 + optind;
    int nrest = argc - 1 - optind;
    int status;
    bool known = !strcmp(verb, "list") || !strcmp(verb, "show") || !strcmp(verb, "delete") ||
                 !strcmp(verb, "purge") || !strcmp(verb, "release") || !strcmp(verb, "reindex");
    if (!known) {
        fprintf(stderr, "domauth: unknown quarantine command '%s'\n\n%s", verb,
                usage_quarantine);
        return CLI_EXIT_USAGE;
    }
    if ((!strcmp(verb, "show") && nrest != 1) ||
        ((!strcmp(verb, "delete") || !strcmp(verb, "release")) && nrest < 1) ||
        ((!strcmp(verb, "list") || !strcmp(verb, "purge") || !strcmp(verb, "reindex")) &&
         nrest != 0)) {
        fputs(usage_quarantine, stderr);
        return CLI_EXIT_USAGE;
    }
    if ((status = read_config(&o)) != 0)
        return status;
    if (!strcmp(verb, "list"))
        status = do_list(&o);
    else if (!strcmp(verb, "show"))
        status = do_show(&o, rest[0]);
    else if (!strcmp(verb, "delete"))
        status = do_delete(&o, rest, nrest);
    else if (!strcmp(verb, "release"))
        status = do_release(&o, rest, nrest);
    else if (!strcmp(verb, "reindex"))
        status = do_reindex(&o);
    else
        status = do_purge(&o);
    free(o.cfg_dir);
    free(o.cfg_database);
    free(o.cfg_password_file);
    free(o.cfg_node);
    free(o.cfg_event_log);
    return status;
}
