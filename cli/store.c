/* store.c: domauth store check|migrate|import, the event store as an
 * administrator moves it: the schema version of a database; an SQLite
 * history (events and the quarantine index) copied into the PostgreSQL
 * database of a site that grew to many nodes; a node's spooled events (or
 * JSON lines) stored by hand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "store/event_spool.h"
#include "store/event_store.h"
#include "store/quarantine_store.h"
#include "util/node.h"

enum { MIGRATE_BATCH = 500, BUSY_TIMEOUT_MS = 10000 };

static const char usage_store[] =
    "usage: domauth store check [--database LOCATION] [--config FILE]\n"
    "       domauth store migrate --from SQLITE-FILE [--node NAME] [--database LOCATION]\n"
    "                             [--config FILE]\n"
    "       domauth store import FILE... [--database LOCATION] [--config FILE]\n"
    "check    the schema version of the event database (exit 0 when current, 1 when\n"
    "         domauthd has yet to upgrade it, or it is newer than this domauth)\n"
    "migrate  copy every event and quarantine index row of an SQLite database into\n"
    "         the configured one (PostgreSQL, for many nodes); events without a node\n"
    "         get --node (default: the configuration's [daemon] node, else this host's\n"
    "         name); run again, nothing is copied twice\n"
    "import   store the events of event_spool files or event_log JSON lines, in order;\n"
    "         a line that is not an event is named (FILE:LINE) and skipped (exit 65)\n"
    "where:\n"
    "  --database LOCATION  the database (a path or a postgresql:// URI) instead of\n"
    "                       the configuration's\n"
    "  --config FILE        where database and database_password_file are read\n"
    "                       (default /etc/domauth/domauth.conf)\n";

typedef struct store_options {
    const char *database, *config, *from, *node;
} store_options;

/* With node, also the [daemon] node of the configuration read (or NULL). */
static int open_target(const store_options *o, event_store_access access, char **location,
                       event_store **store, char **node)
{
    char *password_file = NULL;
    *store = NULL;
    int status = cli_database_config(o->database, o->config, location, &password_file, node);
    if (status != 0)
        return status;
    event_store_options so = {.access = access, .busy_timeout_ms = BUSY_TIMEOUT_MS,
                              .password_file = password_file};
    char why[600];
    *store = event_store_open(*location, &so, why, sizeof why);
    free(password_file);
    if (*store == NULL) {
        fprintf(stderr, "domauth: %s: %s\n", *location, why);
        return CLI_EXIT_NOINPUT;
    }
    if (why[0] != '\0') {
        /* A writer that could not reach its server yet. */
        fprintf(stderr, "domauth: %s: %s\n", *location, why);
        if (access == EVENT_STORE_WRITE) {
            event_store_close(*store);
            *store = NULL;
            return CLI_EXIT_NOINPUT;
        }
    }
    return 0;
}

static int do_check(const store_options *o)
{
    char *location = NULL;
    event_store *store;
    int status = open_target(o, EVENT_STORE_READ, &location, &store, NULL);
    if (status == 0) {
        int have = 0, current = 0;
        if (store->ops->schema_version != NULL)
            store->ops->schema_version(store, &have, &current);
        event_summary sum;
        event_query all = {0};
        char why[600];
        uint64_t events = 0;
        if (event_store_summary(store, &all, &sum, why, sizeof why) == 0) {
            events = sum.events;
            event_summary_free(&sum);
        }
        printf("%s: %s, schema version %d (this domauth writes %d), %llu events\n", location,
               store->ops->name, have, current, (unsigned long long)events);
        if (have < current)
            printf("domauthd upgrades it when it starts (or its first write does)\n");
        else if (have > current)
            printf("newer than this domauth: read, never written\n");
        status = have == current ? 0 : 1;
    }
    event_store_close(store);
    free(location);
    return status;
}

/* ----------------------------------------------------------- migrate */

typedef struct copier {
    event_store *to;
    const char *node;
    event_record *batch[MIGRATE_BATCH];
    size_t n;
    uint64_t copied;
    int failed;
    char why[600];
} copier;

static int flush(copier *c)
{
    int rc = 0;
    if (c->n > 0 &&
        event_store_write(c->to, (const event_record *const *)c->batch, c->n, c->why,
                          sizeof c->why) != 0)
        rc = -1;
    else
        c->copied += c->n;
    for (size_t i = 0; i < c->n; i++)
        free(c->batch[i]);
    c->n = 0;
    return rc;
}

/* Events of the source without a uid (written before schema version 5)
 * get one made of the node and their id there, so that a second run of
 * migrate stores nothing twice. */
static int copy_event(void *ctx, int64_t id, const event_record *r)
{
    copier *c = ctx;
    event_record e = *r;
    char made[300];
    if (e.node == NULL)
        e.node = c->node;
    if (e.uid == NULL) {
        snprintf(made, sizeof made, "migrated:%s:%lld", e.node, (long long)id);
        e.uid = made;
    }
    /* The copy holds every string, the made uid too, in its one allocation. */
    event_record *copy = event_record_copy(&e, NULL);
    if (copy == NULL) {
        snprintf(c->why, sizeof c->why, "out of memory");
        c->failed = 1;
        return 1;
    }
    c->batch[c->n++] = copy;
    if (c->n == MIGRATE_BATCH && flush(c) != 0) {
        c->failed = 1;
        return 1;
    }
    return 0;
}

typedef struct row_copier {
    quarantine_index *to;
    uint64_t copied;
    int failed;
    char why[600];
} row_copier;

static int copy_row(void *ctx, const quarantine_row *row)
{
    row_copier *c = ctx;
    if (c->to->ops->add(c->to, row, c->why, sizeof c->why) != 0) {
        c->failed = 1;
        return 1;
    }
    c->copied++;
    return 0;
}

static int migrate_quarantine(const store_options *o, const char *location)
{
    char why[600], *path = NULL, *password_file = NULL;
    if (cli_database_path(o->database, o->config, &path, &password_file) != 0)
        return 1;
    free(path);
    quarantine_index *from = quarantine_index_sqlite.open(o->from, false, NULL, why, sizeof why);
    if (from == NULL) {
        printf("no quarantine index in %s (%s): none copied\n", o->from, why);
        free(password_file);
        return 0;
    }
    const quarantine_index_ops *ops = quarantine_index_for(location);
    quarantine_index *to = ops ? ops->open(location, true, password_file, why, sizeof why) : NULL;
    free(password_file);
    int status = 0;
    if (to == NULL) {
        fprintf(stderr, "domauth: %s: quarantine index: %s\n", location, why);
        status = 1;
    } else {
        row_copier c = {.to = to};
        quarantine_query all = {.state = "all"};
        if (from->ops->query(from, &all, copy_row, &c, why, sizeof why) != 0 || c.failed) {
            fprintf(stderr, "domauth: quarantine rows: %s\n", c.failed ? c.why : why);
            status = 1;
        }
        printf("%llu quarantine index rows copied (the message files stay where they are: "
               "quarantine_dir must be the same directory for every node)\n",
               (unsigned long long)c.copied);
        to->ops->close(to);
    }
    from->ops->close(from);
    return status;
}

static int do_migrate(const store_options *o)
{
    if (o->from == NULL) {
        fprintf(stderr, "domauth: store migrate needs --from SQLITE-FILE\n");
        return CLI_EXIT_USAGE;
    }
    char why[600];
    event_store_options ro = {.access = EVENT_STORE_READ, .busy_timeout_ms = BUSY_TIMEOUT_MS};
    event_store *from = event_store_open(o->from, &ro, why, sizeof why);
    if (from == NULL || strcmp(from->ops->name, "sqlite") != 0) {
        fprintf(stderr, "domauth: --from %s: %s\n", o->from,
                from ? "not an SQLite database" : why);
        event_store_close(from);
        return CLI_EXIT_NOINPUT;
    }
    char *location = NULL, *configured = NULL;
    event_store *to;
    int status = open_target(o, EVENT_STORE_WRITE, &location, &to, &configured);
    if (status != 0) {
        event_store_close(from);
        free(location);
        free(configured);
        return status;
    }
    /* Events without a node are this node's: --node, else the [daemon]
     * node of the configuration (the name its domauthd stamps), else the
     * host name, as domauthd would choose. */
    char host[UTIL_HOST_NAME_MAX];
    const char *node = util_node_name(o->node ? o->node : configured, host);
    copier *c = calloc(1, sizeof *c);
    if (c == NULL) {
        event_store_close(from);
        event_store_close(to);
        free(location);
        free(configured);
        return CLI_EXIT_SOFTWARE;
    }
    c->to = to;
    c->node = node;
    event_query all = {0};
    if (event_store_query(from, &all, copy_event, c, why, sizeof why) != 0) {
        fprintf(stderr, "domauth: reading %s: %s\n", o->from, why);
        status = 1;
    } else if (c->failed || flush(c) != 0) {
        fprintf(stderr, "domauth: writing %s: %s\n", location, c->why);
        status = 1;
    }
    printf("%llu events of %s handed to %s (those it had already are kept once; "
           "those without a node are %s's)\n",
           (unsigned long long)c->copied, o->from, location, node);
    for (size_t i = 0; i < c->n; i++)
        free(c->batch[i]);
    free(c);
    event_store_close(from);
    event_store_close(to);
    free(configured); /* node pointed into it */
    if (status == 0)
        status = migrate_quarantine(o, location);
    free(location);
    return status;
}

/* ------------------------------------------------------------ import */

static void tell_bad(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "domauth: %s\n", message);
}

static int do_import(const store_options *o, char **files, int n)
{
    if (n == 0) {
        fprintf(stderr, "domauth: store import needs a FILE\n");
        return CLI_EXIT_USAGE;
    }
    char *location = NULL;
    event_store *to;
    int status = open_target(o, EVENT_STORE_WRITE, &location, &to, NULL);
    for (int i = 0; status == 0 && i < n; i++) {
        if (access(files[i], R_OK) != 0) {
            fprintf(stderr, "domauth: %s: cannot be read\n", files[i]);
            status = CLI_EXIT_NOINPUT;
            break;
        }
        event_spool_result r = {0};
        char why[600];
        if (event_spool_replay(to, files[i], &r, tell_bad, NULL, why, sizeof why) != 0) {
            fprintf(stderr, "domauth: %s: %s (after line %llu; run it again: nothing is stored "
                            "twice)\n",
                    files[i], why, (unsigned long long)r.line);
            status = 1;
        }
        printf("%s: %llu events handed to %s, %llu lines skipped\n", files[i],
               (unsigned long long)r.stored, location, (unsigned long long)r.bad_lines);
        if (status == 0 && r.bad_lines > 0)
            status = CLI_EXIT_DATAERR;
    }
    event_store_close(to);
    free(location);
    return status;
}

int cmd_store(int argc, char **argv)
{
    static const struct option options[] = {
        {"database", required_argument, NULL, 'd'}, {"config", required_argument, NULL, 'c'},
        {"from", required_argument, NULL, 'f'},     {"node", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    store_options o = {0};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_store, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    const char *verb = argv[1];
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd': o.database = optarg; break;
        case 'c': o.config = optarg; break;
        case 'f': o.from = optarg; break;
        case 'n': o.node = optarg; break;
        case 'h': fputs(usage_store, stdout); return 0;
        default: fputs(usage_store, stderr); return CLI_EXIT_USAGE;
        }
    }
    char **rest = argv + 1 + optind;
    int nrest = argc - 1 - optind;
    if (strcmp(verb, "check") == 0 && nrest == 0 && o.from == NULL)
        return do_check(&o);
    if (strcmp(verb, "migrate") == 0 && nrest == 0)
        return do_migrate(&o);
    if (strcmp(verb, "import") == 0 && o.from == NULL)
        return do_import(&o, rest, nrest);
    fputs(usage_store, stderr);
    return CLI_EXIT_USAGE;
}
